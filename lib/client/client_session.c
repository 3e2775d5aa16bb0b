/*
 * client_session: the connection half of an outbound SMTP session.
 *
 * Owns: the state machine from connect through greeting, EHLO/HELO,
 * STARTTLS and AUTH to QUIT, the idle state between messages when the
 * connection is kept for reuse, the per-stage deadline timer, the EHLO
 * capabilities, the check that the server is not this host (a mail loop)
 * and the reply reader. The transaction states (MAIL to
 * RSET) are handed to client_txn.
 * Never: logs credentials or AUTH payloads, sends credentials in the clear
 * or, under a level that promises it, to a server not authenticated; keeps
 * a connection that failed or whose
 * last reply was not 2xx for another message, or frees itself from inside
 * a callback.
 */
#include "client_observer.h"
#include "client_session.h"
#include "client_session_int.h"
#include "client_txn.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "net/net_conn.h"
#include "smtp/smtp_caps.h"
#include "smtp/smtp_cmd.h"
#include "smtp/smtp_reply.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Longest user name or password accepted for AUTH. */
#define CS_CRED_MAX 512
/* Longest wait for the 221 after QUIT. */
#define CS_QUIT_MAX_MS 10000u

static const char *const cs_state_names[] = {
	"connecting", "greeting", "ehlo", "helo", "starttls", "tls", "auth-user",
	"auth-pass", "auth", "mail", "rcpt", "data", "body", "dot", "drain", "rset",
	"idle", "quit", "done",
};

static void cs_after_helo(struct client_session *s);

void client_session_timeouts(const struct mxr_timeouts *in, struct client_timeouts *out)
{
	struct mxr_timeouts z = { 0 };
	if (in == NULL)
		in = &z;
#define CS_MS(v, d) ((v) != 0 ? (v) * 1000u : (d) * 1000u)
	out->connect = CS_MS(in->connect, 30);
	out->greeting = CS_MS(in->greeting, 300);
	out->helo = CS_MS(in->helo, 300);
	out->tls = CS_MS(in->tls, 60);
	out->mail = CS_MS(in->mail, 300);
	out->rcpt = CS_MS(in->rcpt, 300);
	out->data_init = CS_MS(in->data_init, 120);
	out->data_block = CS_MS(in->data_block, 180);
	out->data_term = CS_MS(in->data_term, 600);
#undef CS_MS
}

/* The queue id for this session's log lines while it carries a message. */
static const char *cs_q(const struct client_session *s)
{
	return client_msg_log_tag(s->cfg.msg);
}

void client_session_set_state(struct client_session *s, enum client_session_state st)
{
	if (s->state != st)
		log_msg(LOG_LVL_DEBUG, "session=%s%s mx=%s ip=%s state=%s next=%s", s->id, cs_q(s),
		    s->cfg.mx_host, s->ip, cs_state_names[s->state], cs_state_names[st]);
	s->state = st;
}

void client_session_wait(struct client_session *s, enum client_session_state st,
    enum mxr_stage stage, unsigned ms, const char *what)
{
	client_session_set_state(s, st);
	s->stage = stage;
	s->waiting = what;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	evtimer_add(s->deadline, &tv);
}

/* Fill an outcome with this session's host, address and TLS state. */
static void cs_outcome(const struct client_session *s, struct client_outcome *o,
    enum mxr_status st, enum mxr_stage stage, int code, const char *esc)
{
	memset(o, 0, sizeof(*o));
	o->status = st;
	o->stage = stage;
	o->code = code;
	snprintf(o->esc, sizeof(o->esc), "%s", esc != NULL ? esc : "");
	o->mx_host = s->cfg.mx_host;
	o->mx_ip = s->ip;
	o->tls = s->tls_on;
	o->dsn_passed = s->txn.dsn;
	o->tls_policy = s->plan.applied;
	o->tls_testing = s->plan.testing;
	o->tls_auth = s->tls_auth;
}

void client_session_outcome_text(const struct client_session *s, struct client_outcome *o,
    enum mxr_status st, enum mxr_stage stage, int code, const char *esc, const char *fmt, ...)
{
	cs_outcome(s, o, st, stage, code, esc);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
	for (char *p = o->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

void client_session_outcome_reply(const struct client_session *s, struct client_outcome *o,
    enum mxr_status st, enum mxr_stage stage)
{
	const struct smtp_reply *r = &s->reply;
	cs_outcome(s, o, st, stage, r->code, r->esc);
	size_t used = 0;
	for (unsigned i = 0; i < r->nlines && used + 1 < sizeof(o->text); i++) {
		const char *t = smtp_reply_text(r, i);
		if (t == NULL)
			continue;
		if (used > 0)
			o->text[used++] = ' ';
		for (; *t != '\0' && used + 1 < sizeof(o->text); t++) {
			unsigned char c = (unsigned char)*t;
			o->text[used++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
		}
	}
	o->text[used] = '\0';
}

/* Report the end from the loop, never from inside the caller's call. */
static void cs_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct client_session *s = arg;
	s->hooks.done(s->hooks.arg, s, s->end, &s->fail);
}

void client_session_finish(struct client_session *s)
{
	if (s->state == CS_DONE)
		return;
	bool was_idle = s->state == CS_IDLE;
	client_session_set_state(s, CS_DONE);
	evtimer_del(s->deadline);
	net_conn_free(s->conn);
	s->conn = NULL;
	s->end = CLIENT_SESSION_FINISHED;
	if (s->retry) {
		s->end = CLIENT_SESSION_RETRY;
	} else if (s->tls_handshake_failed && client_session_tls_may_fall_back(s) &&
	    client_txn_undecided(s)) {
		s->end = CLIENT_SESSION_TLS_FALLBACK;
	} else if (client_txn_undecided(s)) {
		s->end = CLIENT_SESSION_MOVE_ON;
		if (!s->failed)
			client_session_outcome_text(s, &s->fail, MXR_TEMPFAIL, s->stage, 0, "4.4.2",
			    "session with %s ended early", s->cfg.mx_host);
	}
	log_msg(LOG_LVL_INFO, "session=%s%s mx=%s ip=%s end=%s tls=%s tls_policy=%s tls_auth=%s "
	    "msgs=%u", s->id, cs_q(s), s->cfg.mx_host, s->ip,
	    s->end == CLIENT_SESSION_FINISHED ? (was_idle || s->parked ? "closed-idle" : "finished")
	    : s->end == CLIENT_SESSION_RETRY ? "retry"
	    : s->end == CLIENT_SESSION_TLS_FALLBACK ? "tls-fallback" : "move-on",
	    s->tls_on ? "yes" : "no",
	    s->plan.testing ? "mta-sts-testing" : mxr_tls_policy_name(s->plan.applied),
	    mxr_tls_auth_name(s->tls_auth), s->nmsgs);
	event_active(s->finish_ev, 0, 0);
}

void client_session_record_fail(struct client_session *s, const struct client_outcome *o)
{
	if (s->failed)
		return;
	s->failed = true;
	s->fail = *o;
	s->fail.status = MXR_TEMPFAIL;
	char pr[600];
	log_msg(LOG_LVL_INFO, "session=%s%s mx=%s ip=%s stage=%s code=%d esc=%s reason=\"%s\"",
	    s->id, cs_q(s), s->cfg.mx_host, s->ip, mxr_stage_name(o->stage), o->code, o->esc,
	    log_printable(pr, sizeof(pr), o->text, strlen(o->text)));
}

/*
 * The connection is gone or can no longer be trusted: recipients whose
 * message was already sent are deferred (never sent twice), the rest move
 * on. A reused connection that dies before MAIL is answered is retried.
 */
void client_session_fail_close(struct client_session *s, const struct client_outcome *o)
{
	if (s->probing) {
		char pr[600];
		log_msg(LOG_LVL_INFO, "session=%s%s mx=%s ip=%s event=reuse-failed reason=\"%s\"",
		    s->id, cs_q(s), s->cfg.mx_host, s->ip,
		    log_printable(pr, sizeof(pr), o->text, strlen(o->text)));
		s->retry = true;
		client_session_finish(s);
		return;
	}
	/* Whatever ends a session during the handshake (error, EOF, timeout) is a failed handshake. */
	if (s->state == CS_TLS)
		s->tls_handshake_failed = true;
	client_txn_conn_lost(s, o);
	client_session_record_fail(s, o);
	client_session_finish(s);
}

bool client_session_send(struct client_session *s, bool secret, const char *fmt, ...)
{
	char line[CLIENT_SESSION_CMD_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		struct client_outcome o;
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.3.0",
		    "command to %s would exceed %d octets", s->cfg.mx_host, CLIENT_SESSION_CMD_MAX);
		client_session_fail_close(s, &o);
		return false;
	}
	if (log_enabled(LOG_LVL_DEBUG)) {
		char pr[CLIENT_SESSION_CMD_MAX * 2];
		log_msg(LOG_LVL_DEBUG, "session=%s%s send=\"%s\"", s->id, cs_q(s),
		    secret ? "(credentials)" : log_printable(pr, sizeof(pr), line, (size_t)n));
	}
	line[n++] = '\r';
	line[n++] = '\n';
	net_conn_write(s->conn, line, (size_t)n);
	return true;
}

void client_session_quit(struct client_session *s)
{
	if (s->conn == NULL || s->state == CS_QUIT || s->state == CS_DONE) {
		client_session_finish(s);
		return;
	}
	s->last_cmd = "QUIT";
	if (!client_session_send(s, false, "QUIT"))
		return;
	unsigned ms = s->cfg.to->mail < CS_QUIT_MAX_MS ? s->cfg.to->mail : CS_QUIT_MAX_MS;
	client_session_wait(s, CS_QUIT, s->stage, ms, "reply to QUIT");
}

void client_session_fail_quit(struct client_session *s, const struct client_outcome *o)
{
	client_session_record_fail(s, o);
	if (s->reply.code == 421) {
		/* RFC 5321 3.8: the server is closing; nothing more will be read. */
		client_session_fail_close(s, o);
		return;
	}
	client_session_quit(s);
}

void client_session_fail_host(struct client_session *s, const struct client_outcome *o)
{
	bool first = !s->failed;
	client_session_record_fail(s, o);
	if (first)
		s->fail.status = MXR_PERMFAIL;
	client_session_quit(s);
}

/* Whether the connection may carry another message after this one. */
static bool cs_reusable(const struct client_session *s)
{
	return s->cfg.may_idle && s->conn != NULL && !s->failed && !s->retry &&
	    s->last_code / 100 == 2 && !s->txn.need_rset && !s->txn.dot_sent &&
	    (s->cfg.max_msgs == 0 || s->nmsgs < s->cfg.max_msgs);
}

void client_session_end_txns(struct client_session *s)
{
	if (!cs_reusable(s)) {
		client_session_quit(s);
		return;
	}
	/* Every recipient is decided and the connection is sound: keep it. */
	evtimer_del(s->deadline);
	client_session_set_state(s, CS_IDLE);
	s->probing = false;
	s->end = CLIENT_SESSION_FINISHED;
	log_msg(LOG_LVL_DEBUG, "session=%s%s mx=%s ip=%s end=idle tls=%s msgs=%u", s->id, cs_q(s),
	    s->cfg.mx_host, s->ip, s->tls_on ? "yes" : "no", s->nmsgs);
	event_active(s->finish_ev, 0, 0);
}

bool client_session_idle(const struct client_session *s)
{
	return s != NULL && s->state == CS_IDLE && s->conn != NULL && !s->failed && !s->retry;
}

void client_session_park(struct client_session *s, unsigned idle_ms,
    const struct client_session_hooks *hooks)
{
	client_txn_clear(&s->txn);
	s->cfg.msg = NULL;
	s->hooks = *hooks;
	s->parked = true;
	log_msg(LOG_LVL_DEBUG, "session=%s%s mx=%s ip=%s event=park idle_ms=%u", s->id, cs_q(s),
	    s->cfg.mx_host, s->ip, idle_ms);
	client_session_wait(s, CS_IDLE, MXR_STAGE_CONNECT, idle_ms, "next message");
}

void client_session_close_idle(struct client_session *s)
{
	if (s != NULL && s->state == CS_IDLE && s->parked)
		client_session_quit(s);
}

/* A reused session starts its first transaction from the loop. */
static void cs_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct client_session *s = arg;
	if (s->state == CS_IDLE && s->conn != NULL && client_session_requiretls_ok(s))
		client_txn_begin(s);
}

void client_session_reuse(struct client_session *s, const struct client_msg *msg,
    struct client_rcpt *const *rcpts, size_t n, const struct client_session_hooks *hooks)
{
	evtimer_del(s->deadline);
	client_txn_clear(&s->txn);
	client_txn_init(&s->txn, msg, rcpts, n);
	s->cfg.msg = msg;
	s->hooks = *hooks;
	s->parked = false;
	s->failed = false;
	memset(&s->fail, 0, sizeof(s->fail));
	s->end = CLIENT_SESSION_FINISHED;
	s->retry = false;
	s->probing = true;
	s->connects = 0;
	s->stage = MXR_STAGE_CONNECT;
	s->last_cmd = "connect";
	struct client_outcome o;
	client_session_outcome_text(s, &o, MXR_PENDING, MXR_STAGE_CONNECT, 0, "",
	    "reusing connection to %s[%s]:%u", s->cfg.mx_host, s->ip, (unsigned)s->port);
	client_txn_progress_all(s, &o);
	log_msg(LOG_LVL_DEBUG, "session=%s%s mx=%s ip=%s port=%u rcpts=%zu event=reuse msgs=%u",
	    s->id, cs_q(s), s->cfg.mx_host, s->ip, (unsigned)s->port, n, s->nmsgs);
	/* Still idle until the loop runs: a close seen meanwhile ends it as RETRY. */
	event_active(s->resume_ev, 0, 0);
}

const char *client_session_host(const struct client_session *s)
{
	return s->host;
}

const char *client_session_ip(const struct client_session *s)
{
	return s->ip;
}

const struct sockaddr_storage *client_session_addr(const struct client_session *s)
{
	return &s->addr;
}

bool client_session_tls(const struct client_session *s)
{
	return s->tls_on;
}

bool client_session_tls_verified(const struct client_session *s)
{
	return s->tls_on && s->tls_verified;
}

bool client_session_may_carry(const struct client_session *s, const struct client_msg *msg)
{
	if (s->plan.relaxed && !msg->tls_optional)
		return false;
	if (msg->requiretls_strict)
		return s->tls_on && s->tls_auth != MXR_TLS_AUTH_NONE && s->caps.requiretls;
	return true;
}

/* Base64 of in[0..n) into out (room for 4 * ((n + 2) / 3) + 1). */
static void cs_b64(const void *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Start AUTH with the best mechanism offered, or go on without it. */
static void cs_auth(struct client_session *s)
{
	struct client_outcome o;
	/*
	 * A password goes only over TLS, and, where the level promises an
	 * authenticated server (verify, implicit, dane-only, DANE records), only
	 * to one that proved who it is: dane-only whose records were all
	 * unusable is still dane-only.
	 */
	bool promised = s->plan.need == CLIENT_TLS_AUTH || s->plan.applied == MXR_TLS_DANE_ONLY ||
	    s->plan.applied == MXR_TLS_REQUIRED || s->plan.applied == MXR_TLS_IMPLICIT;
	if (!s->tls_on || (promised && s->tls_auth == MXR_TLS_AUTH_NONE)) {
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_AUTH, 0, "4.7.0",
		    "refusing to send credentials to %s %s", s->cfg.mx_host, !s->tls_on ?
		    "without TLS" : "before its certificate was authenticated");
		client_session_fail_quit(s, &o);
		return;
	}
	size_t ul = strlen(s->cfg.auth_user);
	size_t pl = s->cfg.auth_pass != NULL ? strlen(s->cfg.auth_pass) : 0;
	if (ul > CS_CRED_MAX || pl > CS_CRED_MAX) {
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_AUTH, 0, "4.7.0",
		    "credentials longer than %d octets", CS_CRED_MAX);
		client_session_fail_quit(s, &o);
		return;
	}
	s->last_cmd = "AUTH";
	if (s->caps.auth & SMTP_AUTH_PLAIN) {
		char raw[2 * CS_CRED_MAX + 2];
		char b64[(sizeof(raw) + 2) / 3 * 4 + 1];
		raw[0] = '\0';
		memcpy(raw + 1, s->cfg.auth_user, ul);
		raw[1 + ul] = '\0';
		if (pl > 0)
			memcpy(raw + 2 + ul, s->cfg.auth_pass, pl);
		cs_b64(raw, 2 + ul + pl, b64);
		bool ok = client_session_send(s, true, "AUTH PLAIN %s", b64);
		explicit_bzero(raw, sizeof(raw));
		explicit_bzero(b64, sizeof(b64));
		if (ok)
			client_session_wait(s, CS_AUTH, MXR_STAGE_AUTH, s->cfg.to->mail, "reply to AUTH");
		return;
	}
	if (s->caps.auth & SMTP_AUTH_LOGIN) {
		if (client_session_send(s, false, "AUTH LOGIN"))
			client_session_wait(s, CS_AUTH_USER, MXR_STAGE_AUTH, s->cfg.to->mail, "reply to AUTH");
		return;
	}
	log_msg(LOG_LVL_WARN,
	    "session=%s%s mx=%s ip=%s auth=skipped reason=\"no PLAIN or LOGIN offered\"", s->id,
	    cs_q(s), s->cfg.mx_host, s->ip);
	s->auth_done = true;
	client_session_after_tls(s);
}

/* The next step of AUTH LOGIN: a 334 prompt gets the user name or password. */
static void cs_auth_login_step(struct client_session *s, const char *secret,
    enum client_session_state next)
{
	char b64[(CS_CRED_MAX + 2) / 3 * 4 + 1];
	cs_b64(secret, strlen(secret), b64);
	bool ok = client_session_send(s, true, "%s", b64);
	explicit_bzero(b64, sizeof(b64));
	if (ok)
		client_session_wait(s, next, MXR_STAGE_AUTH, s->cfg.to->mail, "reply to AUTH");
}

/* A 2xx to EHLO/HELO: STARTTLS as the plan says, then AUTH and the transaction. */
static void cs_after_helo(struct client_session *s)
{
	if (client_session_tls_after_helo(s))
		return;
	client_session_after_tls(s);
}

void client_session_after_tls(struct client_session *s)
{
	if (s->cfg.auth_user != NULL && !s->auth_done) {
		cs_auth(s);
		return;
	}
	if (client_session_requiretls_ok(s))
		client_txn_begin(s);
}

/* Send EHLO (again after TLS). */
static void cs_ehlo(struct client_session *s)
{
	memset(&s->caps, 0, sizeof(s->caps));
	s->last_cmd = "EHLO";
	if (client_session_send(s, false, "EHLO %s", s->cfg.helo_name))
		client_session_wait(s, CS_EHLO, MXR_STAGE_HELO, s->cfg.to->helo, "reply to EHLO");
}

/*
 * Whether the server just named itself with our own name (the first word
 * of the greeting or of the reply to EHLO/HELO, without case): then it is
 * this host and the mail would come back (RFC 5321 6.3). Its recipients
 * fail 5.4.6 and the session QUITs; no other host of the domain is tried,
 * since a backup would bring the mail here again.
 */
static bool cs_loops_back(struct client_session *s, enum mxr_stage stage)
{
	const char *me = s->cfg.helo_name;
	const char *t = smtp_reply_text(&s->reply, 0);
	if (s->cfg.loop_domain == NULL || me == NULL || t == NULL)
		return false;
	size_t n = strcspn(t, " \t");
	if (n == 0 || n != strlen(me) || strncasecmp(t, me, n) != 0)
		return false;
	struct client_outcome o;
	client_session_outcome_text(s, &o, MXR_PERMFAIL, stage, 0, "5.4.6",
	    "mail for %s loops back to myself", s->cfg.loop_domain);
	log_msg(LOG_LVL_WARN, "session=%s%s mx=%s ip=%s event=mail-loop stage=%s helo=%s "
	    "reason=\"%s\"", s->id, cs_q(s), s->cfg.mx_host, s->ip, mxr_stage_name(stage), me,
	    o.text);
	client_txn_decide_all(s, &o);
	client_session_quit(s);
	return true;
}

/* The name the server gives first in its reply to EHLO (TLS reports carry it). */
static void cs_note_peer_name(struct client_session *s)
{
	const char *t = smtp_reply_text(&s->reply, 0);
	size_t n = t != NULL ? strcspn(t, " \t") : 0;
	if (n >= sizeof(s->peer_helo))
		n = sizeof(s->peer_helo) - 1;
	/* Kept as a name, not escaped: whoever writes it out escapes it. */
	for (size_t i = 0; i < n; i++)
		s->peer_helo[i] = (unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e ? '?' : t[i];
	s->peer_helo[n] = '\0';
}

/* The greeting: a 2xx leads to EHLO, anything else to the next host. */
static void cs_on_greeting(struct client_session *s)
{
	struct client_outcome o;
	int code = s->reply.code;
	client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_CONNECT);
	client_txn_progress_all(s, &o);
	if (code / 100 != 2) {
		/* 4xx or 5xx greeting: remembered, and the next host is tried. */
		o.status = MXR_TEMPFAIL;
		client_session_fail_quit(s, &o);
		return;
	}
	if (cs_loops_back(s, MXR_STAGE_CONNECT))
		return;
	/* Implicit TLS: the handshake result should have come first; check it anyway. */
	if (s->plan.implicit && !s->tls_on && !client_session_tls_done(s))
		return;
	cs_ehlo(s);
}

/* The reply to EHLO: its extensions, or HELO after a 5xx (RFC 5321 4.1.1.1). */
static void cs_on_ehlo(struct client_session *s)
{
	struct client_outcome o;
	int code = s->reply.code;
	if (code / 100 == 2) {
		s->caps.esmtp = true;
		smtp_caps_parse(&s->reply, &s->caps);
		cs_note_peer_name(s);
		client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_HELO);
		o.text[strcspn(o.text, " ")] = '\0';
		client_txn_progress_all(s, &o);
		if (!cs_loops_back(s, MXR_STAGE_HELO))
			cs_after_helo(s);
	} else if (code / 100 == 5) {
		/* RFC 5321 4.1.1.1: fall back to HELO. */
		s->last_cmd = "HELO";
		if (client_session_send(s, false, "HELO %s", s->cfg.helo_name))
			client_session_wait(s, CS_HELO, MXR_STAGE_HELO, s->cfg.to->helo, "reply to HELO");
	} else {
		client_session_outcome_reply(s, &o, MXR_TEMPFAIL, MXR_STAGE_HELO);
		client_session_fail_quit(s, &o);
	}
}

/* The reply to HELO: no extensions. */
static void cs_on_helo(struct client_session *s)
{
	struct client_outcome o;
	int code = s->reply.code;
	if (code / 100 == 2) {
		memset(&s->caps, 0, sizeof(s->caps));
		client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_HELO);
		client_txn_progress_all(s, &o);
		if (!cs_loops_back(s, MXR_STAGE_HELO))
			cs_after_helo(s);
	} else {
		client_session_outcome_reply(s, &o, MXR_TEMPFAIL, MXR_STAGE_HELO);
		client_session_fail_quit(s, &o);
	}
}

/*
 * A reply during AUTH: 334 to the user name or the password of LOGIN asks
 * for the next step; any other reply accepts or refuses the credentials.
 */
static void cs_on_auth(struct client_session *s)
{
	struct client_outcome o;
	int code = s->reply.code;
	if (code == 334 && (s->state == CS_AUTH_USER || s->state == CS_AUTH_PASS)) {
		if (s->state == CS_AUTH_USER)
			cs_auth_login_step(s, s->cfg.auth_user, CS_AUTH_PASS);
		else
			cs_auth_login_step(s, s->cfg.auth_pass != NULL ? s->cfg.auth_pass : "",
			    CS_AUTH);
		return;
	}
	client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_AUTH);
	if (code / 100 == 2) {
		s->auth_done = true;
		client_txn_progress_all(s, &o);
		if (client_session_requiretls_ok(s))
			client_txn_begin(s);
		return;
	}
	/* Credentials refused: deferred, like a soft bounce; the next host may take them. */
	o.status = MXR_TEMPFAIL;
	client_session_fail_quit(s, &o);
}

/* One complete reply: a 421 ends the connection, else the waiting state handles it. */
static void cs_on_reply(struct client_session *s)
{
	struct client_outcome o;
	int code = s->reply.code;
	evtimer_del(s->deadline);
	if (log_enabled(LOG_LVL_DEBUG)) {
		char t[600];
		char pr[1300];
		smtp_reply_format(&s->reply, t, sizeof(t));
		log_msg(LOG_LVL_DEBUG, "session=%s%s state=%s reply=\"%s\"", s->id, cs_q(s),
		    cs_state_names[s->state], log_printable(pr, sizeof(pr), t, strlen(t)));
	}
	s->last_code = code;
	if (code != 421)
		s->probing = false;	/* the reused connection is alive */
	/* RFC 5321 3.8: 421 may come at any time; the connection then ends. */
	if (code == 421 && s->state != CS_DOT && s->state != CS_DATA && s->state != CS_QUIT &&
	    s->state != CS_DRAIN) {
		client_session_outcome_reply(s, &o, MXR_TEMPFAIL, s->stage);
		client_session_fail_close(s, &o);
		return;
	}
	switch (s->state) {
	case CS_CONNECTING:
	case CS_GREETING:
		cs_on_greeting(s);
		return;
	case CS_EHLO:
		cs_on_ehlo(s);
		return;
	case CS_HELO:
		cs_on_helo(s);
		return;
	case CS_STARTTLS:
		client_session_tls_on_reply(s);
		return;
	case CS_AUTH_USER:
	case CS_AUTH_PASS:
	case CS_AUTH:
		cs_on_auth(s);
		return;
	case CS_MAIL:
	case CS_RCPT:
	case CS_DATA:
	case CS_BODY:
	case CS_DOT:
	case CS_DRAIN:
	case CS_RSET:
		client_txn_on_reply(s);
		return;
	case CS_IDLE:
		/* Anything but a 421 (handled above) while idle: not a server to keep. */
		client_session_quit(s);
		return;
	case CS_QUIT:
		client_session_finish(s);
		return;
	case CS_TLS:
	case CS_DONE:
		/* Input during the handshake cannot be a reply; ignore it. */
		return;
	}
}

/* Read every complete reply line buffered. */
static void cs_on_read(struct client_session *s)
{
	char line[SMTP_REPLY_LINE_MAX + 1];
	struct client_outcome o;
	while (s->state != CS_DONE && s->conn != NULL) {
		size_t len = 0;
		int rc = net_conn_readline(s->conn, line, sizeof(line), &len);
		if (rc == 0)
			return;
		if (rc < 0) {
			client_session_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.5.0",
			    "malformed reply from %s: line longer than %d octets", s->cfg.mx_host,
			    SMTP_REPLY_LINE_MAX);
			client_session_fail_close(s, &o);
			return;
		}
		if (s->state == CS_TLS)
			continue;
		enum smtp_reply_result res = smtp_reply_feed(&s->reply, line, len);
		if (res == SMTP_REPLY_MORE)
			continue;
		if (res == SMTP_REPLY_BAD) {
			char pr[200];
			client_session_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.5.0",
			    "malformed reply from %s: %s: \"%s\"", s->cfg.mx_host,
			    s->reply.error != NULL ? s->reply.error : "bad reply",
			    log_printable(pr, sizeof(pr), line, len < 100 ? len : 100));
			client_session_fail_close(s, &o);
			return;
		}
		cs_on_reply(s);
		smtp_reply_reset(&s->reply);
	}
}

/* The connection dropped or failed: say where. */
static void cs_on_conn_lost(struct client_session *s, bool eof)
{
	struct client_outcome o;
	const char *err = s->conn != NULL ? net_conn_error(s->conn) : NULL;
	if (err == NULL || *err == '\0')
		err = eof ? "connection closed" : "connection error";
	switch (s->state) {
	case CS_CONNECTING:
		if (s->plan.implicit && !eof)
			client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.1",
			    "cannot connect to %s with TLS: %s", s->cfg.mx_host, err);
		else
			client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.1",
			    "cannot connect to %s: %s", s->cfg.mx_host, err);
		break;
	case CS_GREETING:
		if (s->implicit) {
			client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, "4.7.5",
			    "TLS required but the handshake with %s failed: %s", s->cfg.mx_host, err);
			break;
		}
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.2",
		    "connection dropped before greeting%s%s", eof ? "" : ": ", eof ? "" : err);
		break;
	case CS_TLS:
		client_session_tls_failed(s, &o, err);
		break;
	case CS_QUIT:
		client_session_finish(s);
		return;
	default:
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.4.2",
		    "connection dropped after %s%s%s", s->last_cmd != NULL ? s->last_cmd : "connect",
		    eof ? "" : ": ", eof ? "" : err);
		break;
	}
	client_session_fail_close(s, &o);
}

/* Connection events. */
static void cs_net_cb(struct net_conn *c, enum net_event ev, void *arg)
{
	(void)c;
	struct client_session *s = arg;
	struct client_outcome o;
	if (s->state == CS_DONE)
		return;
	switch (ev) {
	case NET_EV_CONNECTED:
		if (s->state != CS_CONNECTING)
			return;
		client_observer_connected(s->cfg.observer);
		client_session_outcome_text(s, &o, MXR_PENDING, MXR_STAGE_CONNECT, 0, "",
		    "connected to %s[%s]:%u",
		    s->cfg.mx_host, s->ip, (unsigned)s->port);
		client_txn_progress_all(s, &o);
		s->last_cmd = "connect";
		s->implicit = s->plan.implicit;
		client_session_wait(s, CS_GREETING, MXR_STAGE_CONNECT, s->cfg.to->greeting, "greeting");
		cs_on_read(s);
		return;
	case NET_EV_READ:
		cs_on_read(s);
		return;
	case NET_EV_DRAINED:
		client_txn_on_drained(s);
		return;
	case NET_EV_TLS_OK:
		if (s->implicit && s->state == CS_GREETING) {
			/* Implicit TLS: the handshake ends before the greeting is read. */
			s->implicit = false;
			client_session_tls_done(s);
			return;
		}
		if (s->state == CS_TLS) {
			evtimer_del(s->deadline);
			if (client_session_tls_done(s))
				cs_ehlo(s);
		}
		return;
	case NET_EV_TIMEOUT:
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.4.2",
		    "timeout waiting for %s from %s",
		    s->waiting != NULL ? s->waiting : "input", s->cfg.mx_host);
		client_session_fail_close(s, &o);
		return;
	case NET_EV_EOF:
		cs_on_conn_lost(s, true);
		return;
	case NET_EV_ERROR:
		cs_on_conn_lost(s, false);
		return;
	}
}

/* The current wait ran past its deadline. */
static void cs_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct client_session *s = arg;
	struct client_outcome o;
	if (s->state == CS_DONE)
		return;
	if (s->state == CS_QUIT) {
		client_session_finish(s);
		return;
	}
	if (s->state == CS_IDLE) {
		/* Idle long enough: say goodbye properly. */
		client_session_quit(s);
		return;
	}
	if (s->state == CS_CONNECTING)
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.1",
		    "cannot connect to %s: timed out", s->cfg.mx_host);
	else
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.4.2",
		    "timeout waiting for %s from %s",
		    s->waiting != NULL ? s->waiting : "input", s->cfg.mx_host);
	client_session_fail_close(s, &o);
}

struct client_session *client_session_start(const struct client_session_cfg *cfg,
    struct client_rcpt *const *rcpts, size_t n, const struct client_session_hooks *hooks)
{
	struct client_session *s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->hooks = *hooks;
	if (cfg->plan != NULL)
		s->plan = *cfg->plan;
	else
		s->plan.need = CLIENT_TLS_MAY;
	s->cfg.plan = &s->plan;
	snprintf(s->id, sizeof(s->id), "%08" PRIx32 "%08" PRIx32, arc4random(), arc4random());
	snprintf(s->host, sizeof(s->host), "%s", cfg->mx_host != NULL ? cfg->mx_host : "");
	s->cfg.mx_host = s->host;
	if (cfg->loop_domain != NULL) {
		snprintf(s->loop_domain, sizeof(s->loop_domain), "%s", cfg->loop_domain);
		s->cfg.loop_domain = s->loop_domain;
	}
	if (cfg->addrlen <= sizeof(s->addr))
		memcpy(&s->addr, cfg->addr, cfg->addrlen);
	s->cfg.addr = (const struct sockaddr *)&s->addr;
	client_txn_init(&s->txn, cfg->msg, rcpts, n);
	s->connects = 1;
	smtp_reply_init(&s->reply);
	s->deadline = evtimer_new(cfg->base, cs_deadline_cb, s);
	s->finish_ev = event_new(cfg->base, -1, 0, cs_finish_cb, s);
	s->resume_ev = event_new(cfg->base, -1, 0, cs_resume_cb, s);
	if (s->deadline == NULL || s->finish_ev == NULL || s->resume_ev == NULL)
		fatal("event=client_session_start error=\"cannot create timer\"");
	s->state = CS_CONNECTING;
	s->stage = MXR_STAGE_CONNECT;
	s->last_cmd = "connect";

	char port[16] = "";
	if (getnameinfo(cfg->addr, cfg->addrlen, s->ip, sizeof(s->ip), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(s->ip, sizeof(s->ip), "?");
	s->port = (uint16_t)strtoul(port, NULL, 10);

	struct client_outcome o;
	client_session_outcome_text(s, &o, MXR_PENDING, MXR_STAGE_CONNECT, 0, "",
	    "connecting to %s[%s]:%u",
	    cfg->mx_host, s->ip, (unsigned)s->port);
	client_txn_progress_all(s, &o);
	log_msg(LOG_LVL_INFO, "session=%s%s mx=%s ip=%s port=%u rcpts=%zu event=connect", s->id,
	    cs_q(s), cfg->mx_host, s->ip, (unsigned)s->port, n);

	const char *err = NULL;
	s->conn = net_conn_connect(cfg->base, cfg->addr, cfg->addrlen, cfg->src, cfg->srclen,
	    cfg->to->connect, cs_net_cb, s, &err);
	if (s->conn == NULL) {
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.1",
		    "cannot connect to %s: %s", cfg->mx_host, err != NULL ? err : "failed");
		client_session_record_fail(s, &o);
		client_session_finish(s);
		return s;
	}
	net_conn_set_timeout(s->conn, 0);
	if (s->plan.implicit) {
		if (client_session_tls_implicit(s) != 0) {
			client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, "4.7.5",
			    "TLS required but cannot start TLS with %s", cfg->mx_host);
			client_session_record_fail(s, &o);
			client_session_finish(s);
			return s;
		}
	}
	/* net_conn enforces the connect timeout; this catches a handshake that stalls. */
	unsigned limit = cfg->to->connect + (s->plan.implicit ? cfg->to->tls : 1000);
	client_session_wait(s, CS_CONNECTING, MXR_STAGE_CONNECT, limit, "connection");
	return s;
}

void client_session_free(struct client_session *s)
{
	if (s == NULL)
		return;
	net_conn_free(s->conn);
	if (s->deadline != NULL)
		event_free(s->deadline);
	if (s->finish_ev != NULL)
		event_free(s->finish_ev);
	if (s->resume_ev != NULL)
		event_free(s->resume_ev);
	smtp_reply_reset(&s->reply);
	client_txn_clear(&s->txn);
	free(s);
}