/*
 * smtpd_auth: SMTP AUTH on the server side (RFC 4954), mechanisms PLAIN
 * (RFC 4616) and LOGIN.
 *
 * Owns: the AUTH exchange (initial response, "334" challenges, "*" to
 * cancel), the password check on a worker thread (crypt is slow; the loop
 * never waits for it), the growing delay before each failure reply and
 * the disconnect after the last allowed failure.
 * Never: logs or keeps a password or an AUTH payload; never offers AUTH
 * in clear text unless the listener allows it.
 */
#ifndef MXR_SMTPD_AUTH_H
#define MXR_SMTPD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "smtpd_session.h"
#include "smtp/smtp_cmd.h"

/* Failures before the client is disconnected. */
#define SMTPD_AUTH_MAX_FAILURES 3
/* Password checks running at once on worker threads, for all sessions. */
#define SMTPD_AUTH_MAX_JOBS 16
#define SMTPD_AUTH_USER_MAX 255
#define SMTPD_AUTH_PASS_MAX 255

struct smtpd_auth;

/* The AUTH command. */
void smtpd_auth_start(struct smtpd_session *s, const struct smtp_cmd *cmd);
/* A client response line during the exchange (session in SMTPD_S_AUTH). */
void smtpd_auth_line(struct smtpd_session *s, const char *line, size_t len);
/* A response line over the cap was skipped: the AUTH command fails, the exchange ends. */
void smtpd_auth_line_too_long(struct smtpd_session *s);
/* The session is going away: a running check must not call back into it. */
void smtpd_auth_detach(struct smtpd_session *s);
/* Free exchange state (NULL is fine). */
void smtpd_auth_free(struct smtpd_auth *a);

/* Strict base64 (RFC 4648 4) into out; returns the length, or -1. */
int smtpd_auth_b64_decode(const char *in, size_t len, char *out, size_t outlen);
/*
 * Split a PLAIN response "authzid NUL authcid NUL passwd" into user and
 * pass (NUL-terminated). An authzid other than empty or the authcid is
 * refused (no proxy authorisation). Returns false on any fault.
 */
bool smtpd_auth_plain_split(const char *buf, size_t len, char *user, size_t ulen,
    char *pass, size_t plen);

#endif
