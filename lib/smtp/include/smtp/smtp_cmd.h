/*
 * smtp_cmd: the server-side command line grammar (RFC 5321 4.1.1) and
 * ESMTP parameters (RFC 5321 4.1.2 esmtp-param, RFC 3461 xtext).
 *
 * Owns: splitting a command line into verb and argument, MAIL/RCPT
 * argument parsing ("FROM:"/"TO:" path, parameters), xtext.
 * Never: decides whether a command is allowed now (the session's command
 * table does) and never does I/O.
 */
#ifndef MXR_SMTP_CMD_H
#define MXR_SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "smtp/smtp_addr.h"

/* RFC 5321 4.5.3.1.4: command line 512 octets including CRLF. */
#define SMTP_CMD_LINE_MAX 512
/* Most ESMTP parameters taken on one MAIL or RCPT. */
#define SMTP_PARAMS_MAX 16

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL, SMTP_VERB_RCPT,
	SMTP_VERB_DATA, SMTP_VERB_BDAT, SMTP_VERB_RSET, SMTP_VERB_NOOP,
	SMTP_VERB_QUIT, SMTP_VERB_HELP, SMTP_VERB_VRFY, SMTP_VERB_EXPN,
	SMTP_VERB_STARTTLS, SMTP_VERB_AUTH, SMTP_VERB_SEND, SMTP_VERB_SOML,
	SMTP_VERB_SAML, SMTP_VERB_TURN, SMTP_VERB_ETRN,
	SMTP_VERB_COUNT
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg;	/* into the line: the text after the verb and its spaces */
	size_t arg_len;
};

/*
 * Split one command line (no CRLF) into verb and argument. Verbs are
 * matched case-insensitively. Returns 0, or -1 when the line holds a NUL
 * or a byte outside 0x01..0x7f in the verb (err says why).
 */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out, const char **err);
const char *smtp_cmd_verb_name(enum smtp_verb v);

struct smtp_param {
	const char *key;	/* into the line; not NUL-terminated */
	size_t key_len;
	const char *val;	/* NULL when the parameter has no "=value" */
	size_t val_len;
};

/*
 * Parse " KEY[=VALUE] KEY[=VALUE]..." (esmtp-keyword: ALPHA/DIGIT then
 * ALPHA/DIGIT/"-"; esmtp-value: 0x21..0x7e except "=", or UTF-8 when
 * utf8_ok). Returns the count, or -1 with err set.
 */
int smtp_params_parse(const char *s, size_t len, bool utf8_ok,
    struct smtp_param *out, size_t max, const char **err);

/* Case-insensitive match of a parameter's keyword. */
bool smtp_param_is(const struct smtp_param *p, const char *key);

/*
 * Parse a MAIL/SEND/SOML/SAML argument "FROM:<path> params" or a RCPT
 * argument "TO:<path> params" (prefix is "FROM:" or "TO:", matched without
 * case; spaces after the colon tolerated). Returns the number of
 * parameters (>= 0) or -1 with err set; reply_code is set to the reply the
 * server should send on error (501 syntax, 553 mailbox syntax).
 */
int smtp_cmd_parse_path_arg(const char *arg, size_t len, const char *prefix,
    unsigned addr_flags, struct smtp_addr *addr,
    struct smtp_param *params, size_t max_params, const char **err, int *reply_code);

/*
 * xtext (RFC 3461 4): decode into dst (NUL-terminated); returns length or
 * -1 on a bad "+XX" or a byte outside 0x21..0x7e.
 */
int smtp_xtext_decode(const char *s, size_t len, char *dst, size_t dstlen);
/* Encode into dst; returns length or -1 when dst is too small. */
int smtp_xtext_encode(const char *s, size_t len, char *dst, size_t dstlen);

#endif
