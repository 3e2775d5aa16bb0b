/*
 * fuzz_dns_tlsa: hostile TLSA rdata through dns_rr_tlsa_parse.
 *
 * The input is a sequence of rdata, each prefixed by a two-octet length,
 * as an answer's records come. A record accepted must point inside its
 * rdata with at least one octet of data after the three fields.
 * Never: touches the network.
 */
#include <stddef.h>
#include <stdint.h>

#include "dns/dns_rr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	while (pos + 2 <= size) {
		size_t len = (size_t)data[pos] << 8 | data[pos + 1];
		pos += 2;
		if (len > size - pos)
			len = size - pos;
		struct dns_rr_tlsa t;
		if (dns_rr_tlsa_parse(data + pos, len, &t) == DNS_RR_OK) {
			if (len < 4 || t.len != len - 3 || t.data != data + pos + 3 || t.len == 0)
				__builtin_trap();
			volatile uint8_t last = t.data[t.len - 1];
			(void)last;
		} else if (len >= 4) {
			__builtin_trap();
		}
		pos += len;
	}
	return 0;
}
