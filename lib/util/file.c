/*
 * file: capped whole-file reads and sets of whole files (see file.h).
 * Owns: the read loop and its errors; a set's copies, wiped when freed.
 * Never: returns a partial file; a set without from_disk never opens one.
 */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xalloc.h"

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

/* ---- file sets ---- */

struct file_set_entry {
	char *path;			/* owned */
	char *data;			/* owned, NUL-terminated; wiped when freed */
	size_t len;
};

struct file_set {
	bool from_disk;
	struct file_set_entry v[FILE_SET_MAX_FILES];
	size_t n;
};

struct file_set *file_set_new(bool from_disk)
{
	struct file_set *fs = xcalloc(1, sizeof(*fs));
	fs->from_disk = from_disk;
	return fs;
}

static void file_set_entry_clear(struct file_set_entry *e)
{
	free(e->path);
	if (e->data != NULL) {
		explicit_bzero(e->data, e->len);
		free(e->data);
	}
	e->path = e->data = NULL;
	e->len = 0;
}

void file_set_free(struct file_set *fs)
{
	if (fs == NULL)
		return;
	for (size_t i = 0; i < fs->n; i++)
		file_set_entry_clear(&fs->v[i]);
	free(fs);
}

static struct file_set_entry *file_set_find(struct file_set *fs, const char *path)
{
	for (size_t i = 0; i < fs->n; i++)
		if (strcmp(fs->v[i].path, path) == 0)
			return &fs->v[i];
	return NULL;
}

/* Keep data (taken, not copied) as path. */
static int file_set_take(struct file_set *fs, const char *path, char *data, size_t len)
{
	struct file_set_entry *e = file_set_find(fs, path);
	if (e == NULL) {
		if (fs->n >= FILE_SET_MAX_FILES)
			return -1;
		e = &fs->v[fs->n++];
		e->path = xstrdup(path);
	} else {
		explicit_bzero(e->data, e->len);
		free(e->data);
	}
	e->data = data;
	e->len = len;
	return 0;
}

int file_set_add(struct file_set *fs, const char *path, const char *data, size_t len)
{
	if (fs->n >= FILE_SET_MAX_FILES && file_set_find(fs, path) == NULL)
		return -1;
	char *copy = xmalloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	if (file_set_take(fs, path, copy, len) != 0) {
		free(copy);
		return -1;
	}
	return 0;
}

const char *file_set_get(struct file_set *fs, const char *path, size_t max, size_t *lenp,
    char *err, size_t errlen)
{
	struct file_set_entry *e = file_set_find(fs, path);
	if (e == NULL && fs->from_disk) {
		size_t len = 0;
		char *data = file_read_all(path, max, &len, err, errlen);
		if (data == NULL)
			return NULL;
		if (file_set_take(fs, path, data, len) != 0) {
			explicit_bzero(data, len);
			free(data);
			snprintf(err, errlen, "%s: more than %d files named", path, FILE_SET_MAX_FILES);
			return NULL;
		}
		e = file_set_find(fs, path);
	}
	if (e == NULL) {
		snprintf(err, errlen, "%s: cannot open: not among the files read for this load", path);
		return NULL;
	}
	if (e->len > max) {
		snprintf(err, errlen, "%s: larger than %zu octets", path, max);
		return NULL;
	}
	*lenp = e->len;
	return e->data;
}

size_t file_set_count(const struct file_set *fs)
{
	return fs->n;
}

const char *file_set_path(const struct file_set *fs, size_t i)
{
	return i < fs->n ? fs->v[i].path : NULL;
}

const char *file_set_data(const struct file_set *fs, size_t i, size_t *lenp)
{
	if (i >= fs->n)
		return NULL;
	*lenp = fs->v[i].len;
	return fs->v[i].data;
}
