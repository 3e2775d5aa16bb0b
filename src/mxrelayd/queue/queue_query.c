/*
 * queue_query: the read side of the queue for the command line and the
 * bounce writer: a message with its recipients and their history, the
 * listing of all messages, the header section of a body, counts.
 *
 * Owns: nothing beyond what it returns. Never: writes to the database,
 * or keeps a statement (and so a read transaction) open after it returns.
 */
#include "queue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

/* ---- messages and recipients ---- */

#define QUEUE_MSG_COLS "id, sender, envid, ret, smtputf8, body_8bit, client_ip, client_helo," \
	" auth_user, protocol, received_at, size, held, requiretls, tls_optional"

/* Fill m from a row of QUEUE_MSG_COLS. */
static void queue_query_msg_row(sqlite3_stmt *st, struct queue_msg *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", (const char *)sqlite3_column_text(st, 0));
	m->sender = queue_store_col_strdup(st, 1);
	if (m->sender == NULL)
		m->sender = xstrdup("");
	m->envid = queue_store_col_strdup(st, 2);
	m->ret = (enum mxr_ret)sqlite3_column_int(st, 3);
	m->smtputf8 = sqlite3_column_int(st, 4) != 0;
	m->body_8bit = sqlite3_column_int(st, 5) != 0;
	m->client_ip = queue_store_col_strdup(st, 6);
	m->client_helo = queue_store_col_strdup(st, 7);
	m->auth_user = queue_store_col_strdup(st, 8);
	m->protocol = queue_store_col_strdup(st, 9);
	m->received_at = (time_t)sqlite3_column_int64(st, 10);
	m->size = (uint64_t)sqlite3_column_int64(st, 11);
	m->held = sqlite3_column_int(st, 12) != 0;
	m->requiretls = sqlite3_column_int(st, 13) != 0;
	m->tls_optional = sqlite3_column_int(st, 14) != 0;
}

/* Read the history of one recipient, oldest first. */
static bool queue_query_history(struct queue_sqlite *q, struct queue_rcpt *r,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(q->rdb, "SELECT at, status, code, esc, reply, mx FROM history"
	    " WHERE rcpt_id = ? ORDER BY at, rowid", -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		return false;
	}
	sqlite3_bind_int64(st, 1, r->id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nhistory == cap) {
			cap = cap ? cap * 2 : 4;
			r->history = xreallocarray(r->history, cap, sizeof(*r->history));
		}
		struct queue_try *t = &r->history[r->nhistory++];
		t->at = (time_t)sqlite3_column_int64(st, 0);
		if (!queue_store_state_parse((const char *)sqlite3_column_text(st, 1), &t->status))
			t->status = QUEUE_RCPT_PENDING;
		t->code = sqlite3_column_int(st, 2);
		t->esc = queue_store_col_strdup(st, 3);
		t->reply = queue_store_col_strdup(st, 4);
		t->mx = queue_store_col_strdup(st, 5);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "history", q->rdb);
		return false;
	}
	return true;
}

/* Read the recipients of message id, in the order they were given. */
static bool queue_query_rcpts(struct queue_sqlite *q, const char *id, struct queue_rcpt **out,
    size_t *nout, bool with_history, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	*out = NULL;
	*nout = 0;
	if (sqlite3_prepare_v2(q->rdb, "SELECT id, address, domain, orcpt, notify, state, tries,"
	    " next_try, first_fail, last_code, last_esc, last_reply, last_mx, updated_at"
	    " FROM recipients WHERE msg_id = ? ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		return false;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*nout == cap) {
			cap = cap ? cap * 2 : 4;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		struct queue_rcpt *r = &(*out)[(*nout)++];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(st, 0);
		r->address = queue_store_col_strdup(st, 1);
		r->domain = queue_store_col_strdup(st, 2);
		r->orcpt = queue_store_col_strdup(st, 3);
		r->notify = (unsigned)sqlite3_column_int(st, 4);
		if (!queue_store_state_parse((const char *)sqlite3_column_text(st, 5), &r->state))
			r->state = QUEUE_RCPT_PENDING;
		r->tries = (unsigned)sqlite3_column_int(st, 6);
		r->next_try = (time_t)sqlite3_column_int64(st, 7);
		r->first_fail = (time_t)sqlite3_column_int64(st, 8);
		r->last_code = sqlite3_column_int(st, 9);
		r->last_esc = queue_store_col_strdup(st, 10);
		r->last_reply = queue_store_col_strdup(st, 11);
		r->last_mx = queue_store_col_strdup(st, 12);
		r->updated_at = (time_t)sqlite3_column_int64(st, 13);
	}
	sqlite3_finalize(st);
	bool ok = rc == SQLITE_DONE;
	if (!ok)
		queue_store_seterr(err, errlen, "recipients", q->rdb);
	for (size_t i = 0; ok && with_history && i < *nout; i++)
		ok = queue_query_history(q, &(*out)[i], err, errlen);
	if (!ok) {
		queue_query_rcpts_free(*out, *nout);
		*out = NULL;
		*nout = 0;
	}
	return ok;
}

int queue_sqlite_query_message(struct queue_store *store, const char *id, struct queue_msg *m,
    struct queue_rcpt **rcpts, size_t *nrcpts, bool with_history, char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	memset(m, 0, sizeof(*m));
	sqlite3_stmt *st = queue_store_rstmt(q, QR_MSG,
	    "SELECT " QUEUE_MSG_COLS " FROM messages WHERE id = ?", err, errlen);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		queue_query_msg_row(st, m);
	else if (rc != SQLITE_DONE)
		queue_store_seterr(err, errlen, "message", q->rdb);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -1;
	if (rcpts != NULL && nrcpts != NULL &&
	    !queue_query_rcpts(q, id, rcpts, nrcpts, with_history, err, errlen)) {
		queue_query_msg_clear(m);
		return -1;
	}
	return 1;
}

long queue_sqlite_query_list(struct queue_store *store, queue_list_fn *fn, void *arg,
    char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	/*
	 * Page through messages by id rather than holding one statement
	 * open across fn, so no read transaction outlives a page.
	 */
	char after[QUEUE_ID_LEN + 1] = "";
	long visited = 0;
	for (;;) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(q->rdb, "SELECT " QUEUE_MSG_COLS " FROM messages"
		    " WHERE id > ? ORDER BY id LIMIT 64", -1, &st, NULL) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "prepare", q->rdb);
			return -1;
		}
		sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
		struct queue_msg page[64];
		size_t n = 0;
		int rc;
		while (n < 64 && (rc = sqlite3_step(st)) == SQLITE_ROW)
			queue_query_msg_row(st, &page[n++]);
		rc = sqlite3_errcode(q->rdb);
		sqlite3_finalize(st);
		bool ok = rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE;
		if (!ok)
			queue_store_seterr(err, errlen, "list", q->rdb);
		bool go = ok;
		for (size_t i = 0; i < n; i++) {
			struct queue_rcpt *r = NULL;
			size_t nr = 0;
			if (go && !queue_query_rcpts(q, page[i].id, &r, &nr, false, err, errlen))
				ok = go = false;
			if (go) {
				visited++;
				go = fn(arg, &page[i], r, nr);
			}
			queue_query_rcpts_free(r, nr);
			memcpy(after, page[i].id, sizeof(after));
			queue_query_msg_clear(&page[i]);
		}
		if (!ok)
			return -1;
		if (!go || n < 64)
			return visited;
	}
}

int queue_sqlite_query_headers(struct queue_store *store, const char *id, size_t cap, char **out,
    size_t *outlen, char *err, size_t errlen)
{
	struct mxr_source src;
	*out = NULL;
	*outlen = 0;
	struct queue_body *b = queue_sqlite_body_open(store, id, &src, err, errlen);
	if (b == NULL) {
		struct queue_msg m;
		int found = queue_sqlite_query_message(store, id, &m, NULL, NULL, false, NULL, 0);
		queue_query_msg_clear(&m);
		return found == 0 ? 0 : -1;
	}
	int rc = queue_source_headers(&src, cap, out, outlen);
	queue_sqlite_body_close(b);
	if (rc < 0)
		snprintf(err, errlen, "read body of %s failed", id);
	return rc;
}

int queue_sqlite_query_count(struct queue_store *store, struct queue_counts *out, char *err,
    size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(q->rdb, "SELECT count(*), coalesce(sum(held), 0),"
	    " coalesce(sum(size), 0) FROM messages", -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		return -1;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->messages = (uint64_t)sqlite3_column_int64(st, 0);
		out->held = (uint64_t)sqlite3_column_int64(st, 1);
		out->bytes = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		queue_store_seterr(err, errlen, "count", q->rdb);
		return -1;
	}
	if (sqlite3_prepare_v2(q->rdb, "SELECT state, count(*) FROM recipients GROUP BY state",
	    -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum queue_rcpt_state s;
		if (queue_store_state_parse((const char *)sqlite3_column_text(st, 0), &s))
			out->rcpts[s] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "count", q->rdb);
		return -1;
	}
	if (sqlite3_prepare_v2(q->rdb, "SELECT id, received_at FROM messages"
	    " ORDER BY received_at, id LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		snprintf(out->oldest_id, sizeof(out->oldest_id), "%s", id != NULL ? id : "");
		out->oldest_received = (time_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "oldest", q->rdb);
		return -1;
	}
	return 0;
}
