/*
 * dkim_sign: the DKIM-Signature header field of a message (RFC 6376,
 * RFC 8301, RFC 8463), given its header section and its body hash.
 *
 * Owns: the tags written (v=1; a=; c=relaxed/relaxed; d=; s=; t=; h=;
 * bh=; b=, in that order, never l=), which header fields are signed and
 * how often (h=), the header hash input and the signature over it, and
 * the field's folding.
 * Never: reads a clock (t= is the caller's), does I/O, or logs.
 *
 * h= lists the fields of RFC 6376 5.4.1 that the header holds (From,
 * Reply-To, Subject, Date, To, Cc, Resent-Date, Resent-From, Resent-To,
 * Resent-Cc, In-Reply-To, References, List-Id, List-Help,
 * List-Unsubscribe, List-Subscribe, List-Post, List-Owner, List-Archive,
 * Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding,
 * Content-ID, Content-Description), List-Unsubscribe-Post (RFC 8058) and
 * Sender, each as many times as it occurs (bottom-up, 5.4.2), and
 * over-signed: From always once more, and the fields RFC 5322 3.6 allows
 * once (Date, Sender, Reply-To, To, Cc, Message-ID, In-Reply-To,
 * References, Subject) once more when present, so that no copy can be
 * added above them. Received, Return-Path, DKIM-Signature and Bcc are
 * never signed, nor any field not named here.
 *
 * The header section is read as dkim_hdr reads it: a line that is no
 * field (no colon, a name with octets outside 0x21-0x7e, or a
 * continuation line with no field before it) is ignored with its
 * continuation lines, and an empty line ends the section (what follows
 * would be the body to any reader). A header without a From field is
 * refused (RFC 6376 5.4: From MUST be signed).
 *
 * Folding: tags are separated by "; " and folded with CRLF HTAB so no
 * line passes 78 octets; h= folds after a colon, b= anywhere in its
 * base64. Only a d= or s= tag longer than a line by itself can make a
 * longer line (at most 257 octets: names are checked to be at most 253).
 */
#ifndef MXR_DKIM_SIGN_H
#define MXR_DKIM_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dkim/dkim_body.h"
#include "dkim/dkim_key.h"

/* Largest header section signed (as lib/smtp's header readers cap it). */
#define DKIM_SIGN_HEADER_MAX (1024u * 1024u)
/* Most names listed in h=: a header asking for more is refused. */
#define DKIM_SIGN_NAMES_MAX 256
/* Longest line the field is folded to (RFC 5322 2.1.1's SHOULD). */
#define DKIM_SIGN_LINE_MAX 78

struct dkim_sign_in {
	const struct dkim_key *key;
	const char *domain;		/* d=: lower-case A-labels, no trailing dot */
	const char *selector;		/* s=: dot-separated labels of letters, digits, hyphens */
	const unsigned char *bh;	/* DKIM_BH_LEN octets from dkim_body_final */
	/* The header section as it will be delivered: fields each ending
	 * CRLF, continuation lines kept, no empty line; at most DKIM_SIGN_HEADER_MAX. */
	const char *header;
	size_t header_len;
	int64_t now;			/* t=, seconds since the epoch, >= 0 */
};

/*
 * Whether s may be a d= or s= value here: a DNS name of letters, digits
 * and hyphens (RFC 6376's sub-domain labels: 1 to 63 octets, no hyphen
 * at either end), at most 253 octets, no trailing dot, ASCII only (a
 * domain is given in A-labels). The one rule for the signer, the key
 * generator and the configuration.
 */
bool dkim_sign_name_ok(const char *s);

/* Longest DNS name: SELECTOR._domainkey.DOMAIN must fit it too. */
#define DKIM_SIGN_NAME_MAX 253

/*
 * The complete "DKIM-Signature: ..." field, folded, ending in CRLF,
 * malloc'd and NUL-terminated, *len octets. NULL with why in err when the
 * input is refused: a domain or selector that is not a DNS name, a
 * negative time, a header section over DKIM_SIGN_HEADER_MAX, one without
 * From, or one with more than DKIM_SIGN_NAMES_MAX names to list.
 */
char *dkim_sign_field(const struct dkim_sign_in *in, size_t *len, char *err, size_t errlen);

#endif
