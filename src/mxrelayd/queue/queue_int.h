/*
 * queue_int: what the queue_* files share and nobody else sees: the store
 * struct, the job that the writer thread applies, and small SQL helpers.
 *
 * Owns: the split of state between the loop thread and the writer
 * thread (see struct queue_store). Never: included outside src/mxrelayd/queue_*.c.
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

/*
 * A unit of work for the writer thread. Each kind embeds this first.
 * apply runs on the writer thread inside the batch transaction (inside a
 * savepoint of its own) and returns false with err filled to have its
 * changes rolled back; done runs on the loop thread afterwards, calls the
 * user's callback and frees the job.
 */
struct queue_job {
	struct queue_job *next;
	bool (*apply)(struct queue_job *j, struct queue_store *q, sqlite3 *db,
	    char *err, size_t errlen);
	bool uses_reserve;		/* may free the reserve when the disk is full (not new mail) */
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

/* A set of claimed recipient ids (open addressing), loop thread only. */
struct queue_claims {
	int64_t *slots;			/* 0 = empty, -1 = deleted; owned */
	size_t cap;			/* power of two */
	size_t used;			/* live entries */
	size_t filled;			/* live + deleted */
};

struct queue_store {
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

/* queue_commit.c: the writer thread and its hand-over to the loop. */
int queue_commit_start(struct queue_store *q, char *err, size_t errlen);
void queue_commit_stop(struct queue_store *q);
void queue_commit_submit(struct queue_store *q, struct queue_job *j);
/* The writer's statement which (prepared from sql on first use), reset; NULL on error. */
sqlite3_stmt *queue_commit_stmt(struct queue_store *q, enum queue_wstmt which, const char *sql,
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
sqlite3_stmt *queue_store_rstmt(struct queue_store *q, enum queue_rstmt which, const char *sql,
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
uint64_t queue_reserve_room(const struct queue_store *q);
/* Whether the reserve is in place (true when there is to be none). */
bool queue_reserve_present(const struct queue_store *q);
/* Give back half the reserve under dir (all of a small one); false when there was none. */
bool queue_reserve_release(const char *dir, const char *why);
/* Make the reserve when it is missing and there is queue_reserve_room; false if not made. */
bool queue_reserve_make(const struct queue_store *q);
/* Writer thread: make a missing reserve, first giving the database's free pages back. */
bool queue_reserve_reclaim(struct queue_store *q);
/* Whether a failure (db's last error, or the text err) was for want of room. */
bool queue_reserve_full_error(sqlite3 *db, const char *err);

/* queue_spool.c: bodies in files of their own. */
void queue_spool_path(const struct queue_store *q, const char *id, char *out, size_t outlen);
/* Create the spool directory when missing (and fsync the queue directory). */
bool queue_spool_prepare(struct queue_store *q, char *err, size_t errlen);
/* Create the spool file of id, write-only; -1 with err filled. */
int queue_spool_create(const struct queue_store *q, const char *id, char *err, size_t errlen);
/* fsync the spool directory, so that the names of new files survive a crash. */
bool queue_spool_sync_dir(const struct queue_store *q, char *err, size_t errlen);
/* Remove the spool file of id now (its message is gone or was never committed). */
void queue_spool_remove(const struct queue_store *q, const char *id);
/* Open the spool file of id for reading; -1 with err filled. */
int queue_spool_open_read(const struct queue_store *q, const char *id, char *err, size_t errlen);
/*
 * Writer thread: remove the spool file of id once the transaction that
 * deletes its message has committed (queue_spool_remove_doomed). The
 * batch forgets the entries of a job that is rolled back by setting
 * q->nspool_doomed back.
 */
void queue_spool_remove_later(struct queue_store *q, const char *id);
void queue_spool_remove_doomed(struct queue_store *q);
/* Remove every spool file no committed message names; the number removed, or -1. */
long queue_spool_clean(struct queue_store *q, char *err, size_t errlen);

/* queue_due.c: the claim set. */
void queue_due_release(struct queue_claims *c, int64_t id);
void queue_due_free_claims(struct queue_claims *c);

#endif
