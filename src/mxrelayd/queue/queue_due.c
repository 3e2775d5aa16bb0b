/*
 * queue_due: what the scheduler should deliver now: undone recipients
 * whose time has come, grouped by domain, and the in-memory claims that
 * keep a recipient from being handed out twice while it is in flight.
 *
 * Owns: the SQLite store's claims (queue_claims.c, loop thread only).
 * Never: stores a claim (after a restart everything in flight is simply
 * due again), or writes to the database.
 */
#include "queue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void queue_sqlite_due_unclaim(struct queue_store *store, const int64_t *rcpt_ids, size_t n)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	for (size_t i = 0; i < n; i++)
		queue_claims_release(&q->claims, rcpt_ids[i]);
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
		if (queue_claims_has(&q->claims, id))
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
			queue_claims_add(&q->claims, out->items[i].rcpt_id);
	return 0;
}
