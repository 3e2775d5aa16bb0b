/*
 * dkim_hdr: header fields found in a header section, and their relaxed
 * canonical form (RFC 6376 3.4.2).
 *
 * Owns: line ends (CRLF only), the field grammar of dkim_hdr.h, and the
 * relaxed rewriting of one field.
 * Never: allocates, writes into the input, or reads past its length.
 */
#include "dkim_hdr.h"

#include <string.h>

static bool hdr_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether c may be in a field name: printable US-ASCII but the colon. */
static bool hdr_is_ftext(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 0x21 && u <= 0x7e && c != ':';
}

/* Where the line at h[from..len) ends: the index of its CRLF's CR, or len without one. */
static size_t hdr_eol(const char *h, size_t from, size_t len)
{
	const char *s = h + from, *end = h + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (nl == NULL)
			break;
		/* A CRLF whose CR is on this line (an LF alone is an ordinary octet). */
		if (nl > h + from && nl[-1] == '\r')
			return (size_t)(nl - 1 - h);
		s = nl + 1;
	}
	return len;
}

/* Past the line end at eol: after its CRLF, or len. */
static size_t hdr_next_line(size_t eol, size_t len)
{
	return eol < len ? eol + 2 : len;
}

/* The name's length when the line h[p..eol) opens a field; 0 when it does not. */
static size_t hdr_field_name(const char *h, size_t p, size_t eol)
{
	size_t q = p;
	while (q < eol && hdr_is_ftext(h[q]))
		q++;
	size_t name_len = q - p;
	while (q < eol && hdr_is_wsp(h[q]))
		q++;
	if (name_len == 0 || q == eol || h[q] != ':')
		return 0;
	return name_len;
}

bool dkim_hdr_next(const char *h, size_t len, size_t *pos, struct dkim_hdr_field *f)
{
	size_t p = *pos;
	while (p < len) {
		size_t eol = hdr_eol(h, p, len);
		if (eol == p) {
			/* An empty line: the body follows. */
			*pos = p;
			return false;
		}
		size_t name_len = hdr_is_wsp(h[p]) ? 0 : hdr_field_name(h, p, eol);
		if (name_len == 0) {
			/* No field: a stray continuation line, or garbage (skipped with its own). */
			p = hdr_next_line(eol, len);
			continue;
		}
		size_t end = eol, n = hdr_next_line(eol, len);
		while (n < len && hdr_is_wsp(h[n])) {
			end = hdr_eol(h, n, len);
			n = hdr_next_line(end, len);
		}
		f->field = h + p;
		f->len = end - p;
		f->name_len = name_len;
		*pos = n;
		return true;
	}
	*pos = len;
	return false;
}

bool dkim_hdr_is(const struct dkim_hdr_field *f, const char *name)
{
	size_t n = strlen(name);
	if (n != f->name_len)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = f->field[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return false;
	}
	return true;
}

size_t dkim_hdr_relaxed(const char *in, size_t len, char *out)
{
	const char *colon = memchr(in, ':', len);
	size_t name_end = colon != NULL ? (size_t)(colon - in) : len;
	size_t o = 0;
	/* The name, lower-cased, without the WSP before the colon. */
	for (size_t i = 0; i < name_end; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[o++] = c;
	}
	while (o > 0 && hdr_is_wsp(out[o - 1]))
		o--;
	if (colon == NULL)
		return o;
	out[o++] = ':';
	/* The value: CRLF removed, WSP runs as one SP, none at its start or end. */
	bool space = false, started = false;
	for (size_t i = name_end + 1; i < len; i++) {
		char c = in[i];
		if (c == '\r' && i + 1 < len && in[i + 1] == '\n') {
			i++;
			continue;
		}
		if (hdr_is_wsp(c)) {
			space = true;
			continue;
		}
		if (space && started)
			out[o++] = ' ';
		space = false;
		started = true;
		out[o++] = c;
	}
	return o;
}
