/*
 * queue_backend: what every queue backend shares with the public
 * functions (queue_api.c): the handles the callers hold, each starting
 * with what finds the backend's operations, and the backends there are.
 *
 * Owns: the layout of the generic part of a store, a writer and a body.
 * A backend's own structs begin with these (first member), so that a
 * pointer converts both ways. Never: included outside src/mxrelayd/queue/.
 */
#ifndef MXR_QUEUE_BACKEND_H
#define MXR_QUEUE_BACKEND_H

#include "queue/queue_store.h"

struct queue_claims;

/* A store: the backend's struct begins with it. */
struct queue_store {
	const struct queue_ops *ops;	/* static, never freed */
	struct metrics_mail *metrics;	/* group commits counted here, or NULL; borrowed */
	struct event_base *base;	/* the loop callbacks run on, or NULL (command line); borrowed */
};

/* A message being written: the backend's writer begins with it. */
struct queue_writer {
	struct queue_store *store;	/* not owned */
};

/* An open body: the backend's body begins with it. */
struct queue_body {
	struct queue_store *store;	/* not owned */
};

/*
 * A writer's own copy of the envelope a commit is given: *out with its
 * strings, prefix and recipients (*rcpts, which out->rcpts points to) in
 * allocations of its own; queue_envelope_clear frees them. The same for
 * every backend (queue_api.c).
 */
void queue_envelope_copy(struct queue_envelope *out, struct queue_rcpt_in **rcpts,
    const struct queue_envelope *env);
void queue_envelope_clear(struct queue_envelope *e, struct queue_rcpt_in *rcpts);

/*
 * A batch of delivery outcomes on its way into a store, the same for
 * every backend: its own copies of the outcomes, the caller's callback
 * and, with a msg_id, the deletion of that message once nothing is left
 * to do. A backend's outcomes job holds one and sets deleted.
 */
struct queue_outcomes_batch {
	struct queue_outcome *o;	/* owned, strings owned */
	size_t n;
	queue_commit_cb *cb;		/* or, with a msg_id, del_cb */
	queue_delete_cb *del_cb;
	void *arg;
	char msg_id[QUEUE_ID_LEN + 1];	/* "": outcomes only; else delete it when done */
	bool deleted;			/* the message went (set by the backend) */
};

/*
 * Fill b with copies of o[0..n) (a state other than DELIVERED, DEFERRED or
 * FAILED is a bug: panic), the deletion of msg_id (or NULL) and the
 * callback: cb without msg_id, del_cb with it.
 */
void queue_outcomes_batch_init(struct queue_outcomes_batch *b, const struct queue_outcome *o,
    size_t n, const char *msg_id, queue_commit_cb *cb, queue_delete_cb *del_cb, void *arg);
/*
 * On the loop, once the batch is durable (ok) or failed: the recipients'
 * claims end, the outcome is logged, the caller hears, the copies go.
 */
void queue_outcomes_batch_end(struct queue_outcomes_batch *b, struct queue_claims *claims,
    bool ok, const char *err);

/*
 * A message's text on its way into a store, the same for every backend:
 * in memory up to spill_at octets, then in a file the backend makes
 * (open_spill: a descriptor, or -1 with err), written as it comes.
 */
struct queue_text_in {
	unsigned char *mem;		/* owned; NULL once spilled */
	size_t memlen, memcap;
	int fd;				/* the file (owned), or -1 */
	uint64_t size;			/* octets taken */
	bool failed;			/* an append failed: the commit fails too */
	char ferr[128];			/* why */
};

typedef int queue_spill_open_fn(void *arg, char *err, size_t errlen);

void queue_text_in_init(struct queue_text_in *t);
/* Take data[0..len): 0, or -1 (now and for every later call: failed, ferr). */
int queue_text_in_append(struct queue_text_in *t, const void *data, size_t len, size_t spill_at,
    queue_spill_open_fn *open_spill, void *arg);
/* Free the memory, close the file (its name, if any, is the backend's to remove). */
void queue_text_in_clear(struct queue_text_in *t);

/* Add the n recipient ids a DSN reports to *ids (*nids of them). */
void queue_ids_append(int64_t **ids, size_t *nids, const int64_t *add, size_t n);

/* The SQLite backend (queue_store.c and the queue_*.c files beside it). */
extern const struct queue_ops queue_sqlite_ops;
/* The PostgreSQL backend (queue_pg_store.c and the queue_pg_*.c files beside it). */
extern const struct queue_ops queue_pg_ops;
/* Open the PostgreSQL queue opts->dsn names, its local files under dir (queue_pg_store.c). */
struct queue_store *queue_pg_open(struct event_base *base, const char *dir,
    const struct queue_open_opts *opts, char *err, size_t errlen);

/*
 * queue_defer.c: the asynchronous reads for a backend whose synchronous
 * ones are quick and local (SQLite): each runs the synchronous operation
 * now and hands its result to the callback from the loop (event_base_once),
 * never inside the call.
 */
void queue_defer_due_fetch(struct queue_store *q, time_t now, size_t limit, queue_due_cb *cb,
    void *arg);
void queue_defer_fetch(struct queue_store *q, const struct queue_fetch_req *req,
    queue_fetch_cb *cb, void *arg);
void queue_defer_recover_fetch(struct queue_store *q, time_t quiet_since, queue_recover_cb *cb,
    void *arg);

#endif
