/*
 * dns_resolver: the libunbound context on the libevent loop, and the query
 * machinery every kind of lookup shares (dns_query.h).
 *
 * Owns: one ub_ctx per resolver (a resolver thread inside libunbound, its
 * answers read from ub_fd() by the event loop), its forwarder, its trust
 * anchors and special-use zones; every query in flight, its sub-lookups,
 * its deadline, and the hand-over of its result from the loop.
 * Never: blocks, calls a user callback (each kind's deliver does, from
 * the loop), or frees a query inside a libunbound callback.
 */
#include "dns_query.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <event2/event.h>
#include <unbound.h>

#include "dns/dns_anchor.h"
#include "dns/dns_rr.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How long a whole lookup may take unless dns_resolver_set_timeout says otherwise. */
#define DNS_QUERY_TIMEOUT_MS 30000

/*
 * Special-use zones libunbound would answer NXDOMAIN for without asking,
 * and which are unsigned under the real root (so insecure, not bogus,
 * when validating).
 */
static const char *const dns_special_zones[] = { "test.", "invalid.", "example." };

struct dns_resolver {
	struct event_base *base;	/* borrowed */
	struct ub_ctx *ub;		/* owned */
	struct event *ev;		/* owned: ub_fd readable */
	unsigned timeout_ms;
	bool validating;		/* trust anchors were given */
	struct dns_query *queries;	/* in flight, not owned by anyone else */
	uint8_t pool[64];		/* getrandom output for the shuffle */
	size_t pool_used;
};

/* The text behind *err of dns_resolver_new (the interface returns const char *). */
static _Thread_local char dns_errbuf[256];

/* Take the next 32 random bits from the resolver's getrandom pool. */
static uint32_t dns_resolver_next32(struct dns_resolver *r)
{
	if (r->pool_used + 4 > sizeof(r->pool)) {
		size_t got = 0;
		while (got < sizeof(r->pool)) {
			ssize_t n = getrandom(r->pool + got, sizeof(r->pool) - got, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				fatal("dns: getrandom failed: errno=%d", errno);
			got += (size_t)n;
		}
		r->pool_used = 0;
	}
	uint32_t v;
	memcpy(&v, r->pool + r->pool_used, 4);
	r->pool_used += 4;
	return v;
}

uint32_t dns_resolver_rand(void *arg, uint32_t bound)
{
	struct dns_resolver *r = arg;
	if (bound <= 1)
		return 0;
	uint32_t limit = UINT32_MAX - (UINT32_MAX % bound);
	for (;;) {
		uint32_t v = dns_resolver_next32(r);
		if (v < limit)
			return v % bound;
	}
}

bool dns_resolver_validating(const struct dns_resolver *r)
{
	return r->validating;
}

/* libunbound has answers waiting: hand them to their callbacks. */
static void dns_resolver_fd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;
	(void)fd;
	(void)what;
	int err = ub_process(r->ub);
	if (err != 0)
		log_msg(LOG_LVL_WARN, "dns=process error=\"%s\"", ub_strerror(err));
}

/*
 * "addr", "addr:port", "[v6addr]" or "[v6addr]:port" into libunbound's
 * "addr@port". Returns false when the text is not an address.
 */
static bool dns_server_to_fwd(const char *server, char *out, size_t cap)
{
	char addr[INET6_ADDRSTRLEN];
	const char *port = NULL;
	size_t alen;
	const char *colon = strchr(server, ':');
	if (server[0] == '[') {
		const char *close = strchr(server, ']');
		if (close == NULL)
			return false;
		alen = (size_t)(close - server - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return false;
		server++;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		alen = (size_t)(colon - server);
		port = colon + 1;
	} else {
		alen = strlen(server);
	}
	if (alen == 0 || alen >= sizeof(addr))
		return false;
	memcpy(addr, server, alen);
	addr[alen] = '\0';
	unsigned char buf[16];
	if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
		return false;
	unsigned long p = 53;
	if (port != NULL) {
		char *end;
		if (*port < '0' || *port > '9')
			return false;
		errno = 0;
		p = strtoul(port, &end, 10);
		if (errno != 0 || *end != '\0' || p == 0 || p > 65535)
			return false;
	}
	int n = snprintf(out, cap, "%s@%lu", addr, p);
	return n > 0 && (size_t)n < cap;
}

/* dns_anchor_parse's callback: one checked record into libunbound. */
static const char *dns_resolver_add_ta(void *arg, const char *rr, unsigned line)
{
	struct ub_ctx *ub = arg;
	(void)line;
	int e = ub_ctx_add_ta(ub, rr);
	return e == 0 ? NULL : ub_strerror(e);
}

/*
 * Give ub the trust anchors and declare the special-use zones insecure.
 * Returns NULL or the reason (in dns_errbuf).
 */
static const char *dns_resolver_set_anchors(struct ub_ctx *ub, const char *anchors)
{
	unsigned line = 0;
	char why[160];
	if (dns_anchor_parse(anchors, strlen(anchors), dns_resolver_add_ta, ub, &line, why,
	    sizeof(why)) < 0) {
		if (line > 0)
			snprintf(dns_errbuf, sizeof(dns_errbuf), "trust anchor line %u: %s", line, why);
		else
			snprintf(dns_errbuf, sizeof(dns_errbuf), "trust anchor: %s", why);
		return dns_errbuf;
	}
	/* An anchor at or below one of these still makes it secure (it overrides domain-insecure). */
	for (size_t i = 0; i < sizeof(dns_special_zones) / sizeof(dns_special_zones[0]); i++) {
		int e = ub_ctx_set_option(ub, "domain-insecure:", dns_special_zones[i]);
		if (e != 0) {
			snprintf(dns_errbuf, sizeof(dns_errbuf), "DNS resolver setup failed: domain-insecure %s: %s",
			    dns_special_zones[i], ub_strerror(e));
			return dns_errbuf;
		}
	}
	return NULL;
}

/* Point ub at its server (or the system's) and make the special-use zones transparent. */
static int dns_resolver_setup(struct ub_ctx *ub, const char *fwd)
{
	int e;
	/* A resolver thread inside this process, not a forked helper. */
	if ((e = ub_ctx_async(ub, 1)) != 0)
		return e;
	if (fwd != NULL) {
		if ((e = ub_ctx_set_fwd(ub, fwd)) != 0)
			return e;
	} else {
		if ((e = ub_ctx_resolvconf(ub, NULL)) != 0)
			return e;
		if ((e = ub_ctx_hosts(ub, NULL)) != 0)
			return e;
	}
	/*
	 * Ask the server about special-use names too: a relay forwarding to a
	 * named server must resolve what that server answers. This finalises
	 * the context, so it comes after every other setting.
	 */
	for (size_t i = 0; i < sizeof(dns_special_zones) / sizeof(dns_special_zones[0]); i++)
		if ((e = ub_ctx_zone_add(ub, dns_special_zones[i], "transparent")) != 0)
			return e;
	return 0;
}

struct dns_resolver *dns_resolver_new(struct event_base *base, const char *server,
    const char *anchors, const char **err)
{
	char fwd[INET6_ADDRSTRLEN + 8];
	if (server != NULL && !dns_server_to_fwd(server, fwd, sizeof(fwd))) {
		char pr[80];
		log_printable(pr, sizeof(pr), server, strlen(server));
		snprintf(dns_errbuf, sizeof(dns_errbuf),
		    "bad DNS server \"%s\": want address[:port] or [IPv6]:port", pr);
		*err = dns_errbuf;
		return NULL;
	}
	struct ub_ctx *ub = ub_ctx_create();
	if (ub == NULL) {
		*err = "cannot create a libunbound context";
		return NULL;
	}
	if (anchors != NULL && (*err = dns_resolver_set_anchors(ub, anchors)) != NULL) {
		ub_ctx_delete(ub);
		return NULL;
	}
	int e = dns_resolver_setup(ub, server != NULL ? fwd : NULL);
	if (e != 0) {
		snprintf(dns_errbuf, sizeof(dns_errbuf), "DNS resolver setup failed: %s", ub_strerror(e));
		ub_ctx_delete(ub);
		*err = dns_errbuf;
		return NULL;
	}
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->ub = ub;
	r->timeout_ms = DNS_QUERY_TIMEOUT_MS;
	r->validating = anchors != NULL;
	r->pool_used = sizeof(r->pool);
	r->ev = event_new(base, ub_fd(ub), EV_READ | EV_PERSIST, dns_resolver_fd_cb, r);
	if (r->ev == NULL || event_add(r->ev, NULL) != 0)
		fatal("dns: cannot watch the libunbound descriptor");
	return r;
}

void dns_resolver_set_timeout(struct dns_resolver *r, unsigned ms)
{
	r->timeout_ms = ms != 0 ? ms : DNS_QUERY_TIMEOUT_MS;
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	while (r->queries != NULL)
		dns_query_cancel(r->queries);
	event_free(r->ev);
	ub_ctx_delete(r->ub);
	free(r);
}

/* Stop one libunbound lookup that has not answered. */
static void dns_sub_cancel(struct dns_sub *s)
{
	if (!s->pending)
		return;
	(void)ub_cancel(s->q->r->ub, s->id);
	s->pending = false;
	s->q->outstanding--;
}

void dns_query_cancel_subs(struct dns_query *q)
{
	for (struct dns_sub *s = q->subs; s != NULL; s = s->next)
		dns_sub_cancel(s);
}

void dns_query_ready(struct dns_query *q)
{
	if (q->deliver_armed)
		return;
	q->deliver_armed = true;
	struct timeval tv = { 0, 0 };
	event_add(q->timer, &tv);
}

void dns_query_release(struct dns_query *q)
{
	dns_query_cancel_subs(q);
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->r->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	if (q->ops->destroy != NULL)
		q->ops->destroy(q);
	event_free(q->timer);
	free(q);
}

void dns_query_cancel(struct dns_query *q)
{
	if (q != NULL)
		dns_query_release(q);
}

void dns_query_timeout_text(const struct dns_query *q, char *out, size_t cap)
{
	snprintf(out, cap, "timed out after %u s", (q->r->timeout_ms + 999) / 1000);
}

/* The timer: the deadline passed, or the result is ready to hand over. */
static void dns_query_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	(void)fd;
	(void)what;
	if (!q->deliver_armed) {
		/* Deadline: whatever has not answered counts as a temporary failure. */
		q->ops->deadline(q);
		dns_query_cancel_subs(q);
		dns_query_ready(q);
		return;
	}
	q->ops->deliver(q);
}

struct dns_query *dns_query_new(struct dns_resolver *r, const struct dns_query_ops *ops,
    size_t size)
{
	struct dns_query *q = xcalloc(1, size);
	q->r = r;
	q->ops = ops;
	q->timer = evtimer_new(r->base, dns_query_timer_cb, q);
	if (q->timer == NULL)
		fatal("dns: out of memory creating a timer");
	q->next = r->queries;
	if (r->queries != NULL)
		r->queries->prev = q;
	r->queries = q;
	struct timeval tv = { .tv_sec = r->timeout_ms / 1000, .tv_usec = (r->timeout_ms % 1000) * 1000 };
	event_add(q->timer, &tv);
	return q;
}

/* libunbound's answer for a sub: account for it, then the kind's function. */
static void dns_sub_answer_cb(void *mydata, int err, struct ub_result *result)
{
	struct dns_sub *s = mydata;
	s->pending = false;
	s->q->outstanding--;
	s->fn(s, err, result);
	if (result != NULL)
		ub_resolve_free(result);
}

bool dns_sub_start(struct dns_query *q, struct dns_sub *s, const char *name, int rrtype,
    dns_sub_fn *fn, const char **why)
{
	s->q = q;
	s->fn = fn;
	if (!s->linked) {
		s->linked = true;
		s->next = q->subs;
		q->subs = s;
	}
	int e = ub_resolve_async(q->r->ub, name, rrtype, DNS_CLASS_IN, s, dns_sub_answer_cb, &s->id);
	if (e != 0) {
		*why = ub_strerror(e);
		return false;
	}
	s->pending = true;
	q->outstanding++;
	return true;
}

void dns_query_canon(const struct ub_result *res, const char *qname, char *out, size_t cap)
{
	char norm[DNS_RR_NAME_MAX];
	if (cap > 0)
		out[0] = '\0';
	if (res == NULL || res->canonname == NULL || cap == 0)
		return;
	if (dns_rr_name_normalize(res->canonname, norm, sizeof(norm)) != DNS_RR_OK)
		return;
	if (strcmp(norm, qname) == 0)
		return;
	snprintf(out, cap, "%s", norm);
}

void dns_query_why_bogus(const struct ub_result *res, char *out, size_t cap)
{
	if (res == NULL || res->why_bogus == NULL || res->why_bogus[0] == '\0') {
		snprintf(out, cap, "DNSSEC validation failed");
		return;
	}
	/* Printable ASCII only: it goes into SMTP reply text and DSNs. */
	size_t o = 0;
	for (const char *p = res->why_bogus; *p != '\0' && o + 1 < cap; p++)
		out[o++] = *p >= 0x20 && *p <= 0x7e ? *p : '?';
	if (cap > 0)
		out[o] = '\0';
}
