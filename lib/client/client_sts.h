/*
 * client_sts: the MTA-STS policy in force for a recipient domain
 * (RFC 8461 3, 5.1), for every delivery of a context.
 *
 * Owns: the policy cache (in memory, backed by the caller's
 * mxr_sts_store so that policies survive restarts), the `_mta-sts` TXT
 * check that says whether a cached policy is still current, the HTTPS
 * fetch of https://mta-sts.DOMAIN/.well-known/mta-sts.txt (its host
 * resolved by the context's own resolver, its certificate verified
 * against the context's CA store, size and time capped, no redirects),
 * one fetch at a time per domain however many deliveries wait for it,
 * and what a failed fetch is reported as (RFC 8460 result types).
 * Never: blocks the loop; calls back from inside client_sts_get; uses an
 * expired policy.
 */
#ifndef MXR_CLIENT_STS_H
#define MXR_CLIENT_STS_H

#include <stdbool.h>

#include "dns/dns_mx.h"
#include "mxrelay/mxrelay.h"
#include "sts/sts_policy.h"

struct event_base;
struct client_sts;
struct client_sts_req;

/* Most octets of a policy file (RFC 8461 3.3 suggests 64 KiB). */
#define CLIENT_STS_BODY_MAX (64 * 1024)
/* How long a cached policy is used before its TXT record is asked again. */
#define CLIENT_STS_RECHECK_SECONDS 300

/* What a delivery gets: the policy in force, and a problem to report. */
struct client_sts_result {
	const struct sts_policy *policy;	/* NULL: no policy in force (none published,
						   mode none, or none could be had) */
	const char *text;			/* the policy, one field a line, or NULL */
	const char *result_type;		/* a fetch that failed (RFC 8460:
						   sts-policy-fetch-error, sts-policy-invalid,
						   sts-webpki-invalid), or NULL */
	const char *detail;			/* what happened, printable, or NULL */
};

typedef void client_sts_cb(const struct client_sts_result *r, void *arg);

struct client_sts_cfg {
	struct event_base *base;
	struct dns_resolver *dns;	/* borrowed: the context's */
	enum dns_family family;
	const char *ca_file;		/* NULL: the system store */
	unsigned timeout_ms;		/* one fetch, connect included */
	const struct mxr_sts_store *store;	/* or NULL */
	const char *user_agent;
};

struct client_sts *client_sts_new(const struct client_sts_cfg *cfg);
/* Free; requests still waiting are dropped (their callbacks never run). NULL is fine. */
void client_sts_free(struct client_sts *s);

/*
 * The policy of domain (lower case; a UTF-8 name is asked by its
 * A-labels). cb runs once, from the loop; the result is valid during the
 * call only.
 */
struct client_sts_req *client_sts_get(struct client_sts *s, const char *domain,
    client_sts_cb *cb, void *arg);
/* Drop a request whose callback has not run. NULL is fine. */
void client_sts_cancel(struct client_sts_req *r);

#endif
