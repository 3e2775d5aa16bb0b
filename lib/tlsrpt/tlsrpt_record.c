/*
 * tlsrpt_record: the TLS-RPT TXT record at _smtp._tls.DOMAIN (RFC 8460 3).
 *
 * Owns: which of a name's TXT records is the TLS-RPT record, its grammar,
 * the rua list, the generic URI syntax (RFC 3986) its entries must have,
 * and the mailto: address (RFC 6068) percent-decoded and checked.
 * Never: does I/O, reads a clock, keeps state or allocates; a URI is
 * checked before it is stored and stored only when it fits its field.
 */
#include "tlsrpt/tlsrpt_record.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tlsrpt_name.h"
#include "util/strv.h"

#define RECORD_PREFIX "v=TLSRPTv1;"
/* The version field without its delimiter: where the field list starts. */
#define RECORD_VERSION_LEN 10
#define RECORD_EXT_NAME_MAX 32
#define RECORD_LOCAL_MAX 64
#define RECORD_WHY_MAX 160

/* Write a printable reason into why (when there is room); returns st. */
static enum tlsrpt_record_status record_fail(enum tlsrpt_record_status st, char *why,
    size_t whylen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum tlsrpt_record_status record_fail(enum tlsrpt_record_status st, char *why,
    size_t whylen, const char *fmt, ...)
{
	if (whylen == 0)
		return st;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	for (char *c = why; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	return st;
}

static bool record_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool record_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool record_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool record_is_hex(char c)
{
	return record_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int record_hex_value(char c)
{
	if (record_is_digit(c))
		return c - '0';
	return (c | 0x20) - 'a' + 10;
}

/* Length of the tlsrpt-ext-name at s[0..len): 1 to 32 octets, or 0. */
static size_t record_ext_name(const char *s, size_t len)
{
	if (len == 0 || !(record_is_alpha(s[0]) || record_is_digit(s[0])))
		return 0;
	size_t n = 1;
	while (n < len && (record_is_alpha(s[n]) || record_is_digit(s[n]) || s[n] == '_' ||
	    s[n] == '-' || s[n] == '.'))
		n++;
	return n <= RECORD_EXT_NAME_MAX ? n : 0;
}

/*
 * Whether c may follow the scheme of a URI (RFC 3986): unreserved,
 * gen-delims and sub-delims, without "," and "!" (RFC 8460 wants them
 * encoded) and ";" (the field delimiter); "%" is checked by the caller.
 */
static bool record_is_uri_char(char c)
{
	if (record_is_alpha(c) || record_is_digit(c))
		return true;
	return c != '\0' && strchr("-._~:/?#[]@$&'()*+=", c) != NULL;
}

/* Whether u[0..n) is a URI by RFC 3986's characters: scheme ":" then URI characters. */
static bool record_uri_syntax(const char *u, size_t n)
{
	if (n == 0 || !record_is_alpha(u[0]))
		return false;
	size_t i = 1;
	while (i < n && (record_is_alpha(u[i]) || record_is_digit(u[i]) || u[i] == '+' ||
	    u[i] == '-' || u[i] == '.'))
		i++;
	if (i == n || u[i] != ':')
		return false;
	for (i++; i < n; i++) {
		if (u[i] == '%') {
			if (i + 2 >= n || !record_is_hex(u[i + 1]) || !record_is_hex(u[i + 2]))
				return false;
			i += 2;
		} else if (!record_is_uri_char(u[i])) {
			return false;
		}
	}
	return true;
}

/* Whether u[0..n) begins with scheme and ":", the scheme in any case. */
static bool record_has_scheme(const char *u, size_t n, const char *scheme)
{
	size_t k = strlen(scheme);
	if (n <= k || u[k] != ':')
		return false;
	for (size_t i = 0; i < k; i++)
		if ((u[i] | 0x20) != scheme[i])
			return false;
	return true;
}

/* Length of the local part at a[0..n) (dot-atom or quoted-string), or 0. */
static size_t record_local_part(const char *a, size_t n)
{
	size_t i = 0;
	if (n > 0 && a[0] == '"') {
		for (i = 1; i < n && a[i] != '"'; i++) {
			if (a[i] == '\\')
				i++;
			if (i >= n || (unsigned char)a[i] < 0x20 || (unsigned char)a[i] > 0x7e)
				return 0;
		}
		return i < n ? i + 1 : 0;
	}
	bool dot_ok = false;
	for (i = 0; i < n && a[i] != '@'; i++) {
		if (a[i] == '.') {
			if (!dot_ok)
				return 0;
			dot_ok = false;
		} else if (record_is_alpha(a[i]) || record_is_digit(a[i]) ||
		    strchr("!#$%&'*+-/=?^_`{|}~", a[i]) != NULL) {
			dot_ok = true;
		} else {
			return 0;
		}
	}
	return dot_ok ? i : 0;
}

/*
 * Decode the address of a mailto: URI (u[0..n) after "mailto:") into addr:
 * the part before "?", percent-decoded, one ASCII addr-spec. False, with a
 * reason, when it is not one this module can mail to.
 */
static bool record_mailto_addr(const char *u, size_t n, char addr[TLSRPT_ADDR_MAX],
    const char **reason)
{
	size_t end = 0;
	while (end < n && u[end] != '?' && u[end] != '#')
		end++;
	size_t len = 0;
	for (size_t i = 0; i < end; i++) {
		char c = u[i];
		if (c == '%') {	/* the URI syntax check saw two hex digits */
			c = (char)(record_hex_value(u[i + 1]) * 16 + record_hex_value(u[i + 2]));
			i += 2;
		}
		if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e) {
			*reason = "mailto: address with a control or non-ASCII octet";
			return false;
		}
		if (len + 1 >= TLSRPT_ADDR_MAX) {
			*reason = "mailto: address too long";
			return false;
		}
		addr[len++] = c;
	}
	addr[len] = '\0';
	if (len == 0) {
		*reason = "mailto: without an address before any \"?\"";
		return false;
	}
	size_t local = record_local_part(addr, len);
	if (local == 0 || local > RECORD_LOCAL_MAX || local >= len || addr[local] != '@' ||
	    !tlsrpt_name_host(addr + local + 1, len - local - 1)) {
		*reason = "mailto: address is not one local-part@host-name";
		return false;
	}
	return true;
}

/* Whether the https: URI u[0..n) has "//" and a host. */
static bool record_https_ok(const char *u, size_t n)
{
	size_t i = 6;	/* after "https:" */
	if (n < i + 3 || u[i] != '/' || u[i + 1] != '/')
		return false;
	return u[i + 2] != '/' && u[i + 2] != '?' && u[i + 2] != '#';
}

/* Keep the URI u[0..n) in out when it is one to use; else count it skipped, saying why once. */
static void record_take_uri(const char *u, size_t n, struct tlsrpt_rua *out, char *skipwhy)
{
	const char *reason = NULL;
	struct tlsrpt_uri *t = out->n < TLSRPT_RUA_MAX ? &out->u[out->n] : NULL;
	char addr[TLSRPT_ADDR_MAX];
	bool mailto = record_has_scheme(u, n, "mailto");
	if (t == NULL)
		reason = "more than 8 URIs";
	else if (n >= TLSRPT_URI_MAX)
		reason = "URI longer than 511 octets";
	else if (mailto)
		(void)record_mailto_addr(u + 7, n - 7, addr, &reason);
	else if (!record_has_scheme(u, n, "https"))
		reason = "scheme is not mailto: or https:";
	else if (!record_https_ok(u, n))
		reason = "https: URI without a host";
	if (reason != NULL) {
		if (out->skipped++ == 0)
			snprintf(skipwhy, RECORD_WHY_MAX, "skipped \"%.*s\": %s", n > 64 ? 64 : (int)n,
			    u, reason);
		return;
	}
	t->kind = mailto ? TLSRPT_MAILTO : TLSRPT_HTTPS;
	memcpy(t->uri, u, n);
	t->uri[n] = '\0';
	if (mailto)
		memcpy(t->addr, addr, strlen(addr) + 1);
	else
		t->addr[0] = '\0';
	out->n++;
}

/* Check the rua value v[0..n) and, when keep, take its URIs into out. */
static enum tlsrpt_record_status record_rua(const char *v, size_t n, size_t at, bool keep,
    struct tlsrpt_rua *out, char *skipwhy, char *why, size_t whylen)
{
	size_t pos = 0;
	for (;;) {
		while (pos < n && record_is_wsp(v[pos]))
			pos++;
		size_t start = pos;
		while (pos < n && v[pos] != ',' && !record_is_wsp(v[pos]))
			pos++;
		if (!record_uri_syntax(v + start, pos - start))
			return record_fail(TLSRPT_RECORD_INVALID, why, whylen,
			    "offset %zu: rua entry is not a URI", at + start);
		if (keep)
			record_take_uri(v + start, pos - start, out, skipwhy);
		while (pos < n && record_is_wsp(v[pos]))
			pos++;
		if (pos == n)
			return TLSRPT_RECORD_OK;
		if (v[pos] != ',')
			return record_fail(TLSRPT_RECORD_INVALID, why, whylen,
			    "offset %zu: expected \",\" between rua URIs", at + pos);
		pos++;
	}
}

/* Check an extension's value s[0..n): 1*(%x21-3A / %x3C / %x3E-7E). */
static enum tlsrpt_record_status record_ext_value(const char *s, size_t n, size_t at, char *why,
    size_t whylen)
{
	if (n == 0)
		return record_fail(TLSRPT_RECORD_INVALID, why, whylen,
		    "offset %zu: field has an empty value", at);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e || c == '=')
			return record_fail(TLSRPT_RECORD_INVALID, why, whylen,
			    "offset %zu: octet 0x%02x is not allowed in a field value", at + i, c);
	}
	return TLSRPT_RECORD_OK;
}

/* Parse the one chosen record s (it begins with "v=TLSRPTv1;") into out. */
static enum tlsrpt_record_status record_parse_one(const char *s, struct tlsrpt_rua *out,
    char *why, size_t whylen)
{
	char skipwhy[RECORD_WHY_MAX] = "";
	size_t len = strlen(s), pos = RECORD_VERSION_LEN, nfields = 0;
	bool have_rua = false;
	enum tlsrpt_record_status st = TLSRPT_RECORD_OK;
	while (pos < len && st == TLSRPT_RECORD_OK) {
		while (pos < len && record_is_wsp(s[pos]))
			pos++;
		if (pos == len || s[pos] != ';')
			return record_fail(TLSRPT_RECORD_INVALID, why, whylen,
			    "offset %zu: expected \";\" between fields", pos);
		pos++;
		while (pos < len && record_is_wsp(s[pos]))
			pos++;
		if (pos == len)
			break;
		size_t name = record_ext_name(s + pos, len - pos);
		if (name == 0 || pos + name >= len || s[pos + name] != '=')
			return record_fail(TLSRPT_RECORD_INVALID, why, whylen,
			    "offset %zu: expected a field name of 1 to 32 characters and \"=\"", pos);
		size_t v = pos + name + 1, end = v;
		if (name == 3 && memcmp(s + pos, "rua", 3) == 0) {
			/* The URI list runs to the next ";"; white space before it is the delimiter's. */
			while (end < len && s[end] != ';')
				end++;
			while (end > v && record_is_wsp(s[end - 1]))
				end--;
			st = record_rua(s + v, end - v, v, !have_rua, out, skipwhy, why, whylen);
			have_rua = true;
		} else {
			while (end < len && !record_is_wsp(s[end]) && s[end] != ';')
				end++;
			st = record_ext_value(s + v, end - v, v, why, whylen);
		}
		nfields++;
		pos = end;
	}
	if (st != TLSRPT_RECORD_OK)
		return st;
	if (nfields == 0)
		return record_fail(TLSRPT_RECORD_INVALID, why, whylen, "no field after the version");
	if (!have_rua)
		return record_fail(TLSRPT_RECORD_INVALID, why, whylen, "no rua field");
	if (out->n == 0)
		return record_fail(TLSRPT_RECORD_NO_URI, why, whylen, "no URI to use (%s)", skipwhy);
	return record_fail(TLSRPT_RECORD_OK, why, whylen, "%s", skipwhy);
}

enum tlsrpt_record_status tlsrpt_record_parse(const char *const *texts, size_t n,
    struct tlsrpt_rua *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	const char *chosen;
	size_t found = strv_count_prefixed(texts, n, RECORD_PREFIX, &chosen);
	if (found == 0)
		return record_fail(TLSRPT_RECORD_NONE, why, whylen,
		    "no TXT record begins with \"" RECORD_PREFIX "\"");
	if (found > 1)
		return record_fail(TLSRPT_RECORD_NONE, why, whylen,
		    "%zu TXT records begin with \"" RECORD_PREFIX "\", not one", found);
	enum tlsrpt_record_status st = record_parse_one(chosen, out, why, whylen);
	if (st == TLSRPT_RECORD_INVALID)
		memset(out, 0, sizeof(*out));
	return st;
}

const char *tlsrpt_record_status_name(enum tlsrpt_record_status s)
{
	switch (s) {
	case TLSRPT_RECORD_NONE: return "none";
	case TLSRPT_RECORD_OK: return "ok";
	case TLSRPT_RECORD_INVALID: return "invalid";
	case TLSRPT_RECORD_NO_URI: return "no usable uri";
	}
	return "unknown";
}
