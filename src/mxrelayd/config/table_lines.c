/*
 * table_lines: the line discipline of the mapping files (see
 * table_lines.h).
 */
#include "table_lines.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

int table_lines_error(struct table_lines *t, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(t->err, t->errlen, "%s:%u: %s", t->name, t->line, msg);
	return -1;
}

const char *table_lines_quote(char *buf, size_t buflen, const char *s, size_t n)
{
	return log_printable(buf, buflen, s, n > 120 ? 120 : n);
}

int table_lines_each(struct table_lines *t, const char *text, size_t len, size_t max,
    table_lines_fn *fn, void *arg)
{
	size_t pos = 0;
	while (pos < len) {
		t->line++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (n > max)
			return table_lines_error(t, "line longer than %zu octets", max);
		if (memchr(text + pos, '\0', n) != NULL)
			return table_lines_error(t, "NUL byte in line");
		if (fn(arg, text + pos, n) < 0)
			return -1;
		pos = end + 1;
	}
	return 0;
}
