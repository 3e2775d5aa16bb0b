/*
 * dns_resolver: the resolver every lookup of lib/dns runs on, and the life
 * of a query (libunbound on the libevent loop).
 *
 * Owns: one libunbound context per resolver (its server, its trust
 * anchors, the special-use zones made transparent), the typed outcome of
 * a lookup, and cancelling a query. The lookups themselves are dns_mx
 * (MX and addresses), dns_tlsa (DANE) and dns_txt (MTA-STS, TLS-RPT).
 * Never: blocks the event loop, or calls a query's callback from inside
 * the call that started it.
 *
 * DNSSEC: with trust anchors the resolver validates every answer itself
 * (libunbound is the validator, the configured server only a source of
 * data). The server must then pass DNSSEC records (RRSIG, DNSKEY, DS,
 * NSEC, NSEC3) to queries with the DO bit, as any recursive resolver
 * does; one that strips them makes every signed answer bogus. A
 * validating server answers SERVFAIL for bogus data; libunbound then asks
 * it again with checking disabled (CD) and finds the data bogus itself,
 * so bogus is known as bogus either way. The special-use names test.,
 * invalid. and example. (RFC 6761, 2606) are made transparent so the
 * server is asked about them, and are declared insecure (unbound's
 * domain-insecure) since under the real root they are unsigned: a trust
 * anchor given for a name at or below one of them overrides that and
 * makes it secure.
 */
#ifndef MXR_DNS_RESOLVER_H
#define MXR_DNS_RESOLVER_H

struct event_base;
struct dns_resolver;
struct dns_query;

/* The outcome of a lookup, as the relay acts on it. */
enum dns_status {
	DNS_OK,			/* an answer to use (for MX: hosts[] has a host with an address) */
	DNS_TEMPFAIL,		/* try later: SERVFAIL, timeout, bad answer (4.4.3), bogus (4.7.5) */
	DNS_PERMFAIL,		/* never: NXDOMAIN (5.1.2), null MX (5.1.10), no address (5.4.4) */
};

/*
 * Make a resolver on base. server is "address[:port]" (IPv6 as
 * "[addr]:port") or NULL for the system resolver. anchors is trust-anchor
 * text (dns_anchor.h: DS or DNSKEY records, e.g. the contents of Debian's
 * /usr/share/dns/root.key) to validate answers with, or NULL for no
 * validation (every answer is then insecure, none bogus). Returns NULL
 * with *err set on a bad server string, bad anchor text (with its line)
 * or a libunbound failure.
 */
struct dns_resolver *dns_resolver_new(struct event_base *base, const char *server,
    const char *anchors, const char **err);
/*
 * Free the resolver; queries still in flight are cancelled (their
 * callbacks never run). May be called from inside a query callback.
 */
void dns_resolver_free(struct dns_resolver *r);
/* How long one whole lookup may take before it is TEMPFAIL (default 30 s). */
void dns_resolver_set_timeout(struct dns_resolver *r, unsigned ms);

/* Cancel a query (of any kind) whose callback has not run; it will not be called. */
void dns_query_cancel(struct dns_query *q);

#endif
