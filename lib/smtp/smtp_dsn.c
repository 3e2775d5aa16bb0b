/*
 * smtp_dsn: NOTIFY and RET values (RFC 3461 4.1, 4.3).
 *
 * Owns: the keyword tables and the NOTIFY list grammar (see smtp_dsn.h).
 * Never: does I/O, allocates, or looks past the length it is given.
 */
#include "smtp/smtp_dsn.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* NOTIFY keywords in the order they are written. */
static const struct {
	const char *name;
	unsigned bit;
} dsn_notify_words[] = {
	{ "NEVER", SMTP_DSN_NOTIFY_NEVER },
	{ "SUCCESS", SMTP_DSN_NOTIFY_SUCCESS },
	{ "FAILURE", SMTP_DSN_NOTIFY_FAILURE },
	{ "DELAY", SMTP_DSN_NOTIFY_DELAY },
};

#define DSN_NOTIFY_WORDS (sizeof(dsn_notify_words) / sizeof(dsn_notify_words[0]))

/* Whether s[0..len) is word, in any case. */
static bool dsn_word_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

unsigned smtp_dsn_notify_parse(const char *s, size_t len, const char **err)
{
	const char *why = NULL;
	unsigned bits = 0;
	if (s == NULL || len == 0) {
		why = "empty NOTIFY value";
		goto fail;
	}
	for (size_t i = 0; i <= len;) {
		size_t j = i;
		while (j < len && s[j] != ',')
			j++;
		if (j == i) {
			why = "empty item in the NOTIFY list";
			goto fail;
		}
		unsigned bit = 0;
		for (size_t k = 0; k < DSN_NOTIFY_WORDS && bit == 0; k++)
			if (dsn_word_is(s + i, j - i, dsn_notify_words[k].name))
				bit = dsn_notify_words[k].bit;
		if (bit == 0) {
			why = "unknown NOTIFY keyword (NEVER, SUCCESS, FAILURE, DELAY)";
			goto fail;
		}
		if (bits & bit) {
			why = "NOTIFY keyword given twice";
			goto fail;
		}
		bits |= bit;
		i = j + 1;
	}
	if ((bits & SMTP_DSN_NOTIFY_NEVER) && bits != SMTP_DSN_NOTIFY_NEVER) {
		why = "NOTIFY=NEVER cannot be combined with another keyword";
		goto fail;
	}
	return bits;
fail:
	if (err != NULL)
		*err = why;
	return 0;
}

size_t smtp_dsn_notify_format(unsigned bits, char *buf, size_t cap)
{
	size_t n = 0;
	if (cap == 0)
		return 0;
	buf[0] = '\0';
	if (bits & SMTP_DSN_NOTIFY_NEVER)
		bits = SMTP_DSN_NOTIFY_NEVER;
	for (size_t k = 0; k < DSN_NOTIFY_WORDS; k++) {
		if ((bits & dsn_notify_words[k].bit) == 0)
			continue;
		size_t w = strlen(dsn_notify_words[k].name);
		size_t sep = n > 0 ? 1 : 0;
		if (n + sep + w >= cap) {
			buf[0] = '\0';
			return 0;
		}
		if (sep)
			buf[n++] = ',';
		memcpy(buf + n, dsn_notify_words[k].name, w);
		n += w;
	}
	buf[n] = '\0';
	return n;
}

enum smtp_dsn_ret smtp_dsn_ret_parse(const char *s, size_t len)
{
	if (s == NULL)
		return SMTP_DSN_RET_UNSET;
	if (dsn_word_is(s, len, "FULL"))
		return SMTP_DSN_RET_FULL;
	if (dsn_word_is(s, len, "HDRS"))
		return SMTP_DSN_RET_HDRS;
	return SMTP_DSN_RET_UNSET;
}
