/*
 * sched_fleet: what the scheduler shares with the other nodes of a fleet
 * when its store is shared (queue_store_shared): a destination's delivery
 * slots (max_per_destination holds for the fleet, not per node) and its
 * backoff (a destination one node found unreachable is backed off for
 * all, and a recovery or a flush on one node lifts it for all).
 *
 * Owns: taking and giving back a job's slot, publishing this node's
 * backoff decisions, merging the fleet's into the destination table (the
 * later change wins, by the store's clock). Never: runs for a store one
 * node uses (the scheduler's memory is the whole truth then), or starts
 * a delivery without a slot.
 */
#include "sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config/config.h"
#include "util/log.h"

/* The store answered a slot request for the job of op. */
static void sched_fleet_slot(void *arg, int slot, const char *err)
{
	struct sched_op *op = arg;
	struct sched_job *j = op->job;
	struct sched *s = sched_op_end(op);
	if (s == NULL)
		return;		/* sched_free freed the job; a slot taken goes with the connection */
	j->op = NULL;
	if (slot > 0 && !s->stopping) {
		j->slot = slot;
		sched_job_read(s, j);
		return;
	}
	if (slot > 0)
		queue_dest_release(s->q, j->dest->key, slot);
	if (slot < 0)
		log_msg(LOG_LVL_WARN, "dest=%s event=fleet-slot-failed reason=\"%s\"", j->dest->key,
		    err != NULL ? err : "");
	/*
	 * Every slot is busy somewhere in the fleet: wait, first in line, and
	 * ask again shortly (or as soon as this node gives one back).
	 */
	j->dest->fleet_full = true;
	sched_job_requeue(s, j);
	if (s->fleet_ev != NULL && !evtimer_pending(s->fleet_ev, NULL)) {
		struct timeval tv = { 0, SCHED_FLEET_RETRY_MS * 1000 };
		evtimer_add(s->fleet_ev, &tv);
	}
	sched_pump(s);
	sched_check_stopped(s);
}

/* Time to ask again for the slots of the destinations that found them all taken. */
static void sched_fleet_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sched *s = arg;
	if (s->stopping)
		return;
	if (sched_dest_unfull_all(s->dests) > 0)
		sched_pump(s);
}

void sched_fleet_new(struct sched *s)
{
	if (!s->shared)
		return;
	s->fleet_ev = evtimer_new(s->base, sched_fleet_retry, s);
	if (s->fleet_ev == NULL)
		fatal("event=sched-new reason=\"cannot create events\"");
}

void sched_fleet_free(struct sched *s)
{
	if (s->fleet_ev != NULL)
		event_free(s->fleet_ev);
	s->fleet_ev = NULL;
}

void sched_fleet_acquire(struct sched *s, struct sched_job *j)
{
	unsigned per = s->cfg->max_per_destination ? s->cfg->max_per_destination : 1;
	struct sched_op *op = sched_op_new(s, SCHED_OP_START, j->msg_id);
	op->job = j;
	j->op = op;
	queue_dest_acquire(s->q, j->dest->key, per, sched_fleet_slot, op);
}

void sched_fleet_release(struct sched *s, struct sched_job *j)
{
	if (j->slot > 0) {
		queue_dest_release(s->q, j->dest->key, j->slot);
		/* A slot this node gives back is free: whoever waits here may have it now. */
		if (j->dest->fleet_full) {
			j->dest->fleet_full = false;
			sched_dest_ready(s->dests, j->dest);
		}
	}
	j->slot = 0;
}

void sched_fleet_publish(struct sched *s, const struct sched_dest *d)
{
	if (!s->shared)
		return;
	struct queue_dest_state st;
	memset(&st, 0, sizeof(st));
	snprintf(st.key, sizeof(st.key), "%s", d->key);
	st.failures = d->failures;
	st.backoff_from = d->backoff_from;
	st.backoff_until = d->backoff_until;
	snprintf(st.reason, sizeof(st.reason), "%s", d->reason);
	queue_dest_publish(s->q, &st);
}

/* Adopt one destination's state as the fleet has it, when it is newer than ours. */
static void sched_fleet_adopt(struct sched *s, const struct queue_dest_state *st, time_t now)
{
	struct sched_dest *d = sched_dest_get(s->dests, st->key);
	if (st->changed <= d->fleet_changed)
		return;
	d->fleet_changed = st->changed;
	if (st->failures == 0) {
		if (d->failures > 0)
			log_msg(LOG_LVL_INFO, "dest=%s event=reachable failures=%u note=fleet", d->key,
			    d->failures);
		sched_dest_succeeded(d);
		sched_dest_ready(s->dests, d);
		return;
	}
	bool newer = st->backoff_until > d->backoff_until || st->failures > d->failures;
	if (!newer)
		return;
	d->failures = st->failures;
	d->backoff_from = st->backoff_from;
	d->backoff_until = st->backoff_until;
	/* Deliveries started before this wave must not count it again. */
	d->epoch++;
	snprintf(d->reason, sizeof(d->reason), "%s", st->reason);
	log_msg(LOG_LVL_INFO, "dest=%s event=unreachable failures=%u backoff=%llds note=fleet",
	    d->key, d->failures, (long long)(d->backoff_until - now));
	if (sched_dest_backed_off(d, now))
		sched_job_defer_waiting(s, d, now);
}

/* The fleet's destinations changed since we last asked. */
static void sched_fleet_dests(void *arg, bool ok, const struct queue_dest_state *d, size_t n,
    const char *err)
{
	struct sched_op *op = arg;
	struct sched *s = sched_op_end(op);
	if (s == NULL)
		return;
	s->dests_fetching = false;
	if (!ok) {
		log_msg(LOG_LVL_DEBUG, "event=fleet-dests-failed reason=\"%s\"", err != NULL ? err : "");
	} else {
		time_t now = time(NULL);
		for (size_t i = 0; i < n; i++) {
			sched_fleet_adopt(s, &d[i], now);
			if (d[i].changed > s->dests_since)
				s->dests_since = d[i].changed;
		}
	}
	sched_pump(s);
	sched_check_stopped(s);
}

/* Failed recipients a dead node never bounced, finished messages it never removed. */
static void sched_fleet_recover(struct sched *s, time_t now)
{
	if (now < s->next_fleet_recover)
		return;
	s->next_fleet_recover = now + SCHED_FLEET_RECOVER_S;
	sched_bounce_recover(s, now - SCHED_FLEET_QUIET_S);
}

void sched_fleet_tick(struct sched *s, time_t now)
{
	if (!s->shared || s->stopping)
		return;
	size_t n = sched_dest_unfull_all(s->dests);
	if (n > 0)
		sched_pump(s);
	if (!s->dests_fetching) {
		s->dests_fetching = true;
		struct sched_op *op = sched_op_new(s, SCHED_OP_DESTS, "");
		queue_dest_fetch(s->q, s->dests_since, sched_fleet_dests, op);
	}
	sched_fleet_recover(s, now);
}
