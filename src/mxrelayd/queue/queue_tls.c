/*
 * queue_tls: the SQLite backend's TLS policy state: the MTA-STS policies
 * fetched (kept until they expire, across restarts: RFC 8461 5.1) and
 * the TLS results counted per day and policy domain until they are
 * reported (RFC 8460), with a record of each report sent.
 *
 * Owns: the tables sts_policies, tlsrpt_results and tlsrpt_reports
 * (created in queue_store.c's schema), each change one small transaction
 * on the read connection, as the control socket's changes are.
 * Never: touches mail (messages, recipients, bodies); holds a
 * transaction open across a callback.
 */
#include "queue_backend.h"
#include "queue_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* Prepare sql on the read connection; NULL with err filled. */
static sqlite3_stmt *queue_tls_prepare(struct queue_sqlite *q, const char *sql, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(q->rdb, sql, -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		return NULL;
	}
	return st;
}

/* A text column into a fixed buffer ("" for NULL). */
static void queue_tls_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, cap, "%s", t != NULL ? (const char *)t : "");
}

int queue_sqlite_sts_load(struct queue_store *store, const char *domain,
    struct queue_sts_policy *out, char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	sqlite3_stmt *st = queue_tls_prepare(q, "SELECT id, policy, fetched, expires FROM "
	    "sts_policies WHERE domain = ?1", err, errlen);
	if (st == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	int found = 0;
	int rc = sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out->domain, sizeof(out->domain), "%s", domain);
		queue_tls_col(st, 0, out->id, sizeof(out->id));
		queue_tls_col(st, 1, out->policy, sizeof(out->policy));
		out->fetched = sqlite3_column_int64(st, 2);
		out->expires = sqlite3_column_int64(st, 3);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "read MTA-STS policy", q->rdb);
		found = -1;
	}
	sqlite3_finalize(st);
	return found;
}

long queue_sqlite_sts_list(struct queue_store *store, int64_t now, queue_sts_fn *fn, void *arg,
    char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	sqlite3_stmt *st = queue_tls_prepare(q, "SELECT domain, id, policy, fetched, expires FROM "
	    "sts_policies WHERE expires > ?1 ORDER BY domain", err, errlen);
	if (st == NULL)
		return -1;
	long n = 0;
	int rc = sqlite3_bind_int64(st, 1, now);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queue_sts_policy p;
		memset(&p, 0, sizeof(p));
		queue_tls_col(st, 0, p.domain, sizeof(p.domain));
		queue_tls_col(st, 1, p.id, sizeof(p.id));
		queue_tls_col(st, 2, p.policy, sizeof(p.policy));
		p.fetched = sqlite3_column_int64(st, 3);
		p.expires = sqlite3_column_int64(st, 4);
		n++;
		if (!fn(arg, &p)) {
			rc = SQLITE_DONE;
			break;
		}
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "read MTA-STS policies", q->rdb);
		n = -1;
	}
	sqlite3_finalize(st);
	return n;
}

/* Step st to its end, retrying once when a full disk gives the reserve back. */
static bool queue_tls_step(struct queue_sqlite *q, sqlite3_stmt *st, const char *what, char *err,
    size_t errlen)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && queue_reserve_full_error(q->rdb, NULL) &&
	    queue_reserve_release(q->dir, "queue file system full")) {
		sqlite3_reset(st);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, what, q->rdb);
		return false;
	}
	sqlite3_reset(st);
	return true;
}

int queue_sqlite_sts_save(struct queue_store *store, const struct queue_sts_policy *p,
    char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	sqlite3_stmt *st = queue_tls_prepare(q, "INSERT OR REPLACE INTO sts_policies(domain, id, "
	    "policy, fetched, expires) VALUES (?1, ?2, ?3, ?4, ?5)", err, errlen);
	if (st == NULL)
		return -1;
	bool ok = sqlite3_bind_text(st, 1, p->domain, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 2, p->id, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 3, p->policy, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 4, p->fetched) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 5, p->expires) == SQLITE_OK;
	if (!ok)
		queue_store_seterr(err, errlen, "bind", q->rdb);
	ok = ok && queue_tls_step(q, st, "save MTA-STS policy", err, errlen);
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

/* Bind the key and values of one row to the upsert. */
static bool queue_tls_bind_row(sqlite3_stmt *st, const struct queue_tlsrpt_row *r)
{
	return sqlite3_bind_int64(st, 1, r->day) == SQLITE_OK &&
	    sqlite3_bind_text(st, 2, r->domain, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 3, r->policy_type, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 4, r->policy, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 5, r->result, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 6, r->sending_ip, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 7, r->mx_host, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 8, r->mx_ip, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 9, r->mx_helo, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 10, r->detail, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 11, (sqlite3_int64)r->sessions) == SQLITE_OK;
}

int queue_sqlite_tlsrpt_add(struct queue_store *store, const struct queue_tlsrpt_row *rows,
    size_t n, char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	if (n == 0)
		return 0;
	if (!queue_store_exec(q->rdb, "BEGIN IMMEDIATE", err, errlen))
		return -1;
	sqlite3_stmt *st = queue_tls_prepare(q, "INSERT INTO tlsrpt_results(day, domain, "
	    "policy_type, policy, result, sending_ip, mx_host, mx_ip, mx_helo, detail, sessions) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT(day, domain, "
	    "policy_type, policy, result, sending_ip, mx_host, mx_ip) DO UPDATE SET "
	    "sessions = sessions + excluded.sessions, mx_helo = excluded.mx_helo, "
	    "detail = excluded.detail", err, errlen);
	bool ok = st != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		ok = queue_tls_bind_row(st, &rows[i]);
		if (!ok)
			queue_store_seterr(err, errlen, "bind", q->rdb);
		ok = ok && queue_tls_step(q, st, "count TLS results", err, errlen);
	}
	sqlite3_finalize(st);
	if (!ok || !queue_store_exec(q->rdb, "COMMIT", err, errlen)) {
		sqlite3_exec(q->rdb, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

long queue_sqlite_tlsrpt_list(struct queue_store *store, int64_t day_from, int64_t day_to,
    const char *domain, queue_tlsrpt_fn *fn, void *arg, char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	sqlite3_stmt *st = queue_tls_prepare(q, "SELECT day, domain, policy_type, policy, result, "
	    "sending_ip, mx_host, mx_ip, mx_helo, detail, sessions FROM tlsrpt_results "
	    "WHERE day >= ?1 AND day <= ?2 AND (?3 IS NULL OR domain = ?3) "
	    "ORDER BY day, domain, policy_type, policy, result, mx_host, mx_ip, sending_ip",
	    err, errlen);
	if (st == NULL)
		return -1;
	if (sqlite3_bind_int64(st, 1, day_from) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, day_to) != SQLITE_OK ||
	    queue_store_bind_text(st, 3, domain) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "bind", q->rdb);
		sqlite3_finalize(st);
		return -1;
	}
	long count = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char dom[256], type[24], result[48], sip[64], host[256], ip[64], helo[256], detail[400];
		char *policy = queue_store_col_strdup(st, 3);
		queue_tls_col(st, 1, dom, sizeof(dom));
		queue_tls_col(st, 2, type, sizeof(type));
		queue_tls_col(st, 4, result, sizeof(result));
		queue_tls_col(st, 5, sip, sizeof(sip));
		queue_tls_col(st, 6, host, sizeof(host));
		queue_tls_col(st, 7, ip, sizeof(ip));
		queue_tls_col(st, 8, helo, sizeof(helo));
		queue_tls_col(st, 9, detail, sizeof(detail));
		struct queue_tlsrpt_row r = {
			.day = sqlite3_column_int64(st, 0), .domain = dom, .policy_type = type,
			.policy = policy != NULL ? policy : "", .result = result, .sending_ip = sip,
			.mx_host = host, .mx_ip = ip, .mx_helo = helo, .detail = detail,
			.sessions = (uint64_t)sqlite3_column_int64(st, 10),
		};
		count++;
		bool go_on = fn(arg, &r);
		free(policy);
		if (!go_on) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		queue_store_seterr(err, errlen, "read TLS results", q->rdb);
		count = -1;
	}
	sqlite3_finalize(st);
	return count;
}

int queue_sqlite_tlsrpt_reported(struct queue_store *store, int64_t day, const char *domain,
    const char *report_id, const char *outcome, int64_t at, bool forget, char *err,
    size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	if (!queue_store_exec(q->rdb, "BEGIN IMMEDIATE", err, errlen))
		return -1;
	sqlite3_stmt *st = queue_tls_prepare(q, "INSERT OR REPLACE INTO tlsrpt_reports(day, domain, "
	    "report_id, sent_at, outcome) VALUES (?1, ?2, ?3, ?4, ?5)", err, errlen);
	bool ok = st != NULL && sqlite3_bind_int64(st, 1, day) == SQLITE_OK &&
	    sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(st, 3, report_id, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 4, at) == SQLITE_OK &&
	    sqlite3_bind_text(st, 5, outcome, -1, SQLITE_STATIC) == SQLITE_OK &&
	    queue_tls_step(q, st, "record TLS report", err, errlen);
	sqlite3_finalize(st);
	if (ok && forget) {
		st = queue_tls_prepare(q, "DELETE FROM tlsrpt_results WHERE day = ?1 AND domain = ?2",
		    err, errlen);
		ok = st != NULL && sqlite3_bind_int64(st, 1, day) == SQLITE_OK &&
		    sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC) == SQLITE_OK &&
		    queue_tls_step(q, st, "drop reported TLS results", err, errlen);
		sqlite3_finalize(st);
	}
	if (!ok || !queue_store_exec(q->rdb, "COMMIT", err, errlen)) {
		sqlite3_exec(q->rdb, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int queue_sqlite_tlsrpt_was_reported(struct queue_store *store, int64_t day,
    const char *domain, char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	sqlite3_stmt *st = queue_tls_prepare(q, "SELECT 1 FROM tlsrpt_reports WHERE day = ?1 AND "
	    "domain = ?2", err, errlen);
	if (st == NULL)
		return -1;
	int rc = sqlite3_bind_int64(st, 1, day);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	if (found < 0)
		queue_store_seterr(err, errlen, "read TLS reports", q->rdb);
	sqlite3_finalize(st);
	return found;
}

long queue_sqlite_tlsrpt_prune(struct queue_store *store, int64_t day, char *err,
    size_t errlen)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	if (!queue_store_exec(q->rdb, "BEGIN IMMEDIATE", err, errlen))
		return -1;
	long dropped = -1;
	sqlite3_stmt *st = queue_tls_prepare(q, "DELETE FROM tlsrpt_results WHERE day < ?1", err,
	    errlen);
	bool ok = st != NULL && sqlite3_bind_int64(st, 1, day) == SQLITE_OK &&
	    queue_tls_step(q, st, "prune TLS results", err, errlen);
	if (ok)
		dropped = sqlite3_changes(q->rdb);
	sqlite3_finalize(st);
	if (ok) {
		st = queue_tls_prepare(q, "DELETE FROM tlsrpt_reports WHERE day < ?1", err, errlen);
		ok = st != NULL && sqlite3_bind_int64(st, 1, day) == SQLITE_OK &&
		    queue_tls_step(q, st, "prune TLS reports", err, errlen);
		sqlite3_finalize(st);
	}
	if (!ok || !queue_store_exec(q->rdb, "COMMIT", err, errlen)) {
		sqlite3_exec(q->rdb, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return dropped;
}
