/*
 * fuzz_idna: hostile octets through the UTF-8 to A-label conversion.
 *
 * The input, cut at its first NUL, is a domain name as a recipient might
 * write it. The result must be ASCII that fits the buffer, or an error
 * with a reason; a name needing no conversion is never reported as one
 * that does after it. Never: touches the network.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns/dns_idna.h"
#include "dns/dns_rr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[DNS_IDNA_INPUT_MAX + 64];
	size_t m = size < sizeof(in) - 1 ? size : sizeof(in) - 1;
	memcpy(in, data, m);
	in[m] = '\0';

	char out[DNS_RR_NAME_MAX];
	const char *why = NULL;
	if (dns_idna_to_ascii(in, out, sizeof(out), &why)) {
		size_t n = strnlen(out, sizeof(out));
		if (n >= sizeof(out) || dns_idna_needed(out))
			__builtin_trap();
		char norm[DNS_RR_NAME_MAX];
		(void)dns_rr_name_normalize(out, norm, sizeof(norm));
	} else if (why == NULL || why[0] == '\0') {
		__builtin_trap();
	}
	/* A tiny buffer: still a NUL-terminated ASCII result or an error. */
	char small[8];
	if (dns_idna_to_ascii(in, small, sizeof(small), &why) &&
	    (strnlen(small, sizeof(small)) >= sizeof(small) || dns_idna_needed(small)))
		__builtin_trap();
	return 0;
}
