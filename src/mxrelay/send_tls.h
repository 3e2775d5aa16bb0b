/*
 * send_tls: the TLS policy options of `mxrelay send`, the same policies
 * the daemon applies: --tls (the level for every domain), --tls-policy
 * (a domain's own level, as a tls_policy line), --dnssec-trust-anchor
 * (the trust anchors DANE rests on; Debian's root key by default),
 * --requiretls (RFC 8689), and "TLS-Required: No" read from the message.
 *
 * Owns: the parsing of those options into struct mxr_options and the
 * rules' storage. Never: decides a policy (the engine does).
 */
#ifndef MXR_SEND_TLS_H
#define MXR_SEND_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "mxrelay/mxrelay.h"

struct send_tls {
	enum mxr_tls_policy level;
	bool level_set;
	struct cfg_tls_policy *policies;	/* owned (match strings too) */
	struct mxr_tls_rule *rules;		/* owned, pointing into policies */
	size_t n;
	const char *anchor_file;		/* NULL: the default, "none": no DNSSEC */
	char *anchors;				/* owned: the anchors read */
	bool requiretls;
};

/* --tls LEVEL: EX_OK, or EX_USAGE after saying why. */
int send_tls_level(struct send_tls *t, const char *arg);
/* --tls-policy 'DOMAIN POLICY [match=NAMES]': EX_OK, or EX_USAGE after saying why. */
int send_tls_policy(struct send_tls *t, const char *arg);
/*
 * Fill the TLS part of o: the level (dane when not given), the rules and
 * the trust anchors (read now). EX_OK, or EX_USAGE / EX_NOINPUT after
 * saying why.
 */
int send_tls_apply(struct send_tls *t, struct mxr_options *o);
void send_tls_free(struct send_tls *t);
/* Whether the message's header says "TLS-Required: No" (RFC 8689 5). */
bool send_tls_header_optional(const struct mxr_source *src);
/* The name of the policy that applied, "mta-sts-testing" for MTA-STS in testing mode. */
const char *send_tls_applied(enum mxr_tls_policy p, bool testing);

#endif
