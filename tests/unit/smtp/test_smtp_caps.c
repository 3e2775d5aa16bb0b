/*
 * test_smtp_caps: EHLO replies in, capabilities out, one row per reply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_caps.h"

#define MAXL 10

struct caps_row {
	const char *lines[MAXL];
	struct smtp_caps want;
};

static const struct caps_row caps_rows[] = {
	{ { "250 mx.test" }, { .esmtp = true } },
	{ { "250-mx.test", "250-PIPELINING", "250-SIZE 10240000", "250-8BITMIME",
	    "250-SMTPUTF8", "250-DSN", "250-STARTTLS", "250-ENHANCEDSTATUSCODES",
	    "250 CHUNKING" },
	  { .esmtp = true, .pipelining = true, .size = true, .size_max = 10240000,
	    .eightbitmime = true, .smtputf8 = true, .dsn = true, .starttls = true,
	    .enhancedstatuscodes = true, .chunking = true } },
	{ { "250-mx", "250-size", "250 pipelining" },
	  { .esmtp = true, .size = true, .pipelining = true } },
	{ { "250-mx", "250-SIZE abc", "250 BINARYMIME" },
	  { .esmtp = true, .size = true, .binarymime = true } },
	{ { "250-mx", "250-requiretls", "250 REQUIRETLSX" }, { .esmtp = true, .requiretls = true } },
	{ { "250-mx", "250 SIZE 99999999999999999999999" },
	  { .esmtp = true, .size = true, .size_max = UINT64_MAX } },
	{ { "250-mx", "250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2 GSSAPI" },
	  { .esmtp = true, .auth = SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN | SMTP_AUTH_CRAM_MD5 |
	    SMTP_AUTH_XOAUTH2 } },
	{ { "250-mx", "250-auth  login", "250 AUTH=PLAIN" },
	  { .esmtp = true, .auth = SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN } },
	{ { "250-mx", "250-X-UNKNOWN foo", "250-PIPELININGX", "250-STARTTLSv2", "250 " },
	  { .esmtp = true } },
	/* Capability words on the greeting line do not count. */
	{ { "250-PIPELINING", "250 DSN" }, { .esmtp = true, .dsn = true } },
	{ { "502 5.5.1 command not recognised" }, { .esmtp = false } },
	{ { "550-mx", "550 PIPELINING" }, { .esmtp = false } },
};

static void test_caps_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(caps_rows) / sizeof(caps_rows[0]); i++) {
		const struct caps_row *row = &caps_rows[i];
		struct smtp_reply r;
		smtp_reply_init(&r);
		for (size_t k = 0; k < MAXL && row->lines[k] != NULL; k++)
			assert_int_not_equal(smtp_reply_feed(&r, row->lines[k], strlen(row->lines[k])),
			    SMTP_REPLY_BAD);
		struct smtp_caps got;
		memset(&got, 0xff, sizeof(got));
		smtp_caps_parse(&r, &got);
		const struct smtp_caps *w = &row->want;
#define CHECK_B(f) if (got.f != w->f) fail_msg("row %zu: " #f " got %d, want %d", i, got.f, w->f)
		CHECK_B(esmtp); CHECK_B(pipelining); CHECK_B(size); CHECK_B(eightbitmime);
		CHECK_B(smtputf8); CHECK_B(dsn); CHECK_B(starttls); CHECK_B(enhancedstatuscodes);
		CHECK_B(chunking); CHECK_B(binarymime); CHECK_B(requiretls);
#undef CHECK_B
		if (got.size_max != w->size_max)
			fail_msg("row %zu: size_max got %llu, want %llu", i,
			    (unsigned long long)got.size_max, (unsigned long long)w->size_max);
		if (got.auth != w->auth)
			fail_msg("row %zu: auth got %#x, want %#x", i, got.auth, w->auth);
		smtp_reply_reset(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
