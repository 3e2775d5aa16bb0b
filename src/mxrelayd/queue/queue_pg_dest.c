/*
 * queue_pg_dest: a destination's state shared by the fleet on
 * PostgreSQL. Its delivery slots are session advisory locks on the
 * listen connection (mxr_slot_take): a slot is the node's while its
 * session lives, so a node that dies holds none, with no lease to wait
 * out; max_per_destination then counts the fleet's deliveries. Its
 * backoff is a row of `destinations`, written by the node that counted a
 * failure (or a recovery, or a flush) and read by the others every tick,
 * ordered by the server's clock.
 *
 * Owns: the slots this node holds (to give them back, and to skip them
 * when asking: one session's locks stack), the slot requests, one in
 * flight at a time. Never: gives back a slot of an earlier session of
 * the listen connection (it went with it).
 */
#include "queue_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

/*
 * A slot request. One is in flight at a time: a session's advisory locks
 * stack, so each request must know every slot this node holds already
 * (an answer still on its way would let two requests take the same one).
 */
struct queue_pg_slot_req {
	struct queue_pg_slot_req *next;	/* waiting behind the one in flight */
	struct queue_pg *q;
	char *key;			/* owned */
	unsigned max;
	unsigned gen;			/* the listen connection's generation when sent */
	int slot;
	queue_slot_cb *cb;
	void *arg;
};

static void queue_pg_slot_send(struct queue_pg *q);

static void queue_pg_slot_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg_slot_req *s = arg;
	(void)idx;
	if (PQntuples(res) == 1)
		s->slot = (int)queue_pg_sql_int(res, 0, 0, 0);
}

/* Remember a slot taken, to give it back and to skip it when asking again. */
static void queue_pg_slot_keep(struct queue_pg *q, const char *key, int slot, unsigned gen)
{
	q->slots = xreallocarray(q->slots, q->nslots + 1, sizeof(*q->slots));
	q->slots[q->nslots++] = (struct queue_pg_slot){ .key = xstrdup(key), .slot = slot,
		.gen = gen };
}

static void queue_pg_slot_done(void *arg, bool ok, const char *err)
{
	struct queue_pg_slot_req *s = arg;
	struct queue_pg *q = s->q;
	q->slot_busy = false;
	int slot = ok ? s->slot : -1;
	/* Taken in a session that ended since: it is gone already. */
	if (slot > 0 && s->gen != q->listen_gen)
		slot = 0;
	if (slot > 0)
		queue_pg_slot_keep(q, s->key, slot, s->gen);
	s->cb(s->arg, slot, ok ? NULL : err);
	free(s->key);
	free(s);
	queue_pg_slot_send(q);
}

/* Send the first waiting request, with the slots this node holds of its destination. */
static void queue_pg_slot_send(struct queue_pg *q)
{
	struct queue_pg_slot_req *s = q->slot_wait;
	if (q->slot_busy || s == NULL)
		return;
	q->slot_wait = s->next;
	if (q->slot_wait == NULL)
		q->slot_wait_tail = &q->slot_wait;
	q->slot_busy = true;
	s->gen = q->listen_gen;
	int64_t *held = xcalloc(q->nslots + 1, sizeof(*held));
	size_t nheld = 0;
	for (size_t i = 0; i < q->nslots; i++)
		if (q->slots[i].gen == q->listen_gen && strcmp(q->slots[i].key, s->key) == 0)
			held[nheld++] = q->slots[i].slot;
	char *harr = queue_pg_sql_int_array(held, nheld);
	char maxs[16];
	snprintf(maxs, sizeof(maxs), "%u", s->max);
	const char *v[3] = { s->key, maxs, harr };
	struct queue_pg_req *r = queue_pg_req_begin(q->listen, queue_pg_slot_result,
	    queue_pg_slot_done, s);
	queue_pg_req_stmt(r, QPG_SLOT_TAKE, 3, v, NULL, NULL, 0);
	queue_pg_req_end(r);
	free(harr);
	free(held);
}

void queue_pg_dest_acquire(struct queue_store *store, const char *key, unsigned max,
    queue_slot_cb *cb, void *arg)
{
	struct queue_pg *q = queue_pg_of(store);
	struct queue_pg_slot_req *s = xcalloc(1, sizeof(*s));
	s->q = q;
	s->key = xstrdup(key);
	s->max = max;
	s->cb = cb;
	s->arg = arg;
	if (q->slot_wait_tail == NULL)
		q->slot_wait_tail = &q->slot_wait;
	*q->slot_wait_tail = s;
	q->slot_wait_tail = &s->next;
	queue_pg_slot_send(q);
}

void queue_pg_dest_release(struct queue_store *store, const char *key, int slot)
{
	struct queue_pg *q = queue_pg_of(store);
	for (size_t i = 0; i < q->nslots; i++) {
		struct queue_pg_slot *h = &q->slots[i];
		if (h->slot != slot || strcmp(h->key, key) != 0)
			continue;
		if (h->gen == q->listen_gen && queue_pg_conn_ready(q->listen)) {
			char s[16];
			snprintf(s, sizeof(s), "%d", slot);
			const char *v[2] = { key, s };
			struct queue_pg_req *r = queue_pg_req_begin(q->listen, NULL, NULL, NULL);
			queue_pg_req_stmt(r, QPG_SLOT_GIVE, 2, v, NULL, NULL, 0);
			queue_pg_req_end(r);
		}
		free(h->key);
		q->slots[i] = q->slots[--q->nslots];
		return;
	}
}

void queue_pg_dest_close(struct queue_pg *q)
{
	struct queue_pg_slot_req *s = q->slot_wait;
	q->slot_wait = NULL;
	q->slot_wait_tail = &q->slot_wait;
	while (s != NULL) {
		struct queue_pg_slot_req *next = s->next;
		s->cb(s->arg, -1, "queue closing");
		free(s->key);
		free(s);
		s = next;
	}
}

void queue_pg_dest_forget_slots(struct queue_pg *q)
{
	for (size_t i = 0; i < q->nslots; i++)
		free(q->slots[i].key);
	q->nslots = 0;
}

/* A publication ended: worth a line only when it failed. */
static void queue_pg_dest_put_done(void *arg, bool ok, const char *err)
{
	(void)arg;
	if (!ok)
		log_msg(LOG_LVL_WARN, "op=queue_dest event=publish-failed reason=\"%s\"",
		    err != NULL ? err : "");
}

void queue_pg_dest_publish(struct queue_store *store, const struct queue_dest_state *st)
{
	struct queue_pg *q = queue_pg_of(store);
	char failures[16], from[24], until[24];
	snprintf(failures, sizeof(failures), "%u", st->failures);
	snprintf(from, sizeof(from), "%lld", (long long)st->backoff_from);
	snprintf(until, sizeof(until), "%lld", (long long)st->backoff_until);
	const char *v[5] = { st->key, failures, from, until, st->reason };
	struct queue_pg_req *r = queue_pg_req_begin(q->read, NULL, queue_pg_dest_put_done, NULL);
	queue_pg_req_stmt(r, QPG_DEST_PUT, 5, v, NULL, NULL, 0);
	queue_pg_req_end(r);
}

/* A read of the fleet's destinations in flight. */
struct queue_pg_dests {
	queue_dests_cb *cb;
	void *arg;
	struct queue_dest_state *d;	/* owned */
	size_t n;
};

static void queue_pg_dests_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg_dests *x = arg;
	(void)idx;
	int n = PQntuples(res);
	x->d = n > 0 ? xcalloc((size_t)n, sizeof(*x->d)) : NULL;
	for (int i = 0; i < n; i++) {
		struct queue_dest_state *d = &x->d[x->n++];
		snprintf(d->key, sizeof(d->key), "%s", PQgetvalue(res, i, 0));
		d->failures = (unsigned)queue_pg_sql_int(res, i, 1, 0);
		d->backoff_from = (time_t)queue_pg_sql_int(res, i, 2, 0);
		d->backoff_until = (time_t)queue_pg_sql_int(res, i, 3, 0);
		snprintf(d->reason, sizeof(d->reason), "%s", PQgetvalue(res, i, 4));
		d->changed = queue_pg_sql_int(res, i, 5, 0);
	}
}

static void queue_pg_dests_done(void *arg, bool ok, const char *err)
{
	struct queue_pg_dests *x = arg;
	x->cb(x->arg, ok, x->d, ok ? x->n : 0, err);
	free(x->d);
	free(x);
}

void queue_pg_dest_fetch(struct queue_store *store, int64_t since, queue_dests_cb *cb, void *arg)
{
	struct queue_pg *q = queue_pg_of(store);
	struct queue_pg_dests *x = xcalloc(1, sizeof(*x));
	x->cb = cb;
	x->arg = arg;
	char s[24];
	snprintf(s, sizeof(s), "%lld", (long long)since);
	const char *v[1] = { s };
	struct queue_pg_req *r = queue_pg_req_begin(q->read, queue_pg_dests_result,
	    queue_pg_dests_done, x);
	queue_pg_req_stmt(r, QPG_DEST_GET, 1, v, NULL, NULL, 0);
	queue_pg_req_end(r);
}
