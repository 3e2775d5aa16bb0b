/*
 * dns_mx: asynchronous mail routing lookups over libunbound (RFC 5321 5.1,
 * RFC 7505).
 *
 * Owns: the resolver context (system resolv.conf, or one named server),
 * MX lookup, the A/AAAA lookups of every MX host, preference order with
 * equal preferences shuffled, implicit MX, null MX, and the mapping of
 * every DNS outcome to OK / TEMPFAIL / PERMFAIL with an enhanced status.
 * Never: connects to a mail server; never blocks the event loop.
 */
#ifndef MXR_DNS_MX_H
#define MXR_DNS_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct dns_resolver;
struct dns_query;

enum dns_family {
	DNS_FAMILY_ANY,		/* both; IPv6 addresses first within a host */
	DNS_FAMILY_PREFER_V4,	/* both; IPv4 first */
	DNS_FAMILY_V4_ONLY,
	DNS_FAMILY_V6_ONLY,
};

enum dns_status {
	DNS_OK,			/* hosts[] holds at least one host with an address */
	DNS_TEMPFAIL,		/* try later: SERVFAIL, timeout, bad answer (4.4.3) */
	DNS_PERMFAIL,		/* never: NXDOMAIN (5.1.2), null MX (5.1.10), no address (5.4.4) */
};

struct dns_mx_host {
	char name[256];		/* host name, no trailing dot */
	uint16_t pref;		/* MX preference; 0 for implicit MX */
	size_t naddrs;
	struct sockaddr_storage *addrs;	/* owned by the result; port 0 */
	bool addr_tempfail;	/* its address lookup failed for now */
};

struct dns_mx_result {
	enum dns_status status;
	char esc[8];		/* "4.4.3", "5.1.2", "5.1.10", "5.4.4", "" for OK */
	char reason[256];	/* printable, for statuses and logs */
	bool implicit;		/* no MX: the domain's own addresses are used */
	bool null_mx;		/* RFC 7505 "MX 0 ." */
	size_t nhosts;
	struct dns_mx_host *hosts;	/* preference order, ties shuffled */
};

/*
 * Make a resolver on base. server is "address[:port]" (IPv6 as
 * "[addr]:port") or NULL for the system resolver. Returns NULL with *err
 * set on a bad server string or a libunbound failure.
 */
struct dns_resolver *dns_resolver_new(struct event_base *base, const char *server,
    const char **err);
/*
 * Free the resolver; queries still in flight are cancelled (their
 * callbacks never run). May be called from inside a query callback.
 */
void dns_resolver_free(struct dns_resolver *r);
/* How long one whole lookup may take before it is TEMPFAIL (default 30 s). */
void dns_resolver_set_timeout(struct dns_resolver *r, unsigned ms);

typedef void dns_mx_cb(const struct dns_mx_result *res, void *arg);

/*
 * Resolve where mail for domain goes. cb runs once, later, from the event
 * loop (never from inside this call); the result is valid only during the
 * callback. Hosts whose address lookups failed are dropped; if none has an
 * address the status says why (TEMPFAIL when any lookup was temporary).
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

/* Cancel a query whose callback has not run; cb will not be called. */
void dns_query_cancel(struct dns_query *q);

#endif
