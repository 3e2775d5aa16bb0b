/*
 * test_smtpd_authfail: AUTH failures counted per client across sessions:
 * the limit in a window, the window's end, IPv6 clients by prefix, the
 * table's cap, and a clock read earlier than before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "smtpd_authfail.h"

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s4->sin_addr);
	}
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* One step: at time t, a failure from ip (record) or a question (check) with its answer. */
struct step {
	uint64_t t;
	const char *ip;
	bool record;
	bool want_blocked;	/* for a check */
	uint64_t want_retry;	/* for a blocked check */
};

static const struct step steps[] = {
	{ 0, "192.0.2.1", false, false, 0 },
	{ 0, "192.0.2.1", true, false, 0 },
	{ 100, "192.0.2.1", true, false, 0 },
	{ 200, "192.0.2.1", false, false, 0 },
	{ 200, "192.0.2.1", true, false, 0 },
	/* Three failures in the window: refused until 1000 ms after the first. */
	{ 300, "192.0.2.1", false, true, 700 },
	{ 999, "192.0.2.1", false, true, 1 },
	{ 300, "192.0.2.2", false, false, 0 },
	{ 1000, "192.0.2.1", false, false, 0 },
	/* A new window starts at the next failure. */
	{ 1000, "192.0.2.1", true, false, 0 },
	{ 1001, "192.0.2.1", false, false, 0 },
	/* IPv6: any address of the /64 is the same client. */
	{ 2000, "2001:db8:1:2::1", true, false, 0 },
	{ 2001, "2001:db8:1:2::2", true, false, 0 },
	{ 2002, "2001:db8:1:2:ffff::3", true, false, 0 },
	{ 2003, "2001:db8:1:2::99", false, true, 997 },
	{ 2003, "2001:db8:1:3::1", false, false, 0 },
	/* A clock read earlier than before counts as the latest time seen. */
	{ 1500, "2001:db8:1:2::1", false, true, 997 },
};

static void test_window(void **state)
{
	(void)state;
	struct smtpd_authfail *t = smtpd_authfail_new(3, 1000, 100, 64);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		struct sockaddr_storage a = addr(s->ip);
		if (s->record) {
			(void)smtpd_authfail_record(t, SA(a), s->t);
			continue;
		}
		uint64_t retry = 0;
		bool blocked = smtpd_authfail_blocked(t, SA(a), s->t, &retry);
		if (blocked != s->want_blocked)
			fail_msg("step %zu (%s at %llu): got %s, want %s", i, s->ip,
			    (unsigned long long)s->t, blocked ? "blocked" : "allowed",
			    s->want_blocked ? "blocked" : "allowed");
		if (blocked && retry != s->want_retry)
			fail_msg("step %zu: got retry %llu ms, want %llu", i, (unsigned long long)retry,
			    (unsigned long long)s->want_retry);
	}
	smtpd_authfail_free(t);
}

/* Entries whose window ended are gone; a full table forgets the oldest window. */
static void test_expiry_and_cap(void **state)
{
	(void)state;
	struct smtpd_authfail *t = smtpd_authfail_new(2, 1000, 3, 64);
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2");
	struct sockaddr_storage c = addr("192.0.2.3"), d = addr("192.0.2.4");
	assert_int_equal(smtpd_authfail_record(t, SA(a), 0), 1);
	assert_int_equal(smtpd_authfail_record(t, SA(a), 1), 2);
	assert_int_equal(smtpd_authfail_record(t, SA(b), 10), 1);
	assert_int_equal(smtpd_authfail_record(t, SA(c), 20), 1);
	assert_int_equal(smtpd_authfail_clients(t, 20), 3);
	assert_true(smtpd_authfail_blocked(t, SA(a), 30, NULL));
	/* d pushes out a, whose window started first. */
	assert_int_equal(smtpd_authfail_record(t, SA(d), 40), 1);
	assert_int_equal(smtpd_authfail_clients(t, 40), 3);
	assert_false(smtpd_authfail_blocked(t, SA(a), 41, NULL));
	assert_int_equal(smtpd_authfail_record(t, SA(b), 50), 2);
	assert_true(smtpd_authfail_blocked(t, SA(b), 50, NULL));
	/* b's window started at 10: over at 1010, c's at 1020, d's at 1040. */
	assert_int_equal(smtpd_authfail_clients(t, 1010), 2);
	assert_false(smtpd_authfail_blocked(t, SA(b), 1010, NULL));
	assert_int_equal(smtpd_authfail_clients(t, 5000), 0);
	smtpd_authfail_free(t);
}

/* A limit of 0 turns the table off: nothing is held, nobody is refused. */
static void test_off(void **state)
{
	(void)state;
	struct smtpd_authfail *t = smtpd_authfail_new(0, 1000, 10, 64);
	struct sockaddr_storage a = addr("192.0.2.1");
	for (int i = 0; i < 100; i++)
		assert_int_equal(smtpd_authfail_record(t, SA(a), (uint64_t)i), 0);
	assert_false(smtpd_authfail_blocked(t, SA(a), 100, NULL));
	assert_int_equal(smtpd_authfail_clients(t, 100), 0);
	smtpd_authfail_free(t);
	smtpd_authfail_free(NULL);
}

/* Many clients through a small table: it stays at its cap. */
static void test_many_clients(void **state)
{
	(void)state;
	struct smtpd_authfail *t = smtpd_authfail_new(1, 60000, 64, 64);
	for (unsigned i = 0; i < 5000; i++) {
		struct sockaddr_storage a;
		memset(&a, 0, sizeof(a));
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(0x0a000000u + i);
		(void)smtpd_authfail_record(t, SA(a), i);
		assert_true(smtpd_authfail_blocked(t, SA(a), i, NULL));
	}
	assert_int_equal(smtpd_authfail_clients(t, 5000), 64);
	smtpd_authfail_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_expiry_and_cap),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_many_clients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
