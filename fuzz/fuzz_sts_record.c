/*
 * fuzz_sts_record: hostile bytes as the TXT records of _mta-sts.DOMAIN
 * (RFC 8461 3.1), split at LF into up to eight records.
 *
 * The status must follow from the records: NONE exactly when not one of
 * them begins with "v=STSv1;", and then OK or INVALID; an id is 1 to 32
 * letters and digits and comes back from a record made of it alone.
 * Never: touches the network.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sts/sts_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define FUZZ_RECORDS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[4097];
	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* Records end at LF; a NUL inside one ends it early, as it would for the caller. */
	const char *texts[FUZZ_RECORDS];
	size_t n = 0, ours = 0;
	for (char *p = buf; n < FUZZ_RECORDS && p <= buf + size;) {
		char *nl = memchr(p, '\n', (size_t)(buf + size - p));
		if (nl != NULL)
			*nl = '\0';
		texts[n++] = p;
		ours += strncmp(p, "v=STSv1;", 8) == 0;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	char id[STS_RECORD_ID_MAX], why[128];
	enum sts_record_status st = sts_record_parse(texts, n, id, why, sizeof(why));
	FUZZ_CHECK((st == STS_RECORD_NONE) == (ours != 1));
	FUZZ_CHECK((st == STS_RECORD_OK) == (why[0] == '\0'));
	if (st != STS_RECORD_OK) {
		FUZZ_CHECK(id[0] == '\0');
		return 0;
	}
	size_t len = strlen(id);
	FUZZ_CHECK(len >= 1 && len <= 32);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK((id[i] >= '0' && id[i] <= '9') || ((id[i] | 0x20) >= 'a' && (id[i] | 0x20) <= 'z'));
	/* The id alone in a record comes back the same. */
	char rec[64], id2[STS_RECORD_ID_MAX];
	snprintf(rec, sizeof(rec), "v=STSv1; id=%s;", id);
	const char *one[] = { rec };
	FUZZ_CHECK(sts_record_parse(one, 1, id2, NULL, 0) == STS_RECORD_OK);
	FUZZ_CHECK(strcmp(id, id2) == 0);
	return 0;
}
