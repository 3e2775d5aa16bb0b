/*
 * queue_pg_commit: the PostgreSQL backend's group commit. New messages,
 * outcomes, bounces and deletions are jobs; every job waiting when a
 * commit connection is free goes into one transaction (one request of
 * its pipeline: all the jobs' statements, then the sync point, where the
 * server commits and flushes its WAL once for all of them). With two
 * commit connections, a batch is built and sent while the other one's
 * flush runs, and the server's own group commit joins their flushes (and
 * those of the fleet's other nodes).
 *
 * Owns: the jobs between submit and done, the batches in flight, the
 * rule for a batch that fails: a job's own error (a DSN whose recipients
 * another node bounced first) rolls back the whole transaction, so each
 * of its jobs is sent again alone and only the bad one fails; a lost
 * connection fails them all, but for those that wait for the server to
 * come back (outcomes: failing them would deliver the mail again).
 * Never: reports a job durable before its transaction's sync point came
 * back without an error; runs a callback inside queue_pg_commit_submit.
 */
#include "queue_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "metrics/metrics_mail.h"
#include "util/log.h"
#include "util/xalloc.h"

/* The batch on one commit connection. */
struct queue_pg_batch {
	struct queue_pg *q;
	size_t conn;			/* its index in q->commit */
	struct queue_pg_job **jobs;	/* owned array, the jobs not */
	size_t n;
	size_t cursor;			/* the job results are for now */
	unsigned nmsgs;
	double started;
};

double queue_pg_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void queue_pg_commit_submit(struct queue_pg *q, struct queue_pg_job *j)
{
	j->seq = ++q->job_seq;
	j->next = NULL;
	*q->pending_tail = j;
	q->pending_tail = &j->next;
	q->npending++;
	if (q->kick_ev != NULL)
		event_active(q->kick_ev, 0, 0);
}

/* Put jobs[0..n) back at the head of the pending list, in order. */
static void queue_pg_commit_requeue(struct queue_pg *q, struct queue_pg_job **jobs, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		struct queue_pg_job *j = jobs[i];
		j->next = q->pending;
		q->pending = j;
		if (q->pending_tail == &q->pending)
			q->pending_tail = &j->next;
		q->npending++;
	}
}

/* Take the first job waiting, or NULL. */
static struct queue_pg_job *queue_pg_commit_pop(struct queue_pg *q)
{
	struct queue_pg_job *j = q->pending;
	if (j == NULL)
		return NULL;
	q->pending = j->next;
	if (q->pending == NULL)
		q->pending_tail = &q->pending;
	q->npending--;
	j->next = NULL;
	return j;
}

/* The result of one statement of the batch: to the job it belongs to. */
static void queue_pg_commit_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg_batch *b = arg;
	while (b->cursor < b->n && idx >= b->jobs[b->cursor]->first + b->jobs[b->cursor]->nq)
		b->cursor++;
	if (b->cursor >= b->n)
		return;
	struct queue_pg_job *j = b->jobs[b->cursor];
	if (idx >= j->first && j->result != NULL)
		j->result(j, idx - j->first, res);
}

/* The transaction ended: every job durable, or what is to be done with each. */
static void queue_pg_commit_done(void *arg, bool ok, const char *err)
{
	struct queue_pg_batch *b = arg;
	struct queue_pg *q = b->q;
	bool lost = !queue_pg_conn_ready(q->commit[b->conn]);
	if (ok) {
		q->stats.transactions++;
		q->stats.jobs_ok += b->n;
		if (b->n > q->stats.max_batch)
			q->stats.max_batch = b->n;
		if (q->handle.metrics != NULL)
			metrics_mail_commit(q->handle.metrics, queue_pg_clock() - b->started,
			    b->nmsgs);
		for (size_t i = 0; i < b->n; i++)
			b->jobs[i]->done(b->jobs[i], true, NULL);
	} else if (!lost && b->n > 1) {
		/* One job's statement failed and took the transaction with it: each alone now. */
		q->stats.failed_transactions++;
		log_msg(LOG_LVL_DEBUG, "op=queue_pg event=batch-failed jobs=%zu reason=\"%s\"", b->n,
		    err != NULL ? err : "");
		for (size_t i = 0; i < b->n; i++)
			b->jobs[i]->failed = true;	/* "alone" from now on */
		queue_pg_commit_requeue(q, b->jobs, b->n);
	} else {
		q->stats.failed_transactions++;
		size_t keep = 0;
		for (size_t i = 0; i < b->n; i++) {
			struct queue_pg_job *j = b->jobs[i];
			if (lost && j->wait_while_down) {
				j->failed = false;
				b->jobs[keep++] = j;
				continue;
			}
			q->stats.jobs_failed++;
			j->done(j, false, err != NULL ? err : "commit failed");
		}
		queue_pg_commit_requeue(q, b->jobs, keep);
	}
	free(b->jobs);
	free(b);
	queue_pg_commit_pump(q);
}

/* Batch order: by the message a job locks; jobs locking none first, in their order. */
static int queue_pg_commit_cmp(const void *a, const void *b)
{
	const struct queue_pg_job *x = *(struct queue_pg_job *const *)a;
	const struct queue_pg_job *y = *(struct queue_pg_job *const *)b;
	int c = strcmp(x->key, y->key);
	if (c != 0)
		return c;
	/* qsort is not stable: equal keys keep their submit order by its sequence number. */
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Send the next batch on commit connection i: the jobs waiting (one, when it must go alone). */
static void queue_pg_commit_send(struct queue_pg *q, size_t i)
{
	struct queue_pg_batch *b = xcalloc(1, sizeof(*b));
	b->q = q;
	b->conn = i;
	b->started = queue_pg_clock();
	size_t cap = q->npending < QUEUE_PG_BATCH_MAX ? q->npending : QUEUE_PG_BATCH_MAX;
	b->jobs = xcalloc(cap ? cap : 1, sizeof(*b->jobs));
	bool alone = q->pending->failed;
	while (b->n < cap && q->pending != NULL) {
		if (b->n > 0 && (alone || q->pending->failed))
			break;
		b->jobs[b->n++] = queue_pg_commit_pop(q);
	}
	/* Rows locked in one order by every batch: two batches never wait on each other in a cycle. */
	if (b->n > 1)
		qsort(b->jobs, b->n, sizeof(*b->jobs), queue_pg_commit_cmp);
	struct queue_pg_req *r = queue_pg_req_begin(q->commit[i], queue_pg_commit_result,
	    queue_pg_commit_done, b);
	int idx = 0;
	bool announce = false;
	for (size_t k = 0; k < b->n; k++) {
		struct queue_pg_job *j = b->jobs[k];
		j->first = idx;
		j->nq = j->send(j, r);
		idx += j->nq;
		if (j->new_message) {
			announce = true;
			b->nmsgs++;
		}
	}
	/* Heard by every node's scheduler when the transaction commits, not before. */
	if (announce) {
		const char *v[1] = { q->node };
		queue_pg_req_stmt(r, QPG_NOTIFY, 1, v, NULL, NULL, 0);
	}
	queue_pg_req_end(r);
}

void queue_pg_commit_pump(struct queue_pg *q)
{
	if (q->base == NULL)
		return;
	bool any_ready = false;
	for (size_t i = 0; i < QUEUE_PG_COMMITTERS; i++) {
		if (!queue_pg_conn_ready(q->commit[i]))
			continue;
		any_ready = true;
		if (q->pending != NULL && queue_pg_conn_idle(q->commit[i]))
			queue_pg_commit_send(q, i);
	}
	if (!any_ready)
		queue_pg_commit_fail_waiting(q, "database not connected");
}

void queue_pg_commit_fail_waiting(struct queue_pg *q, const char *err)
{
	bool any_ready = false;
	for (size_t i = 0; i < QUEUE_PG_COMMITTERS; i++)
		any_ready = any_ready || queue_pg_conn_ready(q->commit[i]);
	if (any_ready)
		return;
	/* New mail fails at once (the client is answered 451); outcomes wait for the server. */
	struct queue_pg_job *keep = NULL, **keep_tail = &keep;
	struct queue_pg_job *drop = NULL, **drop_tail = &drop;
	size_t nkeep = 0;
	struct queue_pg_job *j;
	while ((j = queue_pg_commit_pop(q)) != NULL) {
		if (j->wait_while_down) {
			*keep_tail = j;
			keep_tail = &j->next;
			nkeep++;
		} else {
			*drop_tail = j;
			drop_tail = &j->next;
		}
	}
	q->pending = keep;
	q->pending_tail = keep != NULL ? keep_tail : &q->pending;
	q->npending = nkeep;
	/* The list is whole again before any callback runs (one may submit). */
	while (drop != NULL) {
		j = drop;
		drop = j->next;
		q->stats.jobs_failed++;
		j->done(j, false, err);
	}
}

void queue_pg_commit_close(struct queue_pg *q)
{
	struct queue_pg_job *j;
	while ((j = queue_pg_commit_pop(q)) != NULL)
		j->done(j, false, "queue closing");
}
