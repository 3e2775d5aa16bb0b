/*
 * dns_mx: asynchronous mail routing lookups over libunbound (RFC 5321 5.1,
 * RFC 7505).
 *
 * Owns: MX lookup, the A/AAAA lookups of every MX host, preference order with
 * equal preferences shuffled, implicit MX, null MX, and the mapping of
 * every DNS outcome to OK / TEMPFAIL / PERMFAIL with an enhanced status;
 * the DNSSEC status of the MX answer and of each host's addresses, and
 * each host's CNAME-expanded name (the inputs of RFC 7672 2.2).
 * Never: connects to a mail server; never blocks the event loop.
 */
#ifndef MXR_DNS_MX_H
#define MXR_DNS_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/dns_resolver.h"

enum dns_family {
	DNS_FAMILY_ANY,		/* both; IPv6 addresses first within a host */
	DNS_FAMILY_PREFER_V4,	/* both; IPv4 first */
	DNS_FAMILY_V4_ONLY,
	DNS_FAMILY_V6_ONLY,
};

struct dns_mx_host {
	char name[256];		/* host name, no trailing dot */
	uint16_t pref;		/* MX preference; 0 for implicit MX */
	size_t naddrs;
	struct sockaddr_storage *addrs;	/* owned by the result; port 0 */
	bool addr_tempfail;	/* an address lookup failed for now (or was bogus) */
	/*
	 * Every address lookup of the host that answered (with addresses,
	 * NODATA or NXDOMAIN) answered secure, and at least one did; lookups
	 * that failed or were bogus gave no addresses and do not count.
	 * RFC 7672 2.2.2: only a secure host gets a TLSA lookup.
	 */
	bool secure;
	/* An address lookup was bogus: that family's addresses were dropped. */
	bool addr_bogus;
	/*
	 * The host name fully CNAME-expanded, as its address lookup found it
	 * (lower case, no trailing dot); "" when the name is not an alias.
	 * RFC 7672 2.2.3: the first TLSA base domain when the chain is secure.
	 */
	char canon[256];
};

struct dns_mx_result {
	enum dns_status status;
	char esc[8];		/* "4.4.3", "4.7.5", "5.1.2", "5.1.10", "5.4.4", "" for OK */
	char reason[256];	/* printable, for statuses and logs */
	bool implicit;		/* no MX: the domain's own addresses are used */
	bool null_mx;		/* RFC 7505 "MX 0 ." */
	bool dnssec;		/* the resolver validates (trust anchors were given) */
	/*
	 * MX lookups: the MX RRset, with any CNAME leading to it, validated
	 * secure; for an implicit MX (or NXDOMAIN), the answer denying MX
	 * records (or the name) did.
	 * Always false for dns_host_resolve (see each host's secure).
	 */
	bool secure;
	/*
	 * DNSSEC validation failed (TEMPFAIL 4.7.5): the MX answer was bogus,
	 * or no host was left and a bogus address answer was among the
	 * reasons. Bogus is never taken as insecure.
	 */
	bool bogus;
	size_t nhosts;
	struct dns_mx_host *hosts;	/* preference order, ties shuffled */
};

typedef void dns_mx_cb(const struct dns_mx_result *res, void *arg);

/*
 * Resolve where mail for domain goes. cb runs once, later, from the event
 * loop (never from inside this call); the result is valid only during the
 * callback. Hosts whose address lookups failed are dropped; if none has an
 * address the status says why (TEMPFAIL 4.7.5 when any lookup was bogus,
 * else TEMPFAIL 4.4.3 when any was temporary). A bogus MX answer is
 * TEMPFAIL 4.7.5, never a fallback to anything.
 * A UTF-8 domain (RFC 6531) is looked up by its A-label form; one that
 * cannot be converted is PERMFAIL 5.1.2. Host names in the result are
 * A-labels, as DNS gives them.
 */
struct dns_query *dns_mx_resolve(struct dns_resolver *r, const char *domain,
    enum dns_family fam, dns_mx_cb *cb, void *arg);

/*
 * Resolve the addresses of one host (for a smarthost), as a result with a
 * single host of preference 0. NXDOMAIN is PERMFAIL 5.4.4. An address
 * literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]") is its own answer.
 * A UTF-8 host name is converted as for dns_mx_resolve.
 */
struct dns_query *dns_host_resolve(struct dns_resolver *r, const char *host,
    enum dns_family fam, dns_mx_cb *cb, void *arg);

#endif
