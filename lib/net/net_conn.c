/*
 * net_conn: one TCP connection on the libevent loop, plain or TLS.
 *
 * Owns: the socket (through a bufferevent that closes it), the OpenSSL
 * filter stacked on it after STARTTLS or for implicit TLS, the connect
 * timer, read/write timeouts, capped line reading, the deferred-free rule,
 * the printable text of the last error, and the verdict of a client
 * handshake (what authenticated the server, or why nothing did; judged by
 * net_tls).
 * Never: parses SMTP, logs peer data, or frees itself while the owner's
 * callback is still on the stack.
 */
#include "net/net_conn.h"
#include "net_tls_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util/log.h"
#include "util/xalloc.h"

/* How often a closing TLS connection looks whether the socket took its last bytes. */
#define NET_FLUSH_POLL_MS 20
/* How long a closing connection may take to flush when no timeout was set. */
#define NET_FLUSH_DEFAULT_MS 30000
/*
 * Under a TLS filter, how many encrypted octets the socket bufferevent may
 * hold before the filter keeps the rest as clear text in its own output.
 * Without a cap the filter moves everything down at once, its own output
 * is empty, and it never again reports a drain while the socket one
 * empties: an owner that waits for the drain before writing more (as the
 * DATA pump does above its high-water mark) then waits for ever. With the
 * cap, the filter's output is what backs up, and its write callback fires
 * as the socket takes the records.
 */
#define NET_TLS_UNDER_HIWAT (64u * 1024u)
#define NET_TLS_UNDER_LOWAT (16u * 1024u)

enum net_timer_role {
	NET_TIMER_NONE,
	NET_TIMER_CONNECT,	/* the connect timeout */
	NET_TIMER_REPORT,	/* a connect that failed at once, reported from the loop */
	NET_TIMER_FLUSH,	/* a closing connection checks its output */
};

struct net_conn {
	struct event_base *base;	/* borrowed */
	struct bufferevent *bev;	/* owned; the TLS filter once TLS is on (it owns the socket one) */
	net_conn_cb *cb;
	void *arg;
	unsigned depth;			/* owner callbacks on the stack now */
	bool free_pending;		/* net_conn_free was called inside a callback */
	bool connecting;
	bool closing;			/* close_after_flush: no more events to the owner */
	bool tls;
	bool tls_handshaking;
	bool read_paused;
	SSL *implicit_ssl;		/* owned until the handshake starts: implicit TLS set up */
	struct net_tls_check tls_check;	/* what a client handshake is judged against */
	struct net_tls_verdict verdict;	/* the judgement, once the handshake ended */
	unsigned timeout_ms;
	unsigned connect_timeout_ms;
	struct event *timer;		/* owned; what it is for is timer_role */
	enum net_timer_role timer_role;
	int report_errno;		/* the errno of a connect that failed at once */
	unsigned flush_polls_left;
	size_t lowat;
	struct sockaddr_storage peer;
	char peer_ip[INET6_ADDRSTRLEN];
	char local_ip[INET6_ADDRSTRLEN];
	char dest[INET6_ADDRSTRLEN + 8];	/* "ip:port" or "[ip]:port", for messages */
	char err[256];
};

/*
 * The text behind *err of net_conn_connect. The interface hands back a
 * const char *, so each thread keeps its last immediate failure here.
 */
static _Thread_local char net_conn_errbuf[256];

static void net_conn_read_cb(struct bufferevent *bev, void *arg);
static void net_conn_write_cb(struct bufferevent *bev, void *arg);
static void net_conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void net_conn_check_flush(struct net_conn *c);

/* Errno as text, without the thread-unsafe strerror. */
static const char *net_conn_strerror(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

/* "30 s" or "1500 ms" for messages about timeouts. */
static void net_conn_fmt_ms(char *buf, size_t len, unsigned ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%u s", ms / 1000);
	else
		snprintf(buf, len, "%u ms", ms);
}

/* The address of sa as text, "ip" or "ip:port" ("[ip]:port" for IPv6). */
static void net_conn_addr_text(const struct sockaddr *sa, char *buf, size_t len, bool with_port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	bool v6 = false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
		v6 = true;
	}
	if (!with_port)
		snprintf(buf, len, "%s", ip);
	else if (v6)
		snprintf(buf, len, "[%s]:%u", ip, port);
	else
		snprintf(buf, len, "%s:%u", ip, port);
}

/* The peer's port (0 when unknown), for the TLSA owner name in messages. */
static unsigned net_conn_peer_port(const struct net_conn *c)
{
	if (c->peer.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)&c->peer)->sin_port);
	if (c->peer.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)&c->peer)->sin6_port);
	return 0;
}

/* Record the last error as printf text. */
__attribute__((format(printf, 2, 3)))
static void net_conn_set_error(struct net_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	/* Peer-influenced text (OpenSSL reasons are not) stays printable anyway. */
	for (char *p = c->err; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

/* Release everything the connection owns. */
static void net_conn_destroy(struct net_conn *c)
{
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	SSL_free(c->implicit_ssl);
	free(c);
}

/*
 * Run the owner's callback with the depth counter held, then carry out a
 * free asked for inside it. Returns false when the connection is gone.
 */
static bool net_conn_emit(struct net_conn *c, enum net_event ev)
{
	if (c->cb != NULL && !c->closing && !c->free_pending) {
		c->depth++;
		c->cb(c, ev, c->arg);
		c->depth--;
	}
	if (c->free_pending) {
		if (c->depth == 0)
			net_conn_destroy(c);
		return false;
	}
	return true;
}

/* (Re)arm the single timer for role after ms milliseconds. */
static void net_conn_arm_timer(struct net_conn *c, enum net_timer_role role, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	c->timer_role = role;
	event_add(c->timer, &tv);
}

static void net_conn_disarm_timer(struct net_conn *c)
{
	c->timer_role = NET_TIMER_NONE;
	event_del(c->timer);
}

/* Put the read/write timeouts on the current top bufferevent. */
static void net_conn_apply_timeouts(struct net_conn *c)
{
	unsigned ms = c->timeout_ms;
	if (c->closing && ms == 0)
		ms = NET_FLUSH_DEFAULT_MS;
	if (ms == 0) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		return;
	}
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* Fill in the local address text from the socket. */
static void net_conn_fill_local(struct net_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = (int)bufferevent_getfd(c->bev);
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		net_conn_addr_text((struct sockaddr *)&ss, c->local_ip, sizeof(c->local_ip), false);
}

/* Small writes such as the final "." of DATA must not wait for Nagle. */
static void net_conn_nodelay(int fd)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The timer: a connect timeout, a refused connect, or a flush check. */
static void net_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_conn *c = arg;
	char tbuf[32], ebuf[128];
	(void)fd;
	(void)what;
	enum net_timer_role role = c->timer_role;
	c->timer_role = NET_TIMER_NONE;
	switch (role) {
	case NET_TIMER_CONNECT:
		net_conn_fmt_ms(tbuf, sizeof(tbuf), c->connect_timeout_ms);
		net_conn_set_error(c, "connect to %s: timed out after %s", c->dest, tbuf);
		c->connecting = false;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		(void)net_conn_emit(c, NET_EV_ERROR);
		break;
	case NET_TIMER_REPORT:
		net_conn_set_error(c, "connect to %s: %s", c->dest,
		    net_conn_strerror(c->report_errno, ebuf, sizeof(ebuf)));
		c->connecting = false;
		(void)net_conn_emit(c, NET_EV_ERROR);
		break;
	case NET_TIMER_FLUSH:
		net_conn_check_flush(c);
		break;
	case NET_TIMER_NONE:
		break;
	}
}

/*
 * The common part of an outbound and an accepted connection. libevent
 * allocation failures are treated like xmalloc's: fatal.
 */
static struct net_conn *net_conn_new(struct event_base *base, int fd, net_conn_cb *cb, void *arg)
{
	struct net_conn *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->cb = cb;
	c->arg = arg;
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(base, net_conn_timer_cb, c);
	if (c->bev == NULL || c->timer == NULL)
		fatal("net_conn: out of memory creating a connection");
	bufferevent_setcb(c->bev, net_conn_read_cb, net_conn_write_cb, net_conn_event_cb, c);
	return c;
}

struct net_conn *net_conn_connect(struct event_base *base,
    const struct sockaddr *sa, socklen_t salen, const struct sockaddr *src,
    socklen_t srclen, unsigned connect_timeout_ms, net_conn_cb *cb, void *arg,
    const char **err)
{
	char dest[INET6_ADDRSTRLEN + 8], ebuf[128];
	net_conn_addr_text(sa, dest, sizeof(dest), true);
	if ((size_t)salen > sizeof(struct sockaddr_storage)) {
		snprintf(net_conn_errbuf, sizeof(net_conn_errbuf), "connect to %s: bad address length", dest);
		*err = net_conn_errbuf;
		return NULL;
	}
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(net_conn_errbuf, sizeof(net_conn_errbuf), "connect to %s: socket: %s",
		    dest, net_conn_strerror(errno, ebuf, sizeof(ebuf)));
		*err = net_conn_errbuf;
		return NULL;
	}
	net_conn_nodelay(fd);
	if (src != NULL && bind(fd, src, srclen) != 0) {
		char srctext[INET6_ADDRSTRLEN];
		int e = errno;
		net_conn_addr_text(src, srctext, sizeof(srctext), false);
		snprintf(net_conn_errbuf, sizeof(net_conn_errbuf), "connect to %s: bind to %s: %s",
		    dest, srctext, net_conn_strerror(e, ebuf, sizeof(ebuf)));
		close(fd);
		*err = net_conn_errbuf;
		return NULL;
	}
	struct net_conn *c = net_conn_new(base, fd, cb, arg);
	snprintf(c->dest, sizeof(c->dest), "%s", dest);
	memcpy(&c->peer, sa, salen);
	net_conn_addr_text(sa, c->peer_ip, sizeof(c->peer_ip), false);
	c->connecting = true;
	c->connect_timeout_ms = connect_timeout_ms;
	if (connect(fd, sa, salen) == 0 || errno == EINPROGRESS) {
		/* With the socket already connecting, libevent waits for it to become writable. */
		if (bufferevent_socket_connect(c->bev, NULL, 0) != 0) {
			net_conn_destroy(c);
			snprintf(net_conn_errbuf, sizeof(net_conn_errbuf),
			    "connect to %s: cannot watch the socket", dest);
			*err = net_conn_errbuf;
			return NULL;
		}
		if (connect_timeout_ms > 0)
			net_conn_arm_timer(c, NET_TIMER_CONNECT, connect_timeout_ms);
	} else {
		/* Refused at once (common on loopback): report it from the loop like any failure. */
		c->report_errno = errno;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		net_conn_arm_timer(c, NET_TIMER_REPORT, 0);
	}
	return c;
}

struct net_conn *net_conn_accept(struct event_base *base, int fd, SSL_CTX *tls,
    net_conn_cb *cb, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	(void)evutil_make_socket_nonblocking(fd);
	net_conn_nodelay(fd);
	struct net_conn *c = net_conn_new(base, fd, cb, arg);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		memcpy(&c->peer, &ss, sizeof(ss));
		net_conn_addr_text((struct sockaddr *)&ss, c->peer_ip, sizeof(c->peer_ip), false);
		net_conn_addr_text((struct sockaddr *)&ss, c->dest, sizeof(c->dest), true);
	}
	net_conn_fill_local(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (tls != NULL && net_conn_starttls(c, tls, NULL, true) != 0) {
		net_conn_destroy(c);
		return NULL;
	}
	return c;
}

/* Whether c may start TLS now. */
static bool net_conn_tls_startable(const struct net_conn *c)
{
	return c != NULL && !c->tls && !c->closing && !c->free_pending;
}

/*
 * Stack the OpenSSL filter with ssl (owned from here on) on the live
 * bufferevent and start the handshake.
 */
static int net_conn_tls_start(struct net_conn *c, SSL *ssl, bool server)
{
	/* RFC 3207 5: whatever the peer pipelined before the handshake is dropped. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	/* The filter now drives the socket bufferevent; its timeouts and marks move up. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_setwatermark(c->bev, EV_WRITE, NET_TLS_UNDER_LOWAT, NET_TLS_UNDER_HIWAT);
	/* Deferred callbacks: a write must never call back into the owner synchronously. */
	struct bufferevent *f = bufferevent_openssl_filter_new(c->base, c->bev, ssl,
	    server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (f == NULL) {
		SSL_free(ssl);
		net_conn_set_error(c, "TLS setup failed: cannot create the TLS filter");
		return -1;
	}
	/* Many SMTP peers close without close_notify; that is an EOF, not an attack. */
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	c->bev = f;
	c->tls = true;
	c->tls_handshaking = true;
	memset(&c->verdict, 0, sizeof(c->verdict));
	bufferevent_setcb(f, net_conn_read_cb, net_conn_write_cb, net_conn_event_cb, c);
	bufferevent_setwatermark(f, EV_WRITE, c->lowat, 0);
	net_conn_apply_timeouts(c);
	bufferevent_enable(f, c->read_paused ? EV_WRITE : EV_READ | EV_WRITE);
	return 0;
}

int net_conn_starttls(struct net_conn *c, SSL_CTX *tls, const char *sni, bool server)
{
	const char *err = NULL;
	if (!net_conn_tls_startable(c) || tls == NULL)
		return -1;
	SSL *ssl = net_tls_ssl_sni(tls, sni, server, &c->tls_check, &err);
	if (ssl == NULL) {
		net_conn_set_error(c, "TLS setup failed: %s", err);
		return -1;
	}
	return net_conn_tls_start(c, ssl, server);
}

int net_conn_starttls_peer(struct net_conn *c, SSL_CTX *tls, const struct net_tls_peer *peer)
{
	const char *err = NULL;
	if (!net_conn_tls_startable(c) || tls == NULL || peer == NULL)
		return -1;
	SSL *ssl = net_tls_ssl_peer(tls, peer, &c->tls_check, &err);
	if (ssl == NULL) {
		net_conn_set_error(c, "TLS setup failed: %s", err);
		return -1;
	}
	return net_conn_tls_start(c, ssl, false);
}

/*
 * Implicit TLS: the SSL is made now, so that the caller's peer and names
 * need not outlive this call, and its handshake starts when TCP connects.
 * A second call replaces the first; a failed one leaves it as it was.
 */
static int net_conn_set_implicit_ssl(struct net_conn *c, SSL *ssl, const struct net_tls_check *chk,
    const char *err)
{
	if (ssl == NULL) {
		net_conn_set_error(c, "TLS setup failed: %s", err);
		return -1;
	}
	SSL_free(c->implicit_ssl);
	c->implicit_ssl = ssl;
	c->tls_check = *chk;
	return 0;
}

int net_conn_set_implicit_tls(struct net_conn *c, SSL_CTX *tls, const char *sni)
{
	const char *err = NULL;
	struct net_tls_check chk;
	if (c == NULL || tls == NULL || !c->connecting || c->tls)
		return -1;
	SSL *ssl = net_tls_ssl_sni(tls, sni, false, &chk, &err);
	return net_conn_set_implicit_ssl(c, ssl, &chk, err);
}

int net_conn_set_implicit_tls_peer(struct net_conn *c, SSL_CTX *tls, const struct net_tls_peer *peer)
{
	const char *err = NULL;
	struct net_tls_check chk;
	if (c == NULL || tls == NULL || peer == NULL || !c->connecting || c->tls)
		return -1;
	SSL *ssl = net_tls_ssl_peer(tls, peer, &chk, &err);
	return net_conn_set_implicit_ssl(c, ssl, &chk, err);
}

void net_conn_set_cb(struct net_conn *c, net_conn_cb *cb, void *arg)
{
	c->cb = cb;
	c->arg = arg;
}

void net_conn_set_timeout(struct net_conn *c, unsigned ms)
{
	c->timeout_ms = ms;
	if (!c->connecting)
		net_conn_apply_timeouts(c);
}

/* Input is handed to the owner; a closing connection throws it away. */
static void net_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct net_conn *c = arg;
	if (c->closing || c->free_pending) {
		struct evbuffer *in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	(void)net_conn_emit(c, NET_EV_READ);
}

/* Output fell to the low-water mark. */
static void net_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct net_conn *c = arg;
	(void)bev;
	if (c->closing) {
		net_conn_check_flush(c);
		return;
	}
	(void)net_conn_emit(c, NET_EV_DRAINED);
}

/* Describe a TLS failure from OpenSSL's error queue for this bufferevent. */
static void net_conn_tls_error(struct net_conn *c, struct bufferevent *bev, int sock_errno)
{
	const char *prefix = c->tls_handshaking ? "TLS handshake failed" : "TLS error";
	unsigned long e, first = 0;
	char ebuf[128];
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (first == 0)
			first = e;
	ERR_clear_error();
	if (first == 0) {
		if (sock_errno != 0)
			net_conn_set_error(c, "%s: %s", prefix, net_conn_strerror(sock_errno, ebuf, sizeof(ebuf)));
		else
			net_conn_set_error(c, "%s: connection closed by peer", prefix);
		return;
	}
	const char *reason = ERR_reason_error_string(first);
	if (reason == NULL)
		reason = "unknown error";
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK) {
		net_conn_set_error(c, "%s: %s (%s)", prefix, reason, X509_verify_cert_error_string(vr));
		/* A context that verifies aborted the handshake: say why in the typed form too. */
		if (c->tls_check.judge)
			net_tls_judge(ssl, &c->tls_check, net_conn_peer_port(c), &c->verdict);
	} else {
		net_conn_set_error(c, "%s: %s", prefix, reason);
	}
}

/* The handshake finished: judge what authenticated the server (client side). */
static void net_conn_tls_done(struct net_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	c->tls_handshaking = false;
	if (ssl != NULL && c->tls_check.judge)
		net_tls_judge(ssl, &c->tls_check, net_conn_peer_port(c), &c->verdict);
}

/* Connected, handshake done, EOF, timeout or error from libevent. */
static void net_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct net_conn *c = arg;
	int sock_errno = EVUTIL_SOCKET_ERROR();
	char ebuf[128], tbuf[32];

	if (c->free_pending)
		return;
	if (c->closing && (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT | BEV_EVENT_EOF))) {
		net_conn_free(c);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		if (c->connecting) {
			c->connecting = false;
			net_conn_disarm_timer(c);
			net_conn_fill_local(c);
			net_conn_apply_timeouts(c);
			bufferevent_enable(bev, c->read_paused ? EV_WRITE : EV_READ | EV_WRITE);
			/* Wrap before the owner can write, so nothing leaves in clear. */
			SSL *ssl = c->implicit_ssl;
			c->implicit_ssl = NULL;
			if (ssl != NULL && net_conn_tls_start(c, ssl, false) != 0) {
				(void)net_conn_emit(c, NET_EV_ERROR);
				return;
			}
			(void)net_conn_emit(c, NET_EV_CONNECTED);
		} else if (c->tls_handshaking) {
			net_conn_tls_done(c);
			(void)net_conn_emit(c, NET_EV_TLS_OK);
		}
		return;
	}
	if (c->connecting) {
		c->connecting = false;
		net_conn_disarm_timer(c);
		net_conn_set_error(c, "connect to %s: %s", c->dest, sock_errno != 0 ?
		    net_conn_strerror(sock_errno, ebuf, sizeof(ebuf)) : "connection failed");
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		(void)net_conn_emit(c, NET_EV_ERROR);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		net_conn_fmt_ms(tbuf, sizeof(tbuf), c->timeout_ms);
		net_conn_set_error(c, "connection timed out after %s", tbuf);
		/* libevent stops the direction that timed out; the owner decides what next. */
		if ((what & BEV_EVENT_READING) && !c->read_paused)
			bufferevent_enable(bev, EV_READ);
		if (what & BEV_EVENT_WRITING)
			bufferevent_enable(bev, EV_WRITE);
		(void)net_conn_emit(c, NET_EV_TIMEOUT);
		return;
	}
	if (c->tls && (c->tls_handshaking || (what & BEV_EVENT_ERROR))) {
		net_conn_tls_error(c, bev, (what & BEV_EVENT_ERROR) ? sock_errno : 0);
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		(void)net_conn_emit(c, NET_EV_ERROR);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		net_conn_set_error(c, "connection closed by peer");
		(void)net_conn_emit(c, NET_EV_EOF);
		return;
	}
	net_conn_set_error(c, "%s %s: %s", (what & BEV_EVENT_READING) ? "read from" : "write to",
	    c->dest, net_conn_strerror(sock_errno, ebuf, sizeof(ebuf)));
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	(void)net_conn_emit(c, NET_EV_ERROR);
}

int net_conn_readline(struct net_conn *c, char *buf, size_t cap, size_t *len)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t eol_len = 0;
	if (cap == 0)
		return -1;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		/* Even a CR LF arriving next could not bring this line under the cap. */
		return evbuffer_get_length(in) > cap ? -1 : 0;
	}
	size_t n = (size_t)p.pos;
	size_t drop = 1;
	if (n > 0) {
		struct evbuffer_ptr q;
		char ch = 0;
		if (evbuffer_ptr_set(in, &q, n - 1, EVBUFFER_PTR_SET) == 0 &&
		    evbuffer_copyout_from(in, &q, &ch, 1) == 1 && ch == '\r') {
			n--;
			drop++;
		}
	}
	if (n > cap - 1)
		return -1;
	if (evbuffer_remove(in, buf, n) != (ev_ssize_t)n)
		return -1;
	evbuffer_drain(in, drop);
	buf[n] = '\0';
	*len = n;
	return 1;
}

struct evbuffer *net_conn_input(struct net_conn *c)
{
	return bufferevent_get_input(c->bev);
}

struct evbuffer *net_conn_output(struct net_conn *c)
{
	return bufferevent_get_output(c->bev);
}

/*
 * Allocation failures on writes. libevent's allocations go through the
 * project's allocator (event_set_mem_functions(xmalloc, xrealloc, free),
 * set once by each program's main before any other libevent call), so an
 * evbuffer that cannot grow aborts with xalloc's message, as every other
 * allocation does. Chosen over checking each write and failing the
 * connection because most output never passes here: the SMTP replies, the
 * DATA pump and the control socket add to net_conn_output() (and to
 * evbuffers of their own) directly, and the TLS filter allocates as it
 * encrypts; one allocator covers all of them, where a check here would
 * cover two functions and leave every caller to handle a connection that
 * turned into an error in the middle of a reply. What is left to fail once
 * allocation cannot is a frozen or overflowing buffer: a bug, so panic.
 */
void net_conn_write(struct net_conn *c, const void *data, size_t len)
{
	if (c->closing || c->free_pending)
		return;
	if (bufferevent_write(c->bev, data, len) != 0)
		panic("op=net_conn_write peer=%s len=%zu reason=\"output buffer refused the data\"",
		    c->peer_ip, len);
}

void net_conn_printf(struct net_conn *c, const char *fmt, ...)
{
	va_list ap;
	if (c->closing || c->free_pending)
		return;
	va_start(ap, fmt);
	int n = evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
	if (n < 0)
		panic("op=net_conn_printf peer=%s reason=\"output buffer refused the data\"",
		    c->peer_ip);
}

size_t net_conn_pending(const struct net_conn *c)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

void net_conn_pause_read(struct net_conn *c, bool pause)
{
	c->read_paused = pause;
	if (c->connecting || c->closing || c->free_pending)
		return;
	if (pause)
		bufferevent_disable(c->bev, EV_READ);
	else
		bufferevent_enable(c->bev, EV_READ);
}

void net_conn_set_lowat(struct net_conn *c, size_t lowat)
{
	c->lowat = lowat;
	bufferevent_setwatermark(c->bev, EV_WRITE, lowat, 0);
}

/*
 * A closing connection is released once every octet reached the socket,
 * including TLS records still below the filter, or when its time is up.
 */
static void net_conn_check_flush(struct net_conn *c)
{
	if (c->free_pending)
		return;
	if (net_conn_pending(c) == 0 || c->flush_polls_left == 0) {
		net_conn_free(c);
		return;
	}
	c->flush_polls_left--;
	net_conn_arm_timer(c, NET_TIMER_FLUSH, NET_FLUSH_POLL_MS);
}

void net_conn_close_after_flush(struct net_conn *c)
{
	if (c == NULL || c->closing || c->free_pending)
		return;
	if (c->connecting) {
		net_conn_free(c);
		return;
	}
	c->closing = true;
	unsigned ms = c->timeout_ms != 0 ? c->timeout_ms : NET_FLUSH_DEFAULT_MS;
	c->flush_polls_left = ms / NET_FLUSH_POLL_MS + 1;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	net_conn_apply_timeouts(c);
	net_conn_check_flush(c);
}

bool net_conn_is_tls(const struct net_conn *c)
{
	return c->tls;
}

const char *net_conn_tls_version(const struct net_conn *c)
{
	if (!c->tls)
		return NULL;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	return ssl != NULL ? SSL_get_version(ssl) : NULL;
}

const char *net_conn_tls_cipher(const struct net_conn *c)
{
	if (!c->tls)
		return NULL;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	return ssl != NULL ? SSL_get_cipher_name(ssl) : NULL;
}

bool net_conn_tls_verified(const struct net_conn *c)
{
	return net_conn_tls_auth(c) != NET_TLS_AUTH_NONE;
}

enum net_tls_auth net_conn_tls_auth(const struct net_conn *c)
{
	return c->tls && !c->tls_handshaking ? c->verdict.auth : NET_TLS_AUTH_NONE;
}

enum net_tls_fail net_conn_tls_fail(const struct net_conn *c)
{
	return c->verdict.fail;
}

const char *net_conn_tls_verify_text(const struct net_conn *c)
{
	return c->verdict.text;
}

const char *net_conn_error(const struct net_conn *c)
{
	return c->err[0] != '\0' ? c->err : "no error";
}

const char *net_conn_peer_ip(const struct net_conn *c)
{
	return c->peer_ip;
}

const struct sockaddr_storage *net_conn_peer_addr(const struct net_conn *c)
{
	return &c->peer;
}

const char *net_conn_local_ip(const struct net_conn *c)
{
	return c->local_ip;
}

void net_conn_free(struct net_conn *c)
{
	if (c == NULL || c->free_pending)
		return;
	if (c->depth > 0) {
		/* Inside the owner's callback: net_conn_emit releases it on the way out. */
		c->free_pending = true;
		c->cb = NULL;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		net_conn_disarm_timer(c);
		return;
	}
	net_conn_destroy(c);
}
