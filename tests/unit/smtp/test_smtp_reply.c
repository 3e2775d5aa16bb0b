/*
 * test_smtp_reply: the reply parser, one row per reply: the lines fed, the
 * result of the last feed, and what the parsed reply must hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_reply.h"

#define MAXL 6

struct reply_row {
	const char *lines[MAXL];	/* fed in order until NULL or a BAD result */
	enum smtp_reply_result want;
	int code;
	const char *esc;
	unsigned nlines;
	const char *text0;		/* smtp_reply_text(r, 0), NULL to skip */
	const char *fmt;		/* smtp_reply_format, NULL to skip */
};

static const char *res_name(enum smtp_reply_result r)
{
	switch (r) {
	case SMTP_REPLY_MORE: return "MORE";
	case SMTP_REPLY_DONE: return "DONE";
	case SMTP_REPLY_BAD: return "BAD";
	}
	return "?";
}

static const struct reply_row reply_rows[] = {
	{ { "250 OK" }, SMTP_REPLY_DONE, 250, "", 1, "OK", "250 OK" },
	{ { "250" }, SMTP_REPLY_DONE, 250, "", 1, "", "250" },
	{ { "250 " }, SMTP_REPLY_DONE, 250, "", 1, "", "250" },
	{ { "250 2.0.0 Ok: queued as X" }, SMTP_REPLY_DONE, 250, "2.0.0", 1,
	  "Ok: queued as X", "250 2.0.0 Ok: queued as X" },
	{ { "250-mx.test", "250-PIPELINING", "250 SIZE 100" }, SMTP_REPLY_DONE, 250, "", 3,
	  "mx.test", "250 mx.test PIPELINING SIZE 100" },
	{ { "550-5.1.1 no such", "550 5.1.1 user" }, SMTP_REPLY_DONE, 550, "5.1.1", 2,
	  "no such", "550 5.1.1 no such user" },
	/* ESC class must match the first digit of the code. */
	{ { "550 4.1.1 odd" }, SMTP_REPLY_DONE, 550, "", 1, "4.1.1 odd", "550 4.1.1 odd" },
	{ { "250 5.0.0 odd" }, SMTP_REPLY_DONE, 250, "", 1, "5.0.0 odd", NULL },
	{ { "421 4.4.2 bye" }, SMTP_REPLY_DONE, 421, "4.4.2", 1, "bye", NULL },
	{ { "354 End data with <CR><LF>.<CR><LF>" }, SMTP_REPLY_DONE, 354, "", 1, NULL, NULL },
	/* Not codes: too many digits, trailing junk. */
	{ { "250 2.0.0000 x" }, SMTP_REPLY_DONE, 250, "", 1, "2.0.0000 x", NULL },
	{ { "250 2.0.0x" }, SMTP_REPLY_DONE, 250, "", 1, "2.0.0x", NULL },
	{ { "250 2.0.0" }, SMTP_REPLY_DONE, 250, "2.0.0", 1, "", "250 2.0.0" },
	{ { "250 2.123.456 big" }, SMTP_REPLY_DONE, 250, "2.123.456", 1, "big", NULL },
	/* Continuation. */
	{ { "220-hello" }, SMTP_REPLY_MORE, 220, "", 1, "hello", NULL },
	{ { "220-" , "220 " }, SMTP_REPLY_DONE, 220, "", 2, "", "220" },
	/* Malformed. */
	{ { "" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "25" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "2500 x" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "25O x" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "abc" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "100 x" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "600 x" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "260 x" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { " 250 x" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "250\tx" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "250_x" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "250-a", "251 b" }, SMTP_REPLY_BAD, 250, "", 1, NULL, NULL },
	{ { "250-a", "junk" }, SMTP_REPLY_BAD, 250, "", 1, NULL, NULL },
	{ { "250-a", "" }, SMTP_REPLY_BAD, 250, "", 1, NULL, NULL },
	{ { "250 a\rb" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "250 a\nb" }, SMTP_REPLY_BAD, 0, "", 0, NULL, NULL },
	{ { "250 done", "250 again" }, SMTP_REPLY_BAD, 250, "", 1, NULL, NULL },
	/* Non-printable text is kept but formatted as '?'. */
	{ { "250 caf\xc3\xa9\x01" }, SMTP_REPLY_DONE, 250, "", 1, "caf\xc3\xa9\x01", "250 caf???" },
};

static void test_reply_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reply_rows) / sizeof(reply_rows[0]); i++) {
		const struct reply_row *row = &reply_rows[i];
		struct smtp_reply r;
		smtp_reply_init(&r);
		enum smtp_reply_result got = SMTP_REPLY_MORE;
		for (size_t k = 0; k < MAXL && row->lines[k] != NULL; k++) {
			got = smtp_reply_feed(&r, row->lines[k], strlen(row->lines[k]));
			if (got == SMTP_REPLY_BAD)
				break;
		}
		if (got != row->want)
			fail_msg("row %zu (%s): got %s, want %s (error %s)", i, row->lines[0],
			    res_name(got), res_name(row->want), r.error ? r.error : "none");
		if (got == SMTP_REPLY_BAD && r.error == NULL)
			fail_msg("row %zu: BAD without a reason", i);
		if (r.code != row->code)
			fail_msg("row %zu: code got %d, want %d", i, r.code, row->code);
		if (strcmp(r.esc, row->esc) != 0)
			fail_msg("row %zu: esc got \"%s\", want \"%s\"", i, r.esc, row->esc);
		if (r.nlines != row->nlines)
			fail_msg("row %zu: nlines got %u, want %u", i, r.nlines, row->nlines);
		if (row->text0 != NULL && strcmp(smtp_reply_text(&r, 0), row->text0) != 0)
			fail_msg("row %zu: text got \"%s\", want \"%s\"", i,
			    smtp_reply_text(&r, 0), row->text0);
		if (row->fmt != NULL) {
			char buf[256];
			smtp_reply_format(&r, buf, sizeof(buf));
			if (strcmp(buf, row->fmt) != 0)
				fail_msg("row %zu: format got \"%s\", want \"%s\"", i, buf, row->fmt);
		}
		smtp_reply_reset(&r);
	}
}

static void test_reply_nul(void **state)
{
	(void)state;
	struct smtp_reply r;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "250 a\0b", 7), SMTP_REPLY_BAD);
	assert_non_null(r.error);
	/* BAD is sticky until reset. */
	assert_int_equal(smtp_reply_feed(&r, "250 ok", 6), SMTP_REPLY_BAD);
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_feed(&r, "250 ok", 6), SMTP_REPLY_DONE);
	smtp_reply_reset(&r);
}

static void test_reply_caps(void **state)
{
	(void)state;
	struct smtp_reply r;
	smtp_reply_init(&r);
	for (unsigned i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(smtp_reply_feed(&r, "250-x", 5), SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_feed(&r, "250 x", 5), SMTP_REPLY_BAD);
	smtp_reply_reset(&r);

	static char line[SMTP_REPLY_LINE_MAX + 2];
	memset(line, 'a', sizeof(line));
	memcpy(line, "250 ", 4);
	assert_int_equal(smtp_reply_feed(&r, line, SMTP_REPLY_LINE_MAX), SMTP_REPLY_DONE);
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_feed(&r, line, SMTP_REPLY_LINE_MAX + 1), SMTP_REPLY_BAD);
	smtp_reply_reset(&r);
	smtp_reply_reset(NULL);
}

static void test_reply_format_small(void **state)
{
	(void)state;
	struct smtp_reply r;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "550 5.7.1 denied", 16), SMTP_REPLY_DONE);
	char buf[8];
	smtp_reply_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "550 5.7");
	smtp_reply_format(&r, buf, 1);
	assert_string_equal(buf, "");
	assert_string_equal(smtp_reply_text(&r, 5), "");
	smtp_reply_reset(&r);
}

struct esc_row {
	const char *in;
	char cls;
	size_t want;
};

static const struct esc_row esc_rows[] = {
	{ "2.0.0", 0, 5 }, { "5.1.1 x", '5', 5 }, { "5.1.1 x", '4', 0 },
	{ "4.7.0\tx", 0, 5 }, { "3.0.0", 0, 0 }, { "5.1", 0, 0 }, { "5..1", 0, 0 },
	{ "5.1.", 0, 0 }, { "5.123.456", 0, 9 }, { "5.1234.1", 0, 0 }, { "5.1.1.1", 0, 0 },
	{ "", 0, 0 }, { "x.1.1", 0, 0 }, { "51.1.1", 0, 0 },
};

static void test_reply_esc(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(esc_rows) / sizeof(esc_rows[0]); i++) {
		size_t got = smtp_reply_esc_len(esc_rows[i].in, strlen(esc_rows[i].in), esc_rows[i].cls);
		if (got != esc_rows[i].want)
			fail_msg("esc \"%s\": got %zu, want %zu", esc_rows[i].in, got, esc_rows[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_rows),
		cmocka_unit_test(test_reply_nul),
		cmocka_unit_test(test_reply_caps),
		cmocka_unit_test(test_reply_format_small),
		cmocka_unit_test(test_reply_esc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
