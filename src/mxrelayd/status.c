/*
 * status: the daemon's summary in JSON and text (see status.h and
 * docs/status.md).
 */
#include "status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "config/config.h"
#include "control/control.h"
#include "delivery/sched.h"
#include "metrics/metrics_mail.h"
#include "queue/queue_store.h"
#include "reload.h"
#include "server/server.h"
#include "status_rate.h"
#include "util/xalloc.h"

/* Everything the summary says, read once so that both forms agree. */
struct status_data {
	const struct config *cfg;
	struct ratelimit *rate;		/* the rate limit buckets, or NULL */
	time_t now, started;
	unsigned inbound;
	struct sched_stats sched;
	struct queue_counts queue;
	char queue_err[256];		/* "" when the counts were read */
	const char *queue_backend;	/* "sqlite", "postgresql" */
	const char *node_id;		/* this node of a fleet, or NULL (one node) */
	bool queue_available;		/* the store takes mail (its server is reachable) */
	struct metrics_mail_totals totals;
	const struct metrics_recent *recent;
	uint64_t traffic[METRICS_RECENT_NKINDS][METRICS_RECENT_MINUTES];
	time_t first_minute;
};

static void status_gather(const struct status_sources *src, time_t now, struct status_data *d)
{
	memset(d, 0, sizeof(*d));
	d->cfg = reload_ctx(src->reload)->cfg;
	d->rate = reload_ctx(src->reload)->rate;
	d->now = now;
	d->started = src->started;
	d->inbound = reload_sessions(src->reload);
	sched_get_stats(src->sched, &d->sched);
	if (queue_query_count(src->queue, &d->queue, d->queue_err, sizeof(d->queue_err)) == 0)
		d->queue_err[0] = '\0';
	else if (d->queue_err[0] == '\0')
		snprintf(d->queue_err, sizeof(d->queue_err), "cannot count the queue");
	d->queue_backend = queue_store_backend(src->queue);
	d->node_id = d->cfg->queue_backend == CFG_QUEUE_SQLITE ? NULL : d->cfg->node_id;
	d->queue_available = queue_store_available(src->queue);
	metrics_mail_totals(src->metrics, &d->totals);
	d->recent = metrics_mail_recent(src->metrics);
	for (int k = 0; k < METRICS_RECENT_NKINDS; k++)
		metrics_recent_series(d->recent, (enum metrics_recent_kind)k, now, d->traffic[k],
		    &d->first_minute);
}

static const char *status_mode_name(enum cfg_listen_mode m)
{
	return m == CFG_LISTEN_SUBMISSION ? "submission" : m == CFG_LISTEN_SMTPS ? "smtps" : "relay";
}

/* ---- JSON ---- */

static void status_json_key(struct evbuffer *b, bool *first, const char *key)
{
	evbuffer_add_printf(b, "%s\"%s\":", *first ? "" : ",", key);
	*first = false;
}

static void status_json_listeners(struct evbuffer *b, const struct config *cfg)
{
	evbuffer_add(b, "[", 1);
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		evbuffer_add_printf(b, "%s{\"name\":", i > 0 ? "," : "");
		control_json_str(b, cfg->listeners[i].text);
		evbuffer_add_printf(b, ",\"mode\":\"%s\"}", status_mode_name(cfg->listeners[i].mode));
	}
	if (cfg->local_socket != NULL) {
		char name[300];
		snprintf(name, sizeof(name), "local:%s", cfg->local_socket);
		evbuffer_add_printf(b, "%s{\"name\":", cfg->nlisteners > 0 ? "," : "");
		control_json_str(b, name);
		evbuffer_add(b, ",\"mode\":\"local\"}", 16);
	}
	evbuffer_add(b, "],\"http_listeners\":[", 20);
	for (size_t i = 0; i < cfg->nhttp_listeners; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		control_json_str(b, cfg->http_listeners[i].text);
	}
	evbuffer_add(b, "]", 1);
}

static void status_json_traffic(struct evbuffer *b, const struct status_data *d)
{
	static const char *const names[METRICS_RECENT_NKINDS] = {
		"received", "delivered", "deferred", "failed",
	};
	evbuffer_add_printf(b, "{\"first_minute\":%lld,\"minutes\":%d", (long long)d->first_minute,
	    METRICS_RECENT_MINUTES);
	for (int k = 0; k < METRICS_RECENT_NKINDS; k++) {
		evbuffer_add_printf(b, ",\"%s\":[", names[k]);
		for (int i = 0; i < METRICS_RECENT_MINUTES; i++)
			evbuffer_add_printf(b, "%s%" PRIu64, i > 0 ? "," : "", d->traffic[k][i]);
		evbuffer_add(b, "]", 1);
	}
	evbuffer_add(b, "}", 1);
}

static void status_json_queue(struct evbuffer *b, const struct status_data *d)
{
	const struct queue_counts *q = &d->queue;
	evbuffer_add_printf(b, "{\"backend\":");
	control_json_str(b, d->queue_backend);
	control_json_field(b, "node", d->node_id);
	evbuffer_add_printf(b, ",\"available\":%s", d->queue_available ? "true" : "false");
	evbuffer_add_printf(b, ",\"messages\":{\"queued\":%" PRIu64 ",\"held\":%" PRIu64 "},"
	    "\"recipients\":{", q->messages - q->held, q->held);
	for (int s = QUEUE_RCPT_PENDING; s <= QUEUE_RCPT_BOUNCED; s++)
		evbuffer_add_printf(b, "%s\"%s\":%" PRIu64, s > 0 ? "," : "",
		    queue_store_state_name((enum queue_rcpt_state)s), q->rcpts[s]);
	long long age = q->oldest_id[0] != '\0' && d->now > q->oldest_received ?
	    (long long)(d->now - q->oldest_received) : 0;
	evbuffer_add_printf(b, "},\"bytes\":%" PRIu64 ",\"oldest_seconds\":%lld,\"oldest_id\":",
	    q->bytes, age);
	control_json_str(b, q->oldest_id[0] != '\0' ? q->oldest_id : NULL);
	control_json_field(b, "error", d->queue_err[0] != '\0' ? d->queue_err : NULL);
	evbuffer_add(b, "}", 1);
}

struct status_backoff_out {
	struct evbuffer *b;
	bool json;
	size_t n;
};

static void status_backoff_one(void *arg, const struct sched_backoff *bo)
{
	struct status_backoff_out *o = arg;
	if (o->json) {
		evbuffer_add_printf(o->b, "%s{\"destination\":", o->n++ > 0 ? "," : "");
		control_json_str(o->b, bo->destination);
		evbuffer_add_printf(o->b, ",\"failures\":%u,\"next_try\":%lld,\"last_error\":",
		    bo->failures, (long long)bo->until);
		control_json_str(o->b, bo->reason);
		evbuffer_add(o->b, "}", 1);
		return;
	}
	char when[32];
	struct tm tm;
	gmtime_r(&bo->until, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	evbuffer_add_printf(o->b, "  %s: %u failure%s in a row, next try %s: %s\n",
	    bo->destination, bo->failures, bo->failures == 1 ? "" : "s", when, bo->reason);
	o->n++;
}

static void status_json_failures(struct evbuffer *b, const struct metrics_recent *r)
{
	evbuffer_add(b, "[", 1);
	for (size_t i = 0; i < metrics_recent_failure_count(r); i++) {
		const struct metrics_recent_failure *f = metrics_recent_failure_at(r, i);
		evbuffer_add_printf(b, "%s{\"time\":%lld,\"queue_id\":", i > 0 ? "," : "",
		    (long long)f->when);
		control_json_str(b, f->queue_id);
		control_json_field(b, "sender", f->sender);
		control_json_field(b, "recipient", f->rcpt);
		control_json_field(b, "destination", f->destination);
		evbuffer_add_printf(b, ",\"code\":%d,\"esc\":", f->code);
		control_json_str(b, f->esc);
		control_json_field(b, "text", f->text);
		evbuffer_add(b, "}", 1);
	}
	evbuffer_add(b, "]", 1);
}

static void status_write_json(const struct status_sources *src, const struct status_data *d,
    struct evbuffer *b)
{
	const struct metrics_mail_totals *t = &d->totals;
	bool first = true;
	evbuffer_add(b, "{", 1);
	status_json_key(b, &first, "version");
	control_json_str(b, MXR_VERSION);
	status_json_key(b, &first, "hostname");
	control_json_str(b, d->cfg->hostname);
	evbuffer_add_printf(b, ",\"pid\":%ld,\"started\":%lld,\"now\":%lld,\"uptime_seconds\":%lld",
	    (long)getpid(), (long long)d->started, (long long)d->now,
	    (long long)(d->now - d->started));
	status_json_key(b, &first, "listeners");
	status_json_listeners(b, d->cfg);
	evbuffer_add_printf(b, ",\"connections\":{\"inbound\":%u,\"outbound\":%u,"
	    "\"outbound_idle\":%zu}", d->inbound, d->sched.running, d->sched.idle);
	status_json_key(b, &first, "traffic");
	status_json_traffic(b, d);
	evbuffer_add_printf(b, ",\"totals\":{\"received\":%" PRIu64 ",\"refused\":%" PRIu64
	    ",\"delivered\":%" PRIu64 ",\"deferred\":%" PRIu64 ",\"failed\":%" PRIu64
	    ",\"bounces\":%" PRIu64 "}", t->received, t->refused, t->delivered, t->deferred,
	    t->failed, t->dsn_sent);
	status_json_key(b, &first, "queue");
	status_json_queue(b, d);
	status_json_key(b, &first, "backoff");
	evbuffer_add(b, "[", 1);
	struct status_backoff_out o = { .b = b, .json = true };
	sched_each_backoff(src->sched, d->now, status_backoff_one, &o);
	evbuffer_add(b, "]", 1);
	status_json_key(b, &first, "failures");
	status_json_failures(b, d->recent);
	status_json_key(b, &first, "rate_limits");
	status_rate_json(b, d->cfg, d->rate);
	evbuffer_add_printf(b, ",\"tls\":{\"inbound\":{\"sessions\":%" PRIu64 ",\"tls\":%" PRIu64 "},"
	    "\"outbound\":{\"sessions\":%" PRIu64 ",\"tls\":%" PRIu64 "}}}\n",
	    t->sessions[METRICS_INBOUND], t->tls_sessions[METRICS_INBOUND],
	    t->sessions[METRICS_OUTBOUND], t->tls_sessions[METRICS_OUTBOUND]);
}

/* ---- text ---- */

static const char *status_pct(uint64_t part, uint64_t whole, char *buf, size_t len)
{
	if (whole == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f%%", 100.0 * (double)part / (double)whole);
	return buf;
}

static void status_text_hour(struct evbuffer *b, const struct status_data *d)
{
	uint64_t sum[METRICS_RECENT_NKINDS] = { 0 };
	for (int k = 0; k < METRICS_RECENT_NKINDS; k++)
		for (int i = 0; i < METRICS_RECENT_MINUTES; i++)
			sum[k] += d->traffic[k][i];
	evbuffer_add_printf(b, "last hour: %" PRIu64 " received, %" PRIu64 " delivered, %" PRIu64
	    " deferred, %" PRIu64 " failed\n", sum[METRICS_RECENT_RECEIVED],
	    sum[METRICS_RECENT_DELIVERED], sum[METRICS_RECENT_DEFERRED], sum[METRICS_RECENT_FAILED]);
}

static void status_text_queue(struct evbuffer *b, const struct status_data *d)
{
	const struct queue_counts *q = &d->queue;
	/* One node's SQLite is always there; a fleet's database server may not be. */
	if (d->node_id != NULL)
		evbuffer_add_printf(b, "queue store: %s, node %s, %s\n", d->queue_backend, d->node_id,
		    d->queue_available ? "reachable" :
		    "out of reach (sessions answer 451 4.3.0, reconnecting)");
	if (d->queue_err[0] != '\0') {
		evbuffer_add_printf(b, "queue: %s\n", d->queue_err);
		return;
	}
	evbuffer_add_printf(b, "queue: %" PRIu64 " message%s (%" PRIu64 " held), recipients:",
	    q->messages, q->messages == 1 ? "" : "s", q->held);
	for (int s = QUEUE_RCPT_PENDING; s <= QUEUE_RCPT_BOUNCED; s++)
		evbuffer_add_printf(b, " %" PRIu64 " %s", q->rcpts[s],
		    queue_store_state_name((enum queue_rcpt_state)s));
	if (q->oldest_id[0] != '\0') {
		char age[32];
		control_fmt_age(d->now > q->oldest_received ? (long long)(d->now - q->oldest_received) :
		    0, age, sizeof(age));
		evbuffer_add_printf(b, "; oldest %s, %s old", q->oldest_id, age);
	}
	evbuffer_add(b, "\n", 1);
}

static void status_write_text(const struct status_sources *src, const struct status_data *d,
    struct evbuffer *b)
{
	const struct metrics_mail_totals *t = &d->totals;
	char up[32], p1[16], p2[16];
	control_fmt_age((long long)(d->now - d->started), up, sizeof(up));
	evbuffer_add_printf(b, "mxrelayd %s on %s, pid %ld, up %s\n", MXR_VERSION, d->cfg->hostname,
	    (long)getpid(), up);
	evbuffer_add(b, "listeners:", 10);
	for (size_t i = 0; i < d->cfg->nlisteners; i++)
		evbuffer_add_printf(b, " %s (%s)", d->cfg->listeners[i].text,
		    status_mode_name(d->cfg->listeners[i].mode));
	if (d->cfg->local_socket != NULL)
		evbuffer_add_printf(b, " local:%s", d->cfg->local_socket);
	for (size_t i = 0; i < d->cfg->nhttp_listeners; i++)
		evbuffer_add_printf(b, " http:%s", d->cfg->http_listeners[i].text);
	evbuffer_add_printf(b, "\nconnections: %u inbound, %u outbound deliveries, %zu idle for "
	    "reuse\n", d->inbound, d->sched.running, d->sched.idle);
	status_text_hour(b, d);
	evbuffer_add_printf(b, "since start: %" PRIu64 " received, %" PRIu64 " refused, %" PRIu64
	    " delivered, %" PRIu64 " deferred, %" PRIu64 " failed, %" PRIu64 " DSNs sent\n",
	    t->received, t->refused, t->delivered, t->deferred, t->failed, t->dsn_sent);
	status_text_queue(b, d);
	evbuffer_add_printf(b, "tls: inbound %s of %" PRIu64 ", outbound %s of %" PRIu64 "\n",
	    status_pct(t->tls_sessions[METRICS_INBOUND], t->sessions[METRICS_INBOUND], p1,
	    sizeof(p1)), t->sessions[METRICS_INBOUND],
	    status_pct(t->tls_sessions[METRICS_OUTBOUND], t->sessions[METRICS_OUTBOUND], p2,
	    sizeof(p2)), t->sessions[METRICS_OUTBOUND]);
	struct evbuffer *lines = evbuffer_new();
	if (lines == NULL)
		return;
	struct status_backoff_out o = { .b = lines, .json = false };
	sched_each_backoff(src->sched, d->now, status_backoff_one, &o);
	evbuffer_add_printf(b, "backoff: %zu destination%s\n", o.n, o.n == 1 ? "" : "s");
	evbuffer_add_buffer(b, lines);
	evbuffer_free(lines);
	status_rate_text(b, d->cfg, d->rate);
	size_t nf = metrics_recent_failure_count(d->recent);
	evbuffer_add_printf(b, "permanent failures (the last %zu, newest first):%s\n", nf,
	    nf == 0 ? " none" : "");
	for (size_t i = 0; i < nf; i++) {
		const struct metrics_recent_failure *f = metrics_recent_failure_at(d->recent, i);
		char when[32];
		struct tm tm;
		gmtime_r(&f->when, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
		evbuffer_add_printf(b, "  %s %s <%s> -> <%s>: %d %s %s\n", when, f->queue_id, f->sender,
		    f->rcpt, f->code, f->esc, f->text);
	}
}

void status_write(const struct status_sources *src, time_t now, bool json, struct evbuffer *b)
{
	struct status_data d;
	status_gather(src, now, &d);
	if (json)
		status_write_json(src, &d, b);
	else
		status_write_text(src, &d, b);
}

/* ---- gauges ---- */

struct queue_counts_cache {
	struct queue_counts c;
};

/* The queue's counts, read again when a second has passed; false when they cannot be read. */
static bool status_counts(struct status_sources *src, const struct queue_counts **out)
{
	time_t now = time(NULL);
	if (src->counts_at != now) {
		char err[256];
		src->counts_ok = queue_query_count(src->queue, &src->counts->c, err, sizeof(err)) == 0;
		src->counts_at = now;
	}
	*out = &src->counts->c;
	return src->counts_ok;
}

static void status_gauge_messages(struct metrics_text *t, const struct metrics_family *f,
    void *arg)
{
	const struct queue_counts *c;
	(void)f;
	if (!status_counts(arg, &c))
		return;
	const char *queued[] = { "queued" }, *held[] = { "held" };
	metrics_text_value(t, queued, (double)(c->messages - c->held));
	metrics_text_value(t, held, (double)c->held);
}

static void status_gauge_rcpts(struct metrics_text *t, const struct metrics_family *f, void *arg)
{
	const struct queue_counts *c;
	(void)f;
	if (!status_counts(arg, &c))
		return;
	for (int s = QUEUE_RCPT_PENDING; s <= QUEUE_RCPT_BOUNCED; s++) {
		const char *v[] = { queue_store_state_name((enum queue_rcpt_state)s) };
		metrics_text_value(t, v, (double)c->rcpts[s]);
	}
}

static void status_gauge_oldest(struct metrics_text *t, const struct metrics_family *f, void *arg)
{
	const struct queue_counts *c;
	(void)f;
	if (!status_counts(arg, &c))
		return;
	time_t now = time(NULL);
	metrics_text_value(t, NULL, c->oldest_id[0] != '\0' && now > c->oldest_received ?
	    (double)(now - c->oldest_received) : 0);
}

static void status_gauge_available(struct metrics_text *t, const struct metrics_family *f,
    void *arg)
{
	const struct status_sources *src = arg;
	(void)f;
	metrics_text_value(t, NULL, queue_store_available(src->queue) ? 1 : 0);
}

static void status_gauge_sessions(struct metrics_text *t, const struct metrics_family *f,
    void *arg)
{
	struct status_sources *src = arg;
	(void)f;
	struct sched_stats ss;
	sched_get_stats(src->sched, &ss);
	const char *in[] = { "inbound" }, *out[] = { "outbound" };
	metrics_text_value(t, in, reload_sessions(src->reload));
	metrics_text_value(t, out, ss.running);
}

void status_register_gauges(struct status_sources *src)
{
	src->counts = xcalloc(1, sizeof(*src->counts));
	metrics_mail_set_queue_collect(src->metrics, status_gauge_messages, status_gauge_rcpts,
	    status_gauge_oldest, status_gauge_available, src);
	metrics_mail_set_sessions_collect(src->metrics, status_gauge_sessions, src);
	status_rate_register_gauges(src->metrics, src->reload);
}

void status_sources_free(struct status_sources *src)
{
	free(src->counts);
	src->counts = NULL;
}
