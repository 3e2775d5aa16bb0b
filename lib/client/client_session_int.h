/*
 * client_session_int: the inside of an outbound session, shared by its
 * connection half (client_session.c) and its transaction half
 * (client_txn.c) and by nothing else.
 *
 * Owns: the one state enum of the session, the session struct, and the
 * services the connection half gives the transaction half (send a
 * command, wait with a deadline, build outcomes, fail, end).
 * Never: included outside those two files.
 */
#ifndef MXR_CLIENT_SESSION_INT_H
#define MXR_CLIENT_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client_session.h"
#include "client_tlspol.h"
#include "client_txn.h"
#include "smtp/smtp_caps.h"
#include "smtp/smtp_reply.h"

struct event;
struct net_conn;

/* A command line we send, CRLF included (RFC 5321 4.5.3.1.4 plus extensions). */
#define CLIENT_SESSION_CMD_MAX 2048

enum client_session_state {
	CS_CONNECTING,
	CS_GREETING,
	CS_EHLO,
	CS_HELO,
	CS_STARTTLS,
	CS_TLS,
	CS_AUTH_USER,	/* AUTH LOGIN: waiting for the user name prompt */
	CS_AUTH_PASS,	/* AUTH LOGIN: waiting for the password prompt */
	CS_AUTH,	/* waiting for 235 */
	CS_MAIL,
	CS_RCPT,
	CS_DATA,
	CS_BODY,
	CS_DOT,
	CS_DRAIN,	/* swallowing pipelined replies after a failed MAIL */
	CS_RSET,
	CS_IDLE,	/* between messages, kept open for the next one */
	CS_QUIT,
	CS_DONE,
};

/* Where a recipient stands in this session (client_txn.rst). */
enum client_txn_rcpt_state {
	CS_R_WAIT,	/* not yet in a transaction */
	CS_R_BATCH,	/* in the transaction in flight, RCPT not yet answered */
	CS_R_ACCEPTED,	/* RCPT answered 2xx */
	CS_R_OVERFLOW,	/* 452 too many recipients: next transaction */
	CS_R_DONE,	/* decided */
};

struct client_session {
	struct client_session_cfg cfg;	/* pointers borrowed from the context; mx_host, addr: below */
	struct client_session_hooks hooks;
	char id[17];
	char host[256];			/* the MX host name (cfg.mx_host points here) */
	char loop_domain[256];		/* cfg.loop_domain points here when it is set */
	char ip[64];
	uint16_t port;
	struct sockaddr_storage addr;	/* cfg.addr points here */
	struct net_conn *conn;		/* owned */
	struct event *deadline;		/* owned: the current wait's limit */
	struct event *finish_ev;	/* owned: reports done from the loop */
	struct event *resume_ev;	/* owned: starts a reused session's MAIL from the loop */
	enum client_session_state state;
	const char *waiting;		/* what the deadline waits for, for texts */
	const char *last_cmd;		/* the last thing sent, for texts */
	enum mxr_stage stage;		/* stage for failures of the current wait */
	struct smtp_reply reply;	/* owned lines */
	int last_code;			/* code of the last complete reply */
	struct smtp_caps caps;
	struct client_tlsplan plan;	/* copy of cfg.plan; its borrowed parts cleared after TLS */
	enum mxr_tls_auth tls_auth;	/* what authenticated the server */
	bool reported;			/* this attempt was told to TLS reporting */
	char peer_helo[256];		/* the name the server gave in its reply to EHLO */
	bool tls_on;
	bool tls_verified;
	bool tls_tried;
	bool tls_handshake_failed;	/* the session ended during the TLS handshake */
	bool implicit;			/* implicit TLS handshake still running */
	bool auth_done;

	struct client_txn txn;		/* the message in hand */
	unsigned nmsgs;			/* transactions begun on this connection */
	bool probing;			/* reused: MAIL not answered yet, a drop means retry */
	bool retry;			/* the reused connection was found dead */
	bool parked;			/* idle, in a context's cache */
	unsigned connects;		/* 1: the TCP connection this session made */

	bool failed;
	struct client_outcome fail;	/* why the session could not go on */
	enum client_session_end end;
};

/* Move to a new state, logging the transition. */
void client_session_set_state(struct client_session *s, enum client_session_state st);
/* Enter a waiting state with a deadline of ms milliseconds. */
void client_session_wait(struct client_session *s, enum client_session_state st,
    enum mxr_stage stage, unsigned ms, const char *what);
/* An outcome from a text made by the engine. */
void client_session_outcome_text(const struct client_session *s, struct client_outcome *o,
    enum mxr_status st, enum mxr_stage stage, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* An outcome from the reply just read: its code, enhanced code and text. */
void client_session_outcome_reply(const struct client_session *s, struct client_outcome *o,
    enum mxr_status st, enum mxr_stage stage);
/* Send one command line (CRLF added); false when the session failed instead. */
bool client_session_send(struct client_session *s, bool secret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Remember why the session cannot go on (the first reason wins). */
void client_session_record_fail(struct client_session *s, const struct client_outcome *o);
/* The connection is gone or can no longer be trusted: close and report. */
void client_session_fail_close(struct client_session *s, const struct client_outcome *o);
/* The server refused to go on: QUIT (or close after a 421) and move on. */
void client_session_fail_quit(struct client_session *s, const struct client_outcome *o);
/*
 * This host can never take the message (it lacks an extension the message
 * needs) though another might: QUIT, and report o as a permanent failure
 * of the host, so the owner tries the next one.
 */
void client_session_fail_host(struct client_session *s, const struct client_outcome *o);
/* Say goodbye and wait briefly for the 221; the session then ends. */
void client_session_quit(struct client_session *s);
/* The session is over: close the connection and report. */
void client_session_finish(struct client_session *s);
/* Every recipient is decided: QUIT, or stay open for the next message. */
void client_session_end_txns(struct client_session *s);
/* TLS is settled (or not wanted): AUTH when configured, then the transaction. */
void client_session_after_tls(struct client_session *s);

/* ---- the TLS half (client_session_tls.c) ---- */

/* After EHLO: send STARTTLS, or fail when the plan needs it; false when nothing was done. */
bool client_session_tls_after_helo(struct client_session *s);
/* The reply to STARTTLS. */
void client_session_tls_on_reply(struct client_session *s);
/* Set up implicit TLS on the new connection; -1 when it cannot start. */
int client_session_tls_implicit(struct client_session *s);
/* A handshake finished: judge it against the plan; false when the session ends instead. */
bool client_session_tls_done(struct client_session *s);
/* Whether a failed handshake may be retried at the same address in clear text. */
bool client_session_tls_may_fall_back(const struct client_session *s);
/* The outcome of a handshake that broke off (err: what net_conn said). */
void client_session_tls_failed(struct client_session *s, struct client_outcome *o,
    const char *err);
/* Before MAIL: a REQUIRETLS message's promise holds, or the host is given up (5.7.10). */
bool client_session_requiretls_ok(struct client_session *s);

#endif
