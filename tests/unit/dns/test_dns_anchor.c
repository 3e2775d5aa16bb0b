/*
 * test_dns_anchor: table tests for trust-anchor text: the forms found in
 * the field (Debian's root.key, ldns-key2ds and ldns-keygen output,
 * parenthesised multi-line records), and each kind of bad line with the
 * line number and reason it is refused with.
 * Never: touches the network.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dns/dns_anchor.h"

#define KEY13 "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
#define DIG2 "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"

/* What the callback saw: every record, one per line. */
struct seen {
	char text[8192];
	size_t len;
	const char *stop_with;	/* returned by the callback when set */
};

static const char *collect(void *arg, const char *rr, unsigned line)
{
	struct seen *s = arg;
	int n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%u:%s\n", line, rr);
	if (n > 0)
		s->len += (size_t)n;
	return s->stop_with;
}

struct anchor_row {
	const char *what;
	const char *in;
	int want;		/* record count, or -1 */
	unsigned line;		/* the bad line when want is -1 */
	const char *out;	/* "line:record\n"... when want > 0; a word of the reason otherwise */
};

static void test_parse(void **state)
{
	(void)state;
	static const struct anchor_row rows[] = {
		{ "root.key style", ". IN DNSKEY 257 3 13 " KEY13 " ; keytag 20326\n", 1, 0,
		  "1:. IN DNSKEY 257 3 13 " KEY13 "\n" },
		{ "ldns-key2ds", "test.\t3600\tIN\tDS\t12345 13 2 " DIG2 "\n", 1, 0,
		  "1:test. IN DS 12345 13 2 " DIG2 "\n" },
		{ "no TTL no class, relative owner", "Secure.Test DS 1 13 2 " DIG2, 1, 0,
		  "1:secure.test. IN DS 1 13 2 " DIG2 "\n" },
		{ "class before TTL", "test. IN 60 DS 1 13 2 " DIG2 "\n", 1, 0,
		  "1:test. IN DS 1 13 2 " DIG2 "\n" },
		{ "lower-case hex and split digest", "test. ds 1 13 2 e06d44b80b8f1d39a95c0b0d7c65d084 "
		  "58E880409BBC683457104237C7F8EC8D\n", 1, 0, "1:test. IN DS 1 13 2 " DIG2 "\n" },
		{ "multi-line", "; the root\n\n. 172800 IN DNSKEY 257 3 13 (\n\tmdsswUyr3DPW132mOi8V9xESWE8jTo0d\n"
		  "\txCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== ) ; KSK\n"
		  "test. IN DS 2 13 2 " DIG2 "\r\n", 2, 0,
		  "3:. IN DNSKEY 257 3 13 " KEY13 "\n6:test. IN DS 2 13 2 " DIG2 "\n" },
		{ "SHA-1 and SHA-384 lengths", "a. DS 1 8 1 0123456789012345678901234567890123456789\n"
		  "b. DS 1 8 4 " DIG2 "0123456789ABCDEF0123456789ABCDEF\n", 2, 0,
		  "1:a. IN DS 1 8 1 0123456789012345678901234567890123456789\n"
		  "2:b. IN DS 1 8 4 " DIG2 "0123456789ABCDEF0123456789ABCDEF\n" },
		{ "unknown digest type any length", "a. DS 1 8 9 00\n", 1, 0, "1:a. IN DS 1 8 9 00\n" },
		{ "empty", "", -1, 0, "no trust anchor" },
		{ "comments only", "; nothing\n\n   ; here\n", -1, 0, "no trust anchor" },
		{ "class CH", "test. CH DS 1 13 2 " DIG2 "\n", -1, 1, "class" },
		{ "class CLASS3", "test. 60 CLASS3 DS 1 13 2 " DIG2 "\n", -1, 1, "class" },
		{ "other type", "; ok\ntest. IN NS ns.test.\n", -1, 2, "DS or DNSKEY" },
		{ "no type", "test. IN 60\n", -1, 1, "type" },
		{ "bad owner", "te..st. DS 1 13 2 " DIG2 "\n", -1, 1, "owner" },
		{ "owner with space escape", "a\\032b. DS 1 13 2 " DIG2 "\n", -1, 1, "owner" },
		{ "continuation without owner", "test. DS 1 13 2 " DIG2 "\n  DS 1 13 2 " DIG2 "\n", -1, 2, "owner" },
		{ "directive", "$ORIGIN test.\n", -1, 1, "directive" },
		{ "DS too few fields", "test. DS 1 13 2\n", -1, 1, "digest" },
		{ "DS odd hex", "test. DS 1 13 9 abc\n", -1, 1, "odd" },
		{ "DS not hex", "test. DS 1 13 2 " DIG2 "zz\n", -1, 1, "hexadecimal" },
		{ "DS wrong length", "test. DS 1 13 2 00ff\n", -1, 1, "length" },
		{ "DS tag too big", "test. DS 65536 13 2 " DIG2 "\n", -1, 1, "key tag" },
		{ "DS algorithm mnemonic", "test. DS 1 RSASHA256 2 " DIG2 "\n", -1, 1, "algorithm" },
		{ "DNSKEY protocol", "test. DNSKEY 257 2 13 " KEY13 "\n", -1, 1, "protocol" },
		{ "DNSKEY bad base64", "test. DNSKEY 257 3 13 abc!\n", -1, 1, "base64" },
		{ "DNSKEY base64 length", "test. DNSKEY 257 3 13 abcde\n", -1, 1, "base64" },
		{ "DNSKEY data after pad", "test. DNSKEY 257 3 13 ab==cd==\n", -1, 1, "padding" },
		{ "DNSKEY trailing bits", "test. DNSKEY 257 3 13 ab==\n", -1, 1, "trailing" },
		{ "DNSKEY no key", "test. DNSKEY 257 3 13\n", -1, 1, "needs" },
		{ "unclosed paren", "\ntest. DNSKEY 257 3 13 ( " KEY13 "\n", -1, 2, "not closed" },
		{ "close without open", "test. DS 1 13 2 " DIG2 " )\n", -1, 1, "without" },
		{ "nested paren", "test. DS ( 1 ( 13 2 " DIG2 " ) )\n", -1, 1, "nested" },
		{ "quoted", "test. TXT \"x\"\n", -1, 1, "quoted" },
		{ "8-bit octet", "t\xc3\xa9st. DS 1 13 2 " DIG2 "\n", -1, 1, "printable" },
		{ "second record bad", "test. DS 1 13 2 " DIG2 "\nx. A 127.0.0.1\n", -1, 2, "DS or DNSKEY" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct seen s = { .len = 0 };
		s.text[0] = '\0';
		unsigned line = 999;
		char err[128] = "";
		int got = dns_anchor_parse(rows[i].in, strlen(rows[i].in), collect, &s, &line, err, sizeof(err));
		if (got != rows[i].want)
			fail_msg("%s: got %d (%s, line %u), want %d", rows[i].what, got, err, line, rows[i].want);
		if (got > 0 && strcmp(s.text, rows[i].out) != 0)
			fail_msg("%s: got records\n%swant\n%s", rows[i].what, s.text, rows[i].out);
		if (got < 0 && (line != rows[i].line || strstr(err, rows[i].out) == NULL))
			fail_msg("%s: got line %u \"%s\", want line %u with \"%s\"", rows[i].what, line, err,
			    rows[i].line, rows[i].out);
	}
}

/* A NUL octet inside the text is refused, not taken for its end. */
static void test_nul_octet(void **state)
{
	(void)state;
	static const char text[] = "test. DS 1 13 2 " DIG2 "\nx\0y. DS 1 13 2 " DIG2 "\n";
	unsigned line = 0;
	char err[64];
	assert_int_equal(dns_anchor_parse(text, sizeof(text) - 1, NULL, NULL, &line, err, sizeof(err)), -1);
	assert_int_equal(line, 2);
	assert_non_null(strstr(err, "NUL"));
	assert_int_equal(dns_anchor_parse(NULL, 0, NULL, NULL, &line, err, sizeof(err)), -1);
	assert_string_equal(err, "no trust anchor");
}

/* The callback's refusal stops the parse at that record's line with its reason. */
static void test_callback_stops(void **state)
{
	(void)state;
	static const char text[] = "a. DS 1 13 2 " DIG2 "\n\nb. DS 1 13 2 " DIG2 "\n";
	struct seen s = { .len = 0, .stop_with = "resolver refused it" };
	unsigned line = 0;
	char err[64];
	assert_int_equal(dns_anchor_parse(text, strlen(text), collect, &s, &line, err, sizeof(err)), -1);
	assert_int_equal(line, 1);
	assert_string_equal(err, "resolver refused it");
	assert_int_equal(dns_anchor_parse(text, strlen(text), NULL, NULL, &line, err, sizeof(err)), 2);
}

/* A record longer than the cap, and more records than the cap, are refused. */
static void test_caps(void **state)
{
	(void)state;
	static char text[DNS_ANCHOR_RR_MAX * 2];
	int n = snprintf(text, sizeof(text), "a. DNSKEY 257 3 8 ");
	memset(text + n, 'A', DNS_ANCHOR_RR_MAX);
	text[n + DNS_ANCHOR_RR_MAX] = '\0';
	unsigned line = 0;
	char err[64];
	assert_int_equal(dns_anchor_parse(text, strlen(text), NULL, NULL, &line, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	static char many[(DNS_ANCHOR_RECORDS_MAX + 1) * 100];
	size_t len = 0;
	for (int i = 0; i <= DNS_ANCHOR_RECORDS_MAX; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len, "a. DS %d 13 2 " DIG2 "\n", i);
	assert_int_equal(dns_anchor_parse(many, len, NULL, NULL, &line, err, sizeof(err)), -1);
	assert_int_equal(line, DNS_ANCHOR_RECORDS_MAX + 1);
	assert_non_null(strstr(err, "too many"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_nul_octet),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
