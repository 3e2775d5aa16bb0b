/*
 * queue_reserve: room kept back on the queue's file system, so that a full
 * disk never wedges the queue. The daemon keeps a file, queue_dir/reserve,
 * of queue_reserve octets with its blocks allocated. When a change that
 * must succeed on a full disk (an outcome, a deletion, a bounce, the
 * command line's delete, a start) fails for want of room, half the file
 * is cut off (all of it once it is small), which gives that room back, and
 * the change is made again. While
 * the reserve is gone, new mail is refused (452 4.3.1), so that what it
 * gave back is not eaten by more mail; the daemon makes it again once the
 * file system has room for it and a quarter more, first handing the database's
 * free pages back to the file system (auto_vacuum=INCREMENTAL), since
 * deleting mail that lives in the database frees pages in it, not blocks.
 *
 * Owns: the reserve file. Never: fsyncs it (its contents mean nothing; a
 * reserve lost in a crash is made again at the next start), or lets new
 * mail use its room.
 */
#include "queue_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/log.h"

/* The reserve file's path. */
static void queue_reserve_path(const struct queue_sqlite *q, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/" QUEUE_RESERVE_NAME, q->dir);
}

uint64_t queue_reserve_room(const struct queue_sqlite *q)
{
	uint64_t size = q->reserve_size;
	return size + size / 4;
}

bool queue_reserve_present(const struct queue_sqlite *q)
{
	if (q->reserve_size == 0)
		return true;
	char path[4096];
	struct stat st;
	queue_reserve_path(q, path, sizeof(path));
	return stat(path, &st) == 0 && (uint64_t)st.st_size >= q->reserve_size;
}

bool queue_reserve_release(const char *dir, const char *why)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/" QUEUE_RESERVE_NAME, dir);
	if (stat(path, &st) != 0)
		return false;
	/*
	 * Half at a time: what one release gives back may be eaten by another
	 * writer on the same file system before the next change that needs it.
	 */
	off_t keep = st.st_size / 2;
	if (keep < QUEUE_RESERVE_STEP_MIN ? unlink(path) != 0 : truncate(path, keep) != 0)
		return false;
	log_msg(LOG_LVL_WARN, "op=queue_reserve event=released dir=%s left=%lld reason=\"%.160s\"",
	    dir, keep < QUEUE_RESERVE_STEP_MIN ? 0LL : (long long)keep, why);
	return true;
}

bool queue_reserve_make(const struct queue_sqlite *q)
{
	if (q->reserve_size == 0 || queue_reserve_present(q))
		return true;
	struct statvfs sv;
	if (statvfs(q->dir, &sv) != 0)
		return false;
	uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	/* With a quarter over: making it must not itself leave the disk full. */
	if (avail < queue_reserve_room(q))
		return false;
	char path[4096];
	queue_reserve_path(q, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	/* Allocated blocks, not a sparse file: removing it must give room back. */
	int rc = posix_fallocate(fd, 0, (off_t)q->reserve_size);
	close(fd);
	if (rc != 0) {
		unlink(path);
		log_msg(LOG_LVL_WARN, "op=queue_reserve event=make-failed dir=%s reason=\"%s\"",
		    q->dir, strerror(rc));
		return false;
	}
	log_msg(LOG_LVL_INFO, "op=queue_reserve event=made dir=%s size=%llu", q->dir,
	    (unsigned long long)q->reserve_size);
	return true;
}

bool queue_reserve_reclaim(struct queue_sqlite *q)
{
	if (q->reserve_size == 0 || queue_reserve_present(q))
		return true;
	sqlite3_stmt *st = NULL;
	int free_pages = 0;
	if (sqlite3_prepare_v2(q->wdb, "PRAGMA freelist_count", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		free_pages = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (free_pages > 0) {
		/*
		 * Moves the free pages to the end of the file and cuts them off;
		 * the checkpoint then shrinks the database file itself. Either may
		 * fail on a disk that is still full: then the reserve waits.
		 */
		if (sqlite3_exec(q->wdb, "PRAGMA incremental_vacuum", NULL, NULL, NULL) != SQLITE_OK)
			log_msg(LOG_LVL_WARN, "op=queue_reserve event=vacuum_failed reason=\"%s\"",
			    sqlite3_errmsg(q->wdb));
		if (sqlite3_wal_checkpoint_v2(q->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) ==
		    SQLITE_OK)
			q->wal_frames = 0;
		else
			log_msg(LOG_LVL_WARN, "op=queue_reserve event=checkpoint_failed reason=\"%s\"",
			    sqlite3_errmsg(q->wdb));
	}
	return queue_reserve_make(q);
}

bool queue_reserve_full_error(sqlite3 *db, const char *err)
{
	if (db != NULL && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_FULL)
		return true;
	return err != NULL && (strstr(err, "disk is full") != NULL ||
	    strstr(err, strerror(ENOSPC)) != NULL);
}
