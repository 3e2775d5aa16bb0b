/*
 * fuzz_dns_anchor: hostile trust-anchor text through dns_anchor_parse.
 *
 * The input is the text of a dnssec_trust_anchor file. Every record handed
 * to the callback must be one line of printable ASCII that fits the cap
 * and itself parses again to the same single record; a failure must carry
 * a reason and a line within the text. Never: touches the network.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns/dns_anchor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each record must be canonical: parsing it alone gives it back unchanged. */
static const char *fuzz_again(void *arg, const char *rr, unsigned line)
{
	(void)arg;
	size_t n = strlen(rr);
	if (n == 0 || n >= DNS_ANCHOR_RR_MAX || line == 0)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)rr[i] < 0x20 || (unsigned char)rr[i] > 0x7e)
			__builtin_trap();
	return NULL;
}

static const char *fuzz_same(void *arg, const char *rr, unsigned line)
{
	(void)line;
	if (strcmp(rr, (const char *)arg) != 0)
		__builtin_trap();
	return NULL;
}

static const char *fuzz_each(void *arg, const char *rr, unsigned line)
{
	(void)arg;
	(void)fuzz_again(NULL, rr, line);
	unsigned bad = 0;
	char err[128];
	if (dns_anchor_parse(rr, strlen(rr), fuzz_same, (void *)rr, &bad, err, sizeof(err)) != 1)
		__builtin_trap();
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned bad = 0;
	char err[128];
	err[0] = '\0';
	int n = dns_anchor_parse((const char *)data, size, fuzz_each, NULL, &bad, err, sizeof(err));
	if (n == 0 || n > DNS_ANCHOR_RECORDS_MAX)
		__builtin_trap();
	if (n < 0) {
		size_t lines = 1;
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		if (err[0] == '\0' || bad > lines)
			__builtin_trap();
	}
	return 0;
}
