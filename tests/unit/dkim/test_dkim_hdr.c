/*
 * test_dkim_hdr: the header section taken apart into fields, one row per
 * section with the fields it must give ("Name|field text", folds kept),
 * and the relaxed header canonicalisation (RFC 6376 3.4.2), one row per
 * field with its canonical form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkim_hdr.h"

#define MAXF 6

struct split_row {
	const char *name;
	const char *header;
	const char *fields[MAXF];	/* "name|field", until NULL */
	size_t end;			/* where the section ends (*pos after the last call) */
};

static const struct split_row split_rows[] = {
	{ "plain", "From: a\r\nTo: b\r\n", { "From|From: a", "To|To: b" }, 16 },
	{ "folded", "Subject: one\r\n two\r\n\tthree\r\nTo: b\r\n",
	  { "Subject|Subject: one\r\n two\r\n\tthree", "To|To: b" }, 35 },
	{ "no CRLF at the end", "From: a\r\nTo: b", { "From|From: a", "To|To: b" }, 14 },
	{ "empty line ends", "From: a\r\n\r\nTo: b\r\n", { "From|From: a" }, 9 },
	{ "empty line first", "\r\nFrom: a\r\n", { NULL }, 0 },
	{ "empty input", "", { NULL }, 0 },
	{ "WSP before colon", "Subject \t: x\r\n", { "Subject|Subject \t: x" }, 14 },
	{ "empty value", "X:\r\n", { "X|X:" }, 4 },
	/* Lines that are no field are skipped, with their continuation lines. */
	{ "no colon", "garbage\r\nFrom: a\r\n", { "From|From: a" }, 18 },
	{ "no colon, continued", "garbage\r\n more\r\nFrom: a\r\n", { "From|From: a" }, 25 },
	{ "continuation first", " stray\r\n\tstray\r\nFrom: a\r\n", { "From|From: a" }, 25 },
	{ "colon first", ": x\r\nFrom: a\r\n", { "From|From: a" }, 14 },
	{ "space in name", "Fr om: x\r\nFrom: a\r\n", { "From|From: a" }, 19 },
	{ "8-bit in name", "Fr\xc3\xb6m: x\r\nFrom: a\r\n", { "From|From: a" }, 19 },
	{ "control in name", "Fr\x01om: x\r\nTo: a\r\n", { "To|To: a" }, 17 },
	{ "colon on the next line", "Subject\r\n : x\r\nTo: a\r\n", { "To|To: a" }, 22 },
	/* Line ends are CRLF only: a CR or LF alone stays inside the line. */
	{ "lone LF", "From: a\nTo: b\r\n", { "From|From: a\nTo: b" }, 15 },
	{ "lone CR", "From: a\rTo: b\r\n", { "From|From: a\rTo: b" }, 15 },
	{ "LF after CRLF", "From: a\r\n\nTo: b\r\nCc: c\r\n", { "From|From: a", "Cc|Cc: c" }, 24 },
	{ "CR CRLF", "From: a\r\r\nTo: b\r\n", { "From|From: a\r", "To|To: b" }, 17 },
	{ "8-bit value", "Subject: caf\xc3\xa9\r\n", { "Subject|Subject: caf\xc3\xa9" }, 16 },
	{ "garbage only", "\x01\x02\x03\r\n\xff", { NULL }, 6 },
};

static void test_split_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(split_rows) / sizeof(split_rows[0]); r++) {
		const struct split_row *row = &split_rows[r];
		size_t len = strlen(row->header), pos = 0, n = 0;
		struct dkim_hdr_field f;
		while (dkim_hdr_next(row->header, len, &pos, &f)) {
			if (n == MAXF || row->fields[n] == NULL)
				fail_msg("%s: got a field \"%.*s\" past the %zu wanted", row->name,
				    (int)f.len, f.field, n);
			char got[256];
			snprintf(got, sizeof(got), "%.*s|%.*s", (int)f.name_len, f.field, (int)f.len,
			    f.field);
			if (strcmp(got, row->fields[n]) != 0)
				fail_msg("%s: field %zu: got \"%s\", want \"%s\"", row->name, n, got,
				    row->fields[n]);
			if (f.field < row->header || f.field + f.len > row->header + len)
				fail_msg("%s: field %zu lies outside the input", row->name, n);
			n++;
		}
		if (n < MAXF && row->fields[n] != NULL)
			fail_msg("%s: got %zu fields, want more (next \"%s\")", row->name, n,
			    row->fields[n]);
		if (pos != row->end)
			fail_msg("%s: section end got %zu, want %zu", row->name, pos, row->end);
		/* At the end it stays at the end. */
		if (dkim_hdr_next(row->header, len, &pos, &f) || pos != row->end)
			fail_msg("%s: a call after the end moved to %zu", row->name, pos);
	}
}

struct is_row {
	const char *field;
	const char *name;
	bool want;
};

static const struct is_row is_rows[] = {
	{ "From: a", "from", true },
	{ "FROM: a", "from", true },
	{ "fRoM : a", "from", true },
	{ "From: a", "fro", false },
	{ "Fromx: a", "from", false },
	{ "Reply-To: a", "reply-to", true },
	{ "Reply_To: a", "reply-to", false },
	{ "Content-Transfer-Encoding: 8bit", "content-transfer-encoding", true },
};

static void test_is_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(is_rows) / sizeof(is_rows[0]); r++) {
		const char *h = is_rows[r].field;
		size_t pos = 0;
		struct dkim_hdr_field f;
		assert_true(dkim_hdr_next(h, strlen(h), &pos, &f));
		bool got = dkim_hdr_is(&f, is_rows[r].name);
		if (got != is_rows[r].want)
			fail_msg("\"%s\" is \"%s\": got %d, want %d", h, is_rows[r].name, got,
			    is_rows[r].want);
	}
}

struct relaxed_row {
	const char *in;
	const char *want;
};

static const struct relaxed_row relaxed_rows[] = {
	/* RFC 6376 3.4.6: "A: X" and "B : Y\t\r\n\tZ  " become "a:X" and "b:Y Z". */
	{ "A: X", "a:X" },
	{ "B : Y\t\r\n\tZ  ", "b:Y Z" },
	{ "Subject: Is dinner ready?", "subject:Is dinner ready?" },
	{ "SUBJECT:hello", "subject:hello" },
	{ "Subject:   many    spaces   ", "subject:many spaces" },
	{ "Subject:\ttabs\t\tinside\t", "subject:tabs inside" },
	{ "Subject:\r\n folded right after the colon", "subject:folded right after the colon" },
	{ "Subject: a\r\n b\r\n\t c", "subject:a b c" },
	{ "Subject: a \r\n b", "subject:a b" },
	{ "X:", "x:" },
	{ "X:   ", "x:" },
	{ "X: \r\n ", "x:" },
	{ "Subject \t :x", "subject:x" },
	{ "Message-ID: <a@b>", "message-id:<a@b>" },
	/* Only the name is lower-cased. */
	{ "To: Bob <BOB@EXAMPLE.NET>", "to:Bob <BOB@EXAMPLE.NET>" },
	/* Octets other than WSP and CRLF stay as they are. */
	{ "Subject: caf\xc3\xa9 \xe9t\xe9", "subject:caf\xc3\xa9 \xe9t\xe9" },
	{ "Subject: a\rb", "subject:a\rb" },
	{ "Subject: a\nb", "subject:a\nb" },
	{ "Subject: a:b: c", "subject:a:b: c" },
	{ "NoColon", "nocolon" },
	{ "NoColon  ", "nocolon" },
	/* The signature field itself, as dkim_sign hashes it. */
	{ "DKIM-Signature: v=1; a=rsa-sha256;\r\n\td=example.com; b=",
	  "dkim-signature:v=1; a=rsa-sha256; d=example.com; b=" },
};

static void test_relaxed_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(relaxed_rows) / sizeof(relaxed_rows[0]); r++) {
		const struct relaxed_row *row = &relaxed_rows[r];
		size_t len = strlen(row->in);
		char out[256];
		memset(out, 'Z', sizeof(out));
		size_t n = dkim_hdr_relaxed(row->in, len, out);
		if (n > len)
			fail_msg("\"%s\": wrote %zu octets, more than its %zu", row->in, n, len);
		if (n != strlen(row->want) || memcmp(out, row->want, n) != 0)
			fail_msg("\"%s\": got \"%.*s\", want \"%s\"", row->in, (int)n, out, row->want);
		/* Relaxed twice is relaxed once. */
		char again[256];
		size_t m = dkim_hdr_relaxed(out, n, again);
		if (m != n || memcmp(again, out, n) != 0)
			fail_msg("\"%s\": twice got \"%.*s\", want \"%.*s\"", row->in, (int)m, again,
			    (int)n, out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_rows),
		cmocka_unit_test(test_is_rows),
		cmocka_unit_test(test_relaxed_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
