/*
 * smtp_header: the header fields a relay writes into the message it
 * accepts: the Received trace field (RFC 5321 4.4) and its parts, the
 * RFC 5322 date-time and the RFC 3848 "with" protocol names.
 *
 * Owns: the text form of the trace field, its folding and its caps.
 * Never: reads a clock (the time is passed in) or trusts client text:
 * the HELO name and other peer-supplied parts are made printable first.
 */
#ifndef MXR_SMTP_HEADER_H
#define MXR_SMTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* RFC 5322 2.1.1: a header line is at most 998 octets before CRLF. */
#define SMTP_HEADER_LINE_MAX 998
/* The longest HELO name copied into a Received field; longer ones are cut. */
#define SMTP_HEADER_HELO_MAX 255
/* Room always enough for smtp_header_date ("Sat, 28 Nov 2026 16:14:07 +0000"). */
#define SMTP_HEADER_DATE_MAX 40

/*
 * Write t as an RFC 5322 date-time in UTC with a numeric zone,
 * "Sat, 28 Nov 2026 16:14:07 +0000", NUL-terminated. Returns its length,
 * or 0 when buf is too small or t cannot be represented.
 */
size_t smtp_header_date(time_t t, char *buf, size_t len);

/* The RFC 3848 "with" name: SMTP, ESMTP, ESMTPS, ESMTPA or ESMTPSA. */
const char *smtp_header_protocol(bool esmtp, bool tls, bool auth);

struct smtp_received {
	const char *helo;	/* the name the client gave in HELO/EHLO (sanitised here) */
	const char *client_ip;	/* text form, "192.0.2.1" or "2001:db8::1" */
	const char *client_rdns;/* verified reverse name, NULL when none */
	const char *by_host;	/* our host name */
	const char *protocol;	/* smtp_header_protocol(), NULL to leave out */
	const char *queue_id;	/* NULL to leave out */
	const char *tls_info;	/* e.g. "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384", NULL ok */
	const char *for_rcpt;	/* the one recipient, without <>; NULL when several */
	time_t when;
};

/*
 * Build the whole field, folded, every line ending in CRLF:
 *   Received: from HELO (rdns [IP])
 *   <TAB>by HOST (mxrelay) with PROTO id QUEUEID
 *   <TAB>(TLS info)
 *   <TAB>for <rcpt>; DATE
 * Parts whose pointer is NULL are left out. NUL-terminated; returns the
 * length, or 0 when buf is too small or a line would pass 998 octets.
 */
size_t smtp_header_received(const struct smtp_received *r, char *buf, size_t len);

#endif
