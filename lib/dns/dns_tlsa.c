/*
 * dns_tlsa: TLSA lookups over a list of candidate base domains (RFC 7672
 * 2.2.3), on the shared query machinery of dns_resolver.c.
 *
 * Owns: the candidate names of one lookup, the walk from one to the next,
 * the mapping of each answer to a DANE status, and copies of the records
 * kept (capped in number and size).
 * Never: calls back from inside dns_tlsa_resolve, keeps a record from an
 * answer that is not secure, or takes bogus for insecure.
 */
#include "dns/dns_tlsa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "dns/dns_rr.h"
#include "dns_query.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Candidate names in one lookup: the expanded name and the original, rarely more. */
#define DNS_TLSA_NAMES_MAX 8

struct dns_tlsa_query {
	struct dns_query q;		/* first: the shared machinery */
	uint16_t port;
	size_t n, cur;			/* names[0..n), the one being asked */
	char names[DNS_TLSA_NAMES_MAX][DNS_RR_NAME_MAX];
	char qname[DNS_RR_NAME_MAX + 16];	/* _PORT._tcp.NAME of names[cur] */
	dns_tlsa_cb *cb;
	void *arg;
	struct dns_sub sub;
	bool decided;
	struct dns_tlsa_result res;	/* rrs owned here until delivered */
};

static void dns_tlsa_deadline(struct dns_query *base);
static void dns_tlsa_deliver(struct dns_query *base);
static void dns_tlsa_destroy(struct dns_query *base);

static const struct dns_query_ops dns_tlsa_ops = {
	"tlsa", dns_tlsa_deadline, dns_tlsa_deliver, dns_tlsa_destroy,
};

const char *dns_tlsa_status_name(enum dns_tlsa_status st)
{
	switch (st) {
	case DNS_TLSA_FOUND: return "found";
	case DNS_TLSA_ABSENT: return "absent";
	case DNS_TLSA_INSECURE: return "insecure";
	case DNS_TLSA_BOGUS: return "bogus";
	case DNS_TLSA_TEMPFAIL: return "tempfail";
	}
	return "?";
}

/* Free the records of a result. */
static void dns_tlsa_free_rrs(struct dns_tlsa_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->rrs[i].data);
	free(res->rrs);
	res->rrs = NULL;
	res->n = 0;
}

static void dns_tlsa_destroy(struct dns_query *base)
{
	dns_tlsa_free_rrs(&((struct dns_tlsa_query *)base)->res);
}

/* Settle the status with a reason; lookups still out stop. */
static void dns_tlsa_decide(struct dns_tlsa_query *q, enum dns_tlsa_status st, const char *reason)
{
	if (q->decided)
		return;
	q->decided = true;
	q->res.status = st;
	snprintf(q->res.reason, sizeof(q->res.reason), "%s", reason);
	if (st != DNS_TLSA_FOUND)
		dns_tlsa_free_rrs(&q->res);
	dns_query_cancel_subs(&q->q);
	dns_query_ready(&q->q);
}

static void dns_tlsa_deadline(struct dns_query *base)
{
	struct dns_tlsa_query *q = (struct dns_tlsa_query *)base;
	char why[64], reason[256];
	dns_query_timeout_text(base, why, sizeof(why));
	snprintf(reason, sizeof(reason), "TLSA lookup of %.180s %.40s", q->qname, why);
	dns_tlsa_decide(q, DNS_TLSA_TEMPFAIL, reason);
}

static void dns_tlsa_deliver(struct dns_query *base)
{
	struct dns_tlsa_query *q = (struct dns_tlsa_query *)base;
	struct dns_tlsa_result res = q->res;
	/* The records go with the result: the query is freed before the callback. */
	q->res.rrs = NULL;
	q->res.n = 0;
	char pr[300];
	log_printable(pr, sizeof(pr), res.reason, strlen(res.reason));
	log_msg(LOG_LVL_DEBUG, "dns=tlsa name=%s status=%s records=%zu reason=\"%s\"", res.base,
	    dns_tlsa_status_name(res.status), res.n, pr);
	dns_tlsa_cb *cb = q->cb;
	void *cbarg = q->arg;
	dns_query_release(base);
	cb(&res, cbarg);
	dns_tlsa_free_rrs(&res);
}

/*
 * The records of a secure answer into the result. Returns false when one
 * is malformed (the whole lookup is then TEMPFAIL).
 */
static bool dns_tlsa_take(struct dns_tlsa_query *q, const struct ub_result *result, size_t *oversize)
{
	size_t n = 0;
	while (result->data[n] != NULL)
		n++;
	q->res.rrs = xcalloc(n < DNS_TLSA_RECORDS_MAX ? (n > 0 ? n : 1) : DNS_TLSA_RECORDS_MAX,
	    sizeof(*q->res.rrs));
	*oversize = 0;
	for (size_t i = 0; i < n; i++) {
		struct dns_rr_tlsa t;
		if (result->len[i] < 0 ||
		    dns_rr_tlsa_parse((const uint8_t *)result->data[i], (size_t)result->len[i], &t) != DNS_RR_OK)
			return false;
		if (t.len > DNS_TLSA_DATA_MAX) {
			(*oversize)++;
			continue;
		}
		if (q->res.n == DNS_TLSA_RECORDS_MAX)
			continue;
		struct dns_tlsa_rr *rr = &q->res.rrs[q->res.n++];
		rr->usage = t.usage;
		rr->selector = t.selector;
		rr->mtype = t.mtype;
		rr->len = t.len;
		rr->data = xmalloc(t.len);
		memcpy(rr->data, t.data, t.len);
	}
	return true;
}

static bool dns_tlsa_start_current(struct dns_tlsa_query *q);

/* This name gave ABSENT or INSECURE: the next one, or that status when it was the last. */
static void dns_tlsa_next(struct dns_tlsa_query *q, enum dns_tlsa_status st, const char *reason)
{
	if (q->cur + 1 < q->n) {
		q->cur++;
		(void)dns_tlsa_start_current(q);
		return;
	}
	dns_tlsa_decide(q, st, reason);
}

/* The answer for names[cur]. */
static void dns_tlsa_answer(struct dns_sub *s, int err, struct ub_result *result)
{
	struct dns_tlsa_query *q = (struct dns_tlsa_query *)s->q;
	char reason[256], why[160];
	if (err != 0) {
		snprintf(reason, sizeof(reason), "TLSA lookup of %.200s failed: %s", q->qname, ub_strerror(err));
		dns_tlsa_decide(q, DNS_TLSA_TEMPFAIL, reason);
	} else if (result->bogus) {
		dns_query_why_bogus(result, why, sizeof(why));
		snprintf(reason, sizeof(reason), "DNSSEC validation failed for TLSA of %.80s: %.130s", q->qname, why);
		dns_tlsa_decide(q, DNS_TLSA_BOGUS, reason);
	} else if (result->rcode != 0 && result->rcode != DNS_RCODE_NXDOMAIN) {
		snprintf(reason, sizeof(reason), "TLSA lookup of %.200s failed: %s", q->qname,
		    dns_rr_rcode_name(result->rcode));
		dns_tlsa_decide(q, DNS_TLSA_TEMPFAIL, reason);
	} else if (!result->secure) {
		snprintf(reason, sizeof(reason), "TLSA answer for %.200s is not DNSSEC-signed", q->qname);
		dns_tlsa_next(q, DNS_TLSA_INSECURE, reason);
	} else if (!result->havedata) {
		snprintf(reason, sizeof(reason), "no TLSA records at %.200s (%s, secure)", q->qname,
		    result->rcode == DNS_RCODE_NXDOMAIN ? "NXDOMAIN" : "NODATA");
		dns_tlsa_next(q, DNS_TLSA_ABSENT, reason);
	} else {
		size_t oversize;
		if (!dns_tlsa_take(q, result, &oversize)) {
			snprintf(reason, sizeof(reason), "TLSA lookup of %.200s: malformed record", q->qname);
			dns_tlsa_decide(q, DNS_TLSA_TEMPFAIL, reason);
			return;
		}
		snprintf(reason, sizeof(reason), "%zu TLSA records at %.180s (secure)%.34s", q->res.n,
		    q->qname, oversize > 0 ? ", some over the size cap left out" : "");
		dns_tlsa_decide(q, DNS_TLSA_FOUND, reason);
	}
}

/* Ask for _PORT._tcp.names[cur]; false when the lookup is decided instead. */
static bool dns_tlsa_start_current(struct dns_tlsa_query *q)
{
	char reason[256];
	snprintf(q->res.base, sizeof(q->res.base), "%s", q->names[q->cur]);
	int w = snprintf(q->qname, sizeof(q->qname), "_%u._tcp.%s", (unsigned)q->port, q->names[q->cur]);
	if (w < 0 || (size_t)w > 253) {
		snprintf(reason, sizeof(reason), "TLSA name for %.200s is too long", q->names[q->cur]);
		dns_tlsa_decide(q, DNS_TLSA_TEMPFAIL, reason);
		return false;
	}
	const char *why;
	if (!dns_sub_start(&q->q, &q->sub, q->qname, DNS_TYPE_TLSA, dns_tlsa_answer, &why)) {
		snprintf(reason, sizeof(reason), "TLSA lookup of %.200s failed: %s", q->qname, why);
		dns_tlsa_decide(q, DNS_TLSA_TEMPFAIL, reason);
		return false;
	}
	return true;
}

struct dns_query *dns_tlsa_resolve(struct dns_resolver *r, uint16_t port,
    const char *const *names, size_t n, dns_tlsa_cb *cb, void *arg)
{
	struct dns_tlsa_query *q = (struct dns_tlsa_query *)dns_query_new(r, &dns_tlsa_ops, sizeof(*q));
	q->port = port;
	q->cb = cb;
	q->arg = arg;
	if (n == 0 || n > DNS_TLSA_NAMES_MAX) {
		dns_tlsa_decide(q, DNS_TLSA_TEMPFAIL, n == 0 ? "no TLSA base name" : "too many TLSA base names");
		return &q->q;
	}
	for (size_t i = 0; i < n; i++) {
		if (names[i] == NULL ||
		    dns_rr_name_normalize(names[i], q->names[i], sizeof(q->names[i])) != DNS_RR_OK) {
			if (names[i] != NULL)
				log_printable(q->res.base, sizeof(q->res.base), names[i], strnlen(names[i], 200));
			dns_tlsa_decide(q, DNS_TLSA_TEMPFAIL, "bad TLSA base name");
			return &q->q;
		}
	}
	q->n = n;
	(void)dns_tlsa_start_current(q);
	return &q->q;
}
