/*
 * sts_record: the MTA-STS TXT record at _mta-sts.DOMAIN (RFC 8461 3.1).
 *
 * Owns: which of a name's TXT records is the MTA-STS record, its grammar,
 * and the policy id it carries.
 * Never: does I/O, reads a clock, keeps state or allocates; every check is
 * made on the caller's bytes as they are read, and the id is copied only
 * once it is known to fit STS_RECORD_ID_MAX.
 */
#include "sts/sts_record.h"
#include "util/strv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define STS_RECORD_PREFIX "v=STSv1;"
/* The version field without its delimiter: where the field list starts. */
#define STS_RECORD_VERSION_LEN 7
#define STS_RECORD_EXT_NAME_MAX 32

/* Write a reason into why (when there is room); always returns st. */
static enum sts_record_status record_fail(enum sts_record_status st, char *why, size_t whylen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum sts_record_status record_fail(enum sts_record_status st, char *why, size_t whylen,
    const char *fmt, ...)
{
	if (whylen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return st;
}

static bool record_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool record_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Length of the sts-ext-name at s[0..len): 1 to 32 octets, or 0 when there is none. */
static size_t record_ext_name(const char *s, size_t len)
{
	if (len == 0 || !record_is_alnum(s[0]))
		return 0;
	size_t n = 1;
	while (n < len && (record_is_alnum(s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.'))
		n++;
	return n <= STS_RECORD_EXT_NAME_MAX ? n : 0;
}

/* Whether c may be in an sts-ext-value: %x21-3A / %x3C / %x3E-7E. */
static bool record_is_ext_char(char c)
{
	unsigned char u = (unsigned char)c;
	return u >= 0x21 && u <= 0x7e && c != ';' && c != '=';
}

/* Whether v[0..len) is a policy id: 1*32(ALPHA / DIGIT). */
static bool record_is_id(const char *v, size_t len)
{
	if (len == 0 || len > STS_RECORD_ID_MAX - 1)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!record_is_alnum(v[i]))
			return false;
	return true;
}

/* Parse the one chosen record s (it begins with "v=STSv1;"). */
static enum sts_record_status record_parse_one(const char *s, char id[STS_RECORD_ID_MAX],
    char *why, size_t whylen)
{
	size_t len = strlen(s);
	size_t pos = STS_RECORD_VERSION_LEN;
	size_t nfields = 0;
	bool have_id = false;
	while (pos < len) {
		/* sts-field-delim, then a field or the end. */
		while (pos < len && record_is_wsp(s[pos]))
			pos++;
		if (pos == len || s[pos] != ';')
			return record_fail(STS_RECORD_INVALID, why, whylen,
			    "offset %zu: expected \";\" between fields", pos);
		pos++;
		while (pos < len && record_is_wsp(s[pos]))
			pos++;
		if (pos == len)
			break;
		size_t name = record_ext_name(s + pos, len - pos);
		if (name == 0 || pos + name >= len || s[pos + name] != '=')
			return record_fail(STS_RECORD_INVALID, why, whylen,
			    "offset %zu: expected a field name of 1 to 32 characters and \"=\"", pos);
		size_t vstart = pos + name + 1;
		size_t vend = vstart;
		while (vend < len && !record_is_wsp(s[vend]) && s[vend] != ';')
			vend++;
		bool is_id = name == 2 && memcmp(s + pos, "id", 2) == 0;
		if (is_id && !have_id) {
			if (!record_is_id(s + vstart, vend - vstart))
				return record_fail(STS_RECORD_INVALID, why, whylen,
				    "offset %zu: id is not 1 to 32 letters and digits", vstart);
			memcpy(id, s + vstart, vend - vstart);
			id[vend - vstart] = '\0';
			have_id = true;
		} else {
			/* An extension, or a repeated field: ignored, but it must be well formed. */
			if (vend == vstart)
				return record_fail(STS_RECORD_INVALID, why, whylen,
				    "offset %zu: field has an empty value", vstart);
			for (size_t i = vstart; i < vend; i++)
				if (!record_is_ext_char(s[i]))
					return record_fail(STS_RECORD_INVALID, why, whylen,
					    "offset %zu: octet 0x%02x is not allowed in a field value", i,
					    (unsigned)(unsigned char)s[i]);
		}
		nfields++;
		pos = vend;
	}
	if (nfields == 0)
		return record_fail(STS_RECORD_INVALID, why, whylen, "no field after the version");
	if (!have_id) {
		id[0] = '\0';
		return record_fail(STS_RECORD_INVALID, why, whylen, "no id field");
	}
	if (whylen > 0)
		why[0] = '\0';
	return STS_RECORD_OK;
}

enum sts_record_status sts_record_parse(const char *const *texts, size_t n,
    char id[STS_RECORD_ID_MAX], char *why, size_t whylen)
{
	id[0] = '\0';
	const char *chosen;
	size_t found = strv_count_prefixed(texts, n, STS_RECORD_PREFIX, &chosen);
	if (found == 0)
		return record_fail(STS_RECORD_NONE, why, whylen,
		    "no TXT record begins with \"" STS_RECORD_PREFIX "\"");
	if (found > 1)
		return record_fail(STS_RECORD_NONE, why, whylen,
		    "%zu TXT records begin with \"" STS_RECORD_PREFIX "\", not one", found);
	enum sts_record_status st = record_parse_one(chosen, id, why, whylen);
	if (st != STS_RECORD_OK)
		id[0] = '\0';
	return st;
}

const char *sts_record_status_name(enum sts_record_status s)
{
	switch (s) {
	case STS_RECORD_NONE: return "none";
	case STS_RECORD_OK: return "ok";
	case STS_RECORD_INVALID: return "invalid";
	}
	return "unknown";
}
