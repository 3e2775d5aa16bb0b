/*
 * test_sts_record: the MTA-STS TXT record (RFC 8461 3.1), one row per set
 * of TXT records: what the parser must say (status, id) and, for a
 * refusal, a word its reason must hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sts/sts_record.h"

#define MAXT 4

struct record_row {
	const char *texts[MAXT];	/* the TXT records, until NULL */
	enum sts_record_status want;
	const char *id;			/* the id on OK, "" otherwise */
	const char *why;		/* a part of the reason, NULL to skip */
};

static const struct record_row record_rows[] = {
	/* RFC 8461 3.1's example. */
	{ { "v=STSv1; id=20160831085700Z;" }, STS_RECORD_OK, "20160831085700Z", NULL },
	{ { "v=STSv1; id=20160831085700Z" }, STS_RECORD_OK, "20160831085700Z", NULL },
	{ { "v=STSv1;id=abc" }, STS_RECORD_OK, "abc", NULL },
	{ { "v=STSv1;\tid=abc\t;\t" }, STS_RECORD_OK, "abc", NULL },
	{ { "v=STSv1; id=abc ; " }, STS_RECORD_OK, "abc", NULL },
	/* Extensions, before or after the id, are ignored when well formed. */
	{ { "v=STSv1; ext=foo:bar; id=X1" }, STS_RECORD_OK, "X1", NULL },
	{ { "v=STSv1; id=X1; a.b_c-d=~!" }, STS_RECORD_OK, "X1", NULL },
	/* 32 letters and digits is the longest id. */
	{ { "v=STSv1; id=0123456789abcdefABCDEF0123456789" }, STS_RECORD_OK,
	  "0123456789abcdefABCDEF0123456789", NULL },
	/* A repeated id: the first counts, the second only has to be a well-formed field. */
	{ { "v=STSv1; id=first; id=second" }, STS_RECORD_OK, "first", NULL },
	{ { "v=STSv1; id=first; id=not-an-id" }, STS_RECORD_OK, "first", NULL },
	/* Other TXT records at the name are discarded (SPF, verification tokens). */
	{ { "v=spf1 -all", "v=STSv1; id=abc", "google-site-verification=x" }, STS_RECORD_OK,
	  "abc", NULL },

	/* Not exactly one record beginning with "v=STSv1;": no policy. */
	{ { NULL }, STS_RECORD_NONE, "", "no TXT record" },
	{ { "v=spf1 -all" }, STS_RECORD_NONE, "", "no TXT record" },
	{ { "v=STSv1; id=a", "v=STSv1; id=b" }, STS_RECORD_NONE, "", "2 TXT records" },
	{ { "v=STSv1; id=a", "v=STSv1; id=a" }, STS_RECORD_NONE, "", "not one" },
	/* The prefix is case-sensitive and includes the ";". */
	{ { "v=stsv1; id=abc" }, STS_RECORD_NONE, "", NULL },
	{ { "V=STSv1; id=abc" }, STS_RECORD_NONE, "", NULL },
	{ { "v=STSv1 ; id=abc" }, STS_RECORD_NONE, "", NULL },
	{ { "v=STSv1" }, STS_RECORD_NONE, "", NULL },
	{ { "v=STSv10; id=abc" }, STS_RECORD_NONE, "", NULL },
	{ { " v=STSv1; id=abc" }, STS_RECORD_NONE, "", NULL },
	/* One invalid record among others is not replaced by them. */
	{ { "v=STSv1; id=", "v=STSv2; id=abc" }, STS_RECORD_INVALID, "", "id" },

	/* Exactly one, but invalid: no policy either. */
	{ { "v=STSv1;" }, STS_RECORD_INVALID, "", "no field" },
	{ { "v=STSv1; " }, STS_RECORD_INVALID, "", "no field" },
	{ { "v=STSv1; ext=1" }, STS_RECORD_INVALID, "", "no id" },
	{ { "v=STSv1; id=" }, STS_RECORD_INVALID, "", "1 to 32" },
	{ { "v=STSv1; id=0123456789abcdefABCDEF0123456789x" }, STS_RECORD_INVALID, "", "1 to 32" },
	{ { "v=STSv1; id=2016-08-31" }, STS_RECORD_INVALID, "", "letters and digits" },
	{ { "v=STSv1; id=abc;;" }, STS_RECORD_INVALID, "", "field name" },
	{ { "v=STSv1;; id=abc" }, STS_RECORD_INVALID, "", "field name" },
	{ { "v=STSv1; id=abc def" }, STS_RECORD_INVALID, "", "\";\"" },
	{ { "v=STSv1; id=abc " }, STS_RECORD_INVALID, "", "\";\"" },
	{ { "v=STSv1; id abc" }, STS_RECORD_INVALID, "", "field name" },
	{ { "v=STSv1; =abc; id=x" }, STS_RECORD_INVALID, "", "field name" },
	{ { "v=STSv1; id=x; ext=" }, STS_RECORD_INVALID, "", "empty value" },
	{ { "v=STSv1; id=x; ext=a=b" }, STS_RECORD_INVALID, "", "0x3d" },
	{ { "v=STSv1; id=x; ext=caf\xc3\xa9" }, STS_RECORD_INVALID, "", "0xc3" },
	{ { "v=STSv1; id=x; _ext=1" }, STS_RECORD_INVALID, "", "field name" },
	{ { "v=STSv1; id=x; a23456789012345678901234567890123=1" }, STS_RECORD_INVALID, "",
	  "field name" },
	{ { "v=STSv1; id=x\r\n" }, STS_RECORD_INVALID, "", NULL },
};

static const char *status_name(enum sts_record_status s)
{
	return sts_record_status_name(s);
}

static void test_record_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(record_rows) / sizeof(record_rows[0]); i++) {
		const struct record_row *row = &record_rows[i];
		size_t n = 0;
		while (n < MAXT && row->texts[n] != NULL)
			n++;
		char id[STS_RECORD_ID_MAX];
		char why[128];
		memset(id, 'Z', sizeof(id));
		enum sts_record_status got = sts_record_parse(row->texts, n, id, why, sizeof(why));
		if (got != row->want)
			fail_msg("row %zu (%s): got %s, want %s (why \"%s\")", i,
			    row->texts[0] ? row->texts[0] : "-", status_name(got), status_name(row->want),
			    why);
		if (strcmp(id, row->id) != 0)
			fail_msg("row %zu: id got \"%s\", want \"%s\"", i, id, row->id);
		if (got == STS_RECORD_OK && why[0] != '\0')
			fail_msg("row %zu: OK with a reason \"%s\"", i, why);
		if (got != STS_RECORD_OK && why[0] == '\0')
			fail_msg("row %zu: %s without a reason", i, status_name(got));
		if (row->why != NULL && strstr(why, row->why) == NULL)
			fail_msg("row %zu: why got \"%s\", want it to hold \"%s\"", i, why, row->why);
	}
}

/* NULL entries are skipped; a zero-length reason buffer is never written. */
static void test_record_null_and_no_why(void **state)
{
	(void)state;
	const char *texts[] = { NULL, "v=STSv1; id=abc", NULL };
	char id[STS_RECORD_ID_MAX];
	char why[1] = { 'x' };
	assert_int_equal(sts_record_parse(texts, 3, id, why, 0), STS_RECORD_OK);
	assert_string_equal(id, "abc");
	assert_int_equal(why[0], 'x');
	assert_int_equal(sts_record_parse(texts, 0, id, NULL, 0), STS_RECORD_NONE);
	assert_string_equal(id, "");
	const char *bad[] = { "v=STSv1; id=a-b" };
	assert_int_equal(sts_record_parse(bad, 1, id, NULL, 0), STS_RECORD_INVALID);
	assert_string_equal(id, "");
}

/* A long reason is cut to the buffer, always NUL-terminated. */
static void test_record_short_why(void **state)
{
	(void)state;
	const char *texts[] = { "v=STSv1; id=a-b" };
	char id[STS_RECORD_ID_MAX];
	char why[8];
	assert_int_equal(sts_record_parse(texts, 1, id, why, sizeof(why)), STS_RECORD_INVALID);
	assert_int_equal(strlen(why), sizeof(why) - 1);
}

static void test_record_status_names(void **state)
{
	(void)state;
	assert_string_equal(sts_record_status_name(STS_RECORD_NONE), "none");
	assert_string_equal(sts_record_status_name(STS_RECORD_OK), "ok");
	assert_string_equal(sts_record_status_name(STS_RECORD_INVALID), "invalid");
	assert_string_equal(sts_record_status_name((enum sts_record_status)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_rows),
		cmocka_unit_test(test_record_null_and_no_why),
		cmocka_unit_test(test_record_short_why),
		cmocka_unit_test(test_record_status_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
