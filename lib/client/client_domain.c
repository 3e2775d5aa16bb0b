/*
 * client_domain: one domain's share of a delivery.
 *
 * Owns: the lookup (MX, smarthost addresses or an address literal), the
 * copy of the hosts and addresses, the cursor over them, the session in
 * flight and the failure to report if every host fails (the last reply
 * received, else the last connection error; permanent only when every
 * host tried could never take the message). The TLS policy of each host:
 * the domain's level (a rule, or the context's), the domain's MTA-STS
 * policy asked for beside the MX lookup, the host's TLSA records looked
 * up before its first connection when DANE may apply, and the plan
 * client_tlspol makes of them (a host the plan refuses is skipped, and
 * what it met is reported for TLS reporting). With connection reuse: the
 * destination key, taking an idle session from the context's cache
 * (skipping DNS and connect), parking a session that ended well, and the
 * one retry on a fresh connection when a reused one was dead.
 * Never: talks SMTP itself (client_session does), or calls its done hook
 * other than as its very last act; reuses a session across contexts (so
 * across TLS policies or credentials).
 */
#include "client_domain.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "client_context.h"
#include "client_observer.h"
#include "client_pool.h"
#include "client_tlspol.h"
#include "dns/dns_tlsa.h"
#include "smtp/smtp_addr.h"
#include "util/log.h"
#include "util/xalloc.h"

struct client_host {
	char name[256];
	size_t naddrs;
	struct sockaddr_storage *addrs;	/* owned */
	bool secure;			/* its address records were DNSSEC-secure */
	char canon[256];		/* the name its addresses were found at, or "" */
	bool planned;			/* plan holds its TLS policy */
	struct client_tlsplan plan;
	enum client_tlsa_state tlsa;
	struct net_tls_tlsa *tlsa_rrs;	/* owned; data in tlsa_data */
	uint8_t *tlsa_data;		/* owned */
	size_t ntlsa;
	char tlsa_base[256];
	char *tlsa_text;		/* owned: the records in presentation form, or NULL */
	char tlsa_why[256];
};

struct client_domain {
	struct mxr_context *ctx;
	const struct client_msg *msg;
	char domain[256];
	bool literal;
	struct client_rcpt **r;		/* owned array; recipients borrowed */
	size_t n;
	struct client_domain_hooks hooks;
	struct dns_query *q;		/* in flight, or NULL */
	struct event *kick;		/* owned: starts literal and numeric routes from the loop */
	struct client_host *hosts;	/* owned */
	size_t nhosts;
	size_t hi, ai;			/* next host and address to try */
	struct client_session *sess;	/* in flight, or NULL */
	struct client_session_cfg scfg;
	bool have_fail;
	struct client_outcome fail;	/* mx_host/mx_ip point into the two below */
	char fail_host[256];
	char fail_ip[64];
	bool host_unfit;		/* a host could never take the message (fail status PERMFAIL) */
	bool other_fail;		/* a host failed for a reason that may pass */
	bool finished;
	bool dns_failed;		/* the lookup could not be started */
	double resolve_started;		/* the lookup in flight began (monotonic seconds), or 0 */
	char key[CLIENT_POOL_KEY_MAX];	/* destination, for the idle-session cache */
	bool reused;			/* sess came from the cache */
	bool have_skip;			/* skip: the address a reused session failed on */
	struct sockaddr_storage skip;
	bool clear_next;		/* the next session goes to the same address without TLS */
	struct client_tlsplan clear_plan;	/* its plan: no TLS */
	/* TLS policy */
	enum mxr_tls_policy level;	/* the domain's level: a rule's, or the context's */
	const char *match;		/* the rule's match list, or NULL */
	bool via_mx;			/* hosts come from the domain's MX lookup */
	bool mx_secure;			/* that lookup was DNSSEC-secure */
	bool hosts_ready;		/* the lookup's hosts are copied in */
	bool sts_pending;		/* the MTA-STS policy is being asked for */
	struct client_sts_req *stsq;	/* that request, or NULL */
	bool have_sts;
	struct sts_policy sts;		/* the domain's policy, when have_sts */
	char *sts_text;			/* owned: its text */
	struct dns_query *tlsaq;	/* the TLSA lookup of hosts[hi] in flight, or NULL */
};

static void cd_try_next(struct client_domain *d);
static void cd_lookup(struct client_domain *d);

/* An outcome the domain makes itself (no host answered): the domain's level as its policy. */
static void cd_outcome_init(const struct client_domain *d, struct client_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->tls_policy = d->level;
}

/* Free what a host owns. */
static void cd_host_clear(struct client_host *h)
{
	free(h->addrs);
	free(h->tlsa_rrs);
	free(h->tlsa_data);
	free(h->tlsa_text);
}

/* Count recipients still without a final status. */
static size_t cd_undecided(const struct client_domain *d)
{
	size_t u = 0;
	for (size_t i = 0; i < d->n; i++)
		if (!d->r[i]->decided)
			u++;
	return u;
}

/* All recipients are decided: tell the owner (the last act of any path). */
static void cd_finish(struct client_domain *d)
{
	d->finished = true;
	client_sts_cancel(d->stsq);
	d->stsq = NULL;
	dns_query_cancel(d->tlsaq);
	d->tlsaq = NULL;
	log_msg(LOG_LVL_DEBUG, "domain=%s%s event=done", d->domain, client_msg_log_tag(d->msg));
	d->hooks.done(d->hooks.arg, d);
}

/* Decide every undecided recipient with o. */
static void cd_decide_rest(struct client_domain *d, const struct client_outcome *o)
{
	for (size_t i = 0; i < d->n; i++)
		if (!d->r[i]->decided)
			d->hooks.decide(d->hooks.arg, d->r[i], o);
}

/* A progress step for every undecided recipient. */
static void cd_progress(struct client_domain *d, const struct client_outcome *o)
{
	for (size_t i = 0; i < d->n; i++)
		if (!d->r[i]->decided)
			d->hooks.progress(d->hooks.arg, d->r[i], o);
}

/* Keep the most informative failure: a reply beats a connection error. */
static void cd_note_fail(struct client_domain *d, const struct client_outcome *o)
{
	if (d->have_fail && o->code == 0 && d->fail.code != 0)
		return;
	d->have_fail = true;
	d->fail = *o;
	snprintf(d->fail_host, sizeof(d->fail_host), "%s", o->mx_host != NULL ? o->mx_host : "");
	snprintf(d->fail_ip, sizeof(d->fail_ip), "%s", o->mx_ip != NULL ? o->mx_ip : "");
	d->fail.mx_host = o->mx_host != NULL ? d->fail_host : NULL;
	d->fail.mx_ip = o->mx_ip != NULL ? d->fail_ip : NULL;
}

static void cd_sess_progress(void *arg, const struct client_rcpt *r, const struct client_outcome *o)
{
	struct client_domain *d = arg;
	d->hooks.progress(d->hooks.arg, r, o);
}

static void cd_sess_decide(void *arg, struct client_rcpt *r, const struct client_outcome *o)
{
	struct client_domain *d = arg;
	d->hooks.decide(d->hooks.arg, r, o);
}

/* A session ended: note why, keep it for reuse or free it, then go on with what is left. */
static void cd_sess_done(void *arg, struct client_session *s, enum client_session_end end,
    const struct client_outcome *fail)
{
	struct client_domain *d = arg;
	bool was_reused = d->reused;
	d->reused = false;
	d->sess = NULL;
	if (end == CLIENT_SESSION_RETRY) {
		/* The idle connection had died: nothing was decided; a fresh one, once. */
		log_msg(LOG_LVL_INFO, "domain=%s%s mx=%s ip=%s event=reuse-retry", d->domain,
		    client_msg_log_tag(d->msg), client_session_host(s), client_session_ip(s));
		client_session_free(s);
		cd_lookup(d);
		return;
	}
	if (end == CLIENT_SESSION_TLS_FALLBACK && (was_reused || d->ai == 0))
		end = CLIENT_SESSION_MOVE_ON;	/* no handshake on a parked session; cannot happen */
	if (end == CLIENT_SESSION_TLS_FALLBACK) {
		/* Opportunistic TLS falls back to clear text (RFC 7435 3), once per address. */
		cd_note_fail(d, fail);
		d->other_fail = true;
		char pr[600];
		log_msg(LOG_LVL_INFO, "domain=%s%s mx=%s ip=%s event=tls-fallback "
		    "note=\"TLS handshake failed, trying again without TLS\" reason=\"%s\"",
		    d->domain, client_msg_log_tag(d->msg), client_session_host(s), client_session_ip(s),
		    log_printable(pr, sizeof(pr), fail->text, strlen(fail->text)));
		struct client_outcome o = *fail;
		o.status = MXR_PENDING;
		snprintf(o.text, sizeof(o.text), "%.480s; trying again without TLS", fail->text);
		cd_progress(d, &o);
		client_session_free(s);
		d->ai--;
		d->clear_next = true;
		cd_try_next(d);
		return;
	}
	if (end == CLIENT_SESSION_MOVE_ON) {
		cd_note_fail(d, fail);
		if (fail->status == MXR_PERMFAIL)
			d->host_unfit = true;
		else
			d->other_fail = true;
	}
	if (was_reused && cd_undecided(d) > 0) {
		/* The cached route failed: walk the list, without the address that just failed. */
		d->skip = *client_session_addr(s);
		d->have_skip = true;
	}
	if (end == CLIENT_SESSION_FINISHED && d->ctx->pool != NULL && client_session_idle(s))
		client_pool_park(d->ctx->pool, d->key, s, d->ctx->opt.reuse_idle_ms);
	else
		client_session_free(s);
	if (d->have_skip && d->nhosts == 0 && cd_undecided(d) > 0) {
		cd_lookup(d);
		return;
	}
	cd_try_next(d);
}

/* Whether a and b are the same IP address (ports aside). */
static bool cd_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return false;
}

/* Tell TLS reporting what a policy met (MX delivery only: the domain's own policy). */
static void cd_report(struct client_domain *d, enum mxr_tls_report_policy policy,
    const char *text, const char *host, const char *result_type, const char *detail)
{
	if (!d->via_mx)
		return;
	struct mxr_tls_report r = {
		.policy_domain = d->domain,
		.policy = policy,
		.policy_text = text,
		.mx_host = host,
		.result_type = result_type,
		.detail = detail,
	};
	client_observer_tls_report(d->ctx->opt.observer, &r);
}

/* Whether host h should have its TLSA records looked up before it is tried. */
static bool cd_needs_tlsa(const struct client_domain *d, const struct client_host *h)
{
	return h->tlsa == CLIENT_TLSA_NOT_LOOKED_UP && !d->literal &&
	    client_tlspol_wants_tlsa(d->level, d->msg->tls_optional, d->msg->requiretls_strict,
	    d->ctx->dnssec, h->secure);
}

/* The TLS plan of host h, or false when the policy refuses it (noted, reported, logged). */
static bool cd_plan(struct client_domain *d, struct client_host *h)
{
	struct client_tlspol_in in = {
		.level = d->level,
		.match = d->match,
		.domain = d->domain,
		.host = h->name,
		.via_mx = d->via_mx,
		.mx_secure = d->mx_secure,
		.dnssec = d->ctx->dnssec,
		.tlsa = h->tlsa,
		.tlsa_rrs = h->tlsa_rrs,
		.ntlsa = h->ntlsa,
		.tlsa_base = h->tlsa_base,
		.tlsa_text = h->tlsa_text,
		.tlsa_why = h->tlsa_why,
		.sts = d->have_sts ? &d->sts : NULL,
		.sts_text = d->sts_text,
		.requiretls = d->msg->requiretls_strict,
		.tls_optional = d->msg->tls_optional,
	};
	struct client_tlspol_refusal why;
	if (client_tlspol_decide(&in, &h->plan, &why)) {
		h->planned = true;
		log_msg(LOG_LVL_DEBUG, "domain=%s%s mx=%s event=tls-plan tls_policy=%s need=%d dane=%d "
		    "names=%zu", d->domain, client_msg_log_tag(d->msg), h->name,
		    mxr_tls_policy_name(h->plan.applied), (int)h->plan.need, h->plan.dane ? 1 : 0,
		    h->plan.nnames);
		return true;
	}
	struct client_outcome o;
	memset(&o, 0, sizeof(o));
	o.status = why.permanent ? MXR_PERMFAIL : MXR_TEMPFAIL;
	o.stage = MXR_STAGE_TLS;
	o.mx_host = h->name;
	o.tls_policy = why.applied;
	snprintf(o.esc, sizeof(o.esc), "%s", why.esc);
	snprintf(o.text, sizeof(o.text), "%s", why.text);
	cd_note_fail(d, &o);
	if (why.permanent)
		d->host_unfit = true;
	else
		d->other_fail = true;
	if (why.result_type != NULL)
		cd_report(d, why.report, why.report_text, h->name, why.result_type, why.text);
	char pr[600];
	log_msg(LOG_LVL_INFO, "domain=%s%s mx=%s event=tls-policy-refused tls_policy=%s dsn=%s "
	    "reason=\"%s\"", d->domain, client_msg_log_tag(d->msg), h->name,
	    mxr_tls_policy_name(why.applied), why.esc, log_printable(pr, sizeof(pr), why.text,
	    strlen(why.text)));
	o.status = MXR_PENDING;
	cd_progress(d, &o);
	return false;
}

/* Keep a TLSA answer in host h: the records (owned copies) and their presentation form. */
static void cd_take_tlsa(struct client_host *h, const struct dns_tlsa_result *res)
{
	snprintf(h->tlsa_base, sizeof(h->tlsa_base), "%s", res->base);
	snprintf(h->tlsa_why, sizeof(h->tlsa_why), "%s", res->reason);
	switch (res->status) {
	case DNS_TLSA_FOUND: h->tlsa = CLIENT_TLSA_FOUND; break;
	case DNS_TLSA_BOGUS: h->tlsa = CLIENT_TLSA_BOGUS; break;
	case DNS_TLSA_TEMPFAIL: h->tlsa = CLIENT_TLSA_FAILED; break;
	default: h->tlsa = CLIENT_TLSA_NONE; break;
	}
	if (res->status != DNS_TLSA_FOUND || res->n == 0)
		return;
	size_t total = 0, text = 0;
	for (size_t i = 0; i < res->n; i++) {
		total += res->rrs[i].len;
		text += 16 + 2 * res->rrs[i].len;
	}
	h->tlsa_rrs = xcalloc(res->n, sizeof(*h->tlsa_rrs));
	h->tlsa_data = xmalloc(total > 0 ? total : 1);
	h->tlsa_text = xmalloc(text + 1);
	size_t off = 0, used = 0;
	for (size_t i = 0; i < res->n; i++) {
		const struct dns_tlsa_rr *rr = &res->rrs[i];
		memcpy(h->tlsa_data + off, rr->data, rr->len);
		h->tlsa_rrs[i] = (struct net_tls_tlsa){ .usage = rr->usage, .selector = rr->selector,
		    .mtype = rr->mtype, .data = h->tlsa_data + off, .len = rr->len };
		off += rr->len;
		used += (size_t)snprintf(h->tlsa_text + used, text + 1 - used, "%s%u %u %u ",
		    i > 0 ? "\n" : "", rr->usage, rr->selector, rr->mtype);
		for (size_t k = 0; k < rr->len; k++)
			used += (size_t)snprintf(h->tlsa_text + used, text + 1 - used, "%02x", rr->data[k]);
	}
	h->ntlsa = res->n;
}

/* The TLSA lookup of hosts[hi] ended: plan the host with it. */
static void cd_on_tlsa(const struct dns_tlsa_result *res, void *arg)
{
	struct client_domain *d = arg;
	d->tlsaq = NULL;
	struct client_host *h = &d->hosts[d->hi];
	cd_take_tlsa(h, res);
	char pr[300];
	log_msg(LOG_LVL_INFO, "domain=%s%s mx=%s event=tlsa status=%s base=%s records=%zu "
	    "reason=\"%s\"", d->domain, client_msg_log_tag(d->msg), h->name,
	    dns_tlsa_status_name(res->status), res->base[0] != '\0' ? res->base : "-", res->n,
	    log_printable(pr, sizeof(pr), res->reason, strlen(res->reason)));
	cd_try_next(d);
}

/* Ask the TLSA records of host h (RFC 7672 2.2.3: the expanded name first, then the MX name). */
static void cd_tlsa_lookup(struct client_domain *d, struct client_host *h)
{
	const char *names[2];
	size_t n = 0;
	if (h->canon[0] != '\0' && strcasecmp(h->canon, h->name) != 0)
		names[n++] = h->canon;
	names[n++] = h->name;
	uint16_t port = d->ctx->has_relay && d->ctx->relay_port != 0 ? d->ctx->relay_port :
	    d->ctx->port;
	d->tlsaq = dns_tlsa_resolve(d->ctx->dns, port, names, n, cd_on_tlsa, d);
	if (d->tlsaq == NULL) {
		h->tlsa = CLIENT_TLSA_FAILED;
		snprintf(h->tlsa_why, sizeof(h->tlsa_why), "cannot start the TLSA lookup");
		cd_try_next(d);
	}
}

/* Start a session to the next address, or give up with the best failure. */
static void cd_try_next(struct client_domain *d)
{
	size_t u = cd_undecided(d);
	if (u == 0) {
		cd_finish(d);
		return;
	}
	while (d->hi < d->nhosts) {
		struct client_host *h = &d->hosts[d->hi];
		if (d->ai >= h->naddrs) {
			d->hi++;
			d->ai = 0;
			continue;
		}
		if (!h->planned) {
			if (cd_needs_tlsa(d, h)) {
				cd_tlsa_lookup(d, h);
				return;
			}
			if (!cd_plan(d, h)) {
				d->hi++;
				d->ai = 0;
				continue;
			}
		}
		struct sockaddr_storage *ss = &h->addrs[d->ai++];
		if (d->have_skip && cd_same_addr(ss, &d->skip))
			continue;
		uint16_t port = d->ctx->has_relay && d->ctx->relay_port != 0 ? d->ctx->relay_port : d->ctx->port;
		socklen_t len;
		if (ss->ss_family == AF_INET6) {
			((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
			len = sizeof(struct sockaddr_in6);
		} else {
			((struct sockaddr_in *)ss)->sin_port = htons(port);
			len = sizeof(struct sockaddr_in);
		}
		struct client_rcpt **list = xcalloc(u, sizeof(*list));
		size_t k = 0;
		for (size_t i = 0; i < d->n; i++)
			if (!d->r[i]->decided)
				list[k++] = d->r[i];
		if (d->clear_next) {
			d->clear_plan = h->plan;
			d->clear_plan.need = CLIENT_TLS_NONE;
		}
		d->scfg = (struct client_session_cfg){
			.base = d->ctx->base,
			.to = &d->ctx->to,
			.plan = d->clear_next ? &d->clear_plan : &h->plan,
			.tls_ctx = d->ctx->tls_ctx,
			.report_domain = d->via_mx ? d->domain : NULL,
			.helo_name = d->ctx->opt.helo_name,
			/* Through a smarthost the loop is in the route: name the smarthost. */
			.loop_domain = d->literal || !d->ctx->has_relay ? d->domain : d->ctx->relay_host,
			.auth_user = d->ctx->opt.auth_user,
			.auth_pass = d->ctx->opt.auth_pass,
			.msg = d->msg,
			.mx_host = h->name,
			.addr = (const struct sockaddr *)ss,
			.addrlen = len,
			.src = d->ctx->has_src ? (const struct sockaddr *)&d->ctx->src : NULL,
			.srclen = d->ctx->has_src ? d->ctx->srclen : 0,
			.may_idle = d->ctx->pool != NULL,
			.max_msgs = d->ctx->opt.reuse_max_msgs,
			.observer = d->ctx->opt.observer,
		};
		struct client_session_hooks sh = {
			.progress = cd_sess_progress,
			.decide = cd_sess_decide,
			.done = cd_sess_done,
			.arg = d,
		};
		d->clear_next = false;
		d->sess = client_session_start(&d->scfg, list, k, &sh);
		free(list);
		return;
	}
	struct client_outcome o;
	if (d->have_fail) {
		o = d->fail;
	} else {
		cd_outcome_init(d, &o);
		o.stage = MXR_STAGE_CONNECT;
		snprintf(o.esc, sizeof(o.esc), "4.4.1");
		snprintf(o.text, sizeof(o.text), "no mail host for %s could be reached", d->domain);
	}
	/* Only when every host tried could never take the message is that final. */
	o.status = d->host_unfit && !d->other_fail ? MXR_PERMFAIL : MXR_TEMPFAIL;
	log_msg(LOG_LVL_INFO, "domain=%s%s event=all-hosts-failed undecided=%zu status=%s",
	    d->domain, client_msg_log_tag(d->msg), u, mxr_status_name(o.status));
	cd_decide_rest(d, &o);
	cd_finish(d);
}

/* Copy a lookup result's hosts, or decide everyone on a failed lookup. */
static void cd_on_dns(const struct dns_mx_result *res, void *arg)
{
	struct client_domain *d = arg;
	d->q = NULL;
	if (d->resolve_started > 0)
		client_observer_resolved(d->ctx->opt.observer, d->resolve_started);
	d->resolve_started = 0;
	struct client_outcome o;
	cd_outcome_init(d, &o);
	o.stage = MXR_STAGE_RESOLVE;
	if (res->status != DNS_OK || res->nhosts == 0) {
		o.status = res->status == DNS_PERMFAIL ? MXR_PERMFAIL : MXR_TEMPFAIL;
		snprintf(o.esc, sizeof(o.esc), "%s", res->esc[0] != '\0' ? res->esc
		    : (o.status == MXR_PERMFAIL ? "5.4.4" : "4.4.3"));
		snprintf(o.text, sizeof(o.text), "%s", res->reason[0] != '\0' ? res->reason
		    : "no mail host found");
		log_msg(LOG_LVL_INFO, "domain=%s%s event=resolve status=%s esc=%s", d->domain,
		    client_msg_log_tag(d->msg), mxr_status_name(o.status), o.esc);
		cd_decide_rest(d, &o);
		cd_finish(d);
		return;
	}
	d->hosts = xcalloc(res->nhosts, sizeof(*d->hosts));
	d->nhosts = res->nhosts;
	size_t used = 0;
	o.status = MXR_PENDING;
	used += (size_t)snprintf(o.text, sizeof(o.text), "%s:", res->implicit ? "implicit MX" : "MX");
	for (size_t i = 0; i < res->nhosts; i++) {
		const struct dns_mx_host *src = &res->hosts[i];
		struct client_host *h = &d->hosts[i];
		snprintf(h->name, sizeof(h->name), "%s", src->name);
		snprintf(h->canon, sizeof(h->canon), "%s", src->canon);
		h->secure = src->secure;
		h->naddrs = src->naddrs;
		h->addrs = xcalloc(src->naddrs ? src->naddrs : 1, sizeof(*h->addrs));
		if (src->naddrs > 0)
			memcpy(h->addrs, src->addrs, src->naddrs * sizeof(*h->addrs));
		if (used < sizeof(o.text)) {
			int k = snprintf(o.text + used, sizeof(o.text) - used, " %s(%u)", h->name,
			    (unsigned)src->pref);
			if (k > 0)
				used += (size_t)k;
		}
	}
	d->mx_secure = res->secure;
	d->hosts_ready = true;
	if (res->secure)
		snprintf(o.text + used, used < sizeof(o.text) ? sizeof(o.text) - used : 0, " (DNSSEC)");
	cd_progress(d, &o);
	/* The MTA-STS policy, when asked for, must be in before the first host is planned. */
	if (!d->sts_pending)
		cd_try_next(d);
}

/* The domain's MTA-STS policy came (or none): keep a copy, report a failed fetch, go on. */
static void cd_on_sts(const struct client_sts_result *r, void *arg)
{
	struct client_domain *d = arg;
	d->stsq = NULL;
	d->sts_pending = false;
	if (r->policy != NULL) {
		d->sts = *r->policy;
		d->have_sts = true;
		free(d->sts_text);
		d->sts_text = xstrdup(r->text != NULL ? r->text : "");
	}
	if (r->result_type != NULL)
		cd_report(d, MXR_TLSRPT_STS, NULL, NULL, r->result_type, r->detail);
	log_msg(LOG_LVL_DEBUG, "domain=%s%s event=mta-sts policy=%s%s%s", d->domain,
	    client_msg_log_tag(d->msg), r->policy != NULL ? sts_mode_name(r->policy->mode) : "none",
	    r->result_type != NULL ? " failure=" : "", r->result_type != NULL ? r->result_type : "");
	if (d->hosts_ready)
		cd_try_next(d);
}

/* Routes needing no DNS (an address literal, a numeric smarthost) start here. */
static void cd_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct client_domain *d = arg;
	if (d->dns_failed) {
		struct dns_mx_result res;
		memset(&res, 0, sizeof(res));
		res.status = DNS_TEMPFAIL;
		snprintf(res.esc, sizeof(res.esc), "4.4.3");
		snprintf(res.reason, sizeof(res.reason), "cannot start the DNS lookup");
		cd_on_dns(&res, d);
		return;
	}
	const char *name = d->literal ? d->domain : d->ctx->relay_host;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	bool ok;
	if (d->literal) {
		ok = smtp_addr_literal_to_sockaddr(d->domain, &ss) == 0;
	} else {
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM };
		struct addrinfo *ai = NULL;
		ok = getaddrinfo(name, NULL, &hints, &ai) == 0 && ai != NULL &&
		    ai->ai_addrlen <= sizeof(ss);
		if (ok)
			memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		if (ai != NULL)
			freeaddrinfo(ai);
	}
	if (!ok) {
		struct client_outcome o;
		cd_outcome_init(d, &o);
		o.status = MXR_PERMFAIL;
		o.stage = MXR_STAGE_RESOLVE;
		snprintf(o.esc, sizeof(o.esc), "5.1.2");
		snprintf(o.text, sizeof(o.text), "bad address literal %s", name);
		cd_decide_rest(d, &o);
		cd_finish(d);
		return;
	}
	d->hosts = xcalloc(1, sizeof(*d->hosts));
	d->nhosts = 1;
	snprintf(d->hosts[0].name, sizeof(d->hosts[0].name), "%s", name);
	d->hosts[0].naddrs = 1;
	d->hosts[0].addrs = xcalloc(1, sizeof(ss));
	d->hosts[0].addrs[0] = ss;
	cd_try_next(d);
}

/* Whether s is a numeric IPv4 or IPv6 address. */
static bool cd_is_numeric(const char *s)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	bool ok = getaddrinfo(s, NULL, &hints, &ai) == 0;
	if (ai != NULL)
		freeaddrinfo(ai);
	return ok;
}

/* Look the destination up (or kick a route that needs no DNS); results come from the loop. */
static void cd_lookup(struct client_domain *d)
{
	struct mxr_context *ctx = d->ctx;
	struct client_outcome o;
	cd_outcome_init(d, &o);
	o.status = MXR_PENDING;
	o.stage = MXR_STAGE_RESOLVE;
	const char *target = d->domain;
	if (!d->literal && ctx->has_relay)
		target = ctx->relay_host;
	snprintf(o.text, sizeof(o.text), "resolving %s%s", target,
	    !d->literal && ctx->has_relay ? " (smarthost)" : "");
	cd_progress(d, &o);

	/* RFC 8461 3: the policy is asked for beside the MX lookup, not after it. */
	if (ctx->sts != NULL && client_tlspol_wants_sts(d->level, d->via_mx) && !d->sts_pending &&
	    !d->have_sts && d->stsq == NULL) {
		d->sts_pending = true;
		d->stsq = client_sts_get(ctx->sts, d->domain, cd_on_sts, d);
	}
	d->hosts_ready = false;
	if (d->literal || (ctx->has_relay && ctx->relay_no_mx && cd_is_numeric(ctx->relay_host))) {
		event_active(d->kick, 0, 0);
		return;
	}
	d->resolve_started = client_observer_clock();
	if (ctx->has_relay && ctx->relay_no_mx)
		d->q = dns_host_resolve(ctx->dns, ctx->relay_host, ctx->family, cd_on_dns, d);
	else
		d->q = dns_mx_resolve(ctx->dns, target, ctx->family, cd_on_dns, d);
	if (d->q == NULL) {
		/* The resolver could not even start the query: decide from the loop. */
		d->resolve_started = 0;
		d->dns_failed = true;
		event_active(d->kick, 0, 0);
	}
}

/* Take an idle session to this destination from the cache and carry the message on it. */
static bool cd_take_idle(struct client_domain *d)
{
	struct mxr_context *ctx = d->ctx;
	if (ctx->pool == NULL)
		return false;
	/* A parked session was made under this destination's policy; the message may ask more. */
	struct client_session *s = client_pool_take(ctx->pool, d->key, d->msg);
	if (s == NULL)
		return false;
	struct client_session_hooks sh = {
		.progress = cd_sess_progress,
		.decide = cd_sess_decide,
		.done = cd_sess_done,
		.arg = d,
	};
	d->sess = s;
	d->reused = true;
	client_session_reuse(s, d->msg, d->r, d->n, &sh);
	return true;
}

struct client_domain *client_domain_start(struct mxr_context *ctx, const struct client_msg *msg,
    const char *domain, bool literal, struct client_rcpt *const *rcpts, size_t n,
    const struct client_domain_hooks *hooks)
{
	struct client_domain *d = xcalloc(1, sizeof(*d));
	d->ctx = ctx;
	d->msg = msg;
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	d->literal = literal;
	d->r = xcalloc(n ? n : 1, sizeof(*d->r));
	memcpy(d->r, rcpts, n * sizeof(*d->r));
	d->n = n;
	d->hooks = *hooks;
	d->via_mx = !literal && !ctx->has_relay;
	d->level = ctx->opt.tls;
	const struct mxr_tls_rule *rule = d->via_mx ?
	    client_tlspol_rule(ctx->opt.tls_rules, ctx->opt.ntls_rules, domain) : NULL;
	if (rule != NULL) {
		d->level = rule->policy;
		d->match = rule->match;
	}
	d->kick = event_new(ctx->base, -1, 0, cd_kick_cb, d);
	if (d->kick == NULL)
		fatal("event=client_domain_start error=\"cannot create event\"");
	/* The destination: the smarthost (with its port) for every domain it carries. */
	if (!literal && ctx->has_relay)
		snprintf(d->key, sizeof(d->key), "[%s]:%u%s", ctx->relay_host, (unsigned)ctx->relay_port,
		    ctx->relay_no_mx ? "" : "/mx");
	else
		snprintf(d->key, sizeof(d->key), "%s", domain);
	if (!cd_take_idle(d))
		cd_lookup(d);
	return d;
}

void client_domain_free(struct client_domain *d)
{
	if (d == NULL)
		return;
	if (d->q != NULL)
		dns_query_cancel(d->q);
	dns_query_cancel(d->tlsaq);
	client_sts_cancel(d->stsq);
	free(d->sts_text);
	client_session_free(d->sess);
	if (d->kick != NULL)
		event_free(d->kick);
	for (size_t i = 0; i < d->nhosts; i++)
		cd_host_clear(&d->hosts[i]);
	free(d->hosts);
	free(d->r);
	free(d);
}
