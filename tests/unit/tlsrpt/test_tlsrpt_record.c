/*
 * test_tlsrpt_record: the TLS-RPT TXT record (RFC 8460 3) and its rua
 * URIs, one row per set of TXT records: the status, the URIs kept (with
 * the decoded mailto: address), how many were skipped, and a word of the
 * reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tlsrpt/tlsrpt_record.h"

#define MAXT 3
#define MAXU 3

struct want_uri {
	const char *uri;
	const char *addr;	/* "" for https: */
};

struct record_row {
	const char *texts[MAXT];
	enum tlsrpt_record_status want;
	struct want_uri uris[MAXU];	/* until uri NULL */
	size_t skipped;
	const char *why;		/* a part of why, NULL to skip; "" wants it empty */
};

static const struct record_row record_rows[] = {
	/* RFC 8460 3's examples. */
	{ { "v=TLSRPTv1;rua=mailto:reports@example.com" }, TLSRPT_RECORD_OK,
	  { { "mailto:reports@example.com", "reports@example.com" } }, 0, "" },
	{ { "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt" }, TLSRPT_RECORD_OK,
	  { { "https://reporting.example.com/v1/tlsrpt", "" } }, 0, "" },
	/* A list, with white space around commas, and a trailing delimiter. */
	{ { "v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x?y=1 ;" },
	  TLSRPT_RECORD_OK, { { "mailto:a@example.com", "a@example.com" },
	  { "https://r.example.com/x?y=1", "" } }, 0, "" },
	/* Percent-decoding of the address; header fields ignored; schemes in any case. */
	{ { "v=TLSRPTv1; rua=MAILTO:tls%2Brpt@example.com?subject=x%20y" }, TLSRPT_RECORD_OK,
	  { { "MAILTO:tls%2Brpt@example.com?subject=x%20y", "tls+rpt@example.com" } }, 0, "" },
	{ { "v=TLSRPTv1; rua=mailto:%22a%20b%22@example.com,HTTPS://R.example.com" },
	  TLSRPT_RECORD_OK, { { "mailto:%22a%20b%22@example.com", "\"a b\"@example.com" },
	  { "HTTPS://R.example.com", "" } }, 0, "" },
	/* Unknown schemes and unusable URIs are skipped, the rest kept. */
	{ { "v=TLSRPTv1; rua=http://r.example.com,mailto:a@example.com,ftp://x" },
	  TLSRPT_RECORD_OK, { { "mailto:a@example.com", "a@example.com" } }, 2, "http://r" },
	{ { "v=TLSRPTv1; rua=mailto:?to=a@example.com,mailto:b@example.com" }, TLSRPT_RECORD_OK,
	  { { "mailto:b@example.com", "b@example.com" } }, 1, "without an address" },
	{ { "v=TLSRPTv1; rua=mailto:a%2Cb@example.com,https://ok.example" }, TLSRPT_RECORD_OK,
	  { { "https://ok.example", "" } }, 1, "local-part@host-name" },
	{ { "v=TLSRPTv1; rua=mailto:a%00@example.com,https://ok.example" }, TLSRPT_RECORD_OK,
	  { { "https://ok.example", "" } }, 1, "control" },
	{ { "v=TLSRPTv1; rua=mailto:caf%C3%A9@example.com,https://ok.example" }, TLSRPT_RECORD_OK,
	  { { "https://ok.example", "" } }, 1, "non-ASCII" },
	{ { "v=TLSRPTv1; rua=mailto:a@[192.0.2.1],https://ok.example" }, TLSRPT_RECORD_OK,
	  { { "https://ok.example", "" } }, 1, "host-name" },
	{ { "v=TLSRPTv1; rua=mailto:a..b@example.com,https://ok.example" }, TLSRPT_RECORD_OK,
	  { { "https://ok.example", "" } }, 1, "local-part" },
	{ { "v=TLSRPTv1; rua=https:/x,https:?q,https://ok.example" }, TLSRPT_RECORD_OK,
	  { { "https://ok.example", "" } }, 2, "without a host" },
	/* Extensions and a repeated rua (the first counts). */
	{ { "v=TLSRPTv1; x-ext=1; rua=mailto:a@example.com; rua=mailto:b@example.com" },
	  TLSRPT_RECORD_OK, { { "mailto:a@example.com", "a@example.com" } }, 0, "" },
	/* Other TXT records at the name are discarded. */
	{ { "v=spf1 -all", "v=TLSRPTv1;rua=mailto:r@example.com" }, TLSRPT_RECORD_OK,
	  { { "mailto:r@example.com", "r@example.com" } }, 0, "" },

	/* Not exactly one record beginning with "v=TLSRPTv1;". */
	{ { NULL }, TLSRPT_RECORD_NONE, { { NULL } }, 0, "no TXT record" },
	{ { "v=TLSRPTv1;rua=mailto:a@example.com", "v=TLSRPTv1;rua=mailto:b@example.com" },
	  TLSRPT_RECORD_NONE, { { NULL } }, 0, "2 TXT records" },
	{ { "v=tlsrptv1;rua=mailto:a@example.com" }, TLSRPT_RECORD_NONE, { { NULL } }, 0, NULL },
	{ { "v=TLSRPTv1 ;rua=mailto:a@example.com" }, TLSRPT_RECORD_NONE, { { NULL } }, 0, NULL },
	{ { "v=TLSRPTv2;rua=mailto:a@example.com" }, TLSRPT_RECORD_NONE, { { NULL } }, 0, NULL },

	/* Exactly one, but invalid. */
	{ { "v=TLSRPTv1;" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0, "no field" },
	{ { "v=TLSRPTv1; x=1" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0, "no rua" },
	{ { "v=TLSRPTv1; rua=" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0, "not a URI" },
	{ { "v=TLSRPTv1; rua=reports@example.com" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "not a URI" },
	{ { "v=TLSRPTv1; rua=mailto:a@example.com,,mailto:b@example.com" }, TLSRPT_RECORD_INVALID,
	  { { NULL } }, 0, "not a URI" },
	{ { "v=TLSRPTv1; rua=mailto:a@example.com,"}, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "not a URI" },
	{ { "v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com" }, TLSRPT_RECORD_INVALID,
	  { { NULL } }, 0, "\",\"" },
	{ { "v=TLSRPTv1; rua=mailto:hey!there@example.com" }, TLSRPT_RECORD_INVALID, { { NULL } },
	  0, "not a URI" },
	{ { "v=TLSRPTv1; rua=https://r.example.com/a b" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "\",\"" },
	{ { "v=TLSRPTv1; rua=https://r.example.com/%zz" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "not a URI" },
	{ { "v=TLSRPTv1; rua=https://r.example.com/\"x\"" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "not a URI" },
	{ { "v=TLSRPTv1; rua=1https://r.example.com" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "not a URI" },
	{ { "v=TLSRPTv1; rua=mailto:a@example.com; x=" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "empty value" },
	{ { "v=TLSRPTv1; rua=mailto:a@example.com; x=a b" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "\";\"" },
	{ { "v=TLSRPTv1; rua=mailto:a@example.com;; x=1" }, TLSRPT_RECORD_INVALID, { { NULL } }, 0,
	  "field name" },
	/* A repeated rua is ignored but must still be a URI list. */
	{ { "v=TLSRPTv1; rua=mailto:a@example.com; rua=nope" }, TLSRPT_RECORD_INVALID, { { NULL } },
	  0, "not a URI" },

	/* Valid, but nothing to send to. */
	{ { "v=TLSRPTv1; rua=http://r.example.com" }, TLSRPT_RECORD_NO_URI, { { NULL } }, 1,
	  "not mailto: or https:" },
	{ { "v=TLSRPTv1; rua=mailto:" }, TLSRPT_RECORD_NO_URI, { { NULL } }, 1, "without an address" },
};

static void test_record_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(record_rows) / sizeof(record_rows[0]); i++) {
		const struct record_row *row = &record_rows[i];
		size_t nt = 0;
		while (nt < MAXT && row->texts[nt] != NULL)
			nt++;
		struct tlsrpt_rua rua;
		char why[200];
		enum tlsrpt_record_status got = tlsrpt_record_parse(row->texts, nt, &rua, why,
		    sizeof(why));
		if (got != row->want)
			fail_msg("row %zu (%s): got %s, want %s (why \"%s\")", i,
			    nt > 0 ? row->texts[nt - 1] : "-", tlsrpt_record_status_name(got),
			    tlsrpt_record_status_name(row->want), why);
		size_t nu = 0;
		while (nu < MAXU && row->uris[nu].uri != NULL)
			nu++;
		if (rua.n != nu)
			fail_msg("row %zu: got %zu URIs, want %zu", i, rua.n, nu);
		for (size_t k = 0; k < nu; k++) {
			const struct tlsrpt_uri *u = &rua.u[k];
			enum tlsrpt_uri_kind kind = row->uris[k].addr[0] != '\0' ? TLSRPT_MAILTO :
			    TLSRPT_HTTPS;
			if (u->kind != kind || strcmp(u->uri, row->uris[k].uri) != 0 ||
			    strcmp(u->addr, row->uris[k].addr) != 0)
				fail_msg("row %zu URI %zu: got %d \"%s\" \"%s\", want %d \"%s\" \"%s\"", i, k,
				    u->kind, u->uri, u->addr, kind, row->uris[k].uri, row->uris[k].addr);
		}
		if (rua.skipped != row->skipped)
			fail_msg("row %zu: skipped got %zu, want %zu (%s)", i, rua.skipped, row->skipped,
			    why);
		if (row->why != NULL && row->why[0] == '\0' && why[0] != '\0')
			fail_msg("row %zu: why got \"%s\", want \"\"", i, why);
		if (row->why != NULL && strstr(why, row->why) == NULL)
			fail_msg("row %zu: why got \"%s\", want it to hold \"%s\"", i, why, row->why);
		if (got != TLSRPT_RECORD_OK && why[0] == '\0')
			fail_msg("row %zu: %s without a reason", i, tlsrpt_record_status_name(got));
	}
}

/* At most TLSRPT_RUA_MAX URIs are kept; the rest are counted. */
static void test_record_cap(void **state)
{
	(void)state;
	char text[1024];
	size_t n = (size_t)snprintf(text, sizeof(text), "v=TLSRPTv1; rua=");
	for (int i = 0; i < 10; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%smailto:r%d@example.com",
		    i > 0 ? "," : "", i);
	const char *texts[] = { text };
	struct tlsrpt_rua rua;
	char why[200];
	assert_int_equal(tlsrpt_record_parse(texts, 1, &rua, why, sizeof(why)), TLSRPT_RECORD_OK);
	assert_int_equal(rua.n, TLSRPT_RUA_MAX);
	assert_int_equal(rua.skipped, 2);
	assert_string_equal(rua.u[7].addr, "r7@example.com");
	assert_non_null(strstr(why, "more than 8"));
}

/* A URI longer than the field is skipped; the longest that fits is kept. */
static void test_record_long_uri(void **state)
{
	(void)state;
	static char text[2048];
	char path[TLSRPT_URI_MAX];
	size_t plen = TLSRPT_URI_MAX - 1 - strlen("https://r.example/");
	memset(path, 'p', plen);
	path[plen] = '\0';
	snprintf(text, sizeof(text), "v=TLSRPTv1; rua=https://r.example/%s,https://r.example/%sq",
	    path, path);
	const char *texts[] = { text };
	struct tlsrpt_rua rua;
	char why[200];
	assert_int_equal(tlsrpt_record_parse(texts, 1, &rua, why, sizeof(why)), TLSRPT_RECORD_OK);
	assert_int_equal(rua.n, 1);
	assert_int_equal(strlen(rua.u[0].uri), TLSRPT_URI_MAX - 1);
	assert_int_equal(rua.skipped, 1);
	assert_non_null(strstr(why, "longer than 511"));
	/* A local part of 65 octets is refused, 64 kept. */
	char local[66];
	memset(local, 'l', 65);
	local[65] = '\0';
	snprintf(text, sizeof(text), "v=TLSRPTv1; rua=mailto:%s@example.com,mailto:%.64s@example.com",
	    local, local);
	assert_int_equal(tlsrpt_record_parse(texts, 1, &rua, why, sizeof(why)), TLSRPT_RECORD_OK);
	assert_int_equal(rua.n, 1);
	assert_int_equal(strlen(rua.u[0].addr), 64 + strlen("@example.com"));
}

/* NULL entries are skipped; a refusal clears what was taken; a small why is cut. */
static void test_record_misc(void **state)
{
	(void)state;
	const char *texts[] = { NULL, "v=TLSRPTv1;rua=mailto:a@example.com", NULL };
	struct tlsrpt_rua rua;
	assert_int_equal(tlsrpt_record_parse(texts, 3, &rua, NULL, 0), TLSRPT_RECORD_OK);
	assert_int_equal(rua.n, 1);
	const char *bad[] = { "v=TLSRPTv1;rua=mailto:a@example.com,https://b.example; x==" };
	char why[6];
	assert_int_equal(tlsrpt_record_parse(bad, 1, &rua, why, sizeof(why)), TLSRPT_RECORD_INVALID);
	assert_int_equal(rua.n, 0);
	assert_int_equal(strlen(why), sizeof(why) - 1);
	assert_string_equal(tlsrpt_record_status_name(TLSRPT_RECORD_NO_URI), "no usable uri");
	assert_string_equal(tlsrpt_record_status_name((enum tlsrpt_record_status)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_rows),
		cmocka_unit_test(test_record_cap),
		cmocka_unit_test(test_record_long_uri),
		cmocka_unit_test(test_record_misc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
