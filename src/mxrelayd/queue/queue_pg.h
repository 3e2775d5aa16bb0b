/*
 * queue_pg: what the files of the PostgreSQL backend share and nobody
 * else sees: its store, its connections to the server (asynchronous, on
 * the loop, in libpq's pipeline mode), the group-commit jobs, the SQL of
 * every statement it prepares, and the functions of its struct
 * queue_ops (queue_pg_ops, in queue_pg_store.c).
 *
 * Owns: the split of the work over the connections (see struct
 * queue_pg). Never: included outside src/mxrelayd/queue/ (and its unit
 * tests).
 */
#ifndef MXR_QUEUE_PG_H
#define MXR_QUEUE_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "queue/queue_store.h"
#include "queue_backend.h"
#include "queue_claims.h"

#define QUEUE_PG_SCHEMA_VERSION 1
/* Bodies up to this size are kept in memory and stored in the message's own row. */
#define QUEUE_PG_INLINE (256 * 1024)
/* Larger bodies: rows of the body table, each this size but the last (docs/queue.md). */
#define QUEUE_PG_CHUNK (1024 * 1024)
/* Chunks asked for at once while a large body comes in (the memory a download holds). */
#define QUEUE_PG_WINDOW 4
/* Connections that commit in turn (their commits share the server's WAL flushes). */
#define QUEUE_PG_COMMITTERS 2
/* Most jobs one transaction takes. */
#define QUEUE_PG_BATCH_MAX 512
/* Reconnecting: the first wait, doubled up to the last (ms). */
#define QUEUE_PG_RETRY_MIN_MS 250
#define QUEUE_PG_RETRY_MAX_MS 10000
/* The channel new mail is announced on. */
#define QUEUE_PG_CHANNEL "mxrelay_queue"
/* How long the blocking (command line, control socket) connection waits at most. */
#define QUEUE_PG_SYNC_TIMEOUT_MS 5000
/* Messages whose body rows outlived their commit (a crash between the two) go after this. */
#define QUEUE_PG_ORPHAN_AGE_S 3600

struct event;
struct event_base;
struct queue_pg;
struct queue_pg_conn;
struct queue_pg_req;
struct queue_pg_slot_req;

/* ---- queue_pg_conn.c: one asynchronous connection ---- */

/* Each statement's result (idx: its place in the request), valid during the call. */
typedef void queue_pg_result_fn(void *arg, int idx, const PGresult *res);
/* The request ended: ok when every statement succeeded (its transaction committed). */
typedef void queue_pg_done_fn(void *arg, bool ok, const char *err);
/* The connection became ready (ok) or was lost (!ok, err says why). */
typedef void queue_pg_state_fn(void *arg, struct queue_pg_conn *c, bool ready, const char *err);
/* A new connection (or a reconnection) sets itself up: requests, then queue_pg_conn_setup_done. */
typedef void queue_pg_setup_fn(void *arg, struct queue_pg_conn *c, bool first);
/* A NOTIFY heard on a channel the connection LISTENs to. */
typedef void queue_pg_notify_fn(void *arg, const char *channel);

struct queue_pg_conn_opts {
	const char *name;		/* for logs: "commit1", "read", "bulk", "listen" */
	const char *const *keywords;	/* libpq's connection keywords and values (borrowed, */
	const char *const *values;	/* outliving the connection) */
	queue_pg_setup_fn *setup;
	queue_pg_state_fn *state;
	queue_pg_notify_fn *notify;	/* or NULL */
	void *arg;
};

/*
 * Connect now, blocking (at start: a database out of reach stops the
 * daemon with a clear error), run the setup to its end, then go on
 * asynchronously on base. NULL with err filled.
 */
struct queue_pg_conn *queue_pg_conn_open(struct event_base *base,
    const struct queue_pg_conn_opts *opts, char *err, size_t errlen);
/* Close: requests in flight end with ok false. NULL is fine. */
void queue_pg_conn_free(struct queue_pg_conn *c);
/* Whether requests may be sent (connected and set up). */
bool queue_pg_conn_ready(const struct queue_pg_conn *c);
/* Whether no request is in flight. */
bool queue_pg_conn_idle(const struct queue_pg_conn *c);
/* The setup of c ended: ready, or (ok false) dropped and tried again later. */
void queue_pg_conn_setup_done(struct queue_pg_conn *c, bool ok, const char *err);
/* Drop the connection (an error the caller saw) and reconnect with backoff. */
void queue_pg_conn_reset(struct queue_pg_conn *c, const char *why);
/*
 * A request: every statement added until queue_pg_req_end runs in one
 * implicit transaction (committed at its sync point, rolled back whole on
 * an error), with results and the end reported on the loop. On a
 * connection not ready the request fails (done called from the loop,
 * never inside these calls).
 */
struct queue_pg_req *queue_pg_req_begin(struct queue_pg_conn *c, queue_pg_result_fn *result,
    queue_pg_done_fn *done, void *arg);
/*
 * Add a statement: prepared by name (queue_pg_sql_name) with n parameters
 * (text, or binary where fmts says 1), its rows in format result_fmt.
 */
void queue_pg_req_stmt(struct queue_pg_req *r, int stmt, int n, const char *const *vals,
    const int *lens, const int *fmts, int result_fmt);
/* Add the preparation of statement s (a connection's setup prepares them all). */
void queue_pg_req_prepare(struct queue_pg_req *r, int stmt);
/* Add a statement given as text (no parameters prepared beforehand). */
void queue_pg_req_sql(struct queue_pg_req *r, const char *sql, int n, const char *const *vals);
/* End the request (its sync point) and send it. */
void queue_pg_req_end(struct queue_pg_req *r);
/*
 * Call fn(arg) from the loop once everything sent so far left libpq's
 * buffer (flow control), or once the connection is lost.
 */
void queue_pg_conn_when_drained(struct queue_pg_conn *c, void (*fn)(void *arg), void *arg);
/* Whether nothing went wrong with r so far. */
bool queue_pg_req_ok(const struct queue_pg_req *r);

/* ---- queue_pg_bulk.c: large bodies take turns on the bulk connection ---- */

struct queue_pg_bulk {
	struct queue_pg_bulk *next;
	/* Run the transfer; it calls queue_pg_bulk_end when its last request ended. */
	void (*start)(struct queue_pg_bulk *t);
	/* The store closes before it started: fail it (its owner's callback runs). */
	void (*cancel)(struct queue_pg_bulk *t);
};
/* Queue t; it starts (from the loop) when the transfers before it ended. */
void queue_pg_bulk_run(struct queue_pg *q, struct queue_pg_bulk *t);
/* The running transfer ended: the next one starts on the loop's next turn. */
void queue_pg_bulk_end(struct queue_pg *q);
/* Closing: the transfers not started are cancelled. */
void queue_pg_bulk_close(struct queue_pg *q);

/* ---- queue_pg_sql.c: the statements and pure helpers ---- */

enum queue_pg_stmt {
	QPG_CLAIM,		/* due recipients leased to this node */
	QPG_RENEW,		/* leases extended */
	QPG_UNCLAIM,		/* leases given back */
	QPG_INS_MSG,		/* a message and its recipients */
	QPG_INS_CHUNK,		/* a chunk of a large body */
	QPG_OUTCOME,		/* one outcome and its history row */
	QPG_BOUNCED_FOR,	/* a DSN's recipients marked bounced, all or an error */
	QPG_BOUNCED,		/* failed recipients marked bounced (no DSN wanted) */
	QPG_DEL_DONE,		/* a finished message deleted */
	QPG_NOTIFY,		/* new mail announced */
	QPG_MSG,		/* an envelope */
	QPG_MSG_BODY,		/* an inline body */
	QPG_CHUNK,		/* a chunk of a large body */
	QPG_RCPTS,		/* a message's recipients */
	QPG_HISTORY,		/* their history */
	QPG_RECOVER_FAILED,	/* messages owing a DSN */
	QPG_RECOVER_DONE,	/* finished messages left behind */
	QPG_COUNTS,		/* messages, held, octets */
	QPG_COUNTS_RCPT,	/* recipients by state */
	QPG_OLDEST,		/* the oldest message */
	QPG_SLOT_TAKE,		/* one of a destination's slots (advisory lock) */
	QPG_SLOT_GIVE,		/* given back */
	QPG_DEST_PUT,		/* a destination's backoff published */
	QPG_DEST_GET,		/* the fleet's changed since */
	QPG_ORPHANS,		/* body rows of messages never committed */
	QPG_DEST_PRUNE,		/* destinations out of backoff and quiet for a day */
	QPG_LOCK_MSG,		/* a message's row locked for the rest of the transaction */
	QPG_LOCK_RCPT_MSG,	/* the same, found by one of its recipients */
	QPG_STMT_COUNT_
};

/* The prepared statement's name ("mxr_N") and its text. */
const char *queue_pg_sql_name(enum queue_pg_stmt s);
const char *queue_pg_sql_text(enum queue_pg_stmt s);
/*
 * A PostgreSQL array literal of n 64-bit integers ("{1,2,3}") into a new
 * string (the caller frees it).
 */
char *queue_pg_sql_int_array(const int64_t *v, size_t n);
/*
 * A PostgreSQL array literal of n strings, each quoted with '"' and '\'
 * escaped, NULL elements unquoted NULL (the caller frees it).
 */
char *queue_pg_sql_text_array(const char *const *v, size_t n);
/* Parse a decimal integer column; def when NULL or not a number. */
int64_t queue_pg_sql_int(const PGresult *res, int row, int col, int64_t def);
/* A decimal string as an integer; 0 when it is not one (PQcmdTuples of a command without rows). */
int64_t queue_pg_sql_int_of(const char *s);
/* A text column copied (malloc), or NULL when the column is NULL. */
char *queue_pg_sql_strdup(const PGresult *res, int row, int col);
/* A boolean column ("t"). */
bool queue_pg_sql_bool(const PGresult *res, int row, int col);
/*
 * What the server said of a failed result, on one line: its primary
 * message and SQLSTATE ("could not extend file (SQLSTATE 53100)"), or
 * libpq's own message when the server said nothing; "no message" if none.
 */
void queue_pg_sql_error(const PGresult *res, char *out, size_t outlen);
/*
 * Whether err (as queue_pg_sql_error wrote it) is the server refusing for
 * want of storage (SQLSTATE class 53: disk full, out of memory, too many
 * connections), rather than the server or the connection failing.
 */
bool queue_pg_sql_error_is_storage(const char *err);
/*
 * How often a node renews its leases (a third of their time, at least a
 * second), and whether a lease ending at until is still live at now.
 */
unsigned queue_pg_lease_renew_every(unsigned lease_time);
bool queue_pg_lease_live(int64_t until, int64_t now);

/* ---- the store ---- */

/* A unit of the group commit: its statements go into the batch's transaction. */
struct queue_pg_job {
	struct queue_pg_job *next;
	/* Add its statements to r; returns how many it added. */
	int (*send)(struct queue_pg_job *j, struct queue_pg_req *r);
	/* The result of its statement idx (0-based, its own). May be NULL. */
	void (*result)(struct queue_pg_job *j, int idx, const PGresult *res);
	/* On the loop once durable (ok) or not; frees the job. */
	void (*done)(struct queue_pg_job *j, bool ok, const char *err);
	bool new_message;		/* a new message: the batch announces new mail */
	char key[QUEUE_ID_LEN + 1];	/* the message whose row it locks ("": none known); a
					   batch locks rows in this order, so batches never deadlock */
	bool wait_while_down;		/* wait for the server to come back rather than fail */
	int first, nq;			/* its statements' place in the batch (set when sent) */
	uint64_t seq;			/* submit order (set by queue_pg_commit_submit) */
	bool failed;			/* set when its own statement failed */
};

/* A slot this node holds: (destination, slot number) in the listen connection's session. */
struct queue_pg_slot {
	char *key;			/* owned */
	int slot;
	unsigned gen;			/* the listen connection's generation it was taken in */
};

struct queue_pg {
	struct queue_store handle;	/* first: what the callers hold */
	char *dir;			/* local files (spooled bodies); owned */
	char *node;			/* node_id, owned */
	unsigned lease_time;		/* seconds */
	const char **kw, **kv;		/* libpq keywords and values (owned, strings owned) */
	char *dsn_masked;		/* for logs, owned */
	struct event_base *base;	/* NULL: the command line (admin connection only) */

	PGconn *admin;			/* blocking: the command line's and the control socket's */

	/* The loop's connections (base != NULL). */
	struct queue_pg_conn *commit[QUEUE_PG_COMMITTERS];	/* group commits, in turn */
	struct queue_pg_job **commit_jobs[QUEUE_PG_COMMITTERS];	/* the batch in flight on each (owned array) */
	size_t commit_njobs[QUEUE_PG_COMMITTERS];
	struct queue_pg_conn *read;	/* claims, leases, fetches, counts */
	struct queue_pg_conn *bulk;	/* large bodies in and out */
	struct queue_pg_conn *listen;	/* LISTEN, the node lock, destination slots */
	bool node_locked;		/* the listen session holds this node's lock */
	/*
	 * Until then (queue_pg_clock) the store says it is unavailable: a
	 * commit failed for another reason than the server's storage, most
	 * often the server going away before this node has noticed on every
	 * connection, and the sessions of that moment must hear 451 4.3.0.
	 */
	double unavailable_until;
	unsigned listen_gen;		/* grows with each listen reconnection */

	struct queue_pg_job *pending, **pending_tail;	/* jobs waiting for a batch */
	size_t npending;
	uint64_t job_seq;		/* jobs submitted so far */
	struct event *kick_ev;		/* start a batch on the loop's next turn */
	struct event *tick_ev;		/* lease renewal, counts, orphan sweep */
	time_t last_renew, last_orphans;

	struct queue_claims claims;	/* leased to this node and handed to the scheduler */
	struct queue_pg_slot *slots;	/* held; owned */
	size_t nslots;
	struct queue_pg_slot_req *slot_wait, **slot_wait_tail;	/* slot requests not sent yet */
	bool slot_busy;			/* one slot request is in flight */

	void (*wake)(void *arg);	/* new mail in the fleet */
	void *wake_arg;

	struct queue_counts counts;	/* last counts read (the daemon's query_count) */
	bool counts_ok, counts_busy;
	time_t counts_at;
	char counts_err[160];

	struct queue_store_stats stats;

	struct queue_pg_bulk *bulk_head, **bulk_tail;	/* transfers waiting (the head runs) */
	bool bulk_running;
	struct event *bulk_ev;		/* starts the next transfer */
};

/* The store a caller holds, as this backend's (handle is the first member). */
static inline struct queue_pg *queue_pg_of(struct queue_store *store)
{
	return (struct queue_pg *)store;
}

static inline const struct queue_pg *queue_pg_cof(const struct queue_store *store)
{
	return (const struct queue_pg *)store;
}

/* queue_pg_store.c */
void queue_pg_close(struct queue_store *store);
/* Whether commits can be made now (every connection up, the node lock held). */
bool queue_pg_available(const struct queue_store *store);
/* Reconnect the admin connection when it was lost; false with err. */
bool queue_pg_admin_ok(struct queue_pg *q, char *err, size_t errlen);
/*
 * Run sql (n text parameters) on the admin connection: the result (the
 * caller PQclears it), or NULL with err filled (the server's message).
 */
PGresult *queue_pg_admin_exec(struct queue_pg *q, const char *sql, int n,
    const char *const *vals, char *err, size_t errlen);

/* queue_pg_schema.c */
/*
 * Check the server's durability settings (synchronous_commit not off,
 * fsync on) and bring the schema to this version (created when missing,
 * upgraded when older, refused when newer). 0 or -1 with err.
 */
int queue_pg_schema_ensure(PGconn *db, char *err, size_t errlen);
/* The schema version of db (0: none), or -1 with err. */
int queue_pg_schema_version(PGconn *db, char *err, size_t errlen);
/* Whether a result is the durable settings (synchronous_commit, fsync): NULL, or why not. */
const char *queue_pg_schema_durable(const char *sync_commit, const char *fsync);

/* queue_pg_commit.c: the group commit */
/* The monotonic clock in seconds (to time a transaction, to hold unavailable_until). */
double queue_pg_clock(void);
void queue_pg_commit_submit(struct queue_pg *q, struct queue_pg_job *j);
/* A commit connection is ready or idle again: start a batch if jobs wait. */
void queue_pg_commit_pump(struct queue_pg *q);
/* The server went away: fail the jobs that do not wait for it. */
void queue_pg_commit_fail_waiting(struct queue_pg *q, const char *err);
/* Closing: every job still pending fails. */
void queue_pg_commit_close(struct queue_pg *q);

/* queue_pg_writer.c */
struct queue_writer *queue_pg_writer_new(struct queue_store *store);
const char *queue_pg_writer_id(const struct queue_writer *writer);
int queue_pg_writer_append(struct queue_writer *writer, const void *data, size_t len);
uint64_t queue_pg_writer_size(const struct queue_writer *writer);
void queue_pg_writer_bounce_for(struct queue_writer *writer, const int64_t *rcpt_ids, size_t n);
void queue_pg_writer_commit(struct queue_writer *writer, const struct queue_envelope *env,
    queue_commit_cb *cb, void *arg);
void queue_pg_writer_abort(struct queue_writer *writer);

/* queue_pg_update.c */
void queue_pg_update_outcomes(struct queue_store *store, const struct queue_outcome *o, size_t n,
    queue_commit_cb *cb, void *arg);
void queue_pg_update_bounced(struct queue_store *store, const int64_t *rcpt_ids, size_t n,
    queue_commit_cb *cb, void *arg);
void queue_pg_update_delete_if_done(struct queue_store *store, const char *id,
    queue_delete_cb *cb, void *arg);
void queue_pg_update_outcomes_delete(struct queue_store *store, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_delete_cb *cb, void *arg);
int queue_pg_update_hold(struct queue_store *store, const char *id, bool hold, char *err,
    size_t errlen);
int queue_pg_update_delete(struct queue_store *store, const char *id, char *err, size_t errlen);
int queue_pg_update_flush_msg(struct queue_store *store, const char *id, time_t now, char *err,
    size_t errlen);
int queue_pg_update_flush_domain(struct queue_store *store, const char *domain, time_t now,
    char *err, size_t errlen);
int queue_pg_update_fail_waiting(struct queue_store *store, const char *id, time_t now,
    const char *esc, const char *reply, char *err, size_t errlen);

/* queue_pg_due.c: claims, leases, the recovery lists */
int queue_pg_due_list(struct queue_store *store, time_t now, size_t limit, bool claim,
    struct queue_due_list *out, char *err, size_t errlen);
void queue_pg_due_fetch(struct queue_store *store, time_t now, size_t limit, queue_due_cb *cb,
    void *arg);
void queue_pg_due_unclaim(struct queue_store *store, const int64_t *rcpt_ids, size_t n);
size_t queue_pg_due_claimed(const struct queue_store *store);
void queue_pg_recover_fetch(struct queue_store *store, time_t quiet_since, queue_recover_cb *cb,
    void *arg);
/* Extend the leases of every recipient this node holds (from the tick). */
void queue_pg_due_renew(struct queue_pg *q);
/* The rows of a claim into a due list (sorted by domain, message, recipient). */
void queue_pg_due_rows(const PGresult *res, struct queue_due_list *out);

/* queue_pg_rows.c: rows into the interface's structs (shared by the two read paths) */
/* An envelope row of QPG_MSG into *m. */
void queue_pg_rows_msg(const PGresult *res, int row, struct queue_msg *m);
/* Recipient rows of QPG_RCPTS into a new array (*n of them). */
struct queue_rcpt *queue_pg_rows_rcpts(const PGresult *res, size_t *n);
/* History rows of QPG_HISTORY attached to the recipients they belong to. */
void queue_pg_rows_history(const PGresult *res, struct queue_rcpt *r, size_t n);

/* queue_pg_fetch.c */
void queue_pg_fetch(struct queue_store *store, const struct queue_fetch_req *req,
    queue_fetch_cb *cb, void *arg);
void queue_pg_body_close(struct queue_body *body);
/*
 * A body read into a local file (large) or memory (inline), text size
 * octets, with its prefix (owned by the body from now on; NULL: none)
 * delivered first: its source. Used by the asynchronous fetch and by the
 * command line's body_open.
 */
struct queue_body *queue_pg_body_new(struct queue_pg *q, const char *id, int fd,
    unsigned char *mem, uint64_t size, unsigned char *prefix, size_t prefix_len,
    struct mxr_source *src);
/* A temporary file under dir, already unlinked; -1 with err. */
int queue_pg_tmpfile(const char *dir, char *err, size_t errlen);

/* queue_pg_query.c: the synchronous reads (admin connection) */
int queue_pg_query_message(struct queue_store *store, const char *id, struct queue_msg *m,
    struct queue_rcpt **rcpts, size_t *nrcpts, bool with_history, char *err, size_t errlen);
long queue_pg_query_list(struct queue_store *store, queue_list_fn *fn, void *arg, char *err,
    size_t errlen);
int queue_pg_query_headers(struct queue_store *store, const char *id, size_t cap, char **out,
    size_t *outlen, char *err, size_t errlen);
int queue_pg_query_count(struct queue_store *store, struct queue_counts *out, char *err,
    size_t errlen);
struct queue_body *queue_pg_body_open(struct queue_store *store, const char *id,
    struct mxr_source *src, char *err, size_t errlen);
/* The daemon's counts: read again on the read connection (at most once a second). */
void queue_pg_query_counts_refresh(struct queue_pg *q);

/* queue_pg_tls.c: MTA-STS policies and TLS results (admin connection) */
int queue_pg_sts_load(struct queue_store *store, const char *domain, struct queue_sts_policy *out,
    char *err, size_t errlen);
long queue_pg_sts_list(struct queue_store *store, int64_t now, queue_sts_fn *fn, void *arg,
    char *err, size_t errlen);
int queue_pg_sts_save(struct queue_store *store, const struct queue_sts_policy *p, char *err,
    size_t errlen);
int queue_pg_tlsrpt_add(struct queue_store *store, const struct queue_tlsrpt_row *rows, size_t n,
    char *err, size_t errlen);
long queue_pg_tlsrpt_list(struct queue_store *store, int64_t day_from, int64_t day_to,
    const char *domain, queue_tlsrpt_fn *fn, void *arg, char *err, size_t errlen);
int queue_pg_tlsrpt_reported(struct queue_store *store, int64_t day, const char *domain,
    const char *report_id, const char *outcome, int64_t at, bool forget, char *err,
    size_t errlen);
int queue_pg_tlsrpt_was_reported(struct queue_store *store, int64_t day, const char *domain,
    char *err, size_t errlen);
long queue_pg_tlsrpt_prune(struct queue_store *store, int64_t day, char *err, size_t errlen);

/* queue_pg_dest.c: the fleet's destination slots and backoffs */
void queue_pg_dest_acquire(struct queue_store *store, const char *key, unsigned max,
    queue_slot_cb *cb, void *arg);
void queue_pg_dest_release(struct queue_store *store, const char *key, int slot);
void queue_pg_dest_publish(struct queue_store *store, const struct queue_dest_state *st);
void queue_pg_dest_fetch(struct queue_store *store, int64_t since, queue_dests_cb *cb, void *arg);
/* Closing: the slot requests not sent fail. */
void queue_pg_dest_close(struct queue_pg *q);
/* The listen connection was lost: every slot went with its session. */
void queue_pg_dest_forget_slots(struct queue_pg *q);

#endif
