/*
 * test_queue_pg_sql: the PostgreSQL backend's pure pieces, without a
 * server: array literals (quoting, NULL), integer columns, the lease
 * arithmetic, the durability verdict on the server's settings, the
 * statement table (unique names, every parameter typed by a cast), rows
 * parsed into the interface's structs (results made with libpq's own
 * PQmakeEmptyPGresult) and due lists sorted for grouping, the claim set,
 * and queue_id_at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue_pg.h"

struct int_case {
	int64_t v[4];
	size_t n;
	const char *want;
};

static const struct int_case int_cases[] = {
	{ { 0 }, 0, "{}" },
	{ { 1 }, 1, "{1}" },
	{ { 1, 22, 333 }, 3, "{1,22,333}" },
	{ { INT64_MAX, INT64_MIN }, 2, "{9223372036854775807,-9223372036854775808}" },
};

static void test_int_array(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(int_cases) / sizeof(int_cases[0]); i++) {
		char *got = queue_pg_sql_int_array(int_cases[i].v, int_cases[i].n);
		if (strcmp(got, int_cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got, int_cases[i].want);
		free(got);
	}
}

struct text_case {
	const char *v[3];
	size_t n;
	const char *want;
};

static const struct text_case text_cases[] = {
	{ { NULL }, 0, "{}" },
	{ { "a@b.test" }, 1, "{\"a@b.test\"}" },
	{ { "x", NULL, "" }, 3, "{\"x\",NULL,\"\"}" },
	{ { "NULL" }, 1, "{\"NULL\"}" },
	{ { "say \"hi\"", "back\\slash", "a,b{c}" }, 3,
	  "{\"say \\\"hi\\\"\",\"back\\\\slash\",\"a,b{c}\"}" },
	{ { "rfc822;b\xc3\xa9@x.test" }, 1, "{\"rfc822;b\xc3\xa9@x.test\"}" },
};

static void test_text_array(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		char *got = queue_pg_sql_text_array(text_cases[i].v, text_cases[i].n);
		if (strcmp(got, text_cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got, text_cases[i].want);
		free(got);
	}
}

static void test_int_of_and_lease(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t want;
	} ints[] = { { "0", 0 }, { "42", 42 }, { "-7", -7 }, { "", 0 }, { NULL, 0 }, { "12x", 0 },
		{ "99999999999999999999", 0 } };
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (queue_pg_sql_int_of(ints[i].s) != ints[i].want)
			fail_msg("case %zu: got %lld, want %lld", i,
			    (long long)queue_pg_sql_int_of(ints[i].s), (long long)ints[i].want);
	static const struct {
		unsigned lease, every;
	} renew[] = { { 60, 20 }, { 5, 1 }, { 2, 1 }, { 0, 1 }, { 3600, 1200 }, { 10, 3 } };
	for (size_t i = 0; i < sizeof(renew) / sizeof(renew[0]); i++)
		if (queue_pg_lease_renew_every(renew[i].lease) != renew[i].every)
			fail_msg("lease %u: got %u, want %u", renew[i].lease,
			    queue_pg_lease_renew_every(renew[i].lease), renew[i].every);
	assert_true(queue_pg_lease_live(100, 100));
	assert_true(queue_pg_lease_live(101, 100));
	assert_false(queue_pg_lease_live(99, 100));
	assert_false(queue_pg_lease_live(0, 100));
}

static void test_durable_settings(void **state)
{
	(void)state;
	static const struct {
		const char *sync, *fsync;
		bool ok;
	} cases[] = {
		{ "on", "on", true }, { "remote_apply", "on", true }, { "remote_write", "on", true },
		{ "local", "on", true }, { "off", "on", false }, { "on", "off", false },
		{ NULL, "on", false }, { "on", NULL, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = queue_pg_schema_durable(cases[i].sync, cases[i].fsync);
		if ((why == NULL) != cases[i].ok)
			fail_msg("case %zu (%s, %s): got %s, want %s", i, cases[i].sync, cases[i].fsync,
			    why != NULL ? why : "ok", cases[i].ok ? "ok" : "a refusal");
	}
}

/* Every statement: a unique name, text, and each $N cast where it is used. */
static void test_statement_table(void **state)
{
	(void)state;
	for (int i = 0; i < QPG_STMT_COUNT_; i++) {
		const char *name = queue_pg_sql_name((enum queue_pg_stmt)i);
		const char *sql = queue_pg_sql_text((enum queue_pg_stmt)i);
		assert_non_null(name);
		assert_non_null(sql);
		for (int k = 0; k < i; k++)
			if (strcmp(name, queue_pg_sql_name((enum queue_pg_stmt)k)) == 0)
				fail_msg("statements %d and %d are both named %s", k, i, name);
		for (const char *p = strchr(sql, '$'); p != NULL; p = strchr(p + 1, '$')) {
			if (p[1] == '$' || (p > sql && p[-1] == '$'))
				continue;	/* a $$ quote */
			const char *e = p + 1;
			while (*e >= '0' && *e <= '9')
				e++;
			if (e == p + 1)
				continue;
			if (strncmp(e, "::", 2) != 0)
				fail_msg("%s: parameter %.*s has no cast: %s", name, (int)(e - p), p, sql);
		}
	}
}

/* A result built client-side, as the server would send it (text columns). */
static PGresult *make_result(int ncols, const char *const *names, int nrows,
    const char *const *cells)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc *attrs = calloc((size_t)ncols, sizeof(*attrs));
	for (int c = 0; c < ncols; c++)
		attrs[c].name = (char *)names[c];
	assert_int_equal(PQsetResultAttrs(res, ncols, attrs), 1);
	free(attrs);
	for (int r = 0; r < nrows; r++)
		for (int c = 0; c < ncols; c++) {
			const char *v = cells[r * ncols + c];
			assert_int_equal(PQsetvalue(res, r, c, (char *)v, v != NULL ? (int)strlen(v) : -1), 1);
		}
	return res;
}

static void test_due_rows_sorted_for_grouping(void **state)
{
	(void)state;
	static const char *const names[] = { "id", "msg_id", "address", "domain", "orcpt", "notify",
		"tries", "first_fail", "received_at" };
	static const char *const cells[] = {
		"7", "m2", "x@b.test", "b.test", NULL, "0", "1", "100", "90",
		"3", "m1", "y@a.test", "a.test", "rfc822;Y@A.test", "2", "0", "0", "80",
		"5", "m2", "z@a.test", "a.test", NULL, "0", "0", "0", "90",
		"4", "m1", "w@a.test", "a.test", NULL, "0", "0", "0", "80",
	};
	PGresult *res = make_result(9, names, 4, cells);
	struct queue_due_list l;
	queue_pg_due_rows(res, &l);
	PQclear(res);
	assert_int_equal(l.n, 4);
	static const int64_t want[] = { 3, 4, 5, 7 };
	for (size_t i = 0; i < 4; i++)
		if (l.items[i].rcpt_id != want[i])
			fail_msg("item %zu: got rcpt %lld, want %lld", i, (long long)l.items[i].rcpt_id,
			    (long long)want[i]);
	assert_string_equal(l.items[0].orcpt, "rfc822;Y@A.test");
	assert_int_equal(l.items[0].notify, 2);
	assert_int_equal(l.items[3].tries, 1);
	assert_int_equal(l.items[3].first_fail, 100);
	assert_int_equal(l.items[2].received_at, 90);
	assert_null(l.items[1].orcpt);
	queue_due_list_free(&l);
}

static void test_rcpt_and_history_rows(void **state)
{
	(void)state;
	static const char *const rn[] = { "id", "address", "domain", "orcpt", "notify", "state",
		"tries", "next_try", "first_fail", "last_code", "last_esc", "last_reply", "last_mx",
		"updated_at", "lease_node" };
	static const char *const rc[] = {
		"10", "a@x.test", "x.test", NULL, "0", "deferred", "2", "500", "400", "451", "4.4.1",
		"try later", "mx.x.test[192.0.2.1]", "450", "node-b",
		"11", "b@x.test", "x.test", NULL, "0", "pending", "0", "300", "0", "0", NULL, NULL,
		NULL, "300", NULL,
	};
	PGresult *res = make_result(15, rn, 2, rc);
	size_t n = 0;
	struct queue_rcpt *r = queue_pg_rows_rcpts(res, &n);
	PQclear(res);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].state, QUEUE_RCPT_DEFERRED);
	assert_string_equal(r[0].claim_node, "node-b");
	assert_null(r[1].claim_node);
	assert_int_equal(r[0].last_code, 451);
	static const char *const hn[] = { "rcpt_id", "at", "status", "code", "esc", "reply", "mx" };
	static const char *const hc[] = {
		"10", "400", "deferred", "451", "4.4.1", "busy", NULL,
		"10", "450", "deferred", "451", "4.4.1", "try later", "mx.x.test[192.0.2.1]",
		"11", "460", "bounced", "0", NULL, NULL, NULL,
		"12", "470", "failed", "550", "5.1.1", "no", NULL,
	};
	res = make_result(7, hn, 4, hc);
	queue_pg_rows_history(res, r, n);
	PQclear(res);
	assert_int_equal(r[0].nhistory, 2);
	assert_int_equal(r[0].history[1].at, 450);
	assert_string_equal(r[0].history[1].mx, "mx.x.test[192.0.2.1]");
	assert_int_equal(r[1].nhistory, 1);
	assert_int_equal(r[1].history[0].status, QUEUE_RCPT_BOUNCED);
	queue_query_rcpts_free(r, n);
}

static void test_claims_set(void **state)
{
	(void)state;
	struct queue_claims c = { 0 };
	for (int64_t id = 1; id <= 1000; id++)
		queue_claims_add(&c, id * 7);
	queue_claims_add(&c, 7);
	assert_int_equal(c.used, 1000);
	for (int64_t id = 1; id <= 1000; id += 2)
		queue_claims_release(&c, id * 7);
	assert_int_equal(c.used, 500);
	assert_true(queue_claims_has(&c, 14));
	assert_false(queue_claims_has(&c, 7));
	assert_false(queue_claims_has(&c, 8));
	queue_claims_free(&c);
	assert_int_equal(c.used, 0);
}

static void test_id_at(void **state)
{
	(void)state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], now[QUEUE_ID_LEN + 1];
	queue_id_at(1000000000, a);
	queue_id_at(1000000001, b);
	queue_id_new(now);
	assert_true(queue_id_valid(a));
	assert_string_equal(a + 11, "000000000");
	assert_true(strcmp(a, b) < 0);
	assert_true(strcmp(b, now) < 0);
	queue_id_at(time(NULL) + 3600, a);
	assert_true(strcmp(now, a) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int_array),
		cmocka_unit_test(test_text_array),
		cmocka_unit_test(test_int_of_and_lease),
		cmocka_unit_test(test_durable_settings),
		cmocka_unit_test(test_statement_table),
		cmocka_unit_test(test_due_rows_sorted_for_grouping),
		cmocka_unit_test(test_rcpt_and_history_rows),
		cmocka_unit_test(test_claims_set),
		cmocka_unit_test(test_id_at),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
