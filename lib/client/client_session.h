/*
 * client_session: one outbound SMTP connection to one address of one MX
 * host, carrying a message to a set of recipients in as many
 * transactions as the server's recipient limit needs, and, when reuse is
 * on, further messages after it (RFC 5321 allows many transactions per
 * session).
 *
 * Owns: the connection, the session state machine (greeting, EHLO/HELO,
 * STARTTLS, AUTH, idle between messages, QUIT), the capabilities read from
 * EHLO and the per-stage deadlines; the transaction half (MAIL, RCPT, DATA,
 * RSET, the message stream) is client_txn.
 * Never: resolves names, picks the next MX, or frees itself from inside a
 * callback: it reports through its hooks and the owner frees it.
 */
#ifndef MXR_CLIENT_SESSION_H
#define MXR_CLIENT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mxrelay/mxrelay.h"

struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

/* The message as every session of a delivery sees it (owned by the delivery). */
struct client_msg {
	const char *sender;	/* "" for <> */
	struct mxr_source src;
	uint64_t size;		/* declared in SIZE and checked against the server's limit */
	bool body_8bit;
	bool smtputf8;
	enum mxr_ret ret;
	const char *envid;	/* decoded, or NULL */
	const char *log_tag;	/* " queue=<id>" for log lines, "" or NULL without an id */
	bool data_progress;	/* someone listens to DATA progress steps (the caller's events) */
	bool requiretls;	/* REQUIRETLS: passed on where offered */
	bool requiretls_strict;	/* and only authenticated TLS to a server offering it will do
				   (a sender's message; a bounce is not held to it) */
	bool tls_optional;	/* "TLS-Required: No" */
};

/* What the log lines of m's delivery carry after their first key: " queue=<id>" or "". */
static inline const char *client_msg_log_tag(const struct client_msg *m)
{
	return m != NULL && m->log_tag != NULL ? m->log_tag : "";
}

/* One recipient as the engine tracks it (owned by the delivery). */
struct client_rcpt {
	const char *address;	/* "local@domain" */
	unsigned notify;	/* enum mxr_notify bits */
	const char *orcpt;	/* "type;address" decoded, or NULL */
	size_t index;		/* position in the caller's list */
	bool decided;		/* a final status was given */
};

/* A decision, a progress step or a failure, with what proves it. */
struct client_outcome {
	enum mxr_status status;
	enum mxr_stage stage;
	int code;		/* SMTP reply code or 0 */
	char esc[16];
	char text[512];		/* printable */
	const char *mx_host;	/* borrowed, may be NULL */
	const char *mx_ip;	/* borrowed, may be NULL */
	bool tls;
	bool dsn_passed;
	enum mxr_tls_policy tls_policy;	/* the policy that applied to the host */
	bool tls_testing;
	enum mxr_tls_auth tls_auth;	/* what authenticated it */
	/* A DATA progress step (bytes_total > 0): octets sent of the message so far. */
	uint64_t bytes_sent;
	uint64_t bytes_total;
};

/* Timeouts in milliseconds, defaults already applied. */
struct client_timeouts {
	unsigned connect, greeting, helo, tls, mail, rcpt, data_init, data_block, data_term;
};

struct client_tlsplan;

struct client_session_cfg {
	struct event_base *base;
	const struct client_timeouts *to;
	const struct client_tlsplan *plan;	/* the TLS this host must have (copied) */
	SSL_CTX *tls_ctx;	/* the context's client TLS context (DANE enabled), or NULL */
	const char *report_domain;	/* the domain TLS results are reported for, or NULL */
	const char *helo_name;
	const char *auth_user;	/* NULL: no AUTH */
	const char *auth_pass;
	const struct client_msg *msg;
	const char *mx_host;	/* name for logs, SNI and verification */
	const struct sockaddr *addr;	/* port set */
	socklen_t addrlen;
	const struct sockaddr *src;	/* local address or NULL */
	socklen_t srclen;
	/*
	 * Direct delivery to this domain (copied): a server whose greeting or
	 * reply to EHLO/HELO names it helo_name first is this host, and the
	 * mail would come back (RFC 5321 6.3). NULL: no such check.
	 */
	const char *loop_domain;
	bool may_idle;		/* stay open after the last message, for reuse */
	unsigned max_msgs;	/* with may_idle: transactions per connection; 0: no limit */
	const struct mxr_observer *observer;	/* told of the connection and TLS, or NULL */
};

enum client_session_end {
	CLIENT_SESSION_FINISHED,	/* every recipient given was decided */
	CLIENT_SESSION_MOVE_ON,		/* some are undecided: try the next address */
	CLIENT_SESSION_RETRY,		/* a reused connection was dead before MAIL was
					   answered; nothing decided: try a fresh one */
	CLIENT_SESSION_TLS_FALLBACK,	/* the handshake after 220 to STARTTLS failed under
					   the opportunistic policy, with no credentials to
					   protect; nothing sent: the same address may be
					   tried once more in clear text (RFC 7435) */
};

struct client_session;

struct client_session_hooks {
	/* A progress step for one recipient (status MXR_PENDING). */
	void (*progress)(void *arg, const struct client_rcpt *r, const struct client_outcome *o);
	/* A final status for one recipient; the hook sets r->decided. */
	void (*decide)(void *arg, struct client_rcpt *r, const struct client_outcome *o);
	/*
	 * The session is over; fail says why when end is MOVE_ON: status
	 * MXR_PERMFAIL when this host can never take the message but another
	 * may, MXR_TEMPFAIL otherwise. The hook may free s.
	 */
	void (*done)(void *arg, struct client_session *s, enum client_session_end end,
	    const struct client_outcome *fail);
	void *arg;
};

/*
 * Start a session for the undecided recipients rcpts[0..n) (the array is
 * copied; the recipients must outlive the session). Never fails at once:
 * a connection that cannot even start is reported through done, later.
 */
struct client_session *client_session_start(const struct client_session_cfg *cfg,
    struct client_rcpt *const *rcpts, size_t n, const struct client_session_hooks *hooks);

/*
 * Whether s ended FINISHED with its connection open and healthy (last
 * reply 2xx, no error, under max_msgs), so it may carry another message.
 */
bool client_session_idle(const struct client_session *s);

/*
 * Keep an idle session open for idle_ms: its recipients are forgotten and
 * hooks replace the owner's. When the peer closes, sends anything, or the
 * time passes (QUIT then), the session closes and hooks.done runs.
 */
void client_session_park(struct client_session *s, unsigned idle_ms,
    const struct client_session_hooks *hooks);

/*
 * Carry msg to rcpts[0..n) on an idle session, with hooks from now on:
 * MAIL goes out from the loop (no RSET is needed after a completed
 * transaction). A connection found dead before MAIL is answered ends
 * with CLIENT_SESSION_RETRY and nothing decided.
 */
void client_session_reuse(struct client_session *s, const struct client_msg *msg,
    struct client_rcpt *const *rcpts, size_t n, const struct client_session_hooks *hooks);

/*
 * A parked session says QUIT now instead of waiting out its idle time; it
 * closes when the 221 arrives (or the QUIT wait passes) and hooks.done
 * runs from the loop. Nothing happens to a session that is not idle.
 */
void client_session_close_idle(struct client_session *s);

/* The host name, its address as text and as a sockaddr, of the session. */
const char *client_session_host(const struct client_session *s);
const char *client_session_ip(const struct client_session *s);
const struct sockaddr_storage *client_session_addr(const struct client_session *s);
/* Whether the session is encrypted, and with a certificate that verified. */
bool client_session_tls(const struct client_session *s);
bool client_session_tls_verified(const struct client_session *s);
/*
 * Whether an idle session may carry msg: a REQUIRETLS message needs
 * authenticated TLS to a server that offered REQUIRETLS; a session that
 * "TLS-Required: No" let go without the domain's policy carries only
 * messages that say the same.
 */
bool client_session_may_carry(const struct client_session *s, const struct client_msg *msg);

/* Close and free. NULL is fine. Safe from inside the done hook. */
void client_session_free(struct client_session *s);

/* Fill the defaults of RFC 5321 4.5.3.2 into milliseconds. */
void client_session_timeouts(const struct mxr_timeouts *in, struct client_timeouts *out);

#endif
