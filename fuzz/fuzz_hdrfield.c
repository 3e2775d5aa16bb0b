/*
 * fuzz_hdrfield: arbitrary bytes as a header section, walked field by
 * field. Fields must follow one another from the start without gaps or
 * overlap, lie within the input, have their name and value inside
 * themselves, and unfold to no more octets than they hold; the address
 * list of each value must come back with every address non-empty.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_hdrfield.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *hdr = (const char *)data;
	size_t pos = 0, expect = 0;
	struct smtp_hdrfield f;
	struct smtp_hdrfield_addrs l = { 0 };
	while (smtp_hdrfield_next(hdr, size, &pos, &f)) {
		if (f.start != hdr + expect || f.len == 0 || pos != expect + f.len || pos > size)
			abort();
		if (f.name_len > f.len || (f.name_len > 0 && (f.value < f.start ||
		    f.value + f.value_len != f.start + f.len)))
			abort();
		if (f.name_len > 0) {
			size_t n;
			char *v = smtp_hdrfield_unfold(&f, &n);
			if (n > f.value_len || strlen(v) > n)
				abort();
			smtp_hdrfield_addrs_parse(&l, v, n);
			free(v);
		}
		expect = pos;
	}
	if (pos != expect || pos > size)
		abort();
	for (size_t i = 0; i < l.n; i++)
		if (l.a[i] == NULL || l.a[i][0] == '\0')
			abort();
	smtp_hdrfield_addrs_free(&l);
	return 0;
}
