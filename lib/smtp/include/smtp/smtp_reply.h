/*
 * smtp_reply: parse SMTP replies (RFC 5321 4.2), one line at a time.
 *
 * Owns: the reply grammar, multi-line replies, enhanced status codes
 * (RFC 2034, RFC 3463) and the caps on what a peer may send us.
 * Never: does I/O, reads a clock or trusts the peer: every line is checked.
 *
 * A caller reads one line from the connection (without its CRLF, at most
 * SMTP_REPLY_LINE_MAX octets) and feeds it; the parser says whether the
 * reply is complete, needs more lines, or is malformed.
 */
#ifndef MXR_SMTP_REPLY_H
#define MXR_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

/* Longest reply line we accept (RFC 5321 says 512; peers exceed it). */
#define SMTP_REPLY_LINE_MAX 4096
/* Most lines in one reply (EHLO replies are the longest seen). */
#define SMTP_REPLY_LINES_MAX 128

enum smtp_reply_result {
	SMTP_REPLY_MORE,	/* a continuation line was taken; feed the next */
	SMTP_REPLY_DONE,	/* the last line was taken; the reply is complete */
	SMTP_REPLY_BAD,		/* malformed or over a cap; reply.error says why */
};

struct smtp_reply {
	int code;		/* 200..599 once any line was taken, else 0 */
	char esc[16];		/* enhanced status "c.s.d" of the first line, or "" */
	unsigned nlines;	/* lines taken so far */
	char **lines;		/* owned: each line's text after "NNN-"/"NNN " (ESC kept), NUL-terminated */
	const char *error;	/* static text when the result was SMTP_REPLY_BAD */
	bool done;		/* the last line was taken; feed again only after reset */
};

void smtp_reply_init(struct smtp_reply *r);
/* Free what the reply owns and make it ready for the next reply. */
void smtp_reply_reset(struct smtp_reply *r);

/*
 * Take one line (no CRLF). A line is "NNN" followed by '-' (more lines to
 * come), ' ' or end of line (last line). Every line must carry the same
 * code. The first digit must be 2..5. NUL bytes, a code that changes or
 * more than SMTP_REPLY_LINES_MAX lines give SMTP_REPLY_BAD.
 * Also BAD: a line over SMTP_REPLY_LINE_MAX, a CR or LF inside the line,
 * and any line fed after DONE or BAD without a reset (BAD is sticky).
 */
enum smtp_reply_result smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len);

/*
 * The human text of line i with the enhanced status code removed (when the
 * reply has one), as a pointer into the reply's storage.
 */
const char *smtp_reply_text(const struct smtp_reply *r, unsigned i);

/*
 * Join the whole reply into dst for a status or log, as
 * "CODE ESC text text ..." with lines separated by a space and every byte
 * outside printable ASCII replaced by '?'. Always NUL-terminates; returns dst.
 */
char *smtp_reply_format(const struct smtp_reply *r, char *dst, size_t dstlen);

/*
 * Whether s[0..len) is an enhanced status code "c.sss.ddd" (RFC 3463:
 * class 2, 4 or 5, subject 1-3 digits, detail 1-3 digits). When it is and
 * class_digit is not 0, the class must also equal class_digit.
 * Returns the length of the code, or 0.
 */
size_t smtp_reply_esc_len(const char *s, size_t len, char class_digit);

#endif
