/*
 * queue_body: a stored message body read by offset, one chunk at a time,
 * as a struct mxr_source for the delivery engine.
 *
 * Owns: a statement on the read connection and one cached chunk per open
 * body. Never: holds a whole body in memory, or keeps a read transaction
 * open between calls (that would hold back WAL checkpoints).
 */
#include "mxrelayd/queue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

struct queue_body {
	struct queue_store *q;		/* not owned */
	sqlite3_stmt *st;		/* owned: SELECT of one chunk */
	char id[QUEUE_ID_LEN + 1];
	uint64_t size;
	int64_t seq;			/* chunk in cache, -1 none */
	size_t len;			/* its length */
	unsigned char *cache;		/* QUEUE_CHUNK octets, owned */
};

/* Fetch chunk seq into the cache; false when it is missing or unreadable. */
static bool queue_body_load(struct queue_body *b, int64_t seq)
{
	sqlite3_reset(b->st);
	sqlite3_bind_text(b->st, 1, b->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(b->st, 2, seq);
	bool ok = false;
	if (sqlite3_step(b->st) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(b->st, 0);
		const void *p = sqlite3_column_blob(b->st, 0);
		if (n > 0 && n <= QUEUE_CHUNK && p != NULL) {
			memcpy(b->cache, p, (size_t)n);
			b->len = (size_t)n;
			b->seq = seq;
			ok = true;
		}
	}
	/* Reset at once: no read transaction stays open between reads. */
	sqlite3_reset(b->st);
	if (!ok) {
		b->seq = -1;
		log_msg(LOG_LVL_WARN, "op=queue_body_read queue=%s chunk=%lld status=failed",
		    b->id, (long long)seq);
	}
	return ok;
}

/* mxr_source read_at: copy from as many chunks as n covers. */
static ssize_t queue_body_read_at(void *arg, uint64_t off, char *buf, size_t n)
{
	struct queue_body *b = arg;
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

struct queue_body *queue_body_open(struct queue_store *q, const char *id,
    struct mxr_source *src, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(q->rdb, "SELECT size FROM messages WHERE id = ?", -1, &st,
	    NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		return NULL;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_int64 size = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			snprintf(err, errlen, "no message %s", id);
		else
			queue_store_seterr(err, errlen, "read message", q->rdb);
		return NULL;
	}
	struct queue_body *b = xcalloc(1, sizeof(*b));
	if (sqlite3_prepare_v3(q->rdb, "SELECT data FROM body WHERE msg_id = ? AND seq = ?", -1,
	    SQLITE_PREPARE_PERSISTENT, &b->st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		free(b);
		return NULL;
	}
	b->q = q;
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->size = (uint64_t)size;
	b->seq = -1;
	b->cache = xmalloc(QUEUE_CHUNK);
	src->read_at = queue_body_read_at;
	src->arg = b;
	src->size = b->size;
	return b;
}

void queue_body_close(struct queue_body *b)
{
	if (b == NULL)
		return;
	sqlite3_finalize(b->st);
	free(b->cache);
	free(b);
}
