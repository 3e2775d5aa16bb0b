/*
 * test_client_tlspol_names: the names of the TLS policy levels and of what
 * authenticated a server (client_tlspol_names.c), one row per name: each
 * level's name parses back to it, the older names "opportunistic" and
 * "required" are read but never written, and any other spelling is
 * refused without touching the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "mxrelay/mxrelay.h"

struct name_row {
	const char *name;
	bool ok;
	enum mxr_tls_policy policy;	/* ok only */
	const char *written;		/* ok only: mxr_tls_policy_name of it */
};

static const struct name_row name_rows[] = {
	{ "none", true, MXR_TLS_NONE, "none" },
	{ "may", true, MXR_TLS_OPPORTUNISTIC, "may" },
	{ "encrypt", true, MXR_TLS_ENCRYPT, "encrypt" },
	{ "verify", true, MXR_TLS_REQUIRED, "verify" },
	{ "implicit", true, MXR_TLS_IMPLICIT, "implicit" },
	{ "dane", true, MXR_TLS_DANE, "dane" },
	{ "dane-only", true, MXR_TLS_DANE_ONLY, "dane-only" },
	{ "mta-sts", true, MXR_TLS_MTA_STS, "mta-sts" },
	/* The older names are read, and written as today's. */
	{ "opportunistic", true, MXR_TLS_OPPORTUNISTIC, "may" },
	{ "required", true, MXR_TLS_REQUIRED, "verify" },
	/* Exact, lower-case names only. */
	{ "", false, 0, NULL },
	{ "MAY", false, 0, NULL },
	{ "Verify", false, 0, NULL },
	{ "dane_only", false, 0, NULL },
	{ "daneonly", false, 0, NULL },
	{ "mta-sts ", false, 0, NULL },
	{ " none", false, 0, NULL },
	{ "sts", false, 0, NULL },
	{ "mta", false, 0, NULL },
	{ "dan", false, 0, NULL },
	{ "unknown", false, 0, NULL },
	{ "tls", false, 0, NULL },
	{ "pkix", false, 0, NULL },
};

static void test_policy_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_rows) / sizeof(name_rows[0]); i++) {
		const struct name_row *r = &name_rows[i];
		/* A value no level has: a refusal must leave it there. */
		enum mxr_tls_policy got = (enum mxr_tls_policy)77;
		bool ok = mxr_tls_policy_parse(r->name, &got);
		if (ok != r->ok)
			fail_msg("\"%s\": got %s, want %s", r->name, ok ? "a level" : "refused",
			    r->ok ? "a level" : "refused");
		if (!ok) {
			if ((int)got != 77)
				fail_msg("\"%s\": refused, but the output got %d, want it untouched",
				    r->name, (int)got);
			continue;
		}
		if (got != r->policy)
			fail_msg("\"%s\": got level %d, want %d", r->name, (int)got, (int)r->policy);
		const char *w = mxr_tls_policy_name(got);
		if (strcmp(w, r->written) != 0)
			fail_msg("\"%s\": written back as \"%s\", want \"%s\"", r->name, w, r->written);
	}
}

/* Every level has a name of its own, and that name parses back to it. */
static void test_policy_round_trip(void **state)
{
	(void)state;
	for (int p = MXR_TLS_OPPORTUNISTIC; p <= MXR_TLS_MTA_STS; p++) {
		const char *name = mxr_tls_policy_name((enum mxr_tls_policy)p);
		enum mxr_tls_policy back;
		if (strcmp(name, "unknown") == 0)
			fail_msg("level %d: got name \"unknown\", want its own", p);
		if (!mxr_tls_policy_parse(name, &back) || (int)back != p)
			fail_msg("level %d: \"%s\" parses back to %d, want %d", p, name, (int)back, p);
		for (int q = MXR_TLS_OPPORTUNISTIC; q < p; q++)
			if (strcmp(name, mxr_tls_policy_name((enum mxr_tls_policy)q)) == 0)
				fail_msg("levels %d and %d: both named \"%s\"", q, p, name);
	}
	const char *n = mxr_tls_policy_name((enum mxr_tls_policy)99);
	if (strcmp(n, "unknown") != 0)
		fail_msg("level 99: got \"%s\", want \"unknown\"", n);
}

static void test_auth_name(void **state)
{
	(void)state;
	static const struct {
		int auth;
		const char *want;
	} rows[] = {
		{ MXR_TLS_AUTH_NONE, "none" },
		{ MXR_TLS_AUTH_PKIX, "pkix" },
		{ MXR_TLS_AUTH_DANE, "dane" },
		{ MXR_TLS_AUTH_MTA_STS, "mta-sts" },
		{ 99, "unknown" },
		{ -1, "unknown" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *got = mxr_tls_auth_name((enum mxr_tls_auth)rows[i].auth);
		if (strcmp(got, rows[i].want) != 0)
			fail_msg("auth %d: got \"%s\", want \"%s\"", rows[i].auth, got, rows[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_policy_round_trip),
		cmocka_unit_test(test_auth_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
