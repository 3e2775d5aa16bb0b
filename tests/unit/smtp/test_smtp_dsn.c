/*
 * test_smtp_dsn: NOTIFY and RET values (RFC 3461 4.1, 4.3), read and
 * written, one row per input. The server, mxrelay send and mxrelay
 * sendmail all take their NOTIFY and RET rule from here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_dsn.h"

#define NEVER SMTP_DSN_NOTIFY_NEVER
#define SUCC SMTP_DSN_NOTIFY_SUCCESS
#define FAIL SMTP_DSN_NOTIFY_FAILURE
#define DELAY SMTP_DSN_NOTIFY_DELAY

struct notify_row {
	const char *in;
	unsigned want;		/* 0: refused */
};

static const struct notify_row notify_rows[] = {
	{ "NEVER", NEVER },
	{ "never", NEVER },
	{ "SUCCESS", SUCC },
	{ "FAILURE", FAIL },
	{ "DELAY", DELAY },
	{ "Success,Failure", SUCC | FAIL },
	{ "DELAY,FAILURE", DELAY | FAIL },
	{ "SUCCESS,FAILURE,DELAY", SUCC | FAIL | DELAY },
	{ "delay,failure,success", SUCC | FAIL | DELAY },
	{ "failure,delay,success", SUCC | FAIL | DELAY },
	/* Each keyword at most once. */
	{ "SUCCESS,SUCCESS", 0 },
	{ "success,FAILURE,Success", 0 },
	{ "NEVER,NEVER", 0 },
	/* NEVER stands alone. */
	{ "NEVER,SUCCESS", 0 },
	{ "DELAY,NEVER", 0 },
	/* Unknown keywords and empty items. */
	{ "", 0 },
	{ "SOMETIMES", 0 },
	{ "SUCCES", 0 },
	{ "SUCCESSES", 0 },
	{ "SUCCESS,", 0 },
	{ ",SUCCESS", 0 },
	{ "SUCCESS,,DELAY", 0 },
	{ ",", 0 },
	{ "SUCCESS DELAY", 0 },
	{ " SUCCESS", 0 },
};

static void test_dsn_notify_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(notify_rows) / sizeof(notify_rows[0]); i++) {
		const struct notify_row *r = &notify_rows[i];
		const char *err = NULL;
		unsigned got = smtp_dsn_notify_parse(r->in, strlen(r->in), &err);
		if (got != r->want)
			fail_msg("NOTIFY=\"%s\": got 0x%x, want 0x%x (%s)", r->in, got, r->want,
			    err != NULL ? err : "no reason");
		if (got == 0 && err == NULL)
			fail_msg("NOTIFY=\"%s\": refused without a reason", r->in);
	}
}

/* The value ends where the length says, not at a NUL: a parameter points into its line. */
static void test_dsn_notify_parse_length(void **state)
{
	(void)state;
	const char *line = "SUCCESS,DELAY ORCPT=rfc822;a@b";
	unsigned got = smtp_dsn_notify_parse(line, 13, NULL);
	if (got != (SUCC | DELAY))
		fail_msg("NOTIFY of 13 octets of \"%s\": got 0x%x, want 0x%x", line, got, SUCC | DELAY);
	if (smtp_dsn_notify_parse(NULL, 0, NULL) != 0)
		fail_msg("NOTIFY without a value: got accepted, want refused");
}

struct format_row {
	unsigned bits;
	size_t cap;
	const char *want;
};

static const struct format_row format_rows[] = {
	{ NEVER, 64, "NEVER" },
	{ SUCC, 64, "SUCCESS" },
	{ DELAY | SUCC, 64, "SUCCESS,DELAY" },
	{ DELAY | FAIL | SUCC, 64, "SUCCESS,FAILURE,DELAY" },
	{ NEVER | SUCC, 64, "NEVER" },
	{ 0, 64, "" },
	{ SUCC | FAIL, 15, "" },	/* 15 octets and the NUL do not fit */
	{ SUCC | FAIL, 16, "SUCCESS,FAILURE" },
};

static void test_dsn_notify_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(format_rows) / sizeof(format_rows[0]); i++) {
		const struct format_row *r = &format_rows[i];
		char buf[64];
		memset(buf, 'x', sizeof(buf));
		size_t n = smtp_dsn_notify_format(r->bits, buf, r->cap);
		if (strcmp(buf, r->want) != 0 || n != strlen(r->want))
			fail_msg("format 0x%x in %zu: got \"%s\" (%zu), want \"%s\"", r->bits, r->cap,
			    buf, n, r->want);
		/* What is written reads back as the same bits. */
		if (n > 0 && smtp_dsn_notify_parse(buf, n, NULL) != ((r->bits & NEVER) ? NEVER : r->bits))
			fail_msg("format 0x%x: \"%s\" does not read back", r->bits, buf);
	}
}

struct ret_row {
	const char *in;
	enum smtp_dsn_ret want;
};

static const struct ret_row ret_rows[] = {
	{ "FULL", SMTP_DSN_RET_FULL },
	{ "full", SMTP_DSN_RET_FULL },
	{ "HDRS", SMTP_DSN_RET_HDRS },
	{ "Hdrs", SMTP_DSN_RET_HDRS },
	{ "", SMTP_DSN_RET_UNSET },
	{ "FUL", SMTP_DSN_RET_UNSET },
	{ "FULLY", SMTP_DSN_RET_UNSET },
	{ "EVERYTHING", SMTP_DSN_RET_UNSET },
	{ "FULL,HDRS", SMTP_DSN_RET_UNSET },
};

static void test_dsn_ret_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ret_rows) / sizeof(ret_rows[0]); i++) {
		const struct ret_row *r = &ret_rows[i];
		enum smtp_dsn_ret got = smtp_dsn_ret_parse(r->in, strlen(r->in));
		if (got != r->want)
			fail_msg("RET=\"%s\": got %d, want %d", r->in, (int)got, (int)r->want);
	}
	if (smtp_dsn_ret_parse(NULL, 0) != SMTP_DSN_RET_UNSET)
		fail_msg("RET without a value: got a value, want unset");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_notify_parse),
		cmocka_unit_test(test_dsn_notify_parse_length),
		cmocka_unit_test(test_dsn_notify_format),
		cmocka_unit_test(test_dsn_ret_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
