/*
 * dns_query (private to lib/dns): the machinery each kind of lookup
 * (dns_mx, dns_tlsa, dns_txt) builds on, implemented in dns_resolver.c.
 *
 * A query is a struct whose first member is a struct dns_query, made by
 * dns_query_new with the kind's operations. It starts libunbound lookups
 * (subs) whose answers come to the kind's functions on the loop; when the
 * kind has its answer it calls dns_query_ready, and the resolver calls
 * ops->deliver from the loop. The deadline stops every lookup still out
 * (ops->deadline says what that means for the kind first).
 * Never: calls a user callback itself; the kind's deliver does, after
 * dns_query_release.
 */
#ifndef MXR_DNS_QUERY_H
#define MXR_DNS_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns_resolver.h"

struct ub_result;
struct event;
struct dns_sub;

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_MX 15
#define DNS_TYPE_TXT 16
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_TLSA 52
#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3

/*
 * One answer for sub s: err is libunbound's error (then res may be NULL).
 * res is freed by the resolver after this returns.
 */
typedef void dns_sub_fn(struct dns_sub *s, int err, struct ub_result *res);

/* One libunbound lookup that belongs to a query; lives in the kind's struct. */
struct dns_sub {
	struct dns_query *q;
	dns_sub_fn *fn;
	int id;
	bool pending;
	bool linked;		/* on q's list of subs */
	struct dns_sub *next;	/* q's list, for cancelling */
	size_t index;		/* free for the kind: which host, which name */
	int family;		/* free for the kind */
};

struct dns_query_ops {
	const char *kind;	/* "mx", "host", "tlsa", "txt" for logs */
	/* The deadline passed: mark what has not answered (subs still pending) as failed. */
	void (*deadline)(struct dns_query *q);
	/* Build the result, dns_query_release(q), call the user's callback, free the result. */
	void (*deliver)(struct dns_query *q);
	/* Free what the kind's struct owns (not the struct itself); may be NULL. */
	void (*destroy)(struct dns_query *q);
};

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;	/* the resolver's list */
	const struct dns_query_ops *ops;
	struct event *timer;		/* owned: the deadline, then "deliver now" */
	bool deliver_armed;
	unsigned outstanding;		/* subs not answered yet */
	struct dns_sub *subs;		/* every sub ever started, for cancelling */
};

/*
 * A zeroed query of size octets (the kind's struct, struct dns_query
 * first) on r, its deadline armed.
 */
struct dns_query *dns_query_new(struct dns_resolver *r, const struct dns_query_ops *ops,
    size_t size);
/* Start a lookup of name/rrtype for sub s; false (and nothing pending) when it cannot start. */
bool dns_sub_start(struct dns_query *q, struct dns_sub *s, const char *name, int rrtype,
    dns_sub_fn *fn, const char **why);
/* Stop every lookup of q still out. */
void dns_query_cancel_subs(struct dns_query *q);
/* The answer is complete: deliver it from the loop (at most once). */
void dns_query_ready(struct dns_query *q);
/* Unlink q from its resolver and free it (ops->destroy first). */
void dns_query_release(struct dns_query *q);
/* "timed out after N s" for the resolver's deadline. */
void dns_query_timeout_text(const struct dns_query *q, char *out, size_t cap);

/* Whether the resolver validates (trust anchors were given). */
bool dns_resolver_validating(const struct dns_resolver *r);
/* A uniform random number in [0, bound) from the resolver's pool (arg is the resolver). */
uint32_t dns_resolver_rand(void *arg, uint32_t bound);

/*
 * libunbound's canonname (the end of a CNAME chain) as a name key into
 * out (lower case, no trailing dot); "" when there is none, it equals
 * qname, or it is not a valid host name.
 */
void dns_query_canon(const struct ub_result *res, const char *qname, char *out, size_t cap);
/* libunbound's why_bogus made printable and short, or "DNSSEC validation failed". */
void dns_query_why_bogus(const struct ub_result *res, char *out, size_t cap);

#endif
