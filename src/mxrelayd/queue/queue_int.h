/*
 * queue_int: what the files of the SQLite backend share and nobody else
 * sees: its store struct, the job that the writer thread applies, small
 * SQL helpers, and the functions of its struct queue_ops (queue_sqlite_ops,
 * in queue_store.c), which the public functions reach through the table.
 *
 * Owns: the split of state between the loop thread and the writer
 * thread (see struct queue_sqlite). Never: included outside
 * src/mxrelayd/queue/ (and its white-box unit tests).
 */
#ifndef MXR_QUEUE_INT_H
#define MXR_QUEUE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue_store.h"
#include "queue_backend.h"
#include "queue_claims.h"

#define QUEUE_CHUNK (64 * 1024)		/* body chunk size: every chunk but the last is full */
#define QUEUE_SPILL (256 * 1024)	/* bodies larger than this go to a spool file (queue_spool.c) */
#define QUEUE_BUSY_MS 5000		/* busy timeout of both connections */
#define QUEUE_CKPT_FRAMES 1000		/* checkpoint once the WAL has this many frames */
#define QUEUE_DB_NAME "queue.db"
#define QUEUE_RESERVE_NAME "reserve"	/* room kept back for a full disk (queue_reserve.c) */
#define QUEUE_RESERVE_STEP_MIN (64 * 1024)	/* a reserve this small goes all at once */
#define QUEUE_SPOOL_DIR "bodies"		/* bodies above QUEUE_SPILL, one file each */
#define QUEUE_SPOOL_KICK (1024 * 1024)	/* start write-back of a spool file every this many octets */

/* Shared by every user of the QW_BOUNCED statement (one SQL per slot). */
#define QUEUE_SQL_BOUNCED \
	"UPDATE recipients SET state = 'bounced', updated_at = ? WHERE id = ? AND state = 'failed'"

struct event;
struct queue_job;

struct queue_sqlite;

/*
 * A unit of work for the writer thread. Each kind embeds this (first, but
 * for the writer, whose handle comes first).
 * apply runs on the writer thread inside the batch transaction (inside a
 * savepoint of its own) and returns false with err filled to have its
 * changes rolled back; done runs on the loop thread afterwards, calls the
 * user's callback and frees the job.
 */
struct queue_job {
	struct queue_job *next;
	bool (*apply)(struct queue_job *j, struct queue_sqlite *q, sqlite3 *db,
	    char *err, size_t errlen);
	bool uses_reserve;		/* may free the reserve when the disk is full (not new mail) */
	bool new_message;		/* a message written (counted in the commit's batch size) */
	void (*done)(struct queue_job *j, bool ok, const char *err);
	bool ok;			/* set by the writer thread */
	char err[160];			/* set by the writer thread when !ok */
};

/* Statements of the writer connection, prepared on first use by the writer thread. */
enum queue_wstmt {
	QW_INS_MSG,
	QW_INS_RCPT,
	QW_INS_BODY,
	QW_OUTCOME,
	QW_INS_HIST,
	QW_BOUNCED,
	QW_UNDONE,
	QW_DEL_HIST,
	QW_DEL_BODY,
	QW_DEL_RCPT,
	QW_DEL_MSG,
	QW_BEGIN,
	QW_SAVEPOINT,
	QW_RELEASE,
	QW_COMMIT,
	QW_COUNT_
};

/*
 * Statements of the read connection that run for every message (due scan,
 * delivery start, body reads), prepared once on first use: parsing them
 * again for each message cost about a tenth of the loop's CPU.
 */
enum queue_rstmt {
	QR_DUE,
	QR_MSG,
	QR_MSG_SIZE,
	QR_BODY_CHUNK,
	QR_COUNT_
};

struct queue_sqlite {
	struct queue_store handle;	/* first: what the callers hold */
	char *dir;			/* owned */
	char *path;			/* database path, owned */
	struct event_base *base;	/* not owned; NULL: no writer thread */
	_Atomic uint64_t reserve_size;	/* octets of the reserve file, 0: none (queue_reserve.c) */

	/* Loop thread only. */
	sqlite3 *rdb;			/* reads and synchronous admin changes */
	sqlite3_stmt *rs[QR_COUNT_];	/* see queue_store_rstmt; finalized on close */
	struct queue_claims claims;
	struct event *wake_ev;		/* watches wake_fd[0] */

	/* Writer thread only (after start). */
	sqlite3 *wdb;
	sqlite3_stmt *ws[QW_COUNT_];	/* see queue_commit_stmt */
	int wal_frames;			/* WAL size after the last commit (wal hook) */
	bool reserve_held;		/* the reserve file was there when this batch began */
	bool spool_dir_unsynced;	/* a spool file was named since the last directory fsync */
	char (*spool_doomed)[QUEUE_ID_LEN + 1];	/* spool files to remove after COMMIT; owned */
	size_t nspool_doomed, spool_doomed_cap;

	/* Shared, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct queue_job *pending;	/* FIFO: head */
	struct queue_job **pending_tail;
	struct queue_job *finished;	/* FIFO: head */
	struct queue_job **finished_tail;
	bool stop;
	unsigned spool_syncing;		/* spool sync threads not yet finished (queue_writer.c) */
	pthread_cond_t spool_sync_cv;	/* signalled as each finishes */
	uint32_t max_pages;		/* to apply before the next transaction, 0 none */
	unsigned busy_ms;		/* to apply before the next transaction, 0 none */
	struct queue_store_stats stats;

	int wake_fd[2];			/* writer -> loop: finished jobs are ready */
	pthread_t thread;
	bool thread_running;
};

/* The store a caller holds, as this backend's (handle is the first member). */
static inline struct queue_sqlite *queue_sqlite_of(struct queue_store *store)
{
	return (struct queue_sqlite *)store;
}

static inline const struct queue_sqlite *queue_sqlite_cof(const struct queue_store *store)
{
	return (const struct queue_sqlite *)store;
}

/*
 * The operations of queue_sqlite_ops, one per member of struct queue_ops
 * (whose comments in queue_store.h are their contracts), by file.
 */
/* queue_tls.c */
int queue_sqlite_sts_load(struct queue_store *store, const char *domain,
    struct queue_sts_policy *out, char *err, size_t errlen);
long queue_sqlite_sts_list(struct queue_store *store, int64_t now, queue_sts_fn *fn, void *arg,
    char *err, size_t errlen);
int queue_sqlite_sts_save(struct queue_store *store, const struct queue_sts_policy *p,
    char *err, size_t errlen);
int queue_sqlite_tlsrpt_add(struct queue_store *store, const struct queue_tlsrpt_row *rows,
    size_t n, char *err, size_t errlen);
long queue_sqlite_tlsrpt_list(struct queue_store *store, int64_t day_from, int64_t day_to,
    const char *domain, queue_tlsrpt_fn *fn, void *arg, char *err, size_t errlen);
int queue_sqlite_tlsrpt_reported(struct queue_store *store, int64_t day, const char *domain,
    const char *report_id, const char *outcome, int64_t at, bool forget, char *err,
    size_t errlen);
int queue_sqlite_tlsrpt_was_reported(struct queue_store *store, int64_t day,
    const char *domain, char *err, size_t errlen);
long queue_sqlite_tlsrpt_prune(struct queue_store *store, int64_t day, char *err,
    size_t errlen);
/* queue_store.c */
struct queue_store *queue_sqlite_open(struct event_base *base, const char *dir,
    char *err, size_t errlen);
void queue_sqlite_close(struct queue_store *store);
bool queue_sqlite_has_room(const struct queue_store *store, uint64_t size);
void queue_sqlite_set_reserve(struct queue_store *store, uint64_t size);
void queue_sqlite_stats(struct queue_store *store, struct queue_store_stats *out);
void queue_sqlite_set_max_pages(struct queue_store *store, uint32_t max_pages);
void queue_sqlite_set_busy_timeout(struct queue_store *store, unsigned ms);
/* queue_writer.c */
struct queue_writer *queue_sqlite_writer_new(struct queue_store *store);
const char *queue_sqlite_writer_id(const struct queue_writer *writer);
int queue_sqlite_writer_append(struct queue_writer *writer, const void *data, size_t len);
uint64_t queue_sqlite_writer_size(const struct queue_writer *writer);
void queue_sqlite_writer_bounce_for(struct queue_writer *writer, const int64_t *rcpt_ids,
    size_t n);
void queue_sqlite_writer_commit(struct queue_writer *writer, const struct queue_envelope *env,
    queue_commit_cb *cb, void *arg);
void queue_sqlite_writer_abort(struct queue_writer *writer);
/* queue_update.c */
void queue_sqlite_update_outcomes(struct queue_store *store, const struct queue_outcome *o,
    size_t n, queue_commit_cb *cb, void *arg);
void queue_sqlite_update_bounced(struct queue_store *store, const int64_t *rcpt_ids, size_t n,
    queue_commit_cb *cb, void *arg);
void queue_sqlite_update_delete_if_done(struct queue_store *store, const char *id,
    queue_delete_cb *cb, void *arg);
void queue_sqlite_update_outcomes_delete(struct queue_store *store, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_delete_cb *cb, void *arg);
int queue_sqlite_update_hold(struct queue_store *store, const char *id, bool hold,
    char *err, size_t errlen);
int queue_sqlite_update_delete(struct queue_store *store, const char *id, char *err,
    size_t errlen);
int queue_sqlite_update_flush_msg(struct queue_store *store, const char *id, time_t now,
    char *err, size_t errlen);
int queue_sqlite_update_flush_domain(struct queue_store *store, const char *domain, time_t now,
    char *err, size_t errlen);
int queue_sqlite_update_fail_waiting(struct queue_store *store, const char *id, time_t now,
    const char *esc, const char *reply, char *err, size_t errlen);
/* queue_due.c */
int queue_sqlite_due_list(struct queue_store *store, time_t now, size_t limit, bool claim,
    struct queue_due_list *out, char *err, size_t errlen);
void queue_sqlite_due_unclaim(struct queue_store *store, const int64_t *rcpt_ids, size_t n);
size_t queue_sqlite_due_claimed(const struct queue_store *store);
/* queue_query.c */
int queue_sqlite_query_message(struct queue_store *store, const char *id, struct queue_msg *m,
    struct queue_rcpt **rcpts, size_t *nrcpts, bool with_history, char *err, size_t errlen);
long queue_sqlite_query_list(struct queue_store *store, queue_list_fn *fn, void *arg,
    char *err, size_t errlen);
int queue_sqlite_query_headers(struct queue_store *store, const char *id, size_t cap,
    char **out, size_t *outlen, char *err, size_t errlen);
int queue_sqlite_query_count(struct queue_store *store, struct queue_counts *out, char *err,
    size_t errlen);
/* queue_body.c */
struct queue_body *queue_sqlite_body_open(struct queue_store *store, const char *id,
    struct mxr_source *src, char *err, size_t errlen);
void queue_sqlite_body_close(struct queue_body *body);

/* queue_commit.c: the writer thread and its hand-over to the loop. */
int queue_commit_start(struct queue_sqlite *q, char *err, size_t errlen);
void queue_commit_stop(struct queue_sqlite *q);
void queue_commit_submit(struct queue_sqlite *q, struct queue_job *j);
/* The writer's statement which (prepared from sql on first use), reset; NULL on error. */
sqlite3_stmt *queue_commit_stmt(struct queue_sqlite *q, enum queue_wstmt which, const char *sql,
    char *err, size_t errlen);

/* queue_store.c: helpers for every queue file. */
/* Open one connection with the queue's settings (WAL, synchronous=FULL). */
sqlite3 *queue_store_connect(const char *path, bool autocheckpoint, char *err, size_t errlen);
/*
 * Set journal_mode=WAL and synchronous=FULL on db and read both back;
 * false with err naming path and SQLite's answer when either did not take.
 */
bool queue_store_settings(sqlite3 *db, const char *path, char *err, size_t errlen);
void queue_store_seterr(char *err, size_t errlen, const char *what, sqlite3 *db);
bool queue_store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);
/*
 * The read connection's statement which (prepared from sql on first use),
 * reset with no bindings; NULL with err on error. The caller resets it
 * when done, so that no read transaction outlives the call.
 */
sqlite3_stmt *queue_store_rstmt(struct queue_sqlite *q, enum queue_rstmt which, const char *sql,
    char *err, size_t errlen);
/*
 * Step a statement that returns no rows and reset it: SQLITE_DONE, or
 * the error of the step (or of the reset after a good step).
 */
int queue_store_step_reset(sqlite3_stmt *st);
/* Bind a string or NULL (SQLITE_STATIC: s must outlive the step). */
int queue_store_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Copy column col as a new string, or NULL when it is NULL. */
char *queue_store_col_strdup(sqlite3_stmt *st, int col);
/* The lower-case domain of an address (after the last '@'), into dst. */
void queue_store_domain(const char *address, char *dst, size_t dstlen);

/* queue_reserve.c: room kept back for a full disk. */
/* Free octets the reserve needs before it is made again: its size and a quarter. */
uint64_t queue_reserve_room(const struct queue_sqlite *q);
/* Whether the reserve is in place (true when there is to be none). */
bool queue_reserve_present(const struct queue_sqlite *q);
/* Give back half the reserve under dir (all of a small one); false when there was none. */
bool queue_reserve_release(const char *dir, const char *why);
/* Make the reserve when it is missing and there is queue_reserve_room; false if not made. */
bool queue_reserve_make(const struct queue_sqlite *q);
/* Writer thread: make a missing reserve, first giving the database's free pages back. */
bool queue_reserve_reclaim(struct queue_sqlite *q);
/* Whether a failure (db's last error, or the text err) was for want of room. */
bool queue_reserve_full_error(sqlite3 *db, const char *err);

/* queue_spool.c: bodies in files of their own. */
void queue_spool_path(const struct queue_sqlite *q, const char *id, char *out, size_t outlen);
/* Create the spool directory when missing (and fsync the queue directory). */
bool queue_spool_prepare(struct queue_sqlite *q, char *err, size_t errlen);
/* Create the spool file of id, write-only; -1 with err filled. */
int queue_spool_create(const struct queue_sqlite *q, const char *id, char *err, size_t errlen);
/* fsync the spool directory, so that the names of new files survive a crash. */
bool queue_spool_sync_dir(const struct queue_sqlite *q, char *err, size_t errlen);
/* Remove the spool file of id now (its message is gone or was never committed). */
void queue_spool_remove(const struct queue_sqlite *q, const char *id);
/* Open the spool file of id for reading; -1 with err filled. */
int queue_spool_open_read(const struct queue_sqlite *q, const char *id, char *err, size_t errlen);
/*
 * Writer thread: remove the spool file of id once the transaction that
 * deletes its message has committed (queue_spool_remove_doomed). The
 * batch forgets the entries of a job that is rolled back by setting
 * q->nspool_doomed back.
 */
void queue_spool_remove_later(struct queue_sqlite *q, const char *id);
void queue_spool_remove_doomed(struct queue_sqlite *q);
/* Remove every spool file no committed message names; the number removed, or -1. */
long queue_spool_clean(struct queue_sqlite *q, char *err, size_t errlen);


#endif
