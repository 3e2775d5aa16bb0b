/*
 * pidlock: the queue directory's lock file, queue_dir/mxrelayd.pid.
 *
 * Owns: creating (with the queue directory when missing), locking (flock, exclusive, non-blocking) and filling the
 * lock file, and the messages that say why it could not be taken. Never:
 * removes the file (a daemon starting meanwhile could lock an inode that
 * is about to vanish), or waits for a lock held by another process.
 */
#include "pidlock.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The name of the effective user, for messages ("uid N" when it has none). */
static void pidlock_user(char *out, size_t outlen)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	uid_t uid = geteuid();
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		snprintf(out, outlen, "%s", pw.pw_name);
	else
		snprintf(out, outlen, "uid %lu", (unsigned long)uid);
}

/* The pid written in the lock file fd, made printable, or "unknown". */
static void pidlock_holder(int fd, char *out, size_t outlen)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	size_t len = 0;
	while (n > 0 && len < (size_t)n && buf[len] >= '0' && buf[len] <= '9')
		len++;
	if (len == 0) {
		snprintf(out, outlen, "unknown");
		return;
	}
	buf[len] = '\0';
	snprintf(out, outlen, "%s", buf);
}

int pidlock_take(const char *dir, char *err, size_t errlen)
{
	char path[4096], user[300];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, PIDLOCK_NAME) >= sizeof(path)) {
		snprintf(err, errlen, "queue directory path too long: %s", dir);
		return -1;
	}
	/* A first start without root: the directory is made here, as the store would (0700). */
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		int e = errno;
		pidlock_user(user, sizeof(user));
		snprintf(err, errlen, "queue directory %s: cannot create it as user %s: %s", dir, user,
		    strerror(e));
		return -1;
	}
	/* O_NOFOLLOW: a link planted in the queue directory is not followed. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		int e = errno;
		pidlock_user(user, sizeof(user));
		snprintf(err, errlen, "queue directory %s: cannot create %s as user %s: %s", dir, path,
		    user, strerror(e));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		char holder[32];
		if (e == EWOULDBLOCK) {
			pidlock_holder(fd, holder, sizeof(holder));
			snprintf(err, errlen, "queue directory %s is in use by another mxrelayd (pid %s, "
			    "lock %s)", dir, holder, path);
		} else {
			snprintf(err, errlen, "lock %s: %s", path, strerror(e));
		}
		close(fd);
		return -1;
	}
	/*
	 * The pid is for people and scripts; the lock is what counts, so the
	 * file is not fsynced: after a crash a stale pid is harmless, since
	 * the kernel released the lock with the process.
	 */
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	/*
	 * Written over the old pid, then cut to length: the file keeps its
	 * block, so a start on a full file system can still write it.
	 */
	if (pwrite(fd, text, (size_t)n, 0) != n || ftruncate(fd, n) != 0) {
		snprintf(err, errlen, "write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void pidlock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
