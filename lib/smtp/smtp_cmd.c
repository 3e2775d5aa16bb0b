/*
 * smtp_cmd: the server-side command line grammar (RFC 5321 4.1.1), ESMTP
 * parameters (RFC 5321 4.1.2) and xtext (RFC 3461 4).
 *
 * Owns: the verb table (names and their enum), splitting a line into verb
 * and argument, the MAIL/RCPT "FROM:"/"TO:" argument, the esmtp-param
 * grammar and the xtext codec.
 * Never: decides whether a command is allowed in the session's state, and
 * never does I/O; every result points into the caller's line.
 */
#include "smtp/smtp_cmd.h"
#include "util/utf8.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

/* Verb names, indexed by enum smtp_verb. */
static const char *const cmd_verb_names[SMTP_VERB_COUNT] = {
	[SMTP_VERB_UNKNOWN] = "UNKNOWN",
	[SMTP_VERB_HELO] = "HELO",
	[SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_MAIL] = "MAIL",
	[SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA",
	[SMTP_VERB_BDAT] = "BDAT",
	[SMTP_VERB_RSET] = "RSET",
	[SMTP_VERB_NOOP] = "NOOP",
	[SMTP_VERB_QUIT] = "QUIT",
	[SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_VRFY] = "VRFY",
	[SMTP_VERB_EXPN] = "EXPN",
	[SMTP_VERB_STARTTLS] = "STARTTLS",
	[SMTP_VERB_AUTH] = "AUTH",
	[SMTP_VERB_SEND] = "SEND",
	[SMTP_VERB_SOML] = "SOML",
	[SMTP_VERB_SAML] = "SAML",
	[SMTP_VERB_TURN] = "TURN",
	[SMTP_VERB_ETRN] = "ETRN",
};

const char *smtp_cmd_verb_name(enum smtp_verb v)
{
	if ((unsigned)v >= SMTP_VERB_COUNT)
		return "UNKNOWN";
	return cmd_verb_names[v];
}

static bool cmd_is_space(char c)
{
	return c == ' ' || c == '\t';
}

int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out, const char **err)
{
	memset(out, 0, sizeof(*out));
	out->verb = SMTP_VERB_UNKNOWN;
	if (memchr(line, '\0', len) != NULL) {
		*err = "command line holds a NUL";
		return -1;
	}
	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (size_t i = 0; i < vlen; i++) {
		if ((unsigned char)line[i] > 0x7f) {
			*err = "non-ASCII octet in command verb";
			return -1;
		}
	}
	for (int v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
		const char *name = cmd_verb_names[v];
		if (strlen(name) == vlen && strncasecmp(line, name, vlen) == 0) {
			out->verb = (enum smtp_verb)v;
			break;
		}
	}
	size_t a = vlen;
	while (a < len && cmd_is_space(line[a]))
		a++;
	size_t end = len;
	while (end > a && cmd_is_space(line[end - 1]))
		end--;
	out->arg = line + a;
	out->arg_len = end - a;
	return 0;
}

static bool cmd_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int smtp_params_parse(const char *s, size_t len, bool utf8_ok,
    struct smtp_param *out, size_t max, const char **err)
{
	size_t i = 0;
	size_t count = 0;
	for (;;) {
		while (i < len && s[i] == ' ')
			i++;
		if (i >= len)
			break;
		if (count >= max) {
			*err = "too many parameters";
			return -1;
		}
		struct smtp_param *p = &out[count];
		size_t k = i;
		if (!cmd_is_alnum((unsigned char)s[k])) {
			*err = "bad parameter keyword";
			return -1;
		}
		while (k < len && (cmd_is_alnum((unsigned char)s[k]) || s[k] == '-'))
			k++;
		p->key = s + i;
		p->key_len = k - i;
		p->val = NULL;
		p->val_len = 0;
		if (k < len && s[k] == '=') {
			size_t v = ++k;
			while (k < len && s[k] != ' ') {
				unsigned char c = (unsigned char)s[k];
				if (c >= 0x21 && c <= 0x7e && c != '=') {
					k++;
				} else if (c >= 0x80 && utf8_ok) {
					size_t n = utf8_seq_len(s + k, len - k);
					if (n == 0) {
						*err = "invalid UTF-8 in parameter value";
						return -1;
					}
					k += n;
				} else {
					*err = "bad character in parameter value";
					return -1;
				}
			}
			if (k == v) {
				*err = "empty parameter value";
				return -1;
			}
			p->val = s + v;
			p->val_len = k - v;
		}
		if (k < len && s[k] != ' ') {
			*err = "bad character in parameter keyword";
			return -1;
		}
		count++;
		i = k;
	}
	return (int)count;
}

bool smtp_param_is(const struct smtp_param *p, const char *key)
{
	return strlen(key) == p->key_len && strncasecmp(p->key, key, p->key_len) == 0;
}

/* Fail a MAIL/RCPT argument with a reason and the reply code to send. */
static int cmd_path_fail(const char **err, int *reply_code, const char *why, int code)
{
	*err = why;
	*reply_code = code;
	return -1;
}

int smtp_cmd_parse_path_arg(const char *arg, size_t len, const char *prefix,
    unsigned addr_flags, struct smtp_addr *addr,
    struct smtp_param *params, size_t max_params, const char **err, int *reply_code)
{
	size_t pl = strlen(prefix);
	memset(addr, 0, sizeof(*addr));
	*reply_code = 0;
	if (len < pl || strncasecmp(arg, prefix, pl) != 0)
		return cmd_path_fail(err, reply_code,
		    strcasecmp(prefix, "TO:") == 0 ? "syntax: expected RCPT TO:<address>" :
		    "syntax: expected MAIL FROM:<address>", 501);
	size_t i = pl;
	/* Not in RFC 5321, but clients write "FROM: <a@b>" and Postfix takes it. */
	while (i < len && arg[i] == ' ')
		i++;
	if (i >= len)
		return cmd_path_fail(err, reply_code, "syntax: missing address", 501);
	size_t consumed = 0;
	enum smtp_addr_fault fault = SMTP_ADDR_FAULT_NONE;
	const char *why = NULL;
	if (smtp_addr_parse_path_ex(arg + i, len - i, addr_flags, addr, &consumed, &why,
	    &fault) != 0)
		return cmd_path_fail(err, reply_code, why,
		    fault == SMTP_ADDR_FAULT_MAILBOX ? 553 : 501);
	i += consumed;
	if (i < len && arg[i] != ' ') {
		memset(addr, 0, sizeof(*addr));
		return cmd_path_fail(err, reply_code, "syntax: junk after the address", 501);
	}
	int n = smtp_params_parse(arg + i, len - i, (addr_flags & SMTP_ADDR_UTF8_OK) != 0,
	    params, max_params, &why);
	if (n < 0) {
		memset(addr, 0, sizeof(*addr));
		return cmd_path_fail(err, reply_code, why, 501);
	}
	return n;
}

static int cmd_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int smtp_xtext_decode(const char *s, size_t len, char *dst, size_t dstlen)
{
	size_t o = 0;
	if (dstlen == 0)
		return -1;
	if (dstlen > INT_MAX)
		dstlen = INT_MAX;	/* the length must fit the int result */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int v;
		if (c == '+') {
			if (i + 2 >= len)
				return -1;
			int hi = cmd_hex(s[i + 1]), lo = cmd_hex(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			v = hi * 16 + lo;
			if (v == 0)
				return -1;	/* would cut the NUL-terminated result */
			i += 2;
		} else if (c >= 0x21 && c <= 0x7e && c != '=') {
			v = c;
		} else {
			return -1;
		}
		if (o + 1 >= dstlen)
			return -1;
		dst[o++] = (char)v;
	}
	dst[o] = '\0';
	return (int)o;
}

int smtp_xtext_encode(const char *s, size_t len, char *dst, size_t dstlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (dstlen == 0)
		return -1;
	if (dstlen > INT_MAX)
		dstlen = INT_MAX;	/* the length must fit the int result */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x21 && c <= 0x7e && c != '+' && c != '=') {
			if (o + 1 >= dstlen)
				return -1;
			dst[o++] = (char)c;
		} else {
			if (o + 3 >= dstlen)
				return -1;
			dst[o++] = '+';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	dst[o] = '\0';
	return (int)o;
}
