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

static void sched_pump(struct sched *s);

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

static void sched_job_free(struct sched_job *j)
{
	if (j == NULL)
		return;
	if (j->eng != NULL)
		j->eng->jobs--;
	for (size_t i = 0; i < j->n; i++) {
		free(j->r[i].address);
		free(j->r[i].orcpt);
	}
	free(j->r);
	free(j->sender);
	queue_body_close(j->body);
	free(j);
}

/* Give a job's recipients back to the queue unchanged (due as before) and free it. */
static void sched_job_unclaim(struct sched *s, struct sched_job *j)
{
	int64_t *ids = xcalloc(j->n ? j->n : 1, sizeof(*ids));
	for (size_t i = 0; i < j->n; i++)
		ids[i] = j->r[i].id;
	queue_due_unclaim(s->q, ids, j->n);
	s->claimed -= j->n;
	free(ids);
	sched_job_free(j);
}

/* The engine context and destination key of a recipient domain. */
static struct mxr_context *sched_route_for(struct sched *s, const char *domain,
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

/* "host[ip]" of a result, or "" when no host answered. */
static void sched_relay_text(const struct mxr_result *r, char *out, size_t outlen)
{
	if (r->mx_host[0] == '\0' && r->mx_ip[0] == '\0')
		out[0] = '\0';
	else
		snprintf(out, outlen, "%s[%s]", r->mx_host, r->mx_ip);
}

/*
 * One log line for one recipient's outcome; r is the engine's result
 * (its TLS policy and what authenticated the host), or NULL when no
 * attempt was made (expiry, backoff).
 */
static void sched_log_outcome(const char *msg_id, const char *rcpt, const struct queue_outcome *o,
    unsigned tries, time_t received_at, const char *note, const struct mxr_result *r)
{
	char addr[340], reason[600];
	log_printable(addr, sizeof(addr), rcpt, strlen(rcpt));
	const char *text = o->reply != NULL ? o->reply : "";
	log_printable(reason, sizeof(reason), text, strlen(text));
	char next[48] = "";
	if (o->state == QUEUE_RCPT_DEFERRED)
		snprintf(next, sizeof(next), " next_try=+%llds", (long long)(o->next_try - o->at));
	const char *policy = r == NULL ? "-" : r->tls_testing ? "mta-sts-testing" :
	    mxr_tls_policy_name(r->tls_policy);
	const char *auth = r == NULL ? "-" : mxr_tls_auth_name(r->tls_auth);
	log_msg(LOG_LVL_INFO,
	    "queue=%s rcpt=\"<%s>\" status=%s tries=%u code=%d dsn=%s relay=%s delay=%llds%s "
	    "tls=%s tls_policy=%s tls_auth=%s%s%s reason=\"%s\"",
	    msg_id, addr, queue_store_state_name(o->state), tries + 1, o->code,
	    o->esc != NULL && o->esc[0] != '\0' ? o->esc : "-",
	    o->mx != NULL && o->mx[0] != '\0' ? o->mx : "none",
	    (long long)(o->at - received_at), next, r != NULL && r->tls ? "yes" : "no", policy, auth,
	    note != NULL ? " note=" : "", note != NULL ? note : "", reason);
}

/*
 * The outcomes of a job are durable (or not): notices, bounces, deletion.
 * deleted: the same job already deleted the finished message (-1: it was
 * not asked to).
 */
static void sched_outcomes_finish(struct sched_op *op, bool ok, int deleted, const char *err)
{
	struct sched *s = op->s;
	if (s == NULL) {
		sched_op_end(op);
		return;
	}
	s->claimed -= op->nclaimed;
	if (!ok) {
		log_msg(LOG_LVL_WARN, "queue=%s event=outcomes-not-recorded rcpts=%zu reason=\"%s\"",
		    op->msg_id, op->nclaimed, err != NULL ? err : "");
	} else if (deleted >= 0) {
		if (deleted)
			log_msg(LOG_LVL_INFO, "queue=%s event=removed", op->msg_id);
	} else {
		/* Notices read the message now, before a deletion can take it away. */
		if (op->nsuccess > 0)
			sched_bounce_notice(s, op->msg_id, DSN_SUCCESS, op->success_ids, op->nsuccess, op->at);
		if (op->ndelay > 0)
			sched_bounce_notice(s, op->msg_id, DSN_DELAY, op->delay_ids, op->ndelay, op->at);
		if (op->any_failed)
			sched_bounce_failed(s, op->msg_id);
		else if (op->any_final)
			sched_delete_if_done(s, op->msg_id);
	}
	sched_op_end(op);
	sched_check_stopped(s);
	/* Recipients were released: when the last scan left some behind, take them now. */
	if (s->more_due && s->claimed + SCHED_SCAN_MAX / 2 < SCHED_CLAIM_MAX)
		sched_kick(s);
}

static void sched_outcomes_done(void *arg, bool ok, const char *err)
{
	sched_outcomes_finish(arg, ok, -1, err);
}

static void sched_outcomes_deleted(void *arg, bool ok, bool deleted, const char *err)
{
	sched_outcomes_finish(arg, ok, deleted ? 1 : 0, err);
}

/* Whether a recipient with these NOTIFY bits wants a delay warning. */
static bool sched_wants_delay(unsigned notify)
{
	/* RFC 3461 4.1: without NOTIFY the default may be FAILURE,DELAY; we take it. */
	return notify == 0 || (notify & MXR_NOTIFY_DELAY) != 0;
}

/*
 * Record o[0..n) (one per job recipient, in order) through the store and
 * remember what must follow. dsn_passed[i] tells whether the next hop took
 * the DSN duty for recipient i (NULL: none did); sender is the message's,
 * for the failures the metrics keep (NULL: unknown). Frees nothing.
 */
static void sched_record(struct sched *s, struct sched_job *j, struct queue_outcome *o,
    const bool *dsn_passed, const char *sender)
{
	sched_metrics_outcomes(s, j, o, sender, o[0].at);
	struct sched_op *op = sched_op_new(s, SCHED_OP_OUTCOMES, j->msg_id);
	op->nclaimed = j->n;
	op->at = o[0].at;
	const struct config *cfg = s->cfg;
	for (size_t i = 0; i < j->n; i++) {
		const struct sched_rcpt *r = &j->r[i];
		switch (o[i].state) {
		case QUEUE_RCPT_DELIVERED:
			op->any_final = true;
			s->stats.delivered++;
			if ((r->notify & MXR_NOTIFY_SUCCESS) && (dsn_passed == NULL || !dsn_passed[i])) {
				op->success_ids = xreallocarray(op->success_ids, op->nsuccess + 1, sizeof(int64_t));
				op->success_ids[op->nsuccess++] = r->id;
			}
			break;
		case QUEUE_RCPT_FAILED:
			op->any_final = true;
			op->any_failed = true;
			s->stats.failed++;
			break;
		case QUEUE_RCPT_DEFERRED:
			s->stats.deferred++;
			if (cfg->delay_warning > 0 && sched_wants_delay(r->notify) &&
			    (r->notify & MXR_NOTIFY_NEVER) == 0 &&
			    o[i].at >= j->received_at + (time_t)cfg->delay_warning) {
				op->delay_ids = xreallocarray(op->delay_ids, op->ndelay + 1, sizeof(int64_t));
				op->delay_ids[op->ndelay++] = r->id;
			}
			break;
		default:
			panic("sched: outcome state %d for rcpt %lld", (int)o[i].state, (long long)r->id);
		}
	}
	/*
	 * Delivered with nothing to report: the deletion rides in the same job
	 * (one commit, one callback). Notices read the message and bounces
	 * need its failed recipients, so those go the long way.
	 */
	if (op->any_final && !op->any_failed && op->nsuccess == 0 && op->ndelay == 0)
		queue_update_outcomes_delete(s->q, j->msg_id, o, j->n, sched_outcomes_deleted, op);
	else
		queue_update_outcomes(s->q, o, j->n, sched_outcomes_done, op);
}

/*
 * Record j's recipients as failed for expiry, without a try, each with
 * its last reply (read from the store), and free j.
 */
static void sched_expire_job(struct sched *s, struct sched_job *j, time_t now)
{
	struct queue_msg m;
	struct queue_rcpt *rc = NULL;
	size_t nrc = 0;
	char err[256];
	int found = queue_query_message(s->q, j->msg_id, &m, &rc, &nrc, false, err, sizeof(err));
	struct queue_outcome *o = xcalloc(j->n, sizeof(*o));
	char (*reply)[600] = xcalloc(j->n, sizeof(*reply));
	for (size_t i = 0; i < j->n; i++) {
		const struct queue_rcpt *last = NULL;
		for (size_t k = 0; found == 1 && k < nrc; k++)
			if (rc[k].id == j->r[i].id)
				last = &rc[k];
		o[i] = (struct queue_outcome){
			.rcpt_id = j->r[i].id,
			.state = QUEUE_RCPT_FAILED,
			.at = now,
			.code = last != NULL ? last->last_code : 0,
			.esc = "4.4.7",
			.reply = reply[i],
			.mx = last != NULL ? last->last_mx : NULL,
		};
		snprintf(reply[i], sizeof(reply[i]), "message expired after %llds in the queue%s%s%s%s",
		    (long long)(now - j->received_at),
		    last != NULL && last->last_reply != NULL ? "; last reply: " : "",
		    last != NULL && last->last_esc != NULL && last->last_esc[0] != '\0' ? last->last_esc : "",
		    last != NULL && last->last_esc != NULL && last->last_esc[0] != '\0' ? " " : "",
		    last != NULL && last->last_reply != NULL ? last->last_reply : "");
		sched_log_outcome(j->msg_id, j->r[i].address, &o[i], j->r[i].tries, j->received_at, "expired",
		    NULL);
	}
	sched_record(s, j, o, NULL, found == 1 ? m.sender : NULL);
	free(reply);
	free(o);
	queue_query_rcpts_free(rc, nrc);
	if (found == 1)
		queue_query_msg_clear(&m);
	sched_job_free(j);
}

/* Defer all of j without a try: its destination is backed off. Frees j. */
static void sched_defer_job(struct sched *s, struct sched_job *j, time_t now)
{
	struct sched_dest *d = j->dest;
	struct queue_outcome *o = xcalloc(j->n, sizeof(*o));
	char reply[SCHED_DEST_KEY_MAX + 400];
	snprintf(reply, sizeof(reply), "delivery to %s suspended until the destination recovers: %s",
	    d->key, d->reason[0] != '\0' ? d->reason : "not reachable");
	for (size_t i = 0; i < j->n; i++) {
		time_t next = sched_retry_next(s->cfg, j->r[i].tries + 1, now, j->received_at);
		if (next < d->backoff_until && d->backoff_until < sched_retry_expiry(s->cfg, j->received_at))
			next = d->backoff_until;
		o[i] = (struct queue_outcome){
			.rcpt_id = j->r[i].id,
			.state = QUEUE_RCPT_DEFERRED,
			.at = now,
			.next_try = next,
			.code = 0,
			.esc = "4.4.1",
			.reply = reply,
		};
		sched_log_outcome(j->msg_id, j->r[i].address, &o[i], j->r[i].tries, j->received_at, "backoff",
		    NULL);
	}
	s->stats.backoff_deferred += j->n;
	sched_record(s, j, o, NULL, NULL);
	free(o);
	sched_job_free(j);
}

/* Defer everything waiting at d (it has just been backed off). */
static void sched_defer_waiting(struct sched *s, struct sched_dest *d, time_t now)
{
	struct sched_dest_link *l;
	while ((l = sched_dest_pop(d)) != NULL) {
		s->waiting--;
		sched_defer_job(s, (struct sched_job *)l, now);
	}
}

/*
 * Whether the delivery's results say the destination itself is out of
 * reach: every recipient deferred before any SMTP dialogue (DNS lookup or
 * connection/greeting on every MX), not a 4xx for a recipient.
 */
static bool sched_dest_unreachable(const struct mxr_result *res, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (res[i].status != MXR_TEMPFAIL)
			return false;
		if (res[i].stage != MXR_STAGE_RESOLVE && res[i].stage != MXR_STAGE_CONNECT)
			return false;
	}
	return true;
}

/* The engine is done with a job: record every recipient's outcome. */
static void sched_job_done(const struct mxr_result *res, size_t n, void *arg)
{
	struct sched_job *j = arg;
	struct sched *s = j->s;
	j->dlv = NULL;
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		s->running = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	s->nrunning--;
	queue_body_close(j->body);
	j->body = NULL;
	struct sched_dest *d = j->dest;
	d->running--;
	time_t now = time(NULL);

	bool backed_off = false;
	if (sched_dest_unreachable(res, n)) {
		char reason[600];
		snprintf(reason, sizeof(reason), "%s%s%s", res[0].esc, res[0].esc[0] != '\0' ? " " : "",
		    res[0].text);
		backed_off = sched_dest_failed(d, s->cfg, j->epoch, now, reason);
		char pr[700];
		log_msg(LOG_LVL_INFO, "dest=%s event=unreachable failures=%u backoff=%llds reason=\"%s\"",
		    d->key, d->failures, (long long)(d->backoff_until - now),
		    log_printable(pr, sizeof(pr), reason, strlen(reason)));
	} else if (n > 0) {
		if (d->failures > 0)
			log_msg(LOG_LVL_INFO, "dest=%s event=reachable failures=%u", d->key, d->failures);
		sched_dest_succeeded(d);
	}

	size_t m = n < j->n ? n : j->n;
	struct queue_outcome *o = xcalloc(j->n ? j->n : 1, sizeof(*o));
	bool *passed = xcalloc(j->n ? j->n : 1, sizeof(*passed));
	char (*mx)[330] = xcalloc(j->n ? j->n : 1, sizeof(*mx));
	char (*reply)[640] = xcalloc(j->n ? j->n : 1, sizeof(*reply));
	bool expired = sched_retry_expired(s->cfg, j->received_at, now);
	for (size_t i = 0; i < j->n; i++) {
		const struct mxr_result *r = i < m ? &res[i] : NULL;
		struct queue_outcome *oi = &o[i];
		oi->rcpt_id = j->r[i].id;
		oi->at = now;
		if (r == NULL) {
			oi->state = QUEUE_RCPT_DEFERRED;
			oi->esc = "4.3.0";
			oi->reply = "no result from the delivery";
			oi->next_try = sched_retry_next(s->cfg, j->r[i].tries + 1, now, j->received_at);
			continue;
		}
		sched_relay_text(r, mx[i], sizeof(mx[i]));
		oi->mx = mx[i][0] != '\0' ? mx[i] : NULL;
		oi->code = r->code;
		oi->esc = r->esc;
		oi->reply = r->text;
		passed[i] = r->dsn_passed;
		switch (r->status) {
		case MXR_DELIVERED:
			oi->state = QUEUE_RCPT_DELIVERED;
			break;
		case MXR_PERMFAIL:
			oi->state = QUEUE_RCPT_FAILED;
			break;
		default:
			if (expired) {
				/* RFC 5321 4.5.4.1: give up; report the last reply with 4.4.7. */
				oi->state = QUEUE_RCPT_FAILED;
				snprintf(reply[i], sizeof(reply[i]), "message expired after %llds in the queue; "
				    "last reply: %s%s%s", (long long)(now - j->received_at), r->esc,
				    r->esc[0] != '\0' ? " " : "", r->text);
				oi->esc = "4.4.7";
				oi->reply = reply[i];
			} else {
				oi->state = QUEUE_RCPT_DEFERRED;
				oi->next_try = sched_retry_next(s->cfg, j->r[i].tries + 1, now, j->received_at);
				/* Not past the expiry: the recipient fails then, backoff or not. */
				if (backed_off && oi->next_try < d->backoff_until &&
				    d->backoff_until < sched_retry_expiry(s->cfg, j->received_at))
					oi->next_try = d->backoff_until;
			}
			break;
		}
		sched_log_outcome(j->msg_id, j->r[i].address, oi, j->r[i].tries, j->received_at, NULL, r);
	}
	sched_record(s, j, o, passed, j->sender);
	free(reply);
	free(mx);
	free(passed);
	free(o);
	sched_job_free(j);

	if (backed_off)
		sched_defer_waiting(s, d, now);
	else
		sched_dest_ready(s->dests, d);
	sched_pump(s);
	sched_check_stopped(s);
}

/* Start the engine on j; false (j given back to the queue) when it cannot start. */
static bool sched_job_start(struct sched *s, struct sched_job *j)
{
	char err[256];
	struct queue_msg m;
	int found = queue_query_message(s->q, j->msg_id, &m, NULL, NULL, false, err, sizeof(err));
	if (found != 1) {
		if (found < 0)
			log_msg(LOG_LVL_WARN, "queue=%s event=read-failed reason=\"%s\"", j->msg_id, err);
		sched_job_unclaim(s, j);
		return false;
	}
	struct mxr_source src;
	j->body = queue_body_open(s->q, j->msg_id, &src, err, sizeof(err));
	if (j->body == NULL) {
		log_msg(LOG_LVL_WARN, "queue=%s event=body-unreadable reason=\"%s\"", j->msg_id, err);
		queue_query_msg_clear(&m);
		sched_job_unclaim(s, j);
		return false;
	}
	struct mxr_rcpt *rc = xcalloc(j->n ? j->n : 1, sizeof(*rc));
	for (size_t i = 0; i < j->n; i++)
		rc[i] = (struct mxr_rcpt){ .address = j->r[i].address, .notify = j->r[i].notify,
		    .orcpt = j->r[i].orcpt };
	struct mxr_message msg = {
		.sender = m.sender,
		.rcpts = rc,
		.nrcpts = j->n,
		.src = src,
		.body_8bit = m.body_8bit,
		.smtputf8 = m.smtputf8,
		.ret = m.ret,
		.envid = m.envid,
		.log_id = j->msg_id,
		.requiretls = m.requiretls,
		.tls_optional = m.tls_optional,
	};
	j->epoch = j->dest->epoch;
	j->sender = xstrdup(m.sender);
	j->started = sched_metrics_clock();
	j->dest->running++;
	j->prev = NULL;
	j->next = s->running;
	if (s->running != NULL)
		s->running->prev = j;
	s->running = j;
	s->nrunning++;
	s->stats.deliveries++;
	log_msg(LOG_LVL_INFO, "queue=%s event=delivery dest=%s domain=%s rcpts=%zu size=%llu",
	    j->msg_id, j->dest->key, j->domain, j->n, (unsigned long long)m.size);
	/* The engine copies the message; the body source stays open until done. */
	j->dlv = mxr_delivery_start(j->ctx, &msg, NULL, sched_job_done, j);
	free(rc);
	queue_query_msg_clear(&m);
	return true;
}

/* Start waiting jobs, round-robin over destinations, within both limits. */
static void sched_pump(struct sched *s)
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
			sched_defer_waiting(s, d, now);
			continue;
		}
		struct sched_job *j = (struct sched_job *)sched_dest_pop(d);
		s->waiting--;
		if (sched_job_start(s, j))
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
			sched_expire_job(s, j, now);
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
			sched_expire_job(s, e, now);
		}
	}
	if (sched_dest_backed_off(j->dest, now)) {
		sched_defer_job(s, j, now);
		return;
	}
	sched_dest_push(s->dests, j->dest, &j->link);
	s->waiting++;
}

/* Take due recipients from the queue and start what the limits allow. */
static void sched_scan(struct sched *s)
{
	if (s->stopping)
		return;
	time_t now = time(NULL);
	if (!s->recovered && now >= s->recover_at) {
		s->recovered = true;
		sched_bounce_recover(s);
	}
	if (now - s->last_sweep >= SCHED_SWEEP_S) {
		s->last_sweep = now;
		sched_dest_sweep(s->dests, now, SCHED_DEST_KEEP_S);
	}
	if (s->claimed >= SCHED_CLAIM_MAX) {
		sched_pump(s);
		return;
	}
	size_t limit = SCHED_CLAIM_MAX - s->claimed;
	if (limit > SCHED_SCAN_MAX)
		limit = SCHED_SCAN_MAX;
	struct queue_due_list l;
	char err[256];
	if (queue_due_list(s->q, now, limit, true, &l, err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_WARN, "event=scan-failed reason=\"%s\"", err);
		return;
	}
	for (size_t i = 0; i < l.n;) {
		size_t k = i + 1;
		while (k < l.n && strcmp(l.items[k].msg_id, l.items[i].msg_id) == 0 &&
		    strcmp(l.items[k].domain, l.items[i].domain) == 0)
			k++;
		sched_take(s, &l.items[i], k - i, now);
		i = k;
	}
	/* Cut at its limit: the rest is taken as claims come back. */
	s->more_due = l.n == limit;
	queue_due_list_free(&l);
	sched_pump(s);
}


static void sched_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sched_engines_reap(arg);
	sched_scan(arg);
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

void sched_flush(struct sched *s)
{
	if (s == NULL || s->stopping)
		return;
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
	return true;
}

void sched_flush_domain(struct sched *s, const char *domain)
{
	if (s == NULL || s->stopping)
		return;
	(void)sched_forgive_domain(s, domain);
	sched_kick(s);
}

void sched_flush_message(struct sched *s, const char *msg_id)
{
	if (s == NULL || s->stopping)
		return;
	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	char err[256];
	memset(&m, 0, sizeof(m));
	int found = queue_query_message(s->q, msg_id, &m, &r, &nr, false, err, sizeof(err));
	if (found < 0)
		log_msg(LOG_LVL_WARN, "queue=%s event=flush-read-failed reason=\"%s\"", msg_id, err);
	for (size_t i = 0; i < nr; i++)
		if (r[i].state == QUEUE_RCPT_PENDING || r[i].state == QUEUE_RCPT_DEFERRED)
			(void)sched_forgive_domain(s, r[i].domain);
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);
	sched_kick(s);
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
    struct queue_store *q, char *err, size_t errlen)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->cfg = cfg;
	s->q = q;
	s->dests = sched_dest_table_new();
	s->eng = xcalloc(1, sizeof(*s->eng));
	sched_metrics_observer(s, &s->observer);
	sts_cache_store(q, &s->sts_store);
	s->results = tls_results_new(base, q);
	s->reports = tls_reports_new(base, cfg, q, s->results, sched_report_queued, s);
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
	for (struct sched_op *op = s->ops; op != NULL; op = op->next)
		op->s = NULL;
	if (s->tick != NULL)
		event_free(s->tick);
	if (s->kick_ev != NULL)
		event_free(s->kick_ev);
	if (s->stop_ev != NULL)
		event_free(s->stop_ev);
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
	sched_dest_table_free(s->dests);
	free(s);
}
