/*
 * test_dns_idna: table tests for UTF-8 domain names to A-labels: mapped
 * and plain U-labels, ASCII passed through, invalid UTF-8, disallowed code
 * points, bad labels, and an output buffer too small.
 * Never: touches the network.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dns/dns_idna.h"
#include "dns/dns_rr.h"

struct idna_row {
	const char *what;
	const char *in;
	const char *want;	/* the A-label form, or NULL for a failure */
	const char *why;	/* a word the failure reason holds */
};

static void test_to_ascii(void **state)
{
	(void)state;
	static const struct idna_row rows[] = {
		{ "one U-label", "b\xc3\xbc" "cher.example", "xn--bcher-kva.example", NULL },
		{ "upper case mapped", "B\xc3\x9c" "CHER.Example", "xn--bcher-kva.example", NULL },
		{ "fullwidth mapped", "\xef\xbd\x82\xc3\xbc\xef\xbd\x83her.test", "xn--bcher-kva.test", NULL },
		{ "trailing dot kept", "b\xc3\xbc" "cher.example.", "xn--bcher-kva.example.", NULL },
		{ "sharp s non-transitional", "fa\xc3\x9f.de", "xn--fa-hia.de", NULL },
		{ "every label converted", "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88",
		  "xn--r8jz45g.xn--zckzah", NULL },
		{ "ASCII unchanged", "mx1.a.test", "mx1.a.test", NULL },
		{ "invalid UTF-8 lead", "\xc3\x28.test", NULL, "encoding" },
		{ "invalid octet 0xff", "\xff.test", NULL, "encoding" },
		{ "truncated sequence", "b\xc3", NULL, "encoding" },
		{ "overlong encoding", "\xc0\xaf.test", NULL, "encoding" },
		{ "UTF-16 surrogate", "\xed\xa0\x80.test", NULL, "encoding" },
		{ "C1 control", "\xc2\x80.test", NULL, "disallowed" },
		{ "symbol", "\xe2\x98\x83.test", NULL, "disallowed" },
		{ "noncharacter", "\xef\xbf\xbf.test", NULL, "disallowed" },
		{ "ZWJ out of context", "a\xe2\x80\x8d" "b.test", NULL, "context" },
		{ "mixed direction", "a\xd7\x90.test", NULL, "bi-directional" },
		{ "leading hyphen", "-\xc3\xbc.test", NULL, "hyphen" },
		{ "fake A-label", "xn--\xc3\xbc.test", NULL, "punycode" },
		{ "label too long",
		  "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		  "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		  "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		  "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		  "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		  "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		  "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc.test", NULL, "large" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[DNS_RR_NAME_MAX];
		const char *why = NULL;
		bool ok = dns_idna_to_ascii(rows[i].in, out, sizeof(out), &why);
		if (rows[i].want != NULL) {
			if (!ok)
				fail_msg("%s: got failure \"%s\", want \"%s\"", rows[i].what, why, rows[i].want);
			if (strcmp(out, rows[i].want) != 0)
				fail_msg("%s: got \"%s\", want \"%s\"", rows[i].what, out, rows[i].want);
			continue;
		}
		if (ok)
			fail_msg("%s: got \"%s\", want a failure", rows[i].what, out);
		if (why == NULL || strstr(why, rows[i].why) == NULL)
			fail_msg("%s: got reason \"%s\", want one with \"%s\"", rows[i].what,
			    why != NULL ? why : "(null)", rows[i].why);
	}
}

/* A result that does not fit the caller's buffer is a failure, never cut short. */
static void test_to_ascii_small_buffer(void **state)
{
	(void)state;
	const char *in = "b\xc3\xbc" "cher.example";	/* 21 octets as A-labels */
	const size_t caps[] = { 1, 10, 21 };
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		char out[32];
		const char *why = NULL;
		memset(out, 'x', sizeof(out));
		if (dns_idna_to_ascii(in, out, caps[i], &why))
			fail_msg("cap %zu: got \"%s\", want a failure", caps[i], out);
		if (why == NULL || strstr(why, "too long") == NULL)
			fail_msg("cap %zu: got reason \"%s\", want \"name too long\"", caps[i],
			    why != NULL ? why : "(null)");
	}
	char out[22];
	const char *why = NULL;
	if (!dns_idna_to_ascii(in, out, sizeof(out), &why))
		fail_msg("cap 22: got failure \"%s\", want xn--bcher-kva.example", why);
	char big[DNS_IDNA_INPUT_MAX + 8];
	memset(big, 'a', sizeof(big) - 1);
	big[0] = (char)0xc3;
	big[1] = (char)0xbc;
	big[sizeof(big) - 1] = '\0';
	if (dns_idna_to_ascii(big, out, sizeof(out), &why))
		fail_msg("input over %d octets: got \"%s\", want a failure", DNS_IDNA_INPUT_MAX, out);
}

struct needed_row {
	const char *in;
	bool want;
};

static void test_needed(void **state)
{
	(void)state;
	static const struct needed_row rows[] = {
		{ "", false },
		{ "a.test", false },
		{ "xn--bcher-kva.example", false },
		{ "A-_9.Test.", false },
		{ "b\xc3\xbc" "cher.example", true },
		{ "a.test\x80", true },
		{ "\xff", true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = dns_idna_needed(rows[i].in);
		if (got != rows[i].want)
			fail_msg("row %zu: got %d, want %d", i, got, rows[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_ascii),
		cmocka_unit_test(test_to_ascii_small_buffer),
		cmocka_unit_test(test_needed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
