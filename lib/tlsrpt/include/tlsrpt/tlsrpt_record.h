/*
 * tlsrpt_record: the TLS-RPT TXT record at _smtp._tls.DOMAIN (RFC 8460 3)
 * and the reporting URIs it names.
 *
 * Owns: choosing the one TLS-RPT record among the TXT records of that
 * name, the record grammar, the rua URI list and, for a mailto: URI, the
 * decoded address (RFC 6068) a report is mailed to.
 * Never: does I/O, reads a clock or keeps state. The lookup, and joining
 * the character-strings of one TXT record without spaces (RFC 8460 3),
 * are the caller's; so is sending (the DKIM signature 3 asks of mailed
 * reports, the POST of https: ones).
 *
 * The rules, as RFC 8460 3 gives them:
 * - records not beginning with "v=TLSRPTv1;" (case-sensitive, the ";"
 *   included) are discarded; when the number left is not one, the domain
 *   does not implement TLS-RPT (TLSRPT_RECORD_NONE);
 * - the one record left must match the grammar, else no report is sent
 *   (TLSRPT_RECORD_INVALID):
 *       tlsrpt-record     = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
 *       field-delim       = *WSP ";" *WSP
 *       tlsrpt-rua        = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *       tlsrpt-uri        = URI (RFC 3986; "," and "!" must be percent-encoded)
 *       tlsrpt-extension  = tlsrpt-ext-name "=" tlsrpt-ext-value
 *       tlsrpt-ext-name   = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *       tlsrpt-ext-value  = 1*(%x21-3A / %x3C / %x3E-7E)
 *   "rua" is required; unknown fields are ignored but must be well formed.
 * - Two schemes are used, mailto: and https:; a URI of another scheme is
 *   skipped, as is one this module cannot use (a mailto: without one plain
 *   address, an https: without a host, a URI over TLSRPT_URI_MAX).
 *
 * Where this module decides what the RFC leaves open:
 * - a repeated "rua" field is ignored, the first counting, as RFC 8461
 *   3.2 rules for MTA-STS fields;
 * - fields are split at every ";", so a URI must percent-encode any ";"
 *   it holds (RFC 8460 asks that only of "," and "!");
 * - a mailto: address is the part before "?" (header fields are ignored),
 *   percent-decoded; it must be one ASCII addr-spec: a dot-atom or quoted
 *   local part of at most 64 octets, "@", and a host name;
 * - at most TLSRPT_RUA_MAX URIs are kept, the others counted as skipped.
 */
#ifndef MXR_TLSRPT_RECORD_H
#define MXR_TLSRPT_RECORD_H

#include <stddef.h>

/* The most reporting URIs kept from one record. */
#define TLSRPT_RUA_MAX 8
/* A URI as published, and its NUL. */
#define TLSRPT_URI_MAX 512
/* A decoded mailto: address (64 + "@" + 255), and its NUL. */
#define TLSRPT_ADDR_MAX 320

enum tlsrpt_uri_kind {
	TLSRPT_MAILTO,
	TLSRPT_HTTPS,
};

struct tlsrpt_uri {
	enum tlsrpt_uri_kind kind;
	char uri[TLSRPT_URI_MAX];	/* the URI as the record has it */
	char addr[TLSRPT_ADDR_MAX];	/* mailto: the decoded address; https: "" */
};

struct tlsrpt_rua {
	size_t n;				/* URIs in u[] */
	struct tlsrpt_uri u[TLSRPT_RUA_MAX];	/* in the record's order */
	size_t skipped;				/* URIs left out: other scheme, unusable, past the cap */
};

enum tlsrpt_record_status {
	TLSRPT_RECORD_NONE,	/* no record begins with "v=TLSRPTv1;", or more than one does */
	TLSRPT_RECORD_OK,	/* exactly one, valid, with at least one URI in out->u */
	TLSRPT_RECORD_INVALID,	/* exactly one, but it breaks the grammar or lacks rua */
	TLSRPT_RECORD_NO_URI,	/* valid, but no URI is one this module can use */
};

/*
 * Choose and parse the TLS-RPT record among texts[0..n) (each one whole
 * TXT record, NUL-terminated; a NULL entry is skipped) into *out, which is
 * cleared first and holds nothing on NONE and INVALID (on NO_URI, only
 * the count of URIs skipped). why gets a reason for anything but OK, and
 * on OK the reason the first URI was skipped, or ""; whylen may be 0.
 */
enum tlsrpt_record_status tlsrpt_record_parse(const char *const *texts, size_t n,
    struct tlsrpt_rua *out, char *why, size_t whylen);

/* A name for a status, for logs. */
const char *tlsrpt_record_status_name(enum tlsrpt_record_status s);

#endif
