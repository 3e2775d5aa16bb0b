/*
 * dkim_body: the body hash (bh=) of a DKIM signature: the "relaxed" body
 * canonicalisation (RFC 6376 3.4.4) streamed into SHA-256.
 *
 * Owns: the canonicalisation state between pieces (a withheld CR, a
 * whitespace run, the empty lines withheld at the end) and one fixed
 * 64 KiB output buffer hashed when full, so memory stays flat whatever
 * the body's size.
 * Never: keeps the body, allocates per piece, or does I/O.
 *
 * The rules, as applied:
 * - a line ends at CRLF only; a CR or LF alone is an ordinary octet (our
 *   server always gives CRLF; other input is hashed as it is, never
 *   refused);
 * - a run of SP and HTAB inside a line becomes one SP; at the end of a
 *   line (before its CRLF, or at the end of an unterminated last line)
 *   it is removed;
 * - empty lines at the end of the body are removed; a non-empty body
 *   that does not end in CRLF gets one; a body with nothing left (empty,
 *   or only empty and white lines) hashes as the empty string.
 */
#ifndef MXR_DKIM_BODY_H
#define MXR_DKIM_BODY_H

#include <stddef.h>

#define DKIM_BH_LEN 32

struct dkim_body;

/* A new body hash. Allocation failures abort (xalloc's rule). */
struct dkim_body *dkim_body_new(void);

/*
 * The body octets after the header section's empty line, CRLF line ends,
 * in pieces split anywhere (even inside CRLF or a whitespace run): the
 * result does not depend on where the pieces are split.
 */
void dkim_body_feed(struct dkim_body *b, const void *p, size_t n);

/* The SHA-256 of the canonical body. Once: after it, only dkim_body_free. */
void dkim_body_final(struct dkim_body *b, unsigned char bh[DKIM_BH_LEN]);

/* NULL is fine. */
void dkim_body_free(struct dkim_body *b);

#endif
