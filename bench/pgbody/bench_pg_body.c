/*
 * bench_pg_body: how to keep a large message body in PostgreSQL, measured
 * (docs/queue.md has the figures and the choice): bytea rows of 1 MiB (what
 * the PostgreSQL queue does) against a large object written and read with
 * lo_put and lo_get in 1 MiB pieces (the SQL forms of the large-object
 * API, the ones a pipeline can carry), on the same server, same body.
 *
 *   bench_pg_body DSN [--mib N] [--rounds N]
 *
 * For each way, best of --rounds: the time to store an N MiB body (default
 * 50) in one transaction and commit it, the time to read it back a piece
 * at a time, the WAL the store wrote (what a streaming replica receives)
 * and the space it takes on the server. Memory stays one piece on both
 * sides whichever way. Uses its own tables (bench_body, and
 * pg_largeobject), dropped at the end.
 *
 * Never: part of the daemon or the tests.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define PIECE (1024 * 1024)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run sql with text parameters (one binary at bin_idx, of bin_len octets); die on error. */
static PGresult *run(PGconn *db, const char *sql, int n, const char *const *v, int bin_idx,
    int bin_len, int result_fmt)
{
	int lens[4] = { 0 }, fmts[4] = { 0 };
	if (bin_idx >= 0) {
		lens[bin_idx] = bin_len;
		fmts[bin_idx] = 1;
	}
	PGresult *res = PQexecParams(db, sql, n, NULL, v, lens, fmts, result_fmt);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "bench_pg_body: %s: %s", sql, PQerrorMessage(db));
		exit(1);
	}
	return res;
}

static void exec0(PGconn *db, const char *sql)
{
	PQclear(run(db, sql, 0, NULL, -1, 0, 0));
}

/* An integer the server answers to sql. */
static int64_t value(PGconn *db, const char *sql)
{
	PGresult *res = run(db, sql, 0, NULL, -1, 0, 0);
	int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

struct figures {
	double store_s, read_s;
	int64_t wal, space;
};

/* bytea: one row per piece, as queue_pg_writer.c and queue_pg_fetch.c do. */
static struct figures bench_bytea(PGconn *db, const char *body, int pieces)
{
	struct figures f = { 0 };
	exec0(db, "TRUNCATE bench_body");
	exec0(db, "CHECKPOINT");
	int64_t w0 = value(db, "SELECT pg_current_wal_insert_lsn() - '0/0'");
	double t0 = now_s();
	exec0(db, "BEGIN");
	for (int i = 0; i < pieces; i++) {
		char seq[16];
		snprintf(seq, sizeof(seq), "%d", i);
		const char *v[3] = { "msg", seq, body };
		PQclear(run(db, "INSERT INTO bench_body (msg_id, seq, data) VALUES ($1, $2::integer,"
		    " $3::bytea)", 3, v, 2, PIECE, 0));
	}
	exec0(db, "COMMIT");
	f.store_s = now_s() - t0;
	f.wal = value(db, "SELECT pg_current_wal_insert_lsn() - '0/0'") - w0;
	f.space = value(db, "SELECT pg_total_relation_size('bench_body')");
	t0 = now_s();
	int64_t got = 0;
	for (int i = 0; i < pieces; i++) {
		char seq[16];
		snprintf(seq, sizeof(seq), "%d", i);
		const char *v[2] = { "msg", seq };
		PGresult *res = run(db, "SELECT data FROM bench_body WHERE msg_id = $1"
		    " AND seq = $2::integer", 2, v, -1, 0, 1);
		got += PQgetlength(res, 0, 0);
		PQclear(res);
	}
	f.read_s = now_s() - t0;
	if (got != (int64_t)pieces * PIECE) {
		fprintf(stderr, "bench_pg_body: bytea read %" PRId64 " octets\n", got);
		exit(1);
	}
	return f;
}

/* A large object: lo_from_bytea for the first piece, lo_put for the others, lo_get to read. */
static struct figures bench_lo(PGconn *db, const char *body, int pieces)
{
	struct figures f = { 0 };
	exec0(db, "SELECT lo_unlink(oid) FROM pg_largeobject_metadata");
	exec0(db, "CHECKPOINT");
	int64_t s0 = value(db, "SELECT pg_total_relation_size('pg_largeobject')");
	int64_t w0 = value(db, "SELECT pg_current_wal_insert_lsn() - '0/0'");
	double t0 = now_s();
	exec0(db, "BEGIN");
	const char *v0[1] = { body };
	PGresult *res = run(db, "SELECT lo_from_bytea(0, $1::bytea)", 1, v0, 0, PIECE, 0);
	char oid[24];
	snprintf(oid, sizeof(oid), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	for (int i = 1; i < pieces; i++) {
		char off[24];
		snprintf(off, sizeof(off), "%lld", (long long)i * PIECE);
		const char *v[3] = { oid, off, body };
		PQclear(run(db, "SELECT lo_put($1::oid, $2::bigint, $3::bytea)", 3, v, 2, PIECE, 0));
	}
	exec0(db, "COMMIT");
	f.store_s = now_s() - t0;
	f.wal = value(db, "SELECT pg_current_wal_insert_lsn() - '0/0'") - w0;
	f.space = value(db, "SELECT pg_total_relation_size('pg_largeobject')") - s0;
	t0 = now_s();
	int64_t got = 0;
	exec0(db, "BEGIN");
	for (int i = 0; i < pieces; i++) {
		char off[24], len[16];
		snprintf(off, sizeof(off), "%lld", (long long)i * PIECE);
		snprintf(len, sizeof(len), "%d", PIECE);
		const char *v[3] = { oid, off, len };
		res = run(db, "SELECT lo_get($1::oid, $2::bigint, $3::integer)", 3, v, -1, 0, 1);
		got += PQgetlength(res, 0, 0);
		PQclear(res);
	}
	exec0(db, "COMMIT");
	f.read_s = now_s() - t0;
	if (got != (int64_t)pieces * PIECE) {
		fprintf(stderr, "bench_pg_body: large object read %" PRId64 " octets\n", got);
		exit(1);
	}
	return f;
}

static void report(const char *name, const struct figures *best, int mib)
{
	printf("| %s | %.2f s (%.0f MiB/s) | %.2f s (%.0f MiB/s) | %.1f MiB | %.1f MiB |\n", name,
	    best->store_s, mib / best->store_s, best->read_s, mib / best->read_s,
	    (double)best->wal / (1024 * 1024), (double)best->space / (1024 * 1024));
}

/* The better (faster) of two rounds: times the minimum, sizes the last. */
static void keep_best(struct figures *best, const struct figures *f, int round)
{
	if (round == 0 || f->store_s < best->store_s)
		best->store_s = f->store_s;
	if (round == 0 || f->read_s < best->read_s)
		best->read_s = f->read_s;
	best->wal = f->wal;
	best->space = f->space;
}

int main(int argc, char **argv)
{
	int mib = 50, rounds = 3;
	const char *dsn = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc)
			mib = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else
			dsn = argv[i];
	}
	if (dsn == NULL || mib <= 0 || rounds <= 0) {
		fprintf(stderr, "usage: bench_pg_body DSN [--mib N] [--rounds N]\n");
		return 64;
	}
	PGconn *db = PQconnectdb(dsn);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "bench_pg_body: %s", PQerrorMessage(db));
		return 1;
	}
	/* Mail compresses poorly: stored as it is, as the queue's columns are (EXTERNAL). */
	exec0(db, "SET client_min_messages = warning");
	exec0(db, "DROP TABLE IF EXISTS bench_body");
	exec0(db, "CREATE TABLE bench_body (msg_id text, seq integer, data bytea,"
	    " PRIMARY KEY (msg_id, seq))");
	exec0(db, "ALTER TABLE bench_body ALTER COLUMN data SET STORAGE EXTERNAL");
	char *body = malloc(PIECE);
	/* Base64-like text, the usual shape of a large attachment. */
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t x = 2463534242u;
	for (int i = 0; i < PIECE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		body[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : b64[x & 63];
	}
	struct figures bb = { 0 }, lb = { 0 };
	for (int r = 0; r < rounds; r++) {
		struct figures f = bench_bytea(db, body, mib);
		keep_best(&bb, &f, r);
		f = bench_lo(db, body, mib);
		keep_best(&lb, &f, r);
	}
	printf("%d MiB body in %d MiB pieces, best of %d, PostgreSQL %s\n\n", mib,
	    PIECE / (1024 * 1024), rounds, PQparameterStatus(db, "server_version"));
	printf("| way | store and commit | read back | WAL written | space on the server |\n");
	printf("| --- | --- | --- | --- | --- |\n");
	report("bytea rows (EXTERNAL)", &bb, mib);
	report("large object (lo_put, lo_get)", &lb, mib);
	exec0(db, "DROP TABLE bench_body");
	exec0(db, "SELECT lo_unlink(oid) FROM pg_largeobject_metadata");
	free(body);
	PQfinish(db);
	return 0;
}
