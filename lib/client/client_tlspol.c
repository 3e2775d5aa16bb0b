/*
 * client_tlspol: the TLS a connection to one MX host must have (see
 * client_tlspol.h). Pure: every input is given.
 *
 * The order, strongest first, as RFC 8461 2 and RFC 7672 ask: a host with
 * DNSSEC-secure TLSA records is DANE's, whatever an MTA-STS policy says
 * of it; a host without is the MTA-STS policy's when the domain has one;
 * anything else is opportunistic. An administrator's level (tls_policy,
 * outbound_tls, a route's tls=) chooses among these or replaces them.
 */
#include "client_tlspol.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dns/dns_rr.h"

/* Whether the level only follows what the recipient domain publishes (DANE, MTA-STS). */
static bool ctp_published(enum mxr_tls_policy level)
{
	return level == MXR_TLS_DANE || level == MXR_TLS_MTA_STS;
}

bool client_tlspol_wants_tlsa(enum mxr_tls_policy level, bool tls_optional, bool requiretls,
    bool dnssec, bool host_secure)
{
	if (tls_optional && !requiretls && ctp_published(level))
		return false;
	return (level == MXR_TLS_DANE || level == MXR_TLS_DANE_ONLY) && dnssec && host_secure;
}

bool client_tlspol_wants_sts(enum mxr_tls_policy level, bool via_mx)
{
	return via_mx && (level == MXR_TLS_DANE || level == MXR_TLS_MTA_STS);
}

const struct mxr_tls_rule *client_tlspol_rule(const struct mxr_tls_rule *rules, size_t n,
    const char *domain)
{
	char key[DNS_RR_NAME_MAX];
	if (dns_rr_name_key(domain, strlen(domain), key, sizeof(key)) == 0)
		return NULL;
	const struct mxr_tls_rule *best = NULL;
	size_t best_len = 0;
	size_t klen = strlen(key);
	for (size_t i = 0; i < n; i++) {
		const char *d = rules[i].domain;
		size_t dlen = strlen(d);
		if (d[0] != '.') {
			if (strcasecmp(d, key) == 0)
				return &rules[i];
			continue;
		}
		/* ".example.org": a name ending in it, longer than it. */
		if (klen > dlen && strcasecmp(key + klen - dlen, d) == 0 && dlen > best_len) {
			best = &rules[i];
			best_len = dlen;
		}
	}
	return best;
}

/* Add one reference name to the plan (capped, duplicates dropped). */
static void ctp_add_name(struct client_tlsplan *p, const char *name)
{
	if (name == NULL || name[0] == '\0' || p->nnames >= CLIENT_TLSPOL_NAMES_MAX)
		return;
	for (size_t i = 0; i < p->nnames; i++)
		if (strcasecmp(p->names[i], name) == 0)
			return;
	snprintf(p->names[p->nnames++], sizeof(p->names[0]), "%s", name);
}

/* The names of a verify rule's match list ("hostname", "nexthop", "dot-nexthop", names). */
static void ctp_match_names(struct client_tlsplan *p, const char *match, const char *domain,
    const char *host)
{
	if (match == NULL || match[0] == '\0')
		match = "hostname";
	while (*match != '\0') {
		const char *colon = strchr(match, ':');
		size_t len = colon != NULL ? (size_t)(colon - match) : strlen(match);
		char item[256];
		snprintf(item, sizeof(item), "%.*s", (int)(len < 255 ? len : 255), match);
		if (strcmp(item, "hostname") == 0) {
			ctp_add_name(p, host);
		} else if (strcmp(item, "nexthop") == 0) {
			ctp_add_name(p, domain);
		} else if (strcmp(item, "dot-nexthop") == 0) {
			char dot[257];
			snprintf(dot, sizeof(dot), ".%s", domain);
			ctp_add_name(p, dot);
		} else {
			ctp_add_name(p, item);
		}
		match += len;
		if (*match == ':')
			match++;
	}
}

/* Refuse the host: a temporary 4.7.5, to be reported as result_type. */
static bool ctp_refuse(struct client_tlspol_refusal *why, const char *result_type,
    enum mxr_tls_report_policy report, const char *report_text, const char *fmt, const char *a,
    const char *b)
{
	memset(why, 0, sizeof(*why));
	snprintf(why->esc, sizeof(why->esc), "4.7.5");
	snprintf(why->text, sizeof(why->text), fmt, a, b != NULL ? b : "");
	why->result_type = result_type;
	why->report = report;
	why->report_text = report_text;
	return false;
}

/* The host's TLSA records decide (RFC 7672 2.2): DANE, mandatory TLS, or a refusal. */
static bool ctp_dane(const struct client_tlspol_in *in, struct client_tlsplan *p,
    struct client_tlspol_refusal *why)
{
	if (in->tlsa == CLIENT_TLSA_BOGUS || in->tlsa == CLIENT_TLSA_FAILED)
		return ctp_refuse(why, "dnssec-invalid", MXR_TLSRPT_TLSA, NULL,
		    "TLSA lookup for %s failed: %s", in->host,
		    in->tlsa_why != NULL ? in->tlsa_why : "no answer");
	p->applied = in->level;
	p->report = MXR_TLSRPT_TLSA;
	p->report_text = in->tlsa_text;
	snprintf(p->tlsa_base, sizeof(p->tlsa_base), "%s",
	    in->tlsa_base != NULL && in->tlsa_base[0] != '\0' ? in->tlsa_base : in->host);
	size_t usable = net_tls_tlsa_usable(in->tlsa_rrs, in->ntlsa);
	if (usable == 0) {
		/* RFC 7672 2.2: records, none usable: encrypt, but nothing to authenticate with. */
		p->need = CLIENT_TLS_ENCRYPT;
		return true;
	}
	p->need = CLIENT_TLS_AUTH;
	p->dane = true;
	p->tlsa = in->tlsa_rrs;
	p->ntlsa = in->ntlsa;
	p->success_auth = MXR_TLS_AUTH_DANE;
	/* RFC 7672 3.2.2: DANE-TA names: the base, the MX host, and a securely found next hop. */
	ctp_add_name(p, p->tlsa_base);
	ctp_add_name(p, in->host);
	if (in->via_mx && in->mx_secure)
		ctp_add_name(p, in->domain);
	return true;
}

/* The domain's MTA-STS policy decides (RFC 8461 4, 5), or opportunistic TLS without one. */
static bool ctp_sts(const struct client_tlspol_in *in, struct client_tlsplan *p,
    struct client_tlspol_refusal *why)
{
	if (in->sts == NULL || in->sts->mode == STS_MODE_NONE || !in->via_mx) {
		p->applied = MXR_TLS_OPPORTUNISTIC;
		p->need = CLIENT_TLS_MAY;
		return true;
	}
	bool listed = sts_policy_mx_match(in->sts, in->host);
	p->applied = MXR_TLS_MTA_STS;
	p->report = MXR_TLSRPT_STS;
	p->report_text = in->sts_text;
	if (in->sts->mode == STS_MODE_ENFORCE && !listed)
		return ctp_refuse(why, "validation-failure", MXR_TLSRPT_STS, in->sts_text,
		    "MX host %s is not among the MX hosts of the MTA-STS policy of %s", in->host,
		    in->domain);
	ctp_add_name(p, in->host);
	p->check_pkix = true;
	p->success_auth = MXR_TLS_AUTH_MTA_STS;
	if (in->sts->mode == STS_MODE_TESTING) {
		/* RFC 8461 5: deliver as before, and report what enforce would have refused. */
		p->testing = true;
		p->unlisted = !listed;
		p->need = CLIENT_TLS_MAY;
		return true;
	}
	p->need = CLIENT_TLS_AUTH;
	return true;
}

/* The plan for the level, before the message's own wishes. */
static bool ctp_level(const struct client_tlspol_in *in, enum mxr_tls_policy level,
    struct client_tlsplan *p, struct client_tlspol_refusal *why)
{
	p->applied = level;
	switch (level) {
	case MXR_TLS_NONE:
		p->need = CLIENT_TLS_NONE;
		return true;
	case MXR_TLS_OPPORTUNISTIC:
		p->need = CLIENT_TLS_MAY;
		return true;
	case MXR_TLS_ENCRYPT:
		p->need = CLIENT_TLS_ENCRYPT;
		return true;
	case MXR_TLS_IMPLICIT:
		/* Implicit TLS is verified as verify is. */
		p->implicit = true;
		__attribute__((fallthrough));
	case MXR_TLS_REQUIRED:
		p->need = CLIENT_TLS_AUTH;
		p->check_pkix = true;
		p->success_auth = MXR_TLS_AUTH_PKIX;
		ctp_match_names(p, in->match, in->domain, in->host);
		return true;
	case MXR_TLS_DANE_ONLY:
		if (in->tlsa == CLIENT_TLSA_FOUND || in->tlsa == CLIENT_TLSA_BOGUS ||
		    in->tlsa == CLIENT_TLSA_FAILED)
			return ctp_dane(in, p, why);
		return ctp_refuse(why, "dane-required", MXR_TLSRPT_TLSA, NULL,
		    "dane-only: %s has no DNSSEC-secure TLSA records%s", in->host,
		    in->dnssec ? "" : " (DNSSEC validation is off: dnssec_trust_anchor)");
	case MXR_TLS_DANE:
		if (in->tlsa == CLIENT_TLSA_FOUND || in->tlsa == CLIENT_TLSA_BOGUS ||
		    in->tlsa == CLIENT_TLSA_FAILED)
			return ctp_dane(in, p, why);
		return ctp_sts(in, p, why);
	case MXR_TLS_MTA_STS:
		return ctp_sts(in, p, why);
	}
	p->need = CLIENT_TLS_MAY;
	return true;
}

/*
 * RFC 8689 4.2.1: a REQUIRETLS message goes only to a host whose
 * certificate is authenticated (DANE from a secure MX lookup or a route,
 * MTA-STS enforce, or a verified route); another host can never do.
 */
static bool ctp_requiretls(const struct client_tlspol_in *in, struct client_tlsplan *p,
    struct client_tlspol_refusal *why)
{
	bool authenticated = p->need == CLIENT_TLS_AUTH && !p->testing &&
	    (!p->dane || in->mx_secure || !in->via_mx);
	if (authenticated) {
		p->requiretls = true;
		return true;
	}
	memset(why, 0, sizeof(*why));
	why->permanent = true;
	snprintf(why->esc, sizeof(why->esc), "5.7.10");
	snprintf(why->text, sizeof(why->text), "REQUIRETLS: %s cannot be authenticated (policy %s%s)"
	    ": the message needs TLS that DANE, MTA-STS or a verified route authenticates",
	    in->host, mxr_tls_policy_name(p->applied), p->testing ? " testing" : "");
	return false;
}

bool client_tlspol_decide(const struct client_tlspol_in *in, struct client_tlsplan *p,
    struct client_tlspol_refusal *why)
{
	memset(p, 0, sizeof(*p));
	memset(why, 0, sizeof(*why));
	p->report = MXR_TLSRPT_NO_POLICY;
	p->success_auth = MXR_TLS_AUTH_NONE;
	enum mxr_tls_policy level = in->level;
	/* RFC 8689 5: the sender lets published policies go; an administrator's stay. */
	if (in->tls_optional && !in->requiretls && ctp_published(level)) {
		level = MXR_TLS_OPPORTUNISTIC;
		p->relaxed = true;
	}
	bool ok = ctp_level(in, level, p, why);
	if (ok && in->requiretls)
		ok = ctp_requiretls(in, p, why);
	why->applied = p->applied;
	return ok;
}
