/*
 * dkim_hdr: the header section taken apart into fields, and the "relaxed"
 * header canonicalisation (RFC 6376 3.4.2). Pure functions over bytes.
 *
 * Owns: what a field is. A line ends at CRLF only (a CR or LF alone is an
 * ordinary octet). A field begins with a line of the form
 *     name *WSP ":" ...     name = 1*(%x21-39 / %x3B-7E)
 * and takes the lines after it that begin with SP or HTAB (its
 * continuation lines). Any other line (no colon, an octet outside
 * 0x21-0x7e in the name, an empty name, or a continuation line with no
 * field before it) is no field: it is skipped with its continuation
 * lines. An empty line ends the section; so does the end of the input,
 * with or without a CRLF on the last line.
 * Never: allocates, copies the input, or reads past len; any octets are
 * taken (this reads hostile input: fuzz/fuzz_dkim_hdr.c).
 */
#ifndef MXR_DKIM_HDR_H
#define MXR_DKIM_HDR_H

#include <stdbool.h>
#include <stddef.h>

struct dkim_hdr_field {
	const char *field;	/* its first octet, in the caller's buffer */
	size_t len;		/* up to its last line's end, that CRLF not included */
	size_t name_len;	/* the name's octets, without WSP before the colon */
};

/*
 * The next field at or after *pos in h[0..len): true with *f set and *pos
 * past the field's last CRLF; false at the end of the section (an empty
 * line, *pos then at that line, or the end of h).
 */
bool dkim_hdr_next(const char *h, size_t len, size_t *pos, struct dkim_hdr_field *f);

/* Whether f's name is name (a lower-case NUL-terminated name; ASCII case-insensitive). */
bool dkim_hdr_is(const struct dkim_hdr_field *f, const char *name);

/*
 * The relaxed form of the field text in[0..len) (a field as dkim_hdr_next
 * gives it: name, colon, value) into out, which has room for len octets:
 * the name lower-cased, every CRLF of the value removed (unfolding), WSP
 * runs made one SP, WSP before and after the colon and at the end
 * removed. Returns the length written (never more than len); no CRLF is
 * added. Text without a colon is taken as a name alone.
 */
size_t dkim_hdr_relaxed(const char *in, size_t len, char *out);

#endif
