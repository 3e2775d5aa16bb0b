/*
 * dkim_buf: a growable octet buffer with a cap fixed at creation.
 *
 * Owns: growth by doubling up to the cap, the NUL kept after the octets,
 * base64 through OpenSSL's encoder.
 * Never: lets len pass max; leaves the buffer half-written by a refused
 * addition.
 */
#include "dkim_buf.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/xalloc.h"

#define DKIM_BUF_FIRST 256

void dkim_buf_init(struct dkim_buf *b, size_t max)
{
	*b = (struct dkim_buf){ .max = max };
}

char *dkim_buf_room(struct dkim_buf *b, size_t n)
{
	if (b->over || n > b->max - b->len) {
		b->over = true;
		return NULL;
	}
	/* Room for the octets and the NUL after them. */
	size_t need = b->len + n + 1;
	if (need > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : DKIM_BUF_FIRST;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	return b->p + b->len;
}

void dkim_buf_commit(struct dkim_buf *b, size_t n)
{
	b->len += n;
	b->p[b->len] = '\0';
}

bool dkim_buf_add(struct dkim_buf *b, const void *p, size_t n)
{
	char *at = dkim_buf_room(b, n);
	if (at == NULL)
		return false;
	if (n > 0)
		memcpy(at, p, n);
	dkim_buf_commit(b, n);
	return true;
}

bool dkim_buf_adds(struct dkim_buf *b, const char *s)
{
	return dkim_buf_add(b, s, strlen(s));
}

bool dkim_buf_add_b64(struct dkim_buf *b, const unsigned char *p, size_t n)
{
	/* EVP_EncodeBlock takes an int: our inputs are signatures and digests. */
	if (n > INT_MAX / 4 * 3 - 3) {
		b->over = true;
		return false;
	}
	size_t out = (n + 2) / 3 * 4;
	/* EVP_EncodeBlock writes a NUL after the text: dkim_buf_room keeps room for one. */
	char *at = dkim_buf_room(b, out);
	if (at == NULL)
		return false;
	int got = EVP_EncodeBlock((unsigned char *)at, p, (int)n);
	dkim_buf_commit(b, (size_t)got);
	return true;
}

char *dkim_buf_take(struct dkim_buf *b, size_t *len)
{
	if (b->p == NULL)
		b->p = xcalloc(1, 1);
	char *p = b->p;
	if (len != NULL)
		*len = b->len;
	*b = (struct dkim_buf){ .max = b->max };
	return p;
}

void dkim_buf_free(struct dkim_buf *b)
{
	free(b->p);
	*b = (struct dkim_buf){ .max = b->max };
}
