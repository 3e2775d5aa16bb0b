/*
 * queue_store: the durable queue, behind an interface that more than one
 * backend can implement (struct queue_ops, below). The one backend now is
 * SQLite in WAL mode with synchronous=FULL (docs/queue.md).
 *
 * Owns: the interface the daemon and the command line use to store
 * messages, their recipients with per-recipient state, their bodies and
 * delivery history, queue ids, and the promise behind the 250 reply.
 * Never: speaks SMTP, decides policy, or reports success before the data
 * is on stable storage.
 *
 * Every public function below is a thin dispatcher (queue_api.c): it
 * hands the call to the operations of the store it is given (of the
 * writer's or the body's store), chosen by queue_store_open(). Their
 * contracts are the operations', written at each member of struct
 * queue_ops. Threads: every function and operation is called on the
 * loop thread (or, for a store opened without a loop, on the one thread
 * that opened it); callbacks run on that thread too, never inside the
 * call that started the work unless the store is closing.
 *
 * The SQLite backend's layout and guarantees are in docs/queue.md; its
 * files are queue_store.c (open, close, stats, its queue_ops),
 * queue_writer.c (new messages), queue_commit.c (the writer thread),
 * queue_update.c (outcomes, bounces, admin changes), queue_due.c (what
 * is due, claims), queue_query.c (messages, listings, counts),
 * queue_body.c (reading a body), queue_spool.c and queue_reserve.c.
 * queue_id.c and queue_api.c are the same for every backend.
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
struct queue_store;		/* a store (a backend's, opened by queue_store_open) */
struct queue_writer;		/* a message being written into a store */
struct queue_body;		/* an open body, being read */
struct metrics_mail;		/* the daemon's counters (metrics/metrics_mail.h) */

/* ---- what goes in ---- */

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
	bool requiretls;	/* REQUIRETLS (RFC 8689): only over authenticated TLS */
	bool tls_optional;	/* "TLS-Required: No" (RFC 8689 5) */
	/*
	 * Octets delivered before the stored text, made once the text was in
	 * (the DKIM-Signature fields: they need the body's hash): kept with
	 * the envelope, yielded first by body_open and counted in the size.
	 * NULL or prefix_len 0: none.
	 */
	const char *prefix;
	size_t prefix_len;
	const char *client_ip;
	const char *client_helo;
	const char *auth_user;	/* or NULL */
	const char *protocol;	/* "ESMTPSA" etc. */
	time_t received_at;
	const struct queue_rcpt_in *rcpts;
	size_t nrcpts;
};

/* What the store has done since open (a snapshot). */
struct queue_store_stats {
	uint64_t transactions;		/* transactions committed (one fsync each) */
	uint64_t failed_transactions;	/* rolled back because of an error */
	uint64_t jobs_ok;		/* commits and updates made durable */
	uint64_t jobs_failed;		/* commits and updates answered ok=false */
	uint64_t max_batch;		/* most jobs that shared one transaction */
	uint64_t checkpoints;		/* WAL checkpoints run by the writer thread */
};

/* ---- TLS policy state: MTA-STS policies (RFC 8461 5.1), TLS results (RFC 8460) ---- */

/* A cached MTA-STS policy. */
struct queue_sts_policy {
	char domain[256];		/* lower case */
	char id[33];			/* the TXT record's id it was fetched for */
	char policy[8192];		/* its text, one field a line */
	int64_t fetched;		/* Unix time */
	int64_t expires;		/* fetched + max_age */
};

/*
 * Sessions of one day under one policy of one domain with one result: a
 * success row has result "" and the MX fields "" (RFC 8460 counts
 * successes per policy, failures per result, MX host and addresses).
 * Strings are borrowed; "" when not known, never NULL.
 */
struct queue_tlsrpt_row {
	int64_t day;			/* 00:00 UTC of the day, Unix time */
	const char *domain;		/* the policy domain, lower case */
	const char *policy_type;	/* "tlsa", "sts" or "no-policy-found" */
	const char *policy;		/* the policy's text ("" for no-policy-found) */
	const char *result;		/* "" or an RFC 8460 result type */
	const char *sending_ip;
	const char *mx_host;
	const char *mx_ip;
	const char *mx_helo;
	const char *detail;		/* what happened last, printable */
	uint64_t sessions;
};

/* Called for each cached MTA-STS policy in turn; false stops. */
typedef bool queue_sts_fn(void *arg, const struct queue_sts_policy *p);

/* Called for each row in turn; false stops. */
typedef bool queue_tlsrpt_fn(void *arg, const struct queue_tlsrpt_row *r);

/* ---- recipients and their states ---- */

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING,	/* never tried */
	QUEUE_RCPT_DEFERRED,	/* temporary failure, next_try set */
	QUEUE_RCPT_DELIVERED,	/* final: the next hop took it */
	QUEUE_RCPT_FAILED,	/* final failure, bounce not yet queued */
	QUEUE_RCPT_BOUNCED,	/* final failure, bounce queued (or not wanted) */
};

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
 * One due recipient. Strings are owned by the list: each its own
 * allocation (malloc), freed by queue_due_list_free, whatever the backend.
 */
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
 * A message envelope as stored. Strings are owned by the struct, each its
 * own allocation (malloc), freed by queue_query_msg_clear.
 */
struct queue_msg {
	char id[QUEUE_ID_LEN + 1];
	char *sender;
	char *envid;			/* or NULL */
	enum mxr_ret ret;
	bool smtputf8;
	bool body_8bit;
	bool requiretls;
	bool tls_optional;
	char *client_ip;
	char *client_helo;
	char *auth_user;		/* or NULL */
	char *protocol;
	time_t received_at;
	uint64_t size;			/* octets delivered: the prefix and the stored text */
	bool held;
};

/*
 * One recipient as stored, with its history when asked for. The array
 * and its strings are each their own allocation (malloc), freed by
 * queue_query_rcpts_free.
 */
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
	char *claim_node;		/* the node delivering it now (a live claim of a
					   shared store), or NULL */
};

struct queue_counts {
	uint64_t messages;
	uint64_t held;
	uint64_t bytes;				/* body octets of all messages */
	uint64_t rcpts[QUEUE_RCPT_BOUNCED + 1];	/* by enum queue_rcpt_state */
	char oldest_id[QUEUE_ID_LEN + 1];	/* the message received first; "" when empty */
	time_t oldest_received;			/* its received_at; 0 when empty */
};

/*
 * ok true: durable. ok false: nothing of the call was written, err says
 * why (a backend's text, for logs). Runs on the loop thread.
 */
typedef void queue_commit_cb(void *arg, bool ok, const char *err);
/* As queue_commit_cb; deleted tells whether the message went (only when ok). */
typedef void queue_delete_cb(void *arg, bool ok, bool deleted, const char *err);
/* One message of queue_query_list; return false to stop. Pointers valid during the call. */
typedef bool queue_list_fn(void *arg, const struct queue_msg *m,
    const struct queue_rcpt *rcpts, size_t nrcpts);

/* ---- asynchronous reading (the loop) ---- */

/* ok: l holds what is due (the callback owns it: queue_due_list_free); else err says why. */
typedef void queue_due_cb(void *arg, bool ok, struct queue_due_list *l, const char *err);

/* What queue_fetch reads of one message. */
struct queue_fetch_req {
	const char *id;			/* copied */
	bool rcpts;			/* its recipients too */
	bool history;			/* with their history (with rcpts) */
	bool body;			/* open its body */
	uint64_t body_limit;		/* at most this many octets of it; 0: all */
};

/*
 * What queue_fetch read. The callback owns it and frees it with
 * queue_fetched_clear (which closes the body unless the caller took it:
 * body set to NULL, then closed with queue_body_close when done).
 */
struct queue_fetched {
	int found;			/* 1, 0 (no such message), -1 (err says why) */
	struct queue_msg m;		/* found: the envelope */
	struct queue_rcpt *rcpts;	/* when asked for (no history unless asked) */
	size_t nrcpts;
	struct queue_body *body;	/* when asked for and found; NULL otherwise */
	struct mxr_source src;		/* reads the body (at most body_limit octets) while open */
	const char *err;		/* found < 0: why (valid during the callback) */
};
typedef void queue_fetch_cb(void *arg, struct queue_fetched *f);

/* The start-up pass's work: messages owing a DSN, messages with nothing left to do. */
struct queue_recover_list {
	char (*bounce)[QUEUE_ID_LEN + 1];	/* with failed recipients (owned) */
	size_t nbounce;
	char (*done)[QUEUE_ID_LEN + 1];		/* every recipient delivered or bounced (owned) */
	size_t ndone;
};
/* ok: l holds the lists (freed after the callback returns); else err says why. */
typedef void queue_recover_cb(void *arg, bool ok, const struct queue_recover_list *l,
    const char *err);

/* ---- destinations shared by a fleet (a store several nodes use) ---- */

/* A destination's backoff as the fleet knows it. */
struct queue_dest_state {
	char key[320];			/* a domain, or a smarthost "host[:port]" */
	unsigned failures;		/* 0: reachable again, or forgiven */
	time_t backoff_from;
	time_t backoff_until;
	char reason[256];
	int64_t changed;		/* the store's time of the change (microseconds): later wins */
};
/* slot > 0: a delivery slot of the destination is ours; 0: all taken; -1: err. */
typedef void queue_slot_cb(void *arg, int slot, const char *err);
/* The destinations changed since the asked time (d[0..n)), or ok false with err. */
typedef void queue_dests_cb(void *arg, bool ok, const struct queue_dest_state *d, size_t n,
    const char *err);

/*
 * ---- the operations a backend implements ----
 *
 * One member per public function of the same name (queue_store_open
 * calls .open, queue_writer_commit .writer_commit, ...); each comment is
 * the contract, for the backend and for the callers alike.
 *
 * Common to all:
 * - Threads: called on the loop thread (the one running base), or for a
 *   store opened without a loop on the thread that opened it. A backend
 *   may do its work on threads of its own, but runs every callback on
 *   the loop thread, from the loop (never inside the call that started
 *   the work, except while the store is closing).
 * - Durability: a callback or a return value reports success only after
 *   the data is durable: on stable storage (written and fsynced, or
 *   committed by a database server that did so), so that it survives a
 *   crash of the daemon and of the machine. A failure leaves nothing of
 *   the call behind (all or nothing per call) and is reported, never
 *   dropped; callers answer new mail with 452 4.3.1 then.
 * - Ownership: strings and arrays passed in are the caller's and are
 *   copied when the operation needs them past its return; what comes
 *   back (lists, messages, recipients, headers) is the caller's to free
 *   with the free functions below, which are the same for every backend.
 * - Errors: err/errlen (when given) get a printable reason; err may be
 *   NULL with errlen 0.
 */
struct queue_ops {
	const char *name;		/* "sqlite", "postgresql": for logs */

	/* -- the store -- */

	/*
	 * Open (creating when needed) the queue whose local part lives under
	 * dir (created mode 0700 when missing). base is the loop on which
	 * callbacks run. base may be NULL (the command line): the store can
	 * then be read and changed with the synchronous calls only, and
	 * writer_* and the asynchronous updates must not be used. Returns
	 * NULL and fills err on failure, including settings the backend
	 * asked for and did not get (for SQLite: WAL, synchronous=FULL).
	 */
	struct queue_store *(*open)(struct event_base *base, const char *dir,
	    char *err, size_t errlen);
	/*
	 * Finish pending commits and close, freeing the store. Their
	 * callbacks run inside this call, so their arguments must still be
	 * valid (close the queue before freeing the sessions waiting on it),
	 * and the loop must not be freed yet.
	 */
	void (*close)(struct queue_store *q);
	/*
	 * Whether the queue's storage has room now for a message of size
	 * octets (RFC 1870 6.1), counting what the backend writes for it and,
	 * while the reserve is given back, room to make it again. True when
	 * the free space cannot be learnt (the commit will say).
	 */
	bool (*has_room)(const struct queue_store *q, uint64_t size);
	/*
	 * Keep size octets of the queue's storage back for a full disk: when
	 * an outcome, a deletion, a bounce or a start fails for want of
	 * room, the reserve is given back and the change made again, and new
	 * mail is refused until the reserve can be made again. 0 (the
	 * default) keeps nothing back. A backend without a local file system
	 * may ignore it.
	 */
	void (*set_reserve)(struct queue_store *q, uint64_t size);
	/* Copy the counters since open into *out (a consistent snapshot). */
	void (*stats)(struct queue_store *q, struct queue_store_stats *out);
	/*
	 * Make every later transaction fail once the database would grow
	 * past max_pages pages: the "disk full" of the tests and a hard size
	 * limit for operators. 0 leaves the limit alone.
	 */
	void (*set_max_pages)(struct queue_store *q, uint32_t max_pages);
	/*
	 * How long a transaction waits for a lock held by another user of
	 * the queue (the command line, another process) before it fails
	 * (the session answers 452). Default 5000 ms.
	 */
	void (*set_busy_timeout)(struct queue_store *q, unsigned ms);

	/* -- new messages -- */

	/*
	 * Start a new message, with its queue id at once (for the Received
	 * field). The writer is owned by the caller until writer_commit or
	 * writer_abort, which always take it.
	 */
	struct queue_writer *(*writer_new)(struct queue_store *q);
	/* Its queue id (QUEUE_ID_LEN characters), valid as long as the writer. */
	const char *(*writer_id)(const struct queue_writer *w);
	/*
	 * Append message octets (wire form, CRLF line ends, unstuffed),
	 * copied. Memory must not grow with message size (large bodies go to
	 * storage as they come). Returns 0, or -1 on a write error (disk
	 * full); the commit then fails too.
	 */
	int (*writer_append)(struct queue_writer *w, const void *data, size_t len);
	/* Octets appended so far. */
	uint64_t (*writer_size)(const struct queue_writer *w);
	/*
	 * This message is the bounce (DSN) for failed recipients rcpt_ids of
	 * other messages (copied): its commit marks them bounced in the same
	 * transaction, so a crash can neither lose the bounce nor have it
	 * sent twice. A bounce may use the reserve; other new mail may not.
	 */
	void (*writer_bounce_for)(struct queue_writer *w, const int64_t *rcpt_ids, size_t n);
	/*
	 * Make the message, its envelope (copied before this returns) and
	 * every recipient durable in one transaction, then call cb on the
	 * loop: ok true only after the data is durable (the 250 may be
	 * sent); ok false when any of it could not be made so, and then none
	 * of it is stored. Takes ownership of w in every case. Commits that
	 * end together should share one fsync (group commit).
	 */
	void (*writer_commit)(struct queue_writer *w, const struct queue_envelope *env,
	    queue_commit_cb *cb, void *arg);
	/* Drop a message that will not be accepted, and what it stored. NULL is fine. */
	void (*writer_abort)(struct queue_writer *w);

	/* -- asynchronous updates for the scheduler (loop only, needs base) -- */

	/*
	 * Record outcomes (copied: tries+1, last reply, one history row
	 * each); cb runs when they are durable (or failed: ok=false and
	 * nothing of this call was written). Only undone recipients change:
	 * a final state is never left. The recipients stop being claimed.
	 */
	void (*update_outcomes)(struct queue_store *q, const struct queue_outcome *o, size_t n,
	    queue_commit_cb *cb, void *arg);
	/* Mark failed recipients (ids copied) bounced: the bounce is queued. */
	void (*update_bounced)(struct queue_store *q, const int64_t *rcpt_ids, size_t n,
	    queue_commit_cb *cb, void *arg);
	/*
	 * Delete message id (envelope, recipients, history, body) when none
	 * of its recipients is undone or failed; cb tells whether it went.
	 */
	void (*update_delete_if_done)(struct queue_store *q, const char *id,
	    queue_delete_cb *cb, void *arg);
	/*
	 * update_outcomes and then update_delete_if_done of msg_id as one
	 * durable change: a message is never gone without its outcomes.
	 */
	void (*update_outcomes_delete)(struct queue_store *q, const char *msg_id,
	    const struct queue_outcome *o, size_t n, queue_delete_cb *cb, void *arg);

	/*
	 * -- synchronous changes for the command line and the control socket --
	 * Each runs at once on the calling thread as its own small durable
	 * transaction (waiting at most the busy timeout for other users) and
	 * returns the number of rows changed, or -1 with err filled.
	 */

	/* Hold (never due) or release message id. */
	int (*update_hold)(struct queue_store *q, const char *id, bool hold, char *err,
	    size_t errlen);
	/* Delete message id whatever the state of its recipients: 1 deleted, 0 not there. */
	int (*update_delete)(struct queue_store *q, const char *id, char *err, size_t errlen);
	/*
	 * Make pending and deferred recipients due now (next_try only: no try
	 * counted, first_fail kept): of message id, or of a domain.
	 */
	int (*update_flush_msg)(struct queue_store *q, const char *id, time_t now,
	    char *err, size_t errlen);
	int (*update_flush_domain)(struct queue_store *q, const char *domain, time_t now,
	    char *err, size_t errlen);
	/*
	 * Fail every pending and deferred recipient of message id (tries+1,
	 * the last reply esc and reply, a history row each): the
	 * administrator's bounce while no daemon runs; the daemon's start
	 * sends the DSN.
	 */
	int (*update_fail_waiting)(struct queue_store *q, const char *id, time_t now,
	    const char *esc, const char *reply, char *err, size_t errlen);

	/* -- due recipients (loop only) -- */

	/*
	 * Pending and deferred recipients whose next_try <= now, of messages
	 * not held, at most limit, sorted by domain, message, recipient, into
	 * *out (the caller frees it with queue_due_list_free). With claim,
	 * those returned are claimed: later calls skip them until their
	 * outcome is recorded or due_unclaim releases them. Claims live in
	 * memory only, so after a restart every unfinished recipient is due
	 * again. Returns 0 or -1 (err filled). No read transaction outlives
	 * the call.
	 */
	int (*due_list)(struct queue_store *q, time_t now, size_t limit, bool claim,
	    struct queue_due_list *out, char *err, size_t errlen);
	void (*due_unclaim)(struct queue_store *q, const int64_t *rcpt_ids, size_t n);
	/* Number of recipients claimed now. */
	size_t (*due_claimed)(const struct queue_store *q);
	/*
	 * due_list with claim, asynchronously: cb gets the list on the loop,
	 * never inside this call. A backend shared by several nodes claims
	 * in the store (a lease for this node, renewed while held), so that
	 * no two nodes take the same recipient, and the claims of a node
	 * that stopped renewing them expire and are taken by the others.
	 */
	void (*due_fetch)(struct queue_store *q, time_t now, size_t limit, queue_due_cb *cb,
	    void *arg);

	/* -- asynchronous reading for the loop (needs base) -- */

	/*
	 * Read what req asks of one message (envelope, recipients, history,
	 * an open body) and call cb with it on the loop, never inside this
	 * call. A body arrives ready to read: its source's read_at never
	 * waits on the network (a backend on a server fetches it first,
	 * memory flat in message size).
	 */
	void (*fetch)(struct queue_store *q, const struct queue_fetch_req *req, queue_fetch_cb *cb,
	    void *arg);
	/*
	 * Messages with failed recipients whose last change is older than
	 * quiet_since (a DSN is owed; a younger one is being bounced by its
	 * node), and messages with nothing left to do (every recipient
	 * delivered or bounced); cb on the loop.
	 */
	void (*recover_fetch)(struct queue_store *q, time_t quiet_since, queue_recover_cb *cb,
	    void *arg);
	/*
	 * Whether the store can take a commit now. False while a database
	 * server is out of reach (sessions answer 451 4.3.0 instead of
	 * trying); always true for a local store.
	 */
	bool (*available)(const struct queue_store *q);
	/*
	 * Call fn(arg) on the loop when new mail was committed by any user
	 * of the store (other nodes of a fleet): the scheduler looks at
	 * once. NULL when the store has no one else to hear from.
	 */
	void (*set_wakeup)(struct queue_store *q, void (*fn)(void *arg), void *arg);
	/* The schema version of the store, and the newest this program knows; -1 on error. */
	int (*schema_version)(struct queue_store *q, int *newest, char *err, size_t errlen);

	/*
	 * -- destinations shared by a fleet: all NULL for a store one node
	 * uses (its scheduler keeps them in memory alone) --
	 */

	/*
	 * Take one of the max delivery slots of destination key for the
	 * whole fleet; cb on the loop with the slot (> 0), 0 when all are
	 * taken, -1 on an error. A slot is held until dest_release, or until
	 * the node's connection to the store ends (a dead node holds none).
	 */
	void (*dest_acquire)(struct queue_store *q, const char *key, unsigned max, queue_slot_cb *cb,
	    void *arg);
	void (*dest_release)(struct queue_store *q, const char *key, int slot);
	/* Tell the fleet a destination's backoff (failures 0: it recovered, or was forgiven). */
	void (*dest_publish)(struct queue_store *q, const struct queue_dest_state *st);
	/* The destinations whose state changed after since (a changed value; 0: all). */
	void (*dest_fetch)(struct queue_store *q, int64_t since, queue_dests_cb *cb, void *arg);

	/* -- reading (the command line, the control socket, delivery) -- */

	/*
	 * Read message id: envelope into *m, its recipients into *rcpts
	 * (*nrcpts of them), with history when with_history. rcpts may be
	 * NULL. Returns 1 found, 0 not found, -1 error.
	 */
	int (*query_message)(struct queue_store *q, const char *id, struct queue_msg *m,
	    struct queue_rcpt **rcpts, size_t *nrcpts, bool with_history, char *err,
	    size_t errlen);
	/*
	 * Call fn for every message in id (time) order with its recipients
	 * (no history), holding no lock or transaction across fn; stop early
	 * when fn returns false. Returns the number of messages visited, or -1.
	 */
	long (*query_list)(struct queue_store *q, queue_list_fn *fn, void *arg,
	    char *err, size_t errlen);
	/*
	 * The header section of message id (up to and including the empty
	 * line, at most cap octets) into a new NUL-terminated string *out
	 * (the caller frees it), its length in *outlen. Returns 1, 0 not
	 * found, -1 error.
	 */
	int (*query_headers)(struct queue_store *q, const char *id, size_t cap, char **out,
	    size_t *outlen, char *err, size_t errlen);
	/* Messages, held ones, body octets, recipients by state, the oldest message. 0 or -1. */
	int (*query_count)(struct queue_store *q, struct queue_counts *out, char *err,
	    size_t errlen);
	/*
	 * Open the body of message id for reading by offset: *src is what
	 * the delivery engine reads (the envelope's prefix, then the text
	 * appended), memory flat in message size. Several
	 * may be open at once. Returns NULL (err filled) when the message is
	 * not there. src stays valid until body_close; reads after the
	 * message is deleted may fail (-1) or go on to the end.
	 */
	struct queue_body *(*body_open)(struct queue_store *q, const char *id,
	    struct mxr_source *src, char *err, size_t errlen);
	/* NULL is fine. */
	void (*body_close)(struct queue_body *b);

	/*
	 * -- TLS policy state (loop and command line; synchronous, small) --
	 * Each runs on the calling thread, as its own transaction where it
	 * writes; -1 with err filled on an error.
	 */

	/* The cached MTA-STS policy of domain into *out: 1, or 0 when there is none. */
	int (*sts_load)(struct queue_store *q, const char *domain, struct queue_sts_policy *out,
	    char *err, size_t errlen);
	/* Keep p as its domain's policy, replacing any other: 0. */
	int (*sts_save)(struct queue_store *q, const struct queue_sts_policy *p, char *err,
	    size_t errlen);
	/*
	 * Call fn for each cached policy that has not expired at now (a
	 * daemon reads them all at start, then keeps them in memory): the
	 * number of policies, or -1.
	 */
	long (*sts_list)(struct queue_store *q, int64_t now, queue_sts_fn *fn, void *arg,
	    char *err, size_t errlen);
	/* Add rows[0..n) to the counts of their key (day, domain, policy, result, MX) in one transaction: 0. */
	int (*tlsrpt_add)(struct queue_store *q, const struct queue_tlsrpt_row *rows, size_t n,
	    char *err, size_t errlen);
	/*
	 * Call fn for each row of the days [day_from, day_to] (of domain only,
	 * when not NULL), by day, domain, policy, result: the number of rows.
	 */
	long (*tlsrpt_list)(struct queue_store *q, int64_t day_from, int64_t day_to,
	    const char *domain, queue_tlsrpt_fn *fn, void *arg, char *err, size_t errlen);
	/*
	 * The report for day and domain went out (or could not be sent:
	 * outcome says), with report_id: remember it, and drop that day's
	 * rows of domain when forget is set. 0.
	 */
	int (*tlsrpt_reported)(struct queue_store *q, int64_t day, const char *domain,
	    const char *report_id, const char *outcome, int64_t at, bool forget, char *err,
	    size_t errlen);
	/* Whether the report for day and domain went out already: 1 yes, 0 no. */
	int (*tlsrpt_was_reported)(struct queue_store *q, int64_t day, const char *domain,
	    char *err, size_t errlen);
	/* Drop every row and report record of days before day: the rows dropped. */
	long (*tlsrpt_prune)(struct queue_store *q, int64_t day, char *err, size_t errlen);
};

/* ---- the public functions: each calls the member of the same name ---- */

/* Which backend a store is opened on, and how to reach it. */
struct queue_open_opts {
	const char *dsn;		/* NULL: the SQLite queue in dir; else PostgreSQL's connection string */
	const char *dsn_shown;		/* with dsn: its form for logs and errors (password masked) */
	const char *password;		/* with dsn: a password from a passfile read at start, or NULL */
	const char *node_id;		/* with dsn: this node's name in the fleet's claims */
	unsigned lease_time;		/* with dsn: seconds a claim lasts unrenewed (0: 60) */
};

/*
 * Open the SQLite queue under dir and return it; NULL with err filled.
 * See queue_ops.open.
 */
struct queue_store *queue_store_open(struct event_base *base, const char *dir,
    char *err, size_t errlen);
/*
 * Open the queue opts choose: SQLite under dir, or the PostgreSQL
 * database opts->dsn names (dir then holds only this node's local
 * files: bodies on their way in and out). Either creates or upgrades
 * its schema, and refuses one newer than this program knows. NULL with
 * err filled.
 */
struct queue_store *queue_store_open_with(struct event_base *base, const char *dir,
    const struct queue_open_opts *opts, char *err, size_t errlen);
/* The schema version of an open store into *version, the newest known into *newest: 0 or -1. */
int queue_store_schema_version(struct queue_store *q, int *version, int *newest, char *err,
    size_t errlen);
/* "sqlite" or "postgresql". */
const char *queue_store_backend(const struct queue_store *q);
/* NULL is fine. */
void queue_store_close(struct queue_store *q);
/* NULL: true. */
bool queue_store_has_room(const struct queue_store *q, uint64_t size);
void queue_store_set_reserve(struct queue_store *q, uint64_t size);
void queue_store_stats(struct queue_store *q, struct queue_store_stats *out);
void queue_store_set_max_pages(struct queue_store *q, uint32_t max_pages);
void queue_store_set_busy_timeout(struct queue_store *q, unsigned ms);
/*
 * Count every group commit in mm (mxrelay_commit_seconds and
 * mxrelay_commit_batch_messages; borrowed, outliving the store; NULL:
 * none). Set before the first commit: the writer thread reads it.
 */
void queue_store_set_metrics(struct queue_store *q, struct metrics_mail *mm);

struct queue_writer *queue_writer_new(struct queue_store *q);
const char *queue_writer_id(const struct queue_writer *w);
int queue_writer_append(struct queue_writer *w, const void *data, size_t len);
uint64_t queue_writer_size(const struct queue_writer *w);
void queue_writer_bounce_for(struct queue_writer *w, const int64_t *rcpt_ids, size_t n);
void queue_writer_commit(struct queue_writer *w, const struct queue_envelope *env,
    queue_commit_cb *cb, void *arg);
/* NULL is fine. */
void queue_writer_abort(struct queue_writer *w);

void queue_update_outcomes(struct queue_store *q, const struct queue_outcome *o, size_t n,
    queue_commit_cb *cb, void *arg);
void queue_update_bounced(struct queue_store *q, const int64_t *rcpt_ids, size_t n,
    queue_commit_cb *cb, void *arg);
void queue_update_delete_if_done(struct queue_store *q, const char *id,
    queue_delete_cb *cb, void *arg);
void queue_update_outcomes_delete(struct queue_store *q, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_delete_cb *cb, void *arg);
int queue_update_hold(struct queue_store *q, const char *id, bool hold, char *err, size_t errlen);
int queue_update_delete(struct queue_store *q, const char *id, char *err, size_t errlen);
int queue_update_flush_msg(struct queue_store *q, const char *id, time_t now,
    char *err, size_t errlen);
int queue_update_flush_domain(struct queue_store *q, const char *domain, time_t now,
    char *err, size_t errlen);
int queue_update_fail_waiting(struct queue_store *q, const char *id, time_t now,
    const char *esc, const char *reply, char *err, size_t errlen);

int queue_due_list(struct queue_store *q, time_t now, size_t limit, bool claim,
    struct queue_due_list *out, char *err, size_t errlen);
void queue_due_unclaim(struct queue_store *q, const int64_t *rcpt_ids, size_t n);
size_t queue_due_claimed(const struct queue_store *q);
void queue_due_fetch(struct queue_store *q, time_t now, size_t limit, queue_due_cb *cb, void *arg);
void queue_fetch(struct queue_store *q, const struct queue_fetch_req *req, queue_fetch_cb *cb,
    void *arg);
void queue_recover_fetch(struct queue_store *q, time_t quiet_since, queue_recover_cb *cb,
    void *arg);
/* NULL: true. */
bool queue_store_available(const struct queue_store *q);
void queue_store_set_wakeup(struct queue_store *q, void (*fn)(void *arg), void *arg);
/* Whether several nodes share the store: the queue_dest_* calls mean something. */
bool queue_store_shared(const struct queue_store *q);
void queue_dest_acquire(struct queue_store *q, const char *key, unsigned max, queue_slot_cb *cb,
    void *arg);
void queue_dest_release(struct queue_store *q, const char *key, int slot);
void queue_dest_publish(struct queue_store *q, const struct queue_dest_state *st);
void queue_dest_fetch(struct queue_store *q, int64_t since, queue_dests_cb *cb, void *arg);

int queue_query_message(struct queue_store *q, const char *id, struct queue_msg *m,
    struct queue_rcpt **rcpts, size_t *nrcpts, bool with_history, char *err, size_t errlen);
long queue_query_list(struct queue_store *q, queue_list_fn *fn, void *arg,
    char *err, size_t errlen);
int queue_query_headers(struct queue_store *q, const char *id, size_t cap, char **out,
    size_t *outlen, char *err, size_t errlen);
int queue_query_count(struct queue_store *q, struct queue_counts *out, char *err, size_t errlen);

struct queue_body *queue_body_open(struct queue_store *q, const char *id,
    struct mxr_source *src, char *err, size_t errlen);
/* NULL is fine. */
void queue_body_close(struct queue_body *b);

int queue_sts_load(struct queue_store *q, const char *domain, struct queue_sts_policy *out,
    char *err, size_t errlen);
int queue_sts_save(struct queue_store *q, const struct queue_sts_policy *p, char *err,
    size_t errlen);
long queue_sts_list(struct queue_store *q, int64_t now, queue_sts_fn *fn, void *arg, char *err,
    size_t errlen);
int queue_tlsrpt_add(struct queue_store *q, const struct queue_tlsrpt_row *rows, size_t n,
    char *err, size_t errlen);
long queue_tlsrpt_list(struct queue_store *q, int64_t day_from, int64_t day_to,
    const char *domain, queue_tlsrpt_fn *fn, void *arg, char *err, size_t errlen);
int queue_tlsrpt_reported(struct queue_store *q, int64_t day, const char *domain,
    const char *report_id, const char *outcome, int64_t at, bool forget, char *err,
    size_t errlen);
int queue_tlsrpt_was_reported(struct queue_store *q, int64_t day, const char *domain,
    char *err, size_t errlen);
long queue_tlsrpt_prune(struct queue_store *q, int64_t day, char *err, size_t errlen);

/* ---- the same for every backend (queue_api.c, queue_id.c) ---- */

/* Free what queue_due_list, queue_query_message filled in. NULL is fine. */
void queue_due_list_free(struct queue_due_list *l);
void queue_query_msg_clear(struct queue_msg *m);
void queue_query_rcpts_free(struct queue_rcpt *r, size_t n);
/* Free what a fetch gave (closing the body unless taken). NULL is fine. */
void queue_fetched_clear(struct queue_fetched *f);
void queue_recover_list_free(struct queue_recover_list *l);
/*
 * The header section of src (up to and including the empty line, at most
 * cap octets) into a new NUL-terminated string *out, its length in
 * *outlen: 1, or -1 when src cannot be read.
 */
int queue_source_headers(const struct mxr_source *src, size_t cap, char **out, size_t *outlen);
/* Where the header section of buf[0..len) ends (after its empty line), or 0. */
size_t queue_header_end(const char *buf, size_t len);

/* "pending", "deferred", "delivered", "failed", "bounced" (as stored). */
const char *queue_store_state_name(enum queue_rcpt_state s);
/* Parse a stored state name; false when unknown. */
bool queue_store_state_parse(const char *name, enum queue_rcpt_state *out);

/*
 * A new queue id: 20 characters of a base32 alphabet whose ASCII order is
 * its numeric order (0-9, a-v): 11 for the time in microseconds, 9 random
 * (getrandom). Ids sort by creation time. out has QUEUE_ID_LEN + 1 bytes.
 */
void queue_id_new(char out[QUEUE_ID_LEN + 1]);
/* The smallest id of time t (its random digits 0): ids below it were made before t. */
void queue_id_at(time_t t, char out[QUEUE_ID_LEN + 1]);
/* True when s looks like a queue id (length and alphabet). */
bool queue_id_valid(const char *s);

#endif
