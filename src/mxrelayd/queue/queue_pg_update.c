/*
 * queue_pg_update: changes to queued messages on PostgreSQL. Delivery
 * outcomes, bounce marks and deletions of finished messages are jobs of
 * the group commit (queue_pg_commit.c), so the outcomes of many
 * deliveries share one transaction; they wait for a server that went
 * away rather than fail (failing would deliver the mail again). The
 * command line's and the control socket's hold, release, delete, flush
 * and bounce are small transactions of their own on the admin connection.
 *
 * Owns: the recipient state transitions and history rows on the server,
 * the release of this node's claims once an outcome is durable.
 * Never: moves a recipient out of a final state; deletes a message with
 * an undone recipient unless told to (queue_pg_update_delete).
 */
#include "queue_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_rr.h"
#include "util/log.h"
#include "util/xalloc.h"

/* ---- outcomes (and the deletion that may ride with them) ---- */

struct queue_pg_outcomes {
	struct queue_pg_job job;	/* first */
	struct queue_pg *q;
	struct queue_outcomes_batch b;
};

static int queue_pg_outcomes_send(struct queue_pg_job *j, struct queue_pg_req *r)
{
	struct queue_pg_outcomes *u = (struct queue_pg_outcomes *)j;
	if (u->b.msg_id[0] != '\0') {
		const char *v[1] = { u->b.msg_id };
		queue_pg_req_stmt(r, QPG_LOCK_MSG, 1, v, NULL, NULL, 0);
	} else {
		char id[24];
		snprintf(id, sizeof(id), "%lld", (long long)(u->b.n > 0 ? u->b.o[0].rcpt_id : 0));
		const char *v[1] = { id };
		queue_pg_req_stmt(r, QPG_LOCK_RCPT_MSG, 1, v, NULL, NULL, 0);
	}
	for (size_t i = 0; i < u->b.n; i++) {
		const struct queue_outcome *o = &u->b.o[i];
		bool fail = o->state == QUEUE_RCPT_DEFERRED || o->state == QUEUE_RCPT_FAILED;
		char next[24], at[24], code[16], id[24];
		snprintf(next, sizeof(next), "%lld", (long long)o->next_try);
		snprintf(at, sizeof(at), "%lld", (long long)o->at);
		snprintf(code, sizeof(code), "%d", o->code);
		snprintf(id, sizeof(id), "%lld", (long long)o->rcpt_id);
		const char *vals[9] = { queue_store_state_name(o->state), next, fail ? "t" : "f", at,
			code, o->esc, o->reply, o->mx, id };
		queue_pg_req_stmt(r, QPG_OUTCOME, 9, vals, NULL, NULL, 0);
	}
	if (u->b.msg_id[0] != '\0') {
		const char *v[1] = { u->b.msg_id };
		queue_pg_req_stmt(r, QPG_DEL_DONE, 1, v, NULL, NULL, 0);
		return (int)u->b.n + 2;
	}
	return (int)u->b.n + 1;
}

static void queue_pg_outcomes_result(struct queue_pg_job *j, int idx, const PGresult *res)
{
	struct queue_pg_outcomes *u = (struct queue_pg_outcomes *)j;
	if ((size_t)idx == u->b.n + 1 && u->b.msg_id[0] != '\0' && PQntuples(res) == 1)
		u->b.deleted = queue_pg_sql_int(res, 0, 0, 0) > 0;
}

/* On the loop: the batch ends, free. */
static void queue_pg_outcomes_done(struct queue_pg_job *j, bool ok, const char *err)
{
	struct queue_pg_outcomes *u = (struct queue_pg_outcomes *)j;
	queue_outcomes_batch_end(&u->b, &u->q->claims, ok, err);
	free(u);
}

/* A new outcomes job with copies of o[0..n), into the group commit. */
static void queue_pg_outcomes_submit(struct queue_pg *q, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_commit_cb *cb, queue_delete_cb *del_cb,
    void *arg)
{
	struct queue_pg_outcomes *u = xcalloc(1, sizeof(*u));
	u->q = q;
	queue_outcomes_batch_init(&u->b, o, n, msg_id, cb, del_cb, arg);
	if (msg_id != NULL)
		snprintf(u->job.key, sizeof(u->job.key), "%s", msg_id);
	u->job.send = queue_pg_outcomes_send;
	u->job.result = queue_pg_outcomes_result;
	u->job.done = queue_pg_outcomes_done;
	u->job.wait_while_down = true;
	queue_pg_commit_submit(q, &u->job);
}

void queue_pg_update_outcomes(struct queue_store *store, const struct queue_outcome *o, size_t n,
    queue_commit_cb *cb, void *arg)
{
	queue_pg_outcomes_submit(queue_pg_of(store), NULL, o, n, cb, NULL, arg);
}

void queue_pg_update_outcomes_delete(struct queue_store *store, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_delete_cb *cb, void *arg)
{
	queue_pg_outcomes_submit(queue_pg_of(store), msg_id, o, n, NULL, cb, arg);
}

/* ---- bounced, and deleted when done ---- */

struct queue_pg_mark {
	struct queue_pg_job job;	/* first */
	char *ids;			/* BOUNCED: the array literal, owned */
	char at[24];
	char msg_id[QUEUE_ID_LEN + 1];	/* DEL_DONE */
	bool deleted;
	queue_commit_cb *cb;
	queue_delete_cb *del_cb;
	void *arg;
};

static int queue_pg_mark_send(struct queue_pg_job *j, struct queue_pg_req *r)
{
	struct queue_pg_mark *m = (struct queue_pg_mark *)j;
	if (m->ids != NULL) {
		const char *v[2] = { m->ids, m->at };
		queue_pg_req_stmt(r, QPG_BOUNCED, 2, v, NULL, NULL, 0);
	} else {
		const char *v[1] = { m->msg_id };
		queue_pg_req_stmt(r, QPG_LOCK_MSG, 1, v, NULL, NULL, 0);
		queue_pg_req_stmt(r, QPG_DEL_DONE, 1, v, NULL, NULL, 0);
		return 2;
	}
	return 1;
}

static void queue_pg_mark_result(struct queue_pg_job *j, int idx, const PGresult *res)
{
	struct queue_pg_mark *m = (struct queue_pg_mark *)j;
	if (m->ids == NULL && idx == 1 && PQntuples(res) == 1)
		m->deleted = queue_pg_sql_int(res, 0, 0, 0) > 0;
}

static void queue_pg_mark_done(struct queue_pg_job *j, bool ok, const char *err)
{
	struct queue_pg_mark *m = (struct queue_pg_mark *)j;
	if (m->del_cb != NULL) {
		if (ok && m->deleted)
			log_msg(LOG_LVL_DEBUG, "op=queue_delete queue=%s reason=done", m->msg_id);
		m->del_cb(m->arg, ok, ok && m->deleted, err);
	} else if (m->cb != NULL) {
		m->cb(m->arg, ok, err);
	}
	free(m->ids);
	free(m);
}

static struct queue_pg_mark *queue_pg_mark_new(void)
{
	struct queue_pg_mark *m = xcalloc(1, sizeof(*m));
	m->job.send = queue_pg_mark_send;
	m->job.result = queue_pg_mark_result;
	m->job.done = queue_pg_mark_done;
	m->job.wait_while_down = true;
	return m;
}

void queue_pg_update_bounced(struct queue_store *store, const int64_t *rcpt_ids, size_t n,
    queue_commit_cb *cb, void *arg)
{
	struct queue_pg_mark *m = queue_pg_mark_new();
	m->ids = queue_pg_sql_int_array(rcpt_ids, n);
	snprintf(m->at, sizeof(m->at), "%lld", (long long)time(NULL));
	m->cb = cb;
	m->arg = arg;
	queue_pg_commit_submit(queue_pg_of(store), &m->job);
}

void queue_pg_update_delete_if_done(struct queue_store *store, const char *id,
    queue_delete_cb *cb, void *arg)
{
	struct queue_pg_mark *m = queue_pg_mark_new();
	snprintf(m->msg_id, sizeof(m->msg_id), "%s", id);
	snprintf(m->job.key, sizeof(m->job.key), "%s", id);
	m->del_cb = cb;
	m->arg = arg;
	queue_pg_commit_submit(queue_pg_of(store), &m->job);
}

/* ---- synchronous changes (admin connection) ---- */

/* Run sql with text parameters; the rows it changed (or the count it selects), or -1. */
static int queue_pg_update_run(struct queue_pg *q, const char *sql, int n, const char *const *v,
    char *err, size_t errlen)
{
	PGresult *res = queue_pg_admin_exec(q, sql, n, v, err, errlen);
	if (res == NULL)
		return -1;
	int rows = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ?
	    (int)queue_pg_sql_int(res, 0, 0, 0) : (int)queue_pg_sql_int_of(PQcmdTuples(res));
	PQclear(res);
	return rows;
}

int queue_pg_update_hold(struct queue_store *store, const char *id, bool hold, char *err,
    size_t errlen)
{
	const char *v[2] = { id, hold ? "t" : "f" };
	int n = queue_pg_update_run(queue_pg_of(store), "UPDATE messages SET held = $2::boolean"
	    " WHERE id = $1", 2, v, err, errlen);
	if (n > 0)
		log_msg(LOG_LVL_INFO, "op=queue_%s queue=%s", hold ? "hold" : "release", id);
	return n;
}

int queue_pg_update_delete(struct queue_store *store, const char *id, char *err, size_t errlen)
{
	const char *v[1] = { id };
	int n = queue_pg_update_run(queue_pg_of(store), "WITH d AS (DELETE FROM messages"
	    " WHERE id = $1 RETURNING id), b AS (DELETE FROM body WHERE msg_id IN (SELECT id FROM d))"
	    " SELECT count(*) FROM d", 1, v, err, errlen);
	if (n > 0)
		log_msg(LOG_LVL_INFO, "op=queue_delete queue=%s reason=admin", id);
	return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/* Make recipients due now; the fleet's schedulers hear of it at once. */
static int queue_pg_update_flush(struct queue_pg *q, const char *column, const char *value,
    time_t now, char *err, size_t errlen)
{
	char sql[256], at[24];
	snprintf(sql, sizeof(sql), "WITH u AS (UPDATE recipients SET next_try = $2::bigint"
	    " WHERE %s = $1 AND state IN ('pending', 'deferred') AND next_try > $2::bigint"
	    " RETURNING 1) SELECT count(*), pg_notify('" QUEUE_PG_CHANNEL "', 'flush') FROM u",
	    column);
	snprintf(at, sizeof(at), "%lld", (long long)now);
	const char *v[2] = { value, at };
	return queue_pg_update_run(q, sql, 2, v, err, errlen);
}

int queue_pg_update_flush_msg(struct queue_store *store, const char *id, time_t now, char *err,
    size_t errlen)
{
	return queue_pg_update_flush(queue_pg_of(store), "msg_id", id, now, err, errlen);
}

int queue_pg_update_flush_domain(struct queue_store *store, const char *domain, time_t now,
    char *err, size_t errlen)
{
	/* Recipients are stored under their domain's key, as in the SQLite queue. */
	char key[DNS_RR_NAME_MAX + 2];
	(void)dns_rr_name_key(domain, strlen(domain), key, sizeof(key));
	return queue_pg_update_flush(queue_pg_of(store), "domain", key, now, err, errlen);
}

int queue_pg_update_fail_waiting(struct queue_store *store, const char *id, time_t now,
    const char *esc, const char *reply, char *err, size_t errlen)
{
	char at[24];
	snprintf(at, sizeof(at), "%lld", (long long)now);
	const char *v[4] = { id, at, esc, reply };
	int n = queue_pg_update_run(queue_pg_of(store), "WITH u AS (UPDATE recipients SET"
	    " state = 'failed', tries = tries + 1,"
	    " first_fail = CASE WHEN first_fail = 0 THEN $2::bigint ELSE first_fail END,"
	    " last_code = 0, last_esc = $3, last_reply = $4, last_mx = NULL, updated_at = $2::bigint,"
	    " lease_node = NULL, lease_until = 0"
	    " WHERE msg_id = $1 AND state IN ('pending', 'deferred') RETURNING id),"
	    " h AS (INSERT INTO history (rcpt_id, at, status, code, esc, reply, mx)"
	    " SELECT id, $2::bigint, 'failed', 0, $3, $4, NULL FROM u)"
	    " SELECT count(*) FROM u", 4, v, err, errlen);
	if (n > 0)
		log_msg(LOG_LVL_INFO, "op=queue_fail queue=%s rcpts=%d reason=admin", id, n);
	return n;
}
