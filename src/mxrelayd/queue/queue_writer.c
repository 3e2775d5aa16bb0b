/*
 * queue_writer: one new message on its way into the queue: its id, its
 * octets as they arrive, then the commit job that writes envelope,
 * recipients and body in the writer thread's transaction.
 *
 * Owns: the message buffer (in memory up to QUEUE_SPILL octets, then the
 * message's spool file, see queue_spool.c) and the copy of the envelope.
 * Never: holds a large body in memory, or leaves a spool file behind for
 * a message that was not committed.
 */
#include "queue_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"

struct queue_sqlite_writer {
	struct queue_writer handle;	/* first: what the callers hold */
	struct queue_job job;		/* the commit job (queue_writer_of_job) */
	struct queue_sqlite *q;		/* not owned */
	char id[QUEUE_ID_LEN + 1];
	struct queue_text_in text;	/* in memory, or its spool file */
	bool spooled;			/* the spool file exists: remove it unless committed */
	bool committed;			/* set in done: the spool file now belongs to the queue */
	bool spool_synced;		/* its sync thread fdatasynced the spool file */
	int spool_sync_errno;		/* what that fdatasync failed with, or 0 */
	uint64_t kicked;		/* octets of the spool file whose write-back was started */
	struct queue_envelope env;	/* deep copy; strings owned */
	struct queue_rcpt_in *rcpts;	/* owned, env.rcpts points here */
	int64_t *bounce_for;		/* owned: recipients this bounce finishes */
	size_t nbounce_for;
	queue_commit_cb *cb;
	void *arg;
};

/* The writer a caller holds, as this backend's. */
static struct queue_sqlite_writer *queue_sqlite_writer_of(struct queue_writer *writer)
{
	return (struct queue_sqlite_writer *)writer;
}

static const struct queue_sqlite_writer *queue_sqlite_writer_cof(
    const struct queue_writer *writer)
{
	return (const struct queue_sqlite_writer *)writer;
}

/* The writer whose commit job j is. */
static struct queue_sqlite_writer *queue_writer_of_job(struct queue_job *j)
{
	return (struct queue_sqlite_writer *)(void *)((char *)j -
	    offsetof(struct queue_sqlite_writer, job));
}

struct queue_writer *queue_sqlite_writer_new(struct queue_store *store)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	struct queue_sqlite_writer *w = xcalloc(1, sizeof(*w));
	w->handle.store = store;
	w->q = q;
	queue_text_in_init(&w->text);
	queue_id_new(w->id);
	return &w->handle;
}

const char *queue_sqlite_writer_id(const struct queue_writer *writer)
{
	const struct queue_sqlite_writer *w = queue_sqlite_writer_cof(writer);
	return w->id;
}

uint64_t queue_sqlite_writer_size(const struct queue_writer *writer)
{
	const struct queue_sqlite_writer *w = queue_sqlite_writer_cof(writer);
	return w->text.size;
}

/*
 * Start write-back of what the spool file got since the last kick, without
 * waiting for it: the fdatasync before the commit then has little left to
 * wait for, so a large message's 250 does not wait for all of it at once.
 */
static void queue_writer_kick(struct queue_sqlite_writer *w, uint64_t written, bool last)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (written == w->kicked || (!last && written - w->kicked < QUEUE_SPOOL_KICK))
		return;
	(void)sync_file_range(w->text.fd, (off64_t)w->kicked, (off64_t)(written - w->kicked),
	    SYNC_FILE_RANGE_WRITE);
	w->kicked = written;
#else
	(void)w;
	(void)written;
	(void)last;
#endif
}

/* The text outgrew memory: the message's spool file takes it. */
static int queue_writer_spill(void *arg, char *err, size_t errlen)
{
	struct queue_sqlite_writer *w = arg;
	int fd = queue_spool_create(w->q, w->id, err, errlen);
	w->spooled = fd >= 0;
	return fd;
}

int queue_sqlite_writer_append(struct queue_writer *writer, const void *data, size_t len)
{
	struct queue_sqlite_writer *w = queue_sqlite_writer_of(writer);
	if (queue_text_in_append(&w->text, data, len, QUEUE_SPILL, queue_writer_spill, w) < 0)
		return -1;
	if (w->text.fd >= 0)
		queue_writer_kick(w, w->text.size, false);
	return 0;
}

void queue_sqlite_writer_bounce_for(struct queue_writer *writer, const int64_t *rcpt_ids,
    size_t n)
{
	struct queue_sqlite_writer *w = queue_sqlite_writer_of(writer);
	queue_ids_append(&w->bounce_for, &w->nbounce_for, rcpt_ids, n);
}

/* Free a writer and everything it owns. */
static void queue_writer_free(struct queue_sqlite_writer *w)
{
	if (w == NULL)
		return;
	queue_text_in_clear(&w->text);
	if (w->spooled && !w->committed)
		queue_spool_remove(w->q, w->id);
	queue_envelope_clear(&w->env, w->rcpts);
	free(w->bounce_for);
	free(w);
}

void queue_sqlite_writer_abort(struct queue_writer *writer)
{
	struct queue_sqlite_writer *w = queue_sqlite_writer_of(writer);
	queue_writer_free(w);
}

/* Insert a body held in memory as chunks of QUEUE_CHUNK octets. */
static bool queue_writer_put_body(struct queue_sqlite_writer *w, struct queue_sqlite *q,
    char *err, size_t errlen)
{
	uint64_t off = 0;
	int64_t seq = 0;
	while (off < w->text.memlen) {
		size_t n = w->text.memlen - off > QUEUE_CHUNK ? QUEUE_CHUNK : (size_t)(w->text.memlen - off);
		sqlite3_stmt *st = queue_commit_stmt(q, QW_INS_BODY,
		    "INSERT INTO body(msg_id, seq, data) VALUES (?, ?, ?)", err, errlen);
		if (st == NULL)
			return false;
		if (sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, seq) != SQLITE_OK ||
		    sqlite3_bind_blob(st, 3, w->text.mem + off, (int)n, SQLITE_STATIC) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "bind body", q->wdb);
			return false;
		}
		if (queue_store_step_reset(st) != SQLITE_DONE) {
			queue_store_seterr(err, errlen, "insert body", q->wdb);
			return false;
		}
		off += n;
		seq++;
	}
	return true;
}

/*
 * Make a spooled body durable before the row that names it is inserted.
 * fdatasync, not fsync: it also writes the file size (needed to read the
 * data back); times are not. Usually its sync thread has done it already
 * (queue_writer_sync_main). The directory entry is fsynced once per
 * batch, before its COMMIT (queue_commit.c).
 */
static bool queue_writer_sync_spool(struct queue_sqlite_writer *w, struct queue_sqlite *q,
    char *err, size_t errlen)
{
	if (!w->spool_synced && fdatasync(w->text.fd) != 0)
		w->spool_sync_errno = errno;
	w->spool_synced = true;
	if (w->spool_sync_errno != 0) {
		snprintf(err, errlen, "spool fsync: %s", strerror(w->spool_sync_errno));
		return false;
	}
	q->spool_dir_unsynced = true;
	return true;
}

/*
 * A thread of its own per spooled message: fdatasync its file, then hand
 * the commit job to the writer thread. Messages that end together are
 * synced at the same time, so the file system commits their data in one
 * journal commit, where the writer thread would wait for each in turn.
 */
static void *queue_writer_sync_main(void *arg)
{
	struct queue_sqlite_writer *w = arg;
	struct queue_sqlite *q = w->q;
	if (fdatasync(w->text.fd) != 0)
		w->spool_sync_errno = errno;
	w->spool_synced = true;
	queue_commit_submit(q, &w->job);
	pthread_mutex_lock(&q->mu);
	q->spool_syncing--;
	pthread_cond_broadcast(&q->spool_sync_cv);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Writer thread: insert the envelope, the recipients and the body. */
static bool queue_writer_apply(struct queue_job *j, struct queue_sqlite *q, sqlite3 *db,
    char *err, size_t errlen)
{
	struct queue_sqlite_writer *w = queue_writer_of_job(j);
	const struct queue_envelope *e = &w->env;
	if (w->text.failed) {
		snprintf(err, errlen, "%s", w->text.ferr);
		return false;
	}
	if (!q->reserve_held && !j->uses_reserve) {
		snprintf(err, errlen, "queue file system full: its reserve is in use");
		return false;
	}
	sqlite3_stmt *st = queue_commit_stmt(q, QW_INS_MSG,
	    "INSERT INTO messages(id, sender, envid, ret, smtputf8, body_8bit, client_ip,"
	    " client_helo, auth_user, protocol, received_at, size, body_file, requiretls,"
	    " tls_optional, prefix) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", err, errlen);
	if (st == NULL)
		return false;
	if (w->spooled && !queue_writer_sync_spool(w, q, err, errlen))
		return false;
	if (sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    queue_store_bind_text(st, 2, e->sender) != SQLITE_OK ||
	    queue_store_bind_text(st, 3, e->envid) != SQLITE_OK ||
	    sqlite3_bind_int(st, 4, (int)e->ret) != SQLITE_OK ||
	    sqlite3_bind_int(st, 5, e->smtputf8) != SQLITE_OK ||
	    sqlite3_bind_int(st, 6, e->body_8bit) != SQLITE_OK ||
	    queue_store_bind_text(st, 7, e->client_ip) != SQLITE_OK ||
	    queue_store_bind_text(st, 8, e->client_helo) != SQLITE_OK ||
	    queue_store_bind_text(st, 9, e->auth_user) != SQLITE_OK ||
	    queue_store_bind_text(st, 10, e->protocol) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 11, (sqlite3_int64)e->received_at) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 12, (sqlite3_int64)(w->text.size + e->prefix_len)) != SQLITE_OK ||
	    sqlite3_bind_int(st, 13, w->spooled) != SQLITE_OK ||
	    sqlite3_bind_int(st, 14, e->requiretls) != SQLITE_OK ||
	    sqlite3_bind_int(st, 15, e->tls_optional) != SQLITE_OK ||
	    (e->prefix != NULL ? sqlite3_bind_blob(st, 16, e->prefix, (int)e->prefix_len,
	    SQLITE_STATIC) : sqlite3_bind_null(st, 16)) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "bind message", db);
		return false;
	}
	int rc = queue_store_step_reset(st);
	if (rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "insert message", db);
		return false;
	}
	for (size_t i = 0; i < e->nrcpts; i++) {
		char domain[256];
		queue_store_domain(e->rcpts[i].address, domain, sizeof(domain));
		st = queue_commit_stmt(q, QW_INS_RCPT,
		    "INSERT INTO recipients(msg_id, address, domain, orcpt, notify, next_try,"
		    " updated_at) VALUES (?,?,?,?,?,?,?)", err, errlen);
		if (st == NULL)
			return false;
		if (sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC) != SQLITE_OK ||
		    queue_store_bind_text(st, 2, e->rcpts[i].address) != SQLITE_OK ||
		    sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC) != SQLITE_OK ||
		    queue_store_bind_text(st, 4, e->rcpts[i].orcpt) != SQLITE_OK ||
		    sqlite3_bind_int(st, 5, (int)e->rcpts[i].notify) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 6, (sqlite3_int64)e->received_at) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 7, (sqlite3_int64)e->received_at) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "bind recipient", db);
			return false;
		}
		rc = queue_store_step_reset(st);
		if (rc != SQLITE_DONE) {
			queue_store_seterr(err, errlen, "insert recipient", db);
			return false;
		}
	}
	if (!w->spooled && !queue_writer_put_body(w, q, err, errlen))
		return false;
	for (size_t i = 0; i < w->nbounce_for; i++) {
		st = queue_commit_stmt(q, QW_BOUNCED, QUEUE_SQL_BOUNCED, err, errlen);
		if (st == NULL)
			return false;
		if (sqlite3_bind_int64(st, 1, (sqlite3_int64)e->received_at) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, w->bounce_for[i]) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "bind bounced", db);
			return false;
		}
		rc = queue_store_step_reset(st);
		if (rc != SQLITE_DONE) {
			queue_store_seterr(err, errlen, "mark bounced", db);
			return false;
		}
	}
	return true;
}

/* Loop thread: tell the session, log, free. */
static void queue_writer_done(struct queue_job *j, bool ok, const char *err)
{
	struct queue_sqlite_writer *w = queue_writer_of_job(j);
	w->committed = ok;
	if (ok)
		log_msg(LOG_LVL_DEBUG, "op=queue_commit queue=%s size=%llu rcpts=%zu status=ok",
		    w->id, (unsigned long long)w->text.size, w->env.nrcpts);
	else
		log_msg(LOG_LVL_WARN, "op=queue_commit queue=%s size=%llu status=failed reason=\"%s\"",
		    w->id, (unsigned long long)w->text.size, err);
	if (w->cb != NULL)
		w->cb(w->arg, ok, err);
	queue_writer_free(w);
}

/* Start w's sync thread, which submits its job; false (nothing started) if it cannot. */
static bool queue_writer_sync_start(struct queue_sqlite_writer *w)
{
	struct queue_sqlite *q = w->q;
	pthread_attr_t attr;
	pthread_t t;
	if (pthread_attr_init(&attr) != 0)
		return false;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&q->mu);
	bool stopping = q->stop;
	if (!stopping)
		q->spool_syncing++;
	pthread_mutex_unlock(&q->mu);
	bool started = !stopping && pthread_create(&t, &attr, queue_writer_sync_main, w) == 0;
	pthread_attr_destroy(&attr);
	if (!started && !stopping) {
		pthread_mutex_lock(&q->mu);
		q->spool_syncing--;
		pthread_mutex_unlock(&q->mu);
	}
	return started;
}

void queue_sqlite_writer_commit(struct queue_writer *writer, const struct queue_envelope *env,
    queue_commit_cb *cb, void *arg)
{
	struct queue_sqlite_writer *w = queue_sqlite_writer_of(writer);
	w->cb = cb;
	w->arg = arg;
	queue_envelope_copy(&w->env, &w->rcpts, env);
	/*
	 * The rest of a spool file starts on its way to the disk now, so
	 * that its fdatasync waits only for what is still in flight.
	 */
	if (w->text.fd >= 0 && !w->text.failed)
		queue_writer_kick(w, w->text.size, true);
	w->job.apply = queue_writer_apply;
	/* A bounce must get out even on a full disk; new mail must not eat the reserve. */
	w->job.uses_reserve = w->nbounce_for > 0;
	w->job.new_message = true;
	w->job.done = queue_writer_done;
	if (w->text.fd >= 0 && !w->text.failed && queue_writer_sync_start(w))
		return;
	queue_commit_submit(w->q, &w->job);
}
