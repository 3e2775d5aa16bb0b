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
