/*
 * smtp_caps: what a server offers, read from its EHLO reply (client side).
 *
 * Owns: the EHLO keyword grammar and the capabilities the client uses.
 * Never: does I/O.
 */
#ifndef MXR_SMTP_CAPS_H
#define MXR_SMTP_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "smtp/smtp_reply.h"

enum smtp_auth_mech {
	SMTP_AUTH_PLAIN = 1 << 0,
	SMTP_AUTH_LOGIN = 1 << 1,
	SMTP_AUTH_CRAM_MD5 = 1 << 2,
	SMTP_AUTH_XOAUTH2 = 1 << 3,
};

struct smtp_caps {
	bool esmtp;		/* EHLO succeeded */
	bool pipelining;	/* RFC 2920 */
	bool size;		/* RFC 1870; size_max 0 means no fixed limit */
	uint64_t size_max;
	bool eightbitmime;	/* RFC 6152 */
	bool smtputf8;		/* RFC 6531 */
	bool dsn;		/* RFC 3461 */
	bool starttls;		/* RFC 3207 */
	bool enhancedstatuscodes;/* RFC 2034 */
	bool chunking;		/* RFC 3030 */
	bool binarymime;
	bool requiretls;	/* RFC 8689 */
	unsigned auth;		/* enum smtp_auth_mech bits */
};

/* Fill caps from a 250 EHLO reply (line 0 is the greeting, skipped). */
void smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps);

#endif
