/*
 * client_source: ready-made message sources (struct mxr_source) over a
 * memory buffer and over a file descriptor, and the scan that tells the
 * size a source has on the wire.
 *
 * Owns: nothing but the read_at functions; the buffer or descriptor stays
 * the caller's. The engine never asks for octets past src.size, which is
 * what lets the memory source carry only the buffer's address.
 * Never: reads a whole file into memory.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxrelay/mxrelay.h"
#include "smtp/smtp_data.h"
#include "util/xalloc.h"

/* The scan reads this much at a time. */
#define CLIENT_SCAN_CHUNK (64u * 1024u)

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

/*
 * The same encoder the DATA stream uses, run over the whole source with
 * its output counted and dropped: SIZE then matches what is sent however
 * the text ends its lines.
 */
int mxr_source_scan(const struct mxr_source *src, uint64_t *wire_size, bool *any_8bit)
{
	char *in = xmalloc(CLIENT_SCAN_CHUNK);
	char *out = xmalloc(smtp_data_enc_bound(CLIENT_SCAN_CHUNK) + 8);
	struct smtp_data_enc enc;
	smtp_data_enc_init(&enc);
	uint64_t total = 0;
	int rc = 0;
	for (uint64_t off = 0; off < src->size;) {
		uint64_t left = src->size - off;
		size_t want = left < CLIENT_SCAN_CHUNK ? (size_t)left : CLIENT_SCAN_CHUNK;
		ssize_t got = src->read_at(src->arg, off, in, want);
		if (got < 0) {
			rc = -1;
			break;
		}
		if (got == 0)
			break;
		total += smtp_data_enc_feed(&enc, in, (size_t)got, out);
		off += (uint64_t)got;
	}
	if (rc == 0) {
		total += smtp_data_enc_finish(&enc, out);
		/* The final ".\r\n" and the stuffed dots are not part of SIZE. */
		*wire_size = total - 3 - enc.stuffed;
		*any_8bit = enc.any_8bit;
	}
	free(in);
	free(out);
	return rc;
}
