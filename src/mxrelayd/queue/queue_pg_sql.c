/*
 * queue_pg_sql: the statements the PostgreSQL backend prepares on every
 * connection (one table, each with its typed parameters), and the pure
 * pieces around them: array literals, column parsing, lease arithmetic.
 *
 * Owns: the text of every statement of the loop's connections (the
 * admin connection's one-off statements live with their operation).
 * Never: talks to a server; holds state.
 */
#include "queue_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

/*
 * Every parameter is cast where it is used, so that the server infers
 * its type without a type list: the casts are the statement's signature.
 */
static const char *const queue_pg_sql[QPG_STMT_COUNT_] = {
	/*
	 * Due recipients, oldest due first, skipping those another node has
	 * locked this instant, leased to this node until $4 seconds from the
	 * server's clock (so that nodes' clocks need not agree).
	 */
	[QPG_CLAIM] =
	    "WITH c AS (SELECT r.id FROM recipients r JOIN messages m ON m.id = r.msg_id"
	    " WHERE r.state IN ('pending', 'deferred') AND r.next_try <= $1::bigint"
	    " AND r.lease_until < mxr_now() AND NOT m.held"
	    " ORDER BY r.next_try, r.id LIMIT $2::integer FOR UPDATE OF r SKIP LOCKED)"
	    " UPDATE recipients r SET lease_node = $3::text, lease_until = mxr_now() + $4::bigint"
	    " FROM c, messages m WHERE r.id = c.id AND m.id = r.msg_id"
	    " RETURNING r.id, r.msg_id, r.address, r.domain, r.orcpt, r.notify, r.tries,"
	    " r.first_fail, m.received_at",
	[QPG_RENEW] =
	    "UPDATE recipients SET lease_until = mxr_now() + $3::bigint"
	    " WHERE lease_node = $1::text AND id = ANY($2::bigint[])"
	    " AND state IN ('pending', 'deferred')",
	[QPG_UNCLAIM] =
	    "UPDATE recipients SET lease_node = NULL, lease_until = 0"
	    " WHERE lease_node = $1::text AND id = ANY($2::bigint[])",
	[QPG_INS_MSG] =
	    "WITH m AS (INSERT INTO messages (id, sender, envid, ret, smtputf8, body_8bit,"
	    " requiretls, tls_optional, client_ip, client_helo, auth_user, protocol, received_at,"
	    " size, body, body_chunks, node, prefix) VALUES ($1::text, $2::text, $3::text,"
	    " $4::smallint, $5::boolean, $6::boolean, $7::boolean, $8::boolean, $9::text, $10::text,"
	    " $11::text, $12::text, $13::bigint, $14::bigint, $15::bytea, $16::integer, $17::text,"
	    " $22::bytea) RETURNING id)"
	    " INSERT INTO recipients (msg_id, address, domain, orcpt, notify, next_try, updated_at)"
	    " SELECT m.id, r.a, r.d, r.o, r.n, $13::bigint, $13::bigint FROM m,"
	    " unnest($18::text[], $19::text[], $20::text[], $21::integer[]) WITH ORDINALITY"
	    " AS r(a, d, o, n, i) ORDER BY r.i",
	[QPG_INS_CHUNK] =
	    "INSERT INTO body (msg_id, seq, data) VALUES ($1::text, $2::integer, $3::bytea)",
	/* Only undone recipients change: a final state is never left. */
	[QPG_OUTCOME] =
	    "WITH u AS (UPDATE recipients SET state = $1::text, tries = tries + 1,"
	    " next_try = CASE WHEN $1::text = 'deferred' THEN $2::bigint ELSE next_try END,"
	    " first_fail = CASE WHEN $3::boolean AND first_fail = 0 THEN $4::bigint"
	    " ELSE first_fail END, last_code = $5::integer, last_esc = $6::text,"
	    " last_reply = $7::text, last_mx = $8::text, updated_at = $4::bigint,"
	    " lease_node = NULL, lease_until = 0"
	    " WHERE id = $9::bigint AND state IN ('pending', 'deferred') RETURNING id)"
	    " INSERT INTO history (rcpt_id, at, status, code, esc, reply, mx)"
	    " SELECT id, $4::bigint, $1::text, $5::integer, $6::text, $7::text, $8::text FROM u",
	/* A DSN's recipients: all of them still failed, or the transaction fails (bounced once). */
	[QPG_BOUNCED_FOR] = "SELECT mxr_bounced_for($1::bigint[], $2::bigint)",
	[QPG_BOUNCED] =
	    "UPDATE recipients SET state = 'bounced', updated_at = $2::bigint"
	    " WHERE id = ANY($1::bigint[]) AND state = 'failed'",
	[QPG_DEL_DONE] =
	    "WITH d AS (DELETE FROM messages m WHERE m.id = $1::text AND NOT EXISTS"
	    " (SELECT 1 FROM recipients r WHERE r.msg_id = $1::text"
	    " AND r.state NOT IN ('delivered', 'bounced')) RETURNING m.id, m.body_chunks),"
	    " b AS (DELETE FROM body WHERE msg_id IN (SELECT id FROM d WHERE body_chunks > 0))"
	    " SELECT count(*) FROM d",
	[QPG_NOTIFY] = "SELECT pg_notify('" QUEUE_PG_CHANNEL "', $1::text)",
	[QPG_MSG] =
	    "SELECT id, sender, envid, ret, smtputf8, body_8bit, requiretls, tls_optional,"
	    " client_ip, client_helo, auth_user, protocol, received_at, size, held, body_chunks"
	    " FROM messages WHERE id = $1::text",
	/* The prefix (delivered first: DKIM signatures), then as much of a small body as asked. */
	[QPG_MSG_BODY] =
	    "SELECT prefix, substring(body FROM 1 FOR $2::integer) FROM messages WHERE id = $1::text",
	[QPG_CHUNK] =
	    "SELECT substring(data FROM 1 FOR $3::integer) FROM body"
	    " WHERE msg_id = $1::text AND seq = $2::integer",
	[QPG_RCPTS] =
	    "SELECT id, address, domain, orcpt, notify, state, tries, next_try, first_fail,"
	    " last_code, last_esc, last_reply, last_mx, updated_at,"
	    " CASE WHEN lease_until >= mxr_now() THEN lease_node END"
	    " FROM recipients WHERE msg_id = $1::text ORDER BY id",
	[QPG_HISTORY] =
	    "SELECT h.rcpt_id, h.at, h.status, h.code, h.esc, h.reply, h.mx FROM history h"
	    " JOIN recipients r ON r.id = h.rcpt_id WHERE r.msg_id = $1::text"
	    " ORDER BY h.rcpt_id, h.id",
	[QPG_RECOVER_FAILED] =
	    "SELECT DISTINCT msg_id FROM recipients WHERE state = 'failed'"
	    " AND updated_at <= $1::bigint ORDER BY msg_id LIMIT 10000",
	/* From the (small) index of final recipients: a finished message is normally gone. */
	[QPG_RECOVER_DONE] =
	    "SELECT DISTINCT r.msg_id FROM recipients r WHERE r.state IN ('delivered', 'bounced')"
	    " AND r.updated_at <= $1::bigint AND NOT EXISTS (SELECT 1 FROM recipients x"
	    " WHERE x.msg_id = r.msg_id AND x.state IN ('pending', 'deferred', 'failed'))"
	    " ORDER BY 1 LIMIT 10000",
	[QPG_COUNTS] =
	    "SELECT count(*), count(*) FILTER (WHERE held), coalesce(sum(size), 0) FROM messages",
	[QPG_COUNTS_RCPT] = "SELECT state, count(*) FROM recipients GROUP BY state",
	[QPG_OLDEST] = "SELECT id, received_at FROM messages ORDER BY received_at, id LIMIT 1",
	[QPG_SLOT_TAKE] = "SELECT mxr_slot_take($1::text, $2::integer, $3::integer[])",
	[QPG_SLOT_GIVE] =
	    "SELECT pg_advisory_unlock(hashtext('mxrelay-dest:' || $1::text), $2::integer)",
	[QPG_DEST_PUT] =
	    "INSERT INTO destinations (key, failures, backoff_from, backoff_until, reason, changed)"
	    " VALUES ($1::text, $2::integer, $3::bigint, $4::bigint, $5::text, mxr_now_us())"
	    " ON CONFLICT (key) DO UPDATE SET failures = EXCLUDED.failures,"
	    " backoff_from = EXCLUDED.backoff_from, backoff_until = EXCLUDED.backoff_until,"
	    " reason = EXCLUDED.reason, changed = EXCLUDED.changed",
	[QPG_DEST_GET] =
	    "SELECT key, failures, backoff_from, backoff_until, reason, changed FROM destinations"
	    " WHERE changed > $1::bigint ORDER BY changed LIMIT 1000",
	[QPG_ORPHANS] =
	    "DELETE FROM body b WHERE b.msg_id < $1::text"
	    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = b.msg_id)",
	/*
	 * A destination's row matters while its backoff runs and for the
	 * failures counted towards the next one; a day unchanged and out of
	 * backoff, it is forgotten: the next failure starts a new count.
	 */
	[QPG_DEST_PRUNE] =
	    "DELETE FROM destinations WHERE changed < mxr_now_us() - 86400000000"
	    " AND backoff_until < $1::bigint",
	/*
	 * Outcomes and deletions of one message wait for each other: the
	 * deletion's check then sees the outcomes committed before it (two
	 * jobs finishing a message's two domains at once would otherwise each
	 * see the other's recipient undone, and neither delete it).
	 */
	[QPG_LOCK_MSG] = "SELECT 1 FROM messages WHERE id = $1::text FOR NO KEY UPDATE",
	[QPG_LOCK_RCPT_MSG] =
	    "SELECT 1 FROM messages WHERE id = (SELECT msg_id FROM recipients"
	    " WHERE id = $1::bigint) FOR NO KEY UPDATE",
};

static const char *const queue_pg_sql_names[QPG_STMT_COUNT_] = {
	[QPG_CLAIM] = "mxr_claim", [QPG_RENEW] = "mxr_renew", [QPG_UNCLAIM] = "mxr_unclaim",
	[QPG_INS_MSG] = "mxr_ins_msg", [QPG_INS_CHUNK] = "mxr_ins_chunk",
	[QPG_OUTCOME] = "mxr_outcome", [QPG_BOUNCED_FOR] = "mxr_bounced_for",
	[QPG_BOUNCED] = "mxr_bounced", [QPG_DEL_DONE] = "mxr_del_done", [QPG_NOTIFY] = "mxr_notify",
	[QPG_MSG] = "mxr_msg", [QPG_MSG_BODY] = "mxr_msg_body", [QPG_CHUNK] = "mxr_chunk",
	[QPG_RCPTS] = "mxr_rcpts", [QPG_HISTORY] = "mxr_history",
	[QPG_RECOVER_FAILED] = "mxr_recover_failed", [QPG_RECOVER_DONE] = "mxr_recover_done",
	[QPG_COUNTS] = "mxr_counts", [QPG_COUNTS_RCPT] = "mxr_counts_rcpt",
	[QPG_OLDEST] = "mxr_oldest", [QPG_SLOT_TAKE] = "mxr_slot_take",
	[QPG_SLOT_GIVE] = "mxr_slot_give", [QPG_DEST_PUT] = "mxr_dest_put",
	[QPG_DEST_GET] = "mxr_dest_get", [QPG_ORPHANS] = "mxr_orphans",
	[QPG_DEST_PRUNE] = "mxr_dest_prune",
	[QPG_LOCK_MSG] = "mxr_lock_msg", [QPG_LOCK_RCPT_MSG] = "mxr_lock_rcpt_msg",
};

const char *queue_pg_sql_name(enum queue_pg_stmt s)
{
	if ((unsigned)s >= QPG_STMT_COUNT_)
		panic("op=queue_pg reason=\"no statement %d\"", (int)s);
	return queue_pg_sql_names[s];
}

const char *queue_pg_sql_text(enum queue_pg_stmt s)
{
	if ((unsigned)s >= QPG_STMT_COUNT_)
		panic("op=queue_pg reason=\"no statement %d\"", (int)s);
	return queue_pg_sql[s];
}

char *queue_pg_sql_int_array(const int64_t *v, size_t n)
{
	/* "{" + n * (20 digits and a sign, a comma) + "}" */
	size_t cap = 3 + n * 22;
	char *out = xmalloc(cap);
	size_t len = 0;
	out[len++] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%" PRId64, i > 0 ? "," : "", v[i]);
	out[len++] = '}';
	out[len] = '\0';
	return out;
}

char *queue_pg_sql_text_array(const char *const *v, size_t n)
{
	size_t cap = 3;
	for (size_t i = 0; i < n; i++)
		cap += v[i] != NULL ? 2 * strlen(v[i]) + 3 : 5;
	char *out = xmalloc(cap);
	size_t len = 0;
	out[len++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			out[len++] = ',';
		if (v[i] == NULL) {
			memcpy(out + len, "NULL", 4);
			len += 4;
			continue;
		}
		out[len++] = '"';
		for (const char *s = v[i]; *s != '\0'; s++) {
			if (*s == '"' || *s == '\\')
				out[len++] = '\\';
			out[len++] = *s;
		}
		out[len++] = '"';
	}
	out[len++] = '}';
	out[len] = '\0';
	return out;
}

int64_t queue_pg_sql_int(const PGresult *res, int row, int col, int64_t def)
{
	if (PQgetisnull(res, row, col))
		return def;
	const char *s = PQgetvalue(res, row, col);
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return def;
	return (int64_t)v;
}

void queue_pg_sql_error(const PGresult *res, char *out, size_t outlen)
{
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *whole = res != NULL ? PQresultErrorMessage(res) : NULL;
	if (primary != NULL && primary[0] != '\0' && state != NULL)
		snprintf(out, outlen, "%s (SQLSTATE %s)", primary, state);
	else
		snprintf(out, outlen, "%s", whole != NULL && whole[0] != '\0' ? whole : "no message");
	out[strcspn(out, "\n")] = '\0';
}

bool queue_pg_sql_error_is_storage(const char *err)
{
	return err != NULL && strstr(err, "(SQLSTATE 53") != NULL;
}

int64_t queue_pg_sql_int_of(const char *s)
{
	if (s == NULL)
		return 0;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' ? 0 : (int64_t)v;
}

char *queue_pg_sql_strdup(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return xmemdup0(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

bool queue_pg_sql_bool(const PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

unsigned queue_pg_lease_renew_every(unsigned lease_time)
{
	unsigned every = lease_time / 3;
	return every < 1 ? 1 : every;
}

bool queue_pg_lease_live(int64_t until, int64_t now)
{
	return until >= now;
}
