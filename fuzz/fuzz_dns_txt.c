/*
 * fuzz_dns_txt: hostile TXT rdata through dns_rr_txt_parse.
 *
 * The whole input is one rdata, parsed into a roomy buffer and a small
 * one: an accepted record's joined length is below its rdata length, the
 * text fits exactly (or is "" when it does not), and the two parses agree.
 * Never: touches the network.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns/dns_rr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char big[70000];
	char small[16];
	size_t jb = 0, js = 0;
	enum dns_rr_status sb = dns_rr_txt_parse(data, size, big, sizeof(big), &jb);
	enum dns_rr_status ss = dns_rr_txt_parse(data, size, small, sizeof(small), &js);
	if (sb != ss || jb != js)
		__builtin_trap();
	if (sb != DNS_RR_OK)
		return 0;
	if (size == 0 || jb >= size || jb >= sizeof(big) || big[jb] != '\0')
		__builtin_trap();
	if (js >= sizeof(small) ? small[0] != '\0' : memcmp(small, big, js + 1) != 0)
		__builtin_trap();
	return 0;
}
