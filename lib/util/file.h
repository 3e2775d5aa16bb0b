/*
 * file: reading a small file whole (configuration, credentials), capped.
 *
 * Owns: the checks every such read needs: a regular file, no larger than
 * the caller's cap, read to the end despite EINTR, errors naming the file.
 * Never: follows the size the file claims past the cap, or returns a
 * partial file as if it were whole.
 */
#ifndef MXR_FILE_H
#define MXR_FILE_H

#include <stddef.h>

/*
 * Read path whole into a new NUL-terminated buffer (the caller frees it),
 * *lenp octets long. A file larger than max octets, not a regular file,
 * or unreadable gives NULL and "PATH: what" in err.
 */
char *file_read_all(const char *path, size_t max, size_t *lenp, char *err, size_t errlen);

#endif
