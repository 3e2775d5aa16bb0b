/*
 * sts_policy: the MTA-STS policy file (RFC 8461 3.2), its canonical text,
 * and MX host validation (RFC 8461 4.1).
 *
 * Owns: the line grammar and the field rules, the caps on what a policy
 * may hold (body size, number and length of mx patterns), the stored and
 * the text form of a policy, and the MX pattern match.
 * Never: does I/O, reads a clock or allocates; a line is checked before
 * any byte of it is stored, and nothing is stored past the struct's caps.
 */
#include "sts/sts_policy.h"
#include "util/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define POLICY_EXT_NAME_MAX 32
#define POLICY_MAX_AGE_DIGITS 10
#define POLICY_DOMAIN_MAX 253
#define POLICY_LABEL_MAX 63

/* Which of the singleton fields were seen; the first of each counts. */
struct policy_seen {
	bool version, mode, max_age;
};

/* Set err (line and a printable reason) and return st. */
static enum sts_policy_status policy_fail(struct sts_policy_error *err, enum sts_policy_status st,
    size_t line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum sts_policy_status policy_fail(struct sts_policy_error *err, enum sts_policy_status st,
    size_t line, const char *fmt, ...)
{
	err->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->why, sizeof(err->why), fmt, ap);
	va_end(ap);
	/* A reason quotes peer text: keep it printable for the log line. */
	for (char *c = err->why; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	return st;
}

static bool policy_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char policy_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * Whether v[0..len) is an sts-policy-ext-value: visible ASCII or UTF-8,
 * inner spaces allowed, no tab, no control, not starting or ending with a
 * space. On false, *bad gets the offset of the first octet that fails.
 */
static bool policy_ext_value(const char *v, size_t len, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)v;
	size_t i = 0;
	while (i < len) {
		if (u[i] >= 0x21 && u[i] <= 0x7e) {
			i++;
		} else if (u[i] == 0x20 && i > 0 && i + 1 < len) {
			i++;
		} else {
			size_t n = u[i] >= 0x80 ? utf8_seq_len((const char *)u + i, len - i) : 0;
			if (n == 0) {
				*bad = i;
				return false;
			}
			i += n;
		}
	}
	return true;
}

/*
 * Check v[0..len) as ["*."] Domain with at most one trailing dot and
 * write it to out in lower case without the dot. False when it is no
 * such pattern.
 */
static bool policy_mx_pattern(const char *v, size_t len, char out[STS_POLICY_MX_LEN])
{
	size_t start = 0;
	if (len >= 2 && v[0] == '*' && v[1] == '.')
		start = 2;
	if (len > start && v[len - 1] == '.')
		len--;
	size_t dlen = len - start;
	if (dlen == 0 || dlen > POLICY_DOMAIN_MAX)
		return false;
	size_t label = 0;
	for (size_t i = start; i <= len; i++) {
		char c = i < len ? v[i] : '.';
		if (c == '.') {
			/* A label: 1 to 63 octets, no hyphen at either end. */
			if (label == 0 || label > POLICY_LABEL_MAX || v[i - 1] == '-' || v[i - label] == '-')
				return false;
			label = 0;
		} else if (policy_is_alnum(c) || c == '-') {
			label++;
		} else {
			return false;
		}
	}
	for (size_t i = 0; i < len; i++)
		out[i] = policy_lower(v[i]);
	out[len] = '\0';
	return true;
}

/* Read max_age: 1 to 10 digits, taken as at most STS_POLICY_MAX_AGE_MAX. */
static bool policy_max_age(const char *v, size_t len, uint32_t *out)
{
	if (len == 0 || len > POLICY_MAX_AGE_DIGITS)
		return false;
	uint64_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n > STS_POLICY_MAX_AGE_MAX ? STS_POLICY_MAX_AGE_MAX : (uint32_t)n;
	return true;
}

/* Apply one known field's value; a repeated singleton is ignored. */
static enum sts_policy_status policy_field(struct sts_policy *p, struct policy_seen *seen,
    const char *name, size_t nlen, const char *v, size_t vlen, size_t line,
    struct sts_policy_error *err)
{
	int vl = vlen > 64 ? 64 : (int)vlen;	/* how much of a bad value a reason quotes */
	if (nlen == 7 && memcmp(name, "version", 7) == 0 && !seen->version) {
		seen->version = true;
		if (vlen != 5 || memcmp(v, "STSv1", 5) != 0)
			return policy_fail(err, STS_POLICY_INVALID, line,
			    "version is \"%.*s\", want STSv1", vl, v);
	} else if (nlen == 4 && memcmp(name, "mode", 4) == 0 && !seen->mode) {
		seen->mode = true;
		if (vlen == 7 && memcmp(v, "enforce", 7) == 0)
			p->mode = STS_MODE_ENFORCE;
		else if (vlen == 7 && memcmp(v, "testing", 7) == 0)
			p->mode = STS_MODE_TESTING;
		else if (vlen == 4 && memcmp(v, "none", 4) == 0)
			p->mode = STS_MODE_NONE;
		else
			return policy_fail(err, STS_POLICY_INVALID, line,
			    "mode is \"%.*s\", want enforce, testing or none", vl, v);
	} else if (nlen == 7 && memcmp(name, "max_age", 7) == 0 && !seen->max_age) {
		seen->max_age = true;
		if (!policy_max_age(v, vlen, &p->max_age))
			return policy_fail(err, STS_POLICY_INVALID, line,
			    "max_age is \"%.*s\", want 1 to 10 digits", vl, v);
	} else if (nlen == 2 && memcmp(name, "mx", 2) == 0) {
		if (p->nmx == STS_POLICY_MX_MAX)
			return policy_fail(err, STS_POLICY_TOO_BIG, line,
			    "more than %d mx patterns", STS_POLICY_MX_MAX);
		if (!policy_mx_pattern(v, vlen, p->mx[p->nmx]))
			return policy_fail(err, STS_POLICY_INVALID, line,
			    "mx \"%.*s\" is not a host name or \"*.\" and a domain (A-labels)", vl, v);
		p->nmx++;
	}
	return STS_POLICY_OK;
}

/* Parse one line (without its line end): a field, known or not. */
static enum sts_policy_status policy_line(struct sts_policy *p, struct policy_seen *seen,
    const char *s, size_t len, size_t line, struct sts_policy_error *err)
{
	if (len == 0)
		return policy_fail(err, STS_POLICY_INVALID, line, "empty line (no field)");
	size_t n = 0;
	if (policy_is_alnum(s[0])) {
		n = 1;
		while (n < len && (policy_is_alnum(s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			n++;
	}
	if (n == 0 || n > POLICY_EXT_NAME_MAX || n == len || s[n] != ':')
		return policy_fail(err, STS_POLICY_INVALID, line,
		    "expected a field name of 1 to 32 letters, digits, '_', '-' or '.' and \":\"");
	size_t v = n + 1;
	while (v < len && (s[v] == ' ' || s[v] == '\t'))
		v++;
	size_t end = len;
	while (end > v && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;
	if (end == v)
		return policy_fail(err, STS_POLICY_INVALID, line, "field \"%.*s\" has no value",
		    (int)n, s);
	size_t bad = 0;
	if (!policy_ext_value(s + v, end - v, &bad))
		return policy_fail(err, STS_POLICY_INVALID, line,
		    "octet 0x%02x at column %zu is not allowed in a value",
		    (unsigned)(unsigned char)s[v + bad], v + bad + 1);
	return policy_field(p, seen, s, n, s + v, end - v, line, err);
}

/* The checks on the whole once every line is read. */
static enum sts_policy_status policy_complete(const struct sts_policy *p,
    const struct policy_seen *seen, struct sts_policy_error *err)
{
	if (!seen->version)
		return policy_fail(err, STS_POLICY_INVALID, 0, "no version field");
	if (!seen->mode)
		return policy_fail(err, STS_POLICY_INVALID, 0, "no mode field");
	if (!seen->max_age)
		return policy_fail(err, STS_POLICY_INVALID, 0, "no max_age field");
	if (p->mode != STS_MODE_NONE && p->nmx == 0)
		return policy_fail(err, STS_POLICY_INVALID, 0, "mode %s needs an mx field",
		    sts_mode_name(p->mode));
	return STS_POLICY_OK;
}

enum sts_policy_status sts_policy_parse(const char *body, size_t len, struct sts_policy *p,
    struct sts_policy_error *err)
{
	memset(p, 0, sizeof(*p));
	err->line = 0;
	err->why[0] = '\0';
	if (len > STS_POLICY_BODY_MAX)
		return policy_fail(err, STS_POLICY_TOO_BIG, 0, "policy of %zu octets, over %d", len,
		    STS_POLICY_BODY_MAX);
	struct policy_seen seen = { false, false, false };
	enum sts_policy_status st = STS_POLICY_OK;
	size_t pos = 0, line = 0;
	const char *s;
	size_t slen;
	while (st == STS_POLICY_OK && sts_policy_next_line(body, len, &pos, &s, &slen))
		st = policy_line(p, &seen, s, slen, ++line, err);
	if (st == STS_POLICY_OK)
		st = policy_complete(p, &seen, err);
	if (st != STS_POLICY_OK)
		memset(p, 0, sizeof(*p));
	return st;
}

bool sts_policy_next_line(const char *text, size_t len, size_t *pos, const char **line,
    size_t *linelen)
{
	if (*pos >= len)
		return false;
	const char *start = text + *pos;
	const char *nl = memchr(start, '\n', len - *pos);
	size_t n = nl != NULL ? (size_t)(nl - start) : len - *pos;
	*pos += nl != NULL ? n + 1 : n;
	if (nl != NULL && n > 0 && start[n - 1] == '\r')
		n--;
	*line = start;
	*linelen = n;
	return true;
}

/* Whether host[0..hlen) equals s[0..slen) ignoring ASCII case. */
static bool policy_name_eq(const char *host, size_t hlen, const char *s, size_t slen)
{
	if (hlen != slen)
		return false;
	for (size_t i = 0; i < hlen; i++)
		if (policy_lower(host[i]) != s[i])
			return false;
	return true;
}

bool sts_policy_mx_match(const struct sts_policy *p, const char *host)
{
	size_t hlen = strlen(host);
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0)
		return false;
	for (size_t i = 0; i < p->nmx && i < STS_POLICY_MX_MAX; i++) {
		const char *pat = p->mx[i];
		size_t plen = strnlen(pat, STS_POLICY_MX_LEN);
		if (plen > 2 && pat[0] == '*' && pat[1] == '.') {
			/* One label, a dot, then the pattern's domain. */
			size_t dlen = plen - 2;
			if (hlen < dlen + 2)
				continue;
			size_t label = hlen - dlen - 1;
			if (host[label] == '.' && memchr(host, '.', label) == NULL &&
			    policy_name_eq(host + label + 1, dlen, pat + 2, dlen))
				return true;
		} else if (policy_name_eq(host, hlen, pat, plen)) {
			return true;
		}
	}
	return false;
}

/* Append s[0..n) to out at *pos when it fits; *pos counts every octet. */
static void policy_put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (*pos + n < cap)
		memcpy(out + *pos, s, n);
	*pos += n;
}

size_t sts_policy_format(const struct sts_policy *p, char *out, size_t cap)
{
	size_t pos = 0;
	const char *mode = sts_mode_name(p->mode);
	policy_put(out, cap, &pos, "version: STSv1\nmode: ", 21);
	policy_put(out, cap, &pos, mode, strlen(mode));
	policy_put(out, cap, &pos, "\n", 1);
	for (size_t i = 0; i < p->nmx && i < STS_POLICY_MX_MAX; i++) {
		policy_put(out, cap, &pos, "mx: ", 4);
		policy_put(out, cap, &pos, p->mx[i], strnlen(p->mx[i], STS_POLICY_MX_LEN));
		policy_put(out, cap, &pos, "\n", 1);
	}
	char age[32];
	int n = snprintf(age, sizeof(age), "max_age: %u\n", (unsigned)p->max_age);
	policy_put(out, cap, &pos, age, (size_t)n);
	if (pos < cap)
		out[pos] = '\0';
	else if (cap > 0)
		out[0] = '\0';
	return pos;
}

bool sts_policy_equal(const struct sts_policy *a, const struct sts_policy *b)
{
	if (a->mode != b->mode || a->max_age != b->max_age || a->nmx != b->nmx)
		return false;
	for (size_t i = 0; i < a->nmx && i < STS_POLICY_MX_MAX; i++)
		if (strncmp(a->mx[i], b->mx[i], STS_POLICY_MX_LEN) != 0)
			return false;
	return true;
}

const char *sts_mode_name(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_NONE: return "none";
	case STS_MODE_TESTING: return "testing";
	case STS_MODE_ENFORCE: return "enforce";
	}
	return "unknown";
}

const char *sts_policy_status_name(enum sts_policy_status s)
{
	switch (s) {
	case STS_POLICY_OK: return "ok";
	case STS_POLICY_INVALID: return "invalid";
	case STS_POLICY_TOO_BIG: return "too big";
	}
	return "unknown";
}
