/*
 * smtpd_submit: what the relay does to mail its own users submit, as it
 * is received: who may use which sender (sender_login), and the header
 * section of a submission (RFC 6409 8).
 *
 * A client the relay serves is one that authenticated, came from
 * relay_networks, or used the local submission socket; mail merely
 * passing through to relay_domains is none of that and is left as it
 * came. For a served client's message the header section is held (up to
 * SMTPD_SUBMIT_HEADER_MAX) until its empty line, then:
 * - Bcc fields are removed (no recipient sees the others);
 * - for an authenticated or local submission, Date and Message-ID are
 *   added when missing;
 * - for a client bound by sender_login with from_check on, every From
 *   address must be one it owns (else 550 5.7.1 at the end of DATA);
 * - when dkim_sign names a key for the domain of the (first) From address
 *   or a parent of it, the body is hashed as it streams to the queue and,
 *   at the end, a worker makes one DKIM-Signature per key over the header
 *   section as stored: the message's prefix in the queue.
 * The body streams to the queue as before.
 *
 * Owns: the session's binding (the sender_login entry of its user or
 * network), the MAIL FROM check (553 5.7.1), the held header section and
 * its From addresses, the fields added, which keys sign, the body hash and
 * the signatures.
 * Never: changes a message of a client it does not serve, a body octet,
 * or any field but those named above; holds more than the header section.
 */
#ifndef MXR_SMTPD_SUBMIT_H
#define MXR_SMTPD_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "server/server.h"

struct queue_writer;
struct smtpd_session;
struct workq;
struct smtpd_submit;

/* Largest header section held for a submission; past it the message is refused (552 5.3.4). */
#define SMTPD_SUBMIT_HEADER_MAX (1024u * 1024u)

/*
 * MAIL FROM sender ("" the null path) of s: true when it may be used;
 * false after the 553 5.7.1 reply went out (a client bound by
 * sender_login naming a sender it does not own).
 */
bool smtpd_submit_mail(struct smtpd_session *s, const char *sender);

/* The message text starts (after the Received field): decide what is held. NULL when nothing is. */
struct smtpd_submit *smtpd_submit_begin(struct smtpd_session *s);
/*
 * Take n octets of message text (CRLF line ends) for the queue writer w:
 * held while in the header section, passed on after it. 0, or -1 when
 * the writer refused octets.
 */
int smtpd_submit_append(struct smtpd_submit *m, struct queue_writer *w, const char *p, size_t n);
/*
 * The text is complete: write what is still held. 0 with r->code 0 when
 * the message may be committed; 0 with r set when it is refused (From
 * not owned, header section too large); -1 when the writer failed.
 */
int smtpd_submit_finish(struct smtpd_submit *m, struct queue_writer *w, struct smtpd_reply *r);
/* After a finish that refused nothing: whether the message is to be signed. NULL: false. */
bool smtpd_submit_signs(const struct smtpd_submit *m);
/*
 * Make the signatures, then call done(arg) on the loop: on a worker of q
 * when an RSA key signs (done comes later), here when every key is
 * Ed25519 or q is NULL (done is called before this returns). m (and the
 * session's configuration, whose keys sign) must live until done. A
 * signature that cannot be made is logged and left out.
 */
void smtpd_submit_sign(struct smtpd_submit *m, struct workq *q, void (*done)(void *arg),
    void *arg);
/* The DKIM-Signature fields made (owned by m), *len octets; NULL and 0 when none. */
const char *smtpd_submit_prefix(const struct smtpd_submit *m, size_t *len);
/* NULL is fine. */
void smtpd_submit_free(struct smtpd_submit *m);

#endif
