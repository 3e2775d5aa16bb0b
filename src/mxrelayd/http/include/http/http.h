/*
 * http: the daemon's read-only HTTP listener (http_listen): /metrics for
 * Prometheus, /status.json and the status page at /.
 *
 * Owns: binding the http_listen addresses (while still root, like the
 * SMTP listeners), libevent's evhttp on them, the rule of who may ask
 * (http_allow, answered 403 otherwise), the methods taken (GET and HEAD,
 * 405 for the rest), caps on a request (header size, no body, a deadline),
 * the content negotiation of /metrics (OpenMetrics when the client asks
 * for it, the Prometheus text format otherwise) and the headers of every
 * answer (no caching, no sniffing, a content security policy that keeps
 * the page to itself).
 * Never: changes anything: no request reaches the queue other than to
 * read it; never serves a file from disk.
 */
#ifndef MXR_HTTP_H
#define MXR_HTTP_H

#include <stddef.h>

#include "config/config.h"
#include "metrics/metrics.h"

struct event_base;
struct http_server;

/* The status summary as JSON (docs/status.md), malloc'ed; *len its length. */
typedef char *http_status_fn(void *arg, size_t *len);

/*
 * Bind every http_listen address of cfg (while root): *fds gets
 * cfg->nhttp_listeners descriptors (malloc'ed, the caller's until given to
 * http_server_new). 0, or -1 with err naming the address.
 */
int http_bind(const struct config *cfg, int **fds, char *err, size_t errlen);

/*
 * Serve on the n bound descriptors fds (taken, and the array freed) on
 * base: metrics from m, the summary from status(arg). cfg gives
 * http_allow and is borrowed until http_server_set_config replaces it.
 */
struct http_server *http_server_new(struct event_base *base, int *fds, size_t n,
    const struct config *cfg, struct metrics *m, http_status_fn *status, void *arg, char *err,
    size_t errlen);
/* A reload: the new http_allow (the addresses listened on stay until a restart). */
void http_server_set_config(struct http_server *h, const struct config *cfg);
/* Stop listening and free. NULL is fine. */
void http_server_free(struct http_server *h);

/* The status page (inline CSS and script, no external assets). */
extern const char http_status_page[];

#endif
