/*
 * test_smtpd_limit: connection limits overall and per address, including
 * IPv4-mapped IPv6 addresses counting as their IPv4 address, and IPv6
 * addresses counting by their network prefix.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "smtpd_limit.h"

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

static void test_per_ip_and_total(void **state)
{
	(void)state;
	struct smtpd_limit *l = smtpd_limit_new(5, 2, 128);
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2");
	struct sockaddr_storage mapped = addr("::ffff:192.0.2.1"), v6 = addr("2001:db8::1");
	const struct sockaddr *pa = (struct sockaddr *)&a, *pb = (struct sockaddr *)&b;
	assert_int_equal(smtpd_limit_acquire(l, pa), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_acquire(l, pa), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_acquire(l, pa), SMTPD_LIMIT_PER_IP);
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&mapped), SMTPD_LIMIT_PER_IP);
	assert_int_equal(smtpd_limit_acquire(l, pb), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&v6), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&v6), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_total(l), 5);
	assert_int_equal(smtpd_limit_acquire(l, pb), SMTPD_LIMIT_TOTAL);
	smtpd_limit_release(l, pa);
	assert_int_equal(smtpd_limit_count(l, pa), 1);
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&mapped), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_count(l, pa), 2);
	smtpd_limit_release(l, pa);
	smtpd_limit_release(l, pa);
	assert_int_equal(smtpd_limit_count(l, pa), 0);
	smtpd_limit_free(l);
}

static void test_unlimited(void **state)
{
	(void)state;
	struct smtpd_limit *l = smtpd_limit_new(0, 0, 64);
	struct sockaddr_storage a = addr("192.0.2.1");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&a), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_count(l, (struct sockaddr *)&a), 1000);
	smtpd_limit_free(l);
}

/* Which two addresses are one client under a prefix length. */
struct key_case {
	const char *a, *b;
	unsigned prefix;
	bool same;
};

static const struct key_case key_cases[] = {
	{ "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", 64, true },
	{ "2001:db8:1:2::1", "2001:db8:1:3::1", 64, false },
	{ "fd00::1", "fd00::2", 64, true },
	{ "fd00::1", "fd00::2", 128, false },
	{ "fd00::1", "fd00::1", 128, true },
	{ "2001:db8:1:2::1", "2001:db8:1:3::1", 56, true },
	{ "2001:db8:1:ff::1", "2001:db8:1:100::1", 56, false },
	/* A prefix that ends inside an octet keeps only its own bits of that octet. */
	{ "2001:db8:1:2::", "2001:db8:1:3::", 63, true },
	{ "2001:db8:1:2::", "2001:db8:1:4::", 63, false },
	{ "2001:db8::1", "2001:db9::1", 32, false },
	{ "2001:db8:ffff::1", "2001:db8::1", 32, true },
	/* IPv4 is whole whatever the IPv6 prefix; mapped addresses are IPv4. */
	{ "192.0.2.1", "192.0.2.2", 64, false },
	{ "192.0.2.1", "::ffff:192.0.2.1", 64, true },
	{ "::ffff:192.0.2.1", "::ffff:192.0.2.2", 64, false },
	/* The IPv4 address 0.0.0.0 is not the IPv6 network ::/64. */
	{ "0.0.0.0", "::", 64, false },
};

static void test_key_of(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *tc = &key_cases[i];
		struct sockaddr_storage a = addr(tc->a), b = addr(tc->b);
		struct smtpd_limit_key ka, kb;
		assert_true(smtpd_limit_key_of((struct sockaddr *)&a, tc->prefix, &ka));
		assert_true(smtpd_limit_key_of((struct sockaddr *)&b, tc->prefix, &kb));
		bool same = memcmp(ka.b, kb.b, sizeof(ka.b)) == 0;
		if (same != tc->same)
			fail_msg("case %zu: %s and %s under /%u: got %s, want %s", i, tc->a, tc->b,
			    tc->prefix, same ? "one client" : "two", tc->same ? "one client" : "two");
	}
	struct sockaddr_storage un;
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	struct smtpd_limit_key k;
	assert_false(smtpd_limit_key_of((struct sockaddr *)&un, 64, &k));
}

/* max_per_ip counts a /64 as one client: a host cannot escape it by changing address. */
static void test_ipv6_prefix_limit(void **state)
{
	(void)state;
	struct smtpd_limit *l = smtpd_limit_new(0, 2, 64);
	struct sockaddr_storage a = addr("2001:db8:1:2::1"), b = addr("2001:db8:1:2::2");
	struct sockaddr_storage c = addr("2001:db8:1:2:abcd::3"), other = addr("2001:db8:1:3::1");
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&a), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&b), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&c), SMTPD_LIMIT_PER_IP);
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&other), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_count(l, (struct sockaddr *)&c), 2);
	smtpd_limit_release(l, (struct sockaddr *)&a);
	assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&c), SMTPD_LIMIT_OK);
	smtpd_limit_release(l, (struct sockaddr *)&b);
	smtpd_limit_release(l, (struct sockaddr *)&c);
	smtpd_limit_release(l, (struct sockaddr *)&other);
	assert_int_equal(smtpd_limit_total(l), 0);
	smtpd_limit_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_ip_and_total),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_key_of),
		cmocka_unit_test(test_ipv6_prefix_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
