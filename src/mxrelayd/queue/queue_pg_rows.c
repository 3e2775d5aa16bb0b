/*
 * queue_pg_rows: rows of the PostgreSQL queue into the interface's
 * structs: an envelope, recipients, their history. The asynchronous
 * fetch and the synchronous reads use the same statements
 * (queue_pg_sql.c) and so the same parsers.
 *
 * Owns: the column order of QPG_MSG, QPG_RCPTS and QPG_HISTORY as read.
 * Never: talks to the server.
 */
#include "queue_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void queue_pg_rows_msg(const PGresult *res, int row, struct queue_msg *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", PQgetvalue(res, row, 0));
	m->sender = queue_pg_sql_strdup(res, row, 1);
	if (m->sender == NULL)
		m->sender = xstrdup("");
	m->envid = queue_pg_sql_strdup(res, row, 2);
	m->ret = (enum mxr_ret)queue_pg_sql_int(res, row, 3, 0);
	m->smtputf8 = queue_pg_sql_bool(res, row, 4);
	m->body_8bit = queue_pg_sql_bool(res, row, 5);
	m->requiretls = queue_pg_sql_bool(res, row, 6);
	m->tls_optional = queue_pg_sql_bool(res, row, 7);
	m->client_ip = queue_pg_sql_strdup(res, row, 8);
	m->client_helo = queue_pg_sql_strdup(res, row, 9);
	m->auth_user = queue_pg_sql_strdup(res, row, 10);
	m->protocol = queue_pg_sql_strdup(res, row, 11);
	m->received_at = (time_t)queue_pg_sql_int(res, row, 12, 0);
	m->size = (uint64_t)queue_pg_sql_int(res, row, 13, 0);
	m->held = queue_pg_sql_bool(res, row, 14);
}

struct queue_rcpt *queue_pg_rows_rcpts(const PGresult *res, size_t *n)
{
	int rows = PQntuples(res);
	*n = rows > 0 ? (size_t)rows : 0;
	struct queue_rcpt *r = xcalloc(*n ? *n : 1, sizeof(*r));
	for (int i = 0; i < rows; i++) {
		struct queue_rcpt *x = &r[i];
		x->id = queue_pg_sql_int(res, i, 0, 0);
		x->address = queue_pg_sql_strdup(res, i, 1);
		x->domain = queue_pg_sql_strdup(res, i, 2);
		x->orcpt = queue_pg_sql_strdup(res, i, 3);
		x->notify = (unsigned)queue_pg_sql_int(res, i, 4, 0);
		if (!queue_store_state_parse(PQgetvalue(res, i, 5), &x->state))
			x->state = QUEUE_RCPT_PENDING;
		x->tries = (unsigned)queue_pg_sql_int(res, i, 6, 0);
		x->next_try = (time_t)queue_pg_sql_int(res, i, 7, 0);
		x->first_fail = (time_t)queue_pg_sql_int(res, i, 8, 0);
		x->last_code = (int)queue_pg_sql_int(res, i, 9, 0);
		x->last_esc = queue_pg_sql_strdup(res, i, 10);
		x->last_reply = queue_pg_sql_strdup(res, i, 11);
		x->last_mx = queue_pg_sql_strdup(res, i, 12);
		x->updated_at = (time_t)queue_pg_sql_int(res, i, 13, 0);
		x->claim_node = queue_pg_sql_strdup(res, i, 14);
	}
	return r;
}

void queue_pg_rows_history(const PGresult *res, struct queue_rcpt *r, size_t n)
{
	int rows = PQntuples(res);
	size_t k = 0;
	for (int i = 0; i < rows; i++) {
		int64_t id = queue_pg_sql_int(res, i, 0, 0);
		/* Both are sorted by recipient id: walk them together. */
		while (k < n && r[k].id < id)
			k++;
		if (k >= n)
			break;
		if (r[k].id != id)
			continue;
		struct queue_rcpt *x = &r[k];
		x->history = xreallocarray(x->history, x->nhistory + 1, sizeof(*x->history));
		struct queue_try *t = &x->history[x->nhistory++];
		memset(t, 0, sizeof(*t));
		t->at = (time_t)queue_pg_sql_int(res, i, 1, 0);
		if (!queue_store_state_parse(PQgetvalue(res, i, 2), &t->status))
			t->status = QUEUE_RCPT_DEFERRED;
		t->code = (int)queue_pg_sql_int(res, i, 3, 0);
		t->esc = queue_pg_sql_strdup(res, i, 4);
		t->reply = queue_pg_sql_strdup(res, i, 5);
		t->mx = queue_pg_sql_strdup(res, i, 6);
	}
}
