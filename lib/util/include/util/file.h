/*
 * file: reading a small file whole (configuration, credentials), capped,
 * and sets of such files carried in memory.
 *
 * Owns: the checks every such read needs: a regular file, no larger than
 * the caller's cap, read to the end despite EINTR, errors naming the file.
 * A file_set owns copies of the contents it holds (wiped when freed:
 * they may be keys or password hashes).
 * Never: follows the size the file claims past the cap, or returns a
 * partial file as if it were whole; a set that does not read the disk
 * never opens a file.
 */
#ifndef MXR_FILE_H
#define MXR_FILE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Read path whole into a new NUL-terminated buffer (the caller frees it),
 * *lenp octets long. A file larger than max octets, not a regular file,
 * or unreadable gives NULL and "PATH: what" in err.
 */
char *file_read_all(const char *path, size_t max, size_t *lenp, char *err, size_t errlen);

/* Most files one set holds (the keys of every dkim_sign line among them). */
#define FILE_SET_MAX_FILES 1100

/*
 * Whole files by path. A set made with from_disk reads a path it does not
 * hold yet with file_read_all and keeps it (so afterwards it holds every
 * file that was asked for); one made without answers only from what was
 * added, and a path it lacks is an error.
 */
struct file_set;

struct file_set *file_set_new(bool from_disk);
void file_set_free(struct file_set *fs);
/* Add a copy of data[0..len) as path (replacing an earlier one); -1 when the set is full. */
int file_set_add(struct file_set *fs, const char *path, const char *data, size_t len);
/*
 * The contents of path (NUL-terminated, owned by the set), *lenp octets;
 * NULL with "PATH: what" in err. A file longer than max is an error.
 */
const char *file_set_get(struct file_set *fs, const char *path, size_t max, size_t *lenp,
    char *err, size_t errlen);
/* How many files the set holds, and the i-th of them (in the order they came). */
size_t file_set_count(const struct file_set *fs);
const char *file_set_path(const struct file_set *fs, size_t i);
const char *file_set_data(const struct file_set *fs, size_t i, size_t *lenp);

#endif
