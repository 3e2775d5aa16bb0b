/*
 * smtp_addr: the RFC 5321 4.1.2 Path / Mailbox grammar with the RFC 6531
 * UTF-8 extensions, and the text and socket forms of an address.
 *
 * Owns: source-route stripping (RFC 5321 4.1.1.3 / appendix C), dot-string
 * and quoted-string local parts, domain names and address literals, the
 * length caps of struct smtp_addr, and UTF-8 well-formedness.
 * Never: does I/O or DNS, and never decides policy: it says only whether
 * a path is well formed and what it holds.
 */
#include "smtp/smtp_addr.h"
#include "util/utf8.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Longest address literal kept, brackets included ("[IPv6:" + 45 + "]"). */
#define ADDR_LITERAL_MAX 64

/* The state of one parse: input, cursor, output and the first error. */
struct addr_cur {
	const char *s;
	size_t len;
	size_t i;
	unsigned flags;
	struct smtp_addr *out;
	const char *err;
	enum smtp_addr_fault fault;
};

/* Record the first error of a parse and fail. */
static int addr_fail(struct addr_cur *c, enum smtp_addr_fault fault, const char *why)
{
	if (c->err == NULL) {
		c->err = why;
		c->fault = fault;
	}
	return -1;
}

static bool addr_is_alnum(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

/* RFC 5322 atext, the characters of a dot-string atom. */
static bool addr_is_atext(unsigned char ch)
{
	return addr_is_alnum(ch) || (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/*
 * Take one non-ASCII UTF-8 sequence at the cursor when allowed; returns its
 * length, or -1 (error recorded) when it is malformed or not allowed.
 */
static int addr_take_utf8(struct addr_cur *c)
{
	size_t n = utf8_seq_len(c->s + c->i, c->len - c->i);
	if (n == 0)
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "invalid UTF-8 in address");
	if (!(c->flags & SMTP_ADDR_UTF8_OK))
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX,
		    "non-ASCII address without SMTPUTF8");
	c->out->utf8 = true;
	c->i += n;
	return (int)n;
}

/* Parse a quoted-string local part (RFC 5321 4.1.2 Quoted-string). */
static int addr_quoted_local(struct addr_cur *c)
{
	c->i++;	/* opening quote */
	for (;;) {
		if (c->i >= c->len)
			return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "unterminated quoted local part");
		unsigned char ch = (unsigned char)c->s[c->i];
		if (ch == '"') {
			c->i++;
			return 0;
		}
		if (ch == '\\') {
			if (c->i + 1 >= c->len)
				return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX,
				    "unterminated quoted local part");
			unsigned char q = (unsigned char)c->s[c->i + 1];
			if (q < 32 || q > 126)
				return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX,
				    "bad quoted pair in local part");
			c->i += 2;
		} else if (ch >= 0x80) {
			if (addr_take_utf8(c) < 0)
				return -1;
		} else if (ch >= 32 && ch <= 126) {
			c->i++;
		} else {
			return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX,
			    "control character in quoted local part");
		}
	}
}

/* Parse a dot-string local part: atoms of atext joined by single dots. */
static int addr_dot_local(struct addr_cur *c)
{
	bool need_atom = true;
	while (c->i < c->len) {
		unsigned char ch = (unsigned char)c->s[c->i];
		if (ch == '.') {
			if (need_atom)
				return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX,
				    "empty atom in local part (leading or double dot)");
			need_atom = true;
			c->i++;
		} else if (addr_is_atext(ch)) {
			need_atom = false;
			c->i++;
		} else if (ch >= 0x80) {
			if (addr_take_utf8(c) < 0)
				return -1;
			need_atom = false;
		} else {
			break;
		}
	}
	if (need_atom)
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX,
		    c->i > 0 && c->s[c->i - 1] == '.' ? "local part ends with a dot" :
		    "empty local part");
	return 0;
}

/* Parse a local part at the cursor and store it as written. */
static int addr_local(struct addr_cur *c)
{
	size_t start = c->i;
	int rc;
	if (c->i < c->len && c->s[c->i] == '"') {
		c->out->local_is_quoted = true;
		rc = addr_quoted_local(c);
	} else {
		rc = addr_dot_local(c);
	}
	if (rc < 0)
		return -1;
	size_t n = c->i - start;
	if (n > SMTP_LOCAL_ACCEPT_MAX)
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "local part too long");
	memcpy(c->out->local, c->s + start, n);
	c->out->local[n] = '\0';
	return 0;
}

/* Validate an address literal "[...]" of n octets (brackets included). */
static bool addr_literal_ok(const char *lit, size_t n, struct sockaddr_storage *ss)
{
	char buf[ADDR_LITERAL_MAX];
	if (n < 3 || n >= sizeof(buf) || lit[0] != '[' || lit[n - 1] != ']')
		return false;
	const char *in = lit + 1;
	size_t inn = n - 2;
	int af = AF_INET;
	if (inn > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		af = AF_INET6;
		in += 5;
		inn -= 5;
	}
	/* inet_pton stops at a NUL: "[1.2.3.4\0junk]" must not pass as an address. */
	if (memchr(in, '\0', inn) != NULL)
		return false;
	memcpy(buf, in, inn);
	buf[inn] = '\0';
	struct sockaddr_storage tmp;
	if (ss == NULL)
		ss = &tmp;
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1)
			return false;
		sin->sin_family = AF_INET;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
			return false;
		sin6->sin6_family = AF_INET6;
	}
	return true;
}

/*
 * Parse a domain (name or address literal) at the cursor into dst
 * (SMTP_DOMAIN_MAX + 1 octets). The name stops at the first octet that
 * cannot be part of it; the caller checks what follows.
 */
static int addr_domain(struct addr_cur *c, char *dst, bool *is_literal)
{
	size_t start = c->i;
	*is_literal = false;
	if (c->i < c->len && c->s[c->i] == '[') {
		const char *close = memchr(c->s + c->i, ']', c->len - c->i);
		if (close == NULL)
			return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "unterminated address literal");
		size_t n = (size_t)(close - (c->s + c->i)) + 1;
		if (!addr_literal_ok(c->s + c->i, n, NULL))
			return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "bad address literal");
		memcpy(dst, c->s + c->i, n);
		dst[n] = '\0';
		c->i += n;
		*is_literal = true;
		return 0;
	}
	bool non_ascii = false;
	while (c->i < c->len) {
		unsigned char ch = (unsigned char)c->s[c->i];
		if (addr_is_alnum(ch) || ch == '-' || ch == '.') {
			c->i++;
		} else if (ch >= 0x80) {
			if (addr_take_utf8(c) < 0)
				return -1;
			non_ascii = true;
		} else {
			break;
		}
	}
	size_t n = c->i - start;
	/* One trailing dot names the same domain (the root label); policy judges it. */
	if ((c->flags & SMTP_ADDR_POLICY_FORMS) && n > 1 && c->s[start + n - 1] == '.' &&
	    c->s[start + n - 2] != '.')
		n--;
	if (n == 0)
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "missing domain");
	if (n > SMTP_DOMAIN_MAX)
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "domain too long");
	if (!smtp_addr_domain_valid(c->s + start, n, non_ascii))
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "bad domain name");
	memcpy(dst, c->s + start, n);
	dst[n] = '\0';
	return 0;
}

/* Whether the octet at the cursor is end or one that ends a bare mailbox. */
static bool addr_at_bare_end(const struct addr_cur *c)
{
	return c->i >= c->len || c->s[c->i] == ' ' || c->s[c->i] == '\t';
}

/* Whether the cursor's octet is one that ends the mailbox in this form. */
static bool addr_at_end(const struct addr_cur *c, bool bracketed)
{
	if (bracketed)
		return c->i < c->len && c->s[c->i] == '>';
	return addr_at_bare_end(c);
}

/*
 * Parse Mailbox (or the domain-less postmaster form) at the cursor, ending
 * before '>' when bracketed, else before a space or the end.
 */
static int addr_mailbox(struct addr_cur *c, bool bracketed)
{
	if (addr_local(c) < 0)
		return -1;
	if (addr_at_end(c, bracketed)) {
		if ((c->flags & SMTP_ADDR_NO_DOMAIN_OK) &&
		    ((c->flags & SMTP_ADDR_POLICY_FORMS) || smtp_addr_is_postmaster(c->out))) {
			c->out->kind = SMTP_ADDR_LOCALONLY;
			return 0;
		}
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "address has no domain");
	}
	if (c->i >= c->len)
		return addr_fail(c, SMTP_ADDR_FAULT_SYNTAX, "missing '>' at end of path");
	if (c->s[c->i] != '@')
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "bad character in local part");
	c->i++;
	if (addr_domain(c, c->out->domain, &c->out->domain_is_literal) < 0)
		return -1;
	if (!addr_at_end(c, bracketed)) {
		if (c->i >= c->len)
			return addr_fail(c, SMTP_ADDR_FAULT_SYNTAX, "missing '>' at end of path");
		return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "bad character in domain");
	}
	c->out->kind = SMTP_ADDR_MAILBOX;
	return 0;
}

/* Skip an "@a,@b:" source route (A-d-l ":"), checking each domain. */
static int addr_route(struct addr_cur *c)
{
	char scratch[SMTP_DOMAIN_MAX + 1];
	bool lit;
	bool utf8 = c->out->utf8;	/* the route is dropped; its octets do not count */
	for (;;) {
		if (c->i >= c->len || c->s[c->i] != '@')
			return addr_fail(c, SMTP_ADDR_FAULT_SYNTAX, "bad source route");
		c->i++;
		if (addr_domain(c, scratch, &lit) < 0) {
			c->fault = SMTP_ADDR_FAULT_SYNTAX;
			return -1;
		}
		if (c->i >= c->len)
			return addr_fail(c, SMTP_ADDR_FAULT_SYNTAX, "bad source route");
		if (c->s[c->i] == ':') {
			c->i++;
			c->out->had_route = true;
			c->out->utf8 = utf8;
			return 0;
		}
		if (c->s[c->i] != ',')
			return addr_fail(c, SMTP_ADDR_FAULT_SYNTAX, "bad source route");
		c->i++;
	}
}

/* Parse "<>", "<[route:]mailbox>" or, when allowed, a bare mailbox. */
static int addr_path(struct addr_cur *c)
{
	if (c->len == 0)
		return addr_fail(c, SMTP_ADDR_FAULT_SYNTAX, "empty path");
	if (c->s[0] != '<') {
		if (!(c->flags & SMTP_ADDR_BARE_OK))
			return addr_fail(c, SMTP_ADDR_FAULT_SYNTAX, "path must be enclosed in <>");
		/* A route is stripped here too, so policy sees the same mailbox as in <>. */
		if (c->s[0] == '@' && addr_route(c) < 0)
			return -1;
		return addr_mailbox(c, false);
	}
	c->i = 1;
	if (c->i < c->len && c->s[c->i] == '>') {
		if (!(c->flags & SMTP_ADDR_NULL_OK))
			return addr_fail(c, SMTP_ADDR_FAULT_MAILBOX, "null path not allowed here");
		c->out->kind = SMTP_ADDR_NULLPATH;
		c->i++;
		return 0;
	}
	if (c->i < c->len && c->s[c->i] == '@' && addr_route(c) < 0)
		return -1;
	if (addr_mailbox(c, true) < 0)
		return -1;
	c->i++;	/* '>' */
	return 0;
}

int smtp_addr_parse_path_ex(const char *s, size_t len, unsigned flags,
    struct smtp_addr *out, size_t *consumed, const char **err,
    enum smtp_addr_fault *fault)
{
	struct addr_cur c = { .s = s, .len = len, .flags = flags, .out = out };
	memset(out, 0, sizeof(*out));
	int rc = addr_path(&c);
	if (fault != NULL)
		*fault = rc < 0 ? c.fault : SMTP_ADDR_FAULT_NONE;
	if (rc < 0) {
		*err = c.err;
		memset(out, 0, sizeof(*out));
		return -1;
	}
	*consumed = c.i;
	return 0;
}

int smtp_addr_parse_path(const char *s, size_t len, unsigned flags,
    struct smtp_addr *out, size_t *consumed, const char **err)
{
	return smtp_addr_parse_path_ex(s, len, flags, out, consumed, err, NULL);
}

int smtp_addr_parse_mailbox(const char *s, size_t len, unsigned flags,
    struct smtp_addr *out, const char **err)
{
	struct addr_cur c = { .s = s, .len = len, .flags = flags, .out = out };
	memset(out, 0, sizeof(*out));
	if (len == 0) {
		if (flags & SMTP_ADDR_NULL_OK) {
			out->kind = SMTP_ADDR_NULLPATH;
			return 0;
		}
		*err = "empty address";
		return -1;
	}
	if (addr_mailbox(&c, false) < 0 || c.i != len) {
		*err = c.err != NULL ? c.err : "bad character in address";
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

size_t smtp_addr_format(const struct smtp_addr *a, char *buf, size_t buflen)
{
	size_t ll = strlen(a->local), dl = strlen(a->domain);
	size_t need;
	if (buflen == 0)
		return 0;
	buf[0] = '\0';
	switch (a->kind) {
	case SMTP_ADDR_NULLPATH:
		return 0;
	case SMTP_ADDR_LOCALONLY:
		if (ll + 1 > buflen)
			return 0;
		memcpy(buf, a->local, ll + 1);
		return ll;
	case SMTP_ADDR_MAILBOX:
	default:
		need = ll + 1 + dl;
		if (need + 1 > buflen)
			return 0;
		memcpy(buf, a->local, ll);
		buf[ll] = '@';
		memcpy(buf + ll + 1, a->domain, dl + 1);
		return need;
	}
}

bool smtp_addr_local_is_postmaster(const char *local)
{
	static const char word[] = "postmaster";
	size_t len = local != NULL ? strlen(local) : 0;
	const char *s = local, *end = local + len;
	if (len >= 2 && local[0] == '"' && local[len - 1] == '"') {
		s++;
		end--;
		/* Compare the quoted content with its quoted-pairs undone. */
		size_t k = 0;
		for (; s < end; s++, k++) {
			if (*s == '\\' && s + 1 < end)
				s++;
			char ch = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
			if (k >= sizeof(word) - 1 || ch != word[k])
				return false;
		}
		return k == sizeof(word) - 1;
	}
	return len == sizeof(word) - 1 && strcasecmp(local, word) == 0;
}

bool smtp_addr_is_postmaster(const struct smtp_addr *a)
{
	return a != NULL && smtp_addr_local_is_postmaster(a->local);
}

bool smtp_addr_domain_valid(const char *s, size_t len, bool utf8_ok)
{
	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	size_t label = 0;
	char prev = '.';
	for (size_t i = 0; i < len;) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '.') {
			if (label == 0 || prev == '-')
				return false;
			label = 0;
			prev = '.';
			i++;
			continue;
		}
		size_t n = 1;
		if (ch >= 0x80) {
			if (!utf8_ok || (n = utf8_seq_len(s + i, len - i)) == 0)
				return false;
		} else if (ch == '-') {
			if (label == 0)
				return false;
		} else if (!addr_is_alnum(ch)) {
			return false;
		}
		label += n;
		if (label > 63)
			return false;
		prev = (char)ch;
		i += n;
	}
	return label > 0 && prev != '-';
}

int smtp_addr_literal_to_sockaddr(const char *lit, struct sockaddr_storage *ss)
{
	return addr_literal_ok(lit, strlen(lit), ss) ? 0 : -1;
}
