/*
 * smtp_hdrfield: the fields of a message's header section (RFC 5322 2.2),
 * one at a time, and the mailboxes of an address-list value (3.4).
 *
 * Owns: where a field starts and ends (a line not starting with white
 * space and the continuation lines after it), its name, unfolding, and
 * the address-list grammar as far as a relay needs the addresses: display
 * names, quoted strings, comments, angle addresses with obsolete routes,
 * groups, domain literals.
 * Never: does I/O, allocates except for what it returns, or checks an
 * address against the SMTP grammar (the caller does).
 */
#ifndef MXR_SMTP_HDRFIELD_H
#define MXR_SMTP_HDRFIELD_H

#include <stdbool.h>
#include <stddef.h>

/* Longest address kept from a header (RFC 5321 path limit, with room). */
#define SMTP_HDRFIELD_ADDR_MAX 512

/* One field, pointing into the header section. */
struct smtp_hdrfield {
	const char *start;	/* the field's first octet */
	size_t len;		/* through the line end of its last line */
	size_t name_len;	/* octets of the name before ':' (white space before it dropped); 0: no colon, not a field */
	const char *value;	/* after the colon, folded as written, line end included */
	size_t value_len;
};

/*
 * The field at hdr[*pos..len) into *f, and *pos past it. false at the
 * end of the section: the empty line (left unread at *pos) or the end of
 * the text. A line without a colon comes as a field with name_len 0.
 */
bool smtp_hdrfield_next(const char *hdr, size_t len, size_t *pos, struct smtp_hdrfield *f);
/* Whether f is the field name (any case). */
bool smtp_hdrfield_is(const struct smtp_hdrfield *f, const char *name);
/* The value unfolded (CR and LF dropped, the white space after them kept), malloc'ed, NUL-terminated. */
char *smtp_hdrfield_unfold(const struct smtp_hdrfield *f, size_t *len);

/* Addresses found in values, each its own allocation. */
struct smtp_hdrfield_addrs {
	char **a;		/* owned, each owned; in order of appearance, duplicates kept */
	size_t n, cap;
};
/* Add every mailbox of the unfolded address-list value v[0..len) to l ("local@domain" as written). */
void smtp_hdrfield_addrs_parse(struct smtp_hdrfield_addrs *l, const char *v, size_t len);
void smtp_hdrfield_addrs_free(struct smtp_hdrfield_addrs *l);

#endif
