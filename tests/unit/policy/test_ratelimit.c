/*
 * test_ratelimit: the token buckets and their table, on a clock the test
 * sets: the exact time until one more fits (rates that divide and rates
 * that do not), taking and giving back, a rate changed under a bucket,
 * keys and limits kept apart, buckets dropped once full, the cap with the
 * least recently used dropped (and told once), the buckets refused
 * lately, a clock read earlier than before, and the table checked
 * against a plain model over many random steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/ratelimit.h"

static const uint8_t seed[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

#define R(n, p) ((struct cfg_rate){ (n), (p) })

enum op { TAKE, WAIT, GIVE, REFUSE, COUNT };

/* One step: at time t, op on (kind, key) at rate; what it must answer. */
struct step {
	uint64_t t;
	enum op op;
	enum ratelimit_kind kind;
	const char *key;
	struct cfg_rate rate;
	uint64_t want;		/* TAKE: 1 taken, 0 refused; WAIT: ms; COUNT: entries; GIVE: count given */
};

static const char *const op_names[] = { "take", "wait", "give", "refuse", "count" };

/* Run steps on t, failing with the step's number and got/want. */
static void run_steps(struct ratelimit *t, const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		size_t kl = s->key != NULL ? strlen(s->key) : 0;
		uint64_t got = 0;
		switch (s->op) {
		case TAKE:
			got = ratelimit_take(t, s->kind, s->key, kl, &s->rate, s->t) ? 1 : 0;
			break;
		case WAIT:
			got = ratelimit_wait(t, s->kind, s->key, kl, &s->rate, s->t);
			break;
		case GIVE:
			ratelimit_give(t, s->kind, s->key, kl, (unsigned)s->want, s->t);
			continue;
		case REFUSE:
			ratelimit_refused(t, s->kind, s->key, kl, s->t);
			continue;
		case COUNT:
			got = ratelimit_count(t, s->t);
			break;
		}
		if (got != s->want)
			fail_msg("step %zu (%s %s at %llu ms, rate %u/%us): got %llu, want %llu", i,
			    op_names[s->op], s->key != NULL ? s->key : "-", (unsigned long long)s->t,
			    s->rate.n, s->rate.period, (unsigned long long)got,
			    (unsigned long long)s->want);
	}
}

#define RUN(t, steps) run_steps((t), (steps), sizeof(steps) / sizeof((steps)[0]))
#define UM RATELIMIT_USER_MESSAGE
#define UR RATELIMIT_USER_RECIPIENT
#define CM RATELIMIT_CLIENT_MESSAGE

/* 2 per 3 s: two at once, then one every 1.5 s, exactly. */
static const struct step steps_two_per_3s[] = {
	{ 0, WAIT, UM, "alice", R(2, 3), 0 },
	{ 0, TAKE, UM, "alice", R(2, 3), 1 },
	{ 0, TAKE, UM, "alice", R(2, 3), 1 },
	{ 0, TAKE, UM, "alice", R(2, 3), 0 },
	{ 0, WAIT, UM, "alice", R(2, 3), 1500 },
	{ 1499, WAIT, UM, "alice", R(2, 3), 1 },
	{ 1499, TAKE, UM, "alice", R(2, 3), 0 },
	{ 1500, WAIT, UM, "alice", R(2, 3), 0 },
	{ 1500, TAKE, UM, "alice", R(2, 3), 1 },
	{ 1500, WAIT, UM, "alice", R(2, 3), 1500 },
	/* Full again 3 s after the last take: two at once again, not three. */
	{ 4499, COUNT, UM, NULL, R(0, 0), 1 },
	{ 4500, COUNT, UM, NULL, R(0, 0), 0 },
	{ 9000, TAKE, UM, "alice", R(2, 3), 1 },
	{ 9000, TAKE, UM, "alice", R(2, 3), 1 },
	{ 9000, TAKE, UM, "alice", R(2, 3), 0 },
	/* No limit: always room, nothing held. */
	{ 9000, TAKE, UM, "svc", R(0, 0), 1 },
	{ 9000, WAIT, UM, "svc", R(0, 0), 0 },
	{ 9000, COUNT, UM, NULL, R(0, 0), 1 },
};

/* 7 per hour: 3600000 / 7 ms is no whole number; the wait rounds up, never down. */
static const struct step steps_seven_per_hour[] = {
	{ 0, TAKE, CM, "k", R(7, 3600), 1 },
	{ 0, TAKE, CM, "k", R(7, 3600), 1 },
	{ 0, TAKE, CM, "k", R(7, 3600), 1 },
	{ 0, TAKE, CM, "k", R(7, 3600), 1 },
	{ 0, TAKE, CM, "k", R(7, 3600), 1 },
	{ 0, TAKE, CM, "k", R(7, 3600), 1 },
	{ 0, TAKE, CM, "k", R(7, 3600), 1 },
	{ 0, TAKE, CM, "k", R(7, 3600), 0 },
	{ 0, WAIT, CM, "k", R(7, 3600), 514286 },
	{ 514285, WAIT, CM, "k", R(7, 3600), 1 },
	{ 514286, WAIT, CM, "k", R(7, 3600), 0 },
	{ 514286, TAKE, CM, "k", R(7, 3600), 1 },
	/* The next is one seventh of an hour after the first refill: 2 * 3600000 / 7, rounded up. */
	{ 514286, WAIT, CM, "k", R(7, 3600), 514286 },
	{ 1028571, WAIT, CM, "k", R(7, 3600), 1 },
	{ 1028572, WAIT, CM, "k", R(7, 3600), 0 },
	/* In a day: full, and seven again at once. */
	{ 86400000, TAKE, CM, "k", R(7, 3600), 1 },
	{ 86400000, WAIT, CM, "k", R(7, 3600), 0 },
};

static void test_bucket_arithmetic(void **state)
{
	(void)state;
	struct ratelimit *t = ratelimit_new(100, seed);
	RUN(t, steps_two_per_3s);
	ratelimit_free(t);
	t = ratelimit_new(100, seed);
	RUN(t, steps_seven_per_hour);
	ratelimit_free(t);
}

/* Given back: room again, never more than full; a bucket full again is dropped. */
static const struct step steps_give[] = {
	{ 0, TAKE, UR, "bob", R(3, 60), 1 },
	{ 0, TAKE, UR, "bob", R(3, 60), 1 },
	{ 0, TAKE, UR, "bob", R(3, 60), 1 },
	{ 0, TAKE, UR, "bob", R(3, 60), 0 },
	{ 0, GIVE, UR, "bob", R(3, 60), 1 },
	{ 0, WAIT, UR, "bob", R(3, 60), 0 },
	{ 0, TAKE, UR, "bob", R(3, 60), 1 },
	{ 0, TAKE, UR, "bob", R(3, 60), 0 },
	{ 0, GIVE, UR, "bob", R(3, 60), 10 },
	{ 0, COUNT, UR, NULL, R(0, 0), 0 },
	{ 0, TAKE, UR, "bob", R(3, 60), 1 },
	{ 0, TAKE, UR, "bob", R(3, 60), 1 },
	{ 0, TAKE, UR, "bob", R(3, 60), 1 },
	{ 0, TAKE, UR, "bob", R(3, 60), 0 },
	/* Giving back to a bucket never seen, or one full again, changes nothing. */
	{ 0, GIVE, UR, "carol", R(3, 60), 1 },
	{ 0, COUNT, UR, NULL, R(0, 0), 1 },
	{ 60000, GIVE, UR, "bob", R(3, 60), 1 },
	{ 60000, COUNT, UR, NULL, R(0, 0), 0 },
};

static void test_give_back(void **state)
{
	(void)state;
	struct ratelimit *t = ratelimit_new(100, seed);
	RUN(t, steps_give);
	ratelimit_free(t);
}

/* A reload changed the rate: the items taken stay taken, at most the new n. */
static const struct step steps_rerate[] = {
	{ 0, TAKE, UM, "dave", R(2, 2), 1 },
	{ 0, TAKE, UM, "dave", R(2, 2), 1 },
	{ 0, WAIT, UM, "dave", R(2, 2), 1000 },
	/* Raised to 4 per 2 s: two of four taken, room for two more. */
	{ 0, WAIT, UM, "dave", R(4, 2), 0 },
	{ 0, TAKE, UM, "dave", R(4, 2), 1 },
	{ 0, TAKE, UM, "dave", R(4, 2), 1 },
	{ 0, TAKE, UM, "dave", R(4, 2), 0 },
	/* Lowered to 1 per 2 s: four taken, kept as the one the bucket holds. */
	{ 0, WAIT, UM, "dave", R(1, 2), 2000 },
	/* A second later half an item is still out: half of 1 s at 1 per 1 s, half of 2 s back at 1 per 2 s. */
	{ 1000, WAIT, UM, "dave", R(1, 1), 500 },
	{ 1000, WAIT, UM, "dave", R(1, 2), 1000 },
	{ 2000, TAKE, UM, "dave", R(1, 2), 1 },
	{ 2000, WAIT, UM, "dave", R(1, 2), 2000 },
	/* Five of 10 per minute taken are five of 10 per hour taken: five more, then 6 minutes. */
	{ 1000, WAIT, UM, "eve", R(10, 3600), 0 },
	{ 1000, TAKE, UM, "eve", R(10, 60), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 60), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 60), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 60), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 60), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 3600), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 3600), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 3600), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 3600), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 3600), 1 },
	{ 1000, TAKE, UM, "eve", R(10, 3600), 0 },
	{ 1000, WAIT, UM, "eve", R(10, 3600), 360000 },
};

static void test_rate_changed(void **state)
{
	(void)state;
	struct ratelimit *t = ratelimit_new(100, seed);
	RUN(t, steps_rerate);
	ratelimit_free(t);
}

/* The same key under two limits, and two keys under one, are separate buckets. */
static const struct step steps_apart[] = {
	{ 0, TAKE, UM, "frank", R(1, 10), 1 },
	{ 0, TAKE, UM, "frank", R(1, 10), 0 },
	{ 0, TAKE, UR, "frank", R(1, 10), 1 },
	{ 0, TAKE, UM, "frank2", R(1, 10), 1 },
	{ 0, TAKE, UM, "fran", R(1, 10), 1 },
	{ 0, TAKE, CM, "frank", R(1, 10), 1 },
	{ 0, COUNT, UM, NULL, R(0, 0), 5 },
	/* The empty key is a key too. */
	{ 0, TAKE, CM, "", R(1, 10), 1 },
	{ 0, TAKE, CM, "", R(1, 10), 0 },
};

static void test_keys_apart(void **state)
{
	(void)state;
	struct ratelimit *t = ratelimit_new(100, seed);
	RUN(t, steps_apart);
	const uint8_t k1[4] = { 4, 0, 192, 0 }, k2[4] = { 4, 0, 192, 1 };
	struct cfg_rate r = R(1, 10);
	assert_true(ratelimit_take(t, CM, k1, sizeof(k1), &r, 0));
	assert_true(ratelimit_take(t, CM, k2, sizeof(k2), &r, 0));
	assert_false(ratelimit_take(t, CM, k1, sizeof(k1), &r, 0));
	ratelimit_free(t);
}

/* A clock read earlier than before counts as the latest time seen. */
static const struct step steps_clock_back[] = {
	{ 5000, TAKE, UM, "gina", R(1, 2), 1 },
	{ 5000, WAIT, UM, "gina", R(1, 2), 2000 },
	{ 4000, WAIT, UM, "gina", R(1, 2), 2000 },
	{ 4000, TAKE, UM, "gina", R(1, 2), 0 },
	{ 6000, WAIT, UM, "gina", R(1, 2), 1000 },
};

static void test_clock_back(void **state)
{
	(void)state;
	struct ratelimit *t = ratelimit_new(100, seed);
	RUN(t, steps_clock_back);
	ratelimit_free(t);
}

/*
 * A full table: a bucket that is full again goes first (nothing lost),
 * else the least recently used, counted and told once.
 */
static void test_cap_and_eviction(void **state)
{
	(void)state;
	struct ratelimit *t = ratelimit_new(3, seed);
	struct cfg_rate slow = R(1, 10), fast = R(1, 1);
	assert_true(ratelimit_take(t, CM, "a", 1, &slow, 0));
	assert_true(ratelimit_take(t, CM, "b", 1, &slow, 1));
	assert_true(ratelimit_take(t, CM, "c", 1, &fast, 2));
	assert_int_equal(ratelimit_count(t, 2), 3);
	/* a is refused (and so used) at 3: b is now the least recently used. */
	assert_false(ratelimit_take(t, CM, "a", 1, &slow, 3));
	ratelimit_refused(t, CM, "a", 1, 3);
	/* At 1500 c is full again: d takes its place, nobody live is dropped. */
	assert_true(ratelimit_take(t, CM, "d", 1, &slow, 1500));
	assert_int_equal(ratelimit_evictions(t), 0);
	assert_false(ratelimit_eviction_notice(t));
	assert_true(ratelimit_take(t, CM, "e", 1, &slow, 1600));
	assert_int_equal(ratelimit_evictions(t), 1);
	/* b was dropped: it has room again; a was kept. */
	assert_int_equal(ratelimit_wait(t, CM, "b", 1, &slow, 1600), 0);
	assert_int_equal(ratelimit_wait(t, CM, "a", 1, &slow, 1600), 8400);
	assert_true(ratelimit_eviction_notice(t));
	assert_false(ratelimit_eviction_notice(t));
	assert_true(ratelimit_take(t, CM, "b", 1, &slow, 1700));
	assert_int_equal(ratelimit_evictions(t), 2);
	assert_false(ratelimit_eviction_notice(t));
	assert_int_equal(ratelimit_count(t, 1700), 3);
	assert_int_equal(ratelimit_max_entries(t), 3);
	ratelimit_free(t);
	ratelimit_free(NULL);
}

/* Buckets refused lately with no room now, the latest first; those with room skipped. */
static void test_limited_listing(void **state)
{
	(void)state;
	struct ratelimit *t = ratelimit_new(100, seed);
	struct cfg_rate one = R(1, 10), quick = R(1, 1);
	assert_true(ratelimit_take(t, UM, "alice", 5, &one, 0));
	assert_true(ratelimit_take(t, CM, "\x04\xc0\x00\x02\x01", 5, &one, 0));
	assert_true(ratelimit_take(t, UR, "bob", 3, &quick, 0));
	ratelimit_refused(t, UM, "alice", 5, 100);
	ratelimit_refused(t, UM, "alice", 5, 200);
	ratelimit_refused(t, UR, "bob", 3, 300);
	ratelimit_refused(t, CM, "\x04\xc0\x00\x02\x01", 5, 400);
	assert_int_equal(ratelimit_refusals(t, UM), 2);
	assert_int_equal(ratelimit_refusals(t, UR), 1);
	assert_int_equal(ratelimit_refusals(t, CM), 1);
	assert_int_equal(ratelimit_refusals(t, RATELIMIT_CLIENT_CONNECTION), 0);
	struct ratelimit_limited out[4];
	size_t n = ratelimit_limited(t, 500, out, 4);
	assert_int_equal(n, 3);
	const struct {
		enum ratelimit_kind kind;
		const char *key;
		size_t keylen;
		uint64_t retry;
		unsigned refusals;
	} want[] = {
		{ CM, "\x04\xc0\x00\x02\x01", 5, 9500, 1 },
		{ UR, "bob", 3, 500, 1 },
		{ UM, "alice", 5, 9500, 2 },
	};
	for (size_t i = 0; i < n; i++) {
		size_t kl = want[i].keylen;
		if (out[i].kind != want[i].kind || out[i].keylen != kl ||
		    memcmp(out[i].key, want[i].key, kl) != 0 || out[i].retry_ms != want[i].retry ||
		    out[i].refusals != want[i].refusals)
			fail_msg("limited[%zu]: got %s %zu octets retry %llu refusals %u, want %s "
			    "retry %llu refusals %u", i, ratelimit_kind_name(out[i].kind), out[i].keylen,
			    (unsigned long long)out[i].retry_ms, out[i].refusals,
			    ratelimit_kind_name(want[i].kind), (unsigned long long)want[i].retry,
			    want[i].refusals);
	}
	/* bob has room again at 1000 and drops out; max 1 gives the latest only. */
	assert_int_equal(ratelimit_limited(t, 1000, out, 4), 2);
	assert_int_equal(ratelimit_limited(t, 1000, out, 1), 1);
	assert_int_equal(out[0].kind, CM);
	assert_int_equal(ratelimit_limited(t, 10000, out, 4), 0);
	ratelimit_free(t);
}

static void test_kind_names(void **state)
{
	(void)state;
	static const char *const want[RATELIMIT_NKINDS] = {
		"client_connection", "client_message", "client_recipient", "user_message",
		"user_recipient",
	};
	for (int k = 0; k < RATELIMIT_NKINDS; k++) {
		if (strcmp(ratelimit_kind_name((enum ratelimit_kind)k), want[k]) != 0)
			fail_msg("kind %d: got %s, want %s", k, ratelimit_kind_name((enum ratelimit_kind)k),
			    want[k]);
		assert_int_equal(ratelimit_kind_is_user((enum ratelimit_kind)k), k >= UM);
	}
	assert_string_equal(ratelimit_kind_name(RATELIMIT_NKINDS), "?");
}

/* The model: per key, the time its bucket is full again, in units of 1/n ms. */
struct model {
	uint64_t tat;
};

/*
 * Many random steps over 200 keys and three rates, the table against a
 * plain model of the same arithmetic: every answer agrees, and the count
 * held is the keys the model has short of full (the heap drops exactly those).
 */
static void test_against_model(void **state)
{
	(void)state;
	enum { NKEYS = 200, NSTEPS = 60000 };
	static const struct cfg_rate rates[3] = { R(3, 2), R(5, 7), R(1, 1) };
	struct ratelimit *t = ratelimit_new(1000, seed);
	struct model m[NKEYS];
	memset(m, 0, sizeof(m));
	uint64_t now = 1000;
	srandom(7);
	for (int i = 0; i < NSTEPS; i++) {
		now += (uint64_t)(random() % 40);
		unsigned k = (unsigned)(random() % NKEYS);
		const struct cfg_rate *r = &rates[k % 3];
		uint64_t n = r->n, p = r->period * 1000u;
		char key[16];
		int kl = snprintf(key, sizeof(key), "key%u", k);
		uint64_t now_u = now * n, debt = m[k].tat > now_u ? m[k].tat - now_u : 0;
		int op = (int)(random() % 4);
		if (op < 2) {
			bool want = debt + p <= n * p;
			bool got = ratelimit_take(t, UM, key, (size_t)kl, r, now);
			if (got != want)
				fail_msg("step %d: take %s at %llu: got %d, want %d", i, key,
				    (unsigned long long)now, got, want);
			if (want)
				m[k].tat = now_u + debt + p;
		} else if (op == 2) {
			uint64_t want = debt + p <= n * p ? 0 : (debt + p - n * p + n - 1) / n;
			uint64_t got = ratelimit_wait(t, UM, key, (size_t)kl, r, now);
			if (got != want)
				fail_msg("step %d: wait %s at %llu: got %llu, want %llu", i, key,
				    (unsigned long long)now, (unsigned long long)got,
				    (unsigned long long)want);
		} else {
			ratelimit_give(t, UM, key, (size_t)kl, 1, now);
			m[k].tat = now_u + (debt > p ? debt - p : 0);
		}
		if (i % 997 == 0) {
			size_t want = 0;
			for (unsigned j = 0; j < NKEYS; j++)
				want += m[j].tat > now * rates[j % 3].n;
			size_t got = ratelimit_count(t, now);
			if (got != want)
				fail_msg("step %d: got %zu buckets held, want %zu", i, got, want);
		}
	}
	ratelimit_free(t);
}

/* Many keys through a small table: it stays at its cap and keeps answering. */
static void test_many_keys(void **state)
{
	(void)state;
	struct ratelimit *t = ratelimit_new(64, seed);
	struct cfg_rate r = R(1, 60);
	for (unsigned i = 0; i < 5000; i++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "u%u", i);
		assert_true(ratelimit_take(t, UR, key, (size_t)kl, &r, i));
		assert_false(ratelimit_take(t, UR, key, (size_t)kl, &r, i));
	}
	assert_int_equal(ratelimit_count(t, 5000), 64);
	assert_int_equal(ratelimit_evictions(t), 5000 - 64);
	ratelimit_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_arithmetic),
		cmocka_unit_test(test_give_back),
		cmocka_unit_test(test_rate_changed),
		cmocka_unit_test(test_keys_apart),
		cmocka_unit_test(test_clock_back),
		cmocka_unit_test(test_cap_and_eviction),
		cmocka_unit_test(test_limited_listing),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_many_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
