/*
 * test_queue_tls: the queue store's TLS policy state against a real store
 * in a temporary directory: MTA-STS policies saved, read back and
 * replaced; TLS results added (equal keys summed, in one transaction),
 * listed in order by day range and domain, marked reported (forgotten or
 * kept) and pruned. And the schema upgrade: a store of version 1 or 2,
 * with a message in it, opened by this program is at version 3, keeps its
 * message, has requiretls and tls_optional (0 for old mail, as written
 * for new) and the TLS tables; a newer version is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>

#include "tsupport.h"
#include <event2/event.h>
#include <sqlite3.h>

#include "queue/queue_store.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DAY 86400
#define D0 INT64_C(1704067200)	/* 2024-01-01T00:00:00Z */

/* A temporary queue directory on the real filesystem. */
struct fixture {
	char dir[128];
	struct event_base *base;
	struct queue_store *q;
};

static void rm_dir(const char *dir)
{
	tsupport_rm_tree(dir);
}

/* A fresh directory for a store; the store itself is opened by the caller. */
static struct fixture *fixture_new(void)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/mxrq-tls.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return NULL;
	}
	f->base = event_base_new();
	return f;
}

static void fixture_free(struct fixture *f)
{
	queue_store_close(f->q);
	event_base_free(f->base);
	rm_dir(f->dir);
	free(f);
}

static int setup(void **state)
{
	struct fixture *f = fixture_new();
	if (f == NULL)
		return -1;
	char err[256];
	f->q = queue_store_open(f->base, f->dir, err, sizeof(err));
	if (f->q == NULL) {
		fprintf(stderr, "open: %s\n", err);
		fixture_free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* ---- MTA-STS policies ---- */

static struct queue_sts_policy sts(const char *domain, const char *id, const char *policy,
    int64_t fetched, int64_t max_age)
{
	struct queue_sts_policy p;
	memset(&p, 0, sizeof(p));
	snprintf(p.domain, sizeof(p.domain), "%s", domain);
	snprintf(p.id, sizeof(p.id), "%s", id);
	snprintf(p.policy, sizeof(p.policy), "%s", policy);
	p.fetched = fetched;
	p.expires = fetched + max_age;
	return p;
}

/* Fail unless domain's stored policy is want (or, want NULL, there is none). */
static void want_sts(struct queue_store *q, const char *domain, const struct queue_sts_policy *want)
{
	struct queue_sts_policy got;
	memset(&got, 0x5a, sizeof(got));
	char err[256] = "";
	int rc = queue_sts_load(q, domain, &got, err, sizeof(err));
	if (rc != (want != NULL ? 1 : 0))
		fail_msg("%s: load got %d (%s), want %d", domain, rc, err, want != NULL ? 1 : 0);
	if (want == NULL)
		return;
	if (strcmp(got.domain, want->domain) != 0 || strcmp(got.id, want->id) != 0 ||
	    strcmp(got.policy, want->policy) != 0 || got.fetched != want->fetched ||
	    got.expires != want->expires)
		fail_msg("%s: got %s id=%s fetched=%lld expires=%lld policy=\"%s\", want %s id=%s "
		    "fetched=%lld expires=%lld policy=\"%s\"", domain, got.domain, got.id,
		    (long long)got.fetched, (long long)got.expires, got.policy, want->domain, want->id,
		    (long long)want->fetched, (long long)want->expires, want->policy);
}

static void test_sts_round_trip(void **state)
{
	struct fixture *f = *state;
	char err[256];
	want_sts(f->q, "example.test", NULL);

	/* The largest text a policy can have, and the longest id, come back whole. */
	char big[8192];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "version: STSv1\n", 15);
	struct queue_sts_policy a = sts("example.test", "20240101T000000Z",
	    "version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 86400\n", D0 + 5, 86400);
	struct queue_sts_policy b = sts("other.test", "0123456789abcdef0123456789abcdef", big,
	    D0 + 7, 31557600);
	assert_int_equal(queue_sts_save(f->q, &a, err, sizeof(err)), 0);
	assert_int_equal(queue_sts_save(f->q, &b, err, sizeof(err)), 0);
	want_sts(f->q, "example.test", &a);
	want_sts(f->q, "other.test", &b);
	want_sts(f->q, "third.test", NULL);

	/* A new policy replaces the domain's, and only the domain's. */
	struct queue_sts_policy a2 = sts("example.test", "20240102T000000Z",
	    "version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 604800\n", D0 + DAY,
	    604800);
	assert_int_equal(queue_sts_save(f->q, &a2, err, sizeof(err)), 0);
	want_sts(f->q, "example.test", &a2);
	want_sts(f->q, "other.test", &b);

	/* Kept across a restart (RFC 8461 5.1). */
	queue_store_close(f->q);
	f->q = queue_store_open(f->base, f->dir, err, sizeof(err));
	assert_non_null(f->q);
	want_sts(f->q, "example.test", &a2);
	want_sts(f->q, "other.test", &b);
}

/* ---- TLS results ---- */

/* One row as the store gives it back, its strings copied. */
struct got_row {
	int64_t day;
	char domain[64], policy_type[24], policy[128], result[48], sending_ip[64];
	char mx_host[64], mx_ip[64], mx_helo[64], detail[128];
	uint64_t sessions;
};

struct got_rows {
	struct got_row r[32];
	size_t n;
	size_t stop_after;	/* 0: take all */
};

static bool take_row(void *arg, const struct queue_tlsrpt_row *r)
{
	struct got_rows *g = arg;
	if (g->n < sizeof(g->r) / sizeof(g->r[0])) {
		struct got_row *w = &g->r[g->n];
		w->day = r->day;
		snprintf(w->domain, sizeof(w->domain), "%s", r->domain);
		snprintf(w->policy_type, sizeof(w->policy_type), "%s", r->policy_type);
		snprintf(w->policy, sizeof(w->policy), "%s", r->policy);
		snprintf(w->result, sizeof(w->result), "%s", r->result);
		snprintf(w->sending_ip, sizeof(w->sending_ip), "%s", r->sending_ip);
		snprintf(w->mx_host, sizeof(w->mx_host), "%s", r->mx_host);
		snprintf(w->mx_ip, sizeof(w->mx_ip), "%s", r->mx_ip);
		snprintf(w->mx_helo, sizeof(w->mx_helo), "%s", r->mx_helo);
		snprintf(w->detail, sizeof(w->detail), "%s", r->detail);
		w->sessions = r->sessions;
	}
	g->n++;
	return g->stop_after == 0 || g->n < g->stop_after;
}

/* A row to add: a success when result is "". */
static struct queue_tlsrpt_row row(int64_t day, const char *domain, const char *type,
    const char *result, const char *mx_host, const char *sip, uint64_t sessions)
{
	bool failed = result[0] != '\0';
	return (struct queue_tlsrpt_row){
		.day = day, .domain = domain, .policy_type = type,
		.policy = strcmp(type, "sts") == 0 ? "version: STSv1\nmode: enforce\n" : "",
		.result = result, .sending_ip = failed ? sip : "", .mx_host = mx_host,
		.mx_ip = failed ? "192.0.2.25" : "", .mx_helo = failed ? "mx.helo.test" : "",
		.detail = failed ? "certificate has expired" : "", .sessions = sessions,
	};
}

/* List [from, to] of domain into g; returns what list returned. */
static long list(struct queue_store *q, int64_t from, int64_t to, const char *domain,
    struct got_rows *g)
{
	char err[256] = "";
	size_t stop = g->stop_after;
	memset(g, 0, sizeof(*g));
	g->stop_after = stop;
	long n = queue_tlsrpt_list(q, from, to, domain, take_row, g, err, sizeof(err));
	if (n < 0)
		fail_msg("list: %s", err);
	return n;
}

/* A row as "day domain type result mx sip sessions", for comparing and messages. */
static void row_line(const struct got_row *r, char *out, size_t cap)
{
	snprintf(out, cap, "%lld %s %s %s %s %s %llu", (long long)((r->day - D0) / DAY), r->domain,
	    r->policy_type, r->result[0] != '\0' ? r->result : "-",
	    r->mx_host[0] != '\0' ? r->mx_host : "-", r->sending_ip[0] != '\0' ? r->sending_ip : "-",
	    (unsigned long long)r->sessions);
}

/* Fail unless g holds exactly the lines want[0..n), in order. */
static void want_lines(const char *what, const struct got_rows *g, const char *const *want,
    size_t n)
{
	if (g->n != n)
		fail_msg("%s: got %zu rows, want %zu", what, g->n, n);
	for (size_t i = 0; i < n; i++) {
		char line[256];
		row_line(&g->r[i], line, sizeof(line));
		if (strcmp(line, want[i]) != 0)
			fail_msg("%s: row %zu got \"%s\", want \"%s\"", what, i, line, want[i]);
	}
}

/* Equal keys are summed, in one batch and across batches; the latest detail is kept. */
static void test_tlsrpt_add(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct queue_tlsrpt_row rows[] = {
		row(D0, "a.test", "sts", "", "", "", 3),
		row(D0, "a.test", "sts", "", "", "", 4),
		row(D0, "a.test", "sts", "certificate-expired", "mx1.a.test", "198.51.100.1", 1),
		/* Another sending address is another failure row. */
		row(D0, "a.test", "sts", "certificate-expired", "mx1.a.test", "198.51.100.2", 1),
	};
	assert_int_equal(queue_tlsrpt_add(f->q, rows, 4, err, sizeof(err)), 0);
	rows[2].detail = "certificate has expired, again";
	rows[2].mx_helo = "mx1.helo.test";
	rows[2].sessions = 5;
	assert_int_equal(queue_tlsrpt_add(f->q, &rows[2], 1, err, sizeof(err)), 0);
	/* Nothing to add is no error. */
	assert_int_equal(queue_tlsrpt_add(f->q, rows, 0, err, sizeof(err)), 0);

	struct got_rows g = { 0 };
	assert_int_equal(list(f->q, D0, D0, NULL, &g), 3);
	static const char *const want[] = {
		"0 a.test sts - - - 7",
		"0 a.test sts certificate-expired mx1.a.test 198.51.100.1 6",
		"0 a.test sts certificate-expired mx1.a.test 198.51.100.2 1",
	};
	want_lines("after two adds", &g, want, 3);
	if (strcmp(g.r[1].detail, "certificate has expired, again") != 0 ||
	    strcmp(g.r[1].mx_helo, "mx1.helo.test") != 0 || strcmp(g.r[1].mx_ip, "192.0.2.25") != 0)
		fail_msg("summed row: got detail \"%s\" helo \"%s\" ip \"%s\", want the latest",
		    g.r[1].detail, g.r[1].mx_helo, g.r[1].mx_ip);
	if (strcmp(g.r[0].policy, "version: STSv1\nmode: enforce\n") != 0)
		fail_msg("policy text: got \"%s\"", g.r[0].policy);

	/* A batch with a bad row is not stored at all. */
	struct queue_tlsrpt_row bad[] = {
		row(D0, "a.test", "sts", "", "", "", 100),
		row(D0, NULL, "sts", "", "", "", 1),
	};
	if (queue_tlsrpt_add(f->q, bad, 2, err, sizeof(err)) != -1)
		fail_msg("a row without a domain: got stored, want -1");
	assert_int_equal(list(f->q, D0, D0, NULL, &g), 3);
	want_lines("after a refused batch", &g, want, 3);
}

/* Listed by day, domain, policy type, policy, result, MX, address; a range and a domain filter. */
static void test_tlsrpt_list(void **state)
{
	struct fixture *f = *state;
	char err[256];
	/* Added out of order. */
	struct queue_tlsrpt_row rows[] = {
		row(D0 + 2 * DAY, "a.test", "sts", "", "", "", 1),
		row(D0 + DAY, "b.test", "tlsa", "", "mx.b.test", "", 2),
		row(D0 + DAY, "a.test", "tlsa", "validation-failure", "mx2.a.test", "198.51.100.1", 3),
		row(D0 + DAY, "a.test", "tlsa", "validation-failure", "mx1.a.test", "198.51.100.1", 4),
		row(D0 + DAY, "a.test", "no-policy-found", "", "", "", 5),
		row(D0 + DAY, "a.test", "tlsa", "", "mx1.a.test", "", 6),
		row(D0, "b.test", "sts", "", "", "", 7),
		row(D0 + DAY, "a.test", "tlsa", "dnssec-invalid", "mx1.a.test", "198.51.100.1", 8),
	};
	assert_int_equal(queue_tlsrpt_add(f->q, rows, 8, err, sizeof(err)), 0);
	static const char *const all[] = {
		"0 b.test sts - - - 7",
		"1 a.test no-policy-found - - - 5",
		"1 a.test tlsa - mx1.a.test - 6",
		"1 a.test tlsa dnssec-invalid mx1.a.test 198.51.100.1 8",
		"1 a.test tlsa validation-failure mx1.a.test 198.51.100.1 4",
		"1 a.test tlsa validation-failure mx2.a.test 198.51.100.1 3",
		"1 b.test tlsa - mx.b.test - 2",
		"2 a.test sts - - - 1",
	};
	static const struct {
		const char *what;
		int64_t from, to;
		const char *domain;
		size_t first, n;	/* the expected rows: all[first..first+n) */
	} cases[] = {
		{ "every day", D0 - DAY, D0 + 3 * DAY, NULL, 0, 8 },
		{ "day 1 only", D0 + DAY, D0 + DAY, NULL, 1, 6 },
		{ "days 0..1", D0, D0 + DAY, NULL, 0, 7 },
		{ "days 1..2, b.test", D0 + DAY, D0 + 2 * DAY, "b.test", 6, 1 },
		{ "day 2, a.test", D0 + 2 * DAY, D0 + 2 * DAY, "a.test", 7, 1 },
		{ "day 0, a.test", D0, D0, "a.test", 0, 0 },
		{ "day 3", D0 + 3 * DAY, D0 + 3 * DAY, NULL, 0, 0 },
		{ "an empty range", D0 + DAY, D0, NULL, 0, 0 },
		{ "no such domain", D0, D0 + 3 * DAY, "c.test", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct got_rows g = { 0 };
		long n = list(f->q, cases[i].from, cases[i].to, cases[i].domain, &g);
		if (n != (long)cases[i].n)
			fail_msg("%s: list returned %ld, want %zu", cases[i].what, n, cases[i].n);
		want_lines(cases[i].what, &g, all + cases[i].first, cases[i].n);
	}
	/* Day 1 of a.test alone, as a report takes it: rows 1..5. */
	struct got_rows g = { 0 };
	assert_int_equal(list(f->q, D0 + DAY, D0 + DAY, "a.test", &g), 5);
	want_lines("day 1, a.test", &g, all + 1, 5);
	/* The callback stops the listing. */
	g.stop_after = 2;
	long n = list(f->q, D0 - DAY, D0 + 3 * DAY, NULL, &g);
	if (n != 2 || g.n != 2)
		fail_msg("stopped after 2: list returned %ld with %zu calls, want 2 and 2", n, g.n);
}

/* The outcome and id kept for day and domain, straight from the database. */
static void report_record(const char *dir, int64_t day, const char *domain, char *out,
    size_t cap)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT report_id, outcome, sent_at FROM "
	    "tlsrpt_reports WHERE day = ?1 AND domain = ?2", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, day);
	sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, cap, "%s %s %lld", (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1), (long long)sqlite3_column_int64(st, 2));
	else
		snprintf(out, cap, "none");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_tlsrpt_reported(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct queue_tlsrpt_row rows[] = {
		row(D0, "a.test", "sts", "", "", "", 1),
		row(D0, "b.test", "sts", "", "", "", 2),
		row(D0 + DAY, "a.test", "sts", "", "", "", 3),
	};
	assert_int_equal(queue_tlsrpt_add(f->q, rows, 3, err, sizeof(err)), 0);
	assert_int_equal(queue_tlsrpt_was_reported(f->q, D0, "a.test", err, sizeof(err)), 0);

	/* Sent: remembered, and that day's rows of that domain only are dropped. */
	assert_int_equal(queue_tlsrpt_reported(f->q, D0, "a.test", "r1@mx.test", "sent",
	    D0 + DAY + 60, true, err, sizeof(err)), 0);
	assert_int_equal(queue_tlsrpt_was_reported(f->q, D0, "a.test", err, sizeof(err)), 1);
	assert_int_equal(queue_tlsrpt_was_reported(f->q, D0, "b.test", err, sizeof(err)), 0);
	assert_int_equal(queue_tlsrpt_was_reported(f->q, D0 + DAY, "a.test", err, sizeof(err)), 0);
	struct got_rows g = { 0 };
	static const char *const left[] = { "0 b.test sts - - - 2", "1 a.test sts - - - 3" };
	list(f->q, D0 - DAY, D0 + 2 * DAY, NULL, &g);
	want_lines("after a.test's report of day 0", &g, left, 2);
	char rec[256];
	report_record(f->dir, D0, "a.test", rec, sizeof(rec));
	char want_rec[256];
	snprintf(want_rec, sizeof(want_rec), "r1@mx.test sent %lld", (long long)(D0 + DAY + 60));
	if (strcmp(rec, want_rec) != 0)
		fail_msg("report record: got \"%s\", want \"%s\"", rec, want_rec);

	/* Not forgotten: the record is kept, and the rows too (to be sent again). */
	assert_int_equal(queue_tlsrpt_reported(f->q, D0, "b.test", "r2@mx.test",
	    "not sent: 451 try later", D0 + DAY + 120, false, err, sizeof(err)), 0);
	assert_int_equal(queue_tlsrpt_was_reported(f->q, D0, "b.test", err, sizeof(err)), 1);
	list(f->q, D0 - DAY, D0 + 2 * DAY, NULL, &g);
	want_lines("after b.test's report, kept", &g, left, 2);
	report_record(f->dir, D0, "b.test", rec, sizeof(rec));
	if (strncmp(rec, "r2@mx.test not sent: 451 try later ", 35) != 0)
		fail_msg("report record: got \"%s\", want r2's", rec);

	/* Reported again: the record is replaced. */
	assert_int_equal(queue_tlsrpt_reported(f->q, D0, "b.test", "r3@mx.test", "sent",
	    D0 + DAY + 180, true, err, sizeof(err)), 0);
	report_record(f->dir, D0, "b.test", rec, sizeof(rec));
	snprintf(want_rec, sizeof(want_rec), "r3@mx.test sent %lld", (long long)(D0 + DAY + 180));
	if (strcmp(rec, want_rec) != 0)
		fail_msg("report record again: got \"%s\", want \"%s\"", rec, want_rec);
	static const char *const last[] = { "1 a.test sts - - - 3" };
	list(f->q, D0 - DAY, D0 + 2 * DAY, NULL, &g);
	want_lines("after b.test's second report", &g, last, 1);
}

static void test_tlsrpt_prune(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct queue_tlsrpt_row rows[] = {
		row(D0, "a.test", "sts", "", "", "", 1),
		row(D0, "a.test", "sts", "validation-failure", "mx.a.test", "198.51.100.1", 1),
		row(D0 + DAY, "a.test", "sts", "", "", "", 2),
		row(D0 + 2 * DAY, "b.test", "sts", "", "", "", 3),
	};
	assert_int_equal(queue_tlsrpt_add(f->q, rows, 4, err, sizeof(err)), 0);
	assert_int_equal(queue_tlsrpt_reported(f->q, D0, "b.test", "r0", "sent", D0, false, err,
	    sizeof(err)), 0);
	assert_int_equal(queue_tlsrpt_reported(f->q, D0 + DAY, "a.test", "r1", "sent", D0, false,
	    err, sizeof(err)), 0);

	/* Days before D0: nothing. */
	assert_int_equal(queue_tlsrpt_prune(f->q, D0, err, sizeof(err)), 0);
	/* Days before D0 + 2: two rows of day 0, one of day 1; their report records too. */
	long n = queue_tlsrpt_prune(f->q, D0 + 2 * DAY, err, sizeof(err));
	if (n != 3)
		fail_msg("prune before day 2: got %ld rows dropped, want 3", n);
	assert_int_equal(queue_tlsrpt_was_reported(f->q, D0, "b.test", err, sizeof(err)), 0);
	assert_int_equal(queue_tlsrpt_was_reported(f->q, D0 + DAY, "a.test", err, sizeof(err)), 0);
	struct got_rows g = { 0 };
	static const char *const left[] = { "2 b.test sts - - - 3" };
	list(f->q, D0 - DAY, D0 + 3 * DAY, NULL, &g);
	want_lines("after the prune", &g, left, 1);
	assert_int_equal(queue_tlsrpt_prune(f->q, D0 + 2 * DAY, err, sizeof(err)), 0);
}

/* ---- the schema upgrade ---- */

/* The messages table of version 1 (before body_file) and of version 2. */
#define MESSAGES_HEAD \
    "CREATE TABLE IF NOT EXISTS messages (" \
    " id TEXT PRIMARY KEY NOT NULL," \
    " sender TEXT NOT NULL," \
    " envid TEXT," \
    " ret INTEGER NOT NULL DEFAULT 0," \
    " smtputf8 INTEGER NOT NULL DEFAULT 0," \
    " body_8bit INTEGER NOT NULL DEFAULT 0," \
    " client_ip TEXT," \
    " client_helo TEXT," \
    " auth_user TEXT," \
    " protocol TEXT," \
    " received_at INTEGER NOT NULL," \
    " size INTEGER NOT NULL," \
    " held INTEGER NOT NULL DEFAULT 0"
#define MESSAGES_V1 MESSAGES_HEAD ");"
#define MESSAGES_V2 MESSAGES_HEAD ", body_file INTEGER NOT NULL DEFAULT 0);"
#define MESSAGES_V3 MESSAGES_HEAD ", body_file INTEGER NOT NULL DEFAULT 0," \
    " requiretls INTEGER NOT NULL DEFAULT 0, tls_optional INTEGER NOT NULL DEFAULT 0);"

/* The rest of the schema, as versions 1 and 2 had it (git show 5df6af3~1). */
#define TABLES_V2 \
    "CREATE TABLE IF NOT EXISTS recipients (" \
    " id INTEGER PRIMARY KEY," \
    " msg_id TEXT NOT NULL," \
    " address TEXT NOT NULL," \
    " domain TEXT NOT NULL," \
    " orcpt TEXT," \
    " notify INTEGER NOT NULL DEFAULT 0," \
    " state TEXT NOT NULL DEFAULT 'pending'," \
    " tries INTEGER NOT NULL DEFAULT 0," \
    " next_try INTEGER NOT NULL," \
    " first_fail INTEGER NOT NULL DEFAULT 0," \
    " last_code INTEGER NOT NULL DEFAULT 0," \
    " last_esc TEXT," \
    " last_reply TEXT," \
    " last_mx TEXT," \
    " updated_at INTEGER NOT NULL);" \
    "CREATE INDEX IF NOT EXISTS recipients_due ON recipients(state, next_try);" \
    "CREATE INDEX IF NOT EXISTS recipients_domain ON recipients(domain);" \
    "CREATE INDEX IF NOT EXISTS recipients_msg ON recipients(msg_id);" \
    "CREATE TABLE IF NOT EXISTS history (" \
    " rcpt_id INTEGER NOT NULL," \
    " at INTEGER NOT NULL," \
    " status TEXT NOT NULL," \
    " code INTEGER NOT NULL DEFAULT 0," \
    " esc TEXT," \
    " reply TEXT," \
    " mx TEXT);" \
    "CREATE INDEX IF NOT EXISTS history_rcpt ON history(rcpt_id);" \
    "CREATE TABLE IF NOT EXISTS body (" \
    " msg_id TEXT NOT NULL," \
    " seq INTEGER NOT NULL," \
    " data BLOB NOT NULL," \
    " PRIMARY KEY (msg_id, seq));"

/* The TLS policy tables version 3 brought. */
#define TABLES_V3 TABLES_V2 \
    "CREATE TABLE IF NOT EXISTS sts_policies (domain TEXT PRIMARY KEY NOT NULL," \
    " id TEXT NOT NULL, policy TEXT NOT NULL, fetched INTEGER NOT NULL," \
    " expires INTEGER NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS tlsrpt_results (day INTEGER NOT NULL, domain TEXT NOT NULL," \
    " policy_type TEXT NOT NULL, policy TEXT NOT NULL DEFAULT '', result TEXT NOT NULL" \
    " DEFAULT '', sending_ip TEXT NOT NULL DEFAULT '', mx_host TEXT NOT NULL DEFAULT ''," \
    " mx_ip TEXT NOT NULL DEFAULT '', mx_helo TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL" \
    " DEFAULT '', sessions INTEGER NOT NULL, PRIMARY KEY (day, domain, policy_type, policy," \
    " result, sending_ip, mx_host, mx_ip));" \
    "CREATE TABLE IF NOT EXISTS tlsrpt_reports (day INTEGER NOT NULL, domain TEXT NOT NULL," \
    " report_id TEXT NOT NULL, sent_at INTEGER NOT NULL, outcome TEXT NOT NULL," \
    " PRIMARY KEY (day, domain));"

#define OLD_BODY "Subject: old\r\n\r\nkept across the upgrade\r\n"

/* Write an old store into dir: schema, one message to one recipient, user_version. */
static void write_old_store(const char *dir, const char *schema, int version, const char *id,
    int64_t received)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *sqlerr = NULL;
	char sql[4096];
	snprintf(sql, sizeof(sql),
	    "PRAGMA auto_vacuum = INCREMENTAL;%s"
	    "INSERT INTO messages(id, sender, envid, ret, smtputf8, body_8bit, client_ip, "
	    " client_helo, auth_user, protocol, received_at, size) VALUES ('%s', "
	    " 'old@sender.test', 'env-old', 2, 0, 1, '192.0.2.9', 'old.test', NULL, 'ESMTP', "
	    " %lld, %zu);"
	    "INSERT INTO recipients(msg_id, address, domain, next_try, updated_at) VALUES "
	    " ('%s', 'bob@Old.Test', 'old.test', %lld, %lld);"
	    "INSERT INTO body(msg_id, seq, data) VALUES ('%s', 0, CAST('%s' AS BLOB));"
	    "PRAGMA user_version = %d;",
	    schema, id, (long long)received, strlen(OLD_BODY), id, (long long)received,
	    (long long)received, id, OLD_BODY, version);
	if (sqlite3_exec(db, sql, NULL, NULL, &sqlerr) != SQLITE_OK)
		fail_msg("version %d store: %s", version, sqlerr);
	sqlite3_close(db);
}

/* PRAGMA user_version, and the requiretls and tls_optional of id ("" when no such columns). */
static int read_version(const char *dir, const char *id, char *cols, size_t cap)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	snprintf(cols, cap, "%s", "");
	if (sqlite3_prepare_v2(db, "SELECT requiretls, tls_optional FROM messages WHERE id = ?1",
	    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(cols, cap, "%d %d", sqlite3_column_int(st, 0),
			    sqlite3_column_int(st, 1));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void on_commit(void *arg, bool ok, const char *err)
{
	int *r = arg;
	*r = ok ? 1 : -1;
	if (!ok)
		fprintf(stderr, "commit: %s\n", err != NULL ? err : "(null)");
}

/* Commit a message with REQUIRETLS and TLS-Required: No to the open store; its id. */
static void put_tls_message(struct fixture *f, char id[QUEUE_ID_LEN + 1])
{
	static const struct queue_rcpt_in rc = { "carol@new.test", 0, NULL };
	struct queue_envelope e = {
		.sender = "new@sender.test", .ret = MXR_RET_FULL, .requiretls = true,
		.tls_optional = true, .client_ip = "127.0.0.1", .client_helo = "new.test",
		.protocol = "ESMTPS", .received_at = time(NULL), .rcpts = &rc, .nrcpts = 1,
	};
	struct queue_writer *w = queue_writer_new(f->q);
	snprintf(id, QUEUE_ID_LEN + 1, "%s", queue_writer_id(w));
	assert_int_equal(queue_writer_append(w, "Subject: new\r\n\r\nx\r\n", 19), 0);
	int done = 0;
	queue_writer_commit(w, &e, on_commit, &done);
	while (done == 0)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(done, 1);
}

/* Read the whole body of id. */
static void want_body(struct queue_store *q, const char *id, const char *want)
{
	struct mxr_source src;
	char err[256];
	struct queue_body *b = queue_body_open(q, id, &src, err, sizeof(err));
	if (b == NULL)
		fail_msg("body of %s: %s", id, err);
	char buf[256];
	ssize_t n = src.read_at(src.arg, 0, buf, sizeof(buf) - 1);
	queue_body_close(b);
	if (n < 0 || (size_t)n != strlen(want) || memcmp(buf, want, (size_t)n) != 0)
		fail_msg("body of %s: got %zd octets, want \"%s\"", id, n, want);
}

static void test_upgrade(void **state)
{
	(void)state;
	static const struct {
		int version;
		const char *schema;
	} rows[] = {
		{ 3, MESSAGES_V3 TABLES_V3 },
		{ 2, MESSAGES_V2 TABLES_V2 },
		{ 1, MESSAGES_V1 TABLES_V2 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fixture *f = fixture_new();
		assert_non_null(f);
		char old[QUEUE_ID_LEN + 1];
		queue_id_new(old);
		int64_t received = (int64_t)time(NULL) - 3600;
		write_old_store(f->dir, rows[i].schema, rows[i].version, old, received);
		char cols[32];
		int v = read_version(f->dir, old, cols, sizeof(cols));
		if (v != rows[i].version || (cols[0] != '\0') != (v >= 3))
			fail_msg("version %d before: got version %d, columns \"%s\", want none",
			    rows[i].version, v, cols);

		char err[256] = "";
		f->q = queue_store_open(f->base, f->dir, err, sizeof(err));
		if (f->q == NULL)
			fail_msg("version %d: open: %s", rows[i].version, err);
		v = read_version(f->dir, old, cols, sizeof(cols));
		if (v != 4 || strcmp(cols, "0 0") != 0)
			fail_msg("version %d after: got version %d, requiretls tls_optional \"%s\", "
			    "want 4 and \"0 0\"", rows[i].version, v, cols);

		/* The old message is all there. */
		struct queue_msg m;
		struct queue_rcpt *r = NULL;
		size_t nr = 0;
		assert_int_equal(queue_query_message(f->q, old, &m, &r, &nr, true, err, sizeof(err)), 1);
		if (strcmp(m.sender, "old@sender.test") != 0 || m.requiretls || m.tls_optional ||
		    m.ret != MXR_RET_HDRS || !m.body_8bit || m.received_at != received ||
		    nr != 1 || strcmp(r[0].address, "bob@Old.Test") != 0)
			fail_msg("version %d: old message got sender %s requiretls %d tls_optional %d "
			    "ret %d rcpts %zu", rows[i].version, m.sender, m.requiretls, m.tls_optional,
			    (int)m.ret, nr);
		queue_query_rcpts_free(r, nr);
		queue_query_msg_clear(&m);
		want_body(f->q, old, OLD_BODY);

		/* New mail keeps its REQUIRETLS and TLS-Required: No. */
		char id[QUEUE_ID_LEN + 1];
		put_tls_message(f, id);
		assert_int_equal(queue_query_message(f->q, id, &m, &r, &nr, false, err, sizeof(err)), 1);
		if (!m.requiretls || !m.tls_optional)
			fail_msg("version %d: new message got requiretls %d tls_optional %d, want 1 1",
			    rows[i].version, m.requiretls, m.tls_optional);
		queue_query_rcpts_free(r, nr);
		queue_query_msg_clear(&m);

		/* The TLS tables work. */
		struct queue_sts_policy p = sts("old.test", "id1", "version: STSv1\nmode: none\n"
		    "max_age: 60\n", received, 60);
		assert_int_equal(queue_sts_save(f->q, &p, err, sizeof(err)), 0);
		want_sts(f->q, "old.test", &p);
		struct queue_tlsrpt_row tr = row(D0, "old.test", "sts", "", "", "", 2);
		assert_int_equal(queue_tlsrpt_add(f->q, &tr, 1, err, sizeof(err)), 0);
		assert_int_equal(queue_tlsrpt_add(f->q, &tr, 1, err, sizeof(err)), 0);
		struct got_rows g = { 0 };
		static const char *const want[] = { "0 old.test sts - - - 4" };
		list(f->q, D0, D0, "old.test", &g);
		want_lines("upgraded store", &g, want, 1);
		assert_int_equal(queue_tlsrpt_reported(f->q, D0, "old.test", "r", "sent", D0, true,
		    err, sizeof(err)), 0);
		assert_int_equal(queue_tlsrpt_was_reported(f->q, D0, "old.test", err, sizeof(err)), 1);

		/* Opened again: already at 4, nothing lost. */
		queue_store_close(f->q);
		f->q = queue_store_open(f->base, f->dir, err, sizeof(err));
		assert_non_null(f->q);
		want_sts(f->q, "old.test", &p);
		want_body(f->q, old, OLD_BODY);
		fixture_free(f);
	}
}

/* A store of a newer program is not opened (nor changed). */
static void test_newer_refused(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	assert_non_null(f);
	char old[QUEUE_ID_LEN + 1];
	queue_id_new(old);
	write_old_store(f->dir, MESSAGES_V2 TABLES_V2, 5, old, 1000);
	char err[256] = "";
	f->q = queue_store_open(f->base, f->dir, err, sizeof(err));
	if (f->q != NULL)
		fail_msg("version 5: got opened, want refused");
	if (strstr(err, "queue schema version 5 is newer than this program's 4") == NULL)
		fail_msg("version 5: got \"%s\", want the versions named", err);
	char cols[32];
	int v = read_version(f->dir, old, cols, sizeof(cols));
	if (v != 5 || cols[0] != '\0')
		fail_msg("version 5 after: got version %d, columns \"%s\", want 5 and none", v, cols);
	fixture_free(f);
}

int main(void)
{
	log_init("test_queue_tls", LOG_LVL_WARN, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sts_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlsrpt_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlsrpt_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlsrpt_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlsrpt_prune, setup, teardown),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_newer_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
