/*
 * queue_store: the SQLite backend's store: opening and closing the queue,
 * its schema, the helpers the backend's other files share, and its table
 * of operations (queue_sqlite_ops), which queue_store_open() hands out.
 *
 * Owns: the queue directory (mode 0700), the database file and its
 * settings (WAL, synchronous=FULL, busy timeout), the schema and its
 * upgrade. Never: writes messages itself (queue_writer.c and the writer
 * thread do), or touches files in the directory other than its own
 * database (the spool files are queue_spool.c's).
 */
#include "queue_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dns/dns_rr.h"
#include "util/log.h"
#include "util/xalloc.h"

/*
 * The schema, version 3. States are stored as names so that the sqlite3
 * shell shows what the command line shows. Every chunk of a body but the
 * last holds exactly QUEUE_CHUNK octets, so an offset maps to one chunk;
 * a message with body_file = 1 has no chunks: its body is its spool file.
 * Beside the mail: the MTA-STS policies fetched (RFC 8461 5.1: a policy
 * is kept until it expires, across restarts) and the day's TLS results
 * per policy domain until they are reported (RFC 8460).
 */
#define QUEUE_SCHEMA_VERSION 4
/* The tables version 3 added, for a new store and for the upgrade alike. */
#define QUEUE_STORE_TLS_TABLES \
    "CREATE TABLE IF NOT EXISTS sts_policies (" \
    " domain TEXT PRIMARY KEY NOT NULL," \
    " id TEXT NOT NULL," \
    " policy TEXT NOT NULL," \
    " fetched INTEGER NOT NULL," \
    " expires INTEGER NOT NULL);" \
    "CREATE TABLE IF NOT EXISTS tlsrpt_results (" \
    " day INTEGER NOT NULL," \
    " domain TEXT NOT NULL," \
    " policy_type TEXT NOT NULL," \
    " policy TEXT NOT NULL DEFAULT ''," \
    " result TEXT NOT NULL DEFAULT ''," \
    " sending_ip TEXT NOT NULL DEFAULT ''," \
    " mx_host TEXT NOT NULL DEFAULT ''," \
    " mx_ip TEXT NOT NULL DEFAULT ''," \
    " mx_helo TEXT NOT NULL DEFAULT ''," \
    " detail TEXT NOT NULL DEFAULT ''," \
    " sessions INTEGER NOT NULL," \
    " PRIMARY KEY (day, domain, policy_type, policy, result, sending_ip, mx_host, mx_ip));" \
    "CREATE TABLE IF NOT EXISTS tlsrpt_reports (" \
    " day INTEGER NOT NULL," \
    " domain TEXT NOT NULL," \
    " report_id TEXT NOT NULL," \
    " sent_at INTEGER NOT NULL," \
    " outcome TEXT NOT NULL," \
    " PRIMARY KEY (day, domain));"
static const char queue_store_schema[] =
    /* Before the first table: deleted mail's pages can go back to the file system. */
    "PRAGMA auto_vacuum = INCREMENTAL;"
    "CREATE TABLE IF NOT EXISTS messages ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " sender TEXT NOT NULL,"
    " envid TEXT,"
    " ret INTEGER NOT NULL DEFAULT 0,"
    " smtputf8 INTEGER NOT NULL DEFAULT 0,"
    " body_8bit INTEGER NOT NULL DEFAULT 0,"
    " requiretls INTEGER NOT NULL DEFAULT 0,"
    " tls_optional INTEGER NOT NULL DEFAULT 0,"
    " client_ip TEXT,"
    " client_helo TEXT,"
    " auth_user TEXT,"
    " protocol TEXT,"
    " received_at INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " held INTEGER NOT NULL DEFAULT 0,"
    " body_file INTEGER NOT NULL DEFAULT 0,"
    " prefix BLOB);"
    "CREATE TABLE IF NOT EXISTS recipients ("
    " id INTEGER PRIMARY KEY,"
    " msg_id TEXT NOT NULL,"
    " address TEXT NOT NULL,"
    " domain TEXT NOT NULL,"
    " orcpt TEXT,"
    " notify INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL DEFAULT 'pending',"
    " tries INTEGER NOT NULL DEFAULT 0,"
    " next_try INTEGER NOT NULL,"
    " first_fail INTEGER NOT NULL DEFAULT 0,"
    " last_code INTEGER NOT NULL DEFAULT 0,"
    " last_esc TEXT,"
    " last_reply TEXT,"
    " last_mx TEXT,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS recipients_due ON recipients(state, next_try);"
    "CREATE INDEX IF NOT EXISTS recipients_domain ON recipients(domain);"
    "CREATE INDEX IF NOT EXISTS recipients_msg ON recipients(msg_id);"
    "CREATE TABLE IF NOT EXISTS history ("
    " rcpt_id INTEGER NOT NULL,"
    " at INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " code INTEGER NOT NULL DEFAULT 0,"
    " esc TEXT,"
    " reply TEXT,"
    " mx TEXT);"
    "CREATE INDEX IF NOT EXISTS history_rcpt ON history(rcpt_id);"
    "CREATE TABLE IF NOT EXISTS body ("
    " msg_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " data BLOB NOT NULL,"
    " PRIMARY KEY (msg_id, seq));"
    QUEUE_STORE_TLS_TABLES
    "PRAGMA user_version = 4;";

/* Version 3 to 4: a prefix delivered before the text (DKIM signatures). */
#define QUEUE_STORE_UPGRADE_3 \
    "ALTER TABLE messages ADD COLUMN prefix BLOB;" \
    "PRAGMA user_version = 4;"
static const char queue_store_upgrade_3[] = QUEUE_STORE_UPGRADE_3;

/* Version 2 to 3: REQUIRETLS and TLS-Required kept per message, the TLS policy tables. */
#define QUEUE_STORE_UPGRADE_2 \
    "ALTER TABLE messages ADD COLUMN requiretls INTEGER NOT NULL DEFAULT 0;" \
    "ALTER TABLE messages ADD COLUMN tls_optional INTEGER NOT NULL DEFAULT 0;" \
    QUEUE_STORE_TLS_TABLES \
    QUEUE_STORE_UPGRADE_3
static const char queue_store_upgrade_2[] = QUEUE_STORE_UPGRADE_2;

/* Version 1 to 2 (bodies may live in spool files), then on. */
static const char queue_store_upgrade_1[] =
    "ALTER TABLE messages ADD COLUMN body_file INTEGER NOT NULL DEFAULT 0;"
    QUEUE_STORE_UPGRADE_2;

void queue_store_seterr(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	if (err == NULL || errlen == 0)
		return;
	if (db != NULL)
		snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
	else
		snprintf(err, errlen, "%s", what);
}

sqlite3_stmt *queue_store_rstmt(struct queue_sqlite *q, enum queue_rstmt which, const char *sql,
    char *err, size_t errlen)
{
	if (q->rs[which] == NULL) {
		if (sqlite3_prepare_v3(q->rdb, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->rs[which],
		    NULL) != SQLITE_OK) {
			queue_store_seterr(err, errlen, "prepare", q->rdb);
			q->rs[which] = NULL;
			return NULL;
		}
	}
	sqlite3_reset(q->rs[which]);
	sqlite3_clear_bindings(q->rs[which]);
	return q->rs[which];
}

bool queue_store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, sql, db);
		return false;
	}
	return true;
}

int queue_store_step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int reset_rc = sqlite3_reset(st);
	/* After a failed step reset repeats its error; after a good one it should be OK. */
	return rc == SQLITE_DONE && reset_rc != SQLITE_OK ? reset_rc : rc;
}

int queue_store_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

char *queue_store_col_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	if (s == NULL)
		return NULL;
	return xmemdup0(s, (size_t)sqlite3_column_bytes(st, col));
}

void queue_store_domain(const char *address, char *dst, size_t dstlen)
{
	const char *at = strrchr(address, '@');
	const char *d = at != NULL ? at + 1 : "";
	(void)dns_rr_name_key(d, strlen(d), dst, dstlen);
}

/* Create dir with mode 0700 when it is missing; it must be a directory. */
static bool queue_store_mkdir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return false;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return false;
	}
	return true;
}

/*
 * fsync the directory, so that the entries of a newly created database
 * and its WAL survive a crash (SQLite syncs the files, not their names).
 */
static bool queue_store_sync_dir(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* Run a PRAGMA that answers one row and copy its first column into out; false with err. */
static bool queue_store_pragma(sqlite3 *db, const char *sql, char *out, size_t outlen,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, sql, db);
		return false;
	}
	int rc = sqlite3_step(st);
	const unsigned char *v = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	snprintf(out, outlen, "%s", v != NULL ? (const char *)v : "");
	bool ok = rc == SQLITE_ROW;
	if (!ok)
		queue_store_seterr(err, errlen, sql, db);
	if (sqlite3_finalize(st) != SQLITE_OK && ok) {
		queue_store_seterr(err, errlen, sql, db);
		ok = false;
	}
	return ok;
}

bool queue_store_settings(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	char got[32];
	/*
	 * SQLite answers a journal_mode it cannot set with the mode it kept
	 * ("memory", "delete"...) and no error, and a synchronous level it
	 * ignored with nothing at all: both are read back, since the 250
	 * promise rests on them.
	 */
	if (!queue_store_pragma(db, "PRAGMA journal_mode=WAL", got, sizeof(got), err, errlen))
		return false;
	if (strcmp(got, "wal") != 0) {
		snprintf(err, errlen, "queue %s: PRAGMA journal_mode=WAL answered \"%s\", not \"wal\"",
		    path, got);
		return false;
	}
	if (!queue_store_exec(db, "PRAGMA synchronous=FULL", err, errlen) ||
	    !queue_store_pragma(db, "PRAGMA synchronous", got, sizeof(got), err, errlen))
		return false;
	/* 2 is FULL; EXTRA (3) would be stronger still, but it is not what is asked. */
	if (strcmp(got, "2") != 0) {
		snprintf(err, errlen, "queue %s: PRAGMA synchronous=FULL read back as %s, not 2 (FULL)",
		    path, got);
		return false;
	}
	return true;
}

sqlite3 *queue_store_connect(const char *path, bool autocheckpoint, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		queue_store_seterr(err, errlen, "open database", db);
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, QUEUE_BUSY_MS);
	/*
	 * Keep the WAL and its index when the last connection closes, with
	 * the blocks they have: a start on a full file system then finds
	 * them in place instead of needing room to create them again.
	 */
	int persist_wal = 1;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal) != SQLITE_OK)
		log_msg(LOG_LVL_WARN, "op=queue_open db=%s event=persist_wal_refused reason=\"%s\"",
		    path, sqlite3_errmsg(db));
	/*
	 * WAL with synchronous=FULL: a commit returns only after the WAL is
	 * fsynced, which is the promise behind the 250 reply.
	 */
	if (!queue_store_settings(db, path, err, errlen) ||
	    (!autocheckpoint &&
	    !queue_store_exec(db, "PRAGMA wal_autocheckpoint=0", err, errlen))) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* PRAGMA user_version of db, or -1 with err filled. */
static int queue_store_version(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "user_version", db);
		return -1;
	}
	int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	if (v < 0)
		queue_store_seterr(err, errlen, "user_version", db);
	sqlite3_finalize(st);
	return v;
}

/*
 * Create the schema, or bring an older one up to date. A database already
 * at this version is only read: a start on a full file system must not
 * need room to write.
 */
static bool queue_store_schema_ensure(sqlite3 *db, char *err, size_t errlen)
{
	int v = queue_store_version(db, err, errlen);
	if (v < 0)
		return false;
	if (v == QUEUE_SCHEMA_VERSION)
		return true;
	if (v > QUEUE_SCHEMA_VERSION) {
		snprintf(err, errlen, "queue schema version %d is newer than this program's %d",
		    v, QUEUE_SCHEMA_VERSION);
		return false;
	}
	if (!queue_store_exec(db, "BEGIN IMMEDIATE", err, errlen))
		return false;
	/* Read again under the write lock: another process may have just done it. */
	v = queue_store_version(db, err, errlen);
	const char *sql = v == 0 ? queue_store_schema : v == 1 ? queue_store_upgrade_1 :
	    v == 2 ? queue_store_upgrade_2 : v == 3 ? queue_store_upgrade_3 : "";
	if (v < 0 || !queue_store_exec(db, sql, err, errlen) ||
	    !queue_store_exec(db, "COMMIT", err, errlen)) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return false;
	}
	return true;
}

static struct queue_sqlite *queue_store_open_once(struct event_base *base, const char *dir,
    char *err, size_t errlen);

struct queue_store *queue_sqlite_open(struct event_base *base, const char *dir,
    char *err, size_t errlen)
{
	struct queue_sqlite *q = queue_store_open_once(base, dir, err, errlen);
	/* A full disk must not keep the queue from opening: give the reserve back, once. */
	if (q == NULL && queue_reserve_release(dir, err))
		q = queue_store_open_once(base, dir, err, errlen);
	return q != NULL ? &q->handle : NULL;
}

/* Open the store once; NULL with err filled. */
static struct queue_sqlite *queue_store_open_once(struct event_base *base, const char *dir,
    char *err, size_t errlen)
{
	if (!queue_store_mkdir(dir, err, errlen))
		return NULL;
	struct queue_sqlite *q = xcalloc(1, sizeof(*q));
	q->handle.ops = &queue_sqlite_ops;
	q->handle.base = base;
	q->dir = xstrdup(dir);
	size_t plen = strlen(dir) + sizeof(QUEUE_DB_NAME) + 2;
	q->path = xmalloc(plen);
	snprintf(q->path, plen, "%s/%s", dir, QUEUE_DB_NAME);
	q->base = base;
	q->wake_fd[0] = q->wake_fd[1] = -1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	pthread_cond_init(&q->spool_sync_cv, NULL);
	q->pending_tail = &q->pending;
	q->finished_tail = &q->finished;

	bool existed = access(q->path, F_OK) == 0;
	/*
	 * With a writer thread, checkpoints are its business, so that the
	 * loop never copies the WAL back into the database itself.
	 */
	q->rdb = queue_store_connect(q->path, base == NULL, err, errlen);
	if (q->rdb == NULL)
		goto fail;
	if (!queue_store_schema_ensure(q->rdb, err, errlen))
		goto fail;
	if (!existed && !queue_store_sync_dir(dir, err, errlen))
		goto fail;
	if (base != NULL) {
		/* The daemon alone writes spool files, so it alone cleans them up. */
		if (!queue_spool_prepare(q, err, errlen) || queue_spool_clean(q, err, errlen) < 0)
			goto fail;
		if (queue_commit_start(q, err, errlen) != 0)
			goto fail;
	}
	log_msg(LOG_LVL_INFO, "op=queue_open dir=%s created=%s", dir, existed ? "no" : "yes");
	return q;
fail:
	queue_sqlite_close(&q->handle);
	return NULL;
}

void queue_sqlite_close(struct queue_store *store)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	if (q == NULL)
		return;
	queue_commit_stop(q);
	if (q->base != NULL)
		log_msg(LOG_LVL_INFO, "op=queue_close transactions=%llu failed_transactions=%llu "
		    "jobs=%llu failed_jobs=%llu max_batch=%llu checkpoints=%llu",
		    (unsigned long long)q->stats.transactions,
		    (unsigned long long)q->stats.failed_transactions,
		    (unsigned long long)q->stats.jobs_ok, (unsigned long long)q->stats.jobs_failed,
		    (unsigned long long)q->stats.max_batch, (unsigned long long)q->stats.checkpoints);
	for (size_t i = 0; i < QR_COUNT_; i++)
		sqlite3_finalize(q->rs[i]);
	sqlite3_close(q->rdb);
	queue_claims_free(&q->claims);
	pthread_cond_destroy(&q->cv);
	pthread_cond_destroy(&q->spool_sync_cv);
	pthread_mutex_destroy(&q->mu);
	free(q->path);
	free(q->dir);
	free(q);
}

/*
 * Twice the size must be free: a body up to 256 KiB is written twice,
 * into the WAL and at the checkpoint into the database.
 */
bool queue_sqlite_has_room(const struct queue_store *store, uint64_t size)
{
	const struct queue_sqlite *q = queue_sqlite_cof(store);
	struct statvfs sv;
	if (q == NULL || statvfs(q->dir, &sv) != 0)
		return true;
	uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	uint64_t need = size > UINT64_MAX / 2 ? UINT64_MAX : size * 2;
	/* While the reserve is given back, new mail must leave room to make it again. */
	if (!queue_reserve_present(q))
		need = need > UINT64_MAX / 2 ? UINT64_MAX : need + queue_reserve_room(q);
	return avail >= need;
}

void queue_sqlite_set_reserve(struct queue_store *store, uint64_t size)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	/* On a small file system, a sixteenth of it: the reserve must not be most of the room. */
	struct statvfs sv;
	if (statvfs(q->dir, &sv) == 0 && size > (uint64_t)sv.f_blocks * sv.f_frsize / 16)
		size = (uint64_t)sv.f_blocks * sv.f_frsize / 16;
	q->reserve_size = size;
	if (!queue_reserve_make(q))
		log_msg(LOG_LVL_WARN, "op=queue_reserve event=missing dir=%s size=%llu "
		    "reason=\"no room: new mail is refused until there is\"", q->dir,
		    (unsigned long long)size);
}

void queue_sqlite_stats(struct queue_store *store, struct queue_store_stats *out)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	pthread_mutex_lock(&q->mu);
	*out = q->stats;
	pthread_mutex_unlock(&q->mu);
}

/* PRAGMA max_page_count, applied by the writer thread before its next transaction. */
void queue_sqlite_set_max_pages(struct queue_store *store, uint32_t max_pages)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	if (q->base == NULL) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%u", max_pages);
		sqlite3_exec(q->rdb, sql, NULL, NULL, NULL);
		return;
	}
	pthread_mutex_lock(&q->mu);
	q->max_pages = max_pages;
	pthread_mutex_unlock(&q->mu);
}

void queue_sqlite_set_busy_timeout(struct queue_store *store, unsigned ms)
{
	struct queue_sqlite *q = queue_sqlite_of(store);
	sqlite3_busy_timeout(q->rdb, (int)ms);
	if (q->base == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->busy_ms = ms ? ms : 1;
	pthread_mutex_unlock(&q->mu);
}

/* One node, one file: the store can always take a commit (a full disk says so at the commit). */
static bool queue_sqlite_available(const struct queue_store *store)
{
	(void)store;
	return true;
}

/* PRAGMA user_version, and the version this program writes. */
static int queue_sqlite_schema_version(struct queue_store *store, int *newest, char *err,
    size_t errlen)
{
	*newest = QUEUE_SCHEMA_VERSION;
	return queue_store_version(queue_sqlite_of(store)->rdb, err, errlen);
}

/* The SQLite backend: what queue_store_open() gives the public functions. */
const struct queue_ops queue_sqlite_ops = {
	.name = "sqlite",
	.open = queue_sqlite_open,
	.close = queue_sqlite_close,
	.has_room = queue_sqlite_has_room,
	.set_reserve = queue_sqlite_set_reserve,
	.stats = queue_sqlite_stats,
	.set_max_pages = queue_sqlite_set_max_pages,
	.set_busy_timeout = queue_sqlite_set_busy_timeout,
	.writer_new = queue_sqlite_writer_new,
	.writer_id = queue_sqlite_writer_id,
	.writer_append = queue_sqlite_writer_append,
	.writer_size = queue_sqlite_writer_size,
	.writer_bounce_for = queue_sqlite_writer_bounce_for,
	.writer_commit = queue_sqlite_writer_commit,
	.writer_abort = queue_sqlite_writer_abort,
	.update_outcomes = queue_sqlite_update_outcomes,
	.update_bounced = queue_sqlite_update_bounced,
	.update_delete_if_done = queue_sqlite_update_delete_if_done,
	.update_outcomes_delete = queue_sqlite_update_outcomes_delete,
	.update_hold = queue_sqlite_update_hold,
	.sts_load = queue_sqlite_sts_load,
	.sts_save = queue_sqlite_sts_save,
	.sts_list = queue_sqlite_sts_list,
	.tlsrpt_add = queue_sqlite_tlsrpt_add,
	.tlsrpt_list = queue_sqlite_tlsrpt_list,
	.tlsrpt_reported = queue_sqlite_tlsrpt_reported,
	.tlsrpt_was_reported = queue_sqlite_tlsrpt_was_reported,
	.tlsrpt_prune = queue_sqlite_tlsrpt_prune,
	.update_delete = queue_sqlite_update_delete,
	.update_flush_msg = queue_sqlite_update_flush_msg,
	.update_flush_domain = queue_sqlite_update_flush_domain,
	.update_fail_waiting = queue_sqlite_update_fail_waiting,
	.due_list = queue_sqlite_due_list,
	.due_unclaim = queue_sqlite_due_unclaim,
	.due_claimed = queue_sqlite_due_claimed,
	.query_message = queue_sqlite_query_message,
	.query_list = queue_sqlite_query_list,
	.query_headers = queue_sqlite_query_headers,
	.query_count = queue_sqlite_query_count,
	.body_open = queue_sqlite_body_open,
	.body_close = queue_sqlite_body_close,
	/* Local and quick: the asynchronous reads run now and call back on the loop's next turn. */
	.due_fetch = queue_defer_due_fetch,
	.fetch = queue_defer_fetch,
	.recover_fetch = queue_defer_recover_fetch,
	.available = queue_sqlite_available,
	.schema_version = queue_sqlite_schema_version,
	/* One node: no one else commits, and destinations are the scheduler's alone (dest_* NULL). */
	.set_wakeup = NULL,
};
