/*
 * test_smtp_addr: the path and mailbox grammar, one row per input: flags,
 * whether it parses, and what it must yield (or which fault it is).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "smtp/smtp_addr.h"

#define N SMTP_ADDR_NULL_OK
#define U SMTP_ADDR_UTF8_OK
#define D SMTP_ADDR_NO_DOMAIN_OK
#define B SMTP_ADDR_BARE_OK
#define P SMTP_ADDR_POLICY_FORMS

#define OK SMTP_ADDR_FAULT_NONE
#define SYN SMTP_ADDR_FAULT_SYNTAX
#define MBX SMTP_ADDR_FAULT_MAILBOX

struct path_row {
	const char *in;
	unsigned flags;
	enum smtp_addr_fault want;	/* OK when it must parse */
	const char *formatted;		/* smtp_addr_format on success */
	size_t consumed;		/* 0: the whole input */
	bool route, quoted, literal, utf8;
};

static const struct path_row path_rows[] = {
	{ "<a@b.test>", 0, OK, "a@b.test", 0, false, false, false, false },
	{ "<A.B-c+d@Example.COM>", 0, OK, "A.B-c+d@Example.COM", 0, false, false, false, false },
	{ "<a@b.test> SIZE=10", 0, OK, "a@b.test", 10, false, false, false, false },
	{ "<>", N, OK, "", 0, false, false, false, false },
	{ "<> BODY=8BITMIME", N, OK, "", 2, false, false, false, false },
	{ "<>", 0, MBX, NULL, 0, false, false, false, false },
	/* Source routes are stripped. */
	{ "<@a.test:u@c.test>", 0, OK, "u@c.test", 0, true, false, false, false },
	{ "<@a.test,@b.test:u@c.test>", 0, OK, "u@c.test", 0, true, false, false, false },
	{ "<@[192.0.2.1]:u@c.test>", 0, OK, "u@c.test", 0, true, false, false, false },
	{ "<@a.test u@c.test>", 0, SYN, NULL, 0, false, false, false, false },
	{ "<@a.test,u@c.test>", 0, SYN, NULL, 0, false, false, false, false },
	{ "<@:u@c.test>", 0, SYN, NULL, 0, false, false, false, false },
	{ "<@a..test:u@c.test>", 0, SYN, NULL, 0, false, false, false, false },
	{ "<@a.test:>", 0, MBX, NULL, 0, false, false, false, false },
	/* Quoted local parts. */
	{ "<\"a b\"@c.test>", 0, OK, "\"a b\"@c.test", 0, false, true, false, false },
	{ "<\"a@b%c\"@d.test>", 0, OK, "\"a@b%c\"@d.test", 0, false, true, false, false },
	{ "<\"a\\\"b\\\\c\"@d.test>", 0, OK, "\"a\\\"b\\\\c\"@d.test", 0, false, true, false, false },
	{ "<\"\"@d.test>", 0, OK, "\"\"@d.test", 0, false, true, false, false },
	{ "<\"a>b\"@d.test>", 0, OK, "\"a>b\"@d.test", 0, false, true, false, false },
	{ "<\"ab@d.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<\"a\tb\"@d.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<\"a\\\x01\"@d.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a%b@c.test>", 0, OK, "a%b@c.test", 0, false, false, false, false },
	{ "<!#$%&'*+-/=?^_`{|}~@c.test>", 0, OK, "!#$%&'*+-/=?^_`{|}~@c.test", 0,
	  false, false, false, false },
	/* Dot-string rules. */
	{ "<.a@b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a.@b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a..b@b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a b@b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a(b)@b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<@b.test>", 0, SYN, NULL, 0, false, false, false, false },
	/* Domains. */
	{ "<a@b>", 0, OK, "a@b", 0, false, false, false, false },
	{ "<a@b.test.>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@-b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@b-.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@b..test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@.b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@b_c.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@b.test", 0, SYN, NULL, 0, false, false, false, false },
	{ "<a@b.test >", 0, MBX, NULL, 0, false, false, false, false },
	{ "< a@b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "a@b.test", 0, SYN, NULL, 0, false, false, false, false },
	{ "", 0, SYN, NULL, 0, false, false, false, false },
	{ "<", 0, MBX, NULL, 0, false, false, false, false },
	/* Address literals. */
	{ "<a@[192.0.2.1]>", 0, OK, "a@[192.0.2.1]", 0, false, false, true, false },
	{ "<a@[IPv6:2001:db8::1]>", 0, OK, "a@[IPv6:2001:db8::1]", 0, false, false, true, false },
	{ "<a@[ipv6:::1]>", 0, OK, "a@[ipv6:::1]", 0, false, false, true, false },
	{ "<a@[IPv6:::ffff:192.0.2.1]>", 0, OK, "a@[IPv6:::ffff:192.0.2.1]", 0,
	  false, false, true, false },
	{ "<a@[192.0.2.256]>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@[192.0.2]>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@[2001:db8::1]>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@[IPv6:2001:db8::g]>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@[x-tag:foo]>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@[192.0.2.1>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@[]>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@[192.0.2.1]x>", 0, MBX, NULL, 0, false, false, false, false },
	/* UTF-8 (RFC 6531). */
	{ "<j\xc3\xb6rg@b\xc3\xbc.test>", U, OK, "j\xc3\xb6rg@b\xc3\xbc.test", 0,
	  false, false, false, true },
	{ "<j\xc3\xb6rg@b.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@b\xc3\xbc.test>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<\"\xe2\x82\xac x\"@b.test>", U, OK, "\"\xe2\x82\xac x\"@b.test", 0,
	  false, true, false, true },
	{ "<\xf0\x9f\x98\x80@b.test>", U, OK, "\xf0\x9f\x98\x80@b.test", 0,
	  false, false, false, true },
	{ "<\xc3@b.test>", U, MBX, NULL, 0, false, false, false, false },
	{ "<\xc0\xaf@b.test>", U, MBX, NULL, 0, false, false, false, false },
	{ "<\xed\xa0\x80@b.test>", U, MBX, NULL, 0, false, false, false, false },
	{ "<\xf4\x90\x80\x80@b.test>", U, MBX, NULL, 0, false, false, false, false },
	{ "<\xff@b.test>", U, MBX, NULL, 0, false, false, false, false },
	{ "<a@b.\xe2\x82test>", U, MBX, NULL, 0, false, false, false, false },
	/* Postmaster without a domain. */
	{ "<postmaster>", D, OK, "postmaster", 0, false, false, false, false },
	/* Forms a server takes and leaves to its relay policy. */
	{ "<alice>", D | P, OK, "alice", 0, false, false, false, false },
	{ "<alice>", D, MBX, NULL, 0, false, false, false, false },
	{ "<a!b>", D | P, OK, "a!b", 0, false, false, false, false },
	{ "<a@b.test.>", P, OK, "a@b.test", 0, false, false, false, false },
	{ "<a@b.test.>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<a@b.test..>", P, MBX, NULL, 0, false, false, false, false },
	{ "<a@.>", P, MBX, NULL, 0, false, false, false, false },
	{ "<PostMaster>", D, OK, "PostMaster", 0, false, false, false, false },
	{ "<postmaster>", 0, MBX, NULL, 0, false, false, false, false },
	{ "<webmaster>", D, MBX, NULL, 0, false, false, false, false },
	{ "<postmaster@b.test>", D, OK, "postmaster@b.test", 0, false, false, false, false },
	/* Bare paths only when allowed. */
	{ "a@b.test", B, OK, "a@b.test", 0, false, false, false, false },
	{ "a@b.test SIZE=1", B, OK, "a@b.test", 8, false, false, false, false },
	{ "<a@b.test>", B, OK, "a@b.test", 0, false, false, false, false },
	{ "postmaster", B | D, OK, "postmaster", 0, false, false, false, false },
	{ "a@b.test>", B, MBX, NULL, 0, false, false, false, false },
	{ "a@b.test", 0, SYN, NULL, 0, false, false, false, false },
	/* Bare forms of relay tricks: the mailbox policy sees is the one in <>. */
	{ "@a.test:user@b.test", B, OK, "user@b.test", 0, true, false, false, false },
	{ "@a.test,@c.test:user@b.test SIZE=1", B, OK, "user@b.test", 27, true, false, false,
	  false },
	{ "@a.test:user@b.test", 0, SYN, NULL, 0, false, false, false, false },
	{ "@a.test", B, SYN, NULL, 0, false, false, false, false },
	{ "user%other.test@ours.test", B, OK, "user%other.test@ours.test", 0, false, false, false,
	  false },
	{ "\"user@other.test\"@ours.test", B, OK, "\"user@other.test\"@ours.test", 0, false, true,
	  false, false },
	{ "\"a b\"@ours.test NOTIFY=NEVER", B, OK, "\"a b\"@ours.test", 15, false, true, false,
	  false },
	{ "user@other.test@ours.test", B, MBX, NULL, 0, false, false, false, false },
	{ "<>", B | N, OK, "", 0, false, false, false, false },
	{ "", B | N, SYN, NULL, 0, false, false, false, false },
	/* NUL and controls. */
	{ "<a\x01@b.test>", 0, MBX, NULL, 0, false, false, false, false },
};

static const char *fault_name(enum smtp_addr_fault f)
{
	return f == OK ? "ok" : f == SYN ? "syntax" : "mailbox";
}

static void test_addr_path_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_rows) / sizeof(path_rows[0]); i++) {
		const struct path_row *row = &path_rows[i];
		struct smtp_addr a;
		size_t consumed = 999;
		const char *err = NULL;
		enum smtp_addr_fault fault = 99;
		size_t len = strlen(row->in);
		int rc = smtp_addr_parse_path_ex(row->in, len, row->flags, &a, &consumed, &err, &fault);
		if (fault != row->want || (rc == 0) != (row->want == OK))
			fail_msg("row %zu \"%s\": got %s (rc %d, %s), want %s", i, row->in,
			    fault_name(fault), rc, err ? err : "", fault_name(row->want));
		if (rc != 0) {
			if (err == NULL)
				fail_msg("row %zu: failed without a reason", i);
			continue;
		}
		size_t want_consumed = row->consumed ? row->consumed : len;
		if (consumed != want_consumed)
			fail_msg("row %zu \"%s\": consumed got %zu, want %zu", i, row->in,
			    consumed, want_consumed);
		char buf[600];
		smtp_addr_format(&a, buf, sizeof(buf));
		if (strcmp(buf, row->formatted) != 0)
			fail_msg("row %zu: format got \"%s\", want \"%s\"", i, buf, row->formatted);
		if (a.had_route != row->route || a.local_is_quoted != row->quoted ||
		    a.domain_is_literal != row->literal || a.utf8 != row->utf8)
			fail_msg("row %zu \"%s\": flags got route=%d quoted=%d literal=%d utf8=%d, "
			    "want %d %d %d %d", i, row->in, a.had_route, a.local_is_quoted,
			    a.domain_is_literal, a.utf8, row->route, row->quoted, row->literal,
			    row->utf8);
		/* The plain entry point agrees. */
		struct smtp_addr b;
		size_t c2;
		if (smtp_addr_parse_path(row->in, len, row->flags, &b, &c2, &err) != 0 ||
		    c2 != consumed)
			fail_msg("row %zu: parse_path disagrees with parse_path_ex", i);
	}
}

/* Build "<" local "@" domain ">" with the given part lengths. */
static size_t make_path(char *buf, size_t local_len, size_t domain_len)
{
	size_t o = 0;
	buf[o++] = '<';
	memset(buf + o, 'l', local_len);
	o += local_len;
	buf[o++] = '@';
	/* Labels of 63 octets joined by dots, cut to domain_len. */
	for (size_t k = 0; k < domain_len; k++)
		buf[o + k] = (k % 64 == 63) ? '.' : 'd';
	if (domain_len > 0 && buf[o + domain_len - 1] == '.')
		buf[o + domain_len - 1] = 'e';
	o += domain_len;
	buf[o++] = '>';
	return o;
}

struct len_row {
	size_t local_len, domain_len;
	bool ok;
};

static const struct len_row len_rows[] = {
	{ 1, 1, true }, { 64, 10, true }, { 65, 10, true },
	{ SMTP_LOCAL_ACCEPT_MAX, 10, true }, { SMTP_LOCAL_ACCEPT_MAX + 1, 10, false },
	{ 5, 254, true }, { 5, 255, true }, { 5, 256, false }, { 5, 400, false },
	{ SMTP_LOCAL_ACCEPT_MAX, SMTP_DOMAIN_MAX, true },
};

static void test_addr_lengths(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(len_rows) / sizeof(len_rows[0]); i++) {
		char buf[800];
		size_t n = make_path(buf, len_rows[i].local_len, len_rows[i].domain_len);
		struct smtp_addr a;
		size_t consumed;
		const char *err = NULL;
		int rc = smtp_addr_parse_path(buf, n, 0, &a, &consumed, &err);
		if ((rc == 0) != len_rows[i].ok)
			fail_msg("local %zu domain %zu: got rc %d (%s), want %s",
			    len_rows[i].local_len, len_rows[i].domain_len, rc, err ? err : "",
			    len_rows[i].ok ? "ok" : "error");
		if (rc == 0 && (strlen(a.local) != len_rows[i].local_len ||
		    strlen(a.domain) != len_rows[i].domain_len))
			fail_msg("local %zu domain %zu: stored %zu/%zu", len_rows[i].local_len,
			    len_rows[i].domain_len, strlen(a.local), strlen(a.domain));
		if (rc == 0) {
			char out[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 2];
			size_t fl = smtp_addr_format(&a, out, sizeof(out));
			assert_int_equal(fl, len_rows[i].local_len + 1 + len_rows[i].domain_len);
			/* Too small a buffer gives 0 and "". */
			assert_int_equal(smtp_addr_format(&a, out, fl), 0);
			assert_string_equal(out, "");
		}
	}
}

struct domain_row {
	const char *in;
	bool utf8_ok;
	bool want;
};

static const struct domain_row domain_rows[] = {
	{ "a", false, true }, { "a.b", false, true }, { "a-b.c", false, true },
	{ "1.2.3.4", false, true }, { "xn--bcher-kva.test", false, true },
	{ "", false, false }, { ".", false, false }, { "a.", false, false },
	{ ".a", false, false }, { "a..b", false, false }, { "-a", false, false },
	{ "a-", false, false }, { "a-.b", false, false }, { "a_b", false, false },
	{ "a b", false, false }, { "[1.2.3.4]", false, false },
	{ "b\xc3\xbc.test", false, false }, { "b\xc3\xbc.test", true, true },
	{ "b\xc3.test", true, false },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b", false, true },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b", false, false },
};

static void test_addr_domain_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(domain_rows) / sizeof(domain_rows[0]); i++) {
		const struct domain_row *r = &domain_rows[i];
		bool got = smtp_addr_domain_valid(r->in, strlen(r->in), r->utf8_ok);
		if (got != r->want)
			fail_msg("domain \"%s\": got %d, want %d", r->in, got, r->want);
	}
}

struct mailbox_row {
	const char *in;
	unsigned flags;
	bool ok;
	enum smtp_addr_kind kind;
};

static const struct mailbox_row mailbox_rows[] = {
	{ "a@b.test", 0, true, SMTP_ADDR_MAILBOX },
	{ "\"a b\"@b.test", 0, true, SMTP_ADDR_MAILBOX },
	{ "\"a@x\"@b.test", 0, true, SMTP_ADDR_MAILBOX },
	{ "", N, true, SMTP_ADDR_NULLPATH },
	{ "", 0, false, 0 },
	{ "postmaster", D, true, SMTP_ADDR_LOCALONLY },
	{ "postmaster", 0, false, 0 },
	{ "<a@b.test>", 0, false, 0 },
	{ "a@b.test x", 0, false, 0 },
	{ "a@b.test ", 0, false, 0 },
	{ "@r:a@b.test", 0, false, 0 },
	{ "a@@b.test", 0, false, 0 },
};

static void test_addr_mailbox(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mailbox_rows) / sizeof(mailbox_rows[0]); i++) {
		const struct mailbox_row *r = &mailbox_rows[i];
		struct smtp_addr a;
		const char *err = NULL;
		int rc = smtp_addr_parse_mailbox(r->in, strlen(r->in), r->flags, &a, &err);
		if ((rc == 0) != r->ok)
			fail_msg("mailbox \"%s\": got rc %d (%s), want %s", r->in, rc,
			    err ? err : "", r->ok ? "ok" : "error");
		if (rc != 0 && err == NULL)
			fail_msg("mailbox \"%s\": failed without a reason", r->in);
		if (rc == 0 && a.kind != r->kind)
			fail_msg("mailbox \"%s\": kind got %d, want %d", r->in, a.kind, r->kind);
	}
}

/* RFC 5321 4.5.1: the one postmaster rule, for the parser and the relay policy alike. */
static void test_addr_postmaster(void **state)
{
	(void)state;
	static const struct {
		const char *local;	/* as written */
		bool want;
	} rows[] = {
		{ "postmaster", true },
		{ "POSTMASTER", true },
		{ "PostMaster", true },
		{ "\"postmaster\"", true },
		{ "\"PostMaster\"", true },
		{ "\"post\\master\"", true },	/* a quoted-pair is the character itself */
		{ "\"\\p\\o\\s\\t\\m\\a\\s\\t\\e\\r\"", true },
		{ "postmasters", false },
		{ "postmaste", false },
		{ "post.master", false },
		{ "\"postmaster \"", false },
		{ "\"postmaster", false },
		{ "\"\"", false },
		{ "", false },
		{ "postmaster@x.test", false },	/* a local part, not an address */
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = smtp_addr_local_is_postmaster(rows[i].local);
		if (got != rows[i].want)
			fail_msg("local part %s: got %s, want %s", rows[i].local, got ? "postmaster" : "not",
			    rows[i].want ? "postmaster" : "not");
	}
	/* With or without a domain, and through the parsed address. */
	static const struct {
		const char *path;
		unsigned flags;
		bool want;
	} paths[] = {
		{ "<POSTMASTER@x.test>", 0, true },
		{ "<\"postmaster\"@x.test>", 0, true },
		{ "<Postmaster>", SMTP_ADDR_NO_DOMAIN_OK, true },
		{ "<\"post\\master\">", SMTP_ADDR_NO_DOMAIN_OK, true },
		{ "<postmasters@x.test>", 0, false },
		{ "<>", SMTP_ADDR_NULL_OK, false },
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct smtp_addr a;
		size_t used;
		const char *err = NULL;
		if (smtp_addr_parse_path(paths[i].path, strlen(paths[i].path), paths[i].flags, &a, &used,
		    &err) != 0)
			fail_msg("%s: refused (%s), want parsed", paths[i].path, err ? err : "");
		if (smtp_addr_is_postmaster(&a) != paths[i].want)
			fail_msg("%s: got %s, want %s", paths[i].path,
			    paths[i].want ? "not postmaster" : "postmaster", paths[i].want ? "postmaster" : "not");
	}
}

static void test_addr_literal_sockaddr(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	assert_int_equal(smtp_addr_literal_to_sockaddr("[192.0.2.7]", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000207u);
	assert_int_equal(sin->sin_port, 0);
	assert_int_equal(smtp_addr_literal_to_sockaddr("[IPv6:2001:db8::7]", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
	assert_int_equal(sin6->sin6_addr.s6_addr[15], 7);
	assert_int_equal(smtp_addr_literal_to_sockaddr("192.0.2.7", &ss), -1);
	assert_int_equal(smtp_addr_literal_to_sockaddr("[2001:db8::7]", &ss), -1);
	assert_int_equal(smtp_addr_literal_to_sockaddr("[IPv6:192.0.2.7]", &ss), -1);
	assert_int_equal(smtp_addr_literal_to_sockaddr("", &ss), -1);
}

/* Paths holding a NUL must fail wherever the NUL is (found by fuzz_addr). */
static void test_addr_nul(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
	} rows[] = {
		{ "<a@[192.0.2.1\0x]>", 17 },
		{ "<a@[IPv6:::1\0\0]>", 17 },
		{ "<a\0@b.test>", 11 },
		{ "<a@b\0.test>", 11 },
		{ "<\"a\0\"@b.test>", 13 },
		{ "<@r\0:a@b.test>", 14 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct smtp_addr a;
		size_t consumed;
		const char *err = NULL;
		int rc = smtp_addr_parse_path(rows[i].in, rows[i].len, SMTP_ADDR_UTF8_OK, &a,
		    &consumed, &err);
		if (rc != -1 || err == NULL)
			fail_msg("nul row %zu: got rc %d, want -1 with a reason", i, rc);
	}
	struct sockaddr_storage ss;
	assert_int_equal(smtp_addr_literal_to_sockaddr("[IPv6:::1]", &ss), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_path_rows),
		cmocka_unit_test(test_addr_lengths),
		cmocka_unit_test(test_addr_domain_valid),
		cmocka_unit_test(test_addr_mailbox),
		cmocka_unit_test(test_addr_postmaster),
		cmocka_unit_test(test_addr_literal_sockaddr),
		cmocka_unit_test(test_addr_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
