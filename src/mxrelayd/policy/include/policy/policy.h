/*
 * policy: who may relay (RFC 5321 3.6.2, 7.1) and which recipients are
 * refused before the message is taken.
 *
 * Owns: the relay decision for one recipient, made on the address after
 * source-route stripping, proof against the old tricks: '%' hack, '!'
 * paths, quoted local parts holding '@' or '%', address literals, trailing
 * dots, mixed case, missing domains.
 * Never: does I/O; the optional DNS check of the recipient domain is the
 * session's, which calls policy_domain_verdict() with the DNS outcome.
 */
#ifndef MXR_POLICY_H
#define MXR_POLICY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config/config.h"
#include "dns/dns_mx.h"
#include "smtp/smtp_addr.h"

struct policy_reply {
	int code;		/* 250 when accepted */
	const char *esc;	/* "2.1.5", "5.7.1", ... */
	const char *text;	/* static reply text */
};

struct policy_client {
	const struct sockaddr *addr;	/* the client's address */
	bool authenticated;
	bool listener_requires_auth;	/* submission/smtps: networks alone do not relay */
	bool local_submission;		/* the local socket: trusted as relay_networks are */
};

/*
 * Whether the relay serves client: it authenticated, used the local
 * socket, or comes from relay_networks on a listener that does not ask
 * for AUTH. Such a client relays anywhere, and its mail is a submission
 * (smtpd_submit); any other only reaches relay_domains.
 */
bool policy_client_served(const struct config *c, const struct policy_client *client);
/* Accept (250 2.1.5) or refuse (550 5.7.1 Relaying denied, etc.) one recipient. */
bool policy_check_rcpt(const struct config *c, const struct policy_client *client,
    const struct smtp_addr *rcpt, struct policy_reply *out);

/*
 * With check_recipient_domain set, turn the DNS outcome for an accepted
 * recipient's domain into the reply: 250 when the domain can receive mail,
 * 450 4.4.3 when DNS failed for now, 550 5.1.2 when the domain does not
 * exist or has no address, 556 5.1.10 for a null MX (RFC 7505). With the
 * check off, always 250. Returns whether the recipient is accepted.
 */
bool policy_domain_verdict(const struct config *c, const struct dns_mx_result *res,
    struct policy_reply *out);

/*
 * Whether a local part (as written, quotes included) holds a routing
 * character ('%', '!' or '@') once unquoted: such a recipient is never
 * relayed for an untrusted client.
 */
bool policy_local_has_route(const char *local);

#endif
