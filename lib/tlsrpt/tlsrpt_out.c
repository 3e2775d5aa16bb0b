/*
 * tlsrpt_out: a bounded text writer over a caller's buffer.
 *
 * Owns: the rule that an octet is stored only when it and a NUL still fit,
 * and that the length goes on counting past the end (snprintf's contract).
 * Never: allocates or writes past cap.
 */
#include "tlsrpt_out.h"

#include <string.h>

void tlsrpt_out_init(struct tlsrpt_out *o, char *buf, size_t cap)
{
	o->buf = buf;
	o->cap = buf != NULL ? cap : 0;
	o->len = 0;
	o->cut = false;
}

void tlsrpt_out_mem(struct tlsrpt_out *o, const void *p, size_t n)
{
	/* Once one piece is cut, nothing after it is stored. */
	if (!o->cut && o->len < o->cap && n < o->cap - o->len)
		memcpy(o->buf + o->len, p, n);
	else
		o->cut = true;
	o->len += n;
}

void tlsrpt_out_str(struct tlsrpt_out *o, const char *s)
{
	tlsrpt_out_mem(o, s, strlen(s));
}

void tlsrpt_out_char(struct tlsrpt_out *o, char c)
{
	tlsrpt_out_mem(o, &c, 1);
}

void tlsrpt_out_u64(struct tlsrpt_out *o, uint64_t v)
{
	char digits[20];
	size_t n = 0;
	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	tlsrpt_out_mem(o, digits + sizeof(digits) - n, n);
}

bool tlsrpt_out_finish(struct tlsrpt_out *o)
{
	if (!o->cut && o->len < o->cap) {
		o->buf[o->len] = '\0';
		return true;
	}
	if (o->buf != NULL && o->cap > 0)
		o->buf[0] = '\0';
	return false;
}
