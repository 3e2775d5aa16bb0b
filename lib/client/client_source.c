/*
 * client_source: ready-made message sources (struct mxr_source) over a
 * memory buffer and over a file descriptor.
 *
 * Owns: nothing but the read_at functions; the buffer or descriptor stays
 * the caller's. The engine never asks for octets past src.size, which is
 * what lets the memory source carry only the buffer's address.
 * Never: reads a whole file into memory.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxrelay/mxrelay.h"

/* read_at over a buffer: arg is its start; the engine keeps off + n within size. */
static ssize_t client_source_mem_read(void *arg, uint64_t off, char *buf, size_t n)
{
	memcpy(buf, (const char *)arg + off, n);
	return (ssize_t)n;
}

/* read_at over a descriptor with pread, retried on EINTR. */
static ssize_t client_source_fd_read(void *arg, uint64_t off, char *buf, size_t n)
{
	int fd = (int)(intptr_t)arg;
	for (;;) {
		ssize_t r = pread(fd, buf, n, (off_t)off);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

struct mxr_source mxr_source_mem(const void *data, size_t len)
{
	struct mxr_source s = {
		.read_at = client_source_mem_read,
		.arg = (void *)(uintptr_t)data,
		.size = len,
	};
	return s;
}

int mxr_source_fd(int fd, struct mxr_source *src)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	src->read_at = client_source_fd_read;
	src->arg = (void *)(intptr_t)fd;
	src->size = (uint64_t)st.st_size;
	return 0;
}
