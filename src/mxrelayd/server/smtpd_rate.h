/*
 * smtpd_rate: the rate limits of the SMTP server, applied: connections per
 * client address at accept, messages at MAIL and recipients at RCPT per
 * client address and per user (the AUTH identity, or the local submitter).
 *
 * Owns: which buckets a client and a user count in (an IPv4 address, an
 * IPv6 network of client_ipv6_prefix bits, IPv4-mapped IPv6 as IPv4; none
 * for a client in rate_limit_exempt or on the local socket; the user name
 * as given), the decision over both at once (nothing is taken unless both
 * have room, and a refusal says when both will), the refusal replies and
 * their one log line each, their metrics, and what an open transaction
 * took, given back when it ends without a queued message.
 * Never: keeps buckets itself (policy/ratelimit.c does, in one table that
 * outlives every configuration generation); counts a refused request.
 */
#ifndef MXR_SMTPD_RATE_H
#define MXR_SMTPD_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "policy/ratelimit.h"
#include "server/server.h"
#include "smtpd_limit.h"

struct smtpd_session;

/* What the open transaction of a session took, to give back if it queues nothing. */
struct smtpd_rate_hold {
	bool message_client;		/* MAIL took from the client's message bucket */
	bool message_user;		/* and from the user's */
	unsigned rcpt_client;		/* accepted RCPTs taken from the client's recipient bucket */
	unsigned rcpt_user;		/* and from the user's */
};

/* What is being counted. */
enum smtpd_rate_event {
	SMTPD_RATE_CONNECTION,		/* client_connection_rate */
	SMTPD_RATE_MESSAGE,		/* client_message_rate, the user's message rate */
	SMTPD_RATE_RECIPIENT,		/* client_recipient_rate, the user's recipient rate */
};

/* A decision. */
struct smtpd_rate_verdict {
	bool ok;			/* taken (or no limit applies) */
	enum ratelimit_kind limit;	/* refused: the limit that waits longest */
	struct cfg_rate rate;		/* refused: its rate */
	uint64_t retry_ms;		/* refused: until every bucket concerned has room */
	bool took_client, took_user;	/* ok: the buckets it was counted in */
};

/*
 * The client's bucket key under cfg: false for a client no client limit
 * applies to (rate_limit_exempt, or no IP address: the local socket).
 */
bool smtpd_rate_client_key(const struct config *cfg, const struct sockaddr *sa,
    struct smtpd_limit_key *k);
/*
 * One more ev from the client at sa (NULL: none) and user (NULL: none) at
 * now_ms: taken from every bucket concerned when all have room, else
 * nothing taken and the refusal counted in the table.
 */
struct smtpd_rate_verdict smtpd_rate_decide(struct ratelimit *t, const struct config *cfg,
    enum smtpd_rate_event ev, const struct sockaddr *sa, const char *user, uint64_t now_ms);
/* Give back what h holds, taken for the client at sa and user. */
void smtpd_rate_give(struct ratelimit *t, const struct config *cfg, const struct sockaddr *sa,
    const char *user, const struct smtpd_rate_hold *h, uint64_t now_ms);

/*
 * At accept, after the connection limits counted it: true to go on; false
 * when client_connection_rate refuses it, after the 421, the close of fd
 * and the log line.
 */
bool smtpd_rate_accept(struct smtpd_ctx *ctx, const struct cfg_listener *lst, int fd,
    const struct sockaddr_storage *peer);
/* At MAIL, every other check passed: true to accept it; false after the 452 4.7.0. */
bool smtpd_rate_mail(struct smtpd_session *s);
/* At RCPT, the recipient rcpt accepted by every other check: true to add it; false after 452 4.7.0. */
bool smtpd_rate_rcpt(struct smtpd_session *s, const char *rcpt);
/*
 * The transaction ended (smtpd_count calls it): with queued, what it took
 * stays taken; otherwise it is given back. Idempotent.
 */
void smtpd_rate_end(struct smtpd_session *s, bool queued);

#endif
