/*
 * client_sts: MTA-STS policies for a context's deliveries (see
 * client_sts.h).
 *
 * One entry per recipient domain asked about: the cached policy, the
 * deliveries waiting, and at most one piece of work in flight (the TXT
 * lookup, the policy host's address lookup, the HTTPS fetch). RFC 8461
 * 5.1: a policy is used until max_age passes; its TXT record is asked
 * again when the last answer is older than CLIENT_STS_RECHECK_SECONDS,
 * and a new id there fetches the policy anew before the delivery goes on,
 * the old one staying in force when the new one cannot be had. A policy
 * whose id did not change is still fetched again once it is older than
 * half its max_age or a day (RFC 8461 10.2, proactive refresh), so that a
 * domain which changed its policy without a new id, or whose policy
 * would expire between deliveries, is not left on a stale one; such a
 * refresh that fails keeps the policy and is no failure of the delivery.
 */
#include "client_sts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "dns/dns_idna.h"
#include "dns/dns_rr.h"
#include "dns/dns_txt.h"
#include "net/net_http.h"
#include "sts/sts_record.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CLIENT_STS_BUCKETS 1024
/* Entries kept; past this, idle ones not asked about for longest go. */
#define CLIENT_STS_ENTRIES_MAX 20000
/* A policy is fetched again, same id or not, when older than this (or half its max_age). */
#define CLIENT_STS_REFRESH_SECONDS 86400

struct client_sts_entry;

struct client_sts_req {
	struct client_sts_entry *e;
	struct client_sts_req *prev, *next;	/* the entry's waiters */
	client_sts_cb *cb;
	void *arg;
};

struct client_sts_entry {
	struct client_sts *s;
	struct client_sts_entry *chain;		/* the bucket's list */
	char domain[DNS_RR_NAME_MAX];		/* as asked, lower case */
	char ascii[DNS_RR_NAME_MAX];		/* A-labels, for DNS and the URL */
	bool have;				/* a policy is cached (any mode) */
	struct sts_policy policy;
	char id[33];
	char text[sizeof(((struct mxr_sts_cached *)0)->text)];
	int64_t fetched, expires;
	int64_t checked;			/* when the TXT record was last asked */
	int64_t asked;				/* when a delivery last asked */
	bool busy;				/* a TXT lookup, address lookup or fetch is out */
	struct dns_query *q;			/* the TXT or address lookup in flight */
	struct net_http_req *http;		/* the fetch in flight */
	char fetch_id[33];			/* the id the fetch is for */
	bool refresh;				/* the fetch renews a valid policy of the same id */
	const char *result_type;		/* a failure to report with the next results */
	char detail[300];
	struct client_sts_req *waiters;
	struct event *deliver;			/* owned: hands results over from the loop */
};

struct client_sts {
	struct client_sts_cfg cfg;
	char *ca_file;				/* owned copy */
	char *user_agent;			/* owned copy */
	struct mxr_sts_store store;		/* cfg.store points here when given */
	struct net_http *http;			/* owned */
	struct client_sts_entry *buckets[CLIENT_STS_BUCKETS];
	size_t nentries;
};

static void cst_txt_done(const struct dns_txt_result *res, void *arg);

static int64_t cst_now(void)
{
	return (int64_t)time(NULL);
}

/* FNV-1a of a domain, for its bucket. */
static size_t cst_bucket(const char *domain)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)domain; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h % CLIENT_STS_BUCKETS;
}

/* Whether the cached policy may be used now (RFC 8461 5.1: never past max_age). */
static bool cst_valid(const struct client_sts_entry *e)
{
	return e->have && e->expires > cst_now();
}

/* Whether a valid policy is old enough to be fetched again though its id is the same. */
static bool cst_due_refresh(const struct client_sts_entry *e)
{
	int64_t age = cst_now() - e->fetched;
	int64_t half = (e->expires - e->fetched) / 2;
	return age >= (half < CLIENT_STS_REFRESH_SECONDS ? half : CLIENT_STS_REFRESH_SECONDS);
}

/* Take the policy text as cached (ours, so it parses; a damaged copy is dropped). */
static bool cst_take_text(struct client_sts_entry *e, const char *text, const char *id,
    int64_t fetched, int64_t expires)
{
	struct sts_policy_error perr;
	struct sts_policy p;
	if (sts_policy_parse(text, strlen(text), &p, &perr) != STS_POLICY_OK)
		return false;
	e->policy = p;
	snprintf(e->text, sizeof(e->text), "%s", text);
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->fetched = fetched;
	e->expires = expires;
	e->have = true;
	return true;
}

/* Hand the entry's state to every waiting delivery. */
static void cst_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct client_sts_entry *e = arg;
	bool use = cst_valid(e) && e->policy.mode != STS_MODE_NONE;
	struct client_sts_result r = {
		.policy = use ? &e->policy : NULL,
		.text = use ? e->text : NULL,
		.result_type = e->result_type,
		.detail = e->result_type != NULL ? e->detail : NULL,
	};
	/* Each waiter leaves the list before its callback, which may cancel others. */
	while (e->waiters != NULL) {
		struct client_sts_req *w = e->waiters;
		e->waiters = w->next;
		if (e->waiters != NULL)
			e->waiters->prev = NULL;
		client_sts_cb *cb = w->cb;
		void *cbarg = w->arg;
		free(w);
		cb(&r, cbarg);
	}
	e->result_type = NULL;
}

/* Results are due: from the loop, never from the caller's stack. */
static void cst_wake(struct client_sts_entry *e)
{
	if (e->waiters != NULL)
		event_active(e->deliver, 0, 0);
}

/* The work is over (well or not): results go out. */
static void cst_settle(struct client_sts_entry *e)
{
	e->busy = false;
	e->refresh = false;
	e->q = NULL;
	e->http = NULL;
	cst_wake(e);
}

/* A fetch failed: report it once with the results; a valid cached policy stays in force. */
static void cst_fetch_failed(struct client_sts_entry *e, const char *result_type,
    const char *fmt, const char *a)
{
	char pr[200];
	if (e->refresh && cst_valid(e)) {
		/* The policy in force is still good: nothing failed for the delivery. */
		log_msg(LOG_LVL_INFO, "domain=%s event=mta-sts-refresh-failed result=%s "
		    "note=\"cached policy kept\"", e->domain, result_type);
		cst_settle(e);
		return;
	}
	e->result_type = result_type;
	snprintf(e->detail, sizeof(e->detail), fmt, log_printable(pr, sizeof(pr), a, strlen(a)));
	log_msg(LOG_LVL_INFO, "domain=%s event=mta-sts-fetch-failed result=%s reason=\"%s\"%s",
	    e->domain, result_type, e->detail, cst_valid(e) ? " note=\"cached policy kept\"" : "");
	cst_settle(e);
}

/* The policy file came (or not): parse, cache, store. */
static void cst_http_done(const struct net_http_response *r, void *arg)
{
	struct client_sts_entry *e = arg;
	struct client_sts *s = e->s;
	e->http = NULL;
	if (r->fail == NET_HTTP_FAIL_TLS) {
		cst_fetch_failed(e, "sts-webpki-invalid", "policy host: %s", r->error);
		return;
	}
	if (r->fail != NET_HTTP_OK) {
		cst_fetch_failed(e, "sts-policy-fetch-error", "policy fetch: %s", r->error);
		return;
	}
	/* RFC 8461 3.3: the policy is text/plain; anything else is not a policy. */
	const char *ct = r->content_type != NULL ? r->content_type : "";
	if (strncasecmp(ct, "text/plain", 10) != 0 || (ct[10] != '\0' && ct[10] != ';' &&
	    ct[10] != ' ')) {
		cst_fetch_failed(e, "sts-policy-invalid", "policy served as \"%s\", not text/plain", ct);
		return;
	}
	struct sts_policy p;
	struct sts_policy_error perr;
	if (sts_policy_parse(r->body, r->body_len, &p, &perr) != STS_POLICY_OK) {
		char why[200];
		snprintf(why, sizeof(why), "line %zu: %s", perr.line, perr.why);
		cst_fetch_failed(e, "sts-policy-invalid", "bad policy: %s", why);
		return;
	}
	struct mxr_sts_cached c;
	memset(&c, 0, sizeof(c));
	if (sts_policy_format(&p, c.text, sizeof(c.text)) >= sizeof(c.text)) {
		cst_fetch_failed(e, "sts-policy-invalid", "bad policy: %s", "too many MX patterns");
		return;
	}
	snprintf(c.id, sizeof(c.id), "%s", e->fetch_id);
	c.fetched = cst_now();
	c.expires = c.fetched + (int64_t)p.max_age;
	(void)cst_take_text(e, c.text, c.id, c.fetched, c.expires);
	if (s->cfg.store != NULL && s->cfg.store->save != NULL)
		s->cfg.store->save(s->cfg.store->arg, e->domain, &c);
	log_msg(LOG_LVL_INFO, "domain=%s event=mta-sts-policy id=%s mode=%s max_age=%u mx=%zu",
	    e->domain, c.id, sts_mode_name(p.mode), (unsigned)p.max_age, p.nmx);
	cst_settle(e);
}

/* The policy host's addresses came: fetch from them. */
static void cst_host_done(const struct dns_mx_result *res, void *arg)
{
	struct client_sts_entry *e = arg;
	struct client_sts *s = e->s;
	e->q = NULL;
	if (res->status != DNS_OK || res->nhosts == 0 || res->hosts[0].naddrs == 0) {
		cst_fetch_failed(e, "sts-policy-fetch-error", "policy host: %s", res->reason);
		return;
	}
	char url[DNS_RR_NAME_MAX + 64];
	snprintf(url, sizeof(url), "https://mta-sts.%s/.well-known/mta-sts.txt", e->ascii);
	struct net_http_opts o = {
		.url = url,
		.ca_file = s->ca_file,
		.timeout_ms = s->cfg.timeout_ms,
		.max_body = CLIENT_STS_BODY_MAX,
		.addrs = res->hosts[0].addrs,
		.naddrs = res->hosts[0].naddrs,
		.user_agent = s->user_agent,
	};
	e->http = net_http_start(s->http, &o, cst_http_done, e);
	if (e->http == NULL)
		cst_fetch_failed(e, "sts-policy-fetch-error", "policy fetch: %s", "cannot start");
}

/* Fetch the policy for the TXT record's id. */
static void cst_fetch(struct client_sts_entry *e, const char *id)
{
	char host[DNS_RR_NAME_MAX + 16];
	snprintf(e->fetch_id, sizeof(e->fetch_id), "%s", id);
	snprintf(host, sizeof(host), "mta-sts.%s", e->ascii);
	e->q = dns_host_resolve(e->s->cfg.dns, host, e->s->cfg.family, cst_host_done, e);
	if (e->q == NULL)
		cst_fetch_failed(e, "sts-policy-fetch-error", "policy host: %s", "cannot resolve");
}

/* The _mta-sts TXT record came: is there a policy, and is ours current? */
static void cst_txt_done(const struct dns_txt_result *res, void *arg)
{
	struct client_sts_entry *e = arg;
	e->q = NULL;
	e->checked = cst_now();
	if (res->status != DNS_OK) {
		/* For now unknown: a valid cached policy stays; without one there is none. */
		cst_settle(e);
		return;
	}
	char id[STS_RECORD_ID_MAX], why[200];
	enum sts_record_status st = sts_record_parse((const char *const *)res->texts, res->n, id,
	    why, sizeof(why));
	if (st != STS_RECORD_OK) {
		/* RFC 8461 5.1: no record does not end a valid cached policy before max_age. */
		cst_settle(e);
		return;
	}
	e->refresh = cst_valid(e) && strcmp(id, e->id) == 0;
	if (e->refresh && !cst_due_refresh(e)) {
		cst_settle(e);
		return;
	}
	cst_fetch(e, id);
}

/* Ask the TXT record (the start of every refresh). */
static void cst_check(struct client_sts_entry *e)
{
	char name[DNS_RR_NAME_MAX + 16];
	e->busy = true;
	snprintf(name, sizeof(name), "_mta-sts.%s", e->ascii);
	e->q = dns_txt_resolve(e->s->cfg.dns, name, cst_txt_done, e);
	if (e->q == NULL) {
		e->checked = cst_now();
		cst_settle(e);
	}
}

/* Drop idle entries asked about longest ago, to stay under the cap. */
static void cst_evict(struct client_sts *s)
{
	while (s->nentries >= CLIENT_STS_ENTRIES_MAX) {
		struct client_sts_entry **oldest = NULL;
		for (size_t b = 0; b < CLIENT_STS_BUCKETS; b++)
			for (struct client_sts_entry **pp = &s->buckets[b]; *pp != NULL; pp = &(*pp)->chain)
				if (!(*pp)->busy && (*pp)->waiters == NULL &&
				    (oldest == NULL || (*pp)->asked < (*oldest)->asked))
					oldest = pp;
		if (oldest == NULL)
			return;
		struct client_sts_entry *e = *oldest;
		*oldest = e->chain;
		event_free(e->deliver);
		free(e);
		s->nentries--;
	}
}

/* The entry of domain, made (and filled from the store) when new. */
static struct client_sts_entry *cst_entry(struct client_sts *s, const char *domain)
{
	size_t b = cst_bucket(domain);
	for (struct client_sts_entry *e = s->buckets[b]; e != NULL; e = e->chain)
		if (strcmp(e->domain, domain) == 0)
			return e;
	cst_evict(s);
	struct client_sts_entry *e = xcalloc(1, sizeof(*e));
	e->s = s;
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	const char *why;
	if (!dns_idna_needed(domain) || !dns_idna_to_ascii(domain, e->ascii, sizeof(e->ascii), &why))
		snprintf(e->ascii, sizeof(e->ascii), "%s", domain);
	e->deliver = event_new(s->cfg.base, -1, 0, cst_deliver_cb, e);
	if (e->deliver == NULL)
		fatal("event=client_sts error=\"cannot create event\"");
	struct mxr_sts_cached c;
	if (s->cfg.store != NULL && s->cfg.store->load != NULL &&
	    s->cfg.store->load(s->cfg.store->arg, domain, &c)) {
		c.text[sizeof(c.text) - 1] = '\0';
		c.id[sizeof(c.id) - 1] = '\0';
		(void)cst_take_text(e, c.text, c.id, c.fetched, c.expires);
	}
	e->chain = s->buckets[b];
	s->buckets[b] = e;
	s->nentries++;
	return e;
}

struct client_sts_req *client_sts_get(struct client_sts *s, const char *domain,
    client_sts_cb *cb, void *arg)
{
	char key[DNS_RR_NAME_MAX];
	if (dns_rr_name_key(domain, strlen(domain), key, sizeof(key)) == 0)
		snprintf(key, sizeof(key), "%s", "invalid.");
	struct client_sts_entry *e = cst_entry(s, key);
	e->asked = cst_now();
	struct client_sts_req *r = xcalloc(1, sizeof(*r));
	r->e = e;
	r->cb = cb;
	r->arg = arg;
	r->next = e->waiters;
	if (e->waiters != NULL)
		e->waiters->prev = r;
	e->waiters = r;
	/*
	 * RFC 8461 5.1: the TXT record says whether the cached policy is still
	 * the one in force; it is asked again when the last answer is older
	 * than the recheck time (a cached DNS answer is quick), and a new id
	 * is fetched before the delivery goes on, the old policy standing in
	 * if the fetch fails.
	 */
	if (!e->busy && (!cst_valid(e) || e->asked - e->checked >= CLIENT_STS_RECHECK_SECONDS))
		cst_check(e);
	if (!e->busy)
		cst_wake(e);
	return r;
}

void client_sts_cancel(struct client_sts_req *r)
{
	if (r == NULL)
		return;
	struct client_sts_entry *e = r->e;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		e->waiters = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	free(r);
}

struct client_sts *client_sts_new(const struct client_sts_cfg *cfg)
{
	struct client_sts *s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->ca_file = cfg->ca_file != NULL ? xstrdup(cfg->ca_file) : NULL;
	s->user_agent = xstrdup(cfg->user_agent != NULL ? cfg->user_agent : "mxrelay");
	if (cfg->store != NULL) {
		s->store = *cfg->store;
		s->cfg.store = &s->store;
	}
	s->http = net_http_new(cfg->base);
	return s;
}

void client_sts_free(struct client_sts *s)
{
	if (s == NULL)
		return;
	for (size_t b = 0; b < CLIENT_STS_BUCKETS; b++) {
		struct client_sts_entry *e = s->buckets[b];
		while (e != NULL) {
			struct client_sts_entry *next = e->chain;
			while (e->waiters != NULL)
				client_sts_cancel(e->waiters);
			dns_query_cancel(e->q);
			event_free(e->deliver);
			free(e);
			e = next;
		}
	}
	/* Fetches still out are cancelled with the handle. */
	net_http_free(s->http);
	free(s->ca_file);
	free(s->user_agent);
	free(s);
}
