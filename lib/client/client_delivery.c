/*
 * client_delivery: the public delivery API of libmxrelay
 * (mxr_delivery_start, mxr_deliver, the status and stage names).
 *
 * Owns: the copy of the message and recipients, the grouping by domain
 * (all domains in one group through a smarthost),
 * how many domains run at once, the results array and the events handed
 * to the caller (exactly one DONE per recipient).
 * Never: calls the caller's done callback from inside mxr_delivery_start
 * or from deep inside a session: only from its own loop event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "client_context.h"
#include "client_domain.h"
#include "client_group.h"
#include "util/log.h"
#include "util/xalloc.h"

struct mxr_delivery {
	struct mxr_context *ctx;
	struct client_msg msg;		/* sender, envid and log_tag point into the copies below */
	char *sender;			/* owned */
	char *envid;			/* owned */
	char *log_tag;			/* owned: " queue=<id>", or NULL */
	struct client_rcpt *rcpts;	/* owned; address and orcpt owned */
	size_t n;
	struct mxr_result *results;	/* owned, one per recipient */
	struct client_grouping grp;
	struct client_domain **doms;	/* owned, one slot per group */
	bool *dom_done;			/* a domain finished but is not freed yet */
	size_t next_group;
	size_t running;
	struct event *kick;		/* owned: starts domains and reports the end */
	bool started;
	mxr_event_cb *ev;
	mxr_done_cb *done;
	void *arg;
};

const char *mxr_status_name(enum mxr_status s)
{
	switch (s) {
	case MXR_PENDING: return "pending";
	case MXR_DELIVERED: return "delivered";
	case MXR_TEMPFAIL: return "deferred";
	case MXR_PERMFAIL: return "failed";
	}
	return "unknown";
}

const char *mxr_stage_name(enum mxr_stage s)
{
	switch (s) {
	case MXR_STAGE_RESOLVE: return "resolving";
	case MXR_STAGE_CONNECT: return "connecting";
	case MXR_STAGE_HELO: return "helo";
	case MXR_STAGE_TLS: return "tls";
	case MXR_STAGE_AUTH: return "auth";
	case MXR_STAGE_MAIL: return "mail";
	case MXR_STAGE_RCPT: return "rcpt";
	case MXR_STAGE_DATA: return "data";
	case MXR_STAGE_DONE: return "done";
	}
	return "unknown";
}

/* The TLS part of an event: the policy of the host and what authenticated it. */
struct cdl_tls {
	enum mxr_tls_policy policy;
	bool testing;
	enum mxr_tls_auth auth;
};

/* Hand one event to the caller. */
static void cdl_emit(struct mxr_delivery *d, size_t i, enum mxr_stage stage, enum mxr_status st,
    const char *mx, const char *ip, int code, const char *esc, const char *text,
    struct cdl_tls tls)
{
	if (d->ev == NULL)
		return;
	struct mxr_event e = {
		.rcpt = d->rcpts[i].address,
		.domain = d->results[i].domain,
		.stage = stage,
		.status = st,
		.mx_host = mx != NULL && *mx != '\0' ? mx : NULL,
		.mx_ip = ip != NULL && *ip != '\0' ? ip : NULL,
		.code = code,
		.esc = esc != NULL ? esc : "",
		.text = text != NULL ? text : "",
		.tls_policy = tls.policy,
		.tls_testing = tls.testing,
		.tls_auth = tls.auth,
	};
	d->ev(&e, d->arg);
}

/* Hand a DATA progress step for recipient i to the caller. */
static void cdl_emit_data_sent(struct mxr_delivery *d, size_t i, const struct client_outcome *o)
{
	if (d->ev == NULL)
		return;
	struct mxr_event e = {
		.rcpt = d->rcpts[i].address,
		.domain = d->results[i].domain,
		.stage = MXR_STAGE_DATA,
		.status = MXR_PENDING,
		.mx_host = o->mx_host != NULL && *o->mx_host != '\0' ? o->mx_host : NULL,
		.mx_ip = o->mx_ip != NULL && *o->mx_ip != '\0' ? o->mx_ip : NULL,
		.esc = "",
		.text = o->text,
		.kind = MXR_EVENT_DATA_SENT,
		.bytes_sent = o->bytes_sent,
		.bytes_total = o->bytes_total,
	};
	d->ev(&e, d->arg);
}

/* Record a final status for recipient i and announce it. */
static void cdl_set_result(struct mxr_delivery *d, size_t i, const struct client_outcome *o)
{
	struct mxr_result *r = &d->results[i];
	r->status = o->status;
	r->stage = o->stage;
	r->code = o->code;
	snprintf(r->esc, sizeof(r->esc), "%s", o->esc);
	snprintf(r->text, sizeof(r->text), "%s", o->text);
	snprintf(r->mx_host, sizeof(r->mx_host), "%s", o->mx_host != NULL ? o->mx_host : "");
	snprintf(r->mx_ip, sizeof(r->mx_ip), "%s", o->mx_ip != NULL ? o->mx_ip : "");
	r->tls = o->tls;
	r->dsn_passed = o->dsn_passed;
	r->tls_policy = o->tls_policy;
	r->tls_testing = o->tls_testing;
	r->tls_auth = o->tls_auth;
	d->rcpts[i].decided = true;
	/* The daemon logs each outcome with its queue id; this line is for debugging. */
	if (log_enabled(LOG_LVL_DEBUG)) {
		char pr[600], pa[700];
		log_msg(LOG_LVL_DEBUG, "rcpt=\"<%s>\"%s status=%s stage=%s code=%d dsn=%s relay=%s[%s] "
		    "reason=\"%s\"", log_printable(pa, sizeof(pa), r->rcpt, strlen(r->rcpt)),
		    client_msg_log_tag(&d->msg), mxr_status_name(r->status),
		    mxr_stage_name(r->stage),
		    r->code, r->esc[0] != '\0' ? r->esc : "-", r->mx_host[0] != '\0' ? r->mx_host : "-",
		    r->mx_ip[0] != '\0' ? r->mx_ip : "-",
		    log_printable(pr, sizeof(pr), r->text, strlen(r->text)));
	}
	cdl_emit(d, i, MXR_STAGE_DONE, r->status, r->mx_host, r->mx_ip, r->code, r->esc, r->text,
	    (struct cdl_tls){ r->tls_policy, r->tls_testing, r->tls_auth });
}

static void cdl_progress(void *arg, const struct client_rcpt *r, const struct client_outcome *o)
{
	struct mxr_delivery *d = arg;
	if (o->bytes_total > 0)
		cdl_emit_data_sent(d, r->index, o);
	else
		cdl_emit(d, r->index, o->stage, MXR_PENDING, o->mx_host, o->mx_ip, o->code, o->esc,
		    o->text, (struct cdl_tls){ o->tls_policy, o->tls_testing, o->tls_auth });
}

/* A domain decided a recipient: it and its duplicates get the result. */
static void cdl_decide(void *arg, struct client_rcpt *r, const struct client_outcome *o)
{
	struct mxr_delivery *d = arg;
	if (r->decided)
		return;
	cdl_set_result(d, r->index, o);
	for (size_t j = r->index + 1; j < d->n; j++)
		if (d->grp.dup_of[j] == r->index && !d->rcpts[j].decided)
			cdl_set_result(d, j, o);
}

static void cdl_domain_done(void *arg, struct client_domain *dom)
{
	struct mxr_delivery *d = arg;
	for (size_t k = 0; k < d->grp.ngroups; k++) {
		if (d->doms[k] == dom) {
			d->dom_done[k] = true;
			break;
		}
	}
	event_active(d->kick, 0, 0);
}

/* Free a delivery and everything it owns. */
static void cdl_free(struct mxr_delivery *d)
{
	for (size_t k = 0; k < d->grp.ngroups; k++)
		client_domain_free(d->doms[k]);
	free(d->doms);
	free(d->dom_done);
	client_group_free(&d->grp);
	for (size_t i = 0; i < d->n; i++) {
		free((char *)d->rcpts[i].address);
		free((char *)d->rcpts[i].orcpt);
	}
	free(d->rcpts);
	free(d->results);
	free(d->sender);
	free(d->envid);
	free(d->log_tag);
	if (d->kick != NULL)
		event_free(d->kick);
	free(d);
}

/* The loop's view: reap finished domains, start more, and end when all are done. */
static void cdl_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct mxr_delivery *d = arg;
	if (!d->started) {
		d->started = true;
		for (size_t i = 0; i < d->n; i++) {
			if (d->grp.bad[i] == NULL)
				continue;
			struct client_outcome o;
			memset(&o, 0, sizeof(o));
			o.status = MXR_PERMFAIL;
			o.stage = MXR_STAGE_RESOLVE;
			snprintf(o.esc, sizeof(o.esc), "5.1.3");
			snprintf(o.text, sizeof(o.text), "bad recipient address: %s", d->grp.bad[i]);
			cdl_set_result(d, i, &o);
		}
	}
	for (size_t k = 0; k < d->grp.ngroups; k++) {
		if (d->dom_done[k] && d->doms[k] != NULL) {
			client_domain_free(d->doms[k]);
			d->doms[k] = NULL;
			d->running--;
		}
	}
	while (d->running < d->ctx->opt.max_parallel && d->next_group < d->grp.ngroups) {
		size_t k = d->next_group++;
		const struct client_group *g = &d->grp.groups[k];
		struct client_rcpt **list = xcalloc(g->n ? g->n : 1, sizeof(*list));
		for (size_t m = 0; m < g->n; m++)
			list[m] = &d->rcpts[g->members[m]];
		struct client_domain_hooks h = {
			.progress = cdl_progress,
			.decide = cdl_decide,
			.done = cdl_domain_done,
			.arg = d,
		};
		d->running++;
		d->doms[k] = client_domain_start(d->ctx, &d->msg, g->domain, g->literal, list, g->n, &h);
		free(list);
	}
	if (d->running > 0 || d->next_group < d->grp.ngroups)
		return;
	/* Every recipient has its status; make sure of it before telling the caller. */
	for (size_t i = 0; i < d->n; i++) {
		if (!d->rcpts[i].decided) {
			struct client_outcome o;
			memset(&o, 0, sizeof(o));
			o.status = MXR_TEMPFAIL;
			o.stage = MXR_STAGE_RESOLVE;
			snprintf(o.esc, sizeof(o.esc), "4.3.0");
			snprintf(o.text, sizeof(o.text), "not attempted");
			cdl_set_result(d, i, &o);
		}
	}
	d->done(d->results, d->n, d->arg);
	cdl_free(d);
}

/* " queue=<id>" for the delivery's log lines (spaces, quotes and non-ASCII as '?'), or NULL. */
static char *cdl_log_tag(const char *id)
{
	if (id == NULL || *id == '\0')
		return NULL;
	static const char key[] = " queue=";
	size_t n = strlen(id);
	char *t = xmalloc(sizeof(key) + n);
	memcpy(t, key, sizeof(key) - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		t[sizeof(key) - 1 + i] = c > 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
	}
	t[sizeof(key) - 1 + n] = '\0';
	return t;
}

struct mxr_delivery *mxr_delivery_start(struct mxr_context *ctx, const struct mxr_message *msg,
    mxr_event_cb *ev, mxr_done_cb *done, void *arg)
{
	struct mxr_delivery *d = xcalloc(1, sizeof(*d));
	d->ctx = ctx;
	d->ev = ev;
	d->done = done;
	d->arg = arg;
	d->sender = xstrdup(msg->sender != NULL ? msg->sender : "");
	d->envid = msg->envid != NULL ? xstrdup(msg->envid) : NULL;
	d->log_tag = cdl_log_tag(msg->log_id);
	d->msg = (struct client_msg){
		.sender = d->sender,
		.src = msg->src,
		.size = msg->wire_size != 0 ? msg->wire_size : msg->src.size,
		.body_8bit = msg->body_8bit,
		.smtputf8 = msg->smtputf8,
		.ret = msg->ret,
		.requiretls = msg->requiretls,
		/* RFC 8689 5: a bounce (null sender) of a REQUIRETLS message is not held back. */
		.requiretls_strict = msg->requiretls && msg->sender != NULL && msg->sender[0] != '\0',
		/* RFC 8689 4.1: with REQUIRETLS, TLS-Required is ignored. */
		.tls_optional = msg->tls_optional && !msg->requiretls,
		.envid = d->envid,
		.log_tag = d->log_tag,
		/* Nobody to tell (the daemon): the DATA pump does no progress work at all. */
		.data_progress = ev != NULL,
	};
	d->n = msg->nrcpts;
	d->rcpts = xcalloc(d->n ? d->n : 1, sizeof(*d->rcpts));
	d->results = xcalloc(d->n ? d->n : 1, sizeof(*d->results));
	for (size_t i = 0; i < d->n; i++) {
		const struct mxr_rcpt *in = &msg->rcpts[i];
		struct client_rcpt *r = &d->rcpts[i];
		r->address = xstrdup(in->address != NULL ? in->address : "");
		r->notify = in->notify;
		r->orcpt = in->orcpt != NULL ? xstrdup(in->orcpt) : NULL;
		r->index = i;
	}
	client_group_build(msg->rcpts, d->n, &d->grp);
	if (ctx->has_relay)
		client_group_merge(&d->grp);	/* one next hop: one transaction for every domain */
	for (size_t i = 0; i < d->n; i++) {
		struct mxr_result *res = &d->results[i];
		snprintf(res->rcpt, sizeof(res->rcpt), "%s", d->rcpts[i].address);
		snprintf(res->domain, sizeof(res->domain), "%s", d->grp.domains[i]);
		res->status = MXR_PENDING;
		res->stage = MXR_STAGE_RESOLVE;
	}
	d->doms = xcalloc(d->grp.ngroups ? d->grp.ngroups : 1, sizeof(*d->doms));
	d->dom_done = xcalloc(d->grp.ngroups ? d->grp.ngroups : 1, sizeof(*d->dom_done));
	d->kick = event_new(ctx->base, -1, 0, cdl_kick_cb, d);
	if (d->kick == NULL)
		fatal("event=mxr_delivery_start error=\"cannot create event\"");
	log_msg(LOG_LVL_DEBUG, "event=delivery-start%s rcpts=%zu domains=%zu size=%llu",
	    client_msg_log_tag(&d->msg), d->n, d->grp.ngroups, (unsigned long long)msg->src.size);
	event_active(d->kick, 0, 0);
	return d;
}

void mxr_delivery_cancel(struct mxr_delivery *d)
{
	if (d == NULL)
		return;
	log_msg(LOG_LVL_INFO, "event=delivery-cancel%s rcpts=%zu domains=%zu running=%zu",
	    client_msg_log_tag(&d->msg), d->n, d->grp.ngroups, d->running);
	/* Every domain, its lookup and its session go with it: nothing left can call back. */
	cdl_free(d);
}

/* What mxr_deliver keeps from its private loop. */
struct cdl_blocking {
	struct event_base *base;
	struct mxr_result *results;
	size_t n;
	mxr_event_cb *ev;	/* the caller's, with its arg */
	void *arg;
};

static void cdl_blocking_event(const struct mxr_event *e, void *arg)
{
	struct cdl_blocking *b = arg;
	b->ev(e, b->arg);
}

static void cdl_blocking_done(const struct mxr_result *results, size_t n, void *arg)
{
	struct cdl_blocking *b = arg;
	b->results = xcalloc(n ? n : 1, sizeof(*results));
	memcpy(b->results, results, n * sizeof(*results));
	b->n = n;
	/* The resolver may keep events registered: stop the loop explicitly. */
	event_base_loopbreak(b->base);
}

int mxr_deliver(const struct mxr_options *opt, const struct mxr_message *msg,
    mxr_event_cb *ev, void *arg, struct mxr_result **results, char *err, size_t errlen)
{
	*results = NULL;
	struct event_base *base = event_base_new();
	if (base == NULL) {
		snprintf(err, errlen, "cannot create an event loop");
		return -1;
	}
	struct mxr_context *ctx = mxr_context_new(base, opt, err, errlen);
	if (ctx == NULL) {
		event_base_free(base);
		return -1;
	}
	struct cdl_blocking b = { .base = base, .ev = ev, .arg = arg };
	mxr_delivery_start(ctx, msg, ev != NULL ? cdl_blocking_event : NULL, cdl_blocking_done, &b);
	while (b.results == NULL)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	mxr_context_free(ctx);
	event_base_free(base);
	if (b.results == NULL) {
		snprintf(err, errlen, "the event loop failed");
		return -1;
	}
	*results = b.results;
	return 0;
}
