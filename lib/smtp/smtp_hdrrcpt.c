/*
 * smtp_hdrrcpt: To/Cc/Bcc recipients of a header section, Bcc removed.
 *
 * Owns: which fields carry recipients, and the copy without Bcc; the
 * field scan and the address lists are smtp_hdrfield's.
 * Never: does I/O; never writes past the caps of its buffers.
 */
#include "smtp/smtp_hdrrcpt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_hdrfield.h"
#include "util/xalloc.h"

size_t smtp_hdrrcpt_end(const char *msg, size_t len)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(msg + i, '\n', len - i);
		if (nl == NULL)
			return 0;
		size_t line_end = (size_t)(nl - msg) + 1;
		size_t body = line_end - i;
		if (body == 1 || (body == 2 && msg[i] == '\r'))
			return line_end;
		i = line_end;
	}
	return 0;
}

void smtp_hdrrcpt_parse(const char *hdr, size_t len, struct smtp_hdrrcpt *out)
{
	struct smtp_hdrfield_addrs l = { 0 };
	memset(out, 0, sizeof(*out));
	out->header = xmalloc(len + 1);
	size_t pos = 0;
	struct smtp_hdrfield f;
	while (smtp_hdrfield_next(hdr, len, &pos, &f)) {
		bool bcc = smtp_hdrfield_is(&f, "bcc");
		if (bcc || smtp_hdrfield_is(&f, "to") || smtp_hdrfield_is(&f, "cc")) {
			size_t vn;
			char *val = smtp_hdrfield_unfold(&f, &vn);
			smtp_hdrfield_addrs_parse(&l, val, vn);
			free(val);
		}
		if (!bcc) {
			memcpy(out->header + out->header_len, f.start, f.len);
			out->header_len += f.len;
		}
	}
	/* The blank line and what follows, unchanged. */
	memcpy(out->header + out->header_len, hdr + pos, len - pos);
	out->header_len += len - pos;
	out->header[out->header_len] = '\0';
	out->addrs = l.a;
	out->n = l.n;
}

void smtp_hdrrcpt_free(struct smtp_hdrrcpt *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->addrs[i]);
	free(r->addrs);
	free(r->header);
	memset(r, 0, sizeof(*r));
}
