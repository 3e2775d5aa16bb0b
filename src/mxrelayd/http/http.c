/*
 * http: the read-only HTTP listener (see http.h).
 */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "net/net_listen.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A request's headers may take this much; there is never a body. */
#define HTTP_HEADERS_MAX (16 * 1024)
#define HTTP_BODY_MAX 0
/* Seconds a client gets to send its request and read the answer. */
#define HTTP_TIMEOUT_S 10
/* Listen queue: a scraper and a browser or two. */
#define HTTP_BACKLOG 64

struct http_server {
	struct evhttp *evh;		/* owned */
	struct cfg_http_listener *bound;/* owned: the addresses listened on, fixed at start */
	size_t nbound;
	const struct config *cfg;	/* borrowed: http_allow */
	struct metrics *metrics;	/* borrowed */
	http_status_fn *status;
	void *status_arg;
};

int http_bind(const struct config *cfg, int **fds, char *err, size_t errlen)
{
	*fds = xcalloc(cfg->nhttp_listeners > 0 ? cfg->nhttp_listeners : 1, sizeof(**fds));
	for (size_t i = 0; i < cfg->nhttp_listeners; i++) {
		const struct cfg_http_listener *l = &cfg->http_listeners[i];
		(*fds)[i] = net_listen_bind(&l->addr, l->addrlen, l->text, err, errlen);
		if ((*fds)[i] < 0) {
			for (size_t k = 0; k < i; k++)
				close((*fds)[k]);
			free(*fds);
			*fds = NULL;
			return -1;
		}
	}
	return 0;
}

/* The headers every answer carries. */
static void http_common_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

/* Answer with text taken (freed here). */
static void http_answer(struct evhttp_request *req, int code, const char *reason, const char *type,
    char *text, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	if (b == NULL)
		panic("http: out of memory");
	http_common_headers(req, type);
	evbuffer_add(b, text, len);
	free(text);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void http_answer_static(struct evhttp_request *req, int code, const char *reason,
    const char *type, const char *text)
{
	http_answer(req, code, reason, type, xstrdup(text), strlen(text));
}

/* Whether the client asks for OpenMetrics (RFC 7231 Accept, as Prometheus sends it). */
static bool http_wants_openmetrics(struct evhttp_request *req)
{
	const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	return accept != NULL && strstr(accept, "application/openmetrics-text") != NULL;
}

static void http_metrics(struct http_server *h, struct evhttp_request *req)
{
	bool om = http_wants_openmetrics(req);
	size_t len;
	char *text = metrics_render(h->metrics, om, &len);
	http_answer(req, HTTP_OK, "OK", om ? METRICS_CONTENT_TYPE_OPENMETRICS :
	    METRICS_CONTENT_TYPE_TEXT, text, len);
}

static void http_status_json(struct http_server *h, struct evhttp_request *req)
{
	size_t len = 0;
	char *json = h->status != NULL ? h->status(h->status_arg, &len) : NULL;
	if (json == NULL) {
		http_answer_static(req, 503, "Service Unavailable", "text/plain; charset=utf-8",
		    "no status yet\n");
		return;
	}
	http_answer(req, HTTP_OK, "OK", "application/json", json, len);
}

static void http_page(struct evhttp_request *req)
{
	/* The page is its own: inline style and script, data from this origin only. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
	    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
	    "frame-ancestors 'none'");
	http_answer_static(req, HTTP_OK, "OK", "text/html; charset=utf-8", http_status_page);
}

/* The client's address as text, for the log. */
static const char *http_peer_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[64];
	if (sa == NULL || getnameinfo(sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in), host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(host, sizeof(host), "?");
	snprintf(buf, len, "%s", host);
	return buf;
}

static void http_on_request(struct evhttp_request *req, void *arg)
{
	struct http_server *h = arg;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *peer = conn != NULL ? evhttp_connection_get_addr(conn) : NULL;
	if (!config_networks_match(h->cfg->http_allow, h->cfg->nhttp_allow, peer)) {
		char who[64];
		log_msg(LOG_LVL_WARN, "event=http-refused client=%s reason=\"not in http_allow\"",
		    http_peer_text(peer, who, sizeof(who)));
		http_answer_static(req, 403, "Forbidden", "text/plain; charset=utf-8",
		    "not allowed from this address (http_allow)\n");
		return;
	}
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		http_answer_static(req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
		    "read-only: GET and HEAD only\n");
		return;
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL || *path == '\0')
		path = "/";
	if (strcmp(path, "/metrics") == 0)
		http_metrics(h, req);
	else if (strcmp(path, "/status.json") == 0)
		http_status_json(h, req);
	else if (strcmp(path, "/") == 0)
		http_page(req);
	else
		http_answer_static(req, HTTP_NOTFOUND, "Not Found", "text/plain; charset=utf-8",
		    "not found: try /, /metrics or /status.json\n");
}

struct http_server *http_server_new(struct event_base *base, int *fds, size_t n,
    const struct config *cfg, struct metrics *m, http_status_fn *status, void *arg, char *err,
    size_t errlen)
{
	struct http_server *h = xcalloc(1, sizeof(*h));
	h->cfg = cfg;
	h->metrics = m;
	h->status = status;
	h->status_arg = arg;
	h->evh = evhttp_new(base);
	if (h->evh == NULL)
		panic("http: cannot create the HTTP server");
	/* Every method reaches the handler, which answers 405 with Allow for all but GET and HEAD. */
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(h->evh, HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(h->evh, HTTP_BODY_MAX);
	evhttp_set_timeout(h->evh, HTTP_TIMEOUT_S);
	evhttp_set_gencb(h->evh, http_on_request, h);
	size_t i = 0;
	for (; i < n; i++) {
		if (listen(fds[i], HTTP_BACKLOG) != 0 ||
		    evhttp_accept_socket_with_handle(h->evh, fds[i]) == NULL) {
			snprintf(err, errlen, "http_listen %s: cannot listen", cfg->http_listeners[i].text);
			break;
		}
		log_msg(LOG_LVL_INFO, "event=http-listening address=%s", cfg->http_listeners[i].text);
	}
	if (i < n) {
		/* The handles taken so far are the server's; the rest are closed here. */
		for (size_t k = i; k < n; k++)
			close(fds[k]);
		free(fds);
		http_server_free(h);
		return NULL;
	}
	free(fds);
	if (n > 0) {
		h->bound = xcalloc(n, sizeof(*h->bound));
		memcpy(h->bound, cfg->http_listeners, n * sizeof(*h->bound));
		h->nbound = n;
	}
	return h;
}

/* Whether cfg names the addresses listened on, in any order. */
static bool http_same_addresses(const struct http_server *h, const struct config *cfg)
{
	if (cfg->nhttp_listeners != h->nbound)
		return false;
	for (size_t i = 0; i < h->nbound; i++) {
		bool found = false;
		for (size_t k = 0; k < cfg->nhttp_listeners && !found; k++)
			found = cfg->http_listeners[k].addrlen == h->bound[i].addrlen &&
			    memcmp(&cfg->http_listeners[k].addr, &h->bound[i].addr,
			    h->bound[i].addrlen) == 0;
		if (!found)
			return false;
	}
	return true;
}

void http_server_set_config(struct http_server *h, const struct config *cfg)
{
	if (h == NULL)
		return;
	h->cfg = cfg;
	if (!http_same_addresses(h, cfg))
		log_msg(LOG_LVL_WARN, "event=http-listen-unchanged listeners=%zu note=\"http_listen "
		    "changes take effect at the next start; http_allow is applied now\"", h->nbound);
}

void http_server_free(struct http_server *h)
{
	if (h == NULL)
		return;
	evhttp_free(h->evh);
	free(h->bound);
	free(h);
}
