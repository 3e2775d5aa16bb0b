/*
 * queue_spool: bodies larger than QUEUE_SPILL, kept as one append-only
 * file each under QUEUE_SPOOL_DIR in the queue directory, named by the
 * queue id. A file is written as the message arrives, fdatasynced and its
 * directory fsynced before the commit that names it (messages.body_file),
 * and removed after the commit that deletes its message. A file no
 * message names (a crash between its creation and its commit, or between
 * a deletion and the unlink) is removed when the daemon starts.
 *
 * Owns: the spool directory and the files in it. Never: names a file in
 * the database before the file is on stable storage, or removes a file
 * whose message is still committed.
 */
#include "queue_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xalloc.h"

void queue_spool_path(const struct queue_sqlite *q, const char *id, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/" QUEUE_SPOOL_DIR "/%s", q->dir, id);
}

bool queue_spool_prepare(struct queue_sqlite *q, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" QUEUE_SPOOL_DIR, q->dir);
	if (mkdir(path, 0700) == 0) {
		/* The new directory's name must survive a crash, or so would no file in it. */
		int fd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) != 0) {
			snprintf(err, errlen, "fsync %s: %s", q->dir, strerror(errno));
			if (fd >= 0)
				close(fd);
			return false;
		}
		close(fd);
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
		return false;
	}
	return true;
}

int queue_spool_create(const struct queue_sqlite *q, const char *id, char *err, size_t errlen)
{
	char path[4096];
	queue_spool_path(q, id, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		snprintf(err, errlen, "spool file: %s", strerror(errno));
	return fd;
}

bool queue_spool_sync_dir(const struct queue_sqlite *q, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" QUEUE_SPOOL_DIR, q->dir);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "fsync %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	return true;
}

void queue_spool_remove(const struct queue_sqlite *q, const char *id)
{
	char path[4096];
	queue_spool_path(q, id, path, sizeof(path));
	/*
	 * No fsync of the directory: a removal lost in a crash leaves an
	 * orphan that the next start removes, never a message without a body.
	 */
	if (unlink(path) != 0 && errno != ENOENT)
		log_msg(LOG_LVL_WARN, "op=queue_spool_remove queue=%s status=failed reason=\"%s\"",
		    id, strerror(errno));
}

int queue_spool_open_read(const struct queue_sqlite *q, const char *id, char *err, size_t errlen)
{
	char path[4096];
	queue_spool_path(q, id, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		snprintf(err, errlen, "open body of %s: %s", id, strerror(errno));
	return fd;
}

void queue_spool_remove_later(struct queue_sqlite *q, const char *id)
{
	if (q->nspool_doomed == q->spool_doomed_cap) {
		q->spool_doomed_cap = q->spool_doomed_cap ? 2 * q->spool_doomed_cap : 16;
		q->spool_doomed = xreallocarray(q->spool_doomed, q->spool_doomed_cap,
		    sizeof(*q->spool_doomed));
	}
	snprintf(q->spool_doomed[q->nspool_doomed++], QUEUE_ID_LEN + 1, "%s", id);
}

void queue_spool_remove_doomed(struct queue_sqlite *q)
{
	for (size_t i = 0; i < q->nspool_doomed; i++)
		queue_spool_remove(q, q->spool_doomed[i]);
	q->nspool_doomed = 0;
}

/* Whether a committed message names spool file id. -1 on error. */
static int queue_spool_named(sqlite3_stmt *st, const char *id)
{
	(void)sqlite3_reset(st);	/* repeats the last step's error, already counted */
	if (sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(st);
	int named = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return named;
}

long queue_spool_clean(struct queue_sqlite *q, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" QUEUE_SPOOL_DIR, q->dir);
	DIR *d = opendir(path);
	if (d == NULL) {
		snprintf(err, errlen, "opendir %s: %s", path, strerror(errno));
		return -1;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(q->rdb, "SELECT 1 FROM messages WHERE id = ? AND body_file = 1",
	    -1, &st, NULL) != SQLITE_OK) {
		queue_store_seterr(err, errlen, "prepare", q->rdb);
		closedir(d);
		return -1;
	}
	long removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int named = queue_id_valid(de->d_name) ? queue_spool_named(st, de->d_name) : 0;
		if (named < 0) {
			queue_store_seterr(err, errlen, "read messages", q->rdb);
			removed = -1;
			break;
		}
		if (named == 1)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
			removed++;
			log_msg(LOG_LVL_INFO, "op=queue_spool_clean file=%s reason=orphan", de->d_name);
		} else {
			log_msg(LOG_LVL_WARN, "op=queue_spool_clean file=%s status=failed reason=\"%s\"",
			    de->d_name, strerror(errno));
		}
	}
	sqlite3_finalize(st);
	closedir(d);
	return removed;
}
