/*
 * policy: the relay decision for one recipient (RFC 5321 3.6.2, 7.1).
 *
 * Owns: who is trusted to relay (authenticated clients, and clients in
 * relay_networks on listeners that do not require AUTH), which recipients
 * an untrusted client may still give (clean addresses in relay_domains,
 * postmaster), and the mapping of a recipient domain's DNS outcome to a
 * reply when check_recipient_domain is on.
 * Never: does I/O or DNS itself, logs, or looks at the address as text:
 * every decision is made on the parsed address, after normalising the
 * domain (case, one trailing dot), so no spelling of an address reaches a
 * domain the decision did not see.
 */
#include "policy/policy.h"

#include <string.h>

#include "dns/dns_rr.h"

static const struct policy_reply policy_ok = { 250, "2.1.5", "Ok" };
static const struct policy_reply policy_denied = { 550, "5.7.1", "Relaying denied" };
static const struct policy_reply policy_no_domain =
	{ 550, "5.1.3", "Recipient address lacks a domain" };
static const struct policy_reply policy_null = { 550, "5.1.3", "Null recipient address" };

/*
 * Unquote a local part as written (dot-string, or quoted-string with
 * quoted-pairs) into buf. Returns false when it does not fit.
 */
static bool policy_unquote(const char *local, char *buf, size_t buflen)
{
	size_t n = 0, len = strlen(local);
	const char *s = local, *end = local + len;
	bool quoted = len >= 2 && local[0] == '"' && local[len - 1] == '"';
	if (quoted) {
		s++;
		end--;
	}
	for (; s < end; s++) {
		if (quoted && *s == '\\' && s + 1 < end)
			s++;
		if (n + 1 >= buflen)
			return false;
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return true;
}

bool policy_local_has_route(const char *local)
{
	char buf[SMTP_LOCAL_ACCEPT_MAX + 1];
	if (local == NULL || !policy_unquote(local, buf, sizeof(buf)))
		return true;	/* cannot be read: treat as unsafe */
	return strpbrk(buf, "%!@") != NULL;
}

bool policy_client_served(const struct config *c, const struct policy_client *client)
{
	if (client->authenticated || client->local_submission)
		return true;
	return !client->listener_requires_auth && client->addr != NULL &&
	    config_network_match(c, client->addr);
}

/* Set out to r and return whether it accepts. */
static bool policy_reply_set(struct policy_reply *out, const struct policy_reply *r)
{
	*out = *r;
	return r->code / 100 == 2;
}

bool policy_check_rcpt(const struct config *c, const struct policy_client *client,
    const struct smtp_addr *rcpt, struct policy_reply *out)
{
	switch (rcpt->kind) {
	case SMTP_ADDR_NULLPATH:
		return policy_reply_set(out, &policy_null);
	case SMTP_ADDR_LOCALONLY:
		/* RFC 5321 4.5.1: "<Postmaster>" is accepted from anyone. */
		if (smtp_addr_is_postmaster(rcpt))
			return policy_reply_set(out, &policy_ok);
		/* Anyone else without a domain: a relay attempt unless trusted. */
		return policy_reply_set(out, policy_client_served(c, client) ? &policy_no_domain : &policy_denied);
	case SMTP_ADDR_MAILBOX:
		break;
	}
	char domain[SMTP_DOMAIN_MAX + 1];
	size_t len = dns_rr_name_key(rcpt->domain, strnlen(rcpt->domain, sizeof(rcpt->domain)),
	    domain, sizeof(domain));
	if (len == 0)
		return policy_reply_set(out, policy_client_served(c, client) ? &policy_no_domain : &policy_denied);

	if (policy_client_served(c, client))
		return policy_reply_set(out, &policy_ok);
	/* Untrusted: only our own domains, spelled plainly. */
	if (rcpt->domain_is_literal || domain[0] == '[' || domain[len - 1] == '.' ||
	    !config_relay_domain(c, domain))
		return policy_reply_set(out, &policy_denied);
	if (smtp_addr_is_postmaster(rcpt))
		return policy_reply_set(out, &policy_ok);
	if (policy_local_has_route(rcpt->local))
		return policy_reply_set(out, &policy_denied);
	return policy_reply_set(out, &policy_ok);
}

bool policy_domain_verdict(const struct config *c, const struct dns_mx_result *res,
    struct policy_reply *out)
{
	static const struct policy_reply later =
		{ 450, "4.4.3", "Recipient domain cannot be resolved now; try again later" };
	static const struct policy_reply nxdomain =
		{ 550, "5.1.2", "Recipient domain not found" };
	static const struct policy_reply null_mx =
		{ 556, "5.1.10", "Recipient domain does not accept mail" };
	if (c == NULL || !c->check_rcpt_domain)
		return policy_reply_set(out, &policy_ok);
	if (res == NULL)
		return policy_reply_set(out, &later);
	switch (res->status) {
	case DNS_OK:
		return policy_reply_set(out, &policy_ok);
	case DNS_TEMPFAIL:
		return policy_reply_set(out, &later);
	case DNS_PERMFAIL:
		return policy_reply_set(out, res->null_mx ? &null_mx : &nxdomain);
	}
	return policy_reply_set(out, &later);
}
