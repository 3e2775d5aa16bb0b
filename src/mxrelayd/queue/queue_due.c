/*
 * queue_due: what the scheduler should deliver now: undone recipients
 * whose time has come, grouped by domain, and the in-memory claims that
 * keep a recipient from being handed out twice while it is in flight.
 *
 * Owns: the claim set (loop thread only). Never: stores a claim (after a
 * restart everything in flight is simply due again), or writes to the
 * database.
 */
#include "queue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* ---- claims: an open-addressing set of recipient ids (ids are > 0) ---- */

static size_t queue_due_slot(int64_t id, size_t cap)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15u;
	return (size_t)(h >> 17) & (cap - 1);
}

static bool queue_due_has(const struct queue_claims *c, int64_t id)
{
	if (c->cap == 0)
		return false;
	for (size_t i = queue_due_slot(id, c->cap);; i = (i + 1) & (c->cap - 1)) {
		if (c->slots[i] == id)
			return true;
		if (c->slots[i] == 0)
			return false;
	}
}

static void queue_due_add(struct queue_claims *c, int64_t id);

/* Rebuild the table with room for twice the live entries. */
static void queue_due_grow(struct queue_claims *c)
{
	struct queue_claims old = *c;
	size_t cap = 64;
	while (cap < (old.used + 1) * 4)
		cap *= 2;
	c->slots = xcalloc(cap, sizeof(*c->slots));
	c->cap = cap;
	c->used = c->filled = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i] > 0)
			queue_due_add(c, old.slots[i]);
	free(old.slots);
}

static void queue_due_add(struct queue_claims *c, int64_t id)
{
	if (queue_due_has(c, id))
		return;
	if ((c->filled + 1) * 2 > c->cap)
		queue_due_grow(c);
	size_t i = queue_due_slot(id, c->cap);
	while (c->slots[i] > 0)
		i = (i + 1) & (c->cap - 1);
	if (c->slots[i] == 0)
		c->filled++;
	c->slots[i] = id;
	c->used++;
}

void queue_due_release(struct queue_claims *c, int64_t id)
{
	if (c->cap == 0)
		return;
	for (size_t i = queue_due_slot(id, c->cap);; i = (i + 1) & (c->cap - 1)) {
		if (c->slots[i] == id) {
			c->slots[i] = -1;
			c->used--;
			return;
		}
		if (c->slots[i] == 0)
			return;
	}
}

void queue_due_free_claims(struct queue_claims *c)
{
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

void queue_sqlite_due_unclaim(struct queue_store *store, const int64_t *rcpt_ids, size_t n)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	for (size_t i = 0; i < n; i++)
		queue_due_release(&q->claims, rcpt_ids[i]);
}

size_t queue_sqlite_due_claimed(const struct queue_store *store)
{
	const struct queue_sqlite *q = queue_sqlite_cof(store);
	return q->claims.used;
}

/* ---- due recipients ---- */

int queue_sqlite_due_list(struct queue_store *store, time_t now, size_t limit, bool claim,
    struct queue_due_list *out, char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	memset(out, 0, sizeof(*out));
	/* recipients_due serves the filter; the sort is over the few due rows. */
	sqlite3_stmt *st = queue_store_rstmt(q, QR_DUE,
	    "SELECT r.id, r.msg_id, r.address, r.domain, r.orcpt, r.notify, r.tries,"
	    " r.first_fail, m.received_at FROM recipients r JOIN messages m ON m.id = r.msg_id"
	    " WHERE r.state IN ('pending', 'deferred') AND r.next_try <= ?1 AND m.held = 0"
	    " ORDER BY r.domain, r.msg_id, r.id LIMIT ?2", err, errlen);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	/* Claimed rows are skipped below, so ask for enough to fill limit anyway. */
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(limit + q->claims.used));
	size_t cap = 0;
	int rc;
	while (out->n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (queue_due_has(&q->claims, id))
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->items = xreallocarray(out->items, cap, sizeof(*out->items));
		}
		struct queue_due *d = &out->items[out->n++];
		memset(d, 0, sizeof(*d));
		d->rcpt_id = id;
		snprintf(d->msg_id, sizeof(d->msg_id), "%s", (const char *)sqlite3_column_text(st, 1));
		d->address = queue_store_col_strdup(st, 2);
		d->domain = queue_store_col_strdup(st, 3);
		d->orcpt = queue_store_col_strdup(st, 4);
		d->notify = (unsigned)sqlite3_column_int(st, 5);
		d->tries = (unsigned)sqlite3_column_int(st, 6);
		d->first_fail = (time_t)sqlite3_column_int64(st, 7);
		d->received_at = (time_t)sqlite3_column_int64(st, 8);
	}
	rc = sqlite3_errcode(q->rdb);
	sqlite3_reset(st);
	if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "due list", q->rdb);
		queue_due_list_free(out);
		return -1;
	}
	if (claim)
		for (size_t i = 0; i < out->n; i++)
			queue_due_add(&q->claims, out->items[i].rcpt_id);
	return 0;
}
