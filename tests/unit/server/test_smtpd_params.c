/*
 * test_smtpd_params: the ESMTP parameters the server takes on MAIL and
 * RCPT, one table row per case. Never: touches the network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd_params.h"

struct mail_case {
	const char *params;	/* " KEY=VAL ..." as after the path */
	int code;		/* 0: accepted */
	const char *esc;
};

static const struct mail_case mail_cases[] = {
	{ "", 0, NULL },
	{ " SIZE=1000", 0, NULL },
	{ " SIZE=1000001", 552, "5.3.4" },
	{ " SIZE=12x", 501, "5.5.4" },
	{ " SIZE=99999999999999999999999", 501, "5.5.4" },
	{ " BODY=8BITMIME", 0, NULL },
	{ " BODY=7bit", 0, NULL },
	{ " BODY=BINARYMIME", 555, "5.5.4" },
	{ " RET=FULL ENVID=abc+2Bdef", 0, NULL },
	{ " RET=NONE", 501, "5.5.4" },
	{ " ENVID=bad+zz", 501, "5.5.4" },
	{ " SMTPUTF8", 0, NULL },
	{ " SMTPUTF8=yes", 501, "5.5.4" },
	{ " AUTH=<>", 0, NULL },
	{ " XFOO=1", 555, "5.5.4" },
	{ " SIZE=1 SIZE=2", 501, "5.5.4" },
};

static void test_mail(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const struct mail_case *c = &mail_cases[i];
		struct smtp_param p[SMTP_PARAMS_MAX];
		const char *err = NULL;
		int n = smtp_params_parse(c->params, strlen(c->params), false, p, SMTP_PARAMS_MAX, &err);
		if (n < 0)
			fail_msg("%s: params did not parse: %s", c->params, err);
		struct smtpd_mail_params mp;
		struct smtpd_reply r = { 0, NULL, NULL };
		bool ok = smtpd_params_mail(p, (size_t)n, 1000000, &mp, &r);
		if (c->code == 0 && !ok)
			fail_msg("%s: got %d %s, want accepted", c->params, r.code, r.esc);
		if (c->code != 0 && (ok || r.code != c->code || strcmp(r.esc, c->esc) != 0))
			fail_msg("%s: got %s %d, want %d %s", c->params, ok ? "accepted" : "refused",
			    r.code, c->code, c->esc);
	}
}

static void test_mail_values(void **state)
{
	(void)state;
	const char *s = " SIZE=42 BODY=8BITMIME RET=HDRS ENVID=q+2Bid SMTPUTF8";
	struct smtp_param p[SMTP_PARAMS_MAX];
	const char *err = NULL;
	int n = smtp_params_parse(s, strlen(s), false, p, SMTP_PARAMS_MAX, &err);
	struct smtpd_mail_params mp;
	struct smtpd_reply r;
	assert_true(smtpd_params_mail(p, (size_t)n, 0, &mp, &r));
	assert_int_equal(mp.size, 42);
	assert_true(mp.body_8bitmime);
	assert_int_equal(mp.ret, MXR_RET_HDRS);
	assert_true(mp.has_envid);
	assert_string_equal(mp.envid, "q+id");
	assert_true(mp.smtputf8);
}

struct rcpt_case {
	const char *params;
	int code;
	unsigned notify;
	const char *orcpt;
};

static const struct rcpt_case rcpt_cases[] = {
	{ "", 0, 0, NULL },
	{ " NOTIFY=NEVER", 0, MXR_NOTIFY_NEVER, NULL },
	{ " NOTIFY=success,FAILURE,Delay", 0, MXR_NOTIFY_SUCCESS | MXR_NOTIFY_FAILURE | MXR_NOTIFY_DELAY, NULL },
	{ " NOTIFY=NEVER,SUCCESS", 501, 0, NULL },
	{ " NOTIFY=FAILURE,FAILURE", 501, 0, NULL },
	{ " NOTIFY=SOMETIMES", 501, 0, NULL },
	{ " NOTIFY=SUCCESS,SUCCESS", 501, 0, NULL },
	{ " NOTIFY=SUCCESS,,DELAY", 501, 0, NULL },
	{ " NOTIFY=DELAY,", 501, 0, NULL },
	{ " NOTIFY=delay,failure,success", 0, MXR_NOTIFY_SUCCESS | MXR_NOTIFY_FAILURE | MXR_NOTIFY_DELAY, NULL },
	{ " ORCPT=rfc822;a+40b.test", 0, 0, "rfc822;a@b.test" },
	{ " ORCPT=rfc822", 501, 0, NULL },
	{ " ORCPT=;a", 501, 0, NULL },
	{ " FOO=BAR", 555, 0, NULL },
};

static void test_rcpt(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		struct smtp_param p[SMTP_PARAMS_MAX];
		const char *err = NULL;
		int n = smtp_params_parse(c->params, strlen(c->params), false, p, SMTP_PARAMS_MAX, &err);
		if (n < 0)
			fail_msg("%s: params did not parse: %s", c->params, err);
		struct smtpd_rcpt_params rp;
		struct smtpd_reply r = { 0, NULL, NULL };
		bool ok = smtpd_params_rcpt(p, (size_t)n, &rp, &r);
		if (c->code == 0) {
			if (!ok)
				fail_msg("%s: got %d %s, want accepted", c->params, r.code, r.esc);
			if (rp.notify != c->notify)
				fail_msg("%s: got notify %u, want %u", c->params, rp.notify, c->notify);
			if (c->orcpt != NULL && (!rp.has_orcpt || strcmp(rp.orcpt, c->orcpt) != 0))
				fail_msg("%s: got orcpt %s, want %s", c->params, rp.orcpt, c->orcpt);
		} else if (ok || r.code != c->code) {
			fail_msg("%s: got %s %d, want %d", c->params, ok ? "accepted" : "refused", r.code, c->code);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_mail_values),
		cmocka_unit_test(test_rcpt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
