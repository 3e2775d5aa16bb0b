/*
 * test_tlsrpt_time: Unix times as RFC 3339 and RFC 5322 dates in UTC, one
 * row per time: the epoch, leap days and centuries, the RFC 8460 example
 * range, the last second written, and the times refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tlsrpt/tlsrpt_time.h"

struct time_row {
	int64_t t;
	const char *rfc3339;	/* "" when refused */
	const char *rfc5322;
};

static const struct time_row time_rows[] = {
	{ 0, "1970-01-01T00:00:00Z", "Thu, 01 Jan 1970 00:00:00 +0000" },
	{ 1459468800, "2016-04-01T00:00:00Z", "Fri, 01 Apr 2016 00:00:00 +0000" },
	{ 1459555199, "2016-04-01T23:59:59Z", "Fri, 01 Apr 2016 23:59:59 +0000" },
	{ 951782400, "2000-02-29T00:00:00Z", "Tue, 29 Feb 2000 00:00:00 +0000" },
	{ 951868799, "2000-02-29T23:59:59Z", "Tue, 29 Feb 2000 23:59:59 +0000" },
	{ 951868800, "2000-03-01T00:00:00Z", "Wed, 01 Mar 2000 00:00:00 +0000" },
	{ 4107542400, "2100-03-01T00:00:00Z", "Mon, 01 Mar 2100 00:00:00 +0000" },
	{ 4107456000, "2100-02-28T00:00:00Z", "Sun, 28 Feb 2100 00:00:00 +0000" },
	{ 1704067199, "2023-12-31T23:59:59Z", "Sun, 31 Dec 2023 23:59:59 +0000" },
	{ 1709164800, "2024-02-29T00:00:00Z", "Thu, 29 Feb 2024 00:00:00 +0000" },
	{ INT64_C(2147483648), "2038-01-19T03:14:08Z", "Tue, 19 Jan 2038 03:14:08 +0000" },
	{ TLSRPT_TIME_MAX, "9999-12-31T23:59:59Z", "Fri, 31 Dec 9999 23:59:59 +0000" },
	{ -1, "", "" },
	{ TLSRPT_TIME_MAX + 1, "", "" },
	{ INT64_MIN, "", "" },
	{ INT64_MAX, "", "" },
};

static void test_time_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(time_rows) / sizeof(time_rows[0]); i++) {
		const struct time_row *row = &time_rows[i];
		char a[TLSRPT_TIME_RFC3339_SIZE], b[TLSRPT_TIME_RFC5322_SIZE];
		memset(a, 'x', sizeof(a));
		memset(b, 'x', sizeof(b));
		bool oka = tlsrpt_time_rfc3339(row->t, a);
		bool okb = tlsrpt_time_rfc5322(row->t, b);
		if (oka != (row->rfc3339[0] != '\0') || strcmp(a, row->rfc3339) != 0)
			fail_msg("%lld: rfc3339 got %d \"%s\", want \"%s\"", (long long)row->t, oka, a,
			    row->rfc3339);
		if (okb != (row->rfc5322[0] != '\0') || strcmp(b, row->rfc5322) != 0)
			fail_msg("%lld: rfc5322 got %d \"%s\", want \"%s\"", (long long)row->t, okb, b,
			    row->rfc5322);
	}
}

/* Every day from 1970 to 2200 follows the one before (no gap, no repeat). */
static void test_time_days_follow(void **state)
{
	(void)state;
	char prev[TLSRPT_TIME_RFC3339_SIZE], cur[TLSRPT_TIME_RFC3339_SIZE];
	assert_true(tlsrpt_time_rfc3339(0, prev));
	for (int64_t d = 1; d < 84000; d++) {
		assert_true(tlsrpt_time_rfc3339(d * 86400, cur));
		int py, pm, pd, cy, cm, cd;
		sscanf(prev, "%d-%d-%d", &py, &pm, &pd);
		sscanf(cur, "%d-%d-%d", &cy, &cm, &cd);
		bool next_day = cy == py && cm == pm && cd == pd + 1;
		bool next_month = cy == py && cm == pm + 1 && cd == 1 && pd >= 28;
		bool next_year = cy == py + 1 && cm == 1 && cd == 1 && pm == 12 && pd == 31;
		if (!next_day && !next_month && !next_year)
			fail_msg("day %lld: %s follows %s", (long long)d, cur, prev);
		bool leap = (py % 4 == 0 && py % 100 != 0) || py % 400 == 0;
		if (next_month && pm == 2 && pd != (leap ? 29 : 28))
			fail_msg("February %d ends on %d", py, pd);
		memcpy(prev, cur, sizeof(prev));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_rows),
		cmocka_unit_test(test_time_days_follow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
