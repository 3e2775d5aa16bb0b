/*
 * test_smtpd_rate: which buckets a client and a user count in, and the
 * decision over both, on a clock the test sets: IPv4 whole, IPv6 by
 * client_ipv6_prefix (a /64 by default), IPv4-mapped IPv6 as IPv4, exempt
 * networks and the local socket outside the client limits, a user's own
 * line before the defaults, nothing taken when one of two buckets is
 * full, the wait that covers both, what a transaction gives back, and the
 * keys as the status summary writes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "tsupport.h"

#include "smtpd_rate.h"
#include "util/log.h"

static const uint8_t seed[16] = { 0 };

/* The configuration of the tests: limits small enough to reach. */
static struct config *load(const char *extra)
{
	char text[2048], err[512];
	snprintf(text, sizeof(text), "listen = 127.0.0.1:2525 relay\nqueue_dir = /tmp\n%s", extra);
	struct config *c = NULL;
	if (config_load_text("t.conf", text, strlen(text), &c, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	return c;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* Which client addresses share a bucket: one row per pair. */
static const struct {
	const char *a, *b;
	bool shared;
} pairs[] = {
	{ "192.0.2.1", "192.0.2.1", true },
	{ "192.0.2.1", "192.0.2.2", false },
	{ "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true },
	{ "2001:db8:1:2::1", "2001:db8:1:3::1", false },
	{ "::ffff:192.0.2.1", "192.0.2.1", true },
	{ "::ffff:192.0.2.1", "::ffff:192.0.2.2", false },
	{ "::1", "::1", true },
	{ "::1", "::2", true },
};

static void test_client_keys(void **state)
{
	(void)state;
	struct config *c = load("");
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct sockaddr_storage a = tsupport_sockaddr(pairs[i].a);
		struct sockaddr_storage b = tsupport_sockaddr(pairs[i].b);
		struct smtpd_limit_key ka, kb;
		assert_true(smtpd_rate_client_key(c, SA(a), &ka));
		assert_true(smtpd_rate_client_key(c, SA(b), &kb));
		bool shared = memcmp(ka.b, kb.b, sizeof(ka.b)) == 0;
		if (shared != pairs[i].shared)
			fail_msg("%s and %s: got shared %d, want %d", pairs[i].a, pairs[i].b, shared,
			    pairs[i].shared);
	}
	config_free(c);
	/* client_ipv6_prefix = 128: every address alone. */
	c = load("client_ipv6_prefix = 128\n");
	struct sockaddr_storage a = tsupport_sockaddr("2001:db8::1"), b = tsupport_sockaddr("2001:db8::2");
	struct smtpd_limit_key ka, kb;
	assert_true(smtpd_rate_client_key(c, SA(a), &ka));
	assert_true(smtpd_rate_client_key(c, SA(b), &kb));
	assert_memory_not_equal(ka.b, kb.b, sizeof(ka.b));
	config_free(c);
}

/* Exempt networks and the local socket (no IP address) count in no client bucket. */
static void test_no_client_key(void **state)
{
	(void)state;
	struct config *c = load("rate_limit_exempt = 192.0.2.0/24 2001:db8:5::/48\n");
	static const struct { const char *ip; bool keyed; } rows[] = {
		{ "192.0.2.200", false }, { "::ffff:192.0.2.9", false }, { "192.0.3.1", true },
		{ "2001:db8:5:77::1", false }, { "2001:db8:6::1", true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sockaddr_storage ss = tsupport_sockaddr(rows[i].ip);
		struct smtpd_limit_key k;
		bool got = smtpd_rate_client_key(c, SA(ss), &k);
		if (got != rows[i].keyed)
			fail_msg("%s: got a client key %d, want %d", rows[i].ip, got, rows[i].keyed);
	}
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct smtpd_limit_key k;
	assert_false(smtpd_rate_client_key(c, (const struct sockaddr *)&un, &k));
	assert_false(smtpd_rate_client_key(c, NULL, &k));
	config_free(c);
}

/* One request: at t, ev from ip (NULL: the local socket) as user; the decision wanted. */
struct step {
	uint64_t t;
	enum smtpd_rate_event ev;
	const char *ip;
	const char *user;
	bool ok;
	enum ratelimit_kind limit;	/* refused */
	uint64_t retry_ms;		/* refused */
	bool took_client, took_user;	/* ok */
};

#define CC RATELIMIT_CLIENT_CONNECTION
#define CM RATELIMIT_CLIENT_MESSAGE
#define CR RATELIMIT_CLIENT_RECIPIENT
#define UM RATELIMIT_USER_MESSAGE
#define UR RATELIMIT_USER_RECIPIENT
#define CONN SMTPD_RATE_CONNECTION
#define MSG SMTPD_RATE_MESSAGE
#define RCPT SMTPD_RATE_RECIPIENT

static const char limits[] =
    "client_connection_rate = 2/10s\n"
    "client_message_rate = 3/3s\n"
    "user_message_rate = 2/2s\n"
    "user_recipient_rate = 1/1s\n"
    "user_rate = boss messages=10/1s\n"
    "user_rate = cron unlimited\n"
    "rate_limit_exempt = 10.0.0.0/8\n";

static const struct step steps[] = {
	/* Connections: two per 10 s from one client, then 5 s for the next; others apart. */
	{ 0, CONN, "192.0.2.1", NULL, true, 0, 0, true, false },
	{ 0, CONN, "192.0.2.1", NULL, true, 0, 0, true, false },
	{ 0, CONN, "192.0.2.1", NULL, false, CC, 5000, false, false },
	{ 1000, CONN, "192.0.2.1", NULL, false, CC, 4000, false, false },
	{ 1000, CONN, "192.0.2.2", NULL, true, 0, 0, true, false },
	{ 1000, CONN, "10.1.1.1", NULL, true, 0, 0, false, false },
	{ 5000, CONN, "192.0.2.1", NULL, true, 0, 0, true, false },
	/* The /64 shares one bucket. Times only go forward, as the clock does. */
	{ 5000, CONN, "2001:db8:1:2::1", NULL, true, 0, 0, true, false },
	{ 5000, CONN, "2001:db8:1:2::2", NULL, true, 0, 0, true, false },
	{ 5000, CONN, "2001:db8:1:2:abcd::3", NULL, false, CC, 5000, false, false },
	{ 5000, CONN, "2001:db8:1:3::1", NULL, true, 0, 0, true, false },
	/* Messages: alice's bucket (2 per 2 s) is smaller than the client's (3 per 3 s). */
	{ 10000, MSG, "192.0.2.50", "alice", true, 0, 0, true, true },
	{ 10000, MSG, "192.0.2.50", "alice", true, 0, 0, true, true },
	{ 10000, MSG, "192.0.2.50", "alice", false, UM, 1000, false, false },
	/* The client's third still fits: nothing was taken by the refusal. */
	{ 10000, MSG, "192.0.2.50", NULL, true, 0, 0, true, false },
	/* Now both are full: the wait is the longer of the two (here both 1 s; the client's is named). */
	{ 10000, MSG, "192.0.2.50", "alice", false, CM, 1000, false, false },
	{ 10500, MSG, "192.0.2.51", "alice", false, UM, 500, false, false },
	{ 11000, MSG, "192.0.2.50", "alice", true, 0, 0, true, true },
	/* boss has 10 per second of its own; cron none at all, still under the client's. */
	{ 11000, MSG, "192.0.2.60", "boss", true, 0, 0, true, true },
	{ 11000, MSG, "192.0.2.61", "boss", true, 0, 0, true, true },
	{ 11000, MSG, "192.0.2.62", "boss", true, 0, 0, true, true },
	{ 11000, MSG, "192.0.2.63", "cron", true, 0, 0, true, false },
	/* The local socket: only the user's limits. */
	{ 11000, MSG, NULL, "carol", true, 0, 0, false, true },
	{ 11000, MSG, NULL, "carol", true, 0, 0, false, true },
	{ 11000, MSG, NULL, "carol", false, UM, 1000, false, false },
	{ 11000, MSG, NULL, "cron", true, 0, 0, false, false },
	/* Recipients: no client limit set, the user's 1 per second. */
	{ 11000, RCPT, "192.0.2.70", "dave", true, 0, 0, false, true },
	{ 11000, RCPT, "192.0.2.70", "dave", false, UR, 1000, false, false },
	{ 11000, RCPT, "192.0.2.70", NULL, true, 0, 0, false, false },
	{ 11999, RCPT, "192.0.2.70", "dave", false, UR, 1, false, false },
	{ 12000, RCPT, "192.0.2.70", "dave", true, 0, 0, false, true },
	/* An exempt client: the user's limits still count. */
	{ 12000, MSG, "10.9.9.9", "erin", true, 0, 0, false, true },
	{ 12000, MSG, "10.9.9.9", "erin", true, 0, 0, false, true },
	{ 12000, MSG, "10.9.9.9", "erin", false, UM, 1000, false, false },
};

static void test_decisions(void **state)
{
	(void)state;
	struct config *c = load(limits);
	struct ratelimit *t = ratelimit_new(1000, seed);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		struct sockaddr_storage ss;
		if (s->ip != NULL)
			ss = tsupport_sockaddr(s->ip);
		else {
			memset(&ss, 0, sizeof(ss));
			ss.ss_family = AF_UNIX;
		}
		struct smtpd_rate_verdict v = smtpd_rate_decide(t, c, s->ev, SA(ss), s->user, s->t);
		if (v.ok != s->ok)
			fail_msg("step %zu (%s %s at %llu): got %s, want %s", i, s->ip ? s->ip : "local",
			    s->user ? s->user : "-", (unsigned long long)s->t, v.ok ? "ok" : "refused",
			    s->ok ? "ok" : "refused");
		if (!v.ok && (v.limit != s->limit || v.retry_ms != s->retry_ms))
			fail_msg("step %zu: got %s retry %llu ms, want %s retry %llu ms", i,
			    ratelimit_kind_name(v.limit), (unsigned long long)v.retry_ms,
			    ratelimit_kind_name(s->limit), (unsigned long long)s->retry_ms);
		if (v.ok && (v.took_client != s->took_client || v.took_user != s->took_user))
			fail_msg("step %zu: got taken client %d user %d, want %d %d", i, v.took_client,
			    v.took_user, s->took_client, s->took_user);
	}
	/* Every refusal counted once, under the limit named. */
	static const uint64_t want[RATELIMIT_NKINDS] = { 3, 1, 0, 4, 2 };
	for (int k = 0; k < RATELIMIT_NKINDS; k++)
		if (ratelimit_refusals(t, (enum ratelimit_kind)k) != want[k])
			fail_msg("%s: got %llu refusals, want %llu", ratelimit_kind_name((enum ratelimit_kind)k),
			    (unsigned long long)ratelimit_refusals(t, (enum ratelimit_kind)k),
			    (unsigned long long)want[k]);
	ratelimit_free(t);
	config_free(c);
}

/* A transaction that queued nothing gives back its message and recipients, client and user. */
static void test_give_back(void **state)
{
	(void)state;
	struct config *c = load("client_message_rate = 1/1h\nclient_recipient_rate = 2/1h\n"
	    "user_message_rate = 1/1h\nuser_recipient_rate = 2/1h\n");
	struct ratelimit *t = ratelimit_new(1000, seed);
	struct sockaddr_storage ss = tsupport_sockaddr("192.0.2.9");
	struct smtpd_rate_hold h = { 0 };
	struct smtpd_rate_verdict v = smtpd_rate_decide(t, c, MSG, SA(ss), "fay", 0);
	assert_true(v.ok);
	h.message_client = v.took_client;
	h.message_user = v.took_user;
	for (int i = 0; i < 2; i++) {
		v = smtpd_rate_decide(t, c, RCPT, SA(ss), "fay", 0);
		assert_true(v.ok);
		h.rcpt_client += v.took_client;
		h.rcpt_user += v.took_user;
	}
	assert_false(smtpd_rate_decide(t, c, RCPT, SA(ss), "fay", 0).ok);
	assert_false(smtpd_rate_decide(t, c, MSG, SA(ss), "fay", 0).ok);
	smtpd_rate_give(t, c, SA(ss), "fay", &h, 10);
	assert_int_equal(ratelimit_count(t, 10), 0);
	assert_true(smtpd_rate_decide(t, c, MSG, SA(ss), "fay", 10).ok);
	assert_true(smtpd_rate_decide(t, c, RCPT, SA(ss), "fay", 10).ok);
	assert_true(smtpd_rate_decide(t, c, RCPT, SA(ss), "fay", 10).ok);
	ratelimit_free(t);
	config_free(c);
}

/* Keys as the status summary shows them. */
static void test_key_text(void **state)
{
	(void)state;
	struct config *c = load("");
	static const struct { const char *ip; const char *want; } rows[] = {
		{ "192.0.2.1", "192.0.2.1" },
		{ "::ffff:198.51.100.7", "198.51.100.7" },
		{ "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sockaddr_storage ss = tsupport_sockaddr(rows[i].ip);
		struct smtpd_limit_key k;
		char buf[80];
		assert_true(smtpd_rate_client_key(c, SA(ss), &k));
		smtpd_rate_key_text(c, RATELIMIT_CLIENT_MESSAGE, k.b, sizeof(k.b), buf, sizeof(buf));
		if (strcmp(buf, rows[i].want) != 0)
			fail_msg("%s: got '%s', want '%s'", rows[i].ip, buf, rows[i].want);
	}
	char buf[80];
	smtpd_rate_key_text(c, RATELIMIT_USER_MESSAGE, (const uint8_t *)"al\"ice\n", 7, buf, sizeof(buf));
	assert_string_equal(buf, "al\\\"ice\\x0a");
	smtpd_rate_key_text(c, RATELIMIT_CLIENT_MESSAGE, (const uint8_t *)"xyz", 3, buf, sizeof(buf));
	assert_string_equal(buf, "?");
	config_free(c);
}

int main(void)
{
	log_init("test_smtpd_rate", LOG_LVL_ERR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_keys),
		cmocka_unit_test(test_no_client_key),
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_give_back),
		cmocka_unit_test(test_key_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
