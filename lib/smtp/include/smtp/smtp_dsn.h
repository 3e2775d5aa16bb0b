/*
 * smtp_dsn: the values of the DSN parameters NOTIFY and RET (RFC 3461
 * 4.1, 4.3), read and written.
 *
 * Owns: the one rule for what a NOTIFY or RET value may be, shared by the
 * server (RCPT/MAIL parameters), the command line (--notify, -N, --ret,
 * -R) and the client that sends them on. ENVID and ORCPT are xtext
 * (smtp_cmd).
 * Never: does I/O; never decides what a DSN reports (the scheduler does).
 */
#ifndef MXR_SMTP_DSN_H
#define MXR_SMTP_DSN_H

#include <stddef.h>

/* NOTIFY keywords as bits; the same values as enum mxr_notify. */
enum smtp_dsn_notify {
	SMTP_DSN_NOTIFY_NEVER = 1 << 0,
	SMTP_DSN_NOTIFY_SUCCESS = 1 << 1,
	SMTP_DSN_NOTIFY_FAILURE = 1 << 2,
	SMTP_DSN_NOTIFY_DELAY = 1 << 3,
};

/* RET values; the same values as enum mxr_ret. */
enum smtp_dsn_ret {
	SMTP_DSN_RET_UNSET,
	SMTP_DSN_RET_FULL,
	SMTP_DSN_RET_HDRS,
};

/*
 * Read a NOTIFY value s[0..len): NEVER alone, or a comma list of SUCCESS,
 * FAILURE and DELAY, in any case, each at most once. Returns the bits
 * (never 0), or 0 with *err set to a static reason: an empty value or
 * item, an unknown keyword, a keyword twice, NEVER with another.
 */
unsigned smtp_dsn_notify_parse(const char *s, size_t len, const char **err);

/*
 * Write bits as a NOTIFY value ("NEVER", or e.g. "SUCCESS,DELAY" in the
 * order SUCCESS, FAILURE, DELAY), NUL-terminated. Returns its length, or 0
 * (and "" when cap > 0) when bits is 0 or buf is too small.
 */
size_t smtp_dsn_notify_format(unsigned bits, char *buf, size_t cap);

/* Read a RET value s[0..len): FULL or HDRS in any case; SMTP_DSN_RET_UNSET when neither. */
enum smtp_dsn_ret smtp_dsn_ret_parse(const char *s, size_t len);

#endif
