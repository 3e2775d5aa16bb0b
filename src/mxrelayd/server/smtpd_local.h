/*
 * smtpd_local: local submission (sendmail run by any user) and local
 * names (root, postmaster, a bare user name).
 *
 * Owns: the public directory beside the queue (mode 0755) and the
 * submission socket in it (mode 0666), taking its connections into SMTP
 * sessions that know the submitter from SO_PEERCRED and are trusted as
 * relay_networks are; the envelope sender a restricted user may give
 * (local_sender_override); the Received field of a local submission and
 * the Date and Message-ID it lacks; and
 * the recipients that are local names, resolved through the aliases at
 * RCPT time (admin_address for a name without alias, else 550 5.1.1).
 * Never: trusts what the client says about itself; never delivers
 * locally or sends mail for a local name to our own MX.
 */
#ifndef MXR_SMTPD_LOCAL_H
#define MXR_SMTPD_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config/config.h"
#include "policy/policy.h"
#include "server/server.h"
#include "smtpd_params.h"
#include "smtp/smtp_addr.h"

struct smtpd_session;

/* The submitter on the other end of the local socket, from the kernel. */
struct smtpd_local_peer {
	long uid, gid, pid;
	char user[64];			/* login name, or "uidN" without a passwd entry */
	bool sender_override;		/* may give any envelope sender */
};

struct smtpd_local;


/*
 * Whether the user (with primary group gid) may give any envelope sender:
 * local_sender_override is "*", or names the user or one of its groups;
 * root always may.
 */
bool smtpd_local_may_override(const struct config *cfg, long uid, const char *user, long gid);
/* The envelope sender a restricted user gets: user@masquerade_domain (or @hostname). */
void smtpd_local_own_sender(const struct config *cfg, const char *user, char *buf, size_t len);
/*
 * MAIL on the local socket: replace sender (text, sender_len octets of
 * room) with the submitter's own address when it may not choose. Logs a
 * rewrite.
 */
void smtpd_local_sender(struct smtpd_session *s, char *sender, size_t sender_len);
/* " uid=N user=NAME" for log lines of a local session, "" otherwise. */
const char *smtpd_local_log_tag(const struct smtpd_session *s, char *buf, size_t len);
/*
 * The Received field of a local submission, as Postfix's pickup writes it:
 *   Received: by HOST (mxrelay, from userid UID)
 *   <TAB>id QUEUEID; DATE
 * Pure. Returns the length (CRLF line ends), or 0 when buf is too small.
 */
size_t smtpd_local_received(const char *by_host, long uid, const char *queue_id, time_t when,
    char *buf, size_t len);


/*
 * Whether addr is a local name: no domain, or localhost, or our hostname
 * (a route for that exact domain makes it not local).
 */
bool smtpd_local_is_local(const struct config *cfg, const struct smtp_addr *addr);
/*
 * RCPT: when the recipient is a local name, resolve it through the
 * aliases, add what it expands to and reply; returns true when it did
 * (the caller does nothing more). policy_ok and pr are the relay
 * decision: a refused recipient stays refused, except a bare name from a
 * trusted client (5.1.3), which a local name is.
 */
bool smtpd_local_rcpt(struct smtpd_session *s, const struct smtp_addr *addr,
    const struct smtpd_rcpt_params *rp, bool policy_ok, const struct policy_reply *pr);

#endif
