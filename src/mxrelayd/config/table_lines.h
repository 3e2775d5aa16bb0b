/*
 * table_lines: the line discipline of the mapping files (aliases,
 * sender_login): lines ended by LF or CRLF and counted from 1, each at
 * most max octets and free of NUL, and errors "NAME:LINE: what".
 *
 * Owns: the splitting, the line count, the two checks every line gets,
 * the error's form. Never: interprets a line (its parser does).
 */
#ifndef MXR_TABLE_LINES_H
#define MXR_TABLE_LINES_H

#include <stddef.h>

struct table_lines {
	const char *name;	/* the file, for errors */
	unsigned line;		/* the line being read (1 is the first) */
	char *err;
	size_t errlen;
};

/* Write "NAME:LINE: message" into t->err; returns -1. */
__attribute__((format(printf, 2, 3)))
int table_lines_error(struct table_lines *t, const char *fmt, ...);

/* Text of the file for an error: printable, at most 120 octets of s[0..n). */
const char *table_lines_quote(char *buf, size_t buflen, const char *s, size_t n);

/* One line, without its end; 0 to go on, -1 (an error in t->err) to stop. */
typedef int table_lines_fn(void *arg, const char *s, size_t n);

/*
 * Each line of text[0..len) to fn, t->line counting them; a line over max
 * octets or holding a NUL is an error at its line. 0, or -1 with t->err.
 */
int table_lines_each(struct table_lines *t, const char *text, size_t len, size_t max,
    table_lines_fn *fn, void *arg);

#endif
