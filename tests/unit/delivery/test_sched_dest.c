/*
 * test_sched_dest: the scheduler's memory of destinations: backoff after
 * failures, forgotten on success, and forgotten for every destination at
 * an administrator's flush; a clock stepped back never stretches a backoff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "sched_dest.h"

/* A flush forgets the backoff of every destination, and only of those backed off. */
static void test_forgive_all(void **state)
{
	(void)state;
	unsigned iv[] = { 3600 };
	struct config c;
	memset(&c, 0, sizeof(c));
	c.retry_intervals = iv;
	c.nretry_intervals = 1;
	c.max_queue_age = 5 * 86400;
	time_t now = 1000000;
	struct sched_dests *t = sched_dest_table_new();
	struct sched_dest *a = sched_dest_get(t, "a.test");
	struct sched_dest *b = sched_dest_get(t, "b.test");
	struct sched_dest *ok = sched_dest_get(t, "ok.test");
	assert_true(sched_dest_failed(a, &c, a->epoch, now, "4.4.1 refused"));
	assert_true(sched_dest_failed(b, &c, b->epoch, now, "4.4.3 SERVFAIL"));
	assert_true(sched_dest_backed_off(a, now + 60));

	size_t n = sched_dest_forgive_all(t);
	if (n != 2)
		fail_msg("forgave %zu destinations, want 2", n);
	static const char *const keys[] = { "a.test", "b.test", "ok.test" };
	for (size_t i = 0; i < 3; i++) {
		struct sched_dest *d = sched_dest_find(t, keys[i]);
		assert_non_null(d);
		if (sched_dest_backed_off(d, now + 60))
			fail_msg("%s: still backed off after the flush", keys[i]);
		if (d->failures != 0 || d->reason[0] != '\0')
			fail_msg("%s: failures %u reason \"%s\", want 0 and \"\"", keys[i], d->failures,
			    d->reason);
	}
	(void)ok;
	if (sched_dest_forgive_all(t) != 0)
		fail_msg("a second flush forgave something");
	/* A new failure backs it off again, from the first step. */
	assert_true(sched_dest_failed(a, &c, a->epoch, now + 120, "4.4.1 refused"));
	assert_int_equal(a->failures, 1);
	sched_dest_table_free(t);
}

/*
 * A backoff lasts its interval on the clock it was set by: when the clock
 * is stepped back past the failure, the destination is released rather
 * than kept idle for the interval plus the step.
 */
static void test_clock_stepped_back(void **state)
{
	(void)state;
	unsigned iv[] = { 600 };
	struct config c;
	memset(&c, 0, sizeof(c));
	c.retry_intervals = iv;
	c.nretry_intervals = 1;
	c.max_queue_age = 5 * 86400;
	const time_t now = 1000000;
	static const struct { time_t at; bool want; } rows[] = {
		{ now, true },
		{ now + 599, true },
		{ now + 600, false },
		{ now - 1, false },		/* stepped back one second */
		{ now - 86400, false },		/* stepped back a day */
	};
	struct sched_dests *t = sched_dest_table_new();
	struct sched_dest *d = sched_dest_get(t, "a.test");
	assert_true(sched_dest_failed(d, &c, d->epoch, now, "4.4.1 refused"));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = sched_dest_backed_off(d, rows[i].at);
		if (got != rows[i].want)
			fail_msg("at now%+lld: backed off %d, want %d", (long long)(rows[i].at - now), got,
			    rows[i].want);
	}
	sched_dest_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forgive_all),
		cmocka_unit_test(test_clock_stepped_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
