/*
 * queue_body: a stored message body read by offset as a struct mxr_source
 * for the delivery engine: the message's prefix (DKIM signatures made at
 * the end of DATA), then the text from its spool file (large bodies), or
 * from the body table one chunk at a time.
 *
 * Owns: a copy of the prefix, the spool file's descriptor, or one cached
 * chunk per open body (no larger than the body); the chunk statement is
 * the store's, shared by every open body. Never: holds a whole body in memory, or keeps a read
 * transaction open between calls (that would hold back WAL checkpoints).
 */
#include "queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"

struct queue_sqlite_body {
	struct queue_body handle;	/* first: what the callers hold */
	struct queue_sqlite *q;		/* not owned */
	char id[QUEUE_ID_LEN + 1];
	uint64_t size;			/* octets of the stored text (the prefix not counted) */
	unsigned char *prefix;		/* owned, or NULL */
	size_t prefix_len;
	/* read_at over the stored text alone */
	ssize_t (*text_read)(struct queue_sqlite_body *b, uint64_t off, char *buf, size_t n);
	int64_t seq;			/* chunk in cache, -1 none */
	size_t len;			/* its length */
	unsigned char *cache;		/* capacity octets, owned */
	size_t capacity;		/* QUEUE_CHUNK, or the size of a smaller body */
	int fd;				/* spool file (owned), or -1: the body is in the table */
};

#define QUEUE_SQL_CHUNK "SELECT data FROM body WHERE msg_id = ? AND seq = ?"

/* Fetch chunk seq into the cache; false when it is missing or unreadable. */
static bool queue_body_load(struct queue_sqlite_body *b, int64_t seq)
{
	char err[160];
	sqlite3_stmt *st = queue_store_rstmt(b->q, QR_BODY_CHUNK, QUEUE_SQL_CHUNK, err, sizeof(err));
	bool ok = false;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, b->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, seq);
		if (sqlite3_step(st) == SQLITE_ROW) {
			int n = sqlite3_column_bytes(st, 0);
			const void *p = sqlite3_column_blob(st, 0);
			if (n > 0 && (size_t)n <= b->capacity && p != NULL) {
				memcpy(b->cache, p, (size_t)n);
				b->len = (size_t)n;
				b->seq = seq;
				ok = true;
			}
		}
		/* Reset at once: no read transaction stays open between reads. */
		sqlite3_reset(st);
	}
	if (!ok) {
		b->seq = -1;
		log_msg(LOG_LVL_WARN, "op=queue_body_read queue=%s chunk=%lld status=failed",
		    b->id, (long long)seq);
	}
	return ok;
}

/* Read the stored text from the body table: copy from as many chunks as n covers. */
static ssize_t queue_body_read_at(struct queue_sqlite_body *b, uint64_t off, char *buf, size_t n)
{
	size_t done = 0;
	while (done < n && off < b->size) {
		int64_t seq = (int64_t)(off / QUEUE_CHUNK);
		size_t in = (size_t)(off % QUEUE_CHUNK);
		if (b->seq != seq && !queue_body_load(b, seq))
			return done > 0 ? (ssize_t)done : -1;
		if (in >= b->len)
			return done > 0 ? (ssize_t)done : -1;
		size_t k = b->len - in;
		if (k > n - done)
			k = n - done;
		memcpy(buf + done, b->cache + in, k);
		done += k;
		off += k;
	}
	return (ssize_t)done;
}

/* Read the stored text of a spooled body: straight from the file. */
static ssize_t queue_body_read_file(struct queue_sqlite_body *b, uint64_t off, char *buf, size_t n)
{
	if (off >= b->size)
		return 0;
	if (n > b->size - off)
		n = (size_t)(b->size - off);
	for (;;) {
		ssize_t r = pread(b->fd, buf, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_msg(LOG_LVL_WARN, "op=queue_body_read queue=%s offset=%llu status=failed reason=\"%s\"",
			    b->id, (unsigned long long)off, r < 0 ? strerror(errno) : "short file");
			return -1;
		}
		return r;
	}
}

/* mxr_source read_at: the prefix first, then the stored text. */
static ssize_t queue_body_read(void *arg, uint64_t off, char *buf, size_t n)
{
	struct queue_sqlite_body *b = arg;
	size_t done = 0;
	if (off < b->prefix_len) {
		done = b->prefix_len - (size_t)off < n ? b->prefix_len - (size_t)off : n;
		memcpy(buf, b->prefix + off, done);
		if (done == n || b->size == 0)
			return (ssize_t)done;
	}
	ssize_t r = b->text_read(b, off + done - b->prefix_len, buf + done, n - done);
	if (r < 0)
		return done > 0 ? (ssize_t)done : -1;
	return (ssize_t)done + r;
}

/* The body a caller holds, as this backend's. */
static struct queue_sqlite_body *queue_sqlite_body_of(struct queue_body *body)
{
	return (struct queue_sqlite_body *)body;
}

/*
 * A body in the database is read a 64 KiB chunk at a time (the current
 * one kept): reads after its message is deleted return -1. A spool file
 * is read with pread: they go on to the end (the open file outlives its
 * name).
 */
struct queue_body *queue_sqlite_body_open(struct queue_store *store, const char *id,
    struct mxr_source *src, char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	sqlite3_stmt *st = queue_store_rstmt(q, QR_MSG_SIZE,
	    "SELECT size, body_file, prefix FROM messages WHERE id = ?", err, errlen);
	if (st == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_int64 size = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	bool spooled = rc == SQLITE_ROW && sqlite3_column_int(st, 1) != 0;
	const void *prefix = rc == SQLITE_ROW ? sqlite3_column_blob(st, 2) : NULL;
	int prefix_len = rc == SQLITE_ROW ? sqlite3_column_bytes(st, 2) : 0;
	unsigned char *pcopy = prefix != NULL && prefix_len > 0 && prefix_len <= size ?
	    (unsigned char *)xmemdup0(prefix, (size_t)prefix_len) : NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		queue_store_seterr(err, errlen, "read message", q->rdb);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			snprintf(err, errlen, "no message %s", id);
		return NULL;
	}
	int fd = -1;
	if (spooled && (fd = queue_spool_open_read(q, id, err, errlen)) < 0) {
		free(pcopy);
		return NULL;
	}
	/* Prepared now, so that a failure shows here rather than in the middle of a delivery. */
	if (!spooled && queue_store_rstmt(q, QR_BODY_CHUNK, QUEUE_SQL_CHUNK, err, errlen) == NULL) {
		free(pcopy);
		return NULL;
	}
	struct queue_sqlite_body *b = xcalloc(1, sizeof(*b));
	b->handle.store = store;
	b->q = q;
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->prefix = pcopy;
	b->prefix_len = pcopy != NULL ? (size_t)prefix_len : 0;
	b->size = (uint64_t)size - b->prefix_len;
	b->seq = -1;
	b->fd = fd;
	if (spooled) {
		b->text_read = queue_body_read_file;
	} else {
		b->text_read = queue_body_read_at;
		/* A small body needs no full chunk: 100 deliveries of 1 KiB hold 100 KiB, not 6.4 MiB. */
		b->capacity = b->size > 0 && b->size < QUEUE_CHUNK ? (size_t)b->size : QUEUE_CHUNK;
		b->cache = xmalloc(b->capacity);
	}
	src->read_at = queue_body_read;
	src->arg = b;
	src->size = b->prefix_len + b->size;
	return &b->handle;
}

void queue_sqlite_body_close(struct queue_body *body)
{
	struct queue_sqlite_body *b = queue_sqlite_body_of(body);
	if (b == NULL)
		return;
	if (b->fd >= 0)
		close(b->fd);
	free(b->cache);
	free(b->prefix);
	free(b);
}
