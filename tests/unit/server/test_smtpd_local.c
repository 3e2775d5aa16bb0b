/*
 * test_smtpd_local: what the local submission socket decides by itself:
 * the Received field of a local submitter and who may give any envelope
 * sender (local_sender_override), with the address a user owns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "smtpd_local.h"

static void test_local_received(void **state)
{
	(void)state;
	char buf[512];
	size_t n = smtpd_local_received("mx.test", 33, "0123ABC", 0, buf, sizeof(buf));
	const char want[] = "Received: by mx.test (mxrelay, from userid 33)\r\n\tid 0123ABC; "
		"Thu, 1 Jan 1970 00:00:00 +0000\r\n";
	if (n != strlen(want) || strcmp(buf, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", buf, want);
	assert_int_equal(smtpd_local_received("mx.test", 33, "0123ABC", 0, buf, 20), 0);
}

static void test_sender_override(void **state)
{
	(void)state;
	static const struct {
		const char *conf;
		long uid;
		const char *user;
		bool want;
		const char *own;
	} rows[] = {
		{ "", 33, "www-data", true, "www-data@mx.test" },
		{ "local_sender_override = none\n", 33, "www-data", false, "www-data@mx.test" },
		{ "local_sender_override = none\n", 0, "root", true, "root@mx.test" },
		{ "local_sender_override = alice, bob\nmasquerade_domain = example.test\n", 1001,
		  "bob", true, "bob@example.test" },
		{ "local_sender_override = alice, bob\nmasquerade_domain = example.test\n", 33,
		  "www-data", false, "www-data@example.test" },
		{ "local_sender_override = @root\n", 33, "www-data", false, "www-data@mx.test" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[512], err[512], own[300];
		snprintf(text, sizeof(text), "listen = 127.0.0.1:2525 relay\nhostname = mx.test\n%s",
		    rows[i].conf);
		struct config *c = NULL;
		if (config_load_text("t.conf", text, strlen(text), &c, err, sizeof(err)) != 0)
			fail_msg("row %zu: %s", i, err);
		bool got = smtpd_local_may_override(c, rows[i].uid, rows[i].user, 65534);
		if (got != rows[i].want)
			fail_msg("row %zu (%s): got %d, want %d", i, rows[i].user, got, rows[i].want);
		smtpd_local_own_sender(c, rows[i].user, own, sizeof(own));
		if (strcmp(own, rows[i].own) != 0)
			fail_msg("row %zu: got \"%s\", want \"%s\"", i, own, rows[i].own);
		config_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_received),
		cmocka_unit_test(test_sender_override),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
