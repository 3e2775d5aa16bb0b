/*
 * net_tls_int: what net_conn asks of net_tls for one connection, private
 * to lib/net.
 *
 * Owns: making the SSL object of one client connection with what it is
 * checked against, and judging the handshake's outcome into a typed
 * verdict with a printable text.
 * Never: touches the socket or the bufferevent (net_conn does).
 */
#ifndef MXR_NET_TLS_INT_H
#define MXR_NET_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "net/net_tls.h"

typedef struct ssl_st SSL;

/* What a client connection is judged against; the connection holds a copy. */
struct net_tls_check {
	bool judge;		/* a client connection: judge its handshake */
	size_t ndane;		/* usable TLSA records given to OpenSSL; 0: no DANE */
	char base[256];		/* the TLSA base domain, printable, for messages */
	char refs[256];		/* the reference identifiers, printable, for messages */
};

/* The judgement of one handshake. */
struct net_tls_verdict {
	enum net_tls_auth auth;
	enum net_tls_fail fail;
	char text[512];		/* printable; "" when authenticated */
};

/*
 * An SSL for the client side of a connection to peer, verification set to
 * complete the handshake and judge afterwards; *chk filled. NULL with *err
 * (a static text) when the peer cannot be set up.
 */
SSL *net_tls_ssl_peer(SSL_CTX *ctx, const struct net_tls_peer *peer, struct net_tls_check *chk,
    const char **err);
/*
 * An SSL as net_conn_starttls has always made it: sni sent and checked
 * when not NULL, the context's verification mode kept. *chk filled.
 */
SSL *net_tls_ssl_sni(SSL_CTX *ctx, const char *sni, bool server, struct net_tls_check *chk,
    const char **err);
/*
 * Judge the verification of a client handshake, finished or aborted, on
 * ssl against chk; port names the TLSA owner in messages (_port._tcp).
 */
void net_tls_judge(SSL *ssl, const struct net_tls_check *chk, unsigned port,
    struct net_tls_verdict *v);

#endif
