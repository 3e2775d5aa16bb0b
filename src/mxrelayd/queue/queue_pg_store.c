/*
 * queue_pg_store: the PostgreSQL backend's store: opening (the schema
 * checked or made, the server's durability checked, this node's lock
 * taken), its connections and what each one sets up, the tick that
 * renews this node's leases, closing, and its table of operations
 * (queue_pg_ops), which queue_store_open_with() hands out.
 *
 * The work is spread over connections so that none waits behind
 * another's: QUEUE_PG_COMMITTERS commit connections take the group
 * commits in turn, `read` claims and reads, `bulk` moves large bodies
 * in and out, `listen` hears NOTIFY, holds the node's lock and the
 * destinations' slots; the blocking `admin` connection serves the
 * command line and the control socket's synchronous calls.
 *
 * Owns: the connections, this node's identity in the fleet (one process
 * per node_id, through a session advisory lock), the local directory of
 * spooled bodies. Never: answers a commit before the server's commit
 * returned; runs with synchronous_commit off or fsync off.
 */
#include "queue_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <event2/event.h>

#include "util/log.h"
#include "util/xalloc.h"

/* A setup request in flight: which connection, and what its results said. */
struct queue_pg_setup {
	struct queue_pg *q;
	struct queue_pg_conn *c;
	bool first;
	bool bad;
	char why[200];
};

/* The setup's results: the durability settings, the node lock. */
static void queue_pg_setup_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg_setup *s = arg;
	(void)idx;
	if (PQnfields(res) == 2 && PQntuples(res) == 1 &&
	    strcmp(PQfname(res, 0), "synchronous_commit") == 0) {
		const char *why = queue_pg_schema_durable(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		if (why != NULL) {
			s->bad = true;
			snprintf(s->why, sizeof(s->why), "%s", why);
		}
	} else if (PQnfields(res) == 1 && PQntuples(res) == 1 &&
	    strcmp(PQfname(res, 0), "node_lock") == 0) {
		if (!queue_pg_sql_bool(res, 0, 0)) {
			s->bad = true;
			snprintf(s->why, sizeof(s->why), "node_id %s is held by another running node",
			    s->q->node);
		} else {
			s->q->node_locked = true;
		}
	}
}

static void queue_pg_setup_done(void *arg, bool ok, const char *err)
{
	struct queue_pg_setup *s = arg;
	if (ok && s->bad) {
		ok = false;
		err = s->why;
		log_msg(LOG_LVL_ERR, "op=queue_pg event=setup-refused reason=\"%s\"", s->why);
	}
	queue_pg_conn_setup_done(s->c, ok, err);
	free(s);
}

/* Prepare every statement of queue_pg_sql.c on c (sent as part of request r). */
static void queue_pg_setup_prepare(struct queue_pg_req *r)
{
	for (int i = 0; i < QPG_STMT_COUNT_; i++)
		queue_pg_req_prepare(r, i);
}

/* What every connection does first: the statements, and the durability of its commits. */
static void queue_pg_setup_common(void *arg, struct queue_pg_conn *c, bool first, bool durable,
    const char *extra)
{
	struct queue_pg *q = arg;
	struct queue_pg_setup *s = xcalloc(1, sizeof(*s));
	s->q = q;
	s->c = c;
	s->first = first;
	struct queue_pg_req *r = queue_pg_req_begin(c, queue_pg_setup_result, queue_pg_setup_done, s);
	if (durable)
		queue_pg_req_sql(r, "SELECT current_setting('synchronous_commit') AS synchronous_commit,"
		    " current_setting('fsync') AS fsync", 0, NULL);
	if (extra != NULL)
		queue_pg_req_sql(r, extra, 0, NULL);
	queue_pg_setup_prepare(r);
	queue_pg_req_end(r);
}

static void queue_pg_setup_commit(void *arg, struct queue_pg_conn *c, bool first)
{
	queue_pg_setup_common(arg, c, first, true, NULL);
}

/*
 * Claims and lease renewals are not promises: one lost in a server crash
 * only makes its recipients due again sooner. They skip the WAL flush.
 */
static void queue_pg_setup_read(void *arg, struct queue_pg_conn *c, bool first)
{
	queue_pg_setup_common(arg, c, first, false, "SET synchronous_commit = off");
}

static void queue_pg_setup_bulk(void *arg, struct queue_pg_conn *c, bool first)
{
	queue_pg_setup_common(arg, c, first, true, NULL);
}

/*
 * The listen connection: LISTEN for new mail, and this node's lock (a
 * session advisory lock on its node_id, gone when the session ends, so
 * a dead node holds nothing). At the first setup, the leases a previous
 * run of this node left are given back: their recipients are due now.
 */
static void queue_pg_setup_listen(void *arg, struct queue_pg_conn *c, bool first)
{
	struct queue_pg *q = arg;
	struct queue_pg_setup *s = xcalloc(1, sizeof(*s));
	s->q = q;
	s->c = c;
	s->first = first;
	q->node_locked = false;
	struct queue_pg_req *r = queue_pg_req_begin(c, queue_pg_setup_result, queue_pg_setup_done, s);
	queue_pg_setup_prepare(r);
	queue_pg_req_sql(r, "LISTEN " QUEUE_PG_CHANNEL, 0, NULL);
	const char *v[1] = { q->node };
	queue_pg_req_sql(r, "SELECT pg_try_advisory_lock(hashtextextended('mxrelay-node:' || $1, 0))"
	    " AS node_lock", 1, v);
	if (first)
		queue_pg_req_sql(r, "UPDATE recipients SET lease_node = NULL, lease_until = 0"
		    " WHERE lease_node = $1", 1, v);
	queue_pg_req_end(r);
}

/* A connection came up or went down. */
static void queue_pg_state(void *arg, struct queue_pg_conn *c, bool ready, const char *err)
{
	struct queue_pg *q = arg;
	(void)err;
	if (c == q->listen && !ready) {
		q->node_locked = false;
		q->listen_gen++;
		queue_pg_dest_forget_slots(q);
	}
	if (!ready)
		queue_pg_commit_fail_waiting(q, err != NULL ? err : "database connection lost");
	queue_pg_commit_pump(q);
}

/* NOTIFY mxrelay_queue: mail was committed somewhere in the fleet. */
static void queue_pg_notified(void *arg, const char *channel)
{
	struct queue_pg *q = arg;
	if (strcmp(channel, QUEUE_PG_CHANNEL) == 0 && q->wake != NULL)
		q->wake(q->wake_arg);
}

bool queue_pg_available(const struct queue_store *store)
{
	const struct queue_pg *q = queue_pg_cof(store);
	if (q->base == NULL)
		return q->admin != NULL && PQstatus(q->admin) == CONNECTION_OK;
	if (q->unavailable_until > 0 && queue_pg_clock() < q->unavailable_until)
		return false;
	bool commit = false;
	for (size_t i = 0; i < QUEUE_PG_COMMITTERS; i++)
		commit = commit || queue_pg_conn_ready(q->commit[i]);
	return commit && queue_pg_conn_ready(q->read) && queue_pg_conn_ready(q->listen) &&
	    q->node_locked;
}

bool queue_pg_admin_ok(struct queue_pg *q, char *err, size_t errlen)
{
	if (q->admin != NULL && PQstatus(q->admin) == CONNECTION_OK)
		return true;
	if (q->admin == NULL)
		q->admin = PQconnectdbParams(q->kw, q->kv, 1);
	else
		PQreset(q->admin);
	if (q->admin == NULL || PQstatus(q->admin) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", q->admin != NULL ? PQerrorMessage(q->admin) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		return false;
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", QUEUE_PG_SYNC_TIMEOUT_MS);
	PQclear(PQexec(q->admin, sql));
	return true;
}

PGresult *queue_pg_admin_exec(struct queue_pg *q, const char *sql, int n,
    const char *const *vals, char *err, size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!queue_pg_admin_ok(q, err, errlen))
			return NULL;
		PGresult *res = PQexecParams(q->admin, sql, n, NULL, vals, NULL, NULL, 0);
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
			return res;
		queue_pg_sql_error(res, err, errlen);
		PQclear(res);
		/* A connection the server dropped (a restart) is made again, once. */
		if (PQstatus(q->admin) == CONNECTION_OK)
			return NULL;
	}
	return NULL;
}

/* Every second: leases renewed when due, large bodies left by a crash swept now and then. */
static void queue_pg_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct queue_pg *q = arg;
	time_t now = time(NULL);
	if (now - q->last_renew >= (time_t)queue_pg_lease_renew_every(q->lease_time)) {
		q->last_renew = now;
		queue_pg_due_renew(q);
	}
	if (now - q->last_orphans >= 600 && queue_pg_conn_ready(q->read)) {
		q->last_orphans = now;
		char bound[QUEUE_ID_LEN + 1], nowtext[24];
		queue_id_at(now - QUEUE_PG_ORPHAN_AGE_S, bound);
		snprintf(nowtext, sizeof(nowtext), "%lld", (long long)now);
		const char *v[1] = { bound }, *vnow[1] = { nowtext };
		struct queue_pg_req *r = queue_pg_req_begin(q->read, NULL, NULL, NULL);
		queue_pg_req_stmt(r, QPG_ORPHANS, 1, v, NULL, NULL, 0);
		queue_pg_req_stmt(r, QPG_DEST_PRUNE, 1, vnow, NULL, NULL, 0);
		queue_pg_req_end(r);
	}
	queue_pg_commit_pump(q);
}

static void queue_pg_on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_pg_commit_pump(arg);
}

/* libpq's keywords: ours first (the DSN overrides them), the DSN, a passfile's password last. */
static void queue_pg_keywords(struct queue_pg *q, const struct queue_open_opts *opts)
{
	static const char *const names[] = {
		"application_name", "connect_timeout", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "target_session_attrs", "dbname", "password",
	};
	char app[96];
	snprintf(app, sizeof(app), "mxrelay/%s", q->node);
	const char *vals[] = { app, "5", "10", "5", "3", "read-write", opts->dsn, opts->password };
	size_t n = opts->password != NULL ? 8 : 7;
	q->kw = xcalloc(n + 1, sizeof(*q->kw));
	q->kv = xcalloc(n + 1, sizeof(*q->kv));
	for (size_t i = 0; i < n; i++) {
		q->kw[i] = names[i];
		q->kv[i] = xstrdup(vals[i]);
	}
}

/* Open one of the loop's connections. */
static struct queue_pg_conn *queue_pg_open_conn(struct queue_pg *q, const char *name,
    queue_pg_setup_fn *setup, char *err, size_t errlen)
{
	struct queue_pg_conn_opts o = {
		.name = name,
		.keywords = q->kw,
		.values = q->kv,
		.setup = setup,
		.state = queue_pg_state,
		.notify = queue_pg_notified,
		.arg = q,
	};
	char why[256];
	struct queue_pg_conn *c = queue_pg_conn_open(q->base, &o, why, sizeof(why));
	if (c == NULL)
		snprintf(err, errlen, "database %s: %s", q->dsn_masked, why);
	return c;
}

/* The connections of the daemon's loop, and its events. */
static bool queue_pg_open_loop(struct queue_pg *q, char *err, size_t errlen)
{
	static const char *const names[QUEUE_PG_COMMITTERS] = { "commit1", "commit2" };
	for (size_t i = 0; i < QUEUE_PG_COMMITTERS; i++)
		if ((q->commit[i] = queue_pg_open_conn(q, names[i], queue_pg_setup_commit, err,
		    errlen)) == NULL)
			return false;
	if ((q->read = queue_pg_open_conn(q, "read", queue_pg_setup_read, err, errlen)) == NULL ||
	    (q->bulk = queue_pg_open_conn(q, "bulk", queue_pg_setup_bulk, err, errlen)) == NULL ||
	    (q->listen = queue_pg_open_conn(q, "listen", queue_pg_setup_listen, err, errlen)) == NULL)
		return false;
	q->kick_ev = event_new(q->base, -1, 0, queue_pg_on_kick, q);
	q->tick_ev = event_new(q->base, -1, EV_PERSIST, queue_pg_on_tick, q);
	if (q->kick_ev == NULL || q->tick_ev == NULL)
		fatal("op=queue_pg reason=\"cannot create events\"");
	struct timeval tv = { 1, 0 };
	event_add(q->tick_ev, &tv);
	/* The housekeeping runs at the first tick (what a crash left), then every 10 minutes. */
	q->last_renew = time(NULL);
	q->last_orphans = 0;
	return true;
}

/*
 * Whether another process holds this node's lock (checked at open). A
 * killed run of this node may still be leaving the server (its sessions
 * end as the server notices): it is given a few seconds.
 */
static bool queue_pg_node_free(struct queue_pg *q, char *err, size_t errlen)
{
	const char *v[1] = { q->node };
	bool got = false;
	for (int attempt = 0; attempt < 50 && !got; attempt++) {
		if (attempt > 0) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		PGresult *res = queue_pg_admin_exec(q, "SELECT pg_try_advisory_lock(hashtextextended("
		    "'mxrelay-node:' || $1, 0))", 1, v, err, errlen);
		if (res == NULL)
			return false;
		got = queue_pg_sql_bool(res, 0, 0);
		PQclear(res);
	}
	if (!got) {
		snprintf(err, errlen, "node_id %s is in use by another running node (each node of a "
		    "fleet needs its own node_id)", q->node);
		return false;
	}
	PQclear(queue_pg_admin_exec(q, "SELECT pg_advisory_unlock(hashtextextended("
	    "'mxrelay-node:' || $1, 0))", 1, v, err, errlen));
	return true;
}

struct queue_store *queue_pg_open(struct event_base *base, const char *dir,
    const struct queue_open_opts *opts, char *err, size_t errlen)
{
	/* The daemon's local files (bodies on their way); the command line writes none there. */
	if (base != NULL && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return NULL;
	}
	struct queue_pg *q = xcalloc(1, sizeof(*q));
	q->handle.ops = &queue_pg_ops;
	q->handle.base = base;
	q->base = base;
	q->dir = xstrdup(dir);
	q->node = xstrdup(opts->node_id != NULL ? opts->node_id : "localhost");
	q->lease_time = opts->lease_time ? opts->lease_time : 60;
	q->pending_tail = &q->pending;
	q->bulk_tail = &q->bulk_head;
	q->dsn_masked = xstrdup(opts->dsn_shown != NULL ? opts->dsn_shown : "(queue_dsn)");
	queue_pg_keywords(q, opts);
	char why[512];
	if (!queue_pg_admin_ok(q, why, sizeof(why)) ||
	    queue_pg_schema_ensure(q->admin, why, sizeof(why)) != 0 ||
	    (base != NULL && !queue_pg_node_free(q, why, sizeof(why)))) {
		snprintf(err, errlen, "database %s: %s", q->dsn_masked, why);
		queue_pg_close(&q->handle);
		return NULL;
	}
	if (base != NULL && !queue_pg_open_loop(q, err, errlen)) {
		queue_pg_close(&q->handle);
		return NULL;
	}
	if (base != NULL)
		log_msg(LOG_LVL_INFO, "op=queue_open backend=postgresql database=\"%s\" node=%s "
		    "lease_time=%us schema=%d", q->dsn_masked, q->node, q->lease_time,
		    QUEUE_PG_SCHEMA_VERSION);
	return &q->handle;
}

void queue_pg_close(struct queue_store *store)
{
	struct queue_pg *q = queue_pg_of(store);
	if (q == NULL)
		return;
	queue_pg_commit_close(q);
	queue_pg_bulk_close(q);
	queue_pg_dest_close(q);
	for (size_t i = 0; i < QUEUE_PG_COMMITTERS; i++)
		queue_pg_conn_free(q->commit[i]);
	queue_pg_conn_free(q->read);
	queue_pg_conn_free(q->bulk);
	queue_pg_conn_free(q->listen);
	if (q->kick_ev != NULL)
		event_free(q->kick_ev);
	if (q->tick_ev != NULL)
		event_free(q->tick_ev);
	if (q->base != NULL)
		log_msg(LOG_LVL_INFO, "op=queue_close backend=postgresql transactions=%llu "
		    "failed_transactions=%llu jobs=%llu failed_jobs=%llu max_batch=%llu",
		    (unsigned long long)q->stats.transactions,
		    (unsigned long long)q->stats.failed_transactions,
		    (unsigned long long)q->stats.jobs_ok, (unsigned long long)q->stats.jobs_failed,
		    (unsigned long long)q->stats.max_batch);
	PQfinish(q->admin);
	queue_claims_free(&q->claims);
	queue_pg_dest_forget_slots(q);
	free(q->slots);
	for (size_t i = 0; q->kw != NULL && q->kw[i] != NULL; i++) {
		if (strcmp(q->kw[i], "password") == 0)
			explicit_bzero((char *)q->kv[i], strlen(q->kv[i]));
		free((char *)q->kv[i]);
	}
	free(q->kw);
	free(q->kv);
	free(q->dsn_masked);
	free(q->node);
	free(q->dir);
	free(q);
}

/* A large message waits in a local file before it goes to the server: room for it here. */
static bool queue_pg_has_room(const struct queue_store *store, uint64_t size)
{
	const struct queue_pg *q = queue_pg_cof(store);
	struct statvfs sv;
	if (size <= QUEUE_PG_INLINE || statvfs(q->dir, &sv) != 0)
		return true;
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize >= size;
}

/* The server's storage is the operator's: nothing to keep back, no page limit, no busy wait. */
static void queue_pg_set_reserve(struct queue_store *store, uint64_t size)
{
	(void)store;
	(void)size;
}

static void queue_pg_set_max_pages(struct queue_store *store, uint32_t max_pages)
{
	(void)store;
	(void)max_pages;
}

static void queue_pg_set_busy_timeout(struct queue_store *store, unsigned ms)
{
	(void)store;
	(void)ms;
}

static void queue_pg_stats(struct queue_store *store, struct queue_store_stats *out)
{
	*out = queue_pg_of(store)->stats;
}

static void queue_pg_set_wakeup(struct queue_store *store, void (*fn)(void *arg), void *arg)
{
	struct queue_pg *q = queue_pg_of(store);
	q->wake = fn;
	q->wake_arg = arg;
}

static int queue_pg_store_schema_version(struct queue_store *store, int *newest, char *err,
    size_t errlen)
{
	struct queue_pg *q = queue_pg_of(store);
	*newest = QUEUE_PG_SCHEMA_VERSION;
	if (!queue_pg_admin_ok(q, err, errlen))
		return -1;
	return queue_pg_schema_version(q->admin, err, errlen);
}

const struct queue_ops queue_pg_ops = {
	.name = "postgresql",
	.open = NULL,		/* opened with options: queue_pg_open */
	.close = queue_pg_close,
	.has_room = queue_pg_has_room,
	.set_reserve = queue_pg_set_reserve,
	.stats = queue_pg_stats,
	.set_max_pages = queue_pg_set_max_pages,
	.set_busy_timeout = queue_pg_set_busy_timeout,
	.writer_new = queue_pg_writer_new,
	.writer_id = queue_pg_writer_id,
	.writer_append = queue_pg_writer_append,
	.writer_size = queue_pg_writer_size,
	.writer_bounce_for = queue_pg_writer_bounce_for,
	.writer_commit = queue_pg_writer_commit,
	.writer_abort = queue_pg_writer_abort,
	.update_outcomes = queue_pg_update_outcomes,
	.update_bounced = queue_pg_update_bounced,
	.update_delete_if_done = queue_pg_update_delete_if_done,
	.update_outcomes_delete = queue_pg_update_outcomes_delete,
	.update_hold = queue_pg_update_hold,
	.update_delete = queue_pg_update_delete,
	.update_flush_msg = queue_pg_update_flush_msg,
	.update_flush_domain = queue_pg_update_flush_domain,
	.update_fail_waiting = queue_pg_update_fail_waiting,
	.due_list = queue_pg_due_list,
	.due_unclaim = queue_pg_due_unclaim,
	.due_claimed = queue_pg_due_claimed,
	.due_fetch = queue_pg_due_fetch,
	.fetch = queue_pg_fetch,
	.recover_fetch = queue_pg_recover_fetch,
	.available = queue_pg_available,
	.set_wakeup = queue_pg_set_wakeup,
	.schema_version = queue_pg_store_schema_version,
	.query_message = queue_pg_query_message,
	.query_list = queue_pg_query_list,
	.query_headers = queue_pg_query_headers,
	.query_count = queue_pg_query_count,
	.body_open = queue_pg_body_open,
	.body_close = queue_pg_body_close,
	.sts_load = queue_pg_sts_load,
	.sts_save = queue_pg_sts_save,
	.sts_list = queue_pg_sts_list,
	.tlsrpt_add = queue_pg_tlsrpt_add,
	.tlsrpt_list = queue_pg_tlsrpt_list,
	.tlsrpt_reported = queue_pg_tlsrpt_reported,
	.tlsrpt_was_reported = queue_pg_tlsrpt_was_reported,
	.tlsrpt_prune = queue_pg_tlsrpt_prune,
	.dest_acquire = queue_pg_dest_acquire,
	.dest_release = queue_pg_dest_release,
	.dest_publish = queue_pg_dest_publish,
	.dest_fetch = queue_pg_dest_fetch,
};
