/*
 * dns_mx: asynchronous MX and address resolution over libunbound, on the
 * libevent loop.
 *
 * Owns: one ub_ctx per resolver (a resolver thread inside libunbound, its
 * answers read from ub_fd() by the event loop), every query in flight, the
 * per-query deadline, and the mapping of each DNS outcome to
 * OK / TEMPFAIL / PERMFAIL with an enhanced status code.
 * Never: blocks, calls a callback from inside dns_mx_resolve or
 * dns_host_resolve, or trusts record data before dns_rr has checked it.
 *
 * A UTF-8 name to resolve is looked up by its A-label form (dns_idna);
 * names in answers are kept as DNS gives them.
 *
 * CNAMEs are followed by libunbound itself: an MX or address query for an
 * alias comes back with the records of the canonical name.
 */
#include "dns/dns_mx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/event.h>
#include <unbound.h>

#include "dns/dns_idna.h"
#include "dns/dns_rr.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DNS_TYPE_A 1
#define DNS_TYPE_MX 15
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3

/* Bounds on the work one answer can cause. */
#define DNS_MX_HOSTS_MAX 32
#define DNS_MX_ADDRS_MAX 16
/* MX records read from one answer; a real domain has a handful. */
#define DNS_MX_RECORDS_MAX 1024
/* How long a whole lookup may take unless dns_resolver_set_timeout says otherwise. */
#define DNS_QUERY_TIMEOUT_MS 30000

/* Special-use zones libunbound would answer NXDOMAIN for without asking. */
static const char *const dns_transparent_zones[] = { "test.", "invalid.", "example." };

struct dns_resolver {
	struct event_base *base;	/* borrowed */
	struct ub_ctx *ub;		/* owned */
	struct event *ev;		/* owned: ub_fd readable */
	unsigned timeout_ms;
	struct dns_query *queries;	/* in flight, not owned by anyone else */
	uint8_t pool[64];		/* getrandom output for the shuffle */
	size_t pool_used;
};

/* One libunbound lookup that belongs to a query. */
struct dns_sub {
	struct dns_query *q;
	int id;
	bool pending;
	int family;			/* AF_INET, AF_INET6, or AF_UNSPEC for the MX lookup */
	size_t host;
};

/* What the A or AAAA lookup of one host found. */
struct dns_addrset {
	size_t n;
	uint8_t addr[DNS_MX_ADDRS_MAX][16];
	bool done;
	bool temp;			/* failed for now */
	bool nxdomain;
};

struct dns_host_work {
	char name[DNS_RR_NAME_MAX];
	uint16_t pref;
	struct dns_sub sub6, sub4;
	struct dns_addrset v6, v4;
};

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;	/* the resolver's list */
	bool is_mx;			/* MX lookup, or one host (smarthost) */
	char domain[DNS_RR_NAME_MAX];
	enum dns_family fam;
	dns_mx_cb *cb;
	void *arg;
	struct dns_sub mxsub;
	unsigned outstanding;		/* libunbound lookups not answered yet */
	size_t nhosts;
	struct dns_host_work *hosts;	/* owned, nhosts long */
	bool implicit;
	struct event *timer;		/* owned: the deadline, then "deliver now" */
	bool decided;			/* res holds a final status already */
	bool deliver_armed;
	struct dns_mx_result res;	/* status of a decided query */
	char temp_reason[128];		/* the first temporary failure of an address lookup */
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

/* A uniform number in [0, bound) without modulo bias. */
static uint32_t dns_resolver_rand(void *arg, uint32_t bound)
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

struct dns_resolver *dns_resolver_new(struct event_base *base, const char *server,
    const char **err)
{
	char fwd[INET6_ADDRSTRLEN + 8];
	int e;
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
	/* A resolver thread inside this process, not a forked helper. */
	if ((e = ub_ctx_async(ub, 1)) != 0)
		goto fail;
	if (server != NULL) {
		if ((e = ub_ctx_set_fwd(ub, fwd)) != 0)
			goto fail;
	} else {
		if ((e = ub_ctx_resolvconf(ub, NULL)) != 0)
			goto fail;
		if ((e = ub_ctx_hosts(ub, NULL)) != 0)
			goto fail;
	}
	/*
	 * Ask the server about special-use names too: a relay forwarding to a
	 * named server must resolve what that server answers. This finalises
	 * the context, so it comes after every other setting.
	 */
	for (size_t i = 0; i < sizeof(dns_transparent_zones) / sizeof(dns_transparent_zones[0]); i++)
		if ((e = ub_ctx_zone_add(ub, dns_transparent_zones[i], "transparent")) != 0)
			goto fail;
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->ub = ub;
	r->timeout_ms = DNS_QUERY_TIMEOUT_MS;
	r->pool_used = sizeof(r->pool);
	r->ev = event_new(base, ub_fd(ub), EV_READ | EV_PERSIST, dns_resolver_fd_cb, r);
	if (r->ev == NULL || event_add(r->ev, NULL) != 0)
		fatal("dns: cannot watch the libunbound descriptor");
	return r;
fail:
	snprintf(dns_errbuf, sizeof(dns_errbuf), "DNS resolver setup failed: %s", ub_strerror(e));
	ub_ctx_delete(ub);
	*err = dns_errbuf;
	return NULL;
}

void dns_resolver_set_timeout(struct dns_resolver *r, unsigned ms)
{
	r->timeout_ms = ms != 0 ? ms : DNS_QUERY_TIMEOUT_MS;
}

/* Stop a libunbound lookup that has not answered. */
static void dns_sub_cancel(struct dns_query *q, struct dns_sub *s)
{
	if (!s->pending)
		return;
	(void)ub_cancel(q->r->ub, s->id);
	s->pending = false;
	q->outstanding--;
}

static void dns_query_cancel_subs(struct dns_query *q)
{
	dns_sub_cancel(q, &q->mxsub);
	for (size_t i = 0; i < q->nhosts; i++) {
		dns_sub_cancel(q, &q->hosts[i].sub6);
		dns_sub_cancel(q, &q->hosts[i].sub4);
	}
}

/* Unlink from the resolver and release. */
static void dns_query_free(struct dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->r->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	event_free(q->timer);
	free(q->hosts);
	free(q);
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

/* Hand the result over from the loop, never from the caller's stack. */
static void dns_query_arm_delivery(struct dns_query *q)
{
	if (q->deliver_armed)
		return;
	q->deliver_armed = true;
	struct timeval tv = { 0, 0 };
	event_add(q->timer, &tv);
}

/* Settle the query's status now; any lookups still out are stopped. */
static void dns_query_decide(struct dns_query *q, enum dns_status st, const char *esc,
    const char *reason)
{
	if (q->decided)
		return;
	q->decided = true;
	q->res.status = st;
	snprintf(q->res.esc, sizeof(q->res.esc), "%s", esc);
	snprintf(q->res.reason, sizeof(q->res.reason), "%s", reason);
	dns_query_cancel_subs(q);
	dns_query_arm_delivery(q);
}

/* Record one temporary failure reason (the first one wins). */
static void dns_query_note_temp(struct dns_query *q, const char *what, const char *why)
{
	/* Bounded parts: a long name must not push out the reason (and -O2 checks the fit). */
	if (q->temp_reason[0] == '\0')
		snprintf(q->temp_reason, sizeof(q->temp_reason), "%.80s: %.44s", what, why);
}

/* Append the addresses of one family to host h, up to limit in all. */
static void dns_host_take(struct dns_mx_host *h, const struct dns_addrset *set, int family,
    size_t limit)
{
	for (size_t i = 0; i < set->n && h->naddrs < limit; i++) {
		struct sockaddr_storage *ss = &h->addrs[h->naddrs++];
		(void)dns_rr_addr_parse(family, set->addr[i], family == AF_INET ? 4 : 16, ss);
	}
}

/*
 * Turn the finished address lookups into hosts[] of the result, in
 * preference order, with the family order asked for, and decide the status.
 */
static void dns_query_assemble(struct dns_query *q, struct dns_mx_result *res)
{
	bool any_temp = false, all_nx = q->nhosts > 0;
	res->hosts = xcalloc(q->nhosts > 0 ? q->nhosts : 1, sizeof(*res->hosts));
	for (size_t i = 0; i < q->nhosts; i++) {
		struct dns_host_work *w = &q->hosts[i];
		struct dns_mx_host *h = &res->hosts[res->nhosts];
		bool v4_first = q->fam == DNS_FAMILY_PREFER_V4 || q->fam == DNS_FAMILY_V4_ONLY;
		const struct dns_addrset *first = v4_first ? &w->v4 : &w->v6;
		const struct dns_addrset *second = v4_first ? &w->v6 : &w->v4;
		size_t total = first->n + second->n;
		bool temp = w->v4.temp || w->v6.temp;
		any_temp = any_temp || temp;
		if ((w->v4.done && !w->v4.nxdomain) || (w->v6.done && !w->v6.nxdomain) ||
		    w->v4.temp || w->v6.temp)
			all_nx = false;
		if (total == 0)
			continue;
		/* Both families stay represented: the second keeps up to half the slots. */
		size_t keep2 = second->n < DNS_MX_ADDRS_MAX / 2 ? second->n : DNS_MX_ADDRS_MAX / 2;
		snprintf(h->name, sizeof(h->name), "%s", w->name);
		h->pref = w->pref;
		h->addr_tempfail = temp;
		h->addrs = xcalloc(total < DNS_MX_ADDRS_MAX ? total : DNS_MX_ADDRS_MAX, sizeof(*h->addrs));
		dns_host_take(h, first, v4_first ? AF_INET : AF_INET6, DNS_MX_ADDRS_MAX - keep2);
		dns_host_take(h, second, v4_first ? AF_INET6 : AF_INET, DNS_MX_ADDRS_MAX);
		res->nhosts++;
	}
	if (res->nhosts > 0) {
		res->status = DNS_OK;
		return;
	}
	if (any_temp) {
		res->status = DNS_TEMPFAIL;
		snprintf(res->esc, sizeof(res->esc), "4.4.3");
		snprintf(res->reason, sizeof(res->reason), "no address for now (%s)", q->temp_reason);
		return;
	}
	res->status = DNS_PERMFAIL;
	snprintf(res->esc, sizeof(res->esc), "5.4.4");
	if (!q->is_mx)
		snprintf(res->reason, sizeof(res->reason), all_nx ? "host not found" : "host has no address");
	else if (q->implicit)
		snprintf(res->reason, sizeof(res->reason), "domain has no MX and no address");
	else
		snprintf(res->reason, sizeof(res->reason), "no MX host has an address");
}

static const char *dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK: return "ok";
	case DNS_TEMPFAIL: return "tempfail";
	case DNS_PERMFAIL: return "permfail";
	}
	return "?";
}

/* The timer: the deadline passed, or the result is ready to hand over. */
static void dns_query_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	(void)fd;
	(void)what;
	if (!q->deliver_armed) {
		/* Deadline: whatever has not answered counts as a temporary failure. */
		char why[64];
		snprintf(why, sizeof(why), "timed out after %u s", (q->r->timeout_ms + 999) / 1000);
		if (q->mxsub.pending) {
			char reason[128];
			snprintf(reason, sizeof(reason), "MX lookup failed: %s", why);
			dns_query_decide(q, DNS_TEMPFAIL, "4.4.3", reason);
			return;
		}
		for (size_t i = 0; i < q->nhosts; i++) {
			struct dns_host_work *w = &q->hosts[i];
			if (w->sub6.pending)
				w->v6.temp = true;
			if (w->sub4.pending)
				w->v4.temp = true;
			if (w->sub6.pending || w->sub4.pending)
				dns_query_note_temp(q, w->name, why);
		}
		dns_query_cancel_subs(q);
		dns_query_arm_delivery(q);
		return;
	}
	struct dns_mx_result res;
	memset(&res, 0, sizeof(res));
	if (q->decided) {
		res.status = q->res.status;
		memcpy(res.esc, q->res.esc, sizeof(res.esc));
		memcpy(res.reason, q->res.reason, sizeof(res.reason));
		res.null_mx = q->res.null_mx;
	} else {
		dns_query_assemble(q, &res);
	}
	res.implicit = q->implicit;
	char pr[300];
	log_printable(pr, sizeof(pr), res.reason, strlen(res.reason));
	log_msg(LOG_LVL_DEBUG, "dns=%s name=%s status=%s esc=%s hosts=%zu implicit=%d reason=\"%s\"",
	    q->is_mx ? "mx" : "host", q->domain, dns_status_name(res.status),
	    res.esc[0] != '\0' ? res.esc : "-", res.nhosts, res.implicit ? 1 : 0, pr);
	dns_mx_cb *cb = q->cb;
	void *cbarg = q->arg;
	/* Gone from the resolver before the callback, which may free the resolver. */
	dns_query_free(q);
	cb(&res, cbarg);
	for (size_t i = 0; i < res.nhosts; i++)
		free(res.hosts[i].addrs);
	free(res.hosts);
}

/* A new query on r with its deadline armed. */
static struct dns_query *dns_query_new(struct dns_resolver *r, bool is_mx, enum dns_family fam,
    dns_mx_cb *cb, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->is_mx = is_mx;
	q->fam = fam;
	q->cb = cb;
	q->arg = arg;
	q->mxsub.q = q;
	q->mxsub.family = AF_UNSPEC;
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

static void dns_addr_answer_cb(void *mydata, int err, struct ub_result *result);

/* Start one libunbound lookup for sub s; a failure to start is temporary. */
static bool dns_sub_start(struct dns_query *q, struct dns_sub *s, const char *name, int rrtype,
    ub_callback_type cb)
{
	int e = ub_resolve_async(q->r->ub, name, rrtype, DNS_CLASS_IN, s, cb, &s->id);
	if (e != 0) {
		dns_query_note_temp(q, name, ub_strerror(e));
		return false;
	}
	s->pending = true;
	q->outstanding++;
	return true;
}

/* Start the AAAA and/or A lookups of every host the family setting asks for. */
static void dns_query_start_addrs(struct dns_query *q)
{
	bool want6 = q->fam != DNS_FAMILY_V4_ONLY;
	bool want4 = q->fam != DNS_FAMILY_V6_ONLY;
	for (size_t i = 0; i < q->nhosts; i++) {
		struct dns_host_work *w = &q->hosts[i];
		w->sub6 = (struct dns_sub){ .q = q, .family = AF_INET6, .host = i };
		w->sub4 = (struct dns_sub){ .q = q, .family = AF_INET, .host = i };
		if (want6 && !dns_sub_start(q, &w->sub6, w->name, DNS_TYPE_AAAA, dns_addr_answer_cb))
			w->v6.temp = true;
		if (want4 && !dns_sub_start(q, &w->sub4, w->name, DNS_TYPE_A, dns_addr_answer_cb))
			w->v4.temp = true;
	}
	if (q->outstanding == 0)
		dns_query_arm_delivery(q);
}

/* An A or AAAA answer for one host. */
static void dns_addr_answer_cb(void *mydata, int err, struct ub_result *result)
{
	struct dns_sub *s = mydata;
	struct dns_query *q = s->q;
	struct dns_host_work *w = &q->hosts[s->host];
	struct dns_addrset *set = s->family == AF_INET ? &w->v4 : &w->v6;
	const char *what = s->family == AF_INET ? "A lookup" : "AAAA lookup";
	char ctx[DNS_RR_NAME_MAX + 16];
	snprintf(ctx, sizeof(ctx), "%s of %s", what, w->name);
	s->pending = false;
	q->outstanding--;
	set->done = true;
	if (err != 0) {
		set->temp = true;
		dns_query_note_temp(q, ctx, ub_strerror(err));
	} else if (result->rcode == DNS_RCODE_NXDOMAIN) {
		set->nxdomain = true;
	} else if (result->rcode != 0) {
		set->temp = true;
		dns_query_note_temp(q, ctx, dns_rr_rcode_name(result->rcode));
	} else if (result->bogus) {
		set->temp = true;
		dns_query_note_temp(q, ctx, "DNSSEC validation failed");
	} else if (result->havedata) {
		size_t want = s->family == AF_INET ? 4 : 16;
		for (size_t i = 0; result->data[i] != NULL; i++) {
			if (result->len[i] < 0 || (size_t)result->len[i] != want) {
				set->temp = true;
				set->n = 0;
				dns_query_note_temp(q, ctx, "malformed answer");
				break;
			}
			if (set->n < DNS_MX_ADDRS_MAX)
				memcpy(set->addr[set->n++], result->data[i], want);
		}
	}
	if (result != NULL)
		ub_resolve_free(result);
	if (q->outstanding == 0)
		dns_query_arm_delivery(q);
}

/* The MX answer: decide at once (failures, null MX) or go on to the hosts. */
static void dns_mx_answer_cb(void *mydata, int err, struct ub_result *result)
{
	struct dns_sub *s = mydata;
	struct dns_query *q = s->q;
	char reason[160];
	s->pending = false;
	q->outstanding--;
	if (err != 0) {
		snprintf(reason, sizeof(reason), "MX lookup failed: %s", ub_strerror(err));
		dns_query_decide(q, DNS_TEMPFAIL, "4.4.3", reason);
		goto out;
	}
	if (result->rcode == DNS_RCODE_NXDOMAIN) {
		dns_query_decide(q, DNS_PERMFAIL, "5.1.2", "domain not found");
		goto out;
	}
	if (result->rcode != 0 || result->bogus) {
		snprintf(reason, sizeof(reason), "MX lookup failed: %s",
		    result->bogus ? "DNSSEC validation failed" : dns_rr_rcode_name(result->rcode));
		dns_query_decide(q, DNS_TEMPFAIL, "4.4.3", reason);
		goto out;
	}
	if (!result->havedata) {
		/* NODATA: RFC 5321 5.1 implicit MX, the domain itself at preference 0. */
		q->implicit = true;
		q->nhosts = 1;
		q->hosts = xcalloc(1, sizeof(*q->hosts));
		snprintf(q->hosts[0].name, sizeof(q->hosts[0].name), "%s", q->domain);
		dns_query_start_addrs(q);
		goto out;
	}
	size_t n = 0;
	while (n < DNS_MX_RECORDS_MAX && result->data[n] != NULL)
		n++;
	struct dns_rr_mx *mx = xcalloc(n, sizeof(*mx));
	bool all_root = true;
	for (size_t i = 0; i < n; i++) {
		if (result->len[i] < 0 ||
		    dns_rr_mx_parse((const uint8_t *)result->data[i], (size_t)result->len[i], &mx[i]) != DNS_RR_OK) {
			free(mx);
			dns_query_decide(q, DNS_TEMPFAIL, "4.4.3", "MX lookup failed: malformed answer");
			goto out;
		}
		if (mx[i].name[0] != '\0')
			all_root = false;
	}
	if (all_root) {
		/* RFC 7505: "MX 0 ." says the domain takes no mail at all. */
		free(mx);
		q->res.null_mx = true;
		dns_query_decide(q, DNS_PERMFAIL, "5.1.10", "domain does not accept mail");
		goto out;
	}
	size_t kept = dns_rr_mx_order(mx, n, DNS_MX_HOSTS_MAX, dns_resolver_rand, q->r);
	q->hosts = xcalloc(kept, sizeof(*q->hosts));
	q->nhosts = kept;
	for (size_t i = 0; i < kept; i++) {
		memcpy(q->hosts[i].name, mx[i].name, sizeof(q->hosts[i].name));
		q->hosts[i].pref = mx[i].pref;
	}
	free(mx);
	dns_query_start_addrs(q);
out:
	if (result != NULL)
		ub_resolve_free(result);
}

/*
 * The name to look up: a UTF-8 name (RFC 6531 3.7.3) in its A-label form
 * in buf, a pure ASCII name as it is. NULL when the conversion fails; the
 * query is then decided, PERMFAIL 5.1.2.
 */
static const char *dns_query_lookup_name(struct dns_query *q, const char *name, char *buf,
    size_t cap)
{
	if (!dns_idna_needed(name))
		return name;
	const char *why;
	if (dns_idna_to_ascii(name, buf, cap, &why))
		return buf;
	char reason[200];
	snprintf(reason, sizeof(reason), "bad internationalised domain name: %.120s", why);
	log_printable(q->domain, sizeof(q->domain), name, strnlen(name, 200));
	dns_query_decide(q, DNS_PERMFAIL, "5.1.2", reason);
	return NULL;
}

struct dns_query *dns_mx_resolve(struct dns_resolver *r, const char *domain,
    enum dns_family fam, dns_mx_cb *cb, void *arg)
{
	struct dns_query *q = dns_query_new(r, true, fam, cb, arg);
	char alabels[DNS_RR_NAME_MAX];
	if ((domain = dns_query_lookup_name(q, domain, alabels, sizeof(alabels))) == NULL)
		return q;
	if (dns_rr_name_normalize(domain, q->domain, sizeof(q->domain)) != DNS_RR_OK) {
		log_printable(q->domain, sizeof(q->domain), domain, strnlen(domain, 200));
		dns_query_decide(q, DNS_PERMFAIL, "5.1.2", "bad domain name");
		return q;
	}
	if (!dns_sub_start(q, &q->mxsub, q->domain, DNS_TYPE_MX, dns_mx_answer_cb)) {
		char reason[200];
		snprintf(reason, sizeof(reason), "MX lookup failed: %s", q->temp_reason);
		dns_query_decide(q, DNS_TEMPFAIL, "4.4.3", reason);
	}
	return q;
}

/* An address literal given as the host: the answer is known at once. */
static bool dns_host_literal(struct dns_query *q, const char *host)
{
	char buf[INET6_ADDRSTRLEN];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, host, n);
	buf[n] = '\0';
	q->nhosts = 1;
	q->hosts = xcalloc(1, sizeof(*q->hosts));
	struct dns_host_work *w = &q->hosts[0];
	if (inet_pton(AF_INET, buf, w->v4.addr[0]) == 1 && q->fam != DNS_FAMILY_V6_ONLY) {
		w->v4.n = 1;
	} else if (inet_pton(AF_INET6, buf, w->v6.addr[0]) == 1 && q->fam != DNS_FAMILY_V4_ONLY) {
		w->v6.n = 1;
	} else {
		free(q->hosts);
		q->hosts = NULL;
		q->nhosts = 0;
		return false;
	}
	snprintf(w->name, sizeof(w->name), "%s", buf);
	snprintf(q->domain, sizeof(q->domain), "%s", buf);
	dns_query_arm_delivery(q);
	return true;
}

struct dns_query *dns_host_resolve(struct dns_resolver *r, const char *host,
    enum dns_family fam, dns_mx_cb *cb, void *arg)
{
	struct dns_query *q = dns_query_new(r, false, fam, cb, arg);
	if (dns_host_literal(q, host))
		return q;
	char alabels[DNS_RR_NAME_MAX];
	if ((host = dns_query_lookup_name(q, host, alabels, sizeof(alabels))) == NULL)
		return q;
	if (dns_rr_name_normalize(host, q->domain, sizeof(q->domain)) != DNS_RR_OK) {
		log_printable(q->domain, sizeof(q->domain), host, strnlen(host, 200));
		dns_query_decide(q, DNS_PERMFAIL, "5.4.4", "bad host name");
		return q;
	}
	q->nhosts = 1;
	q->hosts = xcalloc(1, sizeof(*q->hosts));
	snprintf(q->hosts[0].name, sizeof(q->hosts[0].name), "%s", q->domain);
	dns_query_start_addrs(q);
	return q;
}

void dns_query_cancel(struct dns_query *q)
{
	if (q == NULL)
		return;
	dns_query_cancel_subs(q);
	dns_query_free(q);
}
