/*
 * smtpd_count: what the server sessions count in the daemon's metrics:
 * connections, TLS handshakes, the reply to each RCPT, and how each
 * transaction ended (mxrelay_messages_received_total{listener,result}).
 *
 * Owns: the transaction as the counters see it. It begins with a MAIL
 * that reaches its handler (a refused MAIL is a transaction of its own,
 * counted at once); it ends accepted with the 250 after the message, or
 * refused with a refusal of the message, or at RSET, HELO/EHLO, STARTTLS,
 * QUIT or a closed connection: then it counts as the class of the last
 * refusal it got to MAIL, RCPT or the message (every RCPT refused for
 * relaying: refused_policy), or aborted without one. Replies to commands
 * out of sequence (503) are no refusal of the transaction.
 * Never: decides or changes a reply; counts a committed message twice
 * (the commit's answer counts it, even when the client has gone).
 */
#ifndef MXR_SMTPD_COUNT_H
#define MXR_SMTPD_COUNT_H

#include "smtpd_session.h"

/* What the next final reply of the session answers, for the counters. */
enum smtpd_count_expect {
	SMTPD_COUNT_NONE,
	SMTPD_COUNT_MAIL,
	SMTPD_COUNT_RCPT,
};

/* A connection was accepted into a session. */
void smtpd_count_connection(struct smtpd_session *s);
/* The session's TLS handshake finished. */
void smtpd_count_tls(struct smtpd_session *s);
/* The next final reply answers a MAIL or a RCPT (set by their handlers). */
void smtpd_count_expect(struct smtpd_session *s, enum smtpd_count_expect what);
/* A final reply was sent (smtpd_session's writer calls it for every one). */
void smtpd_count_reply(struct smtpd_session *s, int code, const char *esc);
/* The message is being committed: the commit's answer, not a close, ends the transaction. */
void smtpd_count_committing(struct smtpd_session *s);
/* The message was answered: 250 (queued) or its refusal. */
void smtpd_count_end(struct smtpd_session *s, int code, const char *esc);
/* The transaction ends without a message (RSET, HELO, STARTTLS, QUIT, the connection closed). */
void smtpd_count_abort(struct smtpd_session *s);

#endif
