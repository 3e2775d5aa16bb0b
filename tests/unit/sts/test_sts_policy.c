/*
 * test_sts_policy: the MTA-STS policy file (RFC 8461 3.2), its canonical
 * text and MX host matching (4.1). One row per policy body: the status,
 * the line and a word of the reason on a refusal, and on OK the canonical
 * text (which says mode, mx patterns and max_age at once).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sts/sts_policy.h"

struct policy_row {
	const char *body;
	enum sts_policy_status want;
	const char *text;	/* sts_policy_format on OK */
	size_t line;		/* the error's line on a refusal */
	const char *why;	/* a part of the reason on a refusal */
};

#define P_TESTING "version: STSv1\nmode: testing\n"
#define P_ENFORCE "version: STSv1\nmode: enforce\n"

static const struct policy_row policy_rows[] = {
	/* RFC 8461 3.2's examples, with CRLF and with LF. */
	{ "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
	  "mx: backupmx.example.com\r\nmax_age: 604800\r\n", STS_POLICY_OK,
	  P_ENFORCE "mx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\n"
	  "max_age: 604800\n", 0, NULL },
	{ "version: STSv1\nmode: testing\nmx: mx1.example.com\nmx: mx2.example.com\n"
	  "mx: mx.backup-example.com\nmax_age: 86400\n", STS_POLICY_OK,
	  P_TESTING "mx: mx1.example.com\nmx: mx2.example.com\nmx: mx.backup-example.com\n"
	  "max_age: 86400\n", 0, NULL },
	/* Any order; no line end after the last field; mixed line ends. */
	{ "max_age: 10\nmx: a.test\r\nmode: testing\nversion: STSv1", STS_POLICY_OK,
	  P_TESTING "mx: a.test\nmax_age: 10\n", 0, NULL },
	/* White space after the colon and at the end of a line. */
	{ "version:STSv1\t\nmode:\t testing \nmx:   A.Test.  \nmax_age: 0010 ", STS_POLICY_OK,
	  P_TESTING "mx: a.test\nmax_age: 10\n", 0, NULL },
	/* mode none needs no mx; max_age over the maximum is taken as the maximum. */
	{ "version: STSv1\nmode: none\nmax_age: 9999999999\n", STS_POLICY_OK,
	  "version: STSv1\nmode: none\nmax_age: 31557600\n", 0, NULL },
	{ "version: STSv1\nmode: none\nmax_age: 31557600\nmx: a.test\n", STS_POLICY_OK,
	  "version: STSv1\nmode: none\nmx: a.test\nmax_age: 31557600\n", 0, NULL },
	{ "version: STSv1\nmode: none\nmax_age: 0\n", STS_POLICY_OK,
	  "version: STSv1\nmode: none\nmax_age: 0\n", 0, NULL },
	/* A repeated singleton: the first counts, even when a later one would be wrong. */
	{ "version: STSv1\nmode: testing\nmode: enforce\nmode: bogus\nmx: a.test\n"
	  "max_age: 5\nmax_age: x\nversion: STSv2\n", STS_POLICY_OK,
	  P_TESTING "mx: a.test\nmax_age: 5\n", 0, NULL },
	/* Unknown fields are ignored, names are case-sensitive, values may be UTF-8. */
	{ "version: STSv1\nmode: enforce\nMode: none\nmx: a.test\nx-note: caf\xc3\xa9 = ; ok\n"
	  "max_age: 1\n", STS_POLICY_OK, P_ENFORCE "mx: a.test\nmax_age: 1\n", 0, NULL },
	/* Wildcards, digits, hyphens, A-labels, one label. */
	{ "version: STSv1\nmode: enforce\nmx: *.Example.COM\nmx: 1-2.xn--bcher-kva.example\n"
	  "mx: localhost\nmax_age: 1\n", STS_POLICY_OK,
	  P_ENFORCE "mx: *.example.com\nmx: 1-2.xn--bcher-kva.example\nmx: localhost\nmax_age: 1\n",
	  0, NULL },

	/* Required fields. */
	{ "", STS_POLICY_INVALID, NULL, 0, "no version" },
	{ "mode: enforce\nmx: a.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 0, "no version" },
	{ "version: STSv1\nmx: a.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 0, "no mode" },
	{ "version: STSv1\nmode: enforce\nmx: a.test\n", STS_POLICY_INVALID, NULL, 0, "no max_age" },
	{ "version: STSv1\nmode: enforce\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 0, "needs an mx" },
	{ "version: STSv1\nmode: testing\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 0, "needs an mx" },
	{ "Version: STSv1\nmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 0, "no version" },
	/* Values of the known fields. */
	{ "version: STSv2\nmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 1, "want STSv1" },
	{ "version: stsv1\nmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 1, "want STSv1" },
	{ "version: STSv1\nmode: Enforce\nmx: a.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 2,
	  "want enforce" },
	{ "version: STSv1\nmode: report\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 2, "\"report\"" },
	{ "version: STSv1\nmode: none\nmax_age: 12345678901\n", STS_POLICY_INVALID, NULL, 3,
	  "10 digits" },
	{ "version: STSv1\nmode: none\nmax_age: -1\n", STS_POLICY_INVALID, NULL, 3, "10 digits" },
	{ "version: STSv1\nmode: none\nmax_age: 1 day\n", STS_POLICY_INVALID, NULL, 3, "10 digits" },
	{ "version: STSv1\nmode: enforce\nmx: a.test b.test\nmax_age: 1\n", STS_POLICY_INVALID,
	  NULL, 3, "not a host name" },
	{ "version: STSv1\nmode: enforce\nmx: *.*.a.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL,
	  3, "mx" },
	{ "version: STSv1\nmode: enforce\nmx: a*.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3,
	  "mx" },
	{ "version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3, "mx" },
	{ "version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3, "mx" },
	{ "version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3,
	  "mx" },
	{ "version: STSv1\nmode: enforce\nmx: .a.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3,
	  "mx" },
	{ "version: STSv1\nmode: enforce\nmx: a.test..\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3,
	  "mx" },
	{ "version: STSv1\nmode: enforce\nmx: -a.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3,
	  "mx" },
	{ "version: STSv1\nmode: enforce\nmx: a-.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3,
	  "mx" },
	{ "version: STSv1\nmode: enforce\nmx: a_b.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3,
	  "mx" },
	{ "version: STSv1\nmode: enforce\nmx: b\xc3\xbc" "cher.example\nmax_age: 1\n",
	  STS_POLICY_INVALID, NULL, 3, "A-labels" },
	{ "version: STSv1\nmode: enforce\nmx: a.test:25\nmax_age: 1\n", STS_POLICY_INVALID, NULL,
	  3, "mx" },
	{ "version: STSv1\nmode: enforce\nmx: 0123456789012345678901234567890123456789012345678901"
	  "234567890123.test\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 3, "mx" },
	/* The line grammar. */
	{ "version: STSv1\n\nmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 2, "empty line" },
	{ "version: STSv1\nmode: none\nmax_age: 1\n\n", STS_POLICY_INVALID, NULL, 4, "empty line" },
	{ "version: STSv1\r\n\r\nmode: none\r\nmax_age: 1\r\n", STS_POLICY_INVALID, NULL, 2,
	  "empty line" },
	{ " version: STSv1\nmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 1, "field name" },
	{ "version : STSv1\nmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 1, "field name" },
	{ "version STSv1\nmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 1, "field name" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nno colon here\n", STS_POLICY_INVALID, NULL, 4,
	  "field name" },
	{ "version: STSv1\nmode: none\nmax_age: 1\n_x: y\n", STS_POLICY_INVALID, NULL, 4,
	  "field name" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nx:\n", STS_POLICY_INVALID, NULL, 4, "no value" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nx:   \t\n", STS_POLICY_INVALID, NULL, 4,
	  "no value" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nx: a\tb\n", STS_POLICY_INVALID, NULL, 4, "0x09" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nx: a\x01" "b\n", STS_POLICY_INVALID, NULL, 4,
	  "0x01" },
	{ "version: STSv1\rmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 1, "0x0d" },
	{ "version: STSv1\nmode: none\r\r\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 2, "0x0d" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nx: caf\xc3\n", STS_POLICY_INVALID, NULL, 4,
	  "0xc3" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nx: \xc0\xaf\n", STS_POLICY_INVALID, NULL, 4,
	  "0xc0" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nx: \xed\xa0\x80\n", STS_POLICY_INVALID, NULL, 4,
	  "0xed" },
	{ "version: STSv1\nmode: none\nmax_age: 1\nx: \xf4\x90\x80\x80\n", STS_POLICY_INVALID, NULL,
	  4, "0xf4" },
	{ "\xef\xbb\xbfversion: STSv1\nmode: none\nmax_age: 1\n", STS_POLICY_INVALID, NULL, 1,
	  "field name" },
	{ "version: STSv1\nmode: none\nmax_age: 1\na23456789012345678901234567890123: y\n",
	  STS_POLICY_INVALID, NULL, 4, "field name" },
	{ "<html><body>Not found</body></html>\n", STS_POLICY_INVALID, NULL, 1, "field name" },
};

static void test_policy_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(policy_rows) / sizeof(policy_rows[0]); i++) {
		const struct policy_row *row = &policy_rows[i];
		struct sts_policy p;
		struct sts_policy_error err;
		enum sts_policy_status got = sts_policy_parse(row->body, strlen(row->body), &p, &err);
		if (got != row->want)
			fail_msg("row %zu: got %s, want %s (line %zu: %s)", i,
			    sts_policy_status_name(got), sts_policy_status_name(row->want), err.line,
			    err.why);
		if (got != STS_POLICY_OK) {
			if (err.line != row->line)
				fail_msg("row %zu: line got %zu, want %zu (%s)", i, err.line, row->line,
				    err.why);
			if (strstr(err.why, row->why) == NULL)
				fail_msg("row %zu: why got \"%s\", want it to hold \"%s\"", i, err.why,
				    row->why);
			if (p.nmx != 0 || p.max_age != 0 || p.mode != STS_MODE_NONE)
				fail_msg("row %zu: a refused policy was not cleared", i);
			continue;
		}
		if (err.why[0] != '\0' || err.line != 0)
			fail_msg("row %zu: OK with an error \"%s\"", i, err.why);
		char text[STS_POLICY_FORMAT_MAX];
		size_t n = sts_policy_format(&p, text, sizeof(text));
		if (n != strlen(row->text) || strcmp(text, row->text) != 0)
			fail_msg("row %zu: text got \"%s\" (%zu), want \"%s\"", i, text, n, row->text);
		/* The canonical text parses back to the same policy. */
		struct sts_policy q;
		if (sts_policy_parse(text, n, &q, &err) != STS_POLICY_OK || !sts_policy_equal(&p, &q) ||
		    memcmp(&p, &q, sizeof(p)) != 0)
			fail_msg("row %zu: the text does not parse back equal (%s)", i, err.why);
	}
}

/* The reason quotes peer text but stays printable. */
static void test_policy_why_printable(void **state)
{
	(void)state;
	const char body[] = "version: STSv1\nmode: \x7f\xc3\xa9nforce\nmax_age: 1\n";
	struct sts_policy p;
	struct sts_policy_error err;
	assert_int_equal(sts_policy_parse(body, strlen(body), &p, &err), STS_POLICY_INVALID);
	assert_int_equal(err.line, 2);
	for (const char *c = err.why; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			fail_msg("why holds octet 0x%02x: \"%s\"", (unsigned char)*c, err.why);
	/* A NUL in the body is an octet like any other: refused, not an end. */
	const char nul[] = "version: STSv1\nmode: none\nmax_age: 1\nx: a\0b\n";
	assert_int_equal(sts_policy_parse(nul, sizeof(nul) - 1, &p, &err), STS_POLICY_INVALID);
	assert_int_equal(err.line, 4);
}

/* The caps: body size and the number of mx patterns; the longest pattern fits. */
static void test_policy_caps(void **state)
{
	(void)state;
	static struct sts_policy p;
	struct sts_policy_error err;
	char *body = malloc(STS_POLICY_BODY_MAX + 2);
	assert_non_null(body);
	/* The biggest body that fits: padded with a long unknown field. */
	const char *head = "version: STSv1\nmode: none\nmax_age: 1\nx: ";
	size_t hl = strlen(head);
	memcpy(body, head, hl);
	memset(body + hl, 'a', STS_POLICY_BODY_MAX - hl);
	assert_int_equal(sts_policy_parse(body, STS_POLICY_BODY_MAX, &p, &err), STS_POLICY_OK);
	body[STS_POLICY_BODY_MAX] = 'a';
	assert_int_equal(sts_policy_parse(body, STS_POLICY_BODY_MAX + 1, &p, &err),
	    STS_POLICY_TOO_BIG);
	assert_int_equal(err.line, 0);
	/* 64 mx patterns are kept, the 65th refuses the policy. */
	size_t n = (size_t)snprintf(body, STS_POLICY_BODY_MAX, "version: STSv1\nmode: enforce\nmax_age: 1\n");
	for (int i = 0; i < STS_POLICY_MX_MAX; i++)
		n += (size_t)snprintf(body + n, STS_POLICY_BODY_MAX - n, "mx: mx%d.test\n", i);
	assert_int_equal(sts_policy_parse(body, n, &p, &err), STS_POLICY_OK);
	assert_int_equal(p.nmx, STS_POLICY_MX_MAX);
	assert_string_equal(p.mx[63], "mx63.test");
	n += (size_t)snprintf(body + n, STS_POLICY_BODY_MAX - n, "mx: one-too-many.test\n");
	assert_int_equal(sts_policy_parse(body, n, &p, &err), STS_POLICY_TOO_BIG);
	assert_int_equal(err.line, STS_POLICY_MX_MAX + 4);
	/* "*." and 253 octets (four labels of 63 less two, dots between), and a trailing dot. */
	char label[64];
	memset(label, 'b', 63);
	label[63] = '\0';
	n = (size_t)snprintf(body, STS_POLICY_BODY_MAX,
	    "version: STSv1\nmode: enforce\nmax_age: 1\nmx: *.%s.%s.%s.%.61s.\n", label, label, label,
	    label);
	assert_int_equal(sts_policy_parse(body, n, &p, &err), STS_POLICY_OK);
	assert_int_equal(strlen(p.mx[0]), 255);
	n = (size_t)snprintf(body, STS_POLICY_BODY_MAX,
	    "version: STSv1\nmode: enforce\nmax_age: 1\nmx: *.%s.%s.%s.%.62s\n", label, label, label,
	    label);
	assert_int_equal(sts_policy_parse(body, n, &p, &err), STS_POLICY_INVALID);
	free(body);
}

struct match_row {
	const char *host;
	bool want;
};

/* RFC 8461 4.1: case-insensitive, a wildcard is exactly one leftmost label. */
static void test_policy_mx_match(void **state)
{
	(void)state;
	static const char body[] =
	    "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 1\n";
	static const struct match_row rows[] = {
		{ "mail.example.com", true }, { "MAIL.Example.COM", true },
		{ "mail.example.com.", true }, { "mx.example.net", true }, { "MX.EXAMPLE.NET.", true },
		{ "a-b.example.net", true }, { "example.net", false }, { "a.b.example.net", false },
		{ ".example.net", false }, { "xexample.net", false }, { "mx.example.net.evil", false },
		{ "example.com", false }, { "x.mail.example.com", false }, { "mail.example.co", false },
		{ "ail.example.com", false }, { "", false }, { ".", false },
		{ "mail.example.com..", false },
	};
	struct sts_policy p;
	struct sts_policy_error err;
	assert_int_equal(sts_policy_parse(body, strlen(body), &p, &err), STS_POLICY_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = sts_policy_mx_match(&p, rows[i].host);
		if (got != rows[i].want)
			fail_msg("host \"%s\": got %d, want %d", rows[i].host, got, rows[i].want);
	}
	/* A policy without patterns matches nothing. */
	static const char none[] = "version: STSv1\nmode: none\nmax_age: 1\n";
	assert_int_equal(sts_policy_parse(none, strlen(none), &p, &err), STS_POLICY_OK);
	assert_false(sts_policy_mx_match(&p, "mail.example.com"));
}

/* Formatting into a small buffer measures and writes nothing partial. */
static void test_policy_format_small(void **state)
{
	(void)state;
	static const char body[] = "version: STSv1\nmode: testing\nmx: a.test\nmax_age: 86400\n";
	struct sts_policy p;
	struct sts_policy_error err;
	assert_int_equal(sts_policy_parse(body, strlen(body), &p, &err), STS_POLICY_OK);
	size_t want = strlen(body);
	assert_int_equal(sts_policy_format(&p, NULL, 0), want);
	char buf[64];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(sts_policy_format(&p, buf, want), want);
	assert_string_equal(buf, "");
	assert_int_equal(sts_policy_format(&p, buf, want + 1), want);
	assert_string_equal(buf, body);
}

struct lines_row {
	const char *text;
	const char *want[5];	/* the lines, until NULL */
};

static void test_policy_next_line(void **state)
{
	(void)state;
	static const struct lines_row rows[] = {
		{ "", { NULL } },
		{ "a", { "a", NULL } },
		{ "a\n", { "a", NULL } },
		{ "a\r\nb\nc", { "a", "b", "c", NULL } },
		{ "\n\n", { "", "", NULL } },
		{ "a\r", { "a\r", NULL } },
		{ "a\r\r\n", { "a\r", NULL } },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t pos = 0, k = 0, len;
		const char *line;
		const char *t = rows[i].text;
		while (sts_policy_next_line(t, strlen(t), &pos, &line, &len)) {
			if (k >= 4 || rows[i].want[k] == NULL)
				fail_msg("row %zu: more lines than wanted", i);
			if (len != strlen(rows[i].want[k]) || memcmp(line, rows[i].want[k], len) != 0)
				fail_msg("row %zu line %zu: got \"%.*s\", want \"%s\"", i, k, (int)len, line,
				    rows[i].want[k]);
			k++;
		}
		if (rows[i].want[k] != NULL)
			fail_msg("row %zu: got %zu lines, want more", i, k);
	}
}

static void test_policy_equal_and_names(void **state)
{
	(void)state;
	static const char a[] = "version: STSv1\nmode: enforce\nmx: a.test\nmx: b.test\nmax_age: 1\n";
	static const char b[] = "version: STSv1\nmode: enforce\nmx: b.test\nmx: a.test\nmax_age: 1\n";
	static const char c[] = "version: STSv1\nmode: testing\nmx: a.test\nmx: b.test\nmax_age: 1\n";
	static const char d[] = "version: STSv1\nmode: enforce\nmx: a.test\nmx: b.test\nmax_age: 2\n";
	struct sts_policy pa, pb, pc, pd, pa2;
	struct sts_policy_error err;
	assert_int_equal(sts_policy_parse(a, strlen(a), &pa, &err), STS_POLICY_OK);
	assert_int_equal(sts_policy_parse(a, strlen(a), &pa2, &err), STS_POLICY_OK);
	assert_int_equal(sts_policy_parse(b, strlen(b), &pb, &err), STS_POLICY_OK);
	assert_int_equal(sts_policy_parse(c, strlen(c), &pc, &err), STS_POLICY_OK);
	assert_int_equal(sts_policy_parse(d, strlen(d), &pd, &err), STS_POLICY_OK);
	assert_true(sts_policy_equal(&pa, &pa2));
	assert_false(sts_policy_equal(&pa, &pb));
	assert_false(sts_policy_equal(&pa, &pc));
	assert_false(sts_policy_equal(&pa, &pd));
	assert_string_equal(sts_mode_name(STS_MODE_NONE), "none");
	assert_string_equal(sts_mode_name(STS_MODE_TESTING), "testing");
	assert_string_equal(sts_mode_name(STS_MODE_ENFORCE), "enforce");
	assert_string_equal(sts_mode_name((enum sts_mode)7), "unknown");
	assert_string_equal(sts_policy_status_name(STS_POLICY_TOO_BIG), "too big");
	assert_string_equal(sts_policy_status_name((enum sts_policy_status)7), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_rows),
		cmocka_unit_test(test_policy_why_printable),
		cmocka_unit_test(test_policy_caps),
		cmocka_unit_test(test_policy_mx_match),
		cmocka_unit_test(test_policy_format_small),
		cmocka_unit_test(test_policy_next_line),
		cmocka_unit_test(test_policy_equal_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
