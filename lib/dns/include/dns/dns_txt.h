/*
 * dns_txt: TXT lookups for the MTA-STS (_mta-sts.DOMAIN, RFC 8461 3.1)
 * and TLS-RPT (_smtp._tls.DOMAIN, RFC 8460 3) records.
 *
 * Owns: one TXT lookup, its records joined (RFC 7208 3.3 style) and
 * capped, and its DNSSEC status.
 * Never: parses the policy or report text (the caller does), or calls
 * back from inside dns_txt_resolve.
 */
#ifndef MXR_DNS_TXT_H
#define MXR_DNS_TXT_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/dns_resolver.h"

/* Records kept from one answer, and octets of one record joined; more are left out. */
#define DNS_TXT_RECORDS_MAX 32
#define DNS_TXT_TEXT_MAX 4096

struct dns_txt_result {
	/*
	 * DNS_OK: an answer, also NXDOMAIN and NODATA (then n is 0);
	 * DNS_TEMPFAIL: SERVFAIL, timeout, bogus, a malformed record.
	 */
	enum dns_status status;
	bool secure;		/* the answer (records or denial) validated secure */
	bool bogus;		/* validation failed (TEMPFAIL) */
	bool nxdomain;		/* the name does not exist (DNS_OK, n 0) */
	char reason[256];	/* printable, for logs */
	/* Records left out: past DNS_TXT_RECORDS_MAX, joined to DNS_TXT_TEXT_MAX or more, or holding a NUL. */
	size_t dropped;
	size_t n;
	char **texts;		/* each record's strings joined, NUL-terminated; owned by the result */
};

typedef void dns_txt_cb(const struct dns_txt_result *res, void *arg);

/*
 * Look up the TXT records of name (a UTF-8 name is looked up by its
 * A-label form; a bad name is TEMPFAIL). cb runs once, later, from the
 * event loop (never from inside this call); the result is valid only
 * during the callback. Cancel with dns_query_cancel.
 */
struct dns_query *dns_txt_resolve(struct dns_resolver *r, const char *name, dns_txt_cb *cb,
    void *arg);

#endif
