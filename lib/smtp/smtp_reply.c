/*
 * smtp_reply: the incremental SMTP reply parser (RFC 5321 4.2, RFC 2034,
 * RFC 3463).
 *
 * Owns: the lines of one reply (struct smtp_reply.lines, freed by reset)
 * and the checks every peer line must pass before it is kept.
 * Never: does I/O or trusts the peer: a line is validated before any byte
 * of it is stored, and nothing grows past SMTP_REPLY_LINE_MAX or
 * SMTP_REPLY_LINES_MAX.
 */
#include "smtp/smtp_reply.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->esc[0] = '\0';
}

void smtp_reply_reset(struct smtp_reply *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->lines);
	smtp_reply_init(r);
}

static bool reply_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Count 1..3 digits at s[0..len); 0 when there are none or more than 3. */
static size_t reply_digits(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && reply_is_digit(s[n]))
		n++;
	return n <= 3 ? n : 0;
}

size_t smtp_reply_esc_len(const char *s, size_t len, char class_digit)
{
	if (len < 5)
		return 0;
	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	if (class_digit != 0 && s[0] != class_digit)
		return 0;
	if (s[1] != '.')
		return 0;
	size_t i = 2;
	size_t n = reply_digits(s + i, len - i);
	if (n == 0)
		return 0;
	i += n;
	if (i >= len || s[i] != '.')
		return 0;
	i++;
	n = reply_digits(s + i, len - i);
	if (n == 0)
		return 0;
	i += n;
	/* "5.1.1x" or "5.1.1.2" is text, not a code. */
	if (i < len && s[i] != ' ' && s[i] != '\t')
		return 0;
	return i;
}

/* Fail the reply with a static reason; BAD stays until reset. */
static enum smtp_reply_result reply_fail(struct smtp_reply *r, const char *why)
{
	r->error = why;
	return SMTP_REPLY_BAD;
}

enum smtp_reply_result smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len)
{
	if (r->error != NULL)
		return SMTP_REPLY_BAD;
	if (r->done)
		return reply_fail(r, "line fed after the reply was complete");
	if (len > SMTP_REPLY_LINE_MAX)
		return reply_fail(r, "reply line too long");
	if (memchr(line, '\0', len) != NULL)
		return reply_fail(r, "reply line holds a NUL");
	if (memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL)
		return reply_fail(r, "reply line holds a bare CR or LF");
	if (len < 3 || !reply_is_digit(line[0]) || !reply_is_digit(line[1]) ||
	    !reply_is_digit(line[2]))
		return reply_fail(r, "reply line does not start with a 3-digit code");
	if (line[0] < '2' || line[0] > '5')
		return reply_fail(r, "reply code not in 2xx..5xx");
	if (line[1] > '5')
		return reply_fail(r, "reply code second digit over 5");
	bool last;
	if (len == 3 || line[3] == ' ')
		last = true;
	else if (line[3] == '-')
		last = false;
	else
		return reply_fail(r, "reply code not followed by space or hyphen");
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return reply_fail(r, "reply code changed between lines");
	if (r->nlines >= SMTP_REPLY_LINES_MAX)
		return reply_fail(r, "reply has too many lines");

	const char *text = len > 4 ? line + 4 : line + len;
	size_t tlen = len > 4 ? len - 4 : 0;
	if (r->nlines == 0) {
		r->code = code;
		size_t el = smtp_reply_esc_len(text, tlen, line[0]);
		if (el > 0 && el < sizeof(r->esc)) {
			memcpy(r->esc, text, el);
			r->esc[el] = '\0';
		}
	}
	r->lines = xreallocarray(r->lines, r->nlines + 1, sizeof(*r->lines));
	r->lines[r->nlines++] = xmemdup0(text, tlen);
	if (last) {
		r->done = true;
		return SMTP_REPLY_DONE;
	}
	return SMTP_REPLY_MORE;
}

const char *smtp_reply_text(const struct smtp_reply *r, unsigned i)
{
	if (i >= r->nlines)
		return "";
	const char *t = r->lines[i];
	if (r->esc[0] == '\0')
		return t;
	size_t tlen = strlen(t);
	size_t el = smtp_reply_esc_len(t, tlen, r->esc[0]);
	if (el == 0)
		return t;
	t += el;
	while (*t == ' ' || *t == '\t')
		t++;
	return t;
}

/* Append s[0..n) to dst at *pos, making every byte printable ASCII. */
static void reply_put(char *dst, size_t dstlen, size_t *pos, const char *s, size_t n)
{
	for (size_t i = 0; i < n && *pos + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[(*pos)++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[*pos] = '\0';
}

char *smtp_reply_format(const struct smtp_reply *r, char *dst, size_t dstlen)
{
	if (dstlen == 0)
		return dst;
	size_t pos = 0;
	dst[0] = '\0';
	char code[4] = { '0', '0', '0', '\0' };
	if (r->code >= 100 && r->code <= 999) {
		code[0] = (char)('0' + r->code / 100);
		code[1] = (char)('0' + r->code / 10 % 10);
		code[2] = (char)('0' + r->code % 10);
	}
	reply_put(dst, dstlen, &pos, code, 3);
	if (r->esc[0] != '\0') {
		reply_put(dst, dstlen, &pos, " ", 1);
		reply_put(dst, dstlen, &pos, r->esc, strlen(r->esc));
	}
	for (unsigned i = 0; i < r->nlines; i++) {
		const char *t = smtp_reply_text(r, i);
		size_t tlen = strlen(t);
		if (tlen == 0)
			continue;
		reply_put(dst, dstlen, &pos, " ", 1);
		reply_put(dst, dstlen, &pos, t, tlen);
	}
	return dst;
}
