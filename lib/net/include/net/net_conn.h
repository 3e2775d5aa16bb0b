/*
 * net_conn: one TCP connection on the event loop, plain or TLS.
 *
 * Owns: the socket, the libevent bufferevent (with the OpenSSL filter
 * after STARTTLS or for implicit TLS), the read/write timeout, line
 * reading with a length cap, and the TLS handshake outcome (version,
 * cipher, what authenticated the server or why nothing did).
 * Never: parses SMTP; protocol code never calls SSL_* or bufferevent_*.
 *
 * Deferred free: net_conn_free() may be called from inside the owner's
 * callback; the object is released after the callback returns.
 */
#ifndef MXR_NET_CONN_H
#define MXR_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "net/net_tls.h"

struct event_base;
struct evbuffer;
struct net_conn;

enum net_event {
	NET_EV_CONNECTED,	/* outbound connect finished */
	NET_EV_READ,		/* new input is buffered */
	NET_EV_DRAINED,		/* output buffer fell below the low-water mark */
	NET_EV_TLS_OK,		/* TLS handshake finished */
	NET_EV_TIMEOUT,		/* the read timeout passed with no input */
	NET_EV_EOF,		/* the peer closed */
	NET_EV_ERROR,		/* connect failure, I/O or TLS error; see net_conn_error() */
};

typedef void net_conn_cb(struct net_conn *c, enum net_event ev, void *arg);

/*
 * Start a connection to sa (with its port set). src, when not NULL, is the
 * local address to bind. implicit_tls makes it a TLS connection from the
 * first byte (port 465): tls and sni are then used as for
 * net_conn_starttls(). Returns NULL with *err on immediate failure.
 */
struct net_conn *net_conn_connect(struct event_base *base,
    const struct sockaddr *sa, socklen_t salen, const struct sockaddr *src,
    socklen_t srclen, unsigned connect_timeout_ms, net_conn_cb *cb, void *arg,
    const char **err);

/*
 * Wrap an accepted socket (made non-blocking here); with tls not NULL the
 * server side of TLS starts at once and NET_EV_TLS_OK or NET_EV_ERROR
 * follows. Returns NULL, with fd closed, only if TLS cannot start.
 */
struct net_conn *net_conn_accept(struct event_base *base, int fd, SSL_CTX *tls,
    net_conn_cb *cb, void *arg);

/*
 * Upgrade a live connection to TLS (client when server is false). Input
 * already buffered is discarded first (RFC 3207 5: nothing sent before the
 * handshake may be used after it). NET_EV_TLS_OK or NET_EV_ERROR follows.
 * sni may be NULL. Returns -1 if TLS cannot start.
 */
int net_conn_starttls(struct net_conn *c, SSL_CTX *tls, const char *sni, bool server);
/*
 * Client side TLS at connect time (implicit TLS); call before
 * NET_EV_CONNECTED. The handshake starts when TCP connects: the owner gets
 * NET_EV_CONNECTED (anything written then is sent after the handshake),
 * then NET_EV_TLS_OK or NET_EV_ERROR.
 */
int net_conn_set_implicit_tls(struct net_conn *c, SSL_CTX *tls, const char *sni);
/*
 * Client side STARTTLS checked against peer (DANE, or PKIX with reference
 * names; see struct net_tls_peer): the peer and its arrays are copied
 * into the connection's TLS state, so they may go after the call. The
 * handshake completes even when verification fails (whatever the
 * context's verify), then NET_EV_TLS_OK: read net_conn_tls_auth and
 * net_conn_tls_fail to decide. Returns -1 (net_conn_error says why) if TLS
 * cannot start, as with TLSA records but no tlsa_base.
 */
int net_conn_starttls_peer(struct net_conn *c, SSL_CTX *tls, const struct net_tls_peer *peer);
/* The same for implicit TLS (port 465); call before NET_EV_CONNECTED. */
int net_conn_set_implicit_tls_peer(struct net_conn *c, SSL_CTX *tls, const struct net_tls_peer *peer);

void net_conn_set_cb(struct net_conn *c, net_conn_cb *cb, void *arg);
/* Read timeout (no input for ms milliseconds gives NET_EV_TIMEOUT); 0 = none. */
void net_conn_set_timeout(struct net_conn *c, unsigned ms);

/*
 * Take one line ending in LF (a preceding CR is dropped) into buf, at most
 * cap-1 octets, NUL-terminated. Returns 1 and *len, 0 when no full line is
 * buffered, or -1 when the line is longer than cap-1 (the input is left as
 * it was; the caller decides what to do).
 */
int net_conn_readline(struct net_conn *c, char *buf, size_t cap, size_t *len);

/* Input and output buffers, for bulk data (DATA/BDAT, message streaming). */
struct evbuffer *net_conn_input(struct net_conn *c);
struct evbuffer *net_conn_output(struct net_conn *c);
/*
 * Queue octets for sending. They never fail: with libevent's allocations
 * routed through xalloc (each main's event_set_mem_functions) running out
 * of memory aborts, and a buffer that refuses data otherwise is a bug
 * (panic). See net_conn.c.
 */
void net_conn_write(struct net_conn *c, const void *data, size_t len);
void net_conn_printf(struct net_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Octets still waiting to be sent. */
size_t net_conn_pending(const struct net_conn *c);
/* Stop/restart reading (flow control while a slow writer catches up). */
void net_conn_pause_read(struct net_conn *c, bool pause);
/*
 * NET_EV_DRAINED fires when output falls to at most lowat octets. Under TLS
 * that is the clear text not yet encrypted; net_conn_pending may then count
 * up to 64 KiB more of records waiting for the socket, so an owner that
 * writes while net_conn_pending is below a mark needs a mark above
 * lowat + 64 KiB.
 */
void net_conn_set_lowat(struct net_conn *c, size_t lowat);
/*
 * Close once everything written has been sent (after a 221/421). From this
 * call on the owner's callback is not called again and c must not be used:
 * it frees itself when the output is sent, on error or on timeout.
 */
void net_conn_close_after_flush(struct net_conn *c);

bool net_conn_is_tls(const struct net_conn *c);
/* "TLSv1.3", or NULL when not TLS. */
const char *net_conn_tls_version(const struct net_conn *c);
const char *net_conn_tls_cipher(const struct net_conn *c);
/*
 * Whether the peer certificate verified against the CA and the name given
 * (or, on a connection started with a peer, net_conn_tls_auth is not NONE).
 */
bool net_conn_tls_verified(const struct net_conn *c);
/* What authenticated the server once the handshake finished; NONE before, or on the server side. */
enum net_tls_auth net_conn_tls_auth(const struct net_conn *c);
/*
 * Why verification of the server failed: after NET_EV_TLS_OK on any
 * client connection, and after a NET_EV_ERROR where a verifying context
 * aborted the handshake. NONE when it passed, or nothing was judged.
 */
enum net_tls_fail net_conn_tls_fail(const struct net_conn *c);
/*
 * The same as printable text: "certificate does not match any TLSA record
 * of _25._tcp.mx1.a.test", "certificate name does not match mx1.a.test
 * (certificate for other.test)", "certificate has expired", "unable to get
 * local issuer certificate"; "" when verified or nothing was judged.
 */
const char *net_conn_tls_verify_text(const struct net_conn *c);
/* Text of the last error (connect, I/O or TLS), printable. */
const char *net_conn_error(const struct net_conn *c);

/* Peer and local addresses as "ip" text, and the peer sockaddr. */
const char *net_conn_peer_ip(const struct net_conn *c);
const struct sockaddr_storage *net_conn_peer_addr(const struct net_conn *c);
const char *net_conn_local_ip(const struct net_conn *c);

/* Close and free (deferred when inside a callback). NULL is fine. */
void net_conn_free(struct net_conn *c);

#endif
