/*
 * net_http: HTTPS requests on the event loop, for fetching MTA-STS
 * policies (RFC 8461) and posting TLS reports (RFC 8460).
 *
 * Owns: one libcurl multi handle per struct net_http, driven by the
 * libevent loop through curl's socket and timer callbacks (no thread,
 * never blocking the loop); per request, the capped body, the typed
 * outcome and curl's error text made printable.
 * Never: resolves a name (the caller gives the addresses: curl is told
 * them and never asks DNS), follows a redirect, speaks anything but
 * https, uses a proxy, cookies or .netrc, or calls a callback from inside
 * one of its own functions or a curl callback.
 *
 * libcurl's global initialisation is done once per process by the first
 * net_http_new (pthread_once); programs have nothing to call, and nothing
 * else in the process may call curl_global_init or curl_global_cleanup.
 * curl_global_cleanup is never called: the process exit releases it.
 */
#ifndef MXR_NET_HTTP_H
#define MXR_NET_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct net_http;
struct net_http_req;

/* One request; every pointer is borrowed for the net_http_start call only. */
struct net_http_opts {
	/*
	 * https:// only; port from the URL (443 by default). The host is an
	 * ASCII name (A-labels, no trailing dot) or an address literal.
	 */
	const char *url;
	const char *ca_file;		/* NULL: the system store */
	unsigned timeout_ms;		/* the whole request, connect included; 0: 60 s */
	size_t max_body;		/* a longer body fails TOO_LARGE; 0: 64 KiB; at most 256 MiB */
	/*
	 * Where the URL's host is, resolved by the caller (through the
	 * relay's own resolver); ports ignored. Empty: the request fails
	 * CONNECT. At most 16 are used. A URL whose host is an address
	 * literal connects to it and needs none.
	 */
	const struct sockaddr_storage *addrs;
	size_t naddrs;
	/* POST when body is not NULL (body_len may be 0). */
	const char *content_type;	/* with a body; NULL: none sent */
	const void *body;
	size_t body_len;
	const char *user_agent;		/* e.g. "mxrelay/0.1.0"; NULL: none */
};

enum net_http_fail {
	NET_HTTP_OK,			/* a 2xx answer */
	NET_HTTP_FAIL_CONNECT,		/* no address, or no connection to any */
	NET_HTTP_FAIL_TLS,		/* handshake or certificate (chain, name) */
	NET_HTTP_FAIL_TIMEOUT,		/* timeout_ms passed */
	NET_HTTP_FAIL_TOO_LARGE,	/* the body was longer than max_body */
	NET_HTTP_FAIL_STATUS,		/* not 2xx, a redirect included (RFC 8461 3.3) */
	NET_HTTP_FAIL_OTHER,		/* a bad URL or option, a protocol error */
};

/* What a request came to; valid only during the callback. */
struct net_http_response {
	enum net_http_fail fail;
	long status;			/* the HTTP status, 0 when none came */
	const char *content_type;	/* as sent (control octets made '?'), or NULL */
	const char *body;		/* NUL-terminated (not counted); "" when none */
	size_t body_len;
	char error[256];		/* printable; "" when OK */
};

typedef void net_http_cb(const struct net_http_response *r, void *arg);

/* A client on base. Never NULL (allocation failure is fatal). */
struct net_http *net_http_new(struct event_base *base);
/*
 * Cancel every request in flight (their callbacks are not called) and
 * free. NULL is fine. From inside a callback the free is deferred until
 * it returns.
 */
void net_http_free(struct net_http *h);
/*
 * Start a request. cb runs exactly once, from the loop, never from inside
 * this call, unless the request is cancelled first. The request is freed
 * after cb returns. Returns NULL only when h is being freed.
 */
struct net_http_req *net_http_start(struct net_http *h, const struct net_http_opts *o,
    net_http_cb *cb, void *arg);
/*
 * Cancel and free a request: cb is not called. Safe from inside another
 * request's callback; from inside its own it does nothing. NULL is fine.
 */
void net_http_cancel(struct net_http_req *r);

#endif
