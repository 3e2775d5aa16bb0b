/*
 * dns_tlsa: DANE TLSA lookups for SMTP (RFC 7672 2.2, RFC 6698 2.1).
 *
 * Owns: the lookup of _PORT._tcp.NAME over a list of candidate TLSA base
 * domains in order, and the DANE status of the answer: records found
 * secure, securely denied, insecure, bogus, or failed for now.
 * Never: judges whether a record is usable (usage, selector, matching
 * type and digest length are the TLS side's), decides policy, or calls
 * back from inside dns_tlsa_resolve.
 */
#ifndef MXR_DNS_TLSA_H
#define MXR_DNS_TLSA_H

#include <stddef.h>
#include <stdint.h>

#include "dns/dns_resolver.h"

/* Records kept from one answer; more are left out. */
#define DNS_TLSA_RECORDS_MAX 64
/*
 * Data octets of one record: a digest is 32 (SHA-256) or 64 (SHA-512),
 * a whole certificate or key (matching type 0) rarely over a few KiB. A
 * record over this is left out (counted in the reason), as it could not
 * be used anyway.
 */
#define DNS_TLSA_DATA_MAX 16384

struct dns_tlsa_rr {
	uint8_t usage, selector, mtype;
	size_t len;		/* at least 1 */
	uint8_t *data;		/* owned by the result */
};

enum dns_tlsa_status {
	DNS_TLSA_FOUND,		/* a secure TLSA RRset with records (usable or not: the caller decides) */
	DNS_TLSA_ABSENT,	/* securely denied: NXDOMAIN or NODATA, validated secure */
	DNS_TLSA_INSECURE,	/* the answer (records or denial) is not secure: no DANE for this host */
	DNS_TLSA_BOGUS,		/* validation failed: the host must not be used (4.7.5) */
	DNS_TLSA_TEMPFAIL,	/* SERVFAIL, timeout, malformed record: the host must not be used now (4.7.5) */
};

struct dns_tlsa_result {
	enum dns_tlsa_status status;
	/* The TLSA base domain the records were found at (or the last name tried), no trailing dot. */
	char base[254];
	char reason[256];	/* printable, for logs and replies */
	/*
	 * FOUND: the records kept, at most DNS_TLSA_RECORDS_MAX. n is 0 only
	 * when every record of the secure RRset was over DNS_TLSA_DATA_MAX:
	 * records exist but none can be used. 0 for every other status.
	 */
	size_t n;
	struct dns_tlsa_rr *rrs;	/* owned by the result */
};

typedef void dns_tlsa_cb(const struct dns_tlsa_result *res, void *arg);

/* Text for a status: "found", "absent", "insecure", "bogus", "tempfail". */
const char *dns_tlsa_status_name(enum dns_tlsa_status st);

/*
 * Look up _PORT._tcp.NAME for each of names[0..n) in order (RFC 7672
 * 2.2.3: the CNAME-expanded host name first, when its expansion was
 * secure, then the original MX host name), stopping at the first name
 * with FOUND, BOGUS or TEMPFAIL; ABSENT or INSECURE at one name goes on
 * to the next; otherwise the status of the last name. Names are host
 * names (a trailing dot is allowed); a bad one, or none at all, is
 * TEMPFAIL. Without trust anchors on the resolver every answer is
 * INSECURE. A TLSA answer that follows a CNAME counts as secure only
 * when the whole chain is. cb runs once, later, from the event loop
 * (never from inside this call); the result is valid only during the
 * callback. The resolver's deadline covers the whole list; cancel with
 * dns_query_cancel.
 */
struct dns_query *dns_tlsa_resolve(struct dns_resolver *r, uint16_t port,
    const char *const *names, size_t n, dns_tlsa_cb *cb, void *arg);

#endif
