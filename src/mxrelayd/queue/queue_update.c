/*
 * queue_update: changes to queued messages. Delivery outcomes, bounces
 * and deletion of finished messages go through the group-commit writer
 * (many share one fsync); the command line's hold, release, delete and
 * flush run synchronously on the read connection.
 *
 * Owns: the recipient state transitions and the history rows. Never:
 * moves a recipient out of a final state (delivered, bounced), or deletes
 * a message with an undone recipient unless told to (queue_update_delete).
 */
#include "queue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_rr.h"
#include "util/log.h"
#include "util/xalloc.h"

/* ---- shared: delete a message and everything that hangs off it ---- */

static const char *const queue_update_delete_sql[] = {
	"DELETE FROM history WHERE rcpt_id IN (SELECT id FROM recipients WHERE msg_id = ?1)",
	"DELETE FROM body WHERE msg_id = ?1",
	"DELETE FROM recipients WHERE msg_id = ?1",
	"DELETE FROM messages WHERE id = ?1 RETURNING body_file",
};

/*
 * Run the four deletes on db (with q: the writer's kept statements);
 * *deleted = a message row went, *spooled = its body is a spool file,
 * which the caller removes once the deletion is committed.
 */
static bool queue_update_purge(sqlite3 *db, struct queue_sqlite *q, const char *id,
    bool *deleted, bool *spooled, char *err, size_t errlen)
{
	*deleted = false;
	*spooled = false;
	static const enum queue_wstmt which[] = { QW_DEL_HIST, QW_DEL_BODY, QW_DEL_RCPT, QW_DEL_MSG };
	for (size_t i = 0; i < 4; i++) {
		sqlite3_stmt *st = NULL;
		if (q != NULL) {
			st = queue_commit_stmt(q, which[i], queue_update_delete_sql[i], err, errlen);
			if (st == NULL)
				return false;
		} else if (sqlite3_prepare_v2(db, queue_update_delete_sql[i], -1, &st, NULL) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "prepare", db);
			return false;
		}
		int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK) {
			while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
				*deleted = true;
				*spooled = sqlite3_column_int(st, 0) != 0;
			}
		}
		/* reset and finalize repeat the step's error; after SQLITE_DONE they are OK. */
		int end_rc = q != NULL ? sqlite3_reset(st) : sqlite3_finalize(st);
		if (rc == SQLITE_DONE && end_rc != SQLITE_OK)
			rc = end_rc;
		if (rc != SQLITE_DONE) {
			queue_store_seterr(err, errlen, "delete", db);
			return false;
		}
	}
	return true;
}

/* ---- outcomes ---- */

struct queue_update_outcomes {
	struct queue_job job;		/* first */
	struct queue_sqlite *q;
	struct queue_outcomes_batch b;	/* b.deleted written by the writer thread, read in done */
};

static bool queue_update_del_if_done(sqlite3 *db, struct queue_sqlite *q, const char *id,
    bool *deleted, char *err, size_t errlen);

/* Writer thread: one UPDATE and one history row per outcome. */
static bool queue_update_outcomes_apply(struct queue_job *j, struct queue_sqlite *q, sqlite3 *db,
    char *err, size_t errlen)
{
	struct queue_update_outcomes *u = (struct queue_update_outcomes *)j;
	for (size_t i = 0; i < u->b.n; i++) {
		const struct queue_outcome *o = &u->b.o[i];
		const char *state = queue_store_state_name(o->state);
		bool fail = o->state == QUEUE_RCPT_DEFERRED || o->state == QUEUE_RCPT_FAILED;
		/* Only undone recipients change: a final state is never left. */
		sqlite3_stmt *st = queue_commit_stmt(q, QW_OUTCOME,
		    "UPDATE recipients SET state = ?1, tries = tries + 1,"
		    " next_try = CASE WHEN ?1 = 'deferred' THEN ?2 ELSE next_try END,"
		    " first_fail = CASE WHEN ?3 AND first_fail = 0 THEN ?4 ELSE first_fail END,"
		    " last_code = ?5, last_esc = ?6, last_reply = ?7, last_mx = ?8, updated_at = ?4"
		    " WHERE id = ?9 AND state IN ('pending', 'deferred')", err, errlen);
		if (st == NULL)
			return false;
		if (sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, (sqlite3_int64)o->next_try) != SQLITE_OK ||
		    sqlite3_bind_int(st, 3, fail) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 4, (sqlite3_int64)o->at) != SQLITE_OK ||
		    sqlite3_bind_int(st, 5, o->code) != SQLITE_OK ||
		    queue_store_bind_text(st, 6, o->esc) != SQLITE_OK ||
		    queue_store_bind_text(st, 7, o->reply) != SQLITE_OK ||
		    queue_store_bind_text(st, 8, o->mx) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 9, o->rcpt_id) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "bind outcome", db);
			return false;
		}
		int rc = queue_store_step_reset(st);
		if (rc != SQLITE_DONE) {
			queue_store_seterr(err, errlen, "update recipient", db);
			return false;
		}
		if (sqlite3_changes(db) == 0)
			continue;	/* deleted or already final meanwhile */
		st = queue_commit_stmt(q, QW_INS_HIST,
		    "INSERT INTO history(rcpt_id, at, status, code, esc, reply, mx)"
		    " VALUES (?,?,?,?,?,?,?)", err, errlen);
		if (st == NULL)
			return false;
		if (sqlite3_bind_int64(st, 1, o->rcpt_id) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, (sqlite3_int64)o->at) != SQLITE_OK ||
		    sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int(st, 4, o->code) != SQLITE_OK ||
		    queue_store_bind_text(st, 5, o->esc) != SQLITE_OK ||
		    queue_store_bind_text(st, 6, o->reply) != SQLITE_OK ||
		    queue_store_bind_text(st, 7, o->mx) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "bind history", db);
			return false;
		}
		rc = queue_store_step_reset(st);
		if (rc != SQLITE_DONE) {
			queue_store_seterr(err, errlen, "insert history", db);
			return false;
		}
	}
	u->b.deleted = false;
	if (u->b.msg_id[0] != '\0')
		return queue_update_del_if_done(db, q, u->b.msg_id, &u->b.deleted, err, errlen);
	return true;
}

/* Loop thread: the batch ends, free. */
static void queue_update_outcomes_done(struct queue_job *j, bool ok, const char *err)
{
	struct queue_update_outcomes *u = (struct queue_update_outcomes *)j;
	queue_outcomes_batch_end(&u->b, &u->q->claims, ok, err);
	free(u);
}

/* A new outcomes job with copies of o[0..n). */
static void queue_update_outcomes_submit(struct queue_sqlite *q, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_commit_cb *cb, queue_delete_cb *del_cb,
    void *arg)
{
	struct queue_update_outcomes *u = xcalloc(1, sizeof(*u));
	u->q = q;
	queue_outcomes_batch_init(&u->b, o, n, msg_id, cb, del_cb, arg);
	u->job.apply = queue_update_outcomes_apply;
	u->job.uses_reserve = true;
	u->job.done = queue_update_outcomes_done;
	queue_commit_submit(q, &u->job);
}

void queue_sqlite_update_outcomes(struct queue_store *store, const struct queue_outcome *o,
    size_t n, queue_commit_cb *cb, void *arg)
{
	queue_update_outcomes_submit(queue_sqlite_of(store), NULL, o, n, cb, NULL, arg);
}

void queue_sqlite_update_outcomes_delete(struct queue_store *store, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_delete_cb *cb, void *arg)
{
	queue_update_outcomes_submit(queue_sqlite_of(store), msg_id, o, n, NULL, cb, arg);
}

/* ---- bounced ---- */

struct queue_update_bounced {
	struct queue_job job;		/* first */
	int64_t *ids;			/* owned */
	size_t n;
	time_t now;
	queue_commit_cb *cb;
	void *arg;
};

static bool queue_update_bounced_apply(struct queue_job *j, struct queue_sqlite *q, sqlite3 *db,
    char *err, size_t errlen)
{
	struct queue_update_bounced *u = (struct queue_update_bounced *)j;
	for (size_t i = 0; i < u->n; i++) {
		sqlite3_stmt *st = queue_commit_stmt(q, QW_BOUNCED, QUEUE_SQL_BOUNCED, err, errlen);
		if (st == NULL)
			return false;
		if (sqlite3_bind_int64(st, 1, (sqlite3_int64)u->now) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, u->ids[i]) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "bind bounced", db);
			return false;
		}
		int rc = queue_store_step_reset(st);
		if (rc != SQLITE_DONE) {
			queue_store_seterr(err, errlen, "mark bounced", db);
			return false;
		}
	}
	return true;
}

static void queue_update_bounced_done(struct queue_job *j, bool ok, const char *err)
{
	struct queue_update_bounced *u = (struct queue_update_bounced *)j;
	if (u->cb != NULL)
		u->cb(u->arg, ok, err);
	free(u->ids);
	free(u);
}

void queue_sqlite_update_bounced(struct queue_store *store, const int64_t *rcpt_ids, size_t n,
    queue_commit_cb *cb, void *arg)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	struct queue_update_bounced *u = xcalloc(1, sizeof(*u));
	u->ids = n ? xreallocarray(NULL, n, sizeof(*u->ids)) : NULL;
	if (n)
		memcpy(u->ids, rcpt_ids, n * sizeof(*u->ids));
	u->n = n;
	u->now = time(NULL);
	u->cb = cb;
	u->arg = arg;
	u->job.apply = queue_update_bounced_apply;
	u->job.uses_reserve = true;
	u->job.done = queue_update_bounced_done;
	queue_commit_submit(q, &u->job);
}

/* ---- delete when done ---- */

struct queue_update_del {
	struct queue_job job;		/* first */
	char id[QUEUE_ID_LEN + 1];
	bool deleted;			/* written by the writer thread, read in done */
	queue_delete_cb *cb;
	void *arg;
};

/* Writer thread: delete message id when none of its recipients is undone or failed. */
static bool queue_update_del_if_done(sqlite3 *db, struct queue_sqlite *q, const char *id,
    bool *deleted, char *err, size_t errlen)
{
	*deleted = false;
	sqlite3_stmt *st = queue_commit_stmt(q, QW_UNDONE,
	    "SELECT count(*) FROM recipients WHERE msg_id = ?"
	    " AND state NOT IN ('delivered', 'bounced')", err, errlen);
	if (st == NULL)
		return false;
	int rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_int64 undone = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	if (sqlite3_reset(st) != SQLITE_OK && rc == SQLITE_ROW)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_ROW) {
		queue_store_seterr(err, errlen, "count undone", db);
		return false;
	}
	if (undone > 0)
		return true;
	bool spooled = false;
	if (!queue_update_purge(db, q, id, deleted, &spooled, err, errlen))
		return false;
	if (spooled)
		queue_spool_remove_later(q, id);
	return true;
}

static bool queue_update_del_apply(struct queue_job *j, struct queue_sqlite *q, sqlite3 *db,
    char *err, size_t errlen)
{
	struct queue_update_del *u = (struct queue_update_del *)j;
	return queue_update_del_if_done(db, q, u->id, &u->deleted, err, errlen);
}

static void queue_update_del_done(struct queue_job *j, bool ok, const char *err)
{
	struct queue_update_del *u = (struct queue_update_del *)j;
	if (ok && u->deleted)
		log_msg(LOG_LVL_DEBUG, "op=queue_delete queue=%s reason=done", u->id);
	if (u->cb != NULL)
		u->cb(u->arg, ok, ok && u->deleted, err);
	free(u);
}

void queue_sqlite_update_delete_if_done(struct queue_store *store, const char *id,
    queue_delete_cb *cb, void *arg)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	struct queue_update_del *u = xcalloc(1, sizeof(*u));
	snprintf(u->id, sizeof(u->id), "%s", id);
	u->cb = cb;
	u->arg = arg;
	u->job.apply = queue_update_del_apply;
	u->job.uses_reserve = true;
	u->job.done = queue_update_del_done;
	queue_commit_submit(q, &u->job);
}

/* ---- synchronous changes ---- */

/* Roll back the read connection's transaction after a failure, logging when even that fails. */
static void queue_update_rollback(struct queue_sqlite *q)
{
	if (!sqlite3_get_autocommit(q->rdb) &&
	    sqlite3_exec(q->rdb, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		log_msg(LOG_LVL_ERR, "op=queue_update event=rollback_failed reason=\"%s\"",
		    sqlite3_errmsg(q->rdb));
}

/* Run one statement with a text and an integer parameter; rows changed or -1. */
static int queue_update_run(struct queue_sqlite *q, const char *sql, const char *text,
    sqlite3_int64 num, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(q->rdb, sql, -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		return -1;
	}
	if (sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, num) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "bind", q->rdb);
		sqlite3_finalize(st);
		return -1;
	}
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && queue_reserve_full_error(q->rdb, NULL) &&
	    queue_reserve_release(q->dir, "queue file system full")) {
		sqlite3_reset(st);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "update", q->rdb);
		return -1;
	}
	return sqlite3_changes(q->rdb);
}

int queue_sqlite_update_hold(struct queue_store *store, const char *id, bool hold,
    char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	int n = queue_update_run(q, "UPDATE messages SET held = ?2 WHERE id = ?1", id, hold,
	    err, errlen);
	if (n > 0)
		log_msg(LOG_LVL_INFO, "op=queue_%s queue=%s", hold ? "hold" : "release", id);
	return n;
}

/* One try at deleting id in a transaction of its own; -1 (err filled), 0 or 1. */
static int queue_update_delete_once(struct queue_sqlite *q, const char *id, bool *spooled,
    char *err, size_t errlen)
{
	if (!queue_store_exec(q->rdb, "BEGIN IMMEDIATE", err, errlen))
		return -1;
	bool deleted = false;
	if (!queue_update_purge(q->rdb, NULL, id, &deleted, spooled, err, errlen) ||
	    !queue_store_exec(q->rdb, "COMMIT", err, errlen)) {
		queue_update_rollback(q);
		return -1;
	}
	return deleted ? 1 : 0;
}

int queue_sqlite_update_delete(struct queue_store *store, const char *id, char *err,
    size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	bool spooled = false;
	int rc = queue_update_delete_once(q, id, &spooled, err, errlen);
	/* Deleting is how room is made: on a full disk, give the reserve back and try again. */
	if (rc < 0 && queue_reserve_full_error(q->rdb, err) &&
	    queue_reserve_release(q->dir, err))
		rc = queue_update_delete_once(q, id, &spooled, err, errlen);
	if (rc < 0)
		return -1;
	bool deleted = rc == 1;
	if (spooled)
		queue_spool_remove(q, id);
	if (deleted)
		log_msg(LOG_LVL_INFO, "op=queue_delete queue=%s reason=admin", id);
	return deleted ? 1 : 0;
}

int queue_sqlite_update_flush_msg(struct queue_store *store, const char *id, time_t now,
    char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	return queue_update_run(q, "UPDATE recipients SET next_try = ?2 WHERE msg_id = ?1"
	    " AND state IN ('pending', 'deferred') AND next_try > ?2", id, (sqlite3_int64)now,
	    err, errlen);
}

int queue_sqlite_update_flush_domain(struct queue_store *store, const char *domain, time_t now,
    char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	/* Recipients are stored under their domain's key (queue_store_domain). */
	char key[DNS_RR_NAME_MAX + 2];
	(void)dns_rr_name_key(domain, strlen(domain), key, sizeof(key));
	return queue_update_run(q, "UPDATE recipients SET next_try = ?2 WHERE domain = ?1"
	    " AND state IN ('pending', 'deferred') AND next_try > ?2", key, (sqlite3_int64)now,
	    err, errlen);
}

int queue_sqlite_update_fail_waiting(struct queue_store *store, const char *id, time_t now,
    const char *esc, const char *reply, char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	if (!queue_store_exec(q->rdb, "BEGIN IMMEDIATE", err, errlen))
		return -1;
	/* The history rows first, while the recipients still read as waiting. */
	sqlite3_stmt *st = NULL;
	const char *hist = "INSERT INTO history(rcpt_id, at, status, code, esc, reply, mx)"
	    " SELECT id, ?2, 'failed', 0, ?3, ?4, NULL FROM recipients"
	    " WHERE msg_id = ?1 AND state IN ('pending', 'deferred')";
	const char *upd = "UPDATE recipients SET state = 'failed', tries = tries + 1,"
	    " first_fail = CASE WHEN first_fail = 0 THEN ?2 ELSE first_fail END,"
	    " last_code = 0, last_esc = ?3, last_reply = ?4, last_mx = NULL, updated_at = ?2"
	    " WHERE msg_id = ?1 AND state IN ('pending', 'deferred')";
	int n = -1;
	for (int pass = 0; pass < 2; pass++) {
		if (sqlite3_prepare_v2(q->rdb, pass == 0 ? hist : upd, -1, &st, NULL) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "prepare", q->rdb);
			goto fail;
		}
		int rc;
		if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, (sqlite3_int64)now) != SQLITE_OK ||
		    queue_store_bind_text(st, 3, esc) != SQLITE_OK ||
		    queue_store_bind_text(st, 4, reply) != SQLITE_OK)
			rc = SQLITE_ERROR;
		else
			rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			queue_store_seterr(err, errlen, "update", q->rdb);
			sqlite3_finalize(st);
			goto fail;
		}
		if (sqlite3_finalize(st) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "update", q->rdb);
			goto fail;
		}
		n = sqlite3_changes(q->rdb);
	}
	if (!queue_store_exec(q->rdb, "COMMIT", err, errlen))
		goto fail;
	if (n > 0)
		log_msg(LOG_LVL_INFO, "op=queue_fail queue=%s rcpts=%d reason=admin", id, n);
	return n;
fail:
	queue_update_rollback(q);
	return -1;
}
