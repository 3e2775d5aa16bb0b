/*
 * unix_sock: local stream sockets by path (see unix_sock.h).
 */
#include "util/unix_sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

int unix_sock_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, n + 1);
	return 0;
}

int unix_sock_connect(const char *path, unsigned timeout_s)
{
	struct sockaddr_un sun;
	if (unix_sock_addr(path, &sun) != 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = { (time_t)timeout_s, 0 };
	if ((timeout_s > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int unix_sock_clear_stale(const char *path, bool *removed, char *err, size_t errlen)
{
	*removed = false;
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	int fd = unix_sock_connect(path, 0);
	if (fd >= 0) {
		close(fd);
		snprintf(err, errlen, "%s: another daemon is listening there", path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the stale %s: %s", path, strerror(errno));
		return -1;
	}
	*removed = true;
	return 0;
}

int unix_sock_listen(const char *path, mode_t mode, struct unix_sock_file *f, char *err,
    size_t errlen)
{
	struct sockaddr_un sun;
	if (unix_sock_addr(path, &sun) != 0) {
		snprintf(err, errlen, "%s: %s", *path == '\0' ? "socket path" : path,
		    *path == '\0' ? "is empty" : "too long for a Unix socket");
		return -1;
	}
	f->stale_removed = false;
	if (unix_sock_clear_stale(path, &f->stale_removed, err, errlen) != 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	struct stat st;
	if (chmod(path, mode) != 0 || stat(path, &st) != 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	return fd;
}

void unix_sock_remove_own(const char *path, const struct unix_sock_file *f)
{
	struct stat st;
	if (path != NULL && lstat(path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
		unlink(path);
}
