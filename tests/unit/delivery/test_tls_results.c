/*
 * test_tls_results: what the engine's TLS policies met, counted in memory
 * and stored through a real SQLite queue store in a temporary directory:
 * successes one row per policy (per host too for a TLSA policy, whose
 * records are one host's), failures one row per result, MX host, MX
 * address and sending address; a flush writes rows the store lists back
 * with summed sessions, a second flush adds to them, a failed flush keeps
 * the counts for the next; days split at 00:00 UTC; the key cap stores at
 * once; the policy type names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>

#include "queue/queue_side.h"
#include "queue/queue_store.h"
#include "tls_results.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DAY 86400
#define D0 INT64_C(1704067200)	/* 2024-01-01T00:00:00Z */

#define STS_TEXT "version: STSv1\nmode: enforce\nmx: *.a.test\nmax_age: 86400\n"
#define TLSA1 "_25._tcp.mx1.a.test. IN TLSA 3 1 1 aa\n"
#define TLSA2 "_25._tcp.mx2.a.test. IN TLSA 3 1 1 bb\n"

struct fixture {
	char dir[128];
	struct event_base *base;
	struct queue_store *q;
	struct tls_results *t;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/mxr-tlsres.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->base = event_base_new();
	char err[256];
	f->q = queue_store_open(f->base, f->dir, err, sizeof(err));
	if (f->q == NULL) {
		fprintf(stderr, "open: %s\n", err);
		return -1;
	}
	f->t = tls_results_new(f->base, f->q, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tls_results_free(f->t);
	queue_store_close(f->q);
	event_base_free(f->base);
	static const char *const names[] = { "queue.db", "queue.db-wal", "queue.db-shm",
		"reserve", "bodies" };
	char p[256];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		if (unlink(p) != 0)
			rmdir(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* One attempt as the engine's observer reports it. */
static struct mxr_tls_report rep(const char *domain, enum mxr_tls_report_policy policy,
    const char *text, const char *mx, const char *ip, const char *sip, const char *result,
    const char *detail)
{
	return (struct mxr_tls_report){
		.policy_domain = domain, .policy = policy, .policy_text = text, .mx_host = mx,
		.mx_ip = ip, .mx_helo = mx != NULL ? "helo.test" : NULL, .source_ip = sip,
		.result_type = result, .detail = detail,
	};
}

/* The rows of the store, one line each: "day domain type result mx mx_ip sip sessions". */
struct lines {
	char l[64][300];
	char detail[64][200];
	char helo[64][64];
	char policy[64][128];
	size_t n;
};

static bool take(void *arg, const struct queue_tlsrpt_row *r)
{
	struct lines *g = arg;
	if (g->n >= 64)
		return false;
	snprintf(g->l[g->n], sizeof(g->l[0]), "%lld %s %s %s %s %s %s %llu",
	    (long long)((r->day - D0) / DAY), r->domain, r->policy_type,
	    r->result[0] != '\0' ? r->result : "-", r->mx_host[0] != '\0' ? r->mx_host : "-",
	    r->mx_ip[0] != '\0' ? r->mx_ip : "-", r->sending_ip[0] != '\0' ? r->sending_ip : "-",
	    (unsigned long long)r->sessions);
	snprintf(g->detail[g->n], sizeof(g->detail[0]), "%s", r->detail);
	snprintf(g->helo[g->n], sizeof(g->helo[0]), "%s", r->mx_helo);
	snprintf(g->policy[g->n], sizeof(g->policy[0]), "%s", r->policy);
	g->n++;
	return true;
}

/* What the store holds for days [from, to]; fails the test on an error. */
static void stored(struct queue_store *q, int64_t from, int64_t to, struct lines *g)
{
	char err[256];
	memset(g, 0, sizeof(*g));
	if (queue_tlsrpt_list(q, from, to, NULL, take, g, err, sizeof(err)) < 0)
		fail_msg("list: %s", err);
}

static void want_lines(const char *what, const struct lines *g, const char *const *want,
    size_t n)
{
	for (size_t i = 0; i < g->n || i < n; i++) {
		const char *got = i < g->n ? g->l[i] : "(none)";
		const char *w = i < n ? want[i] : "(none)";
		if (strcmp(got, w) != 0)
			fail_msg("%s: row %zu got \"%s\", want \"%s\"", what, i, got, w);
	}
}

/* The attempts of one day, and the rows they make. */
static void count_day(struct tls_results *t, int64_t now)
{
	const struct mxr_tls_report reps[] = {
		/* An STS success counts per policy: the host and the addresses go. */
		rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test", "192.0.2.1", "198.51.100.1",
		    NULL, NULL),
		rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx2.a.test", "192.0.2.2", "198.51.100.2",
		    NULL, NULL),
		/* A TLSA policy is one host's records: per host, still not per address. */
		rep("a.test", MXR_TLSRPT_TLSA, TLSA1, "mx1.a.test", "192.0.2.1", "198.51.100.1", NULL,
		    NULL),
		rep("a.test", MXR_TLSRPT_TLSA, TLSA1, "mx1.a.test", "2001:db8::1", "2001:db8::99",
		    NULL, NULL),
		rep("a.test", MXR_TLSRPT_TLSA, TLSA2, "mx2.a.test", "192.0.2.2", "198.51.100.1", NULL,
		    NULL),
		/* No policy: per domain. */
		rep("b.test", MXR_TLSRPT_NO_POLICY, NULL, "mx.b.test", "192.0.2.3", "198.51.100.1",
		    NULL, NULL),
		rep("b.test", MXR_TLSRPT_NO_POLICY, NULL, "mx2.b.test", "192.0.2.4", NULL, NULL,
		    NULL),
		/* Failures: per result, MX host, MX address and sending address. */
		rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test", "192.0.2.1", "198.51.100.1",
		    "certificate-expired", "first"),
		rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test", "192.0.2.1", "198.51.100.1",
		    "certificate-expired", "second\n\"quoted\""),
		rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test", "192.0.2.9", "198.51.100.1",
		    "certificate-expired", "other MX address"),
		rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test", "192.0.2.1", "198.51.100.2",
		    "certificate-expired", "other sending address"),
		rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test", "192.0.2.1", "198.51.100.1",
		    "starttls-not-supported", NULL),
		rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx3.a.test", NULL, NULL,
		    "validation-failure", "not among the MX hosts"),
	};
	for (size_t i = 0; i < sizeof(reps) / sizeof(reps[0]); i++)
		tls_results_count(t, &reps[i], now);
}

static const char *const day_rows[] = {
	"0 a.test sts - - - - 2",
	"0 a.test sts certificate-expired mx1.a.test 192.0.2.1 198.51.100.1 2",
	"0 a.test sts certificate-expired mx1.a.test 192.0.2.1 198.51.100.2 1",
	"0 a.test sts certificate-expired mx1.a.test 192.0.2.9 198.51.100.1 1",
	"0 a.test sts starttls-not-supported mx1.a.test 192.0.2.1 198.51.100.1 1",
	"0 a.test sts validation-failure mx3.a.test - - 1",
	"0 a.test tlsa - mx1.a.test - - 2",
	"0 a.test tlsa - mx2.a.test - - 1",
	"0 b.test no-policy-found - - - - 2",
};
#define NDAY (sizeof(day_rows) / sizeof(day_rows[0]))

static void test_grouping(void **state)
{
	struct fixture *f = *state;
	count_day(f->t, D0 + 3600);
	struct lines g;
	stored(f->q, D0, D0, &g);
	if (g.n != 0)
		fail_msg("before the flush: got %zu rows stored, want 0", g.n);
	assert_int_equal(tls_results_flush(f->t), 0);
	stored(f->q, D0, D0, &g);
	want_lines("one day", &g, day_rows, NDAY);
	/* The last detail and greeting of a failure are kept, made printable (not escaped). */
	if (strcmp(g.detail[1], "second?\"quoted\"") != 0 || strcmp(g.helo[1], "helo.test") != 0)
		fail_msg("failure row: got detail \"%s\" helo \"%s\", want the second, printable",
		    g.detail[1], g.helo[1]);
	if (strcmp(g.detail[4], "") != 0)
		fail_msg("failure without a detail: got \"%s\", want \"\"", g.detail[4]);
	/* A success says nothing of a host; each policy keeps its text. */
	if (strcmp(g.detail[0], "") != 0 || strcmp(g.helo[0], "") != 0 ||
	    strcmp(g.policy[0], STS_TEXT) != 0 || strcmp(g.policy[6], TLSA1) != 0 ||
	    strcmp(g.policy[7], TLSA2) != 0 || strcmp(g.policy[8], "") != 0)
		fail_msg("success rows: got detail \"%s\" helo \"%s\" policies \"%s\" \"%s\" \"%s\" "
		    "\"%s\"", g.detail[0], g.helo[0], g.policy[0], g.policy[6], g.policy[7],
		    g.policy[8]);
	/* Nothing counted: a flush stores nothing. */
	assert_int_equal(tls_results_flush(f->t), 0);
	stored(f->q, D0, D0, &g);
	want_lines("after an empty flush", &g, day_rows, NDAY);
}

/* A second flush adds to the rows of the first. */
static void test_second_flush(void **state)
{
	struct fixture *f = *state;
	count_day(f->t, D0 + 60);
	assert_int_equal(tls_results_flush(f->t), 0);
	count_day(f->t, D0 + 7200);
	const struct mxr_tls_report one = rep("b.test", MXR_TLSRPT_NO_POLICY, NULL, "mx.b.test",
	    "192.0.2.3", "198.51.100.1", NULL, NULL);
	tls_results_count(f->t, &one, D0 + DAY - 1);
	assert_int_equal(tls_results_flush(f->t), 0);
	static const char *const want[] = {
		"0 a.test sts - - - - 4",
		"0 a.test sts certificate-expired mx1.a.test 192.0.2.1 198.51.100.1 4",
		"0 a.test sts certificate-expired mx1.a.test 192.0.2.1 198.51.100.2 2",
		"0 a.test sts certificate-expired mx1.a.test 192.0.2.9 198.51.100.1 2",
		"0 a.test sts starttls-not-supported mx1.a.test 192.0.2.1 198.51.100.1 2",
		"0 a.test sts validation-failure mx3.a.test - - 2",
		"0 a.test tlsa - mx1.a.test - - 4",
		"0 a.test tlsa - mx2.a.test - - 2",
		"0 b.test no-policy-found - - - - 5",
	};
	struct lines g;
	stored(f->q, D0, D0, &g);
	want_lines("two flushes", &g, want, sizeof(want) / sizeof(want[0]));
}

/* Days split at 00:00 UTC; the same attempt on two days is two rows. */
static void test_days(void **state)
{
	struct fixture *f = *state;
	static const int64_t times[] = { D0 - 1, D0, D0 + DAY - 1, D0 + DAY, D0 + DAY + 1,
		D0 + 40 * DAY + 43200 };
	const struct mxr_tls_report r = rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test",
	    "192.0.2.1", "198.51.100.1", NULL, NULL);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		tls_results_count(f->t, &r, times[i]);
	/* Freeing stores what is counted. */
	tls_results_free(f->t);
	f->t = tls_results_new(f->base, f->q, NULL);
	static const char *const want[] = {
		"-1 a.test sts - - - - 1",
		"0 a.test sts - - - - 2",
		"1 a.test sts - - - - 2",
		"40 a.test sts - - - - 1",
	};
	struct lines g;
	stored(f->q, D0 - DAY, D0 + 40 * DAY, &g);
	want_lines("four days", &g, want, sizeof(want) / sizeof(want[0]));

	static const struct {
		int64_t t, day;
	} rows[] = {
		{ 0, 0 }, { 1, 0 }, { DAY - 1, 0 }, { DAY, DAY }, { D0, D0 }, { D0 + 1, D0 },
		{ D0 + DAY - 1, D0 }, { D0 + DAY, D0 + DAY }, { D0 - 1, D0 - DAY },
		{ INT64_C(4102444800), INT64_C(4102444800) },	/* 2100-01-01 */
		{ INT64_C(4102444800) + 86399, INT64_C(4102444800) },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t got = tls_results_day(rows[i].t);
		if (got != rows[i].day)
			fail_msg("day of %lld: got %lld, want %lld", (long long)rows[i].t,
			    (long long)got, (long long)rows[i].day);
	}
}

/* Run sql on the store's database through a connection of this test's own. */
static void sql(const char *dir, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	sqlite3 *db = NULL;
	char *e = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, text, NULL, NULL, &e) != SQLITE_OK)
		fail_msg("%s: %s", text, e);
	sqlite3_close(db);
}

/* A flush the store refuses keeps the counts for the next. */
static void test_failed_flush_kept(void **state)
{
	struct fixture *f = *state;
	const struct mxr_tls_report r = rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test",
	    "192.0.2.1", "198.51.100.1", NULL, NULL);
	tls_results_count(f->t, &r, D0);
	sql(f->dir, "ALTER TABLE tlsrpt_results RENAME TO tlsrpt_results_away");
	if (tls_results_flush(f->t) != -1)
		fail_msg("flush without its table: got stored, want -1");
	sql(f->dir, "ALTER TABLE tlsrpt_results_away RENAME TO tlsrpt_results");
	tls_results_count(f->t, &r, D0 + 1);
	assert_int_equal(tls_results_flush(f->t), 0);
	static const char *const want[] = { "0 a.test sts - - - - 2" };
	struct lines g;
	stored(f->q, D0, D0, &g);
	want_lines("after a failed flush", &g, want, 1);
}

/* Wait on the loop until the side thread's done callbacks ran (nothing else is pending). */
static void side_settle(struct event_base *base)
{
	for (int i = 0; i < 200; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/*
 * Through the side thread (its own store handle, as the daemon opens one):
 * a write the store refuses gives the counts back to memory, added to what
 * was counted meanwhile, and the next write stores them all.
 */
static void test_side_write(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct queue_store *sq = queue_store_open(NULL, f->dir, err, sizeof(err));
	assert_non_null(sq);
	struct queue_side *side = queue_side_new(f->base, sq);
	struct tls_results *t = tls_results_new(f->base, f->q, side);
	const struct mxr_tls_report r = rep("a.test", MXR_TLSRPT_STS, STS_TEXT, "mx1.a.test",
	    "192.0.2.1", "198.51.100.1", NULL, NULL);
	tls_results_count(t, &r, D0);
	sql(f->dir, "ALTER TABLE tlsrpt_results RENAME TO tlsrpt_results_away");
	assert_int_equal(tls_results_flush(t), 0);
	side_settle(f->base);
	sql(f->dir, "ALTER TABLE tlsrpt_results_away RENAME TO tlsrpt_results");
	tls_results_count(t, &r, D0 + 1);
	tls_results_count(t, &r, D0 + 2);
	assert_int_equal(tls_results_flush(t), 0);
	side_settle(f->base);
	static const char *const want[] = { "0 a.test sts - - - - 3" };
	struct lines g;
	stored(f->q, D0, D0, &g);
	want_lines("through the side thread", &g, want, 1);
	/* What is counted at the end is written when the results go, the side gone first. */
	tls_results_count(t, &r, D0 + 3);
	queue_side_free(side);
	tls_results_free(t);
	static const char *const last[] = { "0 a.test sts - - - - 4" };
	stored(f->q, D0, D0, &g);
	want_lines("at the end", &g, last, 1);
}

/* How many rows the store's table holds, and their sessions, read by a connection of our own. */
static void db_count(const char *dir, long long *rows, long long *sessions)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), coalesce(sum(sessions), 0) "
	    "FROM tlsrpt_results", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	*rows = sqlite3_column_int64(st, 0);
	*sessions = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* Past TLS_RESULTS_MAX keys, what is counted is stored at once, without a flush. */
static void test_cap(void **state)
{
	struct fixture *f = *state;
	char mx[64];
	long long rows, sessions;
	for (unsigned i = 0; i <= TLS_RESULTS_MAX; i++) {
		if (i == TLS_RESULTS_MAX) {
			db_count(f->dir, &rows, &sessions);
			if (rows != 0)
				fail_msg("at %d keys: got %lld rows stored, want 0", TLS_RESULTS_MAX, rows);
		}
		snprintf(mx, sizeof(mx), "mx%u.a.test", i);
		const struct mxr_tls_report r = rep("a.test", MXR_TLSRPT_TLSA, TLSA1, mx, "192.0.2.1",
		    "198.51.100.1", NULL, NULL);
		tls_results_count(f->t, &r, D0);
	}
	db_count(f->dir, &rows, &sessions);
	if (rows != TLS_RESULTS_MAX || sessions != TLS_RESULTS_MAX)
		fail_msg("after %d keys: got %lld rows with %lld sessions stored, want %d and %d",
		    TLS_RESULTS_MAX + 1, rows, sessions, TLS_RESULTS_MAX, TLS_RESULTS_MAX);
	assert_int_equal(tls_results_flush(f->t), 0);
	db_count(f->dir, &rows, &sessions);
	if (rows != TLS_RESULTS_MAX + 1 || sessions != TLS_RESULTS_MAX + 1)
		fail_msg("after the flush: got %lld rows with %lld sessions, want %d and %d", rows,
		    sessions, TLS_RESULTS_MAX + 1, TLS_RESULTS_MAX + 1);
}

static void test_policy_name(void **state)
{
	(void)state;
	static const struct {
		int p;
		const char *want;
	} rows[] = {
		{ MXR_TLSRPT_TLSA, "tlsa" },
		{ MXR_TLSRPT_STS, "sts" },
		{ MXR_TLSRPT_NO_POLICY, "no-policy-found" },
		{ 99, "no-policy-found" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *got = tls_results_policy_name((enum mxr_tls_report_policy)rows[i].p);
		if (strcmp(got, rows[i].want) != 0)
			fail_msg("policy %d: got \"%s\", want \"%s\"", rows[i].p, got, rows[i].want);
	}
}

int main(void)
{
	evthread_use_pthreads();
	log_init("test_tls_results", LOG_LVL_ERR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_grouping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_days, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_flush_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_side_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
		cmocka_unit_test(test_policy_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
