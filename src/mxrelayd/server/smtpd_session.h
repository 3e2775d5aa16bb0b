/*
 * smtpd_session: one SMTP server connection (RFC 5321), on the event loop.
 *
 * Owns: the session state machine (explicit states, every transition
 * logged), reading command lines with their caps, the reply writer and
 * error count, timeouts and deadlines (a command line must be complete
 * within command_timeout of its first octet; message text must arrive at
 * min_data_rate), pausing input while an answer is pending (queue
 * commit, DNS, password check, failure delay) so replies keep their order,
 * and the deferred free of a session whose connection closed while a
 * callback still holds it.
 * Never: parses SMTP grammar itself (lib/smtp does), decides relaying
 * (policy does), or touches the socket except through net_conn.
 */
#ifndef MXR_SMTPD_SESSION_H
#define MXR_SMTPD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "metrics/metrics_mail.h"
#include "server/server.h"
#include "smtpd_rate.h"

struct net_conn;
struct event;
struct dns_query;
struct smtpd_txn;
struct smtpd_auth;
struct smtpd_local_peer;

enum smtpd_state {
	SMTPD_S_HANDSHAKE,	/* implicit TLS (port 465): handshake before the greeting */
	SMTPD_S_GREETED,	/* 220 sent; HELO/EHLO expected */
	SMTPD_S_READY,		/* HELO/EHLO done; no transaction */
	SMTPD_S_MAIL,		/* MAIL taken; RCPT expected */
	SMTPD_S_RCPT,		/* at least one recipient; DATA/BDAT allowed */
	SMTPD_S_DATA,		/* message text after 354 */
	SMTPD_S_BDAT,		/* octets of a BDAT chunk */
	SMTPD_S_COMMIT,		/* end of message seen; waiting for the queue */
	SMTPD_S_AUTH,		/* AUTH exchange: a client response is expected */
	SMTPD_S_STARTTLS,	/* STARTTLS handshake running */
	SMTPD_S_CLOSED,		/* connection gone or closing */
	SMTPD_S_COUNT_
};

/* Why input is paused (at most one reason at a time). */
enum smtpd_wait {
	SMTPD_WAIT_NONE,
	SMTPD_WAIT_COMMIT,	/* queue_writer_commit callback */
	SMTPD_WAIT_DNS,		/* recipient domain lookup */
	SMTPD_WAIT_AUTH,	/* password check on a worker thread */
	SMTPD_WAIT_DELAY,	/* delay before an AUTH failure reply */
	SMTPD_WAIT_OUTPUT,	/* the client reads replies more slowly than it sends commands */
};

/* Output held for a client that does not read; input pauses above it. */
#define SMTPD_OUTPUT_MAX (64 * 1024)

struct smtpd_session {
	struct smtpd_ctx *ctx;			/* borrowed */
	const struct cfg_listener *lst;		/* borrowed from the frozen config */
	struct net_conn *conn;			/* owned; NULL once the connection is gone */
	struct smtpd_session *prev, *next;	/* ctx->sessions */
	char id[17];				/* hex, for logs */
	char peer_ip[48];
	struct sockaddr_storage peer;
	enum smtpd_state state;
	enum smtpd_wait wait;
	bool esmtp;				/* EHLO (not HELO) was used */
	char helo[256];				/* HELO/EHLO argument, printable */
	char *auth_user;			/* owned; set after a successful AUTH */
	struct smtpd_local_peer *local;		/* owned; the submitter on the local socket, or NULL */
	unsigned auth_failures;
	unsigned errors;			/* client errors since the last message accepted */
	unsigned messages;			/* messages queued in this session */
	bool skip_line;				/* discarding the rest of an overlong line */
	bool stop_after;			/* the daemon is stopping: close after this message */
	unsigned holds;				/* callbacks that still hold the session */
	bool limit_held;			/* counted by ctx->limit */
	struct smtpd_txn *txn;			/* owned; NULL outside a transaction */
	struct smtpd_auth *auth;		/* owned; an AUTH exchange in progress */
	struct dns_query *dnsq;			/* a recipient domain lookup; cancelled on close */
	void *dns_rcpt;				/* owned by smtpd_cmds while dnsq runs */
	struct event *timer;			/* owned; AUTH failure delay */
	struct event *cmd_deadline;		/* owned; pending while a command line is incomplete */
	struct event *data_deadline;		/* owned; pending while message text is read */
	uint64_t data_due_us;			/* monotonic time the message text is due by; 0: none */
	/* The BDAT chunk being read (RFC 3030): its octets are read even when refused. */
	uint64_t bdat_left;			/* octets still to read */
	uint64_t bdat_size;			/* octets the chunk announced, for the 250 */
	bool bdat_last;				/* it carries LAST */
	bool bdat_discard;			/* refused: drop the octets, then send bdat_reply */
	struct smtpd_reply bdat_reply;
	enum smtpd_state bdat_return;		/* state after a refused chunk */
	/* The transaction as the counters see it (smtpd_count.c). */
	int count_expect;			/* enum smtpd_count_expect: what the next reply answers */
	bool rx_open;				/* MAIL taken; the transaction not counted yet */
	bool rx_committing;			/* its message is being committed: the commit counts it */
	bool rx_refused;			/* it got a refusal, of class rx_refusal */
	enum metrics_rx_result rx_refusal;
	struct smtpd_rate_hold rate_hold;	/* what the open transaction took of the rate limits */
};

/* Start a session on an accepted socket (the listener counted it in ctx->limit). */
struct smtpd_session *smtpd_session_new(struct smtpd_ctx *ctx, const struct cfg_listener *lst,
    int fd, const struct sockaddr *peer, socklen_t peerlen);

const char *smtpd_session_state_name(enum smtpd_state st);
/* Change state and log the transition. */
void smtpd_session_set_state(struct smtpd_session *s, enum smtpd_state st);

/* Send one reply line "code esc text"; error replies count towards max_errors. */
void smtpd_session_reply(struct smtpd_session *s, int code, const char *esc,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * Send a refusal that is the relay's decision, not a client error (the
 * recipient limit, relaying denied): it does not count towards max_errors,
 * except past max_recipients of them in one transaction (Postfix's
 * smtpd_recipient_overshoot_limit), where the client is only probing.
 */
void smtpd_session_refuse(struct smtpd_session *s, int code, const char *esc,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Send a typed reply. */
void smtpd_session_reply_r(struct smtpd_session *s, const struct smtpd_reply *r);
/* Send one line of a multi-line reply ("code-esc text"); the last goes through smtpd_session_reply. */
void smtpd_session_reply_cont(struct smtpd_session *s, int code, const char *esc,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Send a last reply (221, 421, 521) and close once it is sent. */
void smtpd_session_close_reply(struct smtpd_session *s, int code, const char *esc,
    const char *text, const char *reason);
/* Drop the connection now, without a reply. */
void smtpd_session_drop(struct smtpd_session *s, const char *reason);

/* Pause input for an answer that comes later; smtpd_session_resume undoes it. */
void smtpd_session_wait(struct smtpd_session *s, enum smtpd_wait w);
/* The pending answer came: read the input that waited. */
void smtpd_session_resume(struct smtpd_session *s);

/* A callback keeps s alive; release returns false when s was freed (connection gone). */
void smtpd_session_hold(struct smtpd_session *s);
bool smtpd_session_release(struct smtpd_session *s);

/* Whether AUTH may be offered and used on this session now. */
bool smtpd_session_auth_offered(const struct smtpd_session *s);
bool smtpd_session_is_tls(const struct smtpd_session *s);
/* The "with" protocol of RFC 3848: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA. */
const char *smtpd_session_protocol(const struct smtpd_session *s);

/* Read timeout for the current state (command or data timeout). */
void smtpd_session_set_timeout(struct smtpd_session *s, unsigned seconds);


#endif
