/*
 * dkim_buf: a growable octet buffer with a cap fixed at creation, for the
 * signature field, its base64 parts and the header hash input.
 *
 * Owns: its storage (p, freed by dkim_buf_free) and a sticky "over" flag:
 * an addition past the cap is dropped whole and marks the buffer, so a
 * caller adds many pieces and checks once.
 * Never: grows past max; returns NULL from an allocation (xalloc aborts).
 */
#ifndef MXR_DKIM_BUF_H
#define MXR_DKIM_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct dkim_buf {
	char *p;	/* owned, NUL-terminated after each addition; NULL while empty */
	size_t len;	/* octets held, the NUL not counted */
	size_t cap;	/* octets allocated */
	size_t max;	/* len never passes it */
	bool over;	/* an addition did not fit max (sticky) */
};

void dkim_buf_init(struct dkim_buf *b, size_t max);
/* Append p[0..n); false (and nothing added) when it would pass max. */
bool dkim_buf_add(struct dkim_buf *b, const void *p, size_t n);
bool dkim_buf_adds(struct dkim_buf *b, const char *s);
/* Room for n more octets at the end (and a NUL after them): where to write them before
 * dkim_buf_commit(n). NULL when they would pass max. */
char *dkim_buf_room(struct dkim_buf *b, size_t n);
void dkim_buf_commit(struct dkim_buf *b, size_t n);
/* The base64 of p[0..n) (RFC 4648, padded, no line breaks), appended. */
bool dkim_buf_add_b64(struct dkim_buf *b, const unsigned char *p, size_t n);
/* Hand the storage to the caller (NUL-terminated, never NULL); the buffer is empty after. */
char *dkim_buf_take(struct dkim_buf *b, size_t *len);
/* Free the storage; the buffer is empty after. */
void dkim_buf_free(struct dkim_buf *b);

#endif
