/*
 * queue_api: the public functions of queue_store.h. Each hands its call
 * to the operations (struct queue_ops) of the store it is given, or of
 * the writer's or the body's store; queue_store_open() chooses the
 * backend. Beside them, what is the same for every backend: freeing what
 * the read operations return, and the names of recipient states.
 *
 * Owns: the choice of backend. Never: knows how a backend stores
 * anything, or adds behaviour of its own to an operation (NULL checks
 * aside, for the functions documented to accept NULL).
 */
#include "queue_backend.h"
#include "queue_claims.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"

/* ---- the store ---- */

struct queue_store *queue_store_open(struct event_base *base, const char *dir,
    char *err, size_t errlen)
{
	return queue_sqlite_ops.open(base, dir, err, errlen);
}

struct queue_store *queue_store_open_with(struct event_base *base, const char *dir,
    const struct queue_open_opts *opts, char *err, size_t errlen)
{
	if (opts == NULL || opts->dsn == NULL)
		return queue_sqlite_ops.open(base, dir, err, errlen);
	return queue_pg_open(base, dir, opts, err, errlen);
}

int queue_store_schema_version(struct queue_store *q, int *version, int *newest, char *err,
    size_t errlen)
{
	int v = q->ops->schema_version(q, newest, err, errlen);
	*version = v;
	return v < 0 ? -1 : 0;
}

const char *queue_store_backend(const struct queue_store *q)
{
	return q->ops->name;
}

void queue_store_close(struct queue_store *q)
{
	if (q != NULL)
		q->ops->close(q);
}

bool queue_store_has_room(const struct queue_store *q, uint64_t size)
{
	return q == NULL || q->ops->has_room(q, size);
}

void queue_store_set_reserve(struct queue_store *q, uint64_t size)
{
	q->ops->set_reserve(q, size);
}

void queue_store_set_metrics(struct queue_store *q, struct metrics_mail *mm)
{
	q->metrics = mm;
}

void queue_store_stats(struct queue_store *q, struct queue_store_stats *out)
{
	q->ops->stats(q, out);
}

void queue_store_set_max_pages(struct queue_store *q, uint32_t max_pages)
{
	q->ops->set_max_pages(q, max_pages);
}

void queue_store_set_busy_timeout(struct queue_store *q, unsigned ms)
{
	q->ops->set_busy_timeout(q, ms);
}

/* ---- new messages ---- */

struct queue_writer *queue_writer_new(struct queue_store *q)
{
	return q->ops->writer_new(q);
}

const char *queue_writer_id(const struct queue_writer *w)
{
	return w->store->ops->writer_id(w);
}

int queue_writer_append(struct queue_writer *w, const void *data, size_t len)
{
	return w->store->ops->writer_append(w, data, len);
}

uint64_t queue_writer_size(const struct queue_writer *w)
{
	return w->store->ops->writer_size(w);
}

void queue_writer_bounce_for(struct queue_writer *w, const int64_t *rcpt_ids, size_t n)
{
	w->store->ops->writer_bounce_for(w, rcpt_ids, n);
}

void queue_writer_commit(struct queue_writer *w, const struct queue_envelope *env,
    queue_commit_cb *cb, void *arg)
{
	w->store->ops->writer_commit(w, env, cb, arg);
}

void queue_writer_abort(struct queue_writer *w)
{
	if (w != NULL)
		w->store->ops->writer_abort(w);
}

/* ---- updates ---- */

void queue_update_outcomes(struct queue_store *q, const struct queue_outcome *o, size_t n,
    queue_commit_cb *cb, void *arg)
{
	q->ops->update_outcomes(q, o, n, cb, arg);
}

void queue_update_bounced(struct queue_store *q, const int64_t *rcpt_ids, size_t n,
    queue_commit_cb *cb, void *arg)
{
	q->ops->update_bounced(q, rcpt_ids, n, cb, arg);
}

void queue_update_delete_if_done(struct queue_store *q, const char *id,
    queue_delete_cb *cb, void *arg)
{
	q->ops->update_delete_if_done(q, id, cb, arg);
}

void queue_update_outcomes_delete(struct queue_store *q, const char *msg_id,
    const struct queue_outcome *o, size_t n, queue_delete_cb *cb, void *arg)
{
	q->ops->update_outcomes_delete(q, msg_id, o, n, cb, arg);
}

int queue_update_hold(struct queue_store *q, const char *id, bool hold, char *err, size_t errlen)
{
	return q->ops->update_hold(q, id, hold, err, errlen);
}

int queue_update_delete(struct queue_store *q, const char *id, char *err, size_t errlen)
{
	return q->ops->update_delete(q, id, err, errlen);
}

int queue_update_flush_msg(struct queue_store *q, const char *id, time_t now,
    char *err, size_t errlen)
{
	return q->ops->update_flush_msg(q, id, now, err, errlen);
}

int queue_update_flush_domain(struct queue_store *q, const char *domain, time_t now,
    char *err, size_t errlen)
{
	return q->ops->update_flush_domain(q, domain, now, err, errlen);
}

int queue_update_fail_waiting(struct queue_store *q, const char *id, time_t now,
    const char *esc, const char *reply, char *err, size_t errlen)
{
	return q->ops->update_fail_waiting(q, id, now, esc, reply, err, errlen);
}

/* ---- due recipients ---- */

int queue_due_list(struct queue_store *q, time_t now, size_t limit, bool claim,
    struct queue_due_list *out, char *err, size_t errlen)
{
	return q->ops->due_list(q, now, limit, claim, out, err, errlen);
}

void queue_due_unclaim(struct queue_store *q, const int64_t *rcpt_ids, size_t n)
{
	q->ops->due_unclaim(q, rcpt_ids, n);
}

size_t queue_due_claimed(const struct queue_store *q)
{
	return q->ops->due_claimed(q);
}

void queue_due_fetch(struct queue_store *q, time_t now, size_t limit, queue_due_cb *cb, void *arg)
{
	q->ops->due_fetch(q, now, limit, cb, arg);
}

void queue_fetch(struct queue_store *q, const struct queue_fetch_req *req, queue_fetch_cb *cb,
    void *arg)
{
	q->ops->fetch(q, req, cb, arg);
}

void queue_recover_fetch(struct queue_store *q, time_t quiet_since, queue_recover_cb *cb,
    void *arg)
{
	q->ops->recover_fetch(q, quiet_since, cb, arg);
}

bool queue_store_available(const struct queue_store *q)
{
	return q == NULL || q->ops->available(q);
}

void queue_store_set_wakeup(struct queue_store *q, void (*fn)(void *arg), void *arg)
{
	if (q->ops->set_wakeup != NULL)
		q->ops->set_wakeup(q, fn, arg);
}

/* ---- destinations shared by a fleet ---- */

bool queue_store_shared(const struct queue_store *q)
{
	return q != NULL && q->ops->dest_acquire != NULL;
}

void queue_dest_acquire(struct queue_store *q, const char *key, unsigned max, queue_slot_cb *cb,
    void *arg)
{
	q->ops->dest_acquire(q, key, max, cb, arg);
}

void queue_dest_release(struct queue_store *q, const char *key, int slot)
{
	if (q->ops->dest_release != NULL && slot > 0)
		q->ops->dest_release(q, key, slot);
}

void queue_dest_publish(struct queue_store *q, const struct queue_dest_state *st)
{
	if (q->ops->dest_publish != NULL)
		q->ops->dest_publish(q, st);
}

void queue_dest_fetch(struct queue_store *q, int64_t since, queue_dests_cb *cb, void *arg)
{
	q->ops->dest_fetch(q, since, cb, arg);
}

/* ---- reading ---- */

int queue_query_message(struct queue_store *q, const char *id, struct queue_msg *m,
    struct queue_rcpt **rcpts, size_t *nrcpts, bool with_history, char *err, size_t errlen)
{
	return q->ops->query_message(q, id, m, rcpts, nrcpts, with_history, err, errlen);
}

long queue_query_list(struct queue_store *q, queue_list_fn *fn, void *arg,
    char *err, size_t errlen)
{
	return q->ops->query_list(q, fn, arg, err, errlen);
}

int queue_query_headers(struct queue_store *q, const char *id, size_t cap, char **out,
    size_t *outlen, char *err, size_t errlen)
{
	return q->ops->query_headers(q, id, cap, out, outlen, err, errlen);
}

int queue_query_count(struct queue_store *q, struct queue_counts *out, char *err, size_t errlen)
{
	return q->ops->query_count(q, out, err, errlen);
}

struct queue_body *queue_body_open(struct queue_store *q, const char *id,
    struct mxr_source *src, char *err, size_t errlen)
{
	return q->ops->body_open(q, id, src, err, errlen);
}

void queue_body_close(struct queue_body *b)
{
	if (b != NULL)
		b->store->ops->body_close(b);
}

/* ---- the same for every backend ---- */

void queue_due_list_free(struct queue_due_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->items[i].address);
		free((char *)l->items[i].domain);
		free((char *)l->items[i].orcpt);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void queue_query_msg_clear(struct queue_msg *m)
{
	if (m == NULL)
		return;
	free(m->sender);
	free(m->envid);
	free(m->client_ip);
	free(m->client_helo);
	free(m->auth_user);
	free(m->protocol);
	memset(m, 0, sizeof(*m));
}

void queue_query_rcpts_free(struct queue_rcpt *r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].address);
		free(r[i].domain);
		free(r[i].orcpt);
		free(r[i].last_esc);
		free(r[i].last_reply);
		free(r[i].last_mx);
		for (size_t k = 0; k < r[i].nhistory; k++) {
			free(r[i].history[k].esc);
			free(r[i].history[k].reply);
			free(r[i].history[k].mx);
		}
		free(r[i].history);
		free(r[i].claim_node);
	}
	free(r);
}

void queue_fetched_clear(struct queue_fetched *f)
{
	if (f == NULL)
		return;
	queue_query_msg_clear(&f->m);
	queue_query_rcpts_free(f->rcpts, f->nrcpts);
	queue_body_close(f->body);
	memset(f, 0, sizeof(*f));
}

void queue_recover_list_free(struct queue_recover_list *l)
{
	if (l == NULL)
		return;
	free(l->bounce);
	free(l->done);
	memset(l, 0, sizeof(*l));
}

size_t queue_header_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Read by pieces of this size while looking for the end of the header section. */
#define QUEUE_API_HEADER_STEP (64 * 1024)

int queue_source_headers(const struct mxr_source *src, size_t cap, char **out, size_t *outlen)
{
	uint64_t want = src->size < cap ? src->size : cap;
	char *buf = xmalloc((size_t)want + 1);
	size_t len = 0, end = 0;
	*out = NULL;
	*outlen = 0;
	while (len < want && end == 0) {
		size_t step = want - len > QUEUE_API_HEADER_STEP ? QUEUE_API_HEADER_STEP :
		    (size_t)(want - len);
		ssize_t r = src->read_at(src->arg, len, buf + len, step);
		if (r <= 0) {
			free(buf);
			return -1;
		}
		size_t from = len > 2 ? len - 2 : 0;
		len += (size_t)r;
		size_t e = queue_header_end(buf + from, len - from);
		end = e ? from + e : 0;
	}
	if (end != 0)
		len = end;
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 1;
}

static const char *const queue_api_state_names[] = {
	"pending", "deferred", "delivered", "failed", "bounced",
};

const char *queue_store_state_name(enum queue_rcpt_state s)
{
	if ((unsigned)s > QUEUE_RCPT_BOUNCED)
		return "unknown";
	return queue_api_state_names[s];
}

bool queue_store_state_parse(const char *name, enum queue_rcpt_state *out)
{
	for (unsigned i = 0; i <= QUEUE_RCPT_BOUNCED; i++) {
		if (name != NULL && strcmp(name, queue_api_state_names[i]) == 0) {
			*out = (enum queue_rcpt_state)i;
			return true;
		}
	}
	return false;
}

/* ---- TLS policy state ---- */

int queue_sts_load(struct queue_store *q, const char *domain, struct queue_sts_policy *out,
    char *err, size_t errlen)
{
	return q->ops->sts_load(q, domain, out, err, errlen);
}

long queue_sts_list(struct queue_store *q, int64_t now, queue_sts_fn *fn, void *arg, char *err,
    size_t errlen)
{
	return q->ops->sts_list(q, now, fn, arg, err, errlen);
}

int queue_sts_save(struct queue_store *q, const struct queue_sts_policy *p, char *err,
    size_t errlen)
{
	return q->ops->sts_save(q, p, err, errlen);
}

int queue_tlsrpt_add(struct queue_store *q, const struct queue_tlsrpt_row *rows, size_t n,
    char *err, size_t errlen)
{
	return q->ops->tlsrpt_add(q, rows, n, err, errlen);
}

long queue_tlsrpt_list(struct queue_store *q, int64_t day_from, int64_t day_to,
    const char *domain, queue_tlsrpt_fn *fn, void *arg, char *err, size_t errlen)
{
	return q->ops->tlsrpt_list(q, day_from, day_to, domain, fn, arg, err, errlen);
}

int queue_tlsrpt_reported(struct queue_store *q, int64_t day, const char *domain,
    const char *report_id, const char *outcome, int64_t at, bool forget, char *err,
    size_t errlen)
{
	return q->ops->tlsrpt_reported(q, day, domain, report_id, outcome, at, forget, err, errlen);
}

int queue_tlsrpt_was_reported(struct queue_store *q, int64_t day, const char *domain,
    char *err, size_t errlen)
{
	return q->ops->tlsrpt_was_reported(q, day, domain, err, errlen);
}

long queue_tlsrpt_prune(struct queue_store *q, int64_t day, char *err, size_t errlen)
{
	return q->ops->tlsrpt_prune(q, day, err, errlen);
}

/* A copy of s, or NULL. */
static char *queue_envelope_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void queue_text_in_init(struct queue_text_in *t)
{
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

/* Write all of data to the file despite EINTR; false with ferr. */
static bool queue_text_in_write(struct queue_text_in *t, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(t->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(t->ferr, sizeof(t->ferr), "spool write: %s",
			    n < 0 ? strerror(errno) : "no progress");
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

int queue_text_in_append(struct queue_text_in *t, const void *data, size_t len, size_t spill_at,
    queue_spill_open_fn *open_spill, void *arg)
{
	if (t->failed)
		return -1;
	if (len == 0)
		return 0;
	if (t->fd < 0 && t->memlen + len > spill_at) {
		/* Outgrown: what memory holds goes to the file first. */
		t->fd = open_spill(arg, t->ferr, sizeof(t->ferr));
		bool ok = t->fd >= 0 && queue_text_in_write(t, t->mem, t->memlen);
		free(t->mem);
		t->mem = NULL;
		t->memlen = t->memcap = 0;
		if (!ok) {
			t->failed = true;
			return -1;
		}
	}
	if (t->fd >= 0) {
		if (!queue_text_in_write(t, data, len)) {
			t->failed = true;
			return -1;
		}
	} else {
		if (t->memlen + len > t->memcap) {
			size_t c = t->memcap ? t->memcap : 4096;
			while (c < t->memlen + len)
				c *= 2;
			t->mem = xrealloc(t->mem, c);
			t->memcap = c;
		}
		memcpy(t->mem + t->memlen, data, len);
		t->memlen += len;
	}
	t->size += len;
	return 0;
}

void queue_text_in_clear(struct queue_text_in *t)
{
	free(t->mem);
	if (t->fd >= 0)
		close(t->fd);
	queue_text_in_init(t);
}

void queue_ids_append(int64_t **ids, size_t *nids, const int64_t *add, size_t n)
{
	if (n == 0)
		return;
	*ids = xreallocarray(*ids, *nids + n + 1, sizeof(int64_t));
	memcpy(*ids + *nids, add, n * sizeof(int64_t));
	*nids += n;
}

void queue_outcomes_batch_init(struct queue_outcomes_batch *b, const struct queue_outcome *o,
    size_t n, const char *msg_id, queue_commit_cb *cb, queue_delete_cb *del_cb, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->o = n ? xcalloc(n, sizeof(*b->o)) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (o[i].state != QUEUE_RCPT_DELIVERED && o[i].state != QUEUE_RCPT_DEFERRED &&
		    o[i].state != QUEUE_RCPT_FAILED)
			panic("op=queue_outcomes reason=\"bad outcome state %d\"", (int)o[i].state);
		b->o[i] = o[i];
		b->o[i].esc = queue_envelope_dup(o[i].esc);
		b->o[i].reply = queue_envelope_dup(o[i].reply);
		b->o[i].mx = queue_envelope_dup(o[i].mx);
	}
	if (msg_id != NULL)
		snprintf(b->msg_id, sizeof(b->msg_id), "%s", msg_id);
	b->cb = cb;
	b->del_cb = del_cb;
	b->arg = arg;
}

void queue_outcomes_batch_end(struct queue_outcomes_batch *b, struct queue_claims *claims,
    bool ok, const char *err)
{
	for (size_t i = 0; i < b->n; i++)
		queue_claims_release(claims, b->o[i].rcpt_id);
	if (!ok)
		log_msg(LOG_LVL_WARN, "op=queue_outcomes n=%zu status=failed reason=\"%s\"", b->n,
		    err != NULL ? err : "");
	else if (b->deleted)
		log_msg(LOG_LVL_DEBUG, "op=queue_delete queue=%s reason=done", b->msg_id);
	if (b->del_cb != NULL)
		b->del_cb(b->arg, ok, ok && b->deleted, err);
	else if (b->cb != NULL)
		b->cb(b->arg, ok, err);
	for (size_t i = 0; i < b->n; i++) {
		free((char *)b->o[i].esc);
		free((char *)b->o[i].reply);
		free((char *)b->o[i].mx);
	}
	free(b->o);
	b->o = NULL;
	b->n = 0;
}

void queue_envelope_copy(struct queue_envelope *out, struct queue_rcpt_in **rcpts,
    const struct queue_envelope *env)
{
	*out = *env;
	out->sender = xstrdup(env->sender != NULL ? env->sender : "");
	out->envid = queue_envelope_dup(env->envid);
	out->client_ip = queue_envelope_dup(env->client_ip);
	out->client_helo = queue_envelope_dup(env->client_helo);
	out->auth_user = queue_envelope_dup(env->auth_user);
	out->protocol = queue_envelope_dup(env->protocol);
	out->prefix = env->prefix != NULL && env->prefix_len > 0 ?
	    xmemdup0(env->prefix, env->prefix_len) : NULL;
	out->prefix_len = out->prefix != NULL ? env->prefix_len : 0;
	*rcpts = env->nrcpts ? xcalloc(env->nrcpts, sizeof(**rcpts)) : NULL;
	for (size_t i = 0; i < env->nrcpts; i++) {
		(*rcpts)[i].address = xstrdup(env->rcpts[i].address);
		(*rcpts)[i].notify = env->rcpts[i].notify;
		(*rcpts)[i].orcpt = queue_envelope_dup(env->rcpts[i].orcpt);
	}
	out->rcpts = *rcpts;
}

void queue_envelope_clear(struct queue_envelope *e, struct queue_rcpt_in *rcpts)
{
	for (size_t i = 0; rcpts != NULL && i < e->nrcpts; i++) {
		free((char *)rcpts[i].address);
		free((char *)rcpts[i].orcpt);
	}
	free(rcpts);
	free((char *)e->sender);
	free((char *)e->envid);
	free((char *)e->client_ip);
	free((char *)e->client_helo);
	free((char *)e->auth_user);
	free((char *)e->protocol);
	free((char *)e->prefix);
	memset(e, 0, sizeof(*e));
}
