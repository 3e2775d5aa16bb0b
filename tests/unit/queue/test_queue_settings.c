/*
 * test_queue_settings: the store reads journal_mode and synchronous back
 * after setting them, and refuses a connection on which they did not take,
 * naming the queue file and SQLite's answer.
 *
 * The refusal is shown with a real answer, not an injected one: an
 * in-memory database cannot be put into WAL mode, and SQLite says so by
 * answering "memory" to PRAGMA journal_mode=WAL, without an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "queue_int.h"
#include "util/log.h"

/* One value of a PRAGMA, as text. */
static void pragma_value(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* A database where WAL cannot be set: refused, with the path and the answer in the error. */
static void test_wal_refused(void **state)
{
	(void)state;
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	char err[256] = "";
	bool ok = queue_store_settings(db, "/nowhere/queue.db", err, sizeof(err));
	if (ok)
		fail_msg("got settings accepted on an in-memory database, want refused");
	if (strstr(err, "/nowhere/queue.db") == NULL || strstr(err, "\"memory\"") == NULL ||
	    strstr(err, "journal_mode") == NULL)
		fail_msg("got error \"%s\", want the path, journal_mode and \"memory\"", err);
	sqlite3_close(db);
}

/* The same through queue_store_connect on a real file: accepted, and the values read back. */
static void test_wal_on_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_queue_settings.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	char err[256] = "";
	sqlite3 *db = queue_store_connect(path, true, err, sizeof(err));
	if (db == NULL)
		fail_msg("got connect failed (%s), want a connection", err);
	char v[32];
	pragma_value(db, "PRAGMA journal_mode", v, sizeof(v));
	if (strcmp(v, "wal") != 0)
		fail_msg("got journal_mode %s, want wal", v);
	pragma_value(db, "PRAGMA synchronous", v, sizeof(v));
	if (strcmp(v, "2") != 0)
		fail_msg("got synchronous %s, want 2 (FULL)", v);
	sqlite3_close(db);
	char p[160];
	static const char *const names[] = { "queue.db", "queue.db-wal", "queue.db-shm" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* Settings made twice on one connection (as on a database already in WAL): accepted. */
static void test_settings_twice(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_queue_settings.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char err[256] = "";
	/* Setting them again on a connection already in WAL is what a second open does. */
	assert_true(queue_store_settings(db, path, err, sizeof(err)));
	assert_true(queue_store_settings(db, path, err, sizeof(err)));
	sqlite3_close(db);
	char p[160];
	static const char *const names[] = { "queue.db", "queue.db-wal", "queue.db-shm" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

int main(void)
{
	log_init("test_queue_settings", LOG_LVL_WARN, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_refused),
		cmocka_unit_test(test_wal_on_file),
		cmocka_unit_test(test_settings_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
