/*
 * client_context: what every delivery of a context shares, behind the
 * public struct mxr_context: the loop, the resolver, the TLS contexts and
 * a frozen copy of the options.
 *
 * Owns: the option copies (strings included), the resolver, the SSL_CTXs,
 * the parsed smarthost and source address, and the cache of idle
 * sessions (the one part deliveries change: they park and take sessions).
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
	SSL_CTX *tls_any;		/* owned, or NULL under MXR_TLS_NONE */
	SSL_CTX *tls_verify;		/* owned, or NULL when not needed */
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
