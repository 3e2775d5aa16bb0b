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
};

/* A message being written: the backend's writer begins with it. */
struct queue_writer {
	struct queue_store *store;	/* not owned */
};

/* An open body: the backend's body begins with it. */
struct queue_body {
	struct queue_store *store;	/* not owned */
};

/* The SQLite backend (queue_store.c and the queue_*.c files beside it). */
extern const struct queue_ops queue_sqlite_ops;

#endif
