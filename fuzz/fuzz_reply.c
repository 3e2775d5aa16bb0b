/*
 * fuzz_reply: arbitrary bytes, split into lines, fed to the reply parser.
 * Checks that every completed reply is well formed and that the formatted
 * text stays printable and inside its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Check what a DONE reply must hold. */
static void fuzz_reply_check(const struct smtp_reply *r)
{
	if (r->code < 200 || r->code > 599 || r->nlines == 0 || r->nlines > SMTP_REPLY_LINES_MAX)
		abort();
	if (r->esc[0] != '\0' &&
	    (smtp_reply_esc_len(r->esc, strlen(r->esc), (char)('0' + r->code / 100)) !=
	    strlen(r->esc)))
		abort();
	char buf[256];
	smtp_reply_format(r, buf, sizeof(buf));
	size_t n = strlen(buf);
	if (n < 3 || n >= sizeof(buf))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] >= 0x7f)
			abort();
	for (unsigned i = 0; i < r->nlines; i++) {
		const char *t = smtp_reply_text(r, i);
		if (strlen(t) > strlen(r->lines[i]))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct smtp_reply r;
	smtp_reply_init(&r);
	size_t start = 0;
	while (start < size) {
		const char *nl = memchr(s + start, '\n', size - start);
		size_t end = nl != NULL ? (size_t)(nl - s) : size;
		size_t len = end - start;
		if (len > 0 && s[start + len - 1] == '\r')
			len--;
		enum smtp_reply_result res = smtp_reply_feed(&r, s + start, len);
		if (res == SMTP_REPLY_BAD) {
			if (r.error == NULL)
				abort();
			smtp_reply_reset(&r);
		} else if (res == SMTP_REPLY_DONE) {
			fuzz_reply_check(&r);
			smtp_reply_reset(&r);
		} else if (r.nlines == 0 || r.code < 200 || r.code > 599) {
			abort();
		}
		start = end + 1;
	}
	smtp_reply_reset(&r);
	return 0;
}
