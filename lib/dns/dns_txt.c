/*
 * dns_txt: one TXT lookup on the shared query machinery of dns_resolver.c.
 *
 * Owns: the mapping of a TXT answer to OK / TEMPFAIL with its DNSSEC
 * status, and the records joined, capped and copied into the result.
 * Never: calls back from inside dns_txt_resolve, interprets the texts, or
 * takes a bogus answer for an answer.
 */
#include "dns/dns_txt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "dns/dns_idna.h"
#include "dns/dns_rr.h"
#include "dns_query.h"
#include "util/log.h"
#include "util/xalloc.h"

struct dns_txt_query {
	struct dns_query q;		/* first: the shared machinery */
	char name[DNS_RR_NAME_MAX];
	dns_txt_cb *cb;
	void *arg;
	struct dns_sub sub;
	bool decided;
	struct dns_txt_result res;	/* texts owned here until delivered */
};

static void dns_txt_deadline(struct dns_query *base);
static void dns_txt_deliver(struct dns_query *base);
static void dns_txt_destroy(struct dns_query *base);

static const struct dns_query_ops dns_txt_ops = {
	"txt", dns_txt_deadline, dns_txt_deliver, dns_txt_destroy,
};

static void dns_txt_free_texts(struct dns_txt_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->texts[i]);
	free(res->texts);
	res->texts = NULL;
	res->n = 0;
}

static void dns_txt_destroy(struct dns_query *base)
{
	dns_txt_free_texts(&((struct dns_txt_query *)base)->res);
}

/* Settle the status with a reason; a TEMPFAIL keeps no texts. */
static void dns_txt_decide(struct dns_txt_query *q, enum dns_status st, const char *reason)
{
	if (q->decided)
		return;
	q->decided = true;
	q->res.status = st;
	snprintf(q->res.reason, sizeof(q->res.reason), "%s", reason);
	if (st != DNS_OK)
		dns_txt_free_texts(&q->res);
	dns_query_cancel_subs(&q->q);
	dns_query_ready(&q->q);
}

static void dns_txt_deadline(struct dns_query *base)
{
	struct dns_txt_query *q = (struct dns_txt_query *)base;
	char why[64], reason[256];
	dns_query_timeout_text(base, why, sizeof(why));
	snprintf(reason, sizeof(reason), "TXT lookup of %.180s %.40s", q->name, why);
	dns_txt_decide(q, DNS_TEMPFAIL, reason);
}

static void dns_txt_deliver(struct dns_query *base)
{
	struct dns_txt_query *q = (struct dns_txt_query *)base;
	struct dns_txt_result res = q->res;
	/* The texts go with the result: the query is freed before the callback. */
	q->res.texts = NULL;
	q->res.n = 0;
	char pr[300];
	log_printable(pr, sizeof(pr), res.reason, strlen(res.reason));
	log_msg(LOG_LVL_DEBUG, "dns=txt name=%s status=%s records=%zu secure=%d bogus=%d reason=\"%s\"",
	    q->name, res.status == DNS_OK ? "ok" : "tempfail", res.n, res.secure ? 1 : 0,
	    res.bogus ? 1 : 0, pr);
	dns_txt_cb *cb = q->cb;
	void *cbarg = q->arg;
	dns_query_release(base);
	cb(&res, cbarg);
	dns_txt_free_texts(&res);
}

/* The records of an answer into texts; false when one is malformed. */
static bool dns_txt_take(struct dns_txt_query *q, const struct ub_result *result)
{
	static const size_t cap = DNS_TXT_TEXT_MAX;
	char *buf = xmalloc(cap);
	q->res.texts = xcalloc(DNS_TXT_RECORDS_MAX, sizeof(*q->res.texts));
	for (size_t i = 0; result->data[i] != NULL; i++) {
		size_t joined;
		if (result->len[i] < 0 ||
		    dns_rr_txt_parse((const uint8_t *)result->data[i], (size_t)result->len[i], buf, cap,
		    &joined) != DNS_RR_OK) {
			free(buf);
			return false;
		}
		if (joined >= cap || memchr(buf, '\0', joined) != NULL || q->res.n == DNS_TXT_RECORDS_MAX) {
			q->res.dropped++;
			continue;
		}
		q->res.texts[q->res.n] = xmalloc(joined + 1);
		memcpy(q->res.texts[q->res.n], buf, joined + 1);
		q->res.n++;
	}
	free(buf);
	return true;
}

/* The TXT answer. */
static void dns_txt_answer(struct dns_sub *s, int err, struct ub_result *result)
{
	struct dns_txt_query *q = (struct dns_txt_query *)s->q;
	char reason[256], why[160];
	if (err != 0) {
		snprintf(reason, sizeof(reason), "TXT lookup of %.200s failed: %s", q->name, ub_strerror(err));
		dns_txt_decide(q, DNS_TEMPFAIL, reason);
	} else if (result->bogus) {
		dns_query_why_bogus(result, why, sizeof(why));
		snprintf(reason, sizeof(reason), "DNSSEC validation failed for TXT of %.80s: %.130s", q->name, why);
		q->res.bogus = true;
		dns_txt_decide(q, DNS_TEMPFAIL, reason);
	} else if (result->rcode == DNS_RCODE_NXDOMAIN) {
		q->res.nxdomain = true;
		q->res.secure = result->secure;
		dns_txt_decide(q, DNS_OK, "name not found");
	} else if (result->rcode != 0) {
		snprintf(reason, sizeof(reason), "TXT lookup of %.200s failed: %s", q->name,
		    dns_rr_rcode_name(result->rcode));
		dns_txt_decide(q, DNS_TEMPFAIL, reason);
	} else if (!result->havedata) {
		q->res.secure = result->secure;
		dns_txt_decide(q, DNS_OK, "no TXT records");
	} else if (!dns_txt_take(q, result)) {
		snprintf(reason, sizeof(reason), "TXT lookup of %.200s: malformed record", q->name);
		dns_txt_decide(q, DNS_TEMPFAIL, reason);
	} else {
		q->res.secure = result->secure;
		snprintf(reason, sizeof(reason), "%zu TXT records%s", q->res.n,
		    q->res.dropped > 0 ? ", some left out (over the caps or holding a NUL)" : "");
		dns_txt_decide(q, DNS_OK, reason);
	}
}

struct dns_query *dns_txt_resolve(struct dns_resolver *r, const char *name, dns_txt_cb *cb,
    void *arg)
{
	struct dns_txt_query *q = (struct dns_txt_query *)dns_query_new(r, &dns_txt_ops, sizeof(*q));
	q->cb = cb;
	q->arg = arg;
	char alabels[DNS_RR_NAME_MAX];
	const char *why;
	if (dns_idna_needed(name)) {
		if (!dns_idna_to_ascii(name, alabels, sizeof(alabels), &why)) {
			log_printable(q->name, sizeof(q->name), name, strnlen(name, 200));
			dns_txt_decide(q, DNS_TEMPFAIL, "bad internationalised domain name");
			return &q->q;
		}
		name = alabels;
	}
	if (dns_rr_name_normalize(name, q->name, sizeof(q->name)) != DNS_RR_OK) {
		log_printable(q->name, sizeof(q->name), name, strnlen(name, 200));
		dns_txt_decide(q, DNS_TEMPFAIL, "bad domain name");
		return &q->q;
	}
	if (!dns_sub_start(&q->q, &q->sub, q->name, DNS_TYPE_TXT, dns_txt_answer, &why)) {
		char reason[256];
		snprintf(reason, sizeof(reason), "TXT lookup of %.200s failed: %s", q->name, why);
		dns_txt_decide(q, DNS_TEMPFAIL, reason);
	}
	return &q->q;
}
