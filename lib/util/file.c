/*
 * file: capped whole-file reads (see file.h).
 * Owns: the read loop and its errors. Never: returns a partial file.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

char *file_read_all(const char *path, size_t max, size_t *lenp, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((unsigned long long)st.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu octets", path, max);
		close(fd);
		return NULL;
	}
	/* One octet more than allowed, to notice a file that grows meanwhile. */
	char *buf = xmalloc(max + 2);
	size_t used = 0;
	for (;;) {
		ssize_t r = read(fd, buf + used, max + 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
			break;
		}
		if (r == 0) {
			close(fd);
			buf[used] = '\0';
			*lenp = used;
			return buf;
		}
		used += (size_t)r;
		if (used > max) {
			snprintf(err, errlen, "%s: larger than %zu octets", path, max);
			break;
		}
	}
	close(fd);
	free(buf);
	return NULL;
}
