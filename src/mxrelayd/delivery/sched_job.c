/*
 * sched_job: one job (one message's recipients at one destination) from
 * its start to its recorded outcomes: the fleet slot and the read of the
 * message and its body (both asynchronous: the loop never waits on the
 * store), the engine's delivery, each recipient's outcome with its retry
 * or expiry, and what must follow (notices, bounces, deletion).
 *
 * Owns: a job while it starts and runs (the running list), the outcome
 * of every recipient, the log line of each. Never: frees a job inside the
 * engine's callback other than as the callback's last act, or touches a
 * job after sched_free orphaned the store call it waited on.
 */
#include "sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "sched_retry.h"
#include "util/log.h"
#include "util/xalloc.h"

void sched_job_free(struct sched_job *j)
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

void sched_job_unclaim(struct sched *s, struct sched_job *j)
{
	int64_t *ids = xcalloc(j->n ? j->n : 1, sizeof(*ids));
	for (size_t i = 0; i < j->n; i++)
		ids[i] = j->r[i].id;
	queue_due_unclaim(s->q, ids, j->n);
	s->claimed -= j->n;
	free(ids);
	sched_job_free(j);
}

/* Take j off the running list (it stops counting against the limits). */
static void sched_job_unrun(struct sched *s, struct sched_job *j)
{
	if (!j->in_running)
		return;
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		s->running = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
	j->in_running = false;
	s->nrunning--;
	j->dest->running--;
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
		/*
		 * Notices read the message, so a deletion waits for them: the
		 * success notice deletes it (when done) once it has read it. A
		 * delay notice means a recipient is still waiting: no deletion.
		 */
		bool notice_deletes = op->nsuccess > 0 && !op->any_failed && op->any_final;
		if (op->nsuccess > 0)
			sched_bounce_notice(s, op->msg_id, DSN_SUCCESS, op->success_ids, op->nsuccess,
			    op->at, notice_deletes);
		if (op->ndelay > 0)
			sched_bounce_notice(s, op->msg_id, DSN_DELAY, op->delay_ids, op->ndelay, op->at,
			    false);
		if (op->any_failed)
			sched_bounce_failed(s, op->msg_id);
		else if (op->any_final && !notice_deletes)
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

/* The expired job's recipients with their last replies are read: record their failure. */
static void sched_job_expired(void *arg, struct queue_fetched *f)
{
	struct sched_op *op = arg;
	struct sched_job *j = op->job;
	time_t now = op->at;
	struct sched *s = sched_op_end(op);
	if (s == NULL) {
		queue_fetched_clear(f);
		return;
	}
	j->op = NULL;
	if (f->found < 0)
		log_msg(LOG_LVL_WARN, "queue=%s event=read-failed reason=\"%s\"", j->msg_id,
		    f->err != NULL ? f->err : "");
	struct queue_outcome *o = xcalloc(j->n, sizeof(*o));
	char (*reply)[600] = xcalloc(j->n, sizeof(*reply));
	for (size_t i = 0; i < j->n; i++) {
		const struct queue_rcpt *last = NULL;
		for (size_t k = 0; f->found == 1 && k < f->nrcpts; k++)
			if (f->rcpts[k].id == j->r[i].id)
				last = &f->rcpts[k];
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
	sched_record(s, j, o, NULL, f->found == 1 ? f->m.sender : NULL);
	free(reply);
	free(o);
	queue_fetched_clear(f);
	sched_job_free(j);
	sched_check_stopped(s);
}

void sched_job_expire(struct sched *s, struct sched_job *j, time_t now)
{
	struct sched_op *op = sched_op_new(s, SCHED_OP_EXPIRE, j->msg_id);
	op->job = j;
	op->at = now;
	j->op = op;
	struct queue_fetch_req req = { .id = j->msg_id, .rcpts = true };
	queue_fetch(s->q, &req, sched_job_expired, op);
}

void sched_job_defer(struct sched *s, struct sched_job *j, time_t now)
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

void sched_job_defer_waiting(struct sched *s, struct sched_dest *d, time_t now)
{
	struct sched_dest_link *l;
	while ((l = sched_dest_pop(d)) != NULL) {
		s->waiting--;
		sched_job_defer(s, (struct sched_job *)l, now);
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

/* Count the destination's failure or success in d; true when it is (now) backed off. */
static bool sched_job_judge_dest(struct sched *s, struct sched_job *j, const struct mxr_result *res,
    size_t n, time_t now)
{
	struct sched_dest *d = j->dest;
	if (sched_dest_unreachable(res, n)) {
		char reason[600];
		snprintf(reason, sizeof(reason), "%s%s%s", res[0].esc, res[0].esc[0] != '\0' ? " " : "",
		    res[0].text);
		unsigned before = d->failures;
		bool backed_off = sched_dest_failed(d, s->cfg, j->epoch, now, reason);
		char pr[700];
		log_msg(LOG_LVL_INFO, "dest=%s event=unreachable failures=%u backoff=%llds reason=\"%s\"",
		    d->key, d->failures, (long long)(d->backoff_until - now),
		    log_printable(pr, sizeof(pr), reason, strlen(reason)));
		if (d->failures != before)
			sched_fleet_publish(s, d);
		return backed_off;
	}
	if (n > 0) {
		if (d->failures > 0) {
			log_msg(LOG_LVL_INFO, "dest=%s event=reachable failures=%u", d->key, d->failures);
			sched_dest_succeeded(d);
			sched_fleet_publish(s, d);
		}
	}
	return false;
}

/* The outcome of recipient i of j from the engine's result r (NULL: none came). */
static void sched_job_outcome(struct sched *s, struct sched_job *j, size_t i,
    const struct mxr_result *r, time_t now, bool expired, bool backed_off,
    struct queue_outcome *oi, char *mx, size_t mxlen, char *reply, size_t replylen)
{
	struct sched_dest *d = j->dest;
	oi->rcpt_id = j->r[i].id;
	oi->at = now;
	if (r == NULL) {
		oi->state = QUEUE_RCPT_DEFERRED;
		oi->esc = "4.3.0";
		oi->reply = "no result from the delivery";
		oi->next_try = sched_retry_next(s->cfg, j->r[i].tries + 1, now, j->received_at);
		return;
	}
	sched_relay_text(r, mx, mxlen);
	oi->mx = mx[0] != '\0' ? mx : NULL;
	oi->code = r->code;
	oi->esc = r->esc;
	oi->reply = r->text;
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
			snprintf(reply, replylen, "message expired after %llds in the queue; "
			    "last reply: %s%s%s", (long long)(now - j->received_at), r->esc,
			    r->esc[0] != '\0' ? " " : "", r->text);
			oi->esc = "4.4.7";
			oi->reply = reply;
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

void sched_job_done(const struct mxr_result *res, size_t n, void *arg)
{
	struct sched_job *j = arg;
	struct sched *s = j->s;
	j->dlv = NULL;
	sched_job_unrun(s, j);
	queue_body_close(j->body);
	j->body = NULL;
	sched_fleet_release(s, j);
	struct sched_dest *d = j->dest;
	time_t now = time(NULL);
	bool backed_off = sched_job_judge_dest(s, j, res, n, now);

	size_t m = n < j->n ? n : j->n;
	struct queue_outcome *o = xcalloc(j->n ? j->n : 1, sizeof(*o));
	bool *passed = xcalloc(j->n ? j->n : 1, sizeof(*passed));
	char (*mx)[330] = xcalloc(j->n ? j->n : 1, sizeof(*mx));
	char (*reply)[640] = xcalloc(j->n ? j->n : 1, sizeof(*reply));
	bool expired = sched_retry_expired(s->cfg, j->received_at, now);
	for (size_t i = 0; i < j->n; i++) {
		const struct mxr_result *r = i < m ? &res[i] : NULL;
		passed[i] = r != NULL && r->dsn_passed;
		sched_job_outcome(s, j, i, r, now, expired, backed_off, &o[i], mx[i], sizeof(mx[i]),
		    reply[i], sizeof(reply[i]));
	}
	sched_record(s, j, o, passed, j->sender);
	free(reply);
	free(mx);
	free(passed);
	free(o);
	sched_job_free(j);

	if (backed_off)
		sched_job_defer_waiting(s, d, now);
	else
		sched_dest_ready(s->dests, d);
	sched_pump(s);
	sched_check_stopped(s);
}

/* A job that could not start: its recipients go back to the queue unchanged. */
static void sched_job_not_started(struct sched *s, struct sched_job *j)
{
	struct sched_dest *d = j->dest;
	sched_job_unrun(s, j);
	sched_fleet_release(s, j);
	sched_job_unclaim(s, j);
	sched_dest_ready(s->dests, d);
	sched_pump(s);
	sched_check_stopped(s);
}

/* The message and its body are read: hand them to the engine. */
static void sched_job_fetched(void *arg, struct queue_fetched *f)
{
	struct sched_op *op = arg;
	struct sched_job *j = op->job;
	struct sched *s = sched_op_end(op);
	if (s == NULL) {
		/* Orphaned by sched_free, which freed the job too. */
		queue_fetched_clear(f);
		return;
	}
	j->op = NULL;
	if (f->found != 1 || s->stopping) {
		if (f->found < 0)
			log_msg(LOG_LVL_WARN, "queue=%s event=read-failed reason=\"%s\"", j->msg_id,
			    f->err != NULL ? f->err : "");
		queue_fetched_clear(f);
		sched_job_not_started(s, j);
		return;
	}
	struct mxr_rcpt *rc = xcalloc(j->n ? j->n : 1, sizeof(*rc));
	for (size_t i = 0; i < j->n; i++)
		rc[i] = (struct mxr_rcpt){ .address = j->r[i].address, .notify = j->r[i].notify,
		    .orcpt = j->r[i].orcpt };
	const struct queue_msg *m = &f->m;
	struct mxr_message msg = {
		.sender = m->sender,
		.rcpts = rc,
		.nrcpts = j->n,
		.src = f->src,
		.body_8bit = m->body_8bit,
		.smtputf8 = m->smtputf8,
		.ret = m->ret,
		.envid = m->envid,
		.log_id = j->msg_id,
		.requiretls = m->requiretls,
		.tls_optional = m->tls_optional,
	};
	j->body = f->body;
	f->body = NULL;
	j->epoch = j->dest->epoch;
	j->sender = xstrdup(m->sender);
	j->started = sched_metrics_clock();
	s->stats.deliveries++;
	log_msg(LOG_LVL_INFO, "queue=%s event=delivery dest=%s domain=%s rcpts=%zu size=%llu%s%s",
	    j->msg_id, j->dest->key, j->domain, j->n, (unsigned long long)m->size,
	    j->slot > 0 ? " fleet_slot=" : "", j->slot > 0 ? "yes" : "");
	/* The engine copies the message; the body source stays open until done. */
	j->dlv = mxr_delivery_start(j->ctx, &msg, NULL, sched_job_done, j);
	free(rc);
	queue_fetched_clear(f);
}

void sched_job_read(struct sched *s, struct sched_job *j)
{
	struct sched_op *op = sched_op_new(s, SCHED_OP_START, j->msg_id);
	op->job = j;
	j->op = op;
	struct queue_fetch_req req = { .id = j->msg_id, .body = true };
	queue_fetch(s->q, &req, sched_job_fetched, op);
}

void sched_job_start(struct sched *s, struct sched_job *j)
{
	j->dest->running++;
	j->prev = NULL;
	j->next = s->running;
	if (s->running != NULL)
		s->running->prev = j;
	s->running = j;
	j->in_running = true;
	s->nrunning++;
	if (s->shared)
		sched_fleet_acquire(s, j);
	else
		sched_job_read(s, j);
}

void sched_job_requeue(struct sched *s, struct sched_job *j)
{
	sched_job_unrun(s, j);
	sched_dest_push_front(s->dests, j->dest, &j->link);
	s->waiting++;
}
