/*
 * test_smtpd_auth: the pure parts of server AUTH: strict base64 and the
 * PLAIN response split (RFC 4616), one table row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd_auth.h"

struct b64_case {
	const char *in;
	int len;		/* -1: refused */
	const char *out;
};

static const struct b64_case b64_cases[] = {
	{ "", 0, "" },
	{ "Zg==", 1, "f" },
	{ "Zm8=", 2, "fo" },
	{ "Zm9v", 3, "foo" },
	{ "Zm9vYmFy", 6, "foobar" },
	{ "Zm9", -1, NULL },
	{ "Zm=v", -1, NULL },
	{ "Z===", -1, NULL },
	{ "Zm9v\r\n", -1, NULL },
	{ "Zm9*", -1, NULL },
	{ "=Zm9", -1, NULL },
	/* Bits under the padding set: another spelling of "f" / "fo", refused. */
	{ "Zh==", -1, NULL },
	{ "Zm9=", -1, NULL },
};

static void test_b64(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];
		char out[64];
		int n = smtpd_auth_b64_decode(c->in, strlen(c->in), out, sizeof(out));
		if (n != c->len)
			fail_msg("%s: got length %d, want %d", c->in, n, c->len);
		if (n > 0 && memcmp(out, c->out, (size_t)n) != 0)
			fail_msg("%s: got %.*s, want %s", c->in, n, out, c->out);
	}
	char small[2];
	assert_int_equal(smtpd_auth_b64_decode("Zm9v", 4, small, sizeof(small)), -1);
}

struct plain_case {
	const char *in;		/* with '|' for NUL */
	bool ok;
	const char *user, *pass;
};

static const struct plain_case plain_cases[] = {
	{ "|alice|secret", true, "alice", "secret" },
	{ "alice|alice|secret", true, "alice", "secret" },
	{ "bob|alice|secret", false, NULL, NULL },
	{ "|alice|", true, "alice", "" },
	{ "||secret", false, NULL, NULL },
	{ "|alice", false, NULL, NULL },
	{ "alice", false, NULL, NULL },
	{ "|alice|sec|ret", false, NULL, NULL },
};

static void test_plain(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
		const struct plain_case *c = &plain_cases[i];
		char buf[64], user[32], pass[32];
		size_t n = strlen(c->in);
		memcpy(buf, c->in, n);
		for (size_t k = 0; k < n; k++)
			if (buf[k] == '|')
				buf[k] = '\0';
		bool ok = smtpd_auth_plain_split(buf, n, user, sizeof(user), pass, sizeof(pass));
		if (ok != c->ok)
			fail_msg("%s: got %s, want %s", c->in, ok ? "ok" : "refused", c->ok ? "ok" : "refused");
		if (ok && (strcmp(user, c->user) != 0 || strcmp(pass, c->pass) != 0))
			fail_msg("%s: got user %s, want %s", c->in, user, c->user);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_plain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
