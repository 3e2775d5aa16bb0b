/*
 * utf8: one UTF-8 sequence checked (see utf8.h).
 */
#include "util/utf8.h"

size_t utf8_seq_len(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	if (len == 0)
		return 0;
	unsigned char c = u[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;	/* bounds of the second octet */
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* over U+10FFFF */
	} else {
		return 0;
	}
	if (len < n || u[1] < lo || u[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if (u[k] < 0x80 || u[k] > 0xbf)
			return 0;
	return n;
}
