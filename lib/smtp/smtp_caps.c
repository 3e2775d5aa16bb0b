/*
 * smtp_caps: read a server's EHLO reply into struct smtp_caps.
 *
 * Owns: the EHLO keyword grammar (RFC 5321 4.1.1.1: ehlo-keyword
 * [SP ehlo-param]*), matched without regard to case; keywords it does not
 * know are ignored.
 * Never: does I/O, and never trusts a number the server sends beyond what
 * fits in 64 bits.
 */
#include "smtp/smtp_caps.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Whether the word s[0..n) equals word, without regard to case. */
static bool caps_word_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Parse a decimal SIZE argument; 0 (no fixed limit) when it is not a number. */
static uint64_t caps_size(const char *s, size_t n)
{
	uint64_t v = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return UINT64_MAX;
		v = v * 10 + d;
	}
	return v;
}

/* Map one SASL mechanism name to its bit, 0 when unknown. */
static unsigned caps_mech(const char *s, size_t n)
{
	if (caps_word_is(s, n, "PLAIN"))
		return SMTP_AUTH_PLAIN;
	if (caps_word_is(s, n, "LOGIN"))
		return SMTP_AUTH_LOGIN;
	if (caps_word_is(s, n, "CRAM-MD5"))
		return SMTP_AUTH_CRAM_MD5;
	if (caps_word_is(s, n, "XOAUTH2"))
		return SMTP_AUTH_XOAUTH2;
	return 0;
}

/* Take the next space-separated word of s[*pos..len); false when none is left. */
static bool caps_next_word(const char *s, size_t len, size_t *pos, const char **w, size_t *wn)
{
	size_t i = *pos;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i >= len)
		return false;
	size_t start = i;
	while (i < len && s[i] != ' ' && s[i] != '\t')
		i++;
	*w = s + start;
	*wn = i - start;
	*pos = i;
	return true;
}

/* Apply one EHLO line "KEYWORD [params]" to caps. */
static void caps_line(const char *s, struct smtp_caps *caps)
{
	size_t len = strlen(s);
	size_t pos = 0;
	const char *kw;
	size_t kn;
	if (!caps_next_word(s, len, &pos, &kw, &kn))
		return;
	/* Old servers write "AUTH=LOGIN PLAIN": treat it as "AUTH LOGIN PLAIN". */
	if (kn > 5 && strncasecmp(kw, "AUTH=", 5) == 0) {
		caps->auth |= caps_mech(kw + 5, kn - 5);
		kn = 4;
	}
	const char *w;
	size_t wn;
	if (caps_word_is(kw, kn, "PIPELINING")) {
		caps->pipelining = true;
	} else if (caps_word_is(kw, kn, "SIZE")) {
		caps->size = true;
		caps->size_max = caps_next_word(s, len, &pos, &w, &wn) ? caps_size(w, wn) : 0;
	} else if (caps_word_is(kw, kn, "8BITMIME")) {
		caps->eightbitmime = true;
	} else if (caps_word_is(kw, kn, "SMTPUTF8")) {
		caps->smtputf8 = true;
	} else if (caps_word_is(kw, kn, "DSN")) {
		caps->dsn = true;
	} else if (caps_word_is(kw, kn, "STARTTLS")) {
		caps->starttls = true;
	} else if (caps_word_is(kw, kn, "ENHANCEDSTATUSCODES")) {
		caps->enhancedstatuscodes = true;
	} else if (caps_word_is(kw, kn, "CHUNKING")) {
		caps->chunking = true;
	} else if (caps_word_is(kw, kn, "BINARYMIME")) {
		caps->binarymime = true;
	} else if (caps_word_is(kw, kn, "REQUIRETLS")) {
		caps->requiretls = true;
	} else if (caps_word_is(kw, kn, "AUTH")) {
		while (caps_next_word(s, len, &pos, &w, &wn))
			caps->auth |= caps_mech(w, wn);
	}
}

void smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	if (r->code != 250 || r->nlines == 0)
		return;
	caps->esmtp = true;
	for (unsigned i = 1; i < r->nlines; i++)
		caps_line(r->lines[i], caps);
}
