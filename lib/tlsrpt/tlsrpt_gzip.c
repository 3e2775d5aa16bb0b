/*
 * tlsrpt_gzip: one gzip member of a report, through zlib.
 *
 * Owns: the deflate parameters (gzip framing, default level and memory),
 * feeding zlib in pieces its 32-bit counters can hold, and refusing output
 * past the caller's cap.
 * Never: does I/O or reads a clock (the gzip header's time stays 0).
 */
#include "tlsrpt/tlsrpt_gzip.h"

#include <limits.h>
#include <stdlib.h>
/* zlib's input pointer is const: it never writes the input. */
#define ZLIB_CONST
#include <zlib.h>

#include "util/xalloc.h"

/* windowBits 15 with 16 added: a gzip header and trailer instead of zlib's. */
#define GZIP_WINDOW_BITS (15 + 16)
#define GZIP_MEM_LEVEL 8
/* Header (10) and trailer (8) of gzip, less zlib's own (6), and margin. */
#define GZIP_FRAMING 32

/* zlib's allocation through xalloc: a failure aborts, it never returns NULL. */
static voidpf gzip_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return xreallocarray(NULL, items, size);
}

static void gzip_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	free(p);
}

size_t tlsrpt_gzip_bound(size_t inlen)
{
	/* compressBound's formula for zlib framing, in size_t, plus gzip's longer framing. */
	return inlen + (inlen >> 12) + (inlen >> 14) + (inlen >> 25) + 13 + GZIP_FRAMING;
}

enum tlsrpt_gzip_status tlsrpt_gzip(const void *in, size_t inlen, unsigned char *out,
    size_t cap, size_t *outlen)
{
	*outlen = 0;
	z_stream z = { 0 };
	z.zalloc = gzip_alloc;
	z.zfree = gzip_free;
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, GZIP_WINDOW_BITS, GZIP_MEM_LEVEL,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return TLSRPT_GZIP_ERROR;
	const unsigned char *src = in;
	size_t in_left = inlen, out_used = 0;
	int rc = Z_OK;
	while (rc == Z_OK) {
		/* Hand zlib at most UINT_MAX octets each way at a time. */
		if (z.avail_in == 0 && in_left > 0) {
			z.next_in = src;
			z.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
			src += z.avail_in;
			in_left -= z.avail_in;
		}
		size_t room = cap - out_used;
		if (room == 0)
			break;
		z.next_out = out + out_used;
		z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
		uInt given = z.avail_out;
		rc = deflate(&z, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
		out_used += given - z.avail_out;
		if (rc == Z_BUF_ERROR && given != z.avail_out)
			rc = Z_OK;	/* progress was made; "no progress" is only an error without it */
	}
	deflateEnd(&z);
	if (rc == Z_STREAM_END) {
		*outlen = out_used;
		return TLSRPT_GZIP_OK;
	}
	if (rc == Z_OK || (rc == Z_BUF_ERROR && out_used == cap))
		return TLSRPT_GZIP_TOO_BIG;
	return TLSRPT_GZIP_ERROR;
}

const char *tlsrpt_gzip_status_name(enum tlsrpt_gzip_status s)
{
	switch (s) {
	case TLSRPT_GZIP_OK: return "ok";
	case TLSRPT_GZIP_TOO_BIG: return "too big";
	case TLSRPT_GZIP_ERROR: return "error";
	}
	return "unknown";
}
