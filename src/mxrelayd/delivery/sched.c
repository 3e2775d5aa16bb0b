/*
 * sched: the delivery scheduler (see sched.h).
 *
 * Owns: the scan of due recipients, jobs (one message, one destination
 * domain) from claim to recorded outcome, the concurrency limits, the
 * destination backoff decisions, retry and expiry of each outcome, the
 * engine contexts of the routes, and the list of store calls in flight.
 * Never: frees a job inside the engine's callback path other than as the
 * callback's last act, or lets a store callback reach a freed scheduler
 * (ops are orphaned, not freed, by sched_free).
 */
#include "sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config/config.h"
#include "dns/dns_rr.h"
#include "sched_retry.h"
#include "util/log.h"
#include "util/xalloc.h"

/* ---- store calls in flight ---- */

struct sched_op *sched_op_new(struct sched *s, enum sched_op_kind kind, const char *msg_id)
{
	struct sched_op *op = xcalloc(1, sizeof(*op));
	op->s = s;
	op->kind = kind;
	snprintf(op->msg_id, sizeof(op->msg_id), "%s", msg_id);
	op->next = s->ops;
	if (s->ops != NULL)
		s->ops->prev = op;
	s->ops = op;
	return op;
}

struct sched *sched_op_end(struct sched_op *op)
{
	struct sched *s = op->s;
	if (s != NULL) {
		if (op->prev != NULL)
			op->prev->next = op->next;
		else
			s->ops = op->next;
		if (op->next != NULL)
			op->next->prev = op->prev;
	}
	free(op->success_ids);
	free(op->delay_ids);
	free(op->ids);
	sched_bounce_dsn_free(op->dsn);
	free(op);
	return s;
}

size_t sched_idle_count(const struct sched *s)
{
	size_t n = mxr_context_idle_count(s->direct);
	for (size_t i = 0; i < s->nroutes; i++)
		n += mxr_context_idle_count(s->routes[i].ctx);
	return n;
}

void sched_check_stopped(struct sched *s)
{
	if (!s->stopping || s->running != NULL || s->ops != NULL || s->stop_done == NULL)
		return;
	if (!s->idle_closed) {
		/* No delivery can park a connection any more: say goodbye to the idle ones. */
		s->idle_closed = true;
		mxr_context_close_idle(s->direct);
		for (size_t i = 0; i < s->nroutes; i++)
			mxr_context_close_idle(s->routes[i].ctx);
	}
	if (sched_idle_count(s) == 0) {
		event_active(s->stop_ev, 0, 0);
	} else {
		struct timeval tv = { 0, SCHED_STOP_POLL_MS * 1000 };
		event_add(s->stop_ev, &tv);
	}
}

/* The deletion of a finished message is durable (or failed). */
static void sched_delete_done(void *arg, bool ok, bool deleted, const char *err)
{
	struct sched_op *op = arg;
	char id[QUEUE_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", op->msg_id);
	struct sched *s = sched_op_end(op);
	if (!ok)
		log_msg(LOG_LVL_WARN, "queue=%s event=delete-failed reason=\"%s\"", id,
		    err != NULL ? err : "");
	else if (deleted)
		log_msg(LOG_LVL_INFO, "queue=%s event=removed", id);
	if (s != NULL)
		sched_check_stopped(s);
}

void sched_delete_if_done(struct sched *s, const char *msg_id)
{
	struct sched_op *op = sched_op_new(s, SCHED_OP_DELETE, msg_id);
	queue_update_delete_if_done(s->q, msg_id, sched_delete_done, op);
}

/* ---- jobs ---- */

/* The engine context and destination key of a recipient domain. */
struct mxr_context *sched_route_for(struct sched *s, const char *domain,
    char *key, size_t keylen)
{
	const struct cfg_route *r = config_route(s->cfg, domain);
	if (r != NULL) {
		for (size_t i = 0; i < s->nroutes; i++) {
			if (s->routes[i].route == r) {
				snprintf(key, keylen, "%s", r->smarthost);
				return s->routes[i].ctx;
			}
		}
	}
	(void)dns_rr_name_key(domain, strlen(domain), key, keylen);
	return s->direct;
}

void sched_pump(struct sched *s)
{
	if (s->stopping)
		return;
	unsigned running = s->nrunning;
	unsigned per = s->cfg->max_per_destination ? s->cfg->max_per_destination : 1;
	unsigned max = s->cfg->max_deliveries ? s->cfg->max_deliveries : 1;
	/* Destinations at their limit leave the ready queue; a finishing job brings them back. */
	struct sched_dest *d;
	while (running < max && (d = sched_dest_next_ready(s->dests)) != NULL) {
		if (d->running >= per || d->nwait == 0)
			continue;
		time_t now = time(NULL);
		if (sched_dest_backed_off(d, now)) {
			sched_job_defer_waiting(s, d, now);
			continue;
		}
		struct sched_job *j = (struct sched_job *)sched_dest_pop(d);
		s->waiting--;
		/* Counted at once: its slot and its message are read before the engine starts. */
		sched_job_start(s, j);
		running++;
		sched_dest_ready(s->dests, d);
	}
}

/* Make a job of items[0..n) (one message, one domain) and queue, defer or expire it. */
static void sched_take(struct sched *s, const struct queue_due *items, size_t n, time_t now)
{
	struct sched_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	snprintf(j->msg_id, sizeof(j->msg_id), "%s", items[0].msg_id);
	snprintf(j->domain, sizeof(j->domain), "%s", items[0].domain);
	j->received_at = items[0].received_at;
	j->r = xcalloc(n, sizeof(*j->r));
	j->n = n;
	for (size_t i = 0; i < n; i++) {
		j->r[i].id = items[i].rcpt_id;
		j->r[i].address = xstrdup(items[i].address);
		j->r[i].orcpt = items[i].orcpt != NULL ? xstrdup(items[i].orcpt) : NULL;
		j->r[i].notify = items[i].notify;
		j->r[i].tries = items[i].tries;
	}
	s->claimed += n;
	char key[SCHED_DEST_KEY_MAX];
	j->ctx = sched_route_for(s, j->domain, key, sizeof(key));
	j->eng = s->eng;
	s->eng->jobs++;
	j->dest = sched_dest_get(s->dests, key);

	if (sched_retry_expired(s->cfg, j->received_at, now)) {
		/* Tried before and out of time: fail them now; never-tried ones get one try. */
		size_t tried = 0;
		for (size_t i = 0; i < n; i++)
			if (j->r[i].tries > 0)
				tried++;
		if (tried == n) {
			sched_job_expire(s, j, now);
			return;
		}
		if (tried > 0) {
			struct sched_job *e = xcalloc(1, sizeof(*e));
			*e = *j;
			e->r = xcalloc(tried, sizeof(*e->r));
			e->n = 0;
			size_t keep = 0;
			for (size_t i = 0; i < n; i++) {
				if (j->r[i].tries > 0)
					e->r[e->n++] = j->r[i];
				else
					j->r[keep++] = j->r[i];
			}
			j->n = keep;
			sched_job_expire(s, e, now);
		}
	}
	if (sched_dest_backed_off(j->dest, now)) {
		sched_job_defer(s, j, now);
		return;
	}
	sched_dest_push(s->dests, j->dest, &j->link);
	s->waiting++;
}

/* The due recipients are claimed: make jobs of them and start what the limits allow. */
static void sched_scanned(void *arg, bool ok, struct queue_due_list *l, const char *err)
{
	struct sched_op *op = arg;
	size_t limit = op->nclaimed;
	struct sched *s = sched_op_end(op);
	if (s == NULL) {
		queue_due_list_free(l);
		free(l);
		return;
	}
	s->scanning = false;
	if (!ok) {
		log_msg(LOG_LVL_WARN, "event=scan-failed reason=\"%s\"", err != NULL ? err : "");
	} else if (s->stopping) {
		/* Claimed while stopping: back to the queue, unchanged. */
		for (size_t i = 0; i < l->n; i++)
			queue_due_unclaim(s->q, &l->items[i].rcpt_id, 1);
	} else {
		time_t now = time(NULL);
		for (size_t i = 0; i < l->n;) {
			size_t k = i + 1;
			while (k < l->n && strcmp(l->items[k].msg_id, l->items[i].msg_id) == 0 &&
			    strcmp(l->items[k].domain, l->items[i].domain) == 0)
				k++;
			sched_take(s, &l->items[i], k - i, now);
			i = k;
		}
		/* Cut at its limit: the rest is taken as claims come back. */
		s->more_due = l->n == limit;
		sched_pump(s);
	}
	queue_due_list_free(l);
	free(l);
	if (s->rescan && !s->stopping) {
		s->rescan = false;
		sched_kick(s);
	}
	sched_check_stopped(s);
}

/*
 * How many recipients one scan may claim. A node of a fleet claims no more
 * than it can soon start (its claims keep the other nodes off them), so the
 * fleet shares the work; a node alone takes a large batch at once.
 */
static size_t sched_scan_limit(const struct sched *s)
{
	size_t limit = SCHED_CLAIM_MAX - s->claimed;
	if (limit > SCHED_SCAN_MAX)
		limit = SCHED_SCAN_MAX;
	if (s->shared) {
		size_t max = (size_t)(s->cfg->max_deliveries ? s->cfg->max_deliveries : 1) *
		    SCHED_FLEET_CLAIM_FACTOR;
		size_t held = s->claimed;
		limit = held >= max ? 0 : max - held < limit ? max - held : limit;
	}
	return limit;
}

/* Take due recipients from the queue (asynchronously) and start what the limits allow. */
static void sched_scan(struct sched *s)
{
	if (s->stopping)
		return;
	time_t now = time(NULL);
	if (!s->recovered && now >= s->recover_at) {
		s->recovered = true;
		/* A fleet's younger failures are being bounced by their own nodes. */
		sched_bounce_recover(s, now);
	}
	if (now - s->last_sweep >= SCHED_SWEEP_S) {
		s->last_sweep = now;
		sched_dest_sweep(s->dests, now, SCHED_DEST_KEEP_S);
	}
	size_t limit = sched_scan_limit(s);
	if (limit == 0) {
		sched_pump(s);
		return;
	}
	if (s->scanning) {
		s->rescan = true;
		return;
	}
	s->scanning = true;
	struct sched_op *op = sched_op_new(s, SCHED_OP_SCAN, "");
	op->nclaimed = limit;	/* the limit asked for, to tell a cut scan */
	queue_due_fetch(s->q, now, limit, sched_scanned, op);
}

static void sched_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sched *s = arg;
	sched_engines_reap(s);
	sched_fleet_tick(s, time(NULL));
	sched_scan(s);
}

static void sched_on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sched_scan(arg);
}

static void sched_on_stopped(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sched *s = arg;
	if (s->stop_done == NULL || s->running != NULL || s->ops != NULL)
		return;
	if (sched_idle_count(s) > 0) {
		sched_check_stopped(s);
		return;
	}
	void (*done)(void *) = s->stop_done;
	s->stop_done = NULL;
	log_msg(LOG_LVL_INFO, "event=scheduler-stopped deliveries=%llu",
	    (unsigned long long)s->stats.deliveries);
	done(s->stop_arg);
}

void sched_kick(struct sched *s)
{
	if (s != NULL && !s->stopping)
		event_active(s->kick_ev, 0, 0);
}

/* Tell the fleet a backed-off destination is forgiven (sched_dest_each's callback). */
static void sched_flush_publish(void *arg, const struct sched_dest *d)
{
	struct sched *s = arg;
	if (d->failures == 0)
		return;
	struct sched_dest copy = *d;
	sched_dest_succeeded(&copy);
	sched_fleet_publish(s, &copy);
}

void sched_flush(struct sched *s)
{
	if (s == NULL || s->stopping)
		return;
	if (s->shared)
		sched_dest_each(s->dests, sched_flush_publish, s);
	size_t n = sched_dest_forgive_all(s->dests);
	if (n > 0)
		log_msg(LOG_LVL_INFO, "event=flush destinations_forgiven=%zu", n);
	sched_kick(s);
}

/* Forget the backoff of the destination recipients at domain go to; true when there was one. */
static bool sched_forgive_domain(struct sched *s, const char *domain)
{
	char key[SCHED_DEST_KEY_MAX];
	(void)sched_route_for(s, domain, key, sizeof(key));
	struct sched_dest *d = sched_dest_find(s->dests, key);
	if (d == NULL || d->failures == 0)
		return false;
	log_msg(LOG_LVL_INFO, "dest=%s event=flush-forgiven failures=%u", d->key, d->failures);
	sched_dest_succeeded(d);
	sched_fleet_publish(s, d);
	return true;
}

void sched_flush_domain(struct sched *s, const char *domain)
{
	if (s == NULL || s->stopping)
		return;
	(void)sched_forgive_domain(s, domain);
	sched_kick(s);
}

/* The flushed message's recipients are read: forgive their destinations, look now. */
static void sched_flush_fetched(void *arg, struct queue_fetched *f)
{
	struct sched_op *op = arg;
	char id[QUEUE_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", op->msg_id);
	struct sched *s = sched_op_end(op);
	if (s != NULL) {
		if (f->found < 0)
			log_msg(LOG_LVL_WARN, "queue=%s event=flush-read-failed reason=\"%s\"", id,
			    f->err != NULL ? f->err : "");
		for (size_t i = 0; i < f->nrcpts && !s->stopping; i++)
			if (f->rcpts[i].state == QUEUE_RCPT_PENDING ||
			    f->rcpts[i].state == QUEUE_RCPT_DEFERRED)
				(void)sched_forgive_domain(s, f->rcpts[i].domain);
		sched_kick(s);
		sched_check_stopped(s);
	}
	queue_fetched_clear(f);
}

void sched_flush_message(struct sched *s, const char *msg_id)
{
	if (s == NULL || s->stopping)
		return;
	struct sched_op *op = sched_op_new(s, SCHED_OP_FLUSH, msg_id);
	struct queue_fetch_req req = { .id = msg_id, .rcpts = true };
	queue_fetch(s->q, &req, sched_flush_fetched, op);
}

void sched_bounce_now(struct sched *s, const char *msg_id)
{
	if (s == NULL || s->stopping)
		return;
	sched_bounce_failed(s, msg_id);
	sched_kick(s);
}

/* A mailed TLS report was queued: deliver it now. */
static void sched_report_queued(void *arg)
{
	sched_kick(arg);
}

bool sched_tls_reports_send(struct sched *s, int64_t day, tls_reports_done_fn *done, void *arg)
{
	return tls_reports_send(s->reports, day, done, arg);
}

void sched_tls_results_flush(struct sched *s)
{
	(void)tls_results_flush(s->results);
}

struct sched *sched_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, struct queue_side *side, char *err, size_t errlen)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->cfg = cfg;
	s->q = q;
	s->dests = sched_dest_table_new();
	s->eng = xcalloc(1, sizeof(*s->eng));
	s->shared = queue_store_shared(q);
	s->next_fleet_recover = time(NULL) + SCHED_FLEET_RECOVER_S;
	sched_fleet_new(s);
	sched_metrics_observer(s, &s->observer);
	s->sts = sts_cache_new(q, side);
	sts_cache_store(s->sts, &s->sts_store);
	s->results = tls_results_new(base, q, side);
	s->reports = tls_reports_new(base, cfg, q, side, s->results, sched_report_queued, s);
	s->dnssec = dnssec_check_new(base, cfg);
	if (sched_engines_build(s, cfg, &s->direct, &s->routes, &s->nroutes, err, errlen) != 0) {
		sched_free(s);
		return NULL;
	}
	s->tick = event_new(base, -1, EV_PERSIST, sched_on_tick, s);
	s->kick_ev = event_new(base, -1, 0, sched_on_kick, s);
	s->stop_ev = event_new(base, -1, 0, sched_on_stopped, s);
	if (s->tick == NULL || s->kick_ev == NULL || s->stop_ev == NULL)
		fatal("event=sched-new reason=\"cannot create events\"");
	struct timeval tv = { SCHED_TICK_S, 0 };
	event_add(s->tick, &tv);
	s->last_sweep = time(NULL);
	log_msg(LOG_LVL_INFO, "event=scheduler-started routes=%zu max_deliveries=%u "
	    "max_per_destination=%u connection_reuse_time=%us connection_reuse_limit=%u "
	    "retries=%zu max_queue_age=%us delay_warning=%us",
	    cfg->nroutes, cfg->max_deliveries, cfg->max_per_destination, cfg->reuse_time,
	    cfg->reuse_limit, cfg->nretry_intervals, cfg->max_queue_age, cfg->delay_warning);
	/* Recovery: whatever is due (a crash left it unclaimed) is taken at once. */
	event_active(s->kick_ev, 0, 0);
	return s;
}

void sched_stop(struct sched *s, void (*done)(void *arg), void *arg)
{
	if (s == NULL)
		return;
	s->stop_done = done;
	s->stop_arg = arg;
	if (!s->stopping) {
		s->stopping = true;
		event_del(s->tick);
		event_del(s->kick_ev);
		/*
		 * Waiting work goes back to the queue unchanged: due at the next
		 * start. Destinations at their limit are not in the ready queue.
		 */
		while (sched_dest_next_ready(s->dests) != NULL)
			;
		struct sched_dest *d;
		while ((d = sched_dest_any_waiting(s->dests)) != NULL) {
			struct sched_dest_link *l;
			while ((l = sched_dest_pop(d)) != NULL) {
				s->waiting--;
				sched_job_unclaim(s, (struct sched_job *)l);
			}
		}
		log_msg(LOG_LVL_INFO, "event=scheduler-stopping running=%u", s->nrunning);
	}
	sched_check_stopped(s);
}

void sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	/* An expiring job waits on its read, off every list: it goes with its call. */
	for (struct sched_op *op = s->ops; op != NULL; op = op->next)
		if (op->job != NULL && !op->job->in_running) {
			sched_job_free(op->job);
			op->job = NULL;
		}
	/* Jobs still waiting (no sched_stop) are simply forgotten: claims are in memory only. */
	struct sched_dest *d;
	if (s->dests != NULL)
		while ((d = sched_dest_any_waiting(s->dests)) != NULL) {
			struct sched_dest_link *l;
			while ((l = sched_dest_pop(d)) != NULL)
				sched_job_free((struct sched_job *)l);
		}
	/*
	 * Deliveries still running (the stop grace ran out) are abandoned: the
	 * engine calls nothing back and frees them; their recipients are due
	 * again at the next start, since claims live in memory only.
	 */
	while (s->running != NULL) {
		struct sched_job *j = s->running;
		s->running = j->next;
		log_msg(LOG_LVL_INFO, "queue=%s event=delivery-abandoned dest=%s rcpts=%zu", j->msg_id,
		    j->dest->key, j->n);
		mxr_delivery_cancel(j->dlv);
		sched_job_free(j);
	}
	s->nrunning = 0;
	/* Calls in flight are orphaned; the jobs they held (expiring ones) go now. */
	for (struct sched_op *op = s->ops; op != NULL; op = op->next) {
		op->s = NULL;
		op->job = NULL;
	}
	if (s->tick != NULL)
		event_free(s->tick);
	if (s->kick_ev != NULL)
		event_free(s->kick_ev);
	if (s->stop_ev != NULL)
		event_free(s->stop_ev);
	sched_fleet_free(s);
	sched_engines_free_contexts(s->direct, s->routes, s->nroutes);
	while (s->retired != NULL) {
		struct sched_engines *e = s->retired;
		s->retired = e->next;
		sched_engines_free_contexts(e->direct, e->routes, e->nroutes);
		free(e);
	}
	free(s->eng);
	tls_reports_free(s->reports);
	dnssec_check_free(s->dnssec);
	tls_results_free(s->results);
	sts_cache_free(s->sts);
	sched_dest_table_free(s->dests);
	free(s);
}
