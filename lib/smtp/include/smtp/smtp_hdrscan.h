/*
 * smtp_hdrscan: what a relay reads in the header section of a message it
 * receives, as the text streams by in pieces of any size: the number of
 * Received fields (the hop limit, RFC 5321 6.3), the first Message-ID
 * (for the log line of an accepted message) and whether the sender asked
 * "TLS-Required: No" (RFC 8689 5).
 *
 * Owns: recognising field names at line starts (any case), continuation
 * lines, and the end of the header section (the first empty line).
 * Never: changes, stores or reads past the header section; trusts the
 * text (the Message-ID is capped and the caller logs it escaped).
 */
#ifndef MXR_SMTP_HDRSCAN_H
#define MXR_SMTP_HDRSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Most octets of a Message-ID value kept (RFC 5322 lines are at most 998). */
#define SMTP_HDRSCAN_MSGID_MAX 250

struct smtp_hdrscan {
	bool done;		/* the header section ended */
	bool at_line_start;
	bool in_name;		/* reading a field name: name[] until ':' */
	char name[16];
	size_t name_len;
	size_t line_len;	/* octets of the current line, CR excluded */
	unsigned received;	/* Received fields seen */
	bool in_msgid;		/* reading the value of the first Message-ID */
	bool have_msgid;
	char msgid[SMTP_HDRSCAN_MSGID_MAX + 1];	/* NUL-terminated, white space folded */
	size_t msgid_len;
	bool in_tlsreq;		/* reading the value of the first TLS-Required field */
	bool have_tlsreq;
	char tlsreq[8];		/* its value, white space dropped, capped */
	size_t tlsreq_len;
	bool tlsreq_long;	/* longer than any value looked for */
};

void smtp_hdrscan_init(struct smtp_hdrscan *h);
/* Feed the next n octets of message text (CRLF line ends). */
void smtp_hdrscan_feed(struct smtp_hdrscan *h, const char *p, size_t n);
/* The first Message-ID value, or NULL when there was none. */
const char *smtp_hdrscan_msgid(const struct smtp_hdrscan *h);
/*
 * Whether the first TLS-Required field says "No" (any case, white space
 * around it ignored): the sender asks that recipient-domain TLS policies
 * (DANE, MTA-STS) not stop the delivery.
 */
bool smtp_hdrscan_tls_optional(const struct smtp_hdrscan *h);

#endif
