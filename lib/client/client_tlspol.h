/*
 * client_tlspol: which TLS an outbound connection to one MX host must
 * have, decided from the destination's policy level (an administrator's
 * tls_policy rule, or the context's level), what DNSSEC said of the MX
 * records and of the host's TLSA records (RFC 7672), the domain's
 * MTA-STS policy (RFC 8461), and the message's own wishes (REQUIRETLS
 * and "TLS-Required: No", RFC 8689).
 *
 * Owns: the order of the policies (an administrator's level first; then
 * DANE where the host's TLSA records are secure; then MTA-STS; then
 * opportunistic), the reference names a certificate must carry, which
 * hosts may not be used and why (with the enhanced status and the
 * RFC 8460 result type), and the rule match of a domain.
 * Never: looks anything up, connects, or keeps state: every input is
 * given, so each decision can be tested on its own.
 */
#ifndef MXR_CLIENT_TLSPOL_H
#define MXR_CLIENT_TLSPOL_H

#include <stdbool.h>
#include <stddef.h>

#include "mxrelay/mxrelay.h"
#include "net/net_tls.h"
#include "sts/sts_policy.h"

/* Reference names a plan may carry (match= lists are capped to this). */
#define CLIENT_TLSPOL_NAMES_MAX 8

/* What the host's TLSA lookup found (RFC 7672 2.2.3). */
enum client_tlsa_state {
	CLIENT_TLSA_NOT_LOOKED_UP,	/* DANE does not apply, or DNSSEC is off */
	CLIENT_TLSA_FOUND,		/* secure records */
	CLIENT_TLSA_NONE,		/* securely absent, or not secure: no DANE for this host */
	CLIENT_TLSA_BOGUS,		/* validation failed */
	CLIENT_TLSA_FAILED,		/* the lookup failed (SERVFAIL, timeout, malformed) */
};

/* The inputs of one decision. Strings and arrays are borrowed. */
struct client_tlspol_in {
	enum mxr_tls_policy level;	/* the destination's level */
	const char *match;		/* MXR_TLS_REQUIRED: the rule's match list, or NULL */
	const char *domain;		/* the recipient domain (the next hop for MX delivery) */
	const char *host;		/* the host about to be tried */
	bool via_mx;			/* the host came from the domain's MX lookup (not a route) */
	bool mx_secure;			/* that lookup was DNSSEC-secure */
	bool dnssec;			/* answers are validated at all */
	enum client_tlsa_state tlsa;
	const struct net_tls_tlsa *tlsa_rrs;	/* CLIENT_TLSA_FOUND: the records */
	size_t ntlsa;
	const char *tlsa_base;		/* the name the records were found at */
	const char *tlsa_text;		/* the records in presentation form, one a line */
	const char *tlsa_why;		/* BOGUS or FAILED: what the lookup said */
	const struct sts_policy *sts;	/* the domain's MTA-STS policy, or NULL */
	const char *sts_text;		/* its text, one field a line */
	bool requiretls;		/* REQUIRETLS from a sender (not a bounce) */
	bool tls_optional;		/* "TLS-Required: No" */
};

/* How much TLS a session must reach. */
enum client_tls_need {
	CLIENT_TLS_NONE,	/* no STARTTLS at all */
	CLIENT_TLS_MAY,		/* STARTTLS when offered; any certificate; plain otherwise */
	CLIENT_TLS_ENCRYPT,	/* STARTTLS required; any certificate */
	CLIENT_TLS_AUTH,	/* STARTTLS required; the server authenticated as below */
};

/* What one connection to one host must do, and what to report of it. */
struct client_tlsplan {
	enum mxr_tls_policy applied;	/* the level that applied, for results and logs */
	bool testing;			/* MTA-STS testing: check and report, never refuse */
	bool unlisted;			/* testing: the host is not among the policy's MX hosts */
	bool relaxed;			/* "TLS-Required: No" lowered a published policy to may */
	enum client_tls_need need;
	bool implicit;			/* TLS from the first byte */
	bool dane;			/* authenticate with the TLSA records */
	const struct net_tls_tlsa *tlsa;/* borrowed from the inputs */
	size_t ntlsa;
	char tlsa_base[256];
	/* PKIX with names, or DANE-TA's names besides the TLSA base domain */
	char names[CLIENT_TLSPOL_NAMES_MAX][256];
	size_t nnames;
	bool check_pkix;		/* verify the chain and a name (also under testing) */
	enum mxr_tls_auth success_auth;	/* what a verified session counts as */
	bool requiretls;		/* the server must offer REQUIRETLS, and it is passed on */
	/* TLS reporting (RFC 8460) */
	enum mxr_tls_report_policy report;
	const char *report_text;	/* borrowed from the inputs */
};

/* Why a host may not be used under the policy. */
struct client_tlspol_refusal {
	enum mxr_tls_policy applied;	/* the level that refused */
	bool permanent;			/* 5.7.10: REQUIRETLS can never be met by this host */
	char esc[8];			/* "4.7.5" or "5.7.10" */
	char text[400];
	const char *result_type;	/* RFC 8460, or NULL when nothing is reported */
	enum mxr_tls_report_policy report;
	const char *report_text;
};

/*
 * Decide for one host: true with *plan filled, or false with *why (the
 * host is skipped; the caller tries the next one).
 */
bool client_tlspol_decide(const struct client_tlspol_in *in, struct client_tlsplan *plan,
    struct client_tlspol_refusal *why);

/* Whether a TLSA lookup is worth making for this host (DANE may apply to it). */
bool client_tlspol_wants_tlsa(enum mxr_tls_policy level, bool tls_optional, bool requiretls,
    bool dnssec, bool host_secure);

/* Whether the domain's MTA-STS policy is wanted (MX delivery under dane or mta-sts). */
bool client_tlspol_wants_sts(enum mxr_tls_policy level, bool via_mx);

/*
 * The rule for domain among rules[0..n): an exact domain first, else the
 * nearest ".parent" rule; NULL when none applies.
 */
const struct mxr_tls_rule *client_tlspol_rule(const struct mxr_tls_rule *rules, size_t n,
    const char *domain);

#endif
