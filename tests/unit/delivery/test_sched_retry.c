/*
 * test_sched_retry: the scheduler's retry arithmetic: which interval
 * follows which try, the cap at expiry, destination backoff steps, and
 * the one deferral that sends the delay warning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "sched_retry.h"

/* A configuration with intervals 60, 300, 1800 s, 5 days of queue life, warning after 4 h. */
static void cfg_init(struct config *c, unsigned *iv, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->retry_intervals = iv;
	c->nretry_intervals = n;
	c->max_queue_age = 5 * 86400;
	c->delay_warning = 4 * 3600;
}

static void test_interval(void **state)
{
	(void)state;
	unsigned iv[] = { 60, 300, 1800 };
	struct config c;
	cfg_init(&c, iv, 3);
	static const struct { unsigned tries; unsigned want; } rows[] = {
		{ 0, 60 }, { 1, 60 }, { 2, 300 }, { 3, 1800 }, { 4, 1800 }, { 100, 1800 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unsigned got = sched_retry_interval(&c, rows[i].tries);
		if (got != rows[i].want)
			fail_msg("tries %u: got %u, want %u", rows[i].tries, got, rows[i].want);
	}
	cfg_init(&c, NULL, 0);
	assert_int_equal(sched_retry_interval(&c, 3), SCHED_RETRY_FALLBACK);
}

static void test_next_and_expiry(void **state)
{
	(void)state;
	unsigned iv[] = { 60, 300, 1800 };
	struct config c;
	cfg_init(&c, iv, 3);
	const time_t rx = 1000000;
	const time_t exp = rx + 5 * 86400;
	static const struct { unsigned tries; time_t now_off; time_t want_off; } rows[] = {
		/* now and want relative to received_at */
		{ 1, 10, 70 },
		{ 2, 100, 400 },
		{ 3, 1000, 2800 },
		{ 9, 86400, 86400 + 1800 },
		/* past the expiry: due at the expiry, never later */
		{ 9, 5 * 86400 - 100, 5 * 86400 },
		{ 9, 5 * 86400, 5 * 86400 },
		{ 9, 6 * 86400, 6 * 86400 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		time_t got = sched_retry_next(&c, rows[i].tries, rx + rows[i].now_off, rx);
		if (got != rx + rows[i].want_off)
			fail_msg("row %zu: got +%lld, want +%lld", i, (long long)(got - rx),
			    (long long)rows[i].want_off);
	}
	assert_int_equal(sched_retry_expiry(&c, rx), exp);
	assert_false(sched_retry_expired(&c, rx, exp - 1));
	assert_true(sched_retry_expired(&c, rx, exp));
	assert_true(sched_retry_expired(&c, rx, exp + 1));
}

static void test_backoff(void **state)
{
	(void)state;
	unsigned iv[] = { 2, 4, 8 };
	struct config c;
	cfg_init(&c, iv, 3);
	static const struct { unsigned failures; unsigned want; } rows[] = {
		{ 0, 2 }, { 1, 2 }, { 2, 4 }, { 3, 8 }, { 7, 8 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unsigned got = sched_retry_backoff(&c, rows[i].failures);
		if (got != rows[i].want)
			fail_msg("failures %u: got %u, want %u", rows[i].failures, got, rows[i].want);
	}
}

static void test_warn(void **state)
{
	(void)state;
	struct config c;
	cfg_init(&c, NULL, 0);
	c.delay_warning = 100;
	const time_t rx = 5000;
	static const struct { time_t prev_off, now_off; bool want; } rows[] = {
		{ 0, 50, false },	/* before the threshold */
		{ 0, 100, true },	/* first deferral at the threshold */
		{ 0, 400, true },	/* first deferral long after it */
		{ 50, 150, true },	/* this deferral crosses it */
		{ 99, 100, true },
		{ 100, 200, false },	/* the previous deferral crossed it already */
		{ 150, 300, false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = sched_retry_warn_now(&c, rx, rx + rows[i].prev_off, rx + rows[i].now_off);
		if (got != rows[i].want)
			fail_msg("row %zu (prev +%lld, now +%lld): got %d, want %d", i,
			    (long long)rows[i].prev_off, (long long)rows[i].now_off, got, rows[i].want);
	}
	c.delay_warning = 0;
	assert_false(sched_retry_warn_now(&c, rx, rx, rx + 1000000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval),
		cmocka_unit_test(test_next_and_expiry),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_warn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
