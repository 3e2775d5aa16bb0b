/*
 * queue_commit: group commit. One writer thread takes every job queued
 * since its last transaction and applies them all in ONE transaction, so
 * one fsync covers them; then it hands them back to the loop, whose
 * callbacks learn that their data is durable.
 *
 * Owns: the writer thread, its SQLite connection and statements, the
 * pending and finished job lists (under q->mu), the wake pipe.
 * Never: runs a user callback on the writer thread, or marks a job ok
 * before COMMIT has returned SQLITE_OK.
 */
#include "queue_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "metrics/metrics_mail.h"
#include "util/log.h"
#include "util/xalloc.h"

sqlite3_stmt *queue_commit_stmt(struct queue_sqlite *q, enum queue_wstmt which, const char *sql,
    char *err, size_t errlen)
{
	if (q->ws[which] == NULL) {
		if (sqlite3_prepare_v3(q->wdb, sql, -1, SQLITE_PREPARE_PERSISTENT,
		    &q->ws[which], NULL) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "prepare", q->wdb);
			q->ws[which] = NULL;
			return NULL;
		}
	}
	/*
	 * reset answers the error of the statement's last step, which its
	 * caller has already seen and acted on; it resets the statement all
	 * the same. clear_bindings always succeeds.
	 */
	(void)sqlite3_reset(q->ws[which]);
	(void)sqlite3_clear_bindings(q->ws[which]);
	return q->ws[which];
}

/*
 * Run one of the batch's fixed statements (BEGIN, SAVEPOINT, RELEASE,
 * COMMIT), prepared once: a batch runs two of them per job, and parsing
 * them each time was a tenth of the writer's CPU.
 */
static bool queue_commit_run(struct queue_sqlite *q, enum queue_wstmt which, const char *sql,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = queue_commit_stmt(q, which, sql, err, errlen);
	if (st == NULL)
		return false;
	int rc = queue_store_step_reset(st);
	if (rc != SQLITE_DONE)
		queue_store_seterr(err, errlen, sql, q->wdb);
	return rc == SQLITE_DONE;
}

/*
 * Roll the whole transaction back (after a failed COMMIT, a savepoint
 * that could not be undone, or one left open by an earlier batch). False,
 * logged, when SQLite refused: the next BEGIN then fails too, and this
 * is tried again before it.
 */
static bool queue_commit_rollback(struct queue_sqlite *q, const char *why)
{
	if (sqlite3_get_autocommit(q->wdb))
		return true;
	if (sqlite3_exec(q->wdb, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK)
		return true;
	log_msg(LOG_LVL_ERR, "op=queue_commit event=rollback_failed reason=\"%s\" after=\"%s\"",
	    sqlite3_errmsg(q->wdb), why);
	return false;
}

/*
 * Undo one job's changes inside the batch: ROLLBACK TO its savepoint and
 * RELEASE it. False with why filled when either fails: the job's rows may
 * then still be in the transaction, which must not be committed.
 */
static bool queue_commit_undo_job(struct queue_sqlite *q, char *why, size_t whylen)
{
	if (sqlite3_exec(q->wdb, "ROLLBACK TO job", NULL, NULL, NULL) != SQLITE_OK) {
		queue_store_seterr(why, whylen, "ROLLBACK TO job", q->wdb);
		return false;
	}
	return queue_commit_run(q, QW_RELEASE, "RELEASE job", why, whylen);
}

/* Mark jobs from..until (exclusive) failed with the reason why. */
static void queue_commit_fail(struct queue_job *from, const struct queue_job *until,
    const char *why)
{
	for (struct queue_job *j = from; j != until; j = j->next) {
		if (j->ok || j->err[0] == '\0')
			snprintf(j->err, sizeof(j->err), "%s", why);
		j->ok = false;
	}
}

/* The monotonic clock in seconds, to time a transaction. */
static double queue_commit_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A transaction committed: its time from BEGIN to the end of COMMIT's fsync, its messages. */
static void queue_commit_count(struct queue_sqlite *q, double started, const struct queue_job *from,
    const struct queue_job *until)
{
	if (q->handle.metrics == NULL)
		return;
	unsigned nmsgs = 0;
	for (const struct queue_job *j = from; j != until; j = j->next)
		if (j->ok && j->new_message)
			nmsgs++;
	metrics_mail_commit(q->handle.metrics, queue_commit_clock() - started, nmsgs);
}

/*
 * Apply one batch: one transaction for all its jobs, each in a savepoint
 * so that one bad job is rolled back alone. When SQLite rolls the whole
 * transaction back by itself (it may on I/O errors and disk full), the
 * jobs applied so far fail and the rest go into a new transaction.
 */
static void queue_commit_batch(struct queue_sqlite *q, struct queue_job *batch,
    struct queue_store_stats *d)
{
	sqlite3 *db = q->wdb;
	char why[160];
	struct queue_job *j = batch;
	while (j != NULL) {
		double started = queue_commit_clock();
		if (!queue_commit_rollback(q, "a transaction left open") ||
		    !queue_commit_run(q, QW_BEGIN, "BEGIN IMMEDIATE", why, sizeof(why))) {
			if (!sqlite3_get_autocommit(db))
				snprintf(why, sizeof(why), "a transaction could not be rolled back");
			queue_commit_fail(j, NULL, why);
			d->failed_transactions++;
			log_msg(LOG_LVL_WARN, "op=queue_commit status=failed event=begin reason=\"%s\"",
			    why);
			return;
		}
		struct queue_job *first = j;
		bool lost = false;
		uint64_t n = 0;
		q->nspool_doomed = 0;
		for (; j != NULL && !lost; j = j->next) {
			size_t doomed = q->nspool_doomed;
			j->ok = false;
			j->err[0] = '\0';
			n++;
			if (!queue_commit_run(q, QW_SAVEPOINT, "SAVEPOINT job", j->err, sizeof(j->err)))
				;
			else if (j->apply(j, q, db, j->err, sizeof(j->err)))
				j->ok = queue_commit_run(q, QW_RELEASE, "RELEASE job", j->err,
				    sizeof(j->err));
			if (j->ok)
				continue;
			/* Its deletions are undone: so are the removals of their spool files. */
			q->nspool_doomed = doomed;
			if (j->err[0] == '\0')
				snprintf(j->err, sizeof(j->err), "queue write failed");
			if (sqlite3_get_autocommit(db)) {
				lost = true;
				snprintf(why, sizeof(why), "transaction rolled back: %.120s", j->err);
			} else if (!queue_commit_undo_job(q, why, sizeof(why))) {
				/*
				 * The failed job's rows may still be there: commit
				 * nothing of this transaction, the jobs before it fail
				 * with it, the rest go into a new one.
				 */
				lost = true;
				queue_commit_rollback(q, why);
			}
		}
		if (lost) {
			q->nspool_doomed = 0;
			queue_commit_fail(first, j, why);
			d->failed_transactions++;
			log_msg(LOG_LVL_WARN, "op=queue_commit status=failed jobs=%llu reason=\"%s\"",
			    (unsigned long long)n, why);
			continue;
		}
		/*
		 * The names of the spool files this batch commits must survive a
		 * crash as surely as the rows naming them: one directory fsync
		 * for the batch, before the COMMIT.
		 */
		bool dir_ok = true;
		if (q->spool_dir_unsynced) {
			dir_ok = queue_spool_sync_dir(q, why, sizeof(why));
			q->spool_dir_unsynced = false;
		}
		/* The one fsync of this batch happens here (WAL, synchronous=FULL). */
		if (!dir_ok || !queue_commit_run(q, QW_COMMIT, "COMMIT", why, sizeof(why))) {
			q->nspool_doomed = 0;
			queue_commit_rollback(q, why);
			queue_commit_fail(first, j, why);
			d->failed_transactions++;
			log_msg(LOG_LVL_WARN, "op=queue_commit status=failed jobs=%llu reason=\"%s\"",
			    (unsigned long long)n, why);
			continue;
		}
		queue_commit_count(q, started, first, j);
		/* Only now are the messages of these files gone for good. */
		queue_spool_remove_doomed(q);
		d->transactions++;
		if (n > d->max_batch)
			d->max_batch = n;
	}
}

/*
 * The jobs of batch that failed for want of room and may use the reserve
 * (outcomes, deletions, bounces): give the reserve's room back and apply
 * them again, in their order. The others' failures stand (new mail: 452).
 */
static void queue_commit_retry_full(struct queue_sqlite *q, struct queue_job *batch,
    struct queue_store_stats *d)
{
	size_t n = 0;
	for (struct queue_job *j = batch; j != NULL; j = j->next)
		if (!j->ok && j->uses_reserve && queue_reserve_full_error(NULL, j->err))
			n++;
	if (n == 0 || !queue_reserve_release(q->dir, "queue file system full"))
		return;
	q->reserve_held = false;
	struct queue_job **retry = xreallocarray(NULL, n, sizeof(*retry));
	size_t k = 0;
	for (struct queue_job *j = batch; j != NULL; j = j->next)
		if (!j->ok && j->uses_reserve && queue_reserve_full_error(NULL, j->err))
			retry[k++] = j;
	/* Linked among themselves for the retry, then back into the batch's order. */
	struct queue_job **after = xreallocarray(NULL, n, sizeof(*after));
	for (k = 0; k < n; k++) {
		after[k] = retry[k]->next;
		retry[k]->next = k + 1 < n ? retry[k + 1] : NULL;
	}
	queue_commit_batch(q, retry[0], d);
	for (k = 0; k < n; k++)
		retry[k]->next = after[k];
	free(after);
	free(retry);
}

/* The writer thread: wait for jobs, apply them in batches, hand them back. */
static void *queue_commit_main(void *arg)
{
	struct queue_sqlite *q = arg;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->pending == NULL && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->pending == NULL)
			break;
		struct queue_job *batch = q->pending;
		q->pending = NULL;
		q->pending_tail = &q->pending;
		uint32_t max_pages = q->max_pages;
		unsigned busy_ms = q->busy_ms;
		q->max_pages = 0;
		q->busy_ms = 0;
		pthread_mutex_unlock(&q->mu);

		if (busy_ms != 0 && sqlite3_busy_timeout(q->wdb, (int)busy_ms) != SQLITE_OK)
			log_msg(LOG_LVL_WARN, "op=queue_busy_timeout ms=%u status=failed reason=\"%s\"",
			    busy_ms, sqlite3_errmsg(q->wdb));

		if (max_pages != 0) {
			char sql[64];
			snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%u", max_pages);
			if (sqlite3_exec(q->wdb, sql, NULL, NULL, NULL) != SQLITE_OK)
				log_msg(LOG_LVL_WARN, "op=queue_max_pages pages=%u status=failed "
				    "reason=\"%s\"", max_pages, sqlite3_errmsg(q->wdb));
		}
		struct queue_store_stats d = { 0 };
		/* A reserve given back is made again as soon as there is room (rarely: a stat per batch). */
		q->reserve_held = queue_reserve_present(q) || queue_reserve_reclaim(q);
		queue_commit_batch(q, batch, &d);
		queue_commit_retry_full(q, batch, &d);

		pthread_mutex_lock(&q->mu);
		struct queue_job *last = NULL;
		for (struct queue_job *j = batch; j != NULL; j = j->next) {
			if (j->ok)
				q->stats.jobs_ok++;
			else
				q->stats.jobs_failed++;
			last = j;
		}
		*q->finished_tail = batch;
		q->finished_tail = &last->next;
		q->stats.transactions += d.transactions;
		q->stats.failed_transactions += d.failed_transactions;
		if (d.max_batch > q->stats.max_batch)
			q->stats.max_batch = d.max_batch;
		/* A full pipe already means "look"; nothing is lost by EAGAIN. */
		if (write(q->wake_fd[1], "x", 1) < 0 && errno != EAGAIN && errno != EINTR)
			log_msg(LOG_LVL_ERR, "op=queue_wake status=failed reason=\"%s\"",
			    strerror(errno));

		/*
		 * Checkpoint only when the WAL has grown and no job waits, after
		 * the callbacks are on their way: its fsyncs then delay nobody.
		 * Under unbroken load, do it anyway before the WAL grows large.
		 */
		if ((q->wal_frames >= QUEUE_CKPT_FRAMES && q->pending == NULL) ||
		    q->wal_frames >= 8 * QUEUE_CKPT_FRAMES) {
			pthread_mutex_unlock(&q->mu);
			int rc = sqlite3_wal_checkpoint_v2(q->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE,
			    NULL, NULL);
			q->wal_frames = 0;
			/* Committed data is durable without it; a failed one is tried again later. */
			if (rc != SQLITE_OK)
				log_msg(rc == SQLITE_BUSY ? LOG_LVL_DEBUG : LOG_LVL_WARN,
				    "op=queue_checkpoint status=failed reason=\"%s\"",
				    sqlite3_errmsg(q->wdb));
			pthread_mutex_lock(&q->mu);
			if (rc == SQLITE_OK)
				q->stats.checkpoints++;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Writer thread, after each commit: remember how large the WAL is. */
static int queue_commit_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct queue_sqlite *q = arg;
	(void)db;
	(void)name;
	q->wal_frames = frames;
	return SQLITE_OK;
}

/* Run the callbacks of every finished job, on the calling (loop) thread. */
static void queue_commit_run_finished(struct queue_sqlite *q)
{
	pthread_mutex_lock(&q->mu);
	struct queue_job *j = q->finished;
	q->finished = NULL;
	q->finished_tail = &q->finished;
	pthread_mutex_unlock(&q->mu);
	while (j != NULL) {
		struct queue_job *next = j->next;
		j->done(j, j->ok, j->ok ? NULL : j->err);
		j = next;
	}
}

/* Loop event: the writer thread has finished jobs for us. */
static void queue_commit_on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	char buf[256];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	queue_commit_run_finished(arg);
}

int queue_commit_start(struct queue_sqlite *q, char *err, size_t errlen)
{
	if (pipe2(q->wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		q->wake_fd[0] = q->wake_fd[1] = -1;
		return -1;
	}
	q->wdb = queue_store_connect(q->path, false, err, errlen);
	if (q->wdb == NULL)
		return -1;
	sqlite3_wal_hook(q->wdb, queue_commit_wal_hook, q);
	q->wake_ev = event_new(q->base, q->wake_fd[0], EV_READ | EV_PERSIST,
	    queue_commit_on_wake, q);
	if (q->wake_ev == NULL || event_add(q->wake_ev, NULL) != 0) {
		snprintf(err, errlen, "event_new failed");
		return -1;
	}
	int rc = pthread_create(&q->thread, NULL, queue_commit_main, q);
	if (rc != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(rc));
		return -1;
	}
	q->thread_running = true;
	return 0;
}

void queue_commit_stop(struct queue_sqlite *q)
{
	if (q->thread_running) {
		pthread_mutex_lock(&q->mu);
		/* Spool sync threads still hand their jobs in: let them, first. */
		while (q->spool_syncing > 0)
			pthread_cond_wait(&q->spool_sync_cv, &q->mu);
		q->stop = true;
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->thread, NULL);
		q->thread_running = false;
	}
	/* Callbacks may submit more; those fail at once (q->stop) and land here. */
	for (;;) {
		pthread_mutex_lock(&q->mu);
		bool more = q->finished != NULL;
		q->stop = true;
		pthread_mutex_unlock(&q->mu);
		if (!more)
			break;
		queue_commit_run_finished(q);
	}
	/* finalize answers the statement's last error, already handled when it happened. */
	for (size_t i = 0; i < QW_COUNT_; i++) {
		(void)sqlite3_finalize(q->ws[i]);
		q->ws[i] = NULL;
	}
	if (sqlite3_close(q->wdb) != SQLITE_OK)
		log_msg(LOG_LVL_WARN, "op=queue_close connection=writer status=failed reason=\"%s\"",
		    sqlite3_errmsg(q->wdb));
	q->wdb = NULL;
	if (q->wake_ev != NULL)
		event_free(q->wake_ev);
	q->wake_ev = NULL;
	for (int i = 0; i < 2; i++) {
		if (q->wake_fd[i] >= 0)
			close(q->wake_fd[i]);
		q->wake_fd[i] = -1;
	}
	free(q->spool_doomed);
	q->spool_doomed = NULL;
	q->nspool_doomed = q->spool_doomed_cap = 0;
}

void queue_commit_submit(struct queue_sqlite *q, struct queue_job *j)
{
	if (q->base == NULL)
		panic("op=queue_commit_submit reason=\"store opened without a loop\"");
	j->next = NULL;
	j->ok = false;
	j->err[0] = '\0';
	pthread_mutex_lock(&q->mu);
	if (q->stop) {
		snprintf(j->err, sizeof(j->err), "queue is closing");
		*q->finished_tail = j;
		q->finished_tail = &j->next;
	} else {
		*q->pending_tail = j;
		q->pending_tail = &j->next;
		pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
}
