/*
 * queue_side: the store's synchronous operations, run off the loop. The
 * control socket's requests (listings, holds, flushes), the MTA-STS
 * policies and the TLS results and reports are small, synchronous calls
 * on a store; on PostgreSQL each is a round trip to the server, on a long
 * queue a listing takes its time either way. The daemon gives them a
 * store handle of their own (opened without a loop, as the command line
 * opens one) and one thread that runs them in turn, so that no session
 * and no delivery waits on them.
 *
 * Owns: that handle and the thread. Never: runs a job's done anywhere
 * but on the loop (or in queue_side_free), or two jobs at once.
 * Threads: queue_side_new, queue_side_run and queue_side_free on the loop.
 */
#ifndef MXR_QUEUE_SIDE_H
#define MXR_QUEUE_SIDE_H

struct event_base;
struct queue_store;
struct queue_side;

/* Run on the side thread, with its store. */
typedef void queue_side_fn(struct queue_store *q, void *arg);
/* Run on the loop once the job is done. */
typedef void queue_side_done_fn(void *arg);

/* The side of base, running jobs on store (opened without a loop; owned from here). */
struct queue_side *queue_side_new(struct event_base *base, struct queue_store *store);
/* Run fn(store, arg) on the side thread, then done(arg) on the loop (NULL: none). */
void queue_side_run(struct queue_side *s, queue_side_fn *fn, queue_side_done_fn *done,
    void *arg);
/* Run what is queued, call its done callbacks, close the store. NULL is fine. */
void queue_side_free(struct queue_side *s);

#endif
