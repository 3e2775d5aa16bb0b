/*
 * smtpd_authfail: AUTH failures per client, across sessions.
 *
 * Owns: a bounded table of the clients that failed AUTH lately (keyed as
 * smtpd_limit keys them: an IPv4 address, or an IPv6 network prefix), each
 * with the failures of its current window. A client at the limit is
 * refused AUTH until its window ends, however often it reconnects.
 * Never: does I/O or reads the clock (the caller passes the time); never
 * holds a user name or a password.
 */
#ifndef MXR_SMTPD_AUTHFAIL_H
#define MXR_SMTPD_AUTHFAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/server.h"


struct smtpd_authfail;

/*
 * Whether the client at sa has used up its failures at time now_ms; when
 * it has, *retry_ms says how long until its window ends.
 */
bool smtpd_authfail_blocked(struct smtpd_authfail *t, const struct sockaddr *sa, uint64_t now_ms,
    uint64_t *retry_ms);
/* Count one failure of the client at sa; returns its failures in the current window. */
unsigned smtpd_authfail_record(struct smtpd_authfail *t, const struct sockaddr *sa, uint64_t now_ms);
/* Clients held now (after expiring those whose window ended by now_ms). */
size_t smtpd_authfail_clients(struct smtpd_authfail *t, uint64_t now_ms);

#endif
