/*
 * queue_defer: the asynchronous reads of struct queue_ops (due_fetch,
 * fetch, recover_fetch) for a backend whose synchronous operations are
 * local and quick (SQLite): the work is done now, on the calling thread,
 * and its result handed to the callback from the loop on its next turn
 * (event_base_once), so that a caller never sees its callback run inside
 * the call, whatever the backend.
 *
 * Owns: the result between the call and its callback. Never: waits, or
 * runs a callback inside the call that asked for it.
 */
#include "queue_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "util/log.h"
#include "util/xalloc.h"

/* A result waiting for its turn of the loop. */
struct queue_defer {
	void (*deliver)(struct queue_defer *d);	/* calls the callback, then frees d */
	void *cb;
	void *arg;
	bool ok;
	char err[256];
	struct queue_due_list due;
	struct queue_fetched fetched;
	struct queue_recover_list recover;
};

/* The loop's turn: hand the result over. */
static void queue_defer_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct queue_defer *d = arg;
	d->deliver(d);
}

/* Schedule d for the loop's next turn of q's loop. */
static void queue_defer_post(struct queue_store *q, struct queue_defer *d)
{
	static const struct timeval now = { 0, 0 };
	if (q->base == NULL || event_base_once(q->base, -1, EV_TIMEOUT, queue_defer_run, d,
	    &now) != 0)
		panic("op=queue_defer reason=\"%s\"", q->base == NULL ?
		    "an asynchronous read on a store opened without a loop" : "event_base_once failed");
}

/* ---- due_fetch ---- */

static void queue_defer_due_deliver(struct queue_defer *d)
{
	queue_due_cb *cb = (queue_due_cb *)d->cb;
	struct queue_due_list *l = d->ok ? xmalloc(sizeof(*l)) : NULL;
	if (l != NULL)
		*l = d->due;
	cb(d->arg, d->ok, l, d->ok ? NULL : d->err);
	free(d);
}

void queue_defer_due_fetch(struct queue_store *q, time_t now, size_t limit, queue_due_cb *cb,
    void *arg)
{
	struct queue_defer *d = xcalloc(1, sizeof(*d));
	d->deliver = queue_defer_due_deliver;
	d->cb = (void *)cb;
	d->arg = arg;
	d->ok = q->ops->due_list(q, now, limit, true, &d->due, d->err, sizeof(d->err)) == 0;
	queue_defer_post(q, d);
}

/* ---- fetch ---- */

static void queue_defer_fetch_deliver(struct queue_defer *d)
{
	queue_fetch_cb *cb = (queue_fetch_cb *)d->cb;
	d->fetched.err = d->fetched.found < 0 ? d->err : NULL;
	cb(d->arg, &d->fetched);
	free(d);
}

void queue_defer_fetch(struct queue_store *q, const struct queue_fetch_req *req,
    queue_fetch_cb *cb, void *arg)
{
	struct queue_defer *d = xcalloc(1, sizeof(*d));
	d->deliver = queue_defer_fetch_deliver;
	d->cb = (void *)cb;
	d->arg = arg;
	struct queue_fetched *f = &d->fetched;
	f->found = q->ops->query_message(q, req->id, &f->m, req->rcpts ? &f->rcpts : NULL,
	    req->rcpts ? &f->nrcpts : NULL, req->rcpts && req->history, d->err, sizeof(d->err));
	if (f->found == 1 && req->body) {
		f->body = q->ops->body_open(q, req->id, &f->src, d->err, sizeof(d->err));
		if (f->body == NULL) {
			/* Gone between the two reads, or unreadable. */
			queue_query_msg_clear(&f->m);
			queue_query_rcpts_free(f->rcpts, f->nrcpts);
			f->rcpts = NULL;
			f->nrcpts = 0;
			f->found = -1;
		} else if (req->body_limit > 0 && f->src.size > req->body_limit) {
			f->src.size = req->body_limit;
		}
	}
	queue_defer_post(q, d);
}

/* ---- recover_fetch ---- */

static void queue_defer_recover_deliver(struct queue_defer *d)
{
	queue_recover_cb *cb = (queue_recover_cb *)d->cb;
	cb(d->arg, d->ok, d->ok ? &d->recover : NULL, d->ok ? NULL : d->err);
	queue_recover_list_free(&d->recover);
	free(d);
}

/* One message of the walk: note it when it owes a DSN or is finished. */
static bool queue_defer_recover_one(void *arg, const struct queue_msg *m,
    const struct queue_rcpt *rcpts, size_t n)
{
	struct queue_defer *d = arg;
	struct queue_recover_list *l = &d->recover;
	bool failed = false, undone = false;
	for (size_t i = 0; i < n; i++) {
		if (rcpts[i].state == QUEUE_RCPT_FAILED)
			failed = true;
		else if (rcpts[i].state == QUEUE_RCPT_PENDING || rcpts[i].state == QUEUE_RCPT_DEFERRED)
			undone = true;
	}
	if (failed) {
		l->bounce = xreallocarray(l->bounce, l->nbounce + 1, sizeof(*l->bounce));
		snprintf(l->bounce[l->nbounce++], QUEUE_ID_LEN + 1, "%s", m->id);
	} else if (!undone) {
		l->done = xreallocarray(l->done, l->ndone + 1, sizeof(*l->done));
		snprintf(l->done[l->ndone++], QUEUE_ID_LEN + 1, "%s", m->id);
	}
	return true;
}

/* One node owns a local store: every failed recipient is owed its DSN now (quiet_since unused). */
void queue_defer_recover_fetch(struct queue_store *q, time_t quiet_since, queue_recover_cb *cb,
    void *arg)
{
	(void)quiet_since;
	struct queue_defer *d = xcalloc(1, sizeof(*d));
	d->deliver = queue_defer_recover_deliver;
	d->cb = (void *)cb;
	d->arg = arg;
	d->ok = q->ops->query_list(q, queue_defer_recover_one, d, d->err, sizeof(d->err)) >= 0;
	if (!d->ok)
		queue_recover_list_free(&d->recover);
	queue_defer_post(q, d);
}
