/*
 * queue_pg_due: what the fleet's schedulers take, on PostgreSQL. A node
 * claims due recipients with one statement (FOR UPDATE SKIP LOCKED, so
 * nodes scanning at once take different rows without waiting on each
 * other), leasing them to itself until lease_time seconds from the
 * server's clock; it renews the leases of what it still holds every third
 * of that time, gives back what it will not deliver, and an outcome ends
 * a lease. A node that stops renewing (it died, or lost the server) loses
 * its leases when they run out, and the others take those recipients.
 *
 * Owns: this node's claims in memory (what it handed to its scheduler),
 * the lease statements, the lists of the recovery pass.
 * Never: hands out a recipient this node already holds; waits on the
 * server (every call here answers on the loop).
 */
#include "queue_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

/* Due list order: domain, message, recipient (what the scheduler groups by). */
static int queue_pg_due_cmp(const void *a, const void *b)
{
	const struct queue_due *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);
	if (c == 0)
		c = strcmp(x->msg_id, y->msg_id);
	if (c == 0)
		c = x->rcpt_id < y->rcpt_id ? -1 : x->rcpt_id > y->rcpt_id;
	return c;
}

void queue_pg_due_rows(const PGresult *res, struct queue_due_list *out)
{
	int n = PQntuples(res);
	out->items = n > 0 ? xcalloc((size_t)n, sizeof(*out->items)) : NULL;
	out->n = 0;
	for (int i = 0; i < n; i++) {
		struct queue_due *d = &out->items[out->n++];
		d->rcpt_id = queue_pg_sql_int(res, i, 0, 0);
		snprintf(d->msg_id, sizeof(d->msg_id), "%s", PQgetvalue(res, i, 1));
		d->address = queue_pg_sql_strdup(res, i, 2);
		d->domain = queue_pg_sql_strdup(res, i, 3);
		d->orcpt = queue_pg_sql_strdup(res, i, 4);
		d->notify = (unsigned)queue_pg_sql_int(res, i, 5, 0);
		d->tries = (unsigned)queue_pg_sql_int(res, i, 6, 0);
		d->first_fail = (time_t)queue_pg_sql_int(res, i, 7, 0);
		d->received_at = (time_t)queue_pg_sql_int(res, i, 8, 0);
	}
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(*out->items), queue_pg_due_cmp);
}

/* A claim in flight. */
struct queue_pg_claim {
	struct queue_pg *q;
	queue_due_cb *cb;
	void *arg;
	struct queue_due_list *l;	/* the rows, once they came */
};

static void queue_pg_claim_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg_claim *c = arg;
	(void)idx;
	c->l = xcalloc(1, sizeof(*c->l));
	queue_pg_due_rows(res, c->l);
}

/* The claim committed: what this node holds already is left out, the rest claimed. */
static void queue_pg_claim_done(void *arg, bool ok, const char *err)
{
	struct queue_pg_claim *c = arg;
	struct queue_due_list *l = c->l;
	if (!ok || l == NULL) {
		if (l != NULL) {
			queue_due_list_free(l);
			free(l);
		}
		c->cb(c->arg, false, NULL, err != NULL ? err :
		    "this node's lock is not held (yet): nothing claimed");
		free(c);
		return;
	}
	size_t keep = 0;
	for (size_t i = 0; i < l->n; i++) {
		struct queue_due *d = &l->items[i];
		if (queue_claims_has(&c->q->claims, d->rcpt_id)) {
			free((char *)d->address);
			free((char *)d->domain);
			free((char *)d->orcpt);
			continue;
		}
		queue_claims_add(&c->q->claims, d->rcpt_id);
		l->items[keep++] = *d;
	}
	l->n = keep;
	c->cb(c->arg, true, l, NULL);
	free(c);
}

void queue_pg_due_fetch(struct queue_store *store, time_t now, size_t limit, queue_due_cb *cb,
    void *arg)
{
	struct queue_pg *q = queue_pg_of(store);
	struct queue_pg_claim *c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->cb = cb;
	c->arg = arg;
	char t[24], lim[24], lease[16];
	snprintf(t, sizeof(t), "%lld", (long long)now);
	snprintf(lim, sizeof(lim), "%zu", limit);
	snprintf(lease, sizeof(lease), "%u", q->lease_time);
	const char *v[4] = { t, lim, q->node, lease };
	struct queue_pg_req *r = queue_pg_req_begin(q->read, queue_pg_claim_result,
	    queue_pg_claim_done, c);
	/* Without the node's lock, another process may run as this node: take nothing. */
	if (q->node_locked)
		queue_pg_req_stmt(r, QPG_CLAIM, 4, v, NULL, NULL, 0);
	queue_pg_req_end(r);
}

/* Gather the claimed ids (queue_claims_each's callback). */
struct queue_pg_ids {
	int64_t *v;
	size_t n, cap;
};

static void queue_pg_ids_add(void *arg, int64_t id)
{
	struct queue_pg_ids *ids = arg;
	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? ids->cap * 2 : 256;
		ids->v = xreallocarray(ids->v, ids->cap, sizeof(*ids->v));
	}
	ids->v[ids->n++] = id;
}

/* A lease renewal or release ended: worth a line only when it failed. */
static void queue_pg_lease_done(void *arg, bool ok, const char *err)
{
	if (!ok)
		log_msg(LOG_LVL_WARN, "op=queue_lease event=%s-failed reason=\"%s\"", (const char *)arg,
		    err != NULL ? err : "");
}

void queue_pg_due_renew(struct queue_pg *q)
{
	if (q->claims.used == 0 || !queue_pg_conn_ready(q->read))
		return;
	struct queue_pg_ids ids = { 0 };
	queue_claims_each(&q->claims, queue_pg_ids_add, &ids);
	char *arr = queue_pg_sql_int_array(ids.v, ids.n);
	char lease[16];
	snprintf(lease, sizeof(lease), "%u", q->lease_time);
	const char *v[3] = { q->node, arr, lease };
	struct queue_pg_req *r = queue_pg_req_begin(q->read, NULL, queue_pg_lease_done, "renew");
	queue_pg_req_stmt(r, QPG_RENEW, 3, v, NULL, NULL, 0);
	queue_pg_req_end(r);
	free(arr);
	free(ids.v);
}

void queue_pg_due_unclaim(struct queue_store *store, const int64_t *rcpt_ids, size_t n)
{
	struct queue_pg *q = queue_pg_of(store);
	for (size_t i = 0; i < n; i++)
		queue_claims_release(&q->claims, rcpt_ids[i]);
	if (n == 0 || q->base == NULL)
		return;
	/* Due again for the whole fleet at once, not when the lease would have run out. */
	char *arr = queue_pg_sql_int_array(rcpt_ids, n);
	const char *v[2] = { q->node, arr };
	struct queue_pg_req *r = queue_pg_req_begin(q->read, NULL, queue_pg_lease_done, "unclaim");
	queue_pg_req_stmt(r, QPG_UNCLAIM, 2, v, NULL, NULL, 0);
	queue_pg_req_end(r);
	free(arr);
}

size_t queue_pg_due_claimed(const struct queue_store *store)
{
	return queue_pg_cof(store)->claims.used;
}

/* The command line never claims: what is due, read on the admin connection. */
int queue_pg_due_list(struct queue_store *store, time_t now, size_t limit, bool claim,
    struct queue_due_list *out, char *err, size_t errlen)
{
	struct queue_pg *q = queue_pg_of(store);
	(void)claim;
	memset(out, 0, sizeof(*out));
	char t[24], lim[24];
	snprintf(t, sizeof(t), "%lld", (long long)now);
	snprintf(lim, sizeof(lim), "%zu", limit);
	const char *v[2] = { t, lim };
	PGresult *res = queue_pg_admin_exec(q, "SELECT r.id, r.msg_id, r.address, r.domain, r.orcpt,"
	    " r.notify, r.tries, r.first_fail, m.received_at FROM recipients r JOIN messages m"
	    " ON m.id = r.msg_id WHERE r.state IN ('pending', 'deferred') AND r.next_try <= $1::bigint"
	    " AND r.lease_until < mxr_now() AND NOT m.held ORDER BY r.next_try, r.id"
	    " LIMIT $2::integer", 2, v, err, errlen);
	if (res == NULL)
		return -1;
	queue_pg_due_rows(res, out);
	PQclear(res);
	return 0;
}

/* ---- the recovery pass ---- */

struct queue_pg_recover {
	queue_recover_cb *cb;
	void *arg;
	struct queue_recover_list l;
};

static void queue_pg_recover_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg_recover *rc = arg;
	int n = PQntuples(res);
	char (**list)[QUEUE_ID_LEN + 1] = idx == 0 ? &rc->l.bounce : &rc->l.done;
	size_t *count = idx == 0 ? &rc->l.nbounce : &rc->l.ndone;
	*list = n > 0 ? xcalloc((size_t)n, sizeof(**list)) : NULL;
	for (int i = 0; i < n; i++)
		snprintf((*list)[(*count)++], QUEUE_ID_LEN + 1, "%s", PQgetvalue(res, i, 0));
}

static void queue_pg_recover_done(void *arg, bool ok, const char *err)
{
	struct queue_pg_recover *rc = arg;
	rc->cb(rc->arg, ok, ok ? &rc->l : NULL, err);
	queue_recover_list_free(&rc->l);
	free(rc);
}

void queue_pg_recover_fetch(struct queue_store *store, time_t quiet_since, queue_recover_cb *cb,
    void *arg)
{
	struct queue_pg *q = queue_pg_of(store);
	struct queue_pg_recover *rc = xcalloc(1, sizeof(*rc));
	rc->cb = cb;
	rc->arg = arg;
	char t[24];
	snprintf(t, sizeof(t), "%lld", (long long)quiet_since);
	const char *v[1] = { t };
	struct queue_pg_req *r = queue_pg_req_begin(q->read, queue_pg_recover_result,
	    queue_pg_recover_done, rc);
	queue_pg_req_stmt(r, QPG_RECOVER_FAILED, 1, v, NULL, NULL, 0);
	queue_pg_req_stmt(r, QPG_RECOVER_DONE, 1, v, NULL, NULL, 0);
	queue_pg_req_end(r);
}
