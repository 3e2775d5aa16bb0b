/*
 * tlsrpt_gzip: gzip compression of a report (RFC 8460 5.2, RFC 1952).
 *
 * Owns: the gzip framing over zlib (deflate with windowBits 15 + 16, so
 * zlib writes the gzip header and CRC-32 trailer; the header's time is 0
 * and no file name is written, so the same input gives the same octets)
 * and the cap on the output.
 * Never: does I/O or reads a clock. zlib allocates through xalloc, so an
 * allocation failure aborts as everywhere else instead of being an error.
 */
#ifndef MXR_TLSRPT_GZIP_H
#define MXR_TLSRPT_GZIP_H

#include <stddef.h>

enum tlsrpt_gzip_status {
	TLSRPT_GZIP_OK,
	TLSRPT_GZIP_TOO_BIG,	/* the output did not fit cap (use tlsrpt_gzip_bound) */
	TLSRPT_GZIP_ERROR,	/* zlib refused (a bug: its arguments are ours) */
};

/* An output size that always suffices for inlen octets of input. */
size_t tlsrpt_gzip_bound(size_t inlen);

/*
 * Compress in[0..inlen) into out[0..cap) as one gzip member; *outlen gets
 * its length on OK, 0 otherwise.
 */
enum tlsrpt_gzip_status tlsrpt_gzip(const void *in, size_t inlen, unsigned char *out,
    size_t cap, size_t *outlen);

/* A name for a status, for logs. */
const char *tlsrpt_gzip_status_name(enum tlsrpt_gzip_status s);

#endif
