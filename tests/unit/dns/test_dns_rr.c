/*
 * test_dns_rr: table tests for the pure DNS record helpers: MX, TLSA and
 * TXT rdata (good and malformed), names, addresses, normalisation, and
 * the MX order with equal preferences shuffled and duplicates dropped.
 * Never: touches the network.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns/dns_rr.h"

struct mx_row {
	const char *what;
	const uint8_t *rd;
	size_t len;
	enum dns_rr_status want;
	uint16_t pref;
	const char *name;
};

#define RD(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static void test_mx_parse(void **state)
{
	(void)state;
	static const uint8_t label63[2 + 1 + 63 + 1] = { 0, 5, 63,
		'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
		'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
		'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
		'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 0 };
	const struct mx_row rows[] = {
		{ "simple", RD(0, 10, 3, 'm', 'x', '1', 4, 't', 'e', 's', 't', 0), DNS_RR_OK, 10, "mx1.test" },
		{ "upper case folded", RD(0x01, 0x00, 2, 'M', 'X', 1, 'T', 0), DNS_RR_OK, 256, "mx.t" },
		{ "null MX", RD(0, 0, 0), DNS_RR_OK, 0, "" },
		{ "max pref", RD(0xff, 0xff, 1, 'a', 0), DNS_RR_OK, 65535, "a" },
		{ "hyphen underscore", RD(0, 1, 4, 'a', '-', '_', '9', 0), DNS_RR_OK, 1, "a-_9" },
		{ "63-octet label", label63, sizeof(label63), DNS_RR_OK, 5, NULL },
		{ "empty", RD(0), DNS_RR_BAD, 0, NULL },
		{ "pref only", RD(0, 10), DNS_RR_BAD, 0, NULL },
		{ "no root label", RD(0, 10, 2, 'm', 'x'), DNS_RR_BAD, 0, NULL },
		{ "label past end", RD(0, 10, 9, 'm', 'x', 0), DNS_RR_BAD, 0, NULL },
		{ "compression pointer", RD(0, 10, 0xc0, 0x0c), DNS_RR_BAD, 0, NULL },
		{ "label 64", RD(0, 10, 64, 'a', 0), DNS_RR_BAD, 0, NULL },
		{ "extended label type", RD(0, 10, 0x41, 'a', 0), DNS_RR_BAD, 0, NULL },
		{ "junk after name", RD(0, 10, 1, 'a', 0, 0), DNS_RR_BAD, 0, NULL },
		{ "dot inside label", RD(0, 10, 3, 'a', '.', 'b', 0), DNS_RR_BAD, 0, NULL },
		{ "NUL inside label", RD(0, 10, 3, 'a', 0, 'b', 0), DNS_RR_BAD, 0, NULL },
		{ "space inside label", RD(0, 10, 3, 'a', ' ', 'b', 0), DNS_RR_BAD, 0, NULL },
		{ "high byte inside label", RD(0, 10, 2, 'a', 0xc3, 0), DNS_RR_BAD, 0, NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dns_rr_mx mx;
		memset(&mx, 0, sizeof(mx));
		enum dns_rr_status got = dns_rr_mx_parse(rows[i].rd, rows[i].len, &mx);
		if (got != rows[i].want)
			fail_msg("%s: got status %d, want %d", rows[i].what, got, rows[i].want);
		if (got != DNS_RR_OK)
			continue;
		if (mx.pref != rows[i].pref)
			fail_msg("%s: got pref %u, want %u", rows[i].what, mx.pref, rows[i].pref);
		if (rows[i].name != NULL && strcmp(mx.name, rows[i].name) != 0)
			fail_msg("%s: got name \"%s\", want \"%s\"", rows[i].what, mx.name, rows[i].name);
	}
}

/* A name of 255 wire octets is the limit; 257 is over it. */
static void test_name_length_limit(void **state)
{
	(void)state;
	uint8_t wire[300];
	char text[DNS_RR_NAME_MAX];
	size_t used;
	/* Four 62-octet labels: 4 * 63 + 1 = 253 wire octets; add "a" label: 255. */
	size_t p = 0;
	for (int l = 0; l < 4; l++) {
		wire[p++] = 62;
		memset(wire + p, 'x', 62);
		p += 62;
	}
	wire[p++] = 1;
	wire[p++] = 'a';
	wire[p++] = 0;
	assert_int_equal(p, 255);
	assert_int_equal(dns_rr_name_to_text(wire, p, &used, text, sizeof(text)), DNS_RR_OK);
	assert_int_equal(used, 255);
	assert_int_equal(strlen(text), 253);
	/* One more octet in the last label: 256 wire octets. */
	wire[p - 3] = 2;
	wire[p - 1] = 'b';
	wire[p++] = 0;
	assert_int_equal(dns_rr_name_to_text(wire, p, &used, text, sizeof(text)), DNS_RR_BAD);
	/* A small output buffer is refused, not overrun. */
	uint8_t small[] = { 3, 'a', 'b', 'c', 0 };
	char tiny[3];
	assert_int_equal(dns_rr_name_to_text(small, sizeof(small), &used, tiny, sizeof(tiny)), DNS_RR_BAD);
}

static void test_addr_parse(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	char buf[INET6_ADDRSTRLEN];
	const uint8_t v4[4] = { 127, 0, 0, 2 };
	assert_int_equal(dns_rr_addr_parse(AF_INET, v4, 4, &ss), DNS_RR_OK);
	assert_int_equal(ss.ss_family, AF_INET);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.2");
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_port, 0);
	uint8_t v6[16] = { 0 };
	v6[15] = 1;
	assert_int_equal(dns_rr_addr_parse(AF_INET6, v6, 16, &ss), DNS_RR_OK);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, sizeof(buf));
	assert_string_equal(buf, "::1");
	assert_int_equal(dns_rr_addr_parse(AF_INET, v4, 3, &ss), DNS_RR_BAD);
	assert_int_equal(dns_rr_addr_parse(AF_INET, v6, 16, &ss), DNS_RR_BAD);
	assert_int_equal(dns_rr_addr_parse(AF_INET6, v4, 4, &ss), DNS_RR_BAD);
	assert_int_equal(dns_rr_addr_parse(AF_UNIX, v4, 4, &ss), DNS_RR_BAD);
}

static void test_name_normalize(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		const char *want;	/* NULL: refused */
	} rows[] = {
		{ "Example.TEST", "example.test" },
		{ "example.test.", "example.test" },
		{ "a", "a" },
		{ "_dmarc.x-y.test", "_dmarc.x-y.test" },
		{ "", NULL },
		{ ".", NULL },
		{ "a..b", NULL },
		{ ".a", NULL },
		{ "a.b..", NULL },
		{ "a b.test", NULL },
		{ "a@b.test", NULL },
		{ "[127.0.0.1]", NULL },
		{ "caf\xc3\xa9.test", NULL },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test", NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[DNS_RR_NAME_MAX];
		enum dns_rr_status st = dns_rr_name_normalize(rows[i].in, out, sizeof(out));
		if (rows[i].want == NULL) {
			if (st != DNS_RR_BAD)
				fail_msg("\"%s\": got accepted as \"%s\", want refused", rows[i].in, out);
		} else if (st != DNS_RR_OK || strcmp(out, rows[i].want) != 0) {
			fail_msg("\"%s\": got %s \"%s\", want \"%s\"", rows[i].in,
			    st == DNS_RR_OK ? "ok" : "refused", st == DNS_RR_OK ? out : "", rows[i].want);
		}
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 50; i < 300; i += 51)
		longname[i] = '.';
	longname[254] = '\0';	/* 254 octets: one too many */
	char out[DNS_RR_NAME_MAX];
	assert_int_equal(dns_rr_name_normalize(longname, out, sizeof(out)), DNS_RR_BAD);
	longname[253] = '\0';
	assert_int_equal(dns_rr_name_normalize(longname, out, sizeof(out)), DNS_RR_OK);
}

/* The one comparison form of a mail domain, for policy, config, queue and client alike. */
static void test_name_key(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t cap;
		const char *want;	/* "" with length 0 */
	} rows[] = {
		{ "a.test", 64, "a.test" },
		{ "A.Test.", 64, "a.test" },
		{ "EXAMPLE.TEST", 64, "example.test" },
		{ "a.test..", 64, "a.test." },		/* only one trailing dot goes */
		{ ".", 64, "" },
		{ "", 64, "" },
		{ "[IPv6:::1]", 64, "[ipv6:::1]" },
		{ "[192.0.2.1]", 64, "[192.0.2.1]" },
		{ "B\xc3\xbc" "cher.TEST", 64, "b\xc3\xbc" "cher.test" },	/* UTF-8 octets kept */
		{ "\xc3\x9c.test", 64, "\xc3\x9c.test" },			/* only ASCII is folded */
		{ "abc.test", 9, "abc.test" },
		{ "abc.test", 8, "" },				/* 8 octets and the NUL do not fit */
		{ "abc.test.", 9, "abc.test" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[64];
		memset(out, 'x', sizeof(out));
		size_t n = dns_rr_name_key(rows[i].in, strlen(rows[i].in), out, rows[i].cap);
		if (n != strlen(rows[i].want) || strcmp(out, rows[i].want) != 0)
			fail_msg("key of \"%s\" in %zu: got \"%s\" (%zu), want \"%s\"", rows[i].in,
			    rows[i].cap, out, n, rows[i].want);
	}
	/* In place, as config normalises its values. */
	char buf[] = "Relay.TEST.";
	assert_int_equal(dns_rr_name_key(buf, strlen(buf), buf, sizeof(buf)), 10);
	assert_string_equal(buf, "relay.test");
}

/* A scripted random source: returns each value mod bound in turn. */
struct script {
	const uint32_t *v;
	size_t n, i;
};

static uint32_t script_rand(void *arg, uint32_t bound)
{
	struct script *s = arg;
	uint32_t v = s->n > 0 ? s->v[s->i++ % s->n] : 0;
	return v % bound;
}

static void set_mx(struct dns_rr_mx *mx, uint16_t pref, const char *name)
{
	mx->pref = pref;
	snprintf(mx->name, sizeof(mx->name), "%s", name);
}

static void test_mx_order(void **state)
{
	(void)state;
	struct dns_rr_mx mx[8];
	struct script s = { NULL, 0, 0 };
	set_mx(&mx[0], 20, "b.test");
	set_mx(&mx[1], 10, "a.test");
	set_mx(&mx[2], 30, "c.test");
	set_mx(&mx[3], 20, "a.test");	/* duplicate at a worse preference */
	set_mx(&mx[4], 5, "");		/* a root target among others is ignored */
	size_t n = dns_rr_mx_order(mx, 5, 32, script_rand, &s);
	assert_int_equal(n, 3);
	assert_string_equal(mx[0].name, "a.test");
	assert_int_equal(mx[0].pref, 10);
	assert_string_equal(mx[1].name, "b.test");
	assert_string_equal(mx[2].name, "c.test");
	/* The cap keeps the best ones. */
	set_mx(&mx[0], 30, "c.test");
	set_mx(&mx[1], 10, "a.test");
	set_mx(&mx[2], 20, "b.test");
	n = dns_rr_mx_order(mx, 3, 2, script_rand, &s);
	assert_int_equal(n, 2);
	assert_string_equal(mx[0].name, "a.test");
	assert_string_equal(mx[1].name, "b.test");
	assert_int_equal(dns_rr_mx_order(mx, 0, 32, script_rand, &s), 0);
}

/* Every order of three equal-preference hosts shows up; the lower preference stays first. */
static void test_mx_order_shuffles_ties(void **state)
{
	(void)state;
	int seen[3][3] = { { 0 } };
	for (uint32_t a = 0; a < 3; a++) {
		for (uint32_t b = 0; b < 2; b++) {
			uint32_t vals[2] = { a, b };
			struct script s = { vals, 2, 0 };
			struct dns_rr_mx mx[4];
			set_mx(&mx[0], 10, "x.test");
			set_mx(&mx[1], 10, "y.test");
			set_mx(&mx[2], 5, "first.test");
			set_mx(&mx[3], 10, "z.test");
			size_t n = dns_rr_mx_order(mx, 4, 32, script_rand, &s);
			assert_int_equal(n, 4);
			assert_string_equal(mx[0].name, "first.test");
			for (int k = 0; k < 3; k++)
				seen[k][mx[k + 1].name[0] - 'x']++;
		}
	}
	/* Six scripted draws give the six permutations: each name twice in each place. */
	for (int k = 0; k < 3; k++)
		for (int j = 0; j < 3; j++)
			if (seen[k][j] != 2)
				fail_msg("place %d name %c: got %d times, want 2", k, 'x' + j, seen[k][j]);
}

struct tlsa_row {
	const char *what;
	const uint8_t *rd;
	size_t len;
	enum dns_rr_status want;
	uint8_t usage, selector, mtype;
	size_t dlen;
};

static void test_tlsa_parse(void **state)
{
	(void)state;
	const struct tlsa_row rows[] = {
		{ "3 1 1 one octet", RD(3, 1, 1, 0xab), DNS_RR_OK, 3, 1, 1, 1 },
		{ "2 0 0 data", RD(2, 0, 0, 0x30, 0x82, 0x01), DNS_RR_OK, 2, 0, 0, 3 },
		{ "unknown values kept", RD(255, 254, 253, 0), DNS_RR_OK, 255, 254, 253, 1 },
		{ "no data", RD(3, 1, 1), DNS_RR_BAD, 0, 0, 0, 0 },
		{ "two octets", RD(3, 1), DNS_RR_BAD, 0, 0, 0, 0 },
		{ "empty", (const uint8_t *)"", 0, DNS_RR_BAD, 0, 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dns_rr_tlsa t;
		memset(&t, 0, sizeof(t));
		enum dns_rr_status got = dns_rr_tlsa_parse(rows[i].rd, rows[i].len, &t);
		if (got != rows[i].want)
			fail_msg("%s: got status %d, want %d", rows[i].what, got, rows[i].want);
		if (got != DNS_RR_OK)
			continue;
		if (t.usage != rows[i].usage || t.selector != rows[i].selector || t.mtype != rows[i].mtype ||
		    t.len != rows[i].dlen || t.data != rows[i].rd + 3)
			fail_msg("%s: got %u %u %u len %zu, want %u %u %u len %zu", rows[i].what, t.usage,
			    t.selector, t.mtype, t.len, rows[i].usage, rows[i].selector, rows[i].mtype, rows[i].dlen);
	}
	assert_int_equal(dns_rr_tlsa_parse(NULL, 4, &(struct dns_rr_tlsa){ 0 }), DNS_RR_BAD);
}

struct txt_row {
	const char *what;
	const uint8_t *rd;
	size_t len;
	size_t cap;
	enum dns_rr_status want;
	size_t joined;
	const char *text;	/* "" when it does not fit */
};

static void test_txt_parse(void **state)
{
	(void)state;
	const struct txt_row rows[] = {
		{ "one string", RD(3, 'a', 'b', 'c'), 64, DNS_RR_OK, 3, "abc" },
		{ "strings joined", RD(7, 'v', '=', 'S', 'T', 'S', 'v', '1', 4, ';', 'i', 'd', '='), 64,
		  DNS_RR_OK, 11, "v=STSv1;id=" },
		{ "empty string", RD(0), 64, DNS_RR_OK, 0, "" },
		{ "empty strings around", RD(0, 1, 'x', 0), 64, DNS_RR_OK, 1, "x" },
		{ "NUL kept for the caller", RD(3, 'a', 0, 'b'), 64, DNS_RR_OK, 3, "a" },
		{ "exactly fits", RD(3, 'a', 'b', 'c'), 4, DNS_RR_OK, 3, "abc" },
		{ "does not fit", RD(4, 'a', 'b', 'c', 'd'), 4, DNS_RR_OK, 4, "" },
		{ "empty rdata", (const uint8_t *)"", 0, 64, DNS_RR_BAD, 0, "" },
		{ "length past end", RD(4, 'a', 'b', 'c'), 64, DNS_RR_BAD, 0, "" },
		{ "second length past end", RD(1, 'a', 2, 'b'), 64, DNS_RR_BAD, 0, "" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[64];
		size_t joined = 99;
		memset(out, 'x', sizeof(out));
		enum dns_rr_status got = dns_rr_txt_parse(rows[i].rd, rows[i].len, out, rows[i].cap, &joined);
		if (got != rows[i].want)
			fail_msg("%s: got status %d, want %d", rows[i].what, got, rows[i].want);
		if (joined != rows[i].joined || strcmp(out, rows[i].text) != 0)
			fail_msg("%s: got \"%s\" (%zu), want \"%s\" (%zu)", rows[i].what, out, joined,
			    rows[i].text, rows[i].joined);
	}
	/* A string of 255 octets, the most one can hold. */
	uint8_t big[256];
	big[0] = 255;
	memset(big + 1, 'z', 255);
	char out[300];
	size_t joined;
	assert_int_equal(dns_rr_txt_parse(big, sizeof(big), out, sizeof(out), &joined), DNS_RR_OK);
	assert_int_equal(joined, 255);
	assert_int_equal(strlen(out), 255);
}

static void test_rcode_names(void **state)
{
	(void)state;
	assert_string_equal(dns_rr_rcode_name(0), "NOERROR");
	assert_string_equal(dns_rr_rcode_name(2), "SERVFAIL");
	assert_string_equal(dns_rr_rcode_name(3), "NXDOMAIN");
	assert_string_equal(dns_rr_rcode_name(5), "REFUSED");
	assert_string_equal(dns_rr_rcode_name(99), "unknown rcode");
	assert_string_equal(dns_rr_rcode_name(-1), "unknown rcode");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_parse),
		cmocka_unit_test(test_name_length_limit),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_name_normalize),
		cmocka_unit_test(test_name_key),
		cmocka_unit_test(test_mx_order),
		cmocka_unit_test(test_mx_order_shuffles_ties),
		cmocka_unit_test(test_tlsa_parse),
		cmocka_unit_test(test_txt_parse),
		cmocka_unit_test(test_rcode_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
