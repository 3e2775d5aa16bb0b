/*
 * fuzz_tlsrpt_record: hostile bytes as the TXT records of _smtp._tls.DOMAIN
 * (RFC 8460 3), split at LF into up to eight records.
 *
 * The status must follow from the records (NONE exactly when not one
 * begins with "v=TLSRPTv1;"); every URI kept is of its kind with a usable
 * address for mailto:; and a record written from the URIs kept parses
 * back to the same URIs, none skipped. Never: touches the network.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tlsrpt/tlsrpt_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define FUZZ_RECORDS 8

/* What a kept URI must be. */
static void fuzz_check_uri(const struct tlsrpt_uri *u)
{
	size_t n = strnlen(u->uri, TLSRPT_URI_MAX);
	FUZZ_CHECK(n > 0 && n < TLSRPT_URI_MAX);
	size_t a = strnlen(u->addr, TLSRPT_ADDR_MAX);
	FUZZ_CHECK(a < TLSRPT_ADDR_MAX);
	if (u->kind == TLSRPT_HTTPS) {
		FUZZ_CHECK(strncasecmp(u->uri, "https://", 8) == 0 && n > 8 && a == 0);
		return;
	}
	FUZZ_CHECK(u->kind == TLSRPT_MAILTO);
	FUZZ_CHECK(strncasecmp(u->uri, "mailto:", 7) == 0);
	const char *at = strrchr(u->addr, '@');
	FUZZ_CHECK(a >= 3 && at != NULL && at > u->addr && at[1] != '\0');
	for (size_t i = 0; i < a; i++)
		FUZZ_CHECK((unsigned char)u->addr[i] >= 0x20 && (unsigned char)u->addr[i] <= 0x7e);
}

/* A record of the URIs kept parses back to the same URIs. */
static void fuzz_round_trip(const struct tlsrpt_rua *rua)
{
	static char rec[TLSRPT_RUA_MAX * TLSRPT_URI_MAX + 64];
	size_t pos = (size_t)snprintf(rec, sizeof(rec), "v=TLSRPTv1; rua=");
	for (size_t i = 0; i < rua->n; i++)
		pos += (size_t)snprintf(rec + pos, sizeof(rec) - pos, "%s%s", i > 0 ? " , " : "",
		    rua->u[i].uri);
	static struct tlsrpt_rua back;
	const char *one[] = { rec };
	FUZZ_CHECK(tlsrpt_record_parse(one, 1, &back, NULL, 0) == TLSRPT_RECORD_OK);
	FUZZ_CHECK(back.n == rua->n && back.skipped == 0);
	for (size_t i = 0; i < rua->n; i++)
		FUZZ_CHECK(back.u[i].kind == rua->u[i].kind && strcmp(back.u[i].uri, rua->u[i].uri) == 0 &&
		    strcmp(back.u[i].addr, rua->u[i].addr) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[4097];
	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	const char *texts[FUZZ_RECORDS];
	size_t n = 0, ours = 0;
	for (char *p = buf; n < FUZZ_RECORDS && p <= buf + size;) {
		char *nl = memchr(p, '\n', (size_t)(buf + size - p));
		if (nl != NULL)
			*nl = '\0';
		texts[n++] = p;
		ours += strncmp(p, "v=TLSRPTv1;", 11) == 0;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	static struct tlsrpt_rua rua;
	char why[200];
	enum tlsrpt_record_status st = tlsrpt_record_parse(texts, n, &rua, why, sizeof(why));
	FUZZ_CHECK((st == TLSRPT_RECORD_NONE) == (ours != 1));
	FUZZ_CHECK(st == TLSRPT_RECORD_OK || why[0] != '\0');
	FUZZ_CHECK(rua.n <= TLSRPT_RUA_MAX);
	FUZZ_CHECK((st == TLSRPT_RECORD_OK) == (rua.n > 0));
	if (st == TLSRPT_RECORD_NONE || st == TLSRPT_RECORD_INVALID)
		FUZZ_CHECK(rua.n == 0 && rua.skipped == 0);
	if (st == TLSRPT_RECORD_NO_URI)
		FUZZ_CHECK(rua.skipped > 0);
	for (size_t i = 0; i < rua.n; i++)
		fuzz_check_uri(&rua.u[i]);
	if (st == TLSRPT_RECORD_OK)
		fuzz_round_trip(&rua);
	return 0;
}
