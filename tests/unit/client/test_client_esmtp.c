/*
 * test_client_esmtp: the MAIL and RCPT parameters sent for each set of
 * server capabilities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "client_esmtp.h"

struct mail_case {
	const char *name;
	struct smtp_caps caps;
	bool eight, utf8;
	enum mxr_ret ret;
	const char *envid;
	const char *want;
};

static const struct mail_case mail_cases[] = {
	{ "nothing offered", { .esmtp = false }, true, false, MXR_RET_FULL, "id", "" },
	{ "size", { .size = true }, false, false, MXR_RET_UNSET, NULL, " SIZE=1234" },
	{ "8bit offered", { .eightbitmime = true }, true, false, MXR_RET_UNSET, NULL, " BODY=8BITMIME" },
	{ "8bit not needed", { .eightbitmime = true }, false, false, MXR_RET_UNSET, NULL, "" },
	{ "smtputf8", { .smtputf8 = true }, false, true, MXR_RET_UNSET, NULL, " SMTPUTF8" },
	{ "dsn", { .dsn = true }, false, false, MXR_RET_HDRS, "a+b=c", " RET=HDRS ENVID=a+2Bb+3Dc" },
};

static void test_mail_params(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const struct mail_case *c = &mail_cases[i];
		struct client_msg m = {
			.sender = "a@b.test", .src = { .size = 1 }, .size = 1234, .body_8bit = c->eight,
			.smtputf8 = c->utf8, .ret = c->ret, .envid = c->envid,
		};
		char got[256];
		client_esmtp_mail_params(&c->caps, &m, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, got, c->want);
	}
}

static void test_rcpt_params(void **state)
{
	(void)state;
	struct smtp_caps none = { 0 }, dsn = { .dsn = true };
	struct client_rcpt r = { .address = "bob@a.test", .notify = MXR_NOTIFY_SUCCESS | MXR_NOTIFY_FAILURE };
	char got[256];
	client_esmtp_rcpt_params(&none, &r, got, sizeof(got));
	assert_string_equal(got, "");
	client_esmtp_rcpt_params(&dsn, &r, got, sizeof(got));
	assert_string_equal(got, " NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@a.test");
	r.notify = MXR_NOTIFY_NEVER;
	r.orcpt = "rfc822;x+y=z@a.test";
	client_esmtp_rcpt_params(&dsn, &r, got, sizeof(got));
	assert_string_equal(got, " NOTIFY=NEVER ORCPT=rfc822;x+2By+3Dz@a.test");
	struct client_rcpt u = { .address = "jos\xc3\xa9@a.test" };
	client_esmtp_rcpt_params(&dsn, &u, got, sizeof(got));
	assert_string_equal(got, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_rcpt_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
