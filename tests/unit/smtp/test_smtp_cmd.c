/*
 * test_smtp_cmd: command lines, MAIL/RCPT arguments, ESMTP parameters and
 * xtext, one row per input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_cmd.h"

struct cmd_row {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	int rc;
	enum smtp_verb verb;
	const char *arg;
};

static const struct cmd_row cmd_rows[] = {
	{ "MAIL FROM:<a@b> SIZE=10", 0, 0, SMTP_VERB_MAIL, "FROM:<a@b> SIZE=10" },
	{ "mail from:<a@b>", 0, 0, SMTP_VERB_MAIL, "from:<a@b>" },
	{ "rCpT TO:<a@b>", 0, 0, SMTP_VERB_RCPT, "TO:<a@b>" },
	{ "EHLO  client.test  ", 0, 0, SMTP_VERB_EHLO, "client.test" },
	{ "HELO x", 0, 0, SMTP_VERB_HELO, "x" },
	{ "DATA", 0, 0, SMTP_VERB_DATA, "" },
	{ "DATA ", 0, 0, SMTP_VERB_DATA, "" },
	{ "quit", 0, 0, SMTP_VERB_QUIT, "" },
	{ "STARTTLS", 0, 0, SMTP_VERB_STARTTLS, "" },
	{ "AUTH PLAIN AGFAYg==", 0, 0, SMTP_VERB_AUTH, "PLAIN AGFAYg==" },
	{ "BDAT 100 LAST", 0, 0, SMTP_VERB_BDAT, "100 LAST" },
	{ "RSET", 0, 0, SMTP_VERB_RSET, "" },
	{ "NOOP", 0, 0, SMTP_VERB_NOOP, "" },
	{ "HELP me", 0, 0, SMTP_VERB_HELP, "me" },
	{ "VRFY x", 0, 0, SMTP_VERB_VRFY, "x" },
	{ "EXPN x", 0, 0, SMTP_VERB_EXPN, "x" },
	{ "SEND FROM:<a@b>", 0, 0, SMTP_VERB_SEND, "FROM:<a@b>" },
	{ "SOML FROM:<a@b>", 0, 0, SMTP_VERB_SOML, "FROM:<a@b>" },
	{ "SAML FROM:<a@b>", 0, 0, SMTP_VERB_SAML, "FROM:<a@b>" },
	{ "TURN", 0, 0, SMTP_VERB_TURN, "" },
	{ "ETRN example.test", 0, 0, SMTP_VERB_ETRN, "example.test" },
	{ "MAILFROM:<a@b>", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ "MAI", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ "DATAX", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ "", 0, 0, SMTP_VERB_UNKNOWN, "" },
	{ " MAIL FROM:<a@b>", 0, 0, SMTP_VERB_UNKNOWN, "MAIL FROM:<a@b>" },
	{ "GET / HTTP/1.1", 0, 0, SMTP_VERB_UNKNOWN, "/ HTTP/1.1" },
	{ "MA\xc3\x8dL FROM:<a@b>", 0, -1, SMTP_VERB_UNKNOWN, "" },
	{ "MAIL FROM:<a\xc3\xa9@b>", 0, 0, SMTP_VERB_MAIL, "FROM:<a\xc3\xa9@b>" },
	{ "DATA\0x", 6, -1, SMTP_VERB_UNKNOWN, "" },
	{ "NOOP x\0", 7, -1, SMTP_VERB_UNKNOWN, "" },
};

static void test_cmd_parse_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cmd_rows) / sizeof(cmd_rows[0]); i++) {
		const struct cmd_row *row = &cmd_rows[i];
		size_t len = row->len ? row->len : strlen(row->in);
		struct smtp_cmd c;
		const char *err = NULL;
		int rc = smtp_cmd_parse(row->in, len, &c, &err);
		if (rc != row->rc)
			fail_msg("row %zu \"%s\": rc got %d, want %d", i, row->in, rc, row->rc);
		if (rc != 0) {
			if (err == NULL)
				fail_msg("row %zu: failed without a reason", i);
			continue;
		}
		if (c.verb != row->verb)
			fail_msg("row %zu \"%s\": verb got %s, want %s", i, row->in,
			    smtp_cmd_verb_name(c.verb), smtp_cmd_verb_name(row->verb));
		if (c.arg_len != strlen(row->arg) || memcmp(c.arg, row->arg, c.arg_len) != 0)
			fail_msg("row %zu: arg got \"%.*s\", want \"%s\"", i, (int)c.arg_len, c.arg,
			    row->arg);
	}
}

static void test_cmd_verb_names(void **state)
{
	(void)state;
	for (int v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
		const char *name = smtp_cmd_verb_name((enum smtp_verb)v);
		struct smtp_cmd c;
		const char *err;
		assert_non_null(name);
		assert_int_equal(smtp_cmd_parse(name, strlen(name), &c, &err), 0);
		if ((int)c.verb != v)
			fail_msg("name %s: parsed back as %d, want %d", name, c.verb, v);
	}
	assert_string_equal(smtp_cmd_verb_name(SMTP_VERB_COUNT), "UNKNOWN");
	assert_string_equal(smtp_cmd_verb_name((enum smtp_verb)-1), "UNKNOWN");
}

struct arg_row {
	const char *in;
	const char *prefix;
	unsigned flags;
	int rc;			/* parameter count, or -1 */
	int code;		/* reply code on error */
	const char *addr;	/* formatted address on success */
	const char *param0;	/* "KEY" or "KEY=VALUE" of the first parameter */
};

#define NUL_OK SMTP_ADDR_NULL_OK
#define UTF8 SMTP_ADDR_UTF8_OK
#define BARE SMTP_ADDR_BARE_OK

static const struct arg_row arg_rows[] = {
	{ "FROM:<a@b.test>", "FROM:", NUL_OK, 0, 0, "a@b.test", NULL },
	{ "from:<a@b.test>", "FROM:", NUL_OK, 0, 0, "a@b.test", NULL },
	{ "FROM: <a@b.test>", "FROM:", NUL_OK, 0, 0, "a@b.test", NULL },
	{ "FROM:   <a@b.test>", "FROM:", NUL_OK, 0, 0, "a@b.test", NULL },
	{ "FROM:<> SIZE=100 BODY=8BITMIME", "FROM:", NUL_OK, 2, 0, "", "SIZE=100" },
	{ "FROM:<a@b.test>  RET=HDRS   ENVID=x+2By", "FROM:", NUL_OK, 2, 0, "a@b.test",
	  "RET=HDRS" },
	{ "FROM:<a@b.test> SMTPUTF8", "FROM:", NUL_OK, 1, 0, "a@b.test", "SMTPUTF8" },
	{ "TO:<a@b.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b.test", "TO:", 0, 2, 0,
	  "a@b.test", "NOTIFY=SUCCESS,FAILURE" },
	{ "To:<@r.test:a@b.test>", "TO:", 0, 0, 0, "a@b.test", NULL },
	{ "TO:<postmaster>", "TO:", SMTP_ADDR_NO_DOMAIN_OK, 0, 0, "postmaster", NULL },
	/* Syntax: 501. */
	{ "FROM <a@b.test>", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FRM:<a@b.test>", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "TO:<a@b.test>", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:   ", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:a@b.test", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test>SIZE=1", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test> SIZE=", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test> =1", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test> -X=1", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test> X_Y=1", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test> X=a=b", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test> X=\xc3\xa9", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test> X=\x01", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test>\tSIZE=1", "FROM:", NUL_OK, -1, 501, NULL, NULL },
	{ "TO:<@r.test a@b.test>", "TO:", 0, -1, 501, NULL, NULL },
	{ "FROM:<a@b.test> A B C D E F G H I J K L M N O P Q", "FROM:", NUL_OK, -1, 501, NULL,
	  NULL },
	/* Mailbox: 553. */
	{ "TO:<>", "TO:", 0, -1, 553, NULL, NULL },
	{ "FROM:<a..b@b.test>", "FROM:", NUL_OK, -1, 553, NULL, NULL },
	{ "FROM:<a@b.test.>", "FROM:", NUL_OK, -1, 553, NULL, NULL },
	{ "FROM:<a@[300.1.1.1]>", "FROM:", NUL_OK, -1, 553, NULL, NULL },
	{ "FROM:<j\xc3\xb6rg@b.test>", "FROM:", NUL_OK, -1, 553, NULL, NULL },
	{ "TO:<postmaster>", "TO:", 0, -1, 553, NULL, NULL },
	/* UTF-8 with SMTPUTF8. */
	{ "FROM:<j\xc3\xb6rg@b.test> SMTPUTF8 X=\xc3\xa9", "FROM:", NUL_OK | UTF8, 2, 0,
	  "j\xc3\xb6rg@b.test", "SMTPUTF8" },
	{ "FROM:<a@b.test> X=\xc3", "FROM:", NUL_OK | UTF8, -1, 501, NULL, NULL },
	/* Without <> (strict_envelopes = no): the same address, parameters after a space. */
	{ "FROM:a@b.test", "FROM:", NUL_OK | BARE, 0, 0, "a@b.test", NULL },
	{ "FROM: a@b.test SIZE=10", "FROM:", NUL_OK | BARE, 1, 0, "a@b.test", "SIZE=10" },
	{ "FROM:<>", "FROM:", NUL_OK | BARE, 0, 0, "", NULL },
	{ "FROM:", "FROM:", NUL_OK | BARE, -1, 501, NULL, NULL },
	{ "FROM: ", "FROM:", NUL_OK | BARE, -1, 501, NULL, NULL },
	{ "FROM:a@b.test>", "FROM:", NUL_OK | BARE, -1, 553, NULL, NULL },
	{ "FROM:a@b.test\tSIZE=1", "FROM:", NUL_OK | BARE, -1, 501, NULL, NULL },
	{ "FROM:a@b.test X=\x01", "FROM:", NUL_OK | BARE, -1, 501, NULL, NULL },
	{ "TO:@r.test:a@b.test NOTIFY=NEVER", "TO:", BARE, 1, 0, "a@b.test", "NOTIFY=NEVER" },
	{ "TO:\"a b\"@b.test", "TO:", BARE, 0, 0, "\"a b\"@b.test", NULL },
	{ "TO:a b@b.test", "TO:", BARE, -1, 553, NULL, NULL },
};

static void test_cmd_path_arg_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(arg_rows) / sizeof(arg_rows[0]); i++) {
		const struct arg_row *row = &arg_rows[i];
		struct smtp_addr a;
		struct smtp_param p[SMTP_PARAMS_MAX];
		const char *err = NULL;
		int code = -7;
		int rc = smtp_cmd_parse_path_arg(row->in, strlen(row->in), row->prefix, row->flags,
		    &a, p, SMTP_PARAMS_MAX, &err, &code);
		if (rc != row->rc)
			fail_msg("row %zu \"%s\": rc got %d (%s), want %d", i, row->in, rc,
			    err ? err : "", row->rc);
		if (rc < 0) {
			if (code != row->code)
				fail_msg("row %zu \"%s\": code got %d (%s), want %d", i, row->in, code,
				    err ? err : "", row->code);
			if (err == NULL)
				fail_msg("row %zu: failed without a reason", i);
			continue;
		}
		char buf[600];
		smtp_addr_format(&a, buf, sizeof(buf));
		if (strcmp(buf, row->addr) != 0)
			fail_msg("row %zu: addr got \"%s\", want \"%s\"", i, buf, row->addr);
		if (row->param0 != NULL) {
			char pb[128];
			if (p[0].val != NULL)
				snprintf(pb, sizeof(pb), "%.*s=%.*s", (int)p[0].key_len, p[0].key,
				    (int)p[0].val_len, p[0].val);
			else
				snprintf(pb, sizeof(pb), "%.*s", (int)p[0].key_len, p[0].key);
			if (strcmp(pb, row->param0) != 0)
				fail_msg("row %zu: param0 got \"%s\", want \"%s\"", i, pb, row->param0);
		}
	}
}

static void test_cmd_params(void **state)
{
	(void)state;
	struct smtp_param p[4];
	const char *err;
	const char *s = " SIZE=10 body=8BITMIME SMTPUTF8";
	assert_int_equal(smtp_params_parse(s, strlen(s), false, p, 4, &err), 3);
	assert_true(smtp_param_is(&p[0], "size"));
	assert_true(smtp_param_is(&p[1], "BODY"));
	assert_false(smtp_param_is(&p[1], "BOD"));
	assert_false(smtp_param_is(&p[1], "BODYX"));
	assert_null(p[2].val);
	assert_int_equal(p[2].val_len, 0);
	assert_int_equal(smtp_params_parse(s, strlen(s), false, p, 2, &err), -1);
	assert_int_equal(smtp_params_parse("", 0, false, p, 4, &err), 0);
	assert_int_equal(smtp_params_parse("   ", 3, false, p, 4, &err), 0);
	assert_int_equal(smtp_params_parse("A", 1, false, p, 0, &err), -1);
}

struct xtext_row {
	const char *enc;
	const char *dec;	/* NULL: decoding fails */
};

static const struct xtext_row xtext_rows[] = {
	{ "", "" },
	{ "abc", "abc" },
	{ "a+2Bb", "a+b" },
	{ "a+3Db", "a=b" },
	{ "+20", " " },
	{ "+2b", "+" },
	{ "+", NULL },
	{ "+2", NULL },
	{ "+G0", NULL },
	{ "+00", NULL },
	{ "a b", NULL },
	{ "a=b", NULL },
	{ "\xc3\xa9", NULL },
	{ "rfc822;user+40example.test", "rfc822;user@example.test" },
};

static void test_xtext(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xtext_rows) / sizeof(xtext_rows[0]); i++) {
		const struct xtext_row *r = &xtext_rows[i];
		char out[64];
		int n = smtp_xtext_decode(r->enc, strlen(r->enc), out, sizeof(out));
		if (r->dec == NULL) {
			if (n != -1)
				fail_msg("xtext \"%s\": got %d \"%s\", want failure", r->enc, n, out);
			continue;
		}
		if (n < 0 || strcmp(out, r->dec) != 0 || (size_t)n != strlen(r->dec))
			fail_msg("xtext \"%s\": got %d \"%s\", want \"%s\"", r->enc, n,
			    n >= 0 ? out : "", r->dec);
	}
	/* Encode then decode gives back every octet but NUL. */
	char all[255];
	for (int c = 1; c < 256; c++)
		all[c - 1] = (char)c;
	char enc[1024], dec[300];
	int en = smtp_xtext_encode(all, sizeof(all), enc, sizeof(enc));
	assert_true(en > 0);
	for (int k = 0; k < en; k++)
		assert_true(enc[k] >= 0x21 && enc[k] <= 0x7e && enc[k] != '=');
	int dn = smtp_xtext_decode(enc, (size_t)en, dec, sizeof(dec));
	assert_int_equal(dn, (int)sizeof(all));
	assert_memory_equal(dec, all, sizeof(all));
	/* Room for the text and its NUL, and not one octet less. */
	char small[4];
	assert_int_equal(smtp_xtext_encode("abc", 3, small, 4), 3);
	assert_int_equal(smtp_xtext_encode("abcd", 4, small, 4), -1);
	assert_int_equal(smtp_xtext_encode("a+", 2, small, 4), -1);
	assert_int_equal(smtp_xtext_decode("abc", 3, small, 4), 3);
	assert_int_equal(smtp_xtext_decode("abcd", 4, small, 4), -1);
	assert_int_equal(smtp_xtext_decode("", 0, small, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_parse_rows),
		cmocka_unit_test(test_cmd_verb_names),
		cmocka_unit_test(test_cmd_path_arg_rows),
		cmocka_unit_test(test_cmd_params),
		cmocka_unit_test(test_xtext),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
