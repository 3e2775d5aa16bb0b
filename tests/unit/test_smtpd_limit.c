/*
 * test_smtpd_limit: connection limits overall and per address, including
 * IPv4-mapped IPv6 addresses counting as their IPv4 address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "mxrelayd/smtpd_limit.h"

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
	struct smtpd_limit *l = smtpd_limit_new(5, 2);
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
	struct smtpd_limit *l = smtpd_limit_new(0, 0);
	struct sockaddr_storage a = addr("192.0.2.1");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(smtpd_limit_acquire(l, (struct sockaddr *)&a), SMTPD_LIMIT_OK);
	assert_int_equal(smtpd_limit_count(l, (struct sockaddr *)&a), 1000);
	smtpd_limit_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_ip_and_total),
		cmocka_unit_test(test_unlimited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
