/*
 * test_smtpd_cmds: the server's command table (which command may run in
 * which state, with which flags) and the BDAT argument grammar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd_cmds.h"
#include "smtpd_data.h"

struct table_case {
	enum smtp_verb verb;
	enum smtpd_state state;
	bool allowed;
};

static const struct table_case table_cases[] = {
	{ SMTP_VERB_EHLO, SMTPD_S_GREETED, true },
	{ SMTP_VERB_MAIL, SMTPD_S_GREETED, false },
	{ SMTP_VERB_MAIL, SMTPD_S_READY, true },
	{ SMTP_VERB_MAIL, SMTPD_S_MAIL, false },
	{ SMTP_VERB_SEND, SMTPD_S_READY, true },
	{ SMTP_VERB_RCPT, SMTPD_S_READY, false },
	{ SMTP_VERB_RCPT, SMTPD_S_RCPT, true },
	{ SMTP_VERB_DATA, SMTPD_S_MAIL, false },
	{ SMTP_VERB_DATA, SMTPD_S_RCPT, true },
	{ SMTP_VERB_BDAT, SMTPD_S_READY, true },	/* read, then refused */
	{ SMTP_VERB_STARTTLS, SMTPD_S_MAIL, false },
	{ SMTP_VERB_AUTH, SMTPD_S_GREETED, false },
	{ SMTP_VERB_AUTH, SMTPD_S_READY, true },
	{ SMTP_VERB_QUIT, SMTPD_S_RCPT, true },
	{ SMTP_VERB_RSET, SMTPD_S_COMMIT, false },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table_cases) / sizeof(table_cases[0]); i++) {
		const struct table_case *c = &table_cases[i];
		const struct smtpd_cmd_def *d = smtpd_cmds_find(c->verb);
		if (d == NULL)
			fail_msg("%s: not in the table", smtp_cmd_verb_name(c->verb));
		bool allowed = (d->states & (1u << c->state)) != 0;
		if (allowed != c->allowed)
			fail_msg("%s in %s: got %s, want %s", smtp_cmd_verb_name(c->verb),
			    smtpd_session_state_name(c->state), allowed ? "allowed" : "refused",
			    c->allowed ? "allowed" : "refused");
		if (!allowed) {
			struct smtpd_reply r = smtpd_cmds_state_reply(c->verb, c->state);
			assert_int_equal(r.code, 503);
			assert_string_equal(r.esc, "5.5.1");
		}
	}
	assert_null(smtpd_cmds_find(SMTP_VERB_UNKNOWN));
	assert_true(smtpd_cmds_find(SMTP_VERB_EHLO)->flags & SMTPD_CMD_PRE_TLS);
	assert_false(smtpd_cmds_find(SMTP_VERB_MAIL)->flags & SMTPD_CMD_PRE_TLS);
	assert_int_equal(smtpd_cmds_find(SMTP_VERB_NOOP)->line_max, 512);
}

struct bdat_case {
	const char *arg;
	int rc;
	unsigned long long size;
	bool last;
};

static const struct bdat_case bdat_cases[] = {
	{ "0", 0, 0, false },
	{ "0 LAST", 0, 0, true },
	{ "1000 last", 0, 1000, true },
	{ "12  LAST", 0, 12, true },
	{ "", -1, 0, false },
	{ "LAST", -1, 0, false },
	{ "-1", -1, 0, false },
	{ "10 MORE", -1, 0, false },
	{ "10 LAST x", -1, 0, false },
	{ "99999999999999999999", -1, 0, false },
	{ "12x", -1, 0, false },
};

static void test_bdat_arg(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]); i++) {
		const struct bdat_case *c = &bdat_cases[i];
		uint64_t size = 0;
		bool last = false;
		int rc = smtpd_data_bdat_arg(c->arg, strlen(c->arg), &size, &last);
		if (rc != c->rc)
			fail_msg("BDAT %s: got %d, want %d", c->arg, rc, c->rc);
		if (rc == 0 && (size != c->size || last != c->last))
			fail_msg("BDAT %s: got %llu/%d, want %llu/%d", c->arg, (unsigned long long)size,
			    last, c->size, c->last);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bdat_arg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
