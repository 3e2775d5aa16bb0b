/*
 * dns_anchor: trust-anchor text into checked DS and DNSKEY records.
 *
 * Owns: splitting the text into records (lines, parentheses, comments),
 * the check of each record's fields, and its canonical one-line form.
 * Never: does I/O or keeps state between calls; never passes on a record
 * it has not checked in full.
 *
 * The records go to libunbound's ub_ctx_add_ta one by one; checking them
 * here first gives the administrator a line number and a reason at
 * configuration time instead of a resolver that fails later.
 */
#include "dns/dns_anchor.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Fields of one record, the owner included; a long key may come in many pieces. */
#define DNS_ANCHOR_FIELDS_MAX 128
/* Decoded key or digest octets: an RSA-16384 key fits. */
#define DNS_ANCHOR_DATA_MAX 2100

/* One record being gathered: its fields joined by single spaces. */
struct dns_anchor_rec {
	char text[DNS_ANCHOR_RR_MAX];
	size_t len;
	unsigned line;		/* where it started; 0 while none is open */
	bool paren;		/* inside "( ... )" */
};

/* The record's fields split in place. */
struct dns_anchor_fields {
	char *f[DNS_ANCHOR_FIELDS_MAX];
	size_t n;
};

static bool dns_anchor_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

static bool dns_anchor_ieq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = (char)(*a >= 'a' && *a <= 'z' ? *a - 'a' + 'A' : *a);
		if (x != *b)
			return false;
	}
	return *a == *b;
}

/* A decimal number of at most max, digits only. */
static bool dns_anchor_number(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	if (*s == '\0' || strlen(s) > 10)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/*
 * The owner as an absolute lower-case name into out: "." or labels of
 * 1..63 letters, digits, '-' and '_', 253 octets at most without the
 * final dot, which is optional.
 */
static bool dns_anchor_owner(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s);
	if (n == 1 && s[0] == '.') {
		snprintf(out, cap, ".");
		return true;
	}
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || n + 2 > cap)
		return false;
	size_t lab = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			out[i] = ch;
			continue;
		}
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
		if (!ok || ++lab > 63)
			return false;
		out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
	}
	if (lab == 0)
		return false;
	out[n] = '.';
	out[n + 1] = '\0';
	return true;
}

static int dns_anchor_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Fields f[0..n) of hex joined: octets counted in *octets, upper case into out. */
static const char *dns_anchor_hex(char *const *f, size_t n, char *out, size_t cap, size_t *octets)
{
	size_t o = 0, digits = 0;
	for (size_t i = 0; i < n; i++) {
		for (const char *p = f[i]; *p != '\0'; p++) {
			if (dns_anchor_hexval(*p) < 0)
				return "digest is not hexadecimal";
			if (o + 1 >= cap)
				return "digest too long";
			out[o++] = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
			digits++;
		}
	}
	out[o] = '\0';
	if (digits == 0)
		return "digest missing";
	if (digits % 2 != 0)
		return "digest has an odd number of hex digits";
	*octets = digits / 2;
	return NULL;
}

static int dns_anchor_b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Fields f[0..n) of base64 joined into out (RFC 4648 4, padded); octets decoded in *octets. */
static const char *dns_anchor_base64(char *const *f, size_t n, char *out, size_t cap,
    size_t *octets)
{
	size_t o = 0, pad = 0;
	for (size_t i = 0; i < n; i++) {
		for (const char *p = f[i]; *p != '\0'; p++) {
			if (*p == '=') {
				pad++;
			} else if (dns_anchor_b64val(*p) < 0 || pad > 0) {
				return pad > 0 ? "key has base64 after its padding" : "key is not base64";
			}
			if (o + 1 >= cap)
				return "key too long";
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	if (o == 0)
		return "key missing";
	if (o % 4 != 0 || pad > 2)
		return "key is not base64 (length or padding)";
	/* The last group's unused bits must be zero, or two texts decode alike. */
	int last = dns_anchor_b64val(out[o - 1 - pad]);
	if ((pad == 1 && (last & 0x3) != 0) || (pad == 2 && (last & 0xf) != 0))
		return "key is not base64 (trailing bits)";
	*octets = o / 4 * 3 - pad;
	return NULL;
}

/* DS fields after the type: key tag, algorithm, digest type, digest. */
static const char *dns_anchor_ds(char *const *f, size_t n, const char *owner, char *out, size_t cap)
{
	unsigned long tag, alg, dtype;
	char hex[DNS_ANCHOR_DATA_MAX * 2 + 1];
	size_t octets = 0;
	if (n < 4)
		return "DS record needs key tag, algorithm, digest type and digest";
	if (!dns_anchor_number(f[0], 65535, &tag))
		return "DS key tag is not a number 0..65535";
	if (!dns_anchor_number(f[1], 255, &alg))
		return "DS algorithm is not a number 0..255";
	if (!dns_anchor_number(f[2], 255, &dtype))
		return "DS digest type is not a number 0..255";
	const char *why = dns_anchor_hex(f + 3, n - 3, hex, sizeof(hex), &octets);
	if (why != NULL)
		return why;
	/* SHA-1, SHA-256 and SHA-384 (RFC 4034, 4509, 6605) have a known length. */
	static const size_t dlen[5] = { 0, 20, 32, 0, 48 };
	if (dtype < 5 && dlen[dtype] != 0 && octets != dlen[dtype])
		return "DS digest length does not match its digest type";
	int w = snprintf(out, cap, "%s IN DS %lu %lu %lu %s", owner, tag, alg, dtype, hex);
	return w > 0 && (size_t)w < cap ? NULL : "record too long";
}

/* DNSKEY fields after the type: flags, protocol 3, algorithm, key. */
static const char *dns_anchor_dnskey(char *const *f, size_t n, const char *owner, char *out,
    size_t cap)
{
	unsigned long flags, proto, alg;
	char b64[DNS_ANCHOR_DATA_MAX * 4 / 3 + 8];
	size_t octets = 0;
	if (n < 4)
		return "DNSKEY record needs flags, protocol, algorithm and key";
	if (!dns_anchor_number(f[0], 65535, &flags))
		return "DNSKEY flags are not a number 0..65535";
	if (!dns_anchor_number(f[1], 255, &proto) || proto != 3)
		return "DNSKEY protocol is not 3";
	if (!dns_anchor_number(f[2], 255, &alg))
		return "DNSKEY algorithm is not a number 0..255";
	const char *why = dns_anchor_base64(f + 3, n - 3, b64, sizeof(b64), &octets);
	if (why != NULL)
		return why;
	int w = snprintf(out, cap, "%s IN DNSKEY %lu 3 %lu %s", owner, flags, alg, b64);
	return w > 0 && (size_t)w < cap ? NULL : "record too long";
}

/* Check one gathered record and write its canonical form into out. */
static const char *dns_anchor_check(struct dns_anchor_rec *rec, char *out, size_t cap)
{
	struct dns_anchor_fields fl = { .n = 0 };
	for (char *p = rec->text; *p != '\0';) {
		if (fl.n == DNS_ANCHOR_FIELDS_MAX)
			return "too many fields";
		fl.f[fl.n++] = p;
		char *sp = strchr(p, ' ');
		if (sp == NULL)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	char owner[256];
	if (fl.n == 0 || !dns_anchor_owner(fl.f[0], owner, sizeof(owner)))
		return "bad owner name";
	size_t i = 1;
	bool ttl = false, cls = false;
	unsigned long v;
	while (i < fl.n && i < 3) {
		if (!ttl && dns_anchor_number(fl.f[i], 2147483647UL, &v)) {
			ttl = true;
		} else if (!cls && dns_anchor_ieq(fl.f[i], "IN")) {
			cls = true;
		} else if (!cls && (dns_anchor_ieq(fl.f[i], "CH") || dns_anchor_ieq(fl.f[i], "HS") ||
		    dns_anchor_ieq(fl.f[i], "CS") || dns_anchor_ieq(fl.f[i], "ANY") ||
		    strncmp(fl.f[i], "CLASS", 5) == 0)) {
			return "class is not IN";
		} else {
			break;
		}
		i++;
	}
	if (i >= fl.n)
		return "no record type";
	if (dns_anchor_ieq(fl.f[i], "DS"))
		return dns_anchor_ds(fl.f + i + 1, fl.n - i - 1, owner, out, cap);
	if (dns_anchor_ieq(fl.f[i], "DNSKEY"))
		return dns_anchor_dnskey(fl.f + i + 1, fl.n - i - 1, owner, out, cap);
	return "not a DS or DNSKEY record";
}

/* Append one octet of a field to the record; a new field gets its space first. */
static bool dns_anchor_put(struct dns_anchor_rec *rec, char ch, bool new_field)
{
	if (new_field && rec->len > 0) {
		if (rec->len + 1 >= sizeof(rec->text))
			return false;
		rec->text[rec->len++] = ' ';
	}
	if (rec->len + 1 >= sizeof(rec->text))
		return false;
	rec->text[rec->len++] = ch;
	rec->text[rec->len] = '\0';
	return true;
}

/*
 * Add the fields of one line (without its newline) to rec, opening a
 * record when none is. Returns NULL or the reason the line is bad.
 */
static const char *dns_anchor_line(struct dns_anchor_rec *rec, const char *s, size_t n,
    unsigned line)
{
	bool in_field = false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == ';')
			break;
		if (dns_anchor_is_space(ch) || ch == '(' || ch == ')') {
			in_field = false;
			if (ch == '(') {
				if (rec->paren)
					return "nested parenthesis";
				if (rec->line == 0)
					return "no owner name at the start of the line";
				rec->paren = true;
			} else if (ch == ')') {
				if (!rec->paren)
					return "')' without '('";
				rec->paren = false;
			}
			continue;
		}
		if (ch == '"')
			return "quoted text is not part of a DS or DNSKEY record";
		if ((unsigned char)ch < 0x21 || (unsigned char)ch > 0x7e)
			return "octet that is not printable ASCII";
		if (rec->line == 0) {
			if (i != 0)
				return "no owner name at the start of the line";
			if (ch == '$')
				return "directives ($ORIGIN, $TTL, $INCLUDE) are not supported";
			rec->line = line;
			rec->len = 0;
			rec->text[0] = '\0';
		}
		if (!dns_anchor_put(rec, ch, !in_field))
			return "record too long";
		in_field = true;
	}
	return NULL;
}

/* Set the failure outputs; always -1. */
static int dns_anchor_fail(unsigned line, unsigned *bad_line, char *err, size_t errlen,
    const char *why)
{
	if (bad_line != NULL)
		*bad_line = line;
	if (errlen > 0)
		snprintf(err, errlen, "%s", why);
	return -1;
}

int dns_anchor_parse(const char *text, size_t len, dns_anchor_fn *each, void *arg,
    unsigned *bad_line, char *err, size_t errlen)
{
	struct dns_anchor_rec rec = { .len = 0 };
	char rr[DNS_ANCHOR_RR_MAX];
	unsigned line = 0;
	int count = 0;
	if (text == NULL)
		len = 0;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		line++;
		if (memchr(text + pos, '\0', end - pos) != NULL)
			return dns_anchor_fail(line, bad_line, err, errlen, "NUL octet");
		const char *why = dns_anchor_line(&rec, text + pos, end - pos, line);
		if (why != NULL)
			return dns_anchor_fail(line, bad_line, err, errlen, why);
		pos = end + 1;
		if (rec.line == 0 || rec.paren)
			continue;
		if ((why = dns_anchor_check(&rec, rr, sizeof(rr))) != NULL)
			return dns_anchor_fail(rec.line, bad_line, err, errlen, why);
		if (count == DNS_ANCHOR_RECORDS_MAX)
			return dns_anchor_fail(rec.line, bad_line, err, errlen, "too many records");
		if (each != NULL && (why = each(arg, rr, rec.line)) != NULL)
			return dns_anchor_fail(rec.line, bad_line, err, errlen, why);
		count++;
		rec.line = 0;
	}
	if (rec.paren)
		return dns_anchor_fail(rec.line, bad_line, err, errlen, "'(' not closed");
	if (count == 0)
		return dns_anchor_fail(0, bad_line, err, errlen, "no trust anchor");
	return count;
}
