/*
 * client_context: what every delivery of a context shares, behind the
 * public struct mxr_context: the loop, the resolver, the TLS contexts and
 * a frozen copy of the options.
 *
 * Owns: the option copies (strings and TLS rules included), the resolver
 * (validating when trust anchors are given), the client SSL_CTX, the
 * parsed smarthost and source address, the MTA-STS policies
 * (client_sts), and the cache of idle sessions (deliveries park and take
 * sessions, and MTA-STS policies are fetched and kept).
 * Never: changes its options after mxr_context_new returns.
 */
#ifndef MXR_CLIENT_CONTEXT_H
#define MXR_CLIENT_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mxrelay/mxrelay.h"
#include "client_pool.h"
#include "client_session.h"
#include "client_sts.h"
#include "dns/dns_mx.h"

struct mxr_context {
	struct event_base *base;	/* the caller's */
	struct mxr_options opt;		/* strings point into the copies below */
	char *helo_name;		/* owned */
	char *dns_server;		/* owned */
	char *ca_file;			/* owned */
	char *auth_user;		/* owned */
	char *auth_pass;		/* owned, wiped before free */
	struct client_timeouts to;
	enum dns_family family;
	uint16_t port;			/* destination port for MX hosts */
	struct dns_resolver *dns;	/* owned */
	bool dnssec;			/* dns validates (trust anchors were given) */
	SSL_CTX *tls_ctx;		/* owned: every outbound TLS connection's (DANE enabled) */
	struct mxr_tls_rule *rules;	/* owned copies of opt.tls_rules (strings too) */
	struct client_sts *sts;		/* owned: MTA-STS policies, or NULL when no level wants them */
	bool has_src;
	struct sockaddr_storage src;
	socklen_t srclen;
	bool has_relay;			/* a smarthost is set */
	bool relay_no_mx;		/* "[host]": addresses only, no MX lookup */
	char relay_host[256];
	uint16_t relay_port;		/* 0: the default port */
	struct client_pool *pool;	/* owned: idle sessions, or NULL without reuse */
	struct mxr_observer observer;	/* opt.observer points here when one was given */
};

/*
 * Parse a smarthost "host", "host:port", "[host]" or "[host]:port"
 * (an IPv6 address only in brackets). Returns 0 or -1 with *err.
 */
int client_context_parse_relay(const char *s, char *host, size_t hostlen, bool *no_mx,
    uint16_t *port, const char **err);

#endif
