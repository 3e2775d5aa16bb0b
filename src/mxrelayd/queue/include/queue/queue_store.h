/*
 * queue_store: the durable queue (SQLite in WAL mode, synchronous=FULL).
 *
 * Owns: the on-disk layout (messages, recipients with per-recipient state,
 * message bodies, delivery history), queue ids, and group commit: writes
 * of messages that finish at the same moment share one transaction and so
 * one fsync, done on a writer thread so the event loop never waits on disk.
 * Never: speaks SMTP, decides policy, or reports success before the data
 * is on stable storage.
 *
 * The layout and its guarantees are described in docs/queue.md. The
 * functions are split by file: queue_store.c (open, close, stats),
 * queue_writer.c (new messages), queue_commit.c (the writer thread),
 * queue_update.c (outcomes, bounces, admin changes), queue_due.c (what
 * is due, claims), queue_query.c (messages, listings, counts),
 * queue_body.c (reading a body), queue_id.c.
 * Every function here is called on the loop thread (or, for a store opened
 * without a loop, on the one thread that opened it).
 */
#ifndef MXR_QUEUE_STORE_H
#define MXR_QUEUE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mxrelay/mxrelay.h"

#define QUEUE_ID_LEN 20		/* printable queue id length */

struct event_base;
struct queue_store;
struct queue_writer;

struct queue_rcpt_in {
	const char *address;	/* "local@domain" after source-route stripping */
	unsigned notify;	/* enum mxr_notify bits, 0 if not given */
	const char *orcpt;	/* decoded "type;addr", or NULL */
};

struct queue_envelope {
	const char *sender;	/* "" for the null path */
	const char *envid;	/* decoded, or NULL */
	enum mxr_ret ret;
	bool smtputf8;
	bool body_8bit;
	const char *client_ip;
	const char *client_helo;
	const char *auth_user;	/* or NULL */
	const char *protocol;	/* "ESMTPSA" etc. */
	time_t received_at;
	const struct queue_rcpt_in *rcpts;
	size_t nrcpts;
};

/*
 * Open (creating when needed) the queue under dir. base is the loop on
 * which commit callbacks run. Returns NULL and fills err on failure.
 * base may be NULL (the command line): the store can then be read and
 * changed with the synchronous calls only; the writer thread is not
 * started and queue_writer_* / asynchronous updates must not be used.
 */
struct queue_store *queue_store_open(struct event_base *base, const char *dir,
    char *err, size_t errlen);
/*
 * Finish pending commits and close. Their callbacks run inside this call,
 * so their arguments must still be valid (close the queue before freeing
 * the sessions waiting on it), and the loop must not be freed yet.
 * NULL is fine.
 */
void queue_store_close(struct queue_store *q);

/*
 * Whether the queue's file system has room now for a message of size
 * octets (RFC 1870 6.1): twice its size must be free (a body up to 256
 * KiB is written twice, into the WAL and at the checkpoint into the
 * database), and while the reserve (queue_store_set_reserve) is given
 * back, room to make it again as well.
 * True when the free space cannot be learnt (the commit will say).
 */
bool queue_store_has_room(const struct queue_store *q, uint64_t size);

/*
 * Keep size octets of the queue's file system back (the file
 * queue_dir/reserve, made now when there is room): when an outcome, a
 * deletion, a bounce or a start fails for want of room, the reserve is
 * given back and the change made again, and new mail is refused until the
 * reserve can be made again. At most a sixteenth of the file system is
 * kept back. 0 (the default) keeps nothing back.
 */
void queue_store_set_reserve(struct queue_store *q, uint64_t size);

/* What the writer thread has done since open (a snapshot, taken under its lock). */
struct queue_store_stats {
	uint64_t transactions;		/* transactions committed (one WAL fsync each) */
	uint64_t failed_transactions;	/* rolled back because of an error */
	uint64_t jobs_ok;		/* commits and updates made durable */
	uint64_t jobs_failed;		/* commits and updates answered ok=false */
	uint64_t max_batch;		/* most jobs that shared one transaction */
	uint64_t checkpoints;		/* WAL checkpoints run by the writer thread */
};
void queue_store_stats(struct queue_store *q, struct queue_store_stats *out);

/*
 * Make every later transaction fail once the database would grow past
 * max_pages pages (PRAGMA max_page_count): the "disk full" of the tests
 * and a hard size limit for operators. 0 leaves the limit alone. Applied
 * by the writer thread before its next transaction.
 */
void queue_store_set_max_pages(struct queue_store *q, uint32_t max_pages);

/*
 * How long a transaction waits for the database lock held by another
 * connection (the command line, another process) before it fails with
 * "database is locked" (the session answers 452). Default 5000 ms.
 */
void queue_store_set_busy_timeout(struct queue_store *q, unsigned ms);

/* Start a new message; the writer has its queue id at once (for Received). */
struct queue_writer *queue_writer_new(struct queue_store *q);
const char *queue_writer_id(const struct queue_writer *w);
/*
 * Append message octets (wire form, CRLF line ends, unstuffed). Small
 * messages stay in memory; large ones spill to a file, so memory does not
 * grow with message size. Returns 0, or -1 on a write error (disk full).
 */
int queue_writer_append(struct queue_writer *w, const void *data, size_t len);
uint64_t queue_writer_size(const struct queue_writer *w);

/*
 * This message is the bounce (DSN) for failed recipients rcpt_ids of
 * other messages: its commit marks them bounced in the same transaction,
 * so a crash can neither lose the bounce nor have it sent twice.
 */
void queue_writer_bounce_for(struct queue_writer *w, const int64_t *rcpt_ids, size_t n);

typedef void queue_commit_cb(void *arg, bool ok, const char *err);
/*
 * Make the message and its envelope durable, then call cb from the loop:
 * ok true means it is on stable storage (the 250 may be sent). Takes
 * ownership of w in every case. env is copied before this returns.
 */
void queue_writer_commit(struct queue_writer *w, const struct queue_envelope *env,
    queue_commit_cb *cb, void *arg);
/* Drop a message that will not be accepted. NULL is fine. */
void queue_writer_abort(struct queue_writer *w);

/* ---- queue ids (queue_id.c) ---- */

/*
 * A new queue id: 20 characters of a base32 alphabet whose ASCII order is
 * its numeric order (0-9, a-v): 11 for the time in microseconds, 9 random
 * (getrandom). Ids sort by creation time. out has QUEUE_ID_LEN + 1 bytes.
 */
void queue_id_new(char out[QUEUE_ID_LEN + 1]);
/* True when s looks like a queue id (length and alphabet). */
bool queue_id_valid(const char *s);

/* ---- recipients and their states (queue_store.c) ---- */

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING,	/* never tried */
	QUEUE_RCPT_DEFERRED,	/* temporary failure, next_try set */
	QUEUE_RCPT_DELIVERED,	/* final: the next hop took it */
	QUEUE_RCPT_FAILED,	/* final failure, bounce not yet queued */
	QUEUE_RCPT_BOUNCED,	/* final failure, bounce queued (or not wanted) */
};
/* "pending", "deferred", "delivered", "failed", "bounced" (as stored). */
const char *queue_store_state_name(enum queue_rcpt_state s);
/* Parse a stored state name; false when unknown. */
bool queue_store_state_parse(const char *name, enum queue_rcpt_state *out);

/* ---- asynchronous updates for the scheduler (queue_update.c) ---- */

/* The result of one delivery attempt for one recipient. */
struct queue_outcome {
	int64_t rcpt_id;		/* from queue_due */
	enum queue_rcpt_state state;	/* DELIVERED, DEFERRED or FAILED */
	time_t at;			/* when it was decided */
	time_t next_try;		/* DEFERRED: when to try again */
	int code;			/* SMTP reply code, or 0 */
	const char *esc;		/* enhanced status code, or NULL */
	const char *reply;		/* reply text or what happened, or NULL */
	const char *mx;			/* "host[ip]", or NULL */
};

/*
 * Record outcomes (tries+1, last reply, one history row each) through the
 * group-commit writer; cb runs from the loop when they are durable (or
 * failed: ok=false and nothing of this call was written). The recipients
 * stop being claimed (see queue_due_list). Strings are copied.
 */
void queue_update_outcomes(struct queue_store *q, const struct queue_outcome *o, size_t n,
    queue_commit_cb *cb, void *arg);
/* Mark failed recipients bounced (the bounce is queued), through the writer. */
void queue_update_bounced(struct queue_store *q, const int64_t *rcpt_ids, size_t n,
    queue_commit_cb *cb, void *arg);

typedef void queue_delete_cb(void *arg, bool ok, bool deleted, const char *err);
/*
 * Delete message id (envelope, recipients, history, body) when none of its
 * recipients is left undone (all delivered or bounced), through the writer.
 * deleted tells whether it went.
 */
void queue_update_delete_if_done(struct queue_store *q, const char *id,
    queue_delete_cb *cb, void *arg);
/*
 * queue_update_outcomes and then queue_update_delete_if_done of msg_id in
 * the same job: one savepoint, one commit and one callback where a
 * finished delivery took two transactions. cb tells ok and deleted.
 */
void queue_update_outcomes_delete(struct queue_store *q, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_delete_cb *cb, void *arg);

/* ---- synchronous changes for the command line (queue_update.c) ---- */

/*
 * These run at once on the calling thread, each its own small transaction
 * (waiting at most the busy timeout for the writer thread or another
 * process). They return the number of rows changed, or -1 and fill err.
 */
int queue_update_hold(struct queue_store *q, const char *id, bool hold, char *err, size_t errlen);
/* Delete a message whatever the state of its recipients. */
int queue_update_delete(struct queue_store *q, const char *id, char *err, size_t errlen);
/* Make pending and deferred recipients due now: of message id, or of a domain (lower case). */
int queue_update_flush_msg(struct queue_store *q, const char *id, time_t now,
    char *err, size_t errlen);
int queue_update_flush_domain(struct queue_store *q, const char *domain, time_t now,
    char *err, size_t errlen);
/*
 * Fail every pending and deferred recipient of message id (tries+1, the
 * last reply esc and reply, a history row each): the administrator's
 * bounce while no daemon runs. The DSN is the daemon's, at its next start
 * (its recovery pass bounces failed recipients).
 */
int queue_update_fail_waiting(struct queue_store *q, const char *id, time_t now,
    const char *esc, const char *reply, char *err, size_t errlen);

/* ---- due recipients (queue_due.c) ---- */

/* One due recipient. Strings are owned by the list (queue_due_list_free). */
struct queue_due {
	int64_t rcpt_id;
	char msg_id[QUEUE_ID_LEN + 1];
	const char *address;
	const char *domain;		/* lower case */
	const char *orcpt;		/* or NULL */
	unsigned notify;
	unsigned tries;
	time_t first_fail;		/* 0 if it never failed */
	time_t received_at;
};
struct queue_due_list {
	struct queue_due *items;	/* sorted by domain, then message, then recipient */
	size_t n;
};
/*
 * Pending and deferred recipients whose next_try <= now, of messages not
 * held, at most limit, grouped by domain (sorted). With claim, the
 * recipients returned are claimed: later calls skip them until their
 * outcome is recorded or queue_due_unclaim releases them. Claims live in
 * memory only, so after a restart every unfinished recipient is due again.
 * Returns 0 or -1 (err filled); free the list with queue_due_list_free.
 */
int queue_due_list(struct queue_store *q, time_t now, size_t limit, bool claim,
    struct queue_due_list *out, char *err, size_t errlen);
void queue_due_list_free(struct queue_due_list *l);
void queue_due_unclaim(struct queue_store *q, const int64_t *rcpt_ids, size_t n);
/* Number of recipients claimed now. */
size_t queue_due_claimed(const struct queue_store *q);

/* ---- reading (queue_query.c) ---- */

/* A message envelope as stored. Strings are owned by the struct. */
struct queue_msg {
	char id[QUEUE_ID_LEN + 1];
	char *sender;
	char *envid;			/* or NULL */
	enum mxr_ret ret;
	bool smtputf8;
	bool body_8bit;
	char *client_ip;
	char *client_helo;
	char *auth_user;		/* or NULL */
	char *protocol;
	time_t received_at;
	uint64_t size;			/* body octets */
	bool held;
};
void queue_query_msg_clear(struct queue_msg *m);

/* One recipient as stored, with its history when asked for. */
struct queue_try {
	time_t at;
	enum queue_rcpt_state status;
	int code;
	char *esc;
	char *reply;
	char *mx;
};
struct queue_rcpt {
	int64_t id;
	char *address;
	char *domain;
	char *orcpt;			/* or NULL */
	unsigned notify;
	enum queue_rcpt_state state;
	unsigned tries;
	time_t next_try;
	time_t first_fail;
	int last_code;
	char *last_esc;			/* or NULL */
	char *last_reply;		/* or NULL */
	char *last_mx;			/* or NULL */
	time_t updated_at;
	struct queue_try *history;	/* oldest first; NULL unless asked for */
	size_t nhistory;
};

/*
 * Read message id: envelope into *m, its recipients into *rcpts (*nrcpts
 * of them, free with queue_query_rcpts_free), with history when with_history.
 * rcpts may be NULL. Returns 1 found, 0 not found, -1 error.
 */
int queue_query_message(struct queue_store *q, const char *id, struct queue_msg *m,
    struct queue_rcpt **rcpts, size_t *nrcpts, bool with_history, char *err, size_t errlen);
void queue_query_rcpts_free(struct queue_rcpt *r, size_t n);

/*
 * Call fn for every message in id (time) order with its recipients (no
 * history); stop early when fn returns false. Returns the number of
 * messages visited, or -1.
 */
typedef bool queue_list_fn(void *arg, const struct queue_msg *m,
    const struct queue_rcpt *rcpts, size_t nrcpts);
long queue_query_list(struct queue_store *q, queue_list_fn *fn, void *arg,
    char *err, size_t errlen);

/*
 * The header section of message id (up to and including the empty line,
 * at most cap octets) into a new NUL-terminated string *out. Returns 1,
 * 0 not found, -1 error.
 */
int queue_query_headers(struct queue_store *q, const char *id, size_t cap, char **out,
    size_t *outlen, char *err, size_t errlen);

struct queue_counts {
	uint64_t messages;
	uint64_t held;
	uint64_t bytes;				/* body octets of all messages */
	uint64_t rcpts[QUEUE_RCPT_BOUNCED + 1];	/* by enum queue_rcpt_state */
};
int queue_query_count(struct queue_store *q, struct queue_counts *out, char *err, size_t errlen);

/* ---- reading a body (queue_body.c) ---- */

struct queue_body;
/*
 * Open the body of message id for reading by offset: *src is what the
 * delivery engine reads (its read_at fetches one 64 KiB chunk at a time
 * and keeps the current one). Several may be open at once. Returns NULL
 * (err filled) when the message is not there. src stays valid until
 * queue_body_close; reads after the message is deleted return -1 for a
 * body in the database, and go on to the end for one in a spool file
 * (the open file outlives its name).
 */
struct queue_body *queue_body_open(struct queue_store *q, const char *id,
    struct mxr_source *src, char *err, size_t errlen);
void queue_body_close(struct queue_body *b);

#endif
