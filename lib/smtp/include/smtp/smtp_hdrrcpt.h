/*
 * smtp_hdrrcpt: recipients from a message's header section, the way
 * "sendmail -t" takes them (To, Cc and Bcc), and the header section
 * with its Bcc fields removed.
 *
 * Owns: RFC 5322 header unfolding and the address-list grammar as far as
 * recipients need it (display names, quoted strings, comments, angle
 * addresses with obsolete routes, groups). Never: does I/O, or checks an
 * address against the SMTP grammar (the caller does).
 */
#ifndef MXR_SMTP_HDRRCPT_H
#define MXR_SMTP_HDRRCPT_H

#include <stddef.h>

/* Longest header section taken (the header of a real message is far smaller). */
#define SMTP_HDRRCPT_MAX (1024u * 1024u)

struct smtp_hdrrcpt {
	char **addrs;		/* owned, each owned: in order of appearance, duplicates kept */
	size_t n;
	char *header;		/* owned: the header section without Bcc fields, blank line kept */
	size_t header_len;
};

/*
 * Length of the header section at the start of msg[0..len), blank line
 * included, or 0 when no blank line ends it within len.
 */
size_t smtp_hdrrcpt_end(const char *msg, size_t len);

/* Extract the recipients of the header section hdr[0..len). Never fails. */
void smtp_hdrrcpt_parse(const char *hdr, size_t len, struct smtp_hdrrcpt *out);
void smtp_hdrrcpt_free(struct smtp_hdrrcpt *r);

#endif
