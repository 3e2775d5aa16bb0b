/*
 * fsync_shim: an LD_PRELOAD library for tests that wraps fsync and
 * fdatasync, to show what the daemon's replies wait for.
 *
 * Controlled by environment variables, read at each call:
 *   MXR_FSYNC_SHIM_CTL       a control file; when it exists its first word
 *                            decides (so a test can switch at run time):
 *                            "delay=MS" sleeps MS milliseconds and then
 *                            syncs, "fail" returns -1 with EIO without
 *                            syncing, anything else syncs.
 *   MXR_FSYNC_SHIM_DELAY_MS  the delay when there is no control file.
 *   MXR_FSYNC_SHIM_FAIL      "1": fail with EIO when there is no control file.
 *   MXR_FSYNC_SHIM_LOG       a file to which one line per call is appended:
 *                            "fdatasync|fsync FD RC ERRNO START_NS END_NS PATH",
 *                            times from CLOCK_MONOTONIC (Python's
 *                            time.monotonic_ns()), END_NS when the call returned.
 * Owns: nothing across calls. Never: changes anything but the result and the
 * timing of the two calls.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int sync_fn(int fd);

enum shim_mode { SHIM_SYNC, SHIM_DELAY, SHIM_FAIL };

static long long shim_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* What this call is to do, from the control file or the environment. */
static enum shim_mode shim_mode(long *delay_ms)
{
	const char *ctl = getenv("MXR_FSYNC_SHIM_CTL");
	*delay_ms = 0;
	if (ctl != NULL) {
		int fd = open(ctl, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			char buf[64];
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
			if (strncmp(buf, "fail", 4) == 0)
				return SHIM_FAIL;
			if (strncmp(buf, "delay=", 6) == 0) {
				*delay_ms = strtol(buf + 6, NULL, 10);
				return SHIM_DELAY;
			}
			return SHIM_SYNC;
		}
	}
	const char *fail = getenv("MXR_FSYNC_SHIM_FAIL");
	if (fail != NULL && strcmp(fail, "1") == 0)
		return SHIM_FAIL;
	const char *delay = getenv("MXR_FSYNC_SHIM_DELAY_MS");
	if (delay != NULL && (*delay_ms = strtol(delay, NULL, 10)) > 0)
		return SHIM_DELAY;
	return SHIM_SYNC;
}

/* Append one line about a call to the log file, if there is one. */
static void shim_log(const char *name, int fd, int rc, int err, long long start, long long end)
{
	const char *log = getenv("MXR_FSYNC_SHIM_LOG");
	if (log == NULL)
		return;
	char link[64], path[512];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	char line[700];
	int len = snprintf(line, sizeof(line), "%s %d %d %d %lld %lld %s\n", name, fd, rc, err,
	    start, end, path);
	if (len < 0 || (size_t)len >= sizeof(line))
		return;
	int lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (lfd < 0)
		return;
	/* One write of one line with O_APPEND: lines of concurrent threads do not mix. */
	ssize_t w = write(lfd, line, (size_t)len);
	(void)w;
	close(lfd);
}

/* The common body of both wrappers. */
static int shim_sync(const char *name, int fd)
{
	int saved = errno;
	long long start = shim_now_ns();
	long delay_ms;
	enum shim_mode mode = shim_mode(&delay_ms);
	int rc, err = 0;
	if (mode == SHIM_FAIL) {
		rc = -1;
		err = EIO;
	} else {
		if (mode == SHIM_DELAY && delay_ms > 0) {
			struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
		}
		sync_fn *real = (sync_fn *)dlsym(RTLD_NEXT, name);
		rc = real != NULL ? real(fd) : -1;
		err = rc != 0 ? (real != NULL ? errno : ENOSYS) : 0;
	}
	shim_log(name, fd, rc, err, start, shim_now_ns());
	errno = rc != 0 ? err : saved;
	return rc;
}

int fsync(int fd)
{
	return shim_sync("fsync", fd);
}

int fdatasync(int fd)
{
	return shim_sync("fdatasync", fd);
}
