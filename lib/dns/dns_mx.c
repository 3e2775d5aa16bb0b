/*
 * dns_mx: asynchronous MX and address resolution over libunbound, on the
 * libevent loop (the query machinery is dns_resolver.c's).
 *
 * Owns: the MX lookup and the A/AAAA lookups of every MX host, the
 * per-host address sets, and the mapping of each DNS outcome to
 * OK / TEMPFAIL / PERMFAIL with an enhanced status code; what DNSSEC said
 * of the MX answer and of each host's addresses.
 * Never: blocks, calls a callback from inside dns_mx_resolve or
 * dns_host_resolve, trusts record data before dns_rr has checked it, or
 * uses an address from a bogus answer.
 *
 * A UTF-8 name to resolve is looked up by its A-label form (dns_idna);
 * names in answers are kept as DNS gives them.
 *
 * CNAMEs are followed by libunbound itself: an MX or address query for an
 * alias comes back with the records of the canonical name, the canonical
 * name in canonname, and a secure flag that covers the whole chain.
 */
#include "dns/dns_mx.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "dns/dns_idna.h"
#include "dns/dns_rr.h"
#include "dns_query.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Bounds on the work one answer can cause. */
#define DNS_MX_HOSTS_MAX 32
#define DNS_MX_ADDRS_MAX 16
/* MX records read from one answer; a real domain has a handful. */
#define DNS_MX_RECORDS_MAX 1024

/* What the A or AAAA lookup of one host found. */
struct dns_addrset {
	size_t n;
	uint8_t addr[DNS_MX_ADDRS_MAX][16];
	bool done;
	bool temp;			/* failed for now */
	bool bogus;			/* validation failed: no address from it */
	bool nxdomain;
	bool secure;			/* the answer (data or denial) validated secure */
	char canon[DNS_RR_NAME_MAX];	/* the end of its CNAME chain, "" if none */
};

struct dns_host_work {
	char name[DNS_RR_NAME_MAX];
	uint16_t pref;
	struct dns_sub sub6, sub4;
	struct dns_addrset v6, v4;
};

struct dns_mx_query {
	struct dns_query q;		/* first: the shared machinery */
	bool is_mx;			/* MX lookup, or one host (smarthost) */
	char domain[DNS_RR_NAME_MAX];
	enum dns_family fam;
	dns_mx_cb *cb;
	void *arg;
	struct dns_sub mxsub;
	size_t nhosts;
	struct dns_host_work *hosts;	/* owned, nhosts long */
	bool implicit;
	bool mx_secure;			/* the MX answer validated secure */
	bool decided;			/* res holds a final status already */
	struct dns_mx_result res;	/* status of a decided query */
	char temp_reason[128];		/* the first temporary failure of an address lookup */
	char bogus_reason[224];		/* the first bogus address answer */
};

static void dns_mx_deadline(struct dns_query *base);
static void dns_mx_deliver(struct dns_query *base);
static void dns_mx_destroy(struct dns_query *base);

static const struct dns_query_ops dns_mx_ops = {
	"mx", dns_mx_deadline, dns_mx_deliver, dns_mx_destroy,
};
static const struct dns_query_ops dns_host_ops = {
	"host", dns_mx_deadline, dns_mx_deliver, dns_mx_destroy,
};

static void dns_mx_destroy(struct dns_query *base)
{
	struct dns_mx_query *q = (struct dns_mx_query *)base;
	free(q->hosts);
	q->hosts = NULL;
}

/* Settle the query's status now; any lookups still out are stopped. */
static void dns_mx_decide(struct dns_mx_query *q, enum dns_status st, const char *esc,
    const char *reason)
{
	if (q->decided)
		return;
	q->decided = true;
	q->res.status = st;
	snprintf(q->res.esc, sizeof(q->res.esc), "%s", esc);
	snprintf(q->res.reason, sizeof(q->res.reason), "%s", reason);
	dns_query_cancel_subs(&q->q);
	dns_query_ready(&q->q);
}

/* Record one temporary failure reason (the first one wins). */
static void dns_mx_note_temp(struct dns_mx_query *q, const char *what, const char *why)
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

/* An address lookup that gave an answer to go by: data, NODATA or NXDOMAIN. */
static bool dns_addrset_answered(const struct dns_addrset *set)
{
	return set->done && !set->temp && !set->bogus;
}

/* The DNSSEC facts of one host: secure, bogus, canonical name. */
static void dns_host_security(const struct dns_host_work *w, struct dns_mx_host *h)
{
	bool a6 = dns_addrset_answered(&w->v6), a4 = dns_addrset_answered(&w->v4);
	h->secure = (a6 || a4) && (!a6 || w->v6.secure) && (!a4 || w->v4.secure);
	h->addr_bogus = w->v6.bogus || w->v4.bogus;
	const char *canon = a6 && w->v6.canon[0] != '\0' ? w->v6.canon : a4 ? w->v4.canon : "";
	snprintf(h->canon, sizeof(h->canon), "%s", canon);
}

/* No host is left: say why, bogus first (4.7.5), then temporary, then permanent. */
static void dns_mx_no_host(struct dns_mx_query *q, struct dns_mx_result *res, bool any_temp,
    bool all_nx)
{
	if (q->bogus_reason[0] != '\0') {
		res->status = DNS_TEMPFAIL;
		res->bogus = true;
		snprintf(res->esc, sizeof(res->esc), "4.7.5");
		snprintf(res->reason, sizeof(res->reason), "no address for now (%.224s)", q->bogus_reason);
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

/*
 * Turn the finished address lookups into hosts[] of the result, in
 * preference order, with the family order asked for, and decide the status.
 */
static void dns_mx_assemble(struct dns_mx_query *q, struct dns_mx_result *res)
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
		bool temp = w->v4.temp || w->v6.temp || w->v4.bogus || w->v6.bogus;
		any_temp = any_temp || temp;
		if ((w->v4.done && !w->v4.nxdomain) || (w->v6.done && !w->v6.nxdomain) || temp)
			all_nx = false;
		if (total == 0)
			continue;
		/* Both families stay represented: the second keeps up to half the slots. */
		size_t keep2 = second->n < DNS_MX_ADDRS_MAX / 2 ? second->n : DNS_MX_ADDRS_MAX / 2;
		snprintf(h->name, sizeof(h->name), "%s", w->name);
		h->pref = w->pref;
		h->addr_tempfail = temp;
		dns_host_security(w, h);
		h->addrs = xcalloc(total < DNS_MX_ADDRS_MAX ? total : DNS_MX_ADDRS_MAX, sizeof(*h->addrs));
		dns_host_take(h, first, v4_first ? AF_INET : AF_INET6, DNS_MX_ADDRS_MAX - keep2);
		dns_host_take(h, second, v4_first ? AF_INET6 : AF_INET, DNS_MX_ADDRS_MAX);
		res->nhosts++;
	}
	if (res->nhosts > 0) {
		res->status = DNS_OK;
		return;
	}
	dns_mx_no_host(q, res, any_temp, all_nx);
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

/* The deadline: a pending MX lookup decides the query; pending address lookups are temporary. */
static void dns_mx_deadline(struct dns_query *base)
{
	struct dns_mx_query *q = (struct dns_mx_query *)base;
	char why[64];
	dns_query_timeout_text(base, why, sizeof(why));
	if (q->mxsub.pending) {
		char reason[128];
		snprintf(reason, sizeof(reason), "MX lookup failed: %s", why);
		dns_mx_decide(q, DNS_TEMPFAIL, "4.4.3", reason);
		return;
	}
	for (size_t i = 0; i < q->nhosts; i++) {
		struct dns_host_work *w = &q->hosts[i];
		if (w->sub6.pending)
			w->v6.temp = true;
		if (w->sub4.pending)
			w->v4.temp = true;
		if (w->sub6.pending || w->sub4.pending)
			dns_mx_note_temp(q, w->name, why);
	}
}

/* The result is ready: build it, release the query, call back, free the result. */
static void dns_mx_deliver(struct dns_query *base)
{
	struct dns_mx_query *q = (struct dns_mx_query *)base;
	struct dns_mx_result res;
	memset(&res, 0, sizeof(res));
	if (q->decided) {
		res.status = q->res.status;
		memcpy(res.esc, q->res.esc, sizeof(res.esc));
		memcpy(res.reason, q->res.reason, sizeof(res.reason));
		res.null_mx = q->res.null_mx;
		res.bogus = q->res.bogus;
	} else {
		dns_mx_assemble(q, &res);
	}
	res.implicit = q->implicit;
	res.dnssec = dns_resolver_validating(base->r);
	res.secure = q->is_mx && q->mx_secure && !res.bogus;
	char pr[300];
	log_printable(pr, sizeof(pr), res.reason, strlen(res.reason));
	log_msg(LOG_LVL_DEBUG, "dns=%s name=%s status=%s esc=%s hosts=%zu implicit=%d secure=%d "
	    "bogus=%d reason=\"%s\"", base->ops->kind, q->domain, dns_status_name(res.status),
	    res.esc[0] != '\0' ? res.esc : "-", res.nhosts, res.implicit ? 1 : 0, res.secure ? 1 : 0,
	    res.bogus ? 1 : 0, pr);
	dns_mx_cb *cb = q->cb;
	void *cbarg = q->arg;
	/* Gone from the resolver before the callback, which may free the resolver. */
	dns_query_release(base);
	cb(&res, cbarg);
	for (size_t i = 0; i < res.nhosts; i++)
		free(res.hosts[i].addrs);
	free(res.hosts);
}

static void dns_addr_answer(struct dns_sub *s, int err, struct ub_result *result);

/* Start one address lookup of host w; a failure to start is temporary. */
static void dns_mx_start_addr(struct dns_mx_query *q, struct dns_host_work *w, bool v6)
{
	struct dns_sub *s = v6 ? &w->sub6 : &w->sub4;
	const char *why;
	if (!dns_sub_start(&q->q, s, w->name, v6 ? DNS_TYPE_AAAA : DNS_TYPE_A, dns_addr_answer, &why)) {
		(v6 ? &w->v6 : &w->v4)->temp = true;
		dns_mx_note_temp(q, w->name, why);
	}
}

/* Start the AAAA and/or A lookups of every host the family setting asks for. */
static void dns_mx_start_addrs(struct dns_mx_query *q)
{
	bool want6 = q->fam != DNS_FAMILY_V4_ONLY;
	bool want4 = q->fam != DNS_FAMILY_V6_ONLY;
	for (size_t i = 0; i < q->nhosts; i++) {
		struct dns_host_work *w = &q->hosts[i];
		w->sub6.index = w->sub4.index = i;
		w->sub6.family = AF_INET6;
		w->sub4.family = AF_INET;
		if (want6)
			dns_mx_start_addr(q, w, true);
		if (want4)
			dns_mx_start_addr(q, w, false);
	}
	if (q->q.outstanding == 0)
		dns_query_ready(&q->q);
}

/* Copy the addresses of one answer into set; false when a record is malformed. */
static bool dns_addrset_fill(struct dns_addrset *set, const struct ub_result *result, size_t want)
{
	for (size_t i = 0; result->data[i] != NULL; i++) {
		if (result->len[i] < 0 || (size_t)result->len[i] != want) {
			set->n = 0;
			return false;
		}
		if (set->n < DNS_MX_ADDRS_MAX)
			memcpy(set->addr[set->n++], result->data[i], want);
	}
	return true;
}

/* An A or AAAA answer for one host. */
static void dns_addr_answer(struct dns_sub *s, int err, struct ub_result *result)
{
	struct dns_mx_query *q = (struct dns_mx_query *)s->q;
	struct dns_host_work *w = &q->hosts[s->index];
	struct dns_addrset *set = s->family == AF_INET ? &w->v4 : &w->v6;
	const char *what = s->family == AF_INET ? "A lookup" : "AAAA lookup";
	char ctx[DNS_RR_NAME_MAX + 16];
	snprintf(ctx, sizeof(ctx), "%s of %s", what, w->name);
	set->done = true;
	if (err != 0) {
		set->temp = true;
		dns_mx_note_temp(q, ctx, ub_strerror(err));
	} else if (result->bogus) {
		/* Never an address from a bogus answer, and never mistaken for NXDOMAIN. */
		set->bogus = true;
		if (q->bogus_reason[0] == '\0') {
			char why[160];
			dns_query_why_bogus(result, why, sizeof(why));
			snprintf(q->bogus_reason, sizeof(q->bogus_reason),
			    "DNSSEC validation failed for the %.60s: %.120s", ctx, why);
		}
	} else if (result->rcode == DNS_RCODE_NXDOMAIN) {
		set->nxdomain = true;
		set->secure = result->secure;
	} else if (result->rcode != 0) {
		set->temp = true;
		dns_mx_note_temp(q, ctx, dns_rr_rcode_name(result->rcode));
	} else {
		set->secure = result->secure;
		dns_query_canon(result, w->name, set->canon, sizeof(set->canon));
		if (result->havedata && !dns_addrset_fill(set, result, s->family == AF_INET ? 4 : 16)) {
			set->temp = true;
			dns_mx_note_temp(q, ctx, "malformed answer");
		}
	}
	if (q->q.outstanding == 0)
		dns_query_ready(&q->q);
}

/* The MX records of an answer into hosts to look up, or the null MX decision. */
static void dns_mx_take_records(struct dns_mx_query *q, const struct ub_result *result)
{
	size_t n = 0;
	while (n < DNS_MX_RECORDS_MAX && result->data[n] != NULL)
		n++;
	struct dns_rr_mx *mx = xcalloc(n, sizeof(*mx));
	bool all_root = true;
	for (size_t i = 0; i < n; i++) {
		if (result->len[i] < 0 ||
		    dns_rr_mx_parse((const uint8_t *)result->data[i], (size_t)result->len[i], &mx[i]) != DNS_RR_OK) {
			free(mx);
			dns_mx_decide(q, DNS_TEMPFAIL, "4.4.3", "MX lookup failed: malformed answer");
			return;
		}
		if (mx[i].name[0] != '\0')
			all_root = false;
	}
	if (all_root) {
		/* RFC 7505: "MX 0 ." says the domain takes no mail at all. */
		free(mx);
		q->res.null_mx = true;
		dns_mx_decide(q, DNS_PERMFAIL, "5.1.10", "domain does not accept mail");
		return;
	}
	size_t kept = dns_rr_mx_order(mx, n, DNS_MX_HOSTS_MAX, dns_resolver_rand, q->q.r);
	q->hosts = xcalloc(kept, sizeof(*q->hosts));
	q->nhosts = kept;
	for (size_t i = 0; i < kept; i++) {
		memcpy(q->hosts[i].name, mx[i].name, sizeof(q->hosts[i].name));
		q->hosts[i].pref = mx[i].pref;
	}
	free(mx);
	dns_mx_start_addrs(q);
}

/* The MX answer: decide at once (failures, bogus, null MX) or go on to the hosts. */
static void dns_mx_answer(struct dns_sub *s, int err, struct ub_result *result)
{
	struct dns_mx_query *q = (struct dns_mx_query *)s->q;
	char reason[256];
	if (err != 0) {
		snprintf(reason, sizeof(reason), "MX lookup failed: %s", ub_strerror(err));
		dns_mx_decide(q, DNS_TEMPFAIL, "4.4.3", reason);
		return;
	}
	if (result->bogus) {
		/* Bogus is never a silent downgrade to insecure or to implicit MX. */
		char why[160];
		dns_query_why_bogus(result, why, sizeof(why));
		snprintf(reason, sizeof(reason), "DNSSEC validation failed for the MX of %.60s: %.150s",
		    q->domain, why);
		q->res.bogus = true;
		dns_mx_decide(q, DNS_TEMPFAIL, "4.7.5", reason);
		return;
	}
	q->mx_secure = result->secure;
	if (result->rcode == DNS_RCODE_NXDOMAIN) {
		dns_mx_decide(q, DNS_PERMFAIL, "5.1.2", "domain not found");
		return;
	}
	if (result->rcode != 0) {
		snprintf(reason, sizeof(reason), "MX lookup failed: %s", dns_rr_rcode_name(result->rcode));
		dns_mx_decide(q, DNS_TEMPFAIL, "4.4.3", reason);
		return;
	}
	if (!result->havedata) {
		/* NODATA: RFC 5321 5.1 implicit MX, the domain itself at preference 0. */
		q->implicit = true;
		q->nhosts = 1;
		q->hosts = xcalloc(1, sizeof(*q->hosts));
		snprintf(q->hosts[0].name, sizeof(q->hosts[0].name), "%s", q->domain);
		dns_mx_start_addrs(q);
		return;
	}
	dns_mx_take_records(q, result);
}

/*
 * The name to look up: a UTF-8 name (RFC 6531 3.7.3) in its A-label form
 * in buf, a pure ASCII name as it is. NULL when the conversion fails; the
 * query is then decided, PERMFAIL 5.1.2.
 */
static const char *dns_mx_lookup_name(struct dns_mx_query *q, const char *name, char *buf,
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
	dns_mx_decide(q, DNS_PERMFAIL, "5.1.2", reason);
	return NULL;
}

/* A new MX or host query. */
static struct dns_mx_query *dns_mx_query_new(struct dns_resolver *r, bool is_mx,
    enum dns_family fam, dns_mx_cb *cb, void *arg)
{
	struct dns_mx_query *q = (struct dns_mx_query *)dns_query_new(r,
	    is_mx ? &dns_mx_ops : &dns_host_ops, sizeof(*q));
	q->is_mx = is_mx;
	q->fam = fam;
	q->cb = cb;
	q->arg = arg;
	return q;
}

struct dns_query *dns_mx_resolve(struct dns_resolver *r, const char *domain,
    enum dns_family fam, dns_mx_cb *cb, void *arg)
{
	struct dns_mx_query *q = dns_mx_query_new(r, true, fam, cb, arg);
	char alabels[DNS_RR_NAME_MAX];
	if ((domain = dns_mx_lookup_name(q, domain, alabels, sizeof(alabels))) == NULL)
		return &q->q;
	if (dns_rr_name_normalize(domain, q->domain, sizeof(q->domain)) != DNS_RR_OK) {
		log_printable(q->domain, sizeof(q->domain), domain, strnlen(domain, 200));
		dns_mx_decide(q, DNS_PERMFAIL, "5.1.2", "bad domain name");
		return &q->q;
	}
	const char *why;
	if (!dns_sub_start(&q->q, &q->mxsub, q->domain, DNS_TYPE_MX, dns_mx_answer, &why)) {
		char reason[200];
		snprintf(reason, sizeof(reason), "MX lookup failed: %s", why);
		dns_mx_decide(q, DNS_TEMPFAIL, "4.4.3", reason);
	}
	return &q->q;
}

/* An address literal given as the host: the answer is known at once. */
static bool dns_host_literal(struct dns_mx_query *q, const char *host)
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
	dns_query_ready(&q->q);
	return true;
}

struct dns_query *dns_host_resolve(struct dns_resolver *r, const char *host,
    enum dns_family fam, dns_mx_cb *cb, void *arg)
{
	struct dns_mx_query *q = dns_mx_query_new(r, false, fam, cb, arg);
	if (dns_host_literal(q, host))
		return &q->q;
	char alabels[DNS_RR_NAME_MAX];
	if ((host = dns_mx_lookup_name(q, host, alabels, sizeof(alabels))) == NULL)
		return &q->q;
	if (dns_rr_name_normalize(host, q->domain, sizeof(q->domain)) != DNS_RR_OK) {
		log_printable(q->domain, sizeof(q->domain), host, strnlen(host, 200));
		dns_mx_decide(q, DNS_PERMFAIL, "5.4.4", "bad host name");
		return &q->q;
	}
	q->nhosts = 1;
	q->hosts = xcalloc(1, sizeof(*q->hosts));
	snprintf(q->hosts[0].name, sizeof(q->hosts[0].name), "%s", q->domain);
	dns_mx_start_addrs(q);
	return &q->q;
}
