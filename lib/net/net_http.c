/*
 * net_http: HTTPS requests over libcurl's multi-socket interface on the
 * libevent loop (see net_http.h).
 *
 * Owns: the multi handle and its timer, an event per socket curl asks to
 * watch, and per request the easy handle, its header and resolve lists,
 * the capped body and the event that reports the outcome.
 * Never: lets curl resolve a name or follow a redirect; calls the owner's
 * callback from inside curl or from inside net_http_start (every outcome
 * is reported from the request's own event); frees a request or the
 * client while a callback is on the stack.
 */
#include "net/net_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "util/log.h"
#include "util/xalloc.h"

#define NET_HTTP_DEFAULT_TIMEOUT_MS 60000u
#define NET_HTTP_DEFAULT_MAX_BODY (64u * 1024u)
/* The most max_body may say: the buffer's arithmetic stays far from overflow. */
#define NET_HTTP_MAX_BODY_LIMIT (256u * 1024u * 1024u)
/* Most addresses put in a resolve entry. */
#define NET_HTTP_MAX_ADDRS 16u
/* First allocation of a body buffer. */
#define NET_HTTP_BODY_START 4096u

/* A socket curl asked to watch. */
struct net_http_sock {
	struct net_http *h;
	struct event *ev;		/* owned */
	struct net_http_sock *prev, *next;
};

struct net_http_req {
	struct net_http *h;		/* the client it runs on */
	struct net_http_req *prev, *next;
	CURL *easy;			/* owned */
	bool in_multi;			/* added to h->multi and not yet removed */
	bool in_cb;			/* its callback is on the stack */
	struct curl_slist *headers;	/* owned, kept until the easy handle goes */
	struct curl_slist *resolve;	/* owned, likewise */
	struct event *report;		/* owned: reports the outcome from the loop */
	net_http_cb *cb;
	void *arg;
	char *body;			/* owned, NUL-terminated */
	size_t body_len, body_cap, max_body;
	bool too_large;
	struct net_http_response resp;	/* filled when the request ends */
	char *content_type;		/* owned; resp.content_type points here */
	char errbuf[CURL_ERROR_SIZE];	/* curl's own error text */
};

struct net_http {
	struct event_base *base;	/* borrowed */
	CURLM *multi;			/* owned */
	struct event *timer;		/* owned: curl's timeout */
	struct net_http_req *reqs;	/* every request not yet freed */
	struct net_http_sock *socks;	/* every watched socket */
	unsigned depth;			/* callbacks on the stack */
	bool free_pending;		/* net_http_free was called inside a callback */
	bool closing;			/* curl_multi_cleanup is running */
};

/*
 * libcurl's global state, set up once per process. curl_global_init is
 * not safe to run twice at once; pthread_once makes the first
 * net_http_new do it, whichever thread that is.
 */
static pthread_once_t net_http_once = PTHREAD_ONCE_INIT;

static void net_http_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("net_http: cannot initialise libcurl");
}

/* Copy text into dst (size len) with octets outside printable ASCII made '?'. */
static void net_http_printable(char *dst, size_t len, const char *text)
{
	snprintf(dst, len, "%s", text);
	for (char *p = dst; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

static void net_http_sock_ev(evutil_socket_t fd, short what, void *arg);

/* Forget a watched socket. */
static void net_http_sock_free(struct net_http_sock *hs)
{
	struct net_http *h = hs->h;
	if (hs->prev != NULL)
		hs->prev->next = hs->next;
	else
		h->socks = hs->next;
	if (hs->next != NULL)
		hs->next->prev = hs->prev;
	event_free(hs->ev);
	free(hs);
}

/* curl says which socket to watch for what (CURLMOPT_SOCKETFUNCTION). */
static int net_http_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct net_http *h = userp;
	struct net_http_sock *hs = socketp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL)
			net_http_sock_free(hs);
		return 0;
	}
	if (h->closing)
		return 0;
	short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (hs == NULL) {
		hs = xcalloc(1, sizeof(*hs));
		hs->h = h;
		hs->next = h->socks;
		if (h->socks != NULL)
			h->socks->prev = hs;
		h->socks = hs;
		curl_multi_assign(h->multi, s, hs);
	} else {
		event_free(hs->ev);
	}
	hs->ev = event_new(h->base, s, kind, net_http_sock_ev, hs);
	if (hs->ev == NULL || event_add(hs->ev, NULL) != 0)
		fatal("net_http: cannot watch a socket");
	return 0;
}

/* curl wants to be called after ms milliseconds, or not (CURLMOPT_TIMERFUNCTION). */
static int net_http_timer_cb(CURLM *multi, long ms, void *userp)
{
	struct net_http *h = userp;
	(void)multi;
	if (ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	evtimer_add(h->timer, &tv);
	return 0;
}

/* The outcome class of a finished transfer. */
static enum net_http_fail net_http_fail_of(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return NET_HTTP_OK;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return NET_HTTP_FAIL_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return NET_HTTP_FAIL_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return NET_HTTP_FAIL_TOO_LARGE;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
		return NET_HTTP_FAIL_TLS;
	default:
		return NET_HTTP_FAIL_OTHER;
	}
}

/* Record an outcome found before or instead of a transfer and report it from the loop. */
static void net_http_fail_now(struct net_http_req *r, enum net_http_fail fail, const char *text)
{
	r->resp.fail = fail;
	net_http_printable(r->resp.error, sizeof(r->resp.error), text);
	event_active(r->report, EV_TIMEOUT, 0);
}

/* A transfer ended with rc: take its outcome, leave the multi, report from the loop. */
static void net_http_done(struct net_http_req *r, CURLcode rc)
{
	struct net_http_response *o = &r->resp;
	char *ct = NULL;
	o->fail = r->too_large ? NET_HTTP_FAIL_TOO_LARGE : net_http_fail_of(rc);
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &o->status);
	if (curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL) {
		size_t n = strlen(ct) + 1;
		r->content_type = xmalloc(n);
		net_http_printable(r->content_type, n, ct);
		o->content_type = r->content_type;
	}
	if (o->fail == NET_HTTP_OK && (o->status < 200 || o->status > 299)) {
		o->fail = NET_HTTP_FAIL_STATUS;
		snprintf(o->error, sizeof(o->error), "HTTP status %ld%s", o->status,
		    o->status >= 300 && o->status <= 399 ? " (redirects are not followed)" : "");
	} else if (o->fail == NET_HTTP_FAIL_TOO_LARGE) {
		snprintf(o->error, sizeof(o->error), "body longer than %zu octets", r->max_body);
	} else if (o->fail != NET_HTTP_OK) {
		net_http_printable(o->error, sizeof(o->error),
		    r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc));
	}
	curl_multi_remove_handle(r->h->multi, r->easy);
	r->in_multi = false;
	event_active(r->report, EV_TIMEOUT, 0);
}

/* Take every finished transfer curl has to tell of. */
static void net_http_check_done(struct net_http *h)
{
	CURLMsg *m;
	int left = 0;
	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;
		CURLcode rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv != NULL)
			net_http_done((struct net_http_req *)(void *)priv, rc);
	}
}

/* Activity on a watched socket. */
static void net_http_sock_ev(evutil_socket_t fd, short what, void *arg)
{
	struct net_http *h = ((struct net_http_sock *)arg)->h;
	int mask = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running = 0;
	curl_multi_socket_action(h->multi, fd, mask, &running);
	net_http_check_done(h);
}

/* curl's timeout passed. */
static void net_http_timer_ev(evutil_socket_t fd, short what, void *arg)
{
	struct net_http *h = arg;
	int running = 0;
	(void)fd;
	(void)what;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	net_http_check_done(h);
}

struct net_http *net_http_new(struct event_base *base)
{
	pthread_once(&net_http_once, net_http_global_init);
	struct net_http *h = xcalloc(1, sizeof(*h));
	h->base = base;
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, net_http_timer_ev, h);
	if (h->multi == NULL || h->timer == NULL)
		fatal("net_http: out of memory creating a client");
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, net_http_sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, net_http_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

/* Unlink and free a request, taking it out of curl first. */
static void net_http_req_destroy(struct net_http_req *r)
{
	struct net_http *h = r->h;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	if (r->in_multi)
		curl_multi_remove_handle(h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->resolve);
	event_free(r->report);
	free(r->body);
	free(r->content_type);
	free(r);
}

/* Release the client: every request left, curl, then what curl did not give back. */
static void net_http_destroy(struct net_http *h)
{
	while (h->reqs != NULL)
		net_http_req_destroy(h->reqs);
	h->closing = true;
	curl_multi_cleanup(h->multi);
	while (h->socks != NULL)
		net_http_sock_free(h->socks);
	event_free(h->timer);
	free(h);
}

void net_http_free(struct net_http *h)
{
	if (h == NULL || h->free_pending)
		return;
	if (h->depth == 0) {
		net_http_destroy(h);
		return;
	}
	/* Inside a callback: the others go now, the running one when it returns. */
	h->free_pending = true;
	struct net_http_req *r = h->reqs, *next;
	for (; r != NULL; r = next) {
		next = r->next;
		if (!r->in_cb)
			net_http_req_destroy(r);
	}
}

void net_http_cancel(struct net_http_req *r)
{
	if (r == NULL || r->in_cb)
		return;
	net_http_req_destroy(r);
}

/* The outcome, from the loop: the owner's callback, then the request goes. */
static void net_http_report_ev(evutil_socket_t fd, short what, void *arg)
{
	struct net_http_req *r = arg;
	struct net_http *h = r->h;
	(void)fd;
	(void)what;
	r->resp.body = r->body != NULL ? r->body : "";
	r->resp.body_len = r->body_len;
	r->in_cb = true;
	h->depth++;
	r->cb(&r->resp, r->arg);
	h->depth--;
	r->in_cb = false;
	net_http_req_destroy(r);
	if (h->free_pending && h->depth == 0)
		net_http_destroy(h);
}

/* Body octets from curl, kept while they fit under the cap (CURLOPT_WRITEFUNCTION). */
static size_t net_http_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct net_http_req *r = userp;
	size_t n = size * nmemb;
	if (n > r->max_body - r->body_len) {
		r->too_large = true;
		return 0;	/* less than given: curl stops with a write error */
	}
	if (r->body_len + n + 1 > r->body_cap) {
		size_t cap = r->body_cap != 0 ? r->body_cap : NET_HTTP_BODY_START;
		while (cap < r->body_len + n + 1)
			cap *= 2;
		if (cap > r->max_body + 1)
			cap = r->max_body + 1;
		r->body = xrealloc(r->body, cap);
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

/* The host and port of url, https only. 0, or -1 with why. */
static int net_http_url_parts(const char *url, char *host, size_t hostlen, unsigned *port,
    const char **why)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL, *p = NULL;
	int rc = -1;
	if (u == NULL)
		fatal("net_http: out of memory parsing a URL");
	if (url == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		*why = "bad URL";
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcasecmp(scheme, "https") != 0)
		*why = "not an https URL";
	else if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK)
		*why = "URL without a host";
	else if (strlen(h) >= hostlen)
		*why = "URL host too long";
	else {
		snprintf(host, hostlen, "%s", h);
		*port = (unsigned)strtoul(p, NULL, 10);
		rc = 0;
	}
	curl_free(scheme);
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

/* Whether host is an address literal ("192.0.2.1", "[2001:db8::1]"): curl never resolves it. */
static bool net_http_host_is_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return host[0] == '[' || inet_pton(AF_INET, host, buf) == 1;
}

/*
 * Whether host is a plain ASCII name (letters, digits, '-', '_', labels
 * not empty, no trailing dot). The resolve entry keeps curl from DNS only
 * if curl looks up exactly that name: a U-label (which curl would turn
 * into an A-label) or a trailing dot (which it strips) would miss it and
 * send curl to the system resolver. The caller gives A-labels.
 */
static bool net_http_host_is_name(const char *host)
{
	size_t label = 0;
	for (const char *p = host; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
			label++;
		} else {
			return false;
		}
	}
	return label > 0;
}

/*
 * The resolve entry "host:port:addr,addr" that puts the caller's
 * addresses in curl's cache for this host, so that curl asks no DNS.
 * NULL with why when there is no usable address.
 */
static struct curl_slist *net_http_resolve(const char *host, unsigned port,
    const struct sockaddr_storage *addrs, size_t naddrs, const char **why)
{
	char entry[300 + NET_HTTP_MAX_ADDRS * (INET6_ADDRSTRLEN + 3)];
	int n = snprintf(entry, sizeof(entry), "%s:%u:", host, port);
	size_t used = (size_t)n, count = 0;
	for (size_t i = 0; i < naddrs && count < NET_HTTP_MAX_ADDRS; i++) {
		char ip[INET6_ADDRSTRLEN];
		const void *a = NULL;
		bool v6 = addrs[i].ss_family == AF_INET6;
		if (addrs[i].ss_family == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)&addrs[i])->sin_addr;
		else if (v6)
			a = &((const struct sockaddr_in6 *)(const void *)&addrs[i])->sin6_addr;
		if (a == NULL || inet_ntop(addrs[i].ss_family, a, ip, sizeof(ip)) == NULL)
			continue;
		n = snprintf(entry + used, sizeof(entry) - used, "%s%s%s%s", count > 0 ? "," : "",
		    v6 ? "[" : "", ip, v6 ? "]" : "");
		used += (size_t)n;
		count++;
	}
	if (count == 0) {
		*why = "no address for the host";
		return NULL;
	}
	struct curl_slist *l = curl_slist_append(NULL, entry);
	if (l == NULL)
		fatal("net_http: out of memory");
	return l;
}

/* Whether a header value is safe to send: no CR, LF or other control octet. */
static bool net_http_header_ok(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 && *v != '\t')
			return false;
	return true;
}

/* Append header "name: value" to r's list. */
static void net_http_header(struct net_http_req *r, const char *line)
{
	struct curl_slist *l = curl_slist_append(r->headers, line);
	if (l == NULL)
		fatal("net_http: out of memory");
	r->headers = l;
}

/* The request body and its headers. 0, or -1 with why. */
static int net_http_set_post(struct net_http_req *r, const struct net_http_opts *o, const char **why)
{
	CURL *e = r->easy;
	if (o->content_type != NULL) {
		char line[256];
		if (!net_http_header_ok(o->content_type) ||
		    snprintf(line, sizeof(line), "Content-Type: %s", o->content_type) >= (int)sizeof(line)) {
			*why = "bad content type";
			return -1;
		}
		net_http_header(r, line);
	}
	/* No 100-continue round trip: the report is small and the server known. */
	net_http_header(r, "Expect:");
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
	curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body_len > 0 ? (const char *)o->body : "");
	return 0;
}

/* Everything every request has: https only, verified, no redirects, no proxy, capped. */
static void net_http_set_common(struct net_http_req *r, const struct net_http_opts *o)
{
	CURL *e = r->easy;
	curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_URL, o->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	/* Each request connects to its own addresses and leaves no idle socket behind. */
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	unsigned ms = o->timeout_ms != 0 ? o->timeout_ms : NET_HTTP_DEFAULT_TIMEOUT_MS;
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ms);
	/* A Content-Length over the cap fails before the body is read. */
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, net_http_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	if (o->user_agent != NULL)
		curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent);
}

/* Set up r's transfer from o. 0, or -1 with the failure class and why. */
static int net_http_setup(struct net_http_req *r, const struct net_http_opts *o,
    enum net_http_fail *fail, const char **why)
{
	char host[256];
	unsigned port = 0;
	*fail = NET_HTTP_FAIL_OTHER;
	if (net_http_url_parts(o->url, host, sizeof(host), &port, why) != 0)
		return -1;
	if (!net_http_host_is_literal(host)) {
		if (!net_http_host_is_name(host)) {
			*why = "the URL's host is not an ASCII name (A-labels)";
			return -1;
		}
		r->resolve = net_http_resolve(host, port, o->addrs, o->addrs != NULL ? o->naddrs : 0, why);
		if (r->resolve == NULL) {
			*fail = NET_HTTP_FAIL_CONNECT;
			return -1;
		}
	}
	if (o->user_agent != NULL && !net_http_header_ok(o->user_agent)) {
		*why = "bad user agent";
		return -1;
	}
	net_http_set_common(r, o);
	if (r->resolve != NULL)
		curl_easy_setopt(r->easy, CURLOPT_RESOLVE, r->resolve);
	if (o->body != NULL && net_http_set_post(r, o, why) != 0)
		return -1;
	if (r->headers != NULL)
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	return 0;
}

struct net_http_req *net_http_start(struct net_http *h, const struct net_http_opts *o,
    net_http_cb *cb, void *arg)
{
	if (h == NULL || h->free_pending)
		return NULL;
	struct net_http_req *r = xcalloc(1, sizeof(*r));
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->max_body = o->max_body == 0 ? NET_HTTP_DEFAULT_MAX_BODY :
	    o->max_body > NET_HTTP_MAX_BODY_LIMIT ? NET_HTTP_MAX_BODY_LIMIT : o->max_body;
	r->easy = curl_easy_init();
	r->report = event_new(h->base, -1, 0, net_http_report_ev, r);
	if (r->easy == NULL || r->report == NULL)
		fatal("net_http: out of memory starting a request");
	r->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = r;
	h->reqs = r;
	enum net_http_fail fail;
	const char *why = NULL;
	if (net_http_setup(r, o, &fail, &why) != 0) {
		net_http_fail_now(r, fail, why);
		return r;
	}
	/* curl arms its timer at once (0 ms); the transfer starts from the loop. */
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		net_http_fail_now(r, NET_HTTP_FAIL_OTHER, "cannot add the request");
		return r;
	}
	r->in_multi = true;
	return r;
}
