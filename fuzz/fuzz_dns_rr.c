/*
 * fuzz_dns_rr: hostile record data through the dns_rr parsers.
 *
 * The input is a sequence of MX rdata records, each prefixed by a one-octet
 * length, as they might come out of an answer; every parsed record then
 * goes through the ordering, and the raw bytes through the name, address
 * and normalisation helpers. Never: touches the network.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns/dns_rr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed sequence is enough: the ordering is checked, not its randomness. */
static uint32_t fuzz_rand(void *arg, uint32_t bound)
{
	uint32_t *state = arg;
	*state = *state * 1103515245u + 12345u;
	return (*state >> 8) % bound;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_rr_mx mx[64];
	size_t n = 0, pos = 0;
	while (pos < size && n < 64) {
		size_t len = data[pos++];
		if (len > size - pos)
			len = size - pos;
		if (dns_rr_mx_parse(data + pos, len, &mx[n]) == DNS_RR_OK) {
			if (strlen(mx[n].name) >= DNS_RR_NAME_MAX)
				__builtin_trap();
			n++;
		}
		pos += len;
	}
	uint32_t state = (uint32_t)size;
	size_t kept = dns_rr_mx_order(mx, n, 32, fuzz_rand, &state);
	if (kept > n || kept > 32)
		__builtin_trap();
	for (size_t i = 1; i < kept; i++)
		if (mx[i].pref < mx[i - 1].pref)
			__builtin_trap();

	char text[DNS_RR_NAME_MAX];
	size_t used;
	if (dns_rr_name_to_text(data, size, &used, text, sizeof(text)) == DNS_RR_OK && used > size)
		__builtin_trap();
	struct sockaddr_storage ss;
	(void)dns_rr_addr_parse(size % 2 ? 2 : 10, data, size, &ss);

	char in[300], out[DNS_RR_NAME_MAX];
	size_t m = size < sizeof(in) - 1 ? size : sizeof(in) - 1;
	memcpy(in, data, m);
	in[m] = '\0';
	if (dns_rr_name_normalize(in, out, sizeof(out)) == DNS_RR_OK && strlen(out) > 253)
		__builtin_trap();
	return 0;
}
