/*
 * queue_pg_writer: one new message on its way into the PostgreSQL queue.
 * Its octets are kept in memory up to QUEUE_PG_INLINE, then in a local
 * temporary file (unlinked: nothing is left behind by a crash). At the
 * commit, a large body goes first to the server on the bulk connection,
 * a chunk at a time (the next chunk sent when the last one left), in a
 * transaction of its own; then the message row (with a small body in
 * it), its recipients and, for a DSN, the recipients it reports go into
 * the group commit's transaction. Only after that commit returns is the
 * callback told ok: body, envelope and recipients are on the server's
 * disk (synchronous_commit on).
 *
 * Owns: the message's memory or file and the copy of its envelope.
 * Never: holds more than QUEUE_PG_INLINE octets of a body (or one chunk
 * being sent) in memory; reports ok before the message row committed.
 * Body rows whose message never committed (a crash between the two
 * transactions) are removed by the store's sweep after an hour.
 */
#include "queue_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns/dns_rr.h"
#include "util/log.h"
#include "util/xalloc.h"

struct queue_pg_writer {
	struct queue_writer handle;	/* first: what the callers hold */
	struct queue_pg_job job;	/* the message's group-commit job */
	struct queue_pg_bulk upload;	/* a large body's transfer */
	struct queue_pg *q;		/* not owned */
	char id[QUEUE_ID_LEN + 1];
	struct queue_text_in text;	/* in memory, or a local temporary file */
	struct queue_envelope env;	/* deep copy; strings owned */
	struct queue_rcpt_in *rcpts;	/* owned, env.rcpts points here */
	int64_t *bounce_for;		/* owned: recipients this DSN reports */
	size_t nbounce_for;
	int chunks;			/* a large body's chunks sent (its rows) */
	unsigned char *chunk;		/* the chunk being sent (owned while uploading) */
	struct queue_pg_req *req;	/* the upload's request while it runs */
	queue_commit_cb *cb;
	void *arg;
};

static struct queue_pg_writer *queue_pg_writer_of(struct queue_writer *writer)
{
	return (struct queue_pg_writer *)writer;
}

static const struct queue_pg_writer *queue_pg_writer_cof(const struct queue_writer *writer)
{
	return (const struct queue_pg_writer *)writer;
}

struct queue_writer *queue_pg_writer_new(struct queue_store *store)
{
	struct queue_pg_writer *w = xcalloc(1, sizeof(*w));
	w->handle.store = store;
	w->q = queue_pg_of(store);
	queue_text_in_init(&w->text);
	queue_id_new(w->id);
	return &w->handle;
}

const char *queue_pg_writer_id(const struct queue_writer *writer)
{
	return queue_pg_writer_cof(writer)->id;
}

uint64_t queue_pg_writer_size(const struct queue_writer *writer)
{
	return queue_pg_writer_cof(writer)->text.size;
}

/* The text outgrew memory: a local temporary file (unlinked) takes it. */
static int queue_pg_writer_spill(void *arg, char *err, size_t errlen)
{
	struct queue_pg_writer *w = arg;
	return queue_pg_tmpfile(w->q->dir, err, errlen);
}

int queue_pg_writer_append(struct queue_writer *writer, const void *data, size_t len)
{
	struct queue_pg_writer *w = queue_pg_writer_of(writer);
	return queue_text_in_append(&w->text, data, len, QUEUE_PG_INLINE, queue_pg_writer_spill, w);
}

void queue_pg_writer_bounce_for(struct queue_writer *writer, const int64_t *rcpt_ids, size_t n)
{
	struct queue_pg_writer *w = queue_pg_writer_of(writer);
	queue_ids_append(&w->bounce_for, &w->nbounce_for, rcpt_ids, n);
}

static void queue_pg_writer_free(struct queue_pg_writer *w)
{
	if (w == NULL)
		return;
	queue_text_in_clear(&w->text);
	free(w->chunk);
	queue_envelope_clear(&w->env, w->rcpts);
	free(w->bounce_for);
	free(w);
}

void queue_pg_writer_abort(struct queue_writer *writer)
{
	queue_pg_writer_free(queue_pg_writer_of(writer));
}

/*
 * How long the store calls itself unavailable after a message's commit
 * failed for another reason than storage: the server going away is seen
 * first by the connection that was committing, and a session whose commit
 * failed with it must hear 451 4.3.0 (try later, perhaps another node),
 * not 452 4.3.1, even while the other connections still look up.
 */
#define QUEUE_PG_UNAVAILABLE_AFTER_FAILURE_S 1.0

/* The server failed the message's upload or commit: why decides what the store says now. */
static void queue_pg_writer_server_failed(struct queue_pg_writer *w, const char *err)
{
	if (!queue_pg_sql_error_is_storage(err))
		w->q->unavailable_until = queue_pg_clock() + QUEUE_PG_UNAVAILABLE_AFTER_FAILURE_S;
}

/* Tell the caller, log, free. */
static void queue_pg_writer_finish(struct queue_pg_writer *w, bool ok, const char *err)
{
	if (ok)
		log_msg(LOG_LVL_DEBUG, "op=queue_commit queue=%s size=%llu rcpts=%zu status=ok",
		    w->id, (unsigned long long)w->text.size, w->env.nrcpts);
	else
		log_msg(LOG_LVL_WARN, "op=queue_commit queue=%s size=%llu status=failed reason=\"%s\"",
		    w->id, (unsigned long long)w->text.size, err != NULL ? err : "");
	if (w->cb != NULL)
		w->cb(w->arg, ok, err);
	queue_pg_writer_free(w);
}

/* The group commit's job: the message row, its recipients, a DSN's bounce marks. */
static int queue_pg_writer_send(struct queue_pg_job *j, struct queue_pg_req *r)
{
	struct queue_pg_writer *w = (struct queue_pg_writer *)(void *)((char *)j -
	    offsetof(struct queue_pg_writer, job));
	const struct queue_envelope *e = &w->env;
	char ret[8], at[24], size[24], chunks[16];
	snprintf(ret, sizeof(ret), "%d", (int)e->ret);
	snprintf(at, sizeof(at), "%lld", (long long)e->received_at);
	/* The size is what is delivered: the prefix, then the text. */
	snprintf(size, sizeof(size), "%" PRIu64, w->text.size + e->prefix_len);
	snprintf(chunks, sizeof(chunks), "%d", w->chunks);
	const char **addr = xcalloc(e->nrcpts + 1, sizeof(*addr));
	const char **orcpt = xcalloc(e->nrcpts + 1, sizeof(*orcpt));
	char (*dom)[DNS_RR_NAME_MAX + 2] = xcalloc(e->nrcpts + 1, sizeof(*dom));
	const char **domp = xcalloc(e->nrcpts + 1, sizeof(*domp));
	int64_t *notify = xcalloc(e->nrcpts + 1, sizeof(*notify));
	for (size_t i = 0; i < e->nrcpts; i++) {
		addr[i] = e->rcpts[i].address;
		orcpt[i] = e->rcpts[i].orcpt;
		const char *a = strrchr(addr[i], '@');
		const char *d = a != NULL ? a + 1 : "";
		(void)dns_rr_name_key(d, strlen(d), dom[i], sizeof(dom[i]));
		domp[i] = dom[i];
		notify[i] = (int64_t)e->rcpts[i].notify;
	}
	char *a_addr = queue_pg_sql_text_array(addr, e->nrcpts);
	char *a_dom = queue_pg_sql_text_array(domp, e->nrcpts);
	char *a_orcpt = queue_pg_sql_text_array(orcpt, e->nrcpts);
	char *a_notify = queue_pg_sql_int_array(notify, e->nrcpts);
	/* An inline body is a binary parameter (no escaping); a chunked one has none. */
	const char *vals[22] = {
		w->id, e->sender, e->envid, ret, e->smtputf8 ? "t" : "f", e->body_8bit ? "t" : "f",
		e->requiretls ? "t" : "f", e->tls_optional ? "t" : "f", e->client_ip,
		e->client_helo, e->auth_user, e->protocol, at, size,
		w->chunks > 0 ? NULL : w->text.mem != NULL ? (const char *)w->text.mem : "", chunks, w->q->node,
		a_addr, a_dom, a_orcpt, a_notify, e->prefix,
	};
	int lens[22] = { 0 }, fmts[22] = { 0 };
	lens[14] = (int)w->text.memlen;
	fmts[14] = 1;
	lens[21] = (int)e->prefix_len;
	fmts[21] = 1;
	queue_pg_req_stmt(r, QPG_INS_MSG, 22, vals, lens, fmts, 0);
	int nq = 1;
	if (w->nbounce_for > 0) {
		char *ids = queue_pg_sql_int_array(w->bounce_for, w->nbounce_for);
		const char *bv[2] = { ids, at };
		queue_pg_req_stmt(r, QPG_BOUNCED_FOR, 2, bv, NULL, NULL, 0);
		free(ids);
		nq++;
	}
	free(a_addr);
	free(a_dom);
	free(a_orcpt);
	free(a_notify);
	free(notify);
	free(domp);
	free(dom);
	free(orcpt);
	free(addr);
	return nq;
}

static void queue_pg_writer_done(struct queue_pg_job *j, bool ok, const char *err)
{
	struct queue_pg_writer *w = (struct queue_pg_writer *)(void *)((char *)j -
	    offsetof(struct queue_pg_writer, job));
	if (!ok)
		queue_pg_writer_server_failed(w, err);
	queue_pg_writer_finish(w, ok, err);
}

/* Hand the message to the group commit. */
static void queue_pg_writer_submit(struct queue_pg_writer *w)
{
	w->job.send = queue_pg_writer_send;
	w->job.done = queue_pg_writer_done;
	w->job.new_message = true;
	queue_pg_commit_submit(w->q, &w->job);
}

/* ---- a large body's upload ---- */

static void queue_pg_writer_upload_next(void *arg);

/* The upload's transaction ended: on to the message's commit, or fail. */
static void queue_pg_writer_uploaded(void *arg, bool ok, const char *err)
{
	struct queue_pg_writer *w = arg;
	w->req = NULL;
	free(w->chunk);
	w->chunk = NULL;
	queue_pg_bulk_end(w->q);
	if (w->text.failed) {
		/* The local copy could not be read back: not the server's doing. */
		queue_pg_writer_finish(w, false, w->text.ferr);
		return;
	}
	if (!ok) {
		queue_pg_writer_server_failed(w, err);
		queue_pg_writer_finish(w, false, err);
		return;
	}
	queue_pg_writer_submit(w);
}

/* Send the next chunk, or end the upload's request after the last. */
static void queue_pg_writer_upload_next(void *arg)
{
	struct queue_pg_writer *w = arg;
	uint64_t off = (uint64_t)w->chunks * QUEUE_PG_CHUNK;
	if (off >= w->text.size || !queue_pg_req_ok(w->req)) {
		queue_pg_req_end(w->req);
		return;
	}
	size_t want = w->text.size - off < QUEUE_PG_CHUNK ? (size_t)(w->text.size - off) : QUEUE_PG_CHUNK;
	size_t got = 0;
	int rerr = 0;
	while (got < want) {
		ssize_t n = pread(w->text.fd, w->chunk + got, want - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rerr = n < 0 ? errno : 0;
			break;
		}
		got += (size_t)n;
	}
	if (got < want) {
		/* The request ends without its sync's success: the transaction rolls back. */
		w->text.failed = true;
		snprintf(w->text.ferr, sizeof(w->text.ferr), "spool read: %s",
		    rerr != 0 ? strerror(rerr) : "the file is shorter than the message");
		queue_pg_req_sql(w->req, "SELECT 1/0", 0, NULL);
		queue_pg_req_end(w->req);
		return;
	}
	char seq[16];
	snprintf(seq, sizeof(seq), "%d", w->chunks);
	const char *vals[3] = { w->id, seq, (const char *)w->chunk };
	int lens[3] = { 0, 0, (int)want }, fmts[3] = { 0, 0, 1 };
	queue_pg_req_stmt(w->req, QPG_INS_CHUNK, 3, vals, lens, fmts, 0);
	w->chunks++;
	/* libpq copied the chunk: the next one is read when this one has left. */
	queue_pg_conn_when_drained(w->q->bulk, queue_pg_writer_upload_next, w);
}

/* The bulk connection's turn: the chunks go in one transaction of their own. */
static void queue_pg_writer_upload_start(struct queue_pg_bulk *t)
{
	struct queue_pg_writer *w = (struct queue_pg_writer *)(void *)((char *)t -
	    offsetof(struct queue_pg_writer, upload));
	w->chunk = xmalloc(QUEUE_PG_CHUNK);
	w->chunks = 0;
	w->req = queue_pg_req_begin(w->q->bulk, NULL, queue_pg_writer_uploaded, w);
	queue_pg_writer_upload_next(w);
}

static void queue_pg_writer_upload_cancel(struct queue_pg_bulk *t)
{
	struct queue_pg_writer *w = (struct queue_pg_writer *)(void *)((char *)t -
	    offsetof(struct queue_pg_writer, upload));
	queue_pg_writer_finish(w, false, "queue closing");
}

/* An append failed: the commit fails too, from the loop. */
static void queue_pg_writer_failed(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct queue_pg_writer *w = arg;
	queue_pg_writer_finish(w, false, w->text.ferr);
}

void queue_pg_writer_commit(struct queue_writer *writer, const struct queue_envelope *env,
    queue_commit_cb *cb, void *arg)
{
	struct queue_pg_writer *w = queue_pg_writer_of(writer);
	w->cb = cb;
	w->arg = arg;
	queue_envelope_copy(&w->env, &w->rcpts, env);
	if (w->text.failed) {
		/* Answered from the loop, as every commit is. */
		static const struct timeval now = { 0, 0 };
		if (event_base_once(w->q->base, -1, EV_TIMEOUT, queue_pg_writer_failed, w, &now) != 0)
			fatal("op=queue_pg reason=\"event_base_once failed\"");
		return;
	}
	if (w->text.fd >= 0) {
		w->upload.start = queue_pg_writer_upload_start;
		w->upload.cancel = queue_pg_writer_upload_cancel;
		queue_pg_bulk_run(w->q, &w->upload);
		return;
	}
	queue_pg_writer_submit(w);
}
