/*
 * client_hdr: recipients from a message's header section, the way
 * "sendmail -t" takes them (To, Cc and Bcc), and the header section
 * with its Bcc fields removed.
 *
 * Owns: RFC 5322 header unfolding and the address-list grammar as far as
 * recipients need it (display names, quoted strings, comments, angle
 * addresses with obsolete routes, groups). Never: does I/O, or checks an
 * address against the SMTP grammar (the caller does).
 */
#ifndef MXR_CLIENT_HDR_H
#define MXR_CLIENT_HDR_H

#include <stddef.h>

/* Longest header section taken (the header of a real message is far smaller). */
#define CLIENT_HDR_MAX (1024u * 1024u)

struct client_hdr_rcpts {
	char **addrs;		/* owned, each owned: in order of appearance, duplicates kept */
	size_t n;
	char *header;		/* owned: the header section without Bcc fields, blank line kept */
	size_t header_len;
};

/*
 * Length of the header section at the start of msg[0..len), blank line
 * included, or 0 when no blank line ends it within len.
 */
size_t client_hdr_end(const char *msg, size_t len);

/* Extract the recipients of the header section hdr[0..len). Never fails. */
void client_hdr_rcpts(const char *hdr, size_t len, struct client_hdr_rcpts *out);
void client_hdr_rcpts_free(struct client_hdr_rcpts *r);

#endif
