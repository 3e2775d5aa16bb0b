/*
 * queue_pg_tls: the PostgreSQL backend's TLS policy state, shared by the
 * fleet: the MTA-STS policies fetched (one node's fetch serves them all
 * until the policy expires) and the TLS results counted per day and
 * policy domain until they are reported, with a record of each report
 * (so that one node, not each, reports a day).
 *
 * Owns: the tables sts_policies, tlsrpt_results and tlsrpt_reports on
 * the server, each change one small transaction on the admin connection.
 * Never: touches mail.
 */
#include "queue_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

int queue_pg_sts_load(struct queue_store *store, const char *domain, struct queue_sts_policy *out,
    char *err, size_t errlen)
{
	const char *v[1] = { domain };
	PGresult *res = queue_pg_admin_exec(queue_pg_of(store), "SELECT id, policy, fetched, expires"
	    " FROM sts_policies WHERE domain = $1", 1, v, err, errlen);
	if (res == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	int found = PQntuples(res) == 1;
	if (found) {
		snprintf(out->domain, sizeof(out->domain), "%s", domain);
		snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, 0, 0));
		snprintf(out->policy, sizeof(out->policy), "%s", PQgetvalue(res, 0, 1));
		out->fetched = queue_pg_sql_int(res, 0, 2, 0);
		out->expires = queue_pg_sql_int(res, 0, 3, 0);
	}
	PQclear(res);
	return found;
}

long queue_pg_sts_list(struct queue_store *store, int64_t now, queue_sts_fn *fn, void *arg,
    char *err, size_t errlen)
{
	char at[24];
	snprintf(at, sizeof(at), "%" PRId64, now);
	const char *v[1] = { at };
	PGresult *res = queue_pg_admin_exec(queue_pg_of(store), "SELECT domain, id, policy, fetched,"
	    " expires FROM sts_policies WHERE expires > $1::bigint ORDER BY domain", 1, v, err,
	    errlen);
	if (res == NULL)
		return -1;
	long n = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		struct queue_sts_policy p;
		memset(&p, 0, sizeof(p));
		snprintf(p.domain, sizeof(p.domain), "%s", PQgetvalue(res, i, 0));
		snprintf(p.id, sizeof(p.id), "%s", PQgetvalue(res, i, 1));
		snprintf(p.policy, sizeof(p.policy), "%s", PQgetvalue(res, i, 2));
		p.fetched = queue_pg_sql_int(res, i, 3, 0);
		p.expires = queue_pg_sql_int(res, i, 4, 0);
		n++;
		if (!fn(arg, &p))
			break;
	}
	PQclear(res);
	return n;
}

int queue_pg_sts_save(struct queue_store *store, const struct queue_sts_policy *p, char *err,
    size_t errlen)
{
	char fetched[24], expires[24];
	snprintf(fetched, sizeof(fetched), "%" PRId64, p->fetched);
	snprintf(expires, sizeof(expires), "%" PRId64, p->expires);
	const char *v[5] = { p->domain, p->id, p->policy, fetched, expires };
	PGresult *res = queue_pg_admin_exec(queue_pg_of(store), "INSERT INTO sts_policies (domain,"
	    " id, policy, fetched, expires) VALUES ($1, $2, $3, $4::bigint, $5::bigint)"
	    " ON CONFLICT (domain) DO UPDATE SET id = EXCLUDED.id, policy = EXCLUDED.policy,"
	    " fetched = EXCLUDED.fetched, expires = EXCLUDED.expires", 5, v, err, errlen);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int queue_pg_tlsrpt_add(struct queue_store *store, const struct queue_tlsrpt_row *rows, size_t n,
    char *err, size_t errlen)
{
	if (n == 0)
		return 0;
	/* One statement for all the rows (arrays), so that they are one transaction. */
	const char **cols[10];
	for (size_t c = 0; c < 10; c++)
		cols[c] = xcalloc(n, sizeof(char *));
	int64_t *days = xcalloc(n, sizeof(*days)), *sessions = xcalloc(n, sizeof(*sessions));
	for (size_t i = 0; i < n; i++) {
		const struct queue_tlsrpt_row *r = &rows[i];
		days[i] = r->day;
		sessions[i] = (int64_t)r->sessions;
		const char *vals[10] = { r->domain, r->policy_type, r->policy, r->result, r->sending_ip,
			r->mx_host, r->mx_ip, r->mx_helo, r->detail, "" };
		for (size_t c = 0; c < 9; c++)
			cols[c][i] = vals[c] != NULL ? vals[c] : "";
	}
	char *a[11];
	a[0] = queue_pg_sql_int_array(days, n);
	for (size_t c = 0; c < 9; c++)
		a[c + 1] = queue_pg_sql_text_array(cols[c], n);
	a[10] = queue_pg_sql_int_array(sessions, n);
	const char *v[11];
	for (size_t c = 0; c < 11; c++)
		v[c] = a[c];
	PGresult *res = queue_pg_admin_exec(queue_pg_of(store), "INSERT INTO tlsrpt_results (day,"
	    " domain, policy_type, policy, result, sending_ip, mx_host, mx_ip, mx_helo, detail,"
	    " sessions) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
	    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[])"
	    " ON CONFLICT (day, domain, policy_type, policy, result, sending_ip, mx_host, mx_ip)"
	    " DO UPDATE SET sessions = tlsrpt_results.sessions + EXCLUDED.sessions,"
	    " mx_helo = EXCLUDED.mx_helo, detail = EXCLUDED.detail", 11, v, err, errlen);
	for (size_t c = 0; c < 11; c++)
		free(a[c]);
	for (size_t c = 0; c < 10; c++)
		free(cols[c]);
	free(days);
	free(sessions);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

long queue_pg_tlsrpt_list(struct queue_store *store, int64_t day_from, int64_t day_to,
    const char *domain, queue_tlsrpt_fn *fn, void *arg, char *err, size_t errlen)
{
	char from[24], to[24];
	snprintf(from, sizeof(from), "%" PRId64, day_from);
	snprintf(to, sizeof(to), "%" PRId64, day_to);
	const char *v[3] = { from, to, domain };
	PGresult *res = queue_pg_admin_exec(queue_pg_of(store), "SELECT day, domain, policy_type,"
	    " policy, result, sending_ip, mx_host, mx_ip, mx_helo, detail, sessions"
	    " FROM tlsrpt_results WHERE day >= $1::bigint AND day <= $2::bigint"
	    " AND ($3::text IS NULL OR domain = $3::text) ORDER BY day, domain, policy_type, policy,"
	    " result, mx_host, mx_ip, sending_ip", 3, v, err, errlen);
	if (res == NULL)
		return -1;
	long count = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		struct queue_tlsrpt_row r = {
			.day = queue_pg_sql_int(res, i, 0, 0), .domain = PQgetvalue(res, i, 1),
			.policy_type = PQgetvalue(res, i, 2), .policy = PQgetvalue(res, i, 3),
			.result = PQgetvalue(res, i, 4), .sending_ip = PQgetvalue(res, i, 5),
			.mx_host = PQgetvalue(res, i, 6), .mx_ip = PQgetvalue(res, i, 7),
			.mx_helo = PQgetvalue(res, i, 8), .detail = PQgetvalue(res, i, 9),
			.sessions = (uint64_t)queue_pg_sql_int(res, i, 10, 0),
		};
		count++;
		if (!fn(arg, &r))
			break;
	}
	PQclear(res);
	return count;
}

int queue_pg_tlsrpt_reported(struct queue_store *store, int64_t day, const char *domain,
    const char *report_id, const char *outcome, int64_t at, bool forget, char *err,
    size_t errlen)
{
	char d[24], t[24];
	snprintf(d, sizeof(d), "%" PRId64, day);
	snprintf(t, sizeof(t), "%" PRId64, at);
	const char *v[6] = { d, domain, report_id, t, outcome, forget ? "t" : "f" };
	PGresult *res = queue_pg_admin_exec(queue_pg_of(store), "WITH r AS (INSERT INTO"
	    " tlsrpt_reports (day, domain, report_id, sent_at, outcome) VALUES ($1::bigint, $2, $3,"
	    " $4::bigint, $5) ON CONFLICT (day, domain) DO UPDATE SET report_id = EXCLUDED.report_id,"
	    " sent_at = EXCLUDED.sent_at, outcome = EXCLUDED.outcome RETURNING 1)"
	    " DELETE FROM tlsrpt_results WHERE $6::boolean AND day = $1::bigint AND domain = $2",
	    6, v, err, errlen);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int queue_pg_tlsrpt_was_reported(struct queue_store *store, int64_t day, const char *domain,
    char *err, size_t errlen)
{
	char d[24];
	snprintf(d, sizeof(d), "%" PRId64, day);
	const char *v[2] = { d, domain };
	PGresult *res = queue_pg_admin_exec(queue_pg_of(store), "SELECT 1 FROM tlsrpt_reports"
	    " WHERE day = $1::bigint AND domain = $2", 2, v, err, errlen);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}

long queue_pg_tlsrpt_prune(struct queue_store *store, int64_t day, char *err, size_t errlen)
{
	char d[24];
	snprintf(d, sizeof(d), "%" PRId64, day);
	const char *v[1] = { d };
	PGresult *res = queue_pg_admin_exec(queue_pg_of(store), "WITH r AS (DELETE FROM"
	    " tlsrpt_reports WHERE day < $1::bigint) DELETE FROM tlsrpt_results"
	    " WHERE day < $1::bigint", 1, v, err, errlen);
	if (res == NULL)
		return -1;
	long n = (long)queue_pg_sql_int_of(PQcmdTuples(res));
	PQclear(res);
	return n;
}
