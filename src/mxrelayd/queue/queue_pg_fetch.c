/*
 * queue_pg_fetch: a message read for the loop from PostgreSQL, ready
 * before its callback runs: envelope, recipients and history in one
 * request on the read connection, with the prefix (delivered before the
 * stored text: DKIM signatures) and a small body (both kept in the
 * message's row) in the same request; a large body downloaded first,
 * a few chunks at a time on the bulk connection, into a local
 * temporary file. The delivery engine then reads it with pread: it never
 * waits on the network, and memory stays flat in message size.
 *
 * Owns: the fetch between the call and its callback, the bodies it
 * opens (their file or memory). Never: calls back inside queue_pg_fetch;
 * holds more of a large body in memory than the chunks in flight.
 */
#include "queue_pg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"

/* ---- an open body ---- */

struct queue_pg_body {
	struct queue_body handle;	/* first: what the callers hold */
	char id[QUEUE_ID_LEN + 1];
	unsigned char *prefix;		/* delivered first (owned), or NULL */
	size_t prefix_len;
	int fd;				/* a downloaded text (owned), or -1 */
	unsigned char *mem;		/* a small text (owned), or NULL */
	uint64_t size;			/* octets of the text (the prefix not counted) */
};

/* Read the stored text at off (the prefix not counted). */
static ssize_t queue_pg_body_read_text(struct queue_pg_body *b, uint64_t off, char *buf, size_t n)
{
	if (off >= b->size)
		return 0;
	if (n > b->size - off)
		n = (size_t)(b->size - off);
	if (b->fd < 0) {
		memcpy(buf, b->mem + off, n);
		return (ssize_t)n;
	}
	for (;;) {
		ssize_t r = pread(b->fd, buf, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_msg(LOG_LVL_WARN, "op=queue_body_read queue=%s offset=%llu status=failed "
			    "reason=\"%s\"", b->id, (unsigned long long)off,
			    r < 0 ? strerror(errno) : "short file");
			return -1;
		}
		return r;
	}
}

/* mxr_source read_at: the prefix, then the text. */
static ssize_t queue_pg_body_read(void *arg, uint64_t off, char *buf, size_t n)
{
	struct queue_pg_body *b = arg;
	size_t done = 0;
	if (off < b->prefix_len) {
		done = b->prefix_len - (size_t)off < n ? b->prefix_len - (size_t)off : n;
		memcpy(buf, b->prefix + off, done);
		if (done == n)
			return (ssize_t)done;
	}
	uint64_t toff = off + done - b->prefix_len;
	ssize_t r = queue_pg_body_read_text(b, toff, buf + done, n - done);
	if (r < 0)
		return done > 0 ? (ssize_t)done : -1;
	return (ssize_t)done + r;
}

struct queue_body *queue_pg_body_new(struct queue_pg *q, const char *id, int fd,
    unsigned char *mem, uint64_t size, unsigned char *prefix, size_t prefix_len,
    struct mxr_source *src)
{
	struct queue_pg_body *b = xcalloc(1, sizeof(*b));
	b->handle.store = &q->handle;
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->fd = fd;
	b->mem = mem;
	b->size = size;
	b->prefix = prefix;
	b->prefix_len = prefix != NULL ? prefix_len : 0;
	src->read_at = queue_pg_body_read;
	src->arg = b;
	src->size = b->prefix_len + size;
	return &b->handle;
}

void queue_pg_body_close(struct queue_body *body)
{
	struct queue_pg_body *b = (struct queue_pg_body *)body;
	if (b == NULL)
		return;
	if (b->fd >= 0)
		close(b->fd);
	free(b->mem);
	free(b->prefix);
	free(b);
}

int queue_pg_tmpfile(const char *dir, char *err, size_t errlen)
{
	/* Unlinked from the start: a crash leaves nothing behind. */
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* The command line may not write in the daemon's directory: a private file in /tmp. */
	if (errno == EACCES || errno == ENOENT) {
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/.mxr-body.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "temporary file in %s: %s", dir, strerror(errno));
		return -1;
	}
	unlink(path);
	return fd;
}

/* ---- the fetch ---- */

enum queue_pg_fetch_part { QPF_MSG, QPF_RCPTS, QPF_HISTORY, QPF_BODY };

struct queue_pg_fetch {
	struct queue_pg *q;
	char id[QUEUE_ID_LEN + 1];
	struct queue_fetch_req req;	/* req.id points at id */
	queue_fetch_cb *cb;
	void *arg;
	struct queue_fetched f;		/* what the callback gets */
	enum queue_pg_fetch_part part[4];	/* the request's statements */
	int chunks;			/* the message's body chunks (0: in its row) */
	unsigned char *mem;		/* a small body read (owned until the body takes it) */
	size_t memlen;
	bool mem_seen;
	unsigned char *prefix;		/* the prefix read (owned until the body takes it) */
	size_t prefix_len;
	char err[256];
	/* A large body's download. */
	struct queue_pg_bulk task;
	uint64_t want;			/* octets wanted */
	int fd;
	int need, next, cur, inflight;
	bool dfailed;
};

/* Hand what was read to the caller, then forget it (the callback clears f). */
static void queue_pg_fetch_deliver(struct queue_pg_fetch *x)
{
	x->f.err = x->f.found < 0 ? x->err : NULL;
	x->cb(x->arg, &x->f);
	free(x->mem);
	free(x->prefix);
	free(x);
}

/* The fetch failed: nothing of it is kept. */
static void queue_pg_fetch_fail(struct queue_pg_fetch *x, const char *why)
{
	snprintf(x->err, sizeof(x->err), "%s", why != NULL ? why : "read failed");
	queue_query_msg_clear(&x->f.m);
	queue_query_rcpts_free(x->f.rcpts, x->f.nrcpts);
	x->f.rcpts = NULL;
	x->f.nrcpts = 0;
	queue_body_close(x->f.body);
	x->f.body = NULL;
	x->f.found = -1;
	queue_pg_fetch_deliver(x);
}

static void queue_pg_fetch_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg_fetch *x = arg;
	switch (x->part[idx]) {
	case QPF_MSG:
		x->f.found = PQntuples(res) == 1 ? 1 : 0;
		if (x->f.found == 1) {
			queue_pg_rows_msg(res, 0, &x->f.m);
			x->chunks = (int)queue_pg_sql_int(res, 0, 15, 0);
		}
		break;
	case QPF_RCPTS:
		x->f.rcpts = queue_pg_rows_rcpts(res, &x->f.nrcpts);
		break;
	case QPF_HISTORY:
		queue_pg_rows_history(res, x->f.rcpts, x->f.nrcpts);
		break;
	case QPF_BODY:
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && PQgetlength(res, 0, 0) > 0) {
			x->prefix_len = (size_t)PQgetlength(res, 0, 0);
			x->prefix = (unsigned char *)xmemdup0(PQgetvalue(res, 0, 0), x->prefix_len);
		}
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1)) {
			x->memlen = (size_t)PQgetlength(res, 0, 1);
			x->mem = xmalloc(x->memlen ? x->memlen : 1);
			memcpy(x->mem, PQgetvalue(res, 0, 1), x->memlen);
			x->mem_seen = true;
		}
		break;
	}
}

/* ---- a large body's download ---- */

static void queue_pg_fetch_chunk_ask(struct queue_pg_fetch *x);

/* A chunk came: written to the file at its place. */
static void queue_pg_fetch_chunk_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg_fetch *x = arg;
	(void)idx;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		x->dfailed = true;
		snprintf(x->err, sizeof(x->err), "body chunk %d of %s missing", x->cur, x->id);
		return;
	}
	const char *p = PQgetvalue(res, 0, 0);
	size_t len = (size_t)PQgetlength(res, 0, 0);
	off_t off = (off_t)x->cur * QUEUE_PG_CHUNK;
	while (len > 0) {
		ssize_t n = pwrite(x->fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			x->dfailed = true;
			snprintf(x->err, sizeof(x->err), "local copy of %s: %s", x->id,
			    n < 0 ? strerror(errno) : "no progress");
			return;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
}

/* A chunk's request ended: ask for the next, or finish when none is in flight. */
static void queue_pg_fetch_chunk_done(void *arg, bool ok, const char *err)
{
	struct queue_pg_fetch *x = arg;
	x->inflight--;
	x->cur++;
	if (!ok && !x->dfailed) {
		x->dfailed = true;
		snprintf(x->err, sizeof(x->err), "%s", err != NULL ? err : "download failed");
	}
	if (!x->dfailed && x->next < x->need) {
		queue_pg_fetch_chunk_ask(x);
		return;
	}
	if (x->inflight > 0)
		return;
	queue_pg_bulk_end(x->q);
	if (x->dfailed) {
		close(x->fd);
		queue_pg_fetch_fail(x, x->err);
		return;
	}
	x->f.body = queue_pg_body_new(x->q, x->id, x->fd, NULL, x->want, x->prefix,
	    x->prefix_len, &x->f.src);
	x->prefix = NULL;
	queue_pg_fetch_deliver(x);
}

/* Ask for the next chunk (only as much of it as is wanted). */
static void queue_pg_fetch_chunk_ask(struct queue_pg_fetch *x)
{
	char seq[16], lim[24];
	uint64_t off = (uint64_t)x->next * QUEUE_PG_CHUNK;
	uint64_t len = x->want - off < QUEUE_PG_CHUNK ? x->want - off : QUEUE_PG_CHUNK;
	snprintf(seq, sizeof(seq), "%d", x->next);
	snprintf(lim, sizeof(lim), "%llu", (unsigned long long)len);
	const char *v[3] = { x->id, seq, lim };
	x->next++;
	x->inflight++;
	struct queue_pg_req *r = queue_pg_req_begin(x->q->bulk, queue_pg_fetch_chunk_result,
	    queue_pg_fetch_chunk_done, x);
	queue_pg_req_stmt(r, QPG_CHUNK, 3, v, NULL, NULL, 1);
	queue_pg_req_end(r);
}

/* The bulk connection's turn: a few chunks at a time, into the local file. */
static void queue_pg_fetch_download(struct queue_pg_bulk *t)
{
	struct queue_pg_fetch *x = (struct queue_pg_fetch *)(void *)((char *)t -
	    offsetof(struct queue_pg_fetch, task));
	x->fd = queue_pg_tmpfile(x->q->dir, x->err, sizeof(x->err));
	if (x->fd < 0) {
		queue_pg_bulk_end(x->q);
		queue_pg_fetch_fail(x, x->err);
		return;
	}
	x->need = (int)((x->want + QUEUE_PG_CHUNK - 1) / QUEUE_PG_CHUNK);
	if (x->need == 0) {
		queue_pg_bulk_end(x->q);
		x->f.body = queue_pg_body_new(x->q, x->id, x->fd, NULL, 0, x->prefix, x->prefix_len,
		    &x->f.src);
		x->prefix = NULL;
		queue_pg_fetch_deliver(x);
		return;
	}
	while (x->next < x->need && x->inflight < QUEUE_PG_WINDOW)
		queue_pg_fetch_chunk_ask(x);
}

static void queue_pg_fetch_cancel(struct queue_pg_bulk *t)
{
	struct queue_pg_fetch *x = (struct queue_pg_fetch *)(void *)((char *)t -
	    offsetof(struct queue_pg_fetch, task));
	queue_pg_fetch_fail(x, "queue closing");
}

/* The envelope request ended: deliver, or download the large body first. */
static void queue_pg_fetch_done(void *arg, bool ok, const char *err)
{
	struct queue_pg_fetch *x = arg;
	if (!ok) {
		queue_pg_fetch_fail(x, err);
		return;
	}
	if (x->f.found != 1 || !x->req.body) {
		if (x->f.found != 1) {
			queue_query_rcpts_free(x->f.rcpts, x->f.nrcpts);
			x->f.rcpts = NULL;
			x->f.nrcpts = 0;
		}
		queue_pg_fetch_deliver(x);
		return;
	}
	/* What is wanted of the text: the size counts the prefix, and so does body_limit. */
	uint64_t total = x->f.m.size;
	if (x->req.body_limit > 0 && x->req.body_limit < total)
		total = x->req.body_limit;
	if (x->prefix_len > total)
		x->prefix_len = (size_t)total;
	x->want = total - x->prefix_len;
	if (x->chunks == 0) {
		if (!x->mem_seen) {
			queue_pg_fetch_fail(x, "message has no body");
			return;
		}
		x->f.body = queue_pg_body_new(x->q, x->id, -1, x->mem,
		    x->memlen < x->want ? x->memlen : x->want, x->prefix, x->prefix_len, &x->f.src);
		x->mem = NULL;
		x->prefix = NULL;
		queue_pg_fetch_deliver(x);
		return;
	}
	x->task.start = queue_pg_fetch_download;
	x->task.cancel = queue_pg_fetch_cancel;
	queue_pg_bulk_run(x->q, &x->task);
}

void queue_pg_fetch(struct queue_store *store, const struct queue_fetch_req *req,
    queue_fetch_cb *cb, void *arg)
{
	struct queue_pg *q = queue_pg_of(store);
	struct queue_pg_fetch *x = xcalloc(1, sizeof(*x));
	x->q = q;
	snprintf(x->id, sizeof(x->id), "%s", req->id);
	x->req = *req;
	x->req.id = x->id;
	x->cb = cb;
	x->arg = arg;
	x->fd = -1;
	const char *v[2] = { x->id, NULL };
	struct queue_pg_req *r = queue_pg_req_begin(q->read, queue_pg_fetch_result,
	    queue_pg_fetch_done, x);
	int n = 0;
	x->part[n++] = QPF_MSG;
	queue_pg_req_stmt(r, QPG_MSG, 1, v, NULL, NULL, 0);
	if (req->rcpts) {
		x->part[n++] = QPF_RCPTS;
		queue_pg_req_stmt(r, QPG_RCPTS, 1, v, NULL, NULL, 0);
		if (req->history) {
			x->part[n++] = QPF_HISTORY;
			queue_pg_req_stmt(r, QPG_HISTORY, 1, v, NULL, NULL, 0);
		}
	}
	if (req->body) {
		/* A small body comes with its envelope; a large one's column is NULL. */
		char lim[24];
		uint64_t limit = req->body_limit > 0 && req->body_limit < QUEUE_PG_INLINE ?
		    req->body_limit : QUEUE_PG_INLINE;
		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)limit);
		v[1] = lim;
		x->part[n++] = QPF_BODY;
		queue_pg_req_stmt(r, QPG_MSG_BODY, 2, v, NULL, NULL, 1);
	}
	queue_pg_req_end(r);
}
