/*
 * queue_pg_bulk: the transfers of large bodies (uploads before their
 * message's commit, downloads before a delivery), one at a time on the
 * bulk connection, in the order they were asked for. A transfer keeps
 * libpq's buffers to a few chunks (it sends the next chunk when the last
 * one left, asks for a few chunks at a time), so memory stays flat in
 * message size, and a 50 MiB transfer never waits behind, or holds up,
 * the commits and claims of the other connections.
 *
 * Owns: the queue of transfers (not the transfers: each is its owner's).
 * Never: starts a transfer inside queue_pg_bulk_run or queue_pg_bulk_end.
 */
#include "queue_pg.h"

#include <stdlib.h>

#include <event2/event.h>

#include "util/log.h"

/* Start the transfer at the head, if none runs. */
static void queue_pg_bulk_next(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct queue_pg *q = arg;
	if (q->bulk_running || q->bulk_head == NULL)
		return;
	struct queue_pg_bulk *t = q->bulk_head;
	q->bulk_head = t->next;
	if (q->bulk_head == NULL)
		q->bulk_tail = &q->bulk_head;
	q->bulk_running = true;
	t->start(t);
}

/* The event that starts transfers, made on first use. */
static void queue_pg_bulk_kick(struct queue_pg *q)
{
	if (q->bulk_ev == NULL) {
		q->bulk_ev = event_new(q->base, -1, 0, queue_pg_bulk_next, q);
		if (q->bulk_ev == NULL)
			fatal("op=queue_pg reason=\"cannot create events\"");
	}
	event_active(q->bulk_ev, 0, 0);
}

void queue_pg_bulk_run(struct queue_pg *q, struct queue_pg_bulk *t)
{
	if (q->bulk_tail == NULL)
		q->bulk_tail = &q->bulk_head;
	t->next = NULL;
	*q->bulk_tail = t;
	q->bulk_tail = &t->next;
	queue_pg_bulk_kick(q);
}

void queue_pg_bulk_end(struct queue_pg *q)
{
	q->bulk_running = false;
	if (q->bulk_head != NULL && q->base != NULL)
		queue_pg_bulk_kick(q);
}

void queue_pg_bulk_close(struct queue_pg *q)
{
	struct queue_pg_bulk *t = q->bulk_head;
	q->bulk_head = NULL;
	q->bulk_tail = &q->bulk_head;
	while (t != NULL) {
		struct queue_pg_bulk *next = t->next;
		t->cancel(t);
		t = next;
	}
	if (q->bulk_ev != NULL)
		event_free(q->bulk_ev);
	q->bulk_ev = NULL;
}
