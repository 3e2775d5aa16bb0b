/*
 * fuzz_hdr: arbitrary bytes as a message for "-t": the end of the header
 * section, its recipients (To, Cc, Bcc) and the header without Bcc. The
 * header found must lie within the input, the rewritten header may only
 * lose octets, and reading the rewritten header again finds no more
 * recipients than the first reading did.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_hdrrcpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	size_t end = smtp_hdrrcpt_end(msg, size);
	if (end > size)
		abort();
	size_t hlen = end != 0 ? end : size;
	struct smtp_hdrrcpt r;
	smtp_hdrrcpt_parse(msg, hlen, &r);
	if (r.header_len > hlen || (r.header == NULL && r.header_len != 0))
		abort();
	for (size_t i = 0; i < r.n; i++)
		if (r.addrs[i] == NULL)
			abort();
	if (r.header != NULL) {
		struct smtp_hdrrcpt again;
		smtp_hdrrcpt_parse(r.header, r.header_len, &again);
		if (again.n > r.n || again.header_len != r.header_len)
			abort();
		smtp_hdrrcpt_free(&again);
	}
	smtp_hdrrcpt_free(&r);
	return 0;
}
