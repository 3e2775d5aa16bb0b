/*
 * queue_pg_query: the synchronous reads of the PostgreSQL queue, on the
 * blocking admin connection: a message with its recipients (and the
 * node holding each one's claim), the listing of the whole fleet's
 * queue, the header section, the counts, a body opened for reading. The
 * command line uses them without a loop; the daemon's control socket
 * uses them for a listing or a `show` (a short wait on the loop, bounded
 * by QUEUE_PG_SYNC_TIMEOUT_MS). The daemon's counts, read every second
 * for the status and metrics, come instead from the read connection,
 * asynchronously, a second old at most.
 *
 * Owns: the listing's paging (64 messages a page, no transaction held
 * across the caller's callback). Never: writes.
 */
#include "queue_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"

#define QUEUE_PG_PAGE 64

int queue_pg_query_message(struct queue_store *store, const char *id, struct queue_msg *m,
    struct queue_rcpt **rcpts, size_t *nrcpts, bool with_history, char *err, size_t errlen)
{
	struct queue_pg *q = queue_pg_of(store);
	memset(m, 0, sizeof(*m));
	if (rcpts != NULL) {
		*rcpts = NULL;
		*nrcpts = 0;
	}
	const char *v[1] = { id };
	PGresult *res = queue_pg_admin_exec(q, queue_pg_sql_text(QPG_MSG), 1, v, err, errlen);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return 0;
	}
	queue_pg_rows_msg(res, 0, m);
	PQclear(res);
	if (rcpts == NULL)
		return 1;
	res = queue_pg_admin_exec(q, queue_pg_sql_text(QPG_RCPTS), 1, v, err, errlen);
	if (res == NULL) {
		queue_query_msg_clear(m);
		return -1;
	}
	*rcpts = queue_pg_rows_rcpts(res, nrcpts);
	PQclear(res);
	if (!with_history)
		return 1;
	res = queue_pg_admin_exec(q, queue_pg_sql_text(QPG_HISTORY), 1, v, err, errlen);
	if (res == NULL) {
		queue_query_rcpts_free(*rcpts, *nrcpts);
		*rcpts = NULL;
		*nrcpts = 0;
		queue_query_msg_clear(m);
		return -1;
	}
	queue_pg_rows_history(res, *rcpts, *nrcpts);
	PQclear(res);
	return 1;
}

/* One page of messages after id `after`, with their recipients; -1 on error. */
static int queue_pg_query_page(struct queue_pg *q, const char *after, PGresult **msgs,
    PGresult **rcpts, char *err, size_t errlen)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", QUEUE_PG_PAGE);
	const char *v[2] = { after, lim };
	*msgs = queue_pg_admin_exec(q, "SELECT id, sender, envid, ret, smtputf8, body_8bit,"
	    " requiretls, tls_optional, client_ip, client_helo, auth_user, protocol, received_at,"
	    " size, held, body_chunks FROM messages WHERE id > $1 ORDER BY id LIMIT $2::integer",
	    2, v, err, errlen);
	if (*msgs == NULL)
		return -1;
	*rcpts = queue_pg_admin_exec(q, "SELECT r.id, r.address, r.domain, r.orcpt, r.notify,"
	    " r.state, r.tries, r.next_try, r.first_fail, r.last_code, r.last_esc, r.last_reply,"
	    " r.last_mx, r.updated_at, CASE WHEN r.lease_until >= mxr_now() THEN r.lease_node END,"
	    " r.msg_id FROM recipients r WHERE r.msg_id IN (SELECT id FROM messages"
	    " WHERE id > $1 ORDER BY id LIMIT $2::integer) ORDER BY r.msg_id, r.id", 2, v, err,
	    errlen);
	if (*rcpts == NULL) {
		PQclear(*msgs);
		return -1;
	}
	return PQntuples(*msgs);
}

long queue_pg_query_list(struct queue_store *store, queue_list_fn *fn, void *arg, char *err,
    size_t errlen)
{
	struct queue_pg *q = queue_pg_of(store);
	char after[QUEUE_ID_LEN + 1] = "";
	long visited = 0;
	for (;;) {
		PGresult *msgs, *rr;
		int n = queue_pg_query_page(q, after, &msgs, &rr, err, errlen);
		if (n < 0)
			return -1;
		size_t nall = 0;
		struct queue_rcpt *all = queue_pg_rows_rcpts(rr, &nall);
		bool go_on = true;
		size_t k = 0;
		for (int i = 0; i < n && go_on; i++) {
			struct queue_msg m;
			queue_pg_rows_msg(msgs, i, &m);
			/* Rows of a message that came between the two reads are skipped. */
			while (k < nall && strcmp(PQgetvalue(rr, (int)k, 15), m.id) < 0)
				k++;
			size_t from = k;
			while (k < nall && strcmp(PQgetvalue(rr, (int)k, 15), m.id) == 0)
				k++;
			go_on = fn(arg, &m, all + from, k - from);
			snprintf(after, sizeof(after), "%s", m.id);
			queue_query_msg_clear(&m);
			visited++;
		}
		queue_query_rcpts_free(all, nall);
		PQclear(msgs);
		PQclear(rr);
		if (!go_on || n < QUEUE_PG_PAGE)
			return visited;
	}
}

int queue_pg_query_headers(struct queue_store *store, const char *id, size_t cap, char **out,
    size_t *outlen, char *err, size_t errlen)
{
	struct queue_pg *q = queue_pg_of(store);
	struct mxr_source src;
	*out = NULL;
	*outlen = 0;
	struct queue_body *b = queue_pg_body_open(store, id, &src, err, errlen);
	if (b == NULL) {
		struct queue_msg m;
		int found = queue_pg_query_message(&q->handle, id, &m, NULL, NULL, false, NULL, 0);
		queue_query_msg_clear(&m);
		return found == 0 ? 0 : -1;
	}
	if (src.size > cap)
		src.size = cap;
	int rc = queue_source_headers(&src, cap, out, outlen);
	queue_pg_body_close(b);
	if (rc < 0)
		snprintf(err, errlen, "read body of %s failed", id);
	return rc;
}

/* The counts read now on the admin connection; 0 or -1. */
static int queue_pg_query_count_now(struct queue_pg *q, struct queue_counts *out, char *err,
    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	PGresult *res = queue_pg_admin_exec(q, queue_pg_sql_text(QPG_COUNTS), 0, NULL, err, errlen);
	if (res == NULL)
		return -1;
	out->messages = (uint64_t)queue_pg_sql_int(res, 0, 0, 0);
	out->held = (uint64_t)queue_pg_sql_int(res, 0, 1, 0);
	out->bytes = (uint64_t)queue_pg_sql_int(res, 0, 2, 0);
	PQclear(res);
	res = queue_pg_admin_exec(q, queue_pg_sql_text(QPG_COUNTS_RCPT), 0, NULL, err, errlen);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		enum queue_rcpt_state s;
		if (queue_store_state_parse(PQgetvalue(res, i, 0), &s))
			out->rcpts[s] = (uint64_t)queue_pg_sql_int(res, i, 1, 0);
	}
	PQclear(res);
	res = queue_pg_admin_exec(q, queue_pg_sql_text(QPG_OLDEST), 0, NULL, err, errlen);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		snprintf(out->oldest_id, sizeof(out->oldest_id), "%s", PQgetvalue(res, 0, 0));
		out->oldest_received = (time_t)queue_pg_sql_int(res, 0, 1, 0);
	}
	PQclear(res);
	return 0;
}

/* The counts' three statements answered on the read connection. */
static void queue_pg_counts_result(void *arg, int idx, const PGresult *res)
{
	struct queue_pg *q = arg;
	struct queue_counts *c = &q->counts;
	if (idx == 0) {
		memset(c, 0, sizeof(*c));
		c->messages = (uint64_t)queue_pg_sql_int(res, 0, 0, 0);
		c->held = (uint64_t)queue_pg_sql_int(res, 0, 1, 0);
		c->bytes = (uint64_t)queue_pg_sql_int(res, 0, 2, 0);
	} else if (idx == 1) {
		for (int i = 0; i < PQntuples(res); i++) {
			enum queue_rcpt_state s;
			if (queue_store_state_parse(PQgetvalue(res, i, 0), &s))
				c->rcpts[s] = (uint64_t)queue_pg_sql_int(res, i, 1, 0);
		}
	} else if (PQntuples(res) == 1) {
		snprintf(c->oldest_id, sizeof(c->oldest_id), "%s", PQgetvalue(res, 0, 0));
		c->oldest_received = (time_t)queue_pg_sql_int(res, 0, 1, 0);
	}
}

static void queue_pg_counts_done(void *arg, bool ok, const char *err)
{
	struct queue_pg *q = arg;
	q->counts_busy = false;
	q->counts_ok = ok;
	if (!ok)
		snprintf(q->counts_err, sizeof(q->counts_err), "%s", err != NULL ? err : "");
}

void queue_pg_query_counts_refresh(struct queue_pg *q)
{
	if (q->counts_busy)
		return;
	q->counts_busy = true;
	q->counts_at = time(NULL);
	struct queue_pg_req *r = queue_pg_req_begin(q->read, queue_pg_counts_result,
	    queue_pg_counts_done, q);
	queue_pg_req_stmt(r, QPG_COUNTS, 0, NULL, NULL, NULL, 0);
	queue_pg_req_stmt(r, QPG_COUNTS_RCPT, 0, NULL, NULL, NULL, 0);
	queue_pg_req_stmt(r, QPG_OLDEST, 0, NULL, NULL, NULL, 0);
	queue_pg_req_end(r);
}

int queue_pg_query_count(struct queue_store *store, struct queue_counts *out, char *err,
    size_t errlen)
{
	struct queue_pg *q = queue_pg_of(store);
	if (q->base == NULL)
		return queue_pg_query_count_now(q, out, err, errlen);
	/* The daemon never waits for a count: the last one read, and a new one asked for. */
	if (time(NULL) != q->counts_at)
		queue_pg_query_counts_refresh(q);
	if (!q->counts_ok) {
		snprintf(err, errlen, "%s", q->counts_err[0] != '\0' ? q->counts_err :
		    "counts not read yet");
		return -1;
	}
	*out = q->counts;
	return 0;
}

/* Copy the body of id into a local file (admin connection, a chunk at a time); fd or -1. */
static int queue_pg_query_download(struct queue_pg *q, const char *id, int chunks, uint64_t size,
    char *err, size_t errlen)
{
	int fd = queue_pg_tmpfile(q->dir, err, errlen);
	if (fd < 0)
		return -1;
	for (int i = 0; i < chunks; i++) {
		char seq[16], lim[24];
		snprintf(seq, sizeof(seq), "%d", i);
		snprintf(lim, sizeof(lim), "%d", QUEUE_PG_CHUNK);
		const char *v[3] = { id, seq, lim };
		PGresult *res = PQexecParams(q->admin, queue_pg_sql_text(QPG_CHUNK), 3, NULL, v, NULL,
		    NULL, 1);
		char why[256] = "";
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			queue_pg_sql_error(res, why, sizeof(why));
		else if (PQntuples(res) != 1)
			snprintf(why, sizeof(why), "missing");
		else {
			size_t len = (size_t)PQgetlength(res, 0, 0);
			if (pwrite(fd, PQgetvalue(res, 0, 0), len, (off_t)i * QUEUE_PG_CHUNK) !=
			    (ssize_t)len)
				snprintf(why, sizeof(why), "cannot write the local copy: %s",
				    strerror(errno));
		}
		bool ok = why[0] == '\0';
		if (!ok)
			snprintf(err, errlen, "body chunk %d of %s: %s", i, id, why);
		PQclear(res);
		if (!ok) {
			close(fd);
			return -1;
		}
	}
	(void)size;
	return fd;
}

struct queue_body *queue_pg_body_open(struct queue_store *store, const char *id,
    struct mxr_source *src, char *err, size_t errlen)
{
	struct queue_pg *q = queue_pg_of(store);
	const char *v[1] = { id };
	if (!queue_pg_admin_ok(q, err, errlen))
		return NULL;
	PGresult *res = PQexecParams(q->admin, "SELECT size, body_chunks, body, prefix FROM messages"
	    " WHERE id = $1", 1, NULL, v, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			snprintf(err, errlen, "no such message");
		else
			queue_pg_sql_error(res, err, errlen);
		PQclear(res);
		return NULL;
	}
	/* Binary: 8-octet and 4-octet integers in network order. */
	uint64_t size = 0;
	for (int i = 0; i < 8; i++)
		size = size << 8 | (unsigned char)PQgetvalue(res, 0, 0)[i];
	uint32_t chunks = 0;
	for (int i = 0; i < 4; i++)
		chunks = chunks << 8 | (unsigned char)PQgetvalue(res, 0, 1)[i];
	size_t plen = PQgetisnull(res, 0, 3) ? 0 : (size_t)PQgetlength(res, 0, 3);
	unsigned char *prefix = plen > 0 ? (unsigned char *)xmemdup0(PQgetvalue(res, 0, 3), plen) :
	    NULL;
	/* The size counts the prefix; the text is the rest. */
	uint64_t text = size > plen ? size - plen : 0;
	if (chunks == 0) {
		size_t len = PQgetisnull(res, 0, 2) ? 0 : (size_t)PQgetlength(res, 0, 2);
		unsigned char *mem = xmalloc(len ? len : 1);
		memcpy(mem, PQgetvalue(res, 0, 2), len);
		PQclear(res);
		return queue_pg_body_new(q, id, -1, mem, len, prefix, plen, src);
	}
	PQclear(res);
	int fd = queue_pg_query_download(q, id, (int)chunks, text, err, errlen);
	if (fd < 0) {
		free(prefix);
		return NULL;
	}
	return queue_pg_body_new(q, id, fd, NULL, text, prefix, plen, src);
}
