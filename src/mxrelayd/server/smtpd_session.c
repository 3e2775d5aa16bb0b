/*
 * smtpd_session: one SMTP server connection on the event loop.
 *
 * Owns: the session struct and its life (creation on accept, the list of
 * live sessions, deferred free while a queue commit holds it), the state
 * machine and its transition log, the input loop that turns buffered
 * octets into command lines or message text, replies and the error
 * count, timeouts, the command deadline and the minimum data rate, flow
 * control, and the shutdown of sessions.
 * Never: frees a session that a pending callback still holds; never reads
 * input while an answer is pending (pipelined replies stay in order);
 * never logs a command argument that may carry a secret.
 */
#include "smtpd_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "dns/dns_mx.h"
#include "smtpd_auth.h"
#include "smtpd_cmds.h"
#include "smtpd_count.h"
#include "smtpd_data.h"
#include "smtpd_limit.h"
#include "smtpd_txn.h"
#include "net/net_conn.h"
#include "smtp/smtp_header.h"
#include "util/log.h"
#include "util/xalloc.h"

/*
 * The read buffer for one line: commands are capped per verb (512 octets,
 * more for MAIL/RCPT with DSN parameters and for AUTH), checked after the
 * verb is known; anything longer is an overlong line at once.
 */
#define SMTPD_LINE_BUF 4096

static const char *const smtpd_state_names[SMTPD_S_COUNT_] = {
	[SMTPD_S_HANDSHAKE] = "handshake",
	[SMTPD_S_GREETED] = "greeted",
	[SMTPD_S_READY] = "ready",
	[SMTPD_S_MAIL] = "mail",
	[SMTPD_S_RCPT] = "rcpt",
	[SMTPD_S_DATA] = "data",
	[SMTPD_S_BDAT] = "bdat",
	[SMTPD_S_COMMIT] = "commit",
	[SMTPD_S_AUTH] = "auth",
	[SMTPD_S_STARTTLS] = "starttls",
	[SMTPD_S_CLOSED] = "closed",
};

static void smtpd_session_event(struct net_conn *c, enum net_event ev, void *arg);
static void smtpd_session_process(struct smtpd_session *s);
static void smtpd_session_cmd_deadline(evutil_socket_t fd, short what, void *arg);
static void smtpd_session_data_deadline(evutil_socket_t fd, short what, void *arg);

const char *smtpd_session_state_name(enum smtpd_state st)
{
	if ((unsigned)st >= SMTPD_S_COUNT_)
		return "invalid";
	return smtpd_state_names[st];
}

void smtpd_session_set_state(struct smtpd_session *s, enum smtpd_state st)
{
	if (s->state == st)
		return;
	log_msg(LOG_LVL_DEBUG, "session=%s event=state from=%s to=%s", s->id,
	    smtpd_session_state_name(s->state), smtpd_session_state_name(st));
	s->state = st;
}

/* Send the greeting and start reading commands. */
static void smtpd_session_greet(struct smtpd_session *s)
{
	smtpd_session_set_state(s, SMTPD_S_GREETED);
	smtpd_session_set_timeout(s, s->ctx->cfg->cmd_timeout);
	net_conn_printf(s->conn, "220 %s ESMTP mxrelay\r\n", s->ctx->cfg->hostname);
}

struct smtpd_session *smtpd_session_new(struct smtpd_ctx *ctx, const struct cfg_listener *lst,
    int fd, const struct sockaddr *peer, socklen_t peerlen)
{
	struct smtpd_session *s = xcalloc(1, sizeof(*s));
	s->ctx = ctx;
	s->lst = lst;
	s->limit_held = true;
	if ((size_t)peerlen <= sizeof(s->peer))
		memcpy(&s->peer, peer, peerlen);
	uint64_t id = ctx->id_seed ^ (++ctx->id_next * 0x9e3779b97f4a7c15ull);
	snprintf(s->id, sizeof(s->id), "%016llx", (unsigned long long)id);
	bool implicit = lst->mode == CFG_LISTEN_SMTPS;
	s->state = implicit ? SMTPD_S_HANDSHAKE : SMTPD_S_GREETED;
	s->conn = net_conn_accept(ctx->base, fd, implicit ? ctx->tls : NULL,
	    smtpd_session_event, s);
	if (s->conn == NULL) {
		log_msg(LOG_LVL_WARN, "session=%s event=accept-failed listener=\"%s\"", s->id, lst->text);
		smtpd_limit_release(ctx->limit, (const struct sockaddr *)&s->peer);
		free(s);
		return NULL;
	}
	snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", net_conn_peer_ip(s->conn));
	s->cmd_deadline = evtimer_new(ctx->base, smtpd_session_cmd_deadline, s);
	s->data_deadline = evtimer_new(ctx->base, smtpd_session_data_deadline, s);
	if (s->cmd_deadline == NULL || s->data_deadline == NULL)
		fatal("smtpd_session: out of memory creating a timer");
	ctx->nalive++;
	s->next = ctx->sessions;
	if (ctx->sessions != NULL)
		ctx->sessions->prev = s;
	ctx->sessions = s;
	ctx->nsessions++;
	ctx->stats.connections++;
	smtpd_count_connection(s);
	log_msg(LOG_LVL_INFO, "session=%s event=connect client=%s listener=\"%s\"%s", s->id,
	    s->peer_ip, lst->text, implicit ? " tls=implicit" : "");
	if (implicit)
		smtpd_session_set_timeout(s, ctx->cfg->cmd_timeout);
	else
		smtpd_session_greet(s);
	return s;
}

/* Release the session's memory (nothing may hold it any more). */
static void smtpd_session_destroy(struct smtpd_session *s)
{
	s->ctx->nalive--;
	smtpd_txn_free(s->txn);
	smtpd_auth_free(s->auth);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->cmd_deadline != NULL)
		event_free(s->cmd_deadline);
	if (s->data_deadline != NULL)
		event_free(s->data_deadline);
	free(s->auth_user);
	free(s->local);
	free(s);
}

/*
 * The connection is over (closed, closing after a last reply, or dropped):
 * leave the daemon's books at once, and free the memory unless a callback
 * still holds the session.
 */
static void smtpd_session_finish(struct smtpd_session *s, const char *reason)
{
	struct smtpd_ctx *ctx = s->ctx;
	if (s->state == SMTPD_S_CLOSED)
		return;
	log_msg(LOG_LVL_INFO, "session=%s event=disconnect client=%s reason=\"%s\" state=%s messages=%u errors=%u",
	    s->id, s->peer_ip, reason, smtpd_session_state_name(s->state), s->messages, s->errors);
	smtpd_count_abort(s);
	smtpd_session_set_state(s, SMTPD_S_CLOSED);
	s->conn = NULL;
	if (s->dnsq != NULL) {
		dns_query_cancel(s->dnsq);
		s->dnsq = NULL;
	}
	free(s->dns_rcpt);
	s->dns_rcpt = NULL;
	if (s->timer != NULL) {
		event_free(s->timer);
		s->timer = NULL;
	}
	if (s->cmd_deadline != NULL) {
		event_free(s->cmd_deadline);
		s->cmd_deadline = NULL;
	}
	if (s->data_deadline != NULL) {
		event_free(s->data_deadline);
		s->data_deadline = NULL;
	}
	smtpd_auth_detach(s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		ctx->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	ctx->nsessions--;
	if (s->limit_held) {
		smtpd_limit_release(ctx->limit, (const struct sockaddr *)&s->peer);
		s->limit_held = false;
	}
	if (s->holds == 0)
		smtpd_session_destroy(s);
}

void smtpd_session_hold(struct smtpd_session *s)
{
	s->holds++;
}

bool smtpd_session_release(struct smtpd_session *s)
{
	if (s->holds == 0)
		panic("smtpd_session: release without hold");
	s->holds--;
	if (s->state == SMTPD_S_CLOSED) {
		if (s->holds == 0)
			smtpd_session_destroy(s);
		return false;
	}
	return true;
}

void smtpd_session_drop(struct smtpd_session *s, const char *reason)
{
	if (s->state == SMTPD_S_CLOSED)
		return;
	struct net_conn *c = s->conn;
	smtpd_session_finish(s, reason);
	net_conn_free(c);
}

void smtpd_session_close_reply(struct smtpd_session *s, int code, const char *esc,
    const char *text, const char *reason)
{
	if (s->state == SMTPD_S_CLOSED)
		return;
	struct net_conn *c = s->conn;
	if (code >= 400)
		s->ctx->stats.rejected++;
	net_conn_printf(c, "%d %s %s\r\n", code, esc, text);
	smtpd_session_finish(s, reason);
	net_conn_close_after_flush(c);
}

/* Write "code<sep>esc text" with the text formatted from ap. */
static void smtpd_session_vreply(struct smtpd_session *s, int code, char sep,
    const char *esc, const char *fmt, va_list ap)
{
	char text[512];
	if (sep == ' ')
		smtpd_count_reply(s, code, esc);
	if (s->conn == NULL)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	/* The greeting and the EHLO reply carry no enhanced code (RFC 2034 3). */
	if (esc[0] == '\0')
		net_conn_printf(s->conn, "%d%c%s\r\n", code, sep, text);
	else
		net_conn_printf(s->conn, "%d%c%s %s\r\n", code, sep, esc, text);
}

void smtpd_session_reply(struct smtpd_session *s, int code, const char *esc,
    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtpd_session_vreply(s, code, ' ', esc, fmt, ap);
	va_end(ap);
	if (code >= 400) {
		s->ctx->stats.rejected++;
		s->errors++;
	}
	if (log_enabled(LOG_LVL_DEBUG))
		log_msg(LOG_LVL_DEBUG, "session=%s event=reply code=%d dsn=%s", s->id, code, esc);
}

void smtpd_session_refuse(struct smtpd_session *s, int code, const char *esc,
    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtpd_session_vreply(s, code, ' ', esc, fmt, ap);
	va_end(ap);
	s->ctx->stats.rejected++;
	unsigned allowance = s->ctx->cfg->max_recipients != 0 ? s->ctx->cfg->max_recipients : 1000;
	if (s->txn == NULL || ++s->txn->refusals > allowance)
		s->errors++;
	if (log_enabled(LOG_LVL_DEBUG))
		log_msg(LOG_LVL_DEBUG, "session=%s event=reply code=%d dsn=%s", s->id, code, esc);
}

void smtpd_session_reply_r(struct smtpd_session *s, const struct smtpd_reply *r)
{
	smtpd_session_reply(s, r->code, r->esc, "%s", r->text);
}

void smtpd_session_reply_cont(struct smtpd_session *s, int code, const char *esc,
    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtpd_session_vreply(s, code, '-', esc, fmt, ap);
	va_end(ap);
}

void smtpd_session_set_timeout(struct smtpd_session *s, unsigned seconds)
{
	if (s->conn != NULL)
		net_conn_set_timeout(s->conn, seconds * 1000u);
}

void smtpd_session_wait(struct smtpd_session *s, enum smtpd_wait w)
{
	if (s->wait != SMTPD_WAIT_NONE)
		panic("smtpd_session: wait while already waiting");
	s->wait = w;
	if (s->conn != NULL)
		net_conn_pause_read(s->conn, true);
}

void smtpd_session_resume(struct smtpd_session *s)
{
	s->wait = SMTPD_WAIT_NONE;
	if (s->conn == NULL)
		return;
	net_conn_pause_read(s->conn, false);
	/* Input that arrived while paused is buffered already: no read event will announce it. */
	smtpd_session_process(s);
}

bool smtpd_session_is_tls(const struct smtpd_session *s)
{
	return s->conn != NULL && net_conn_is_tls(s->conn) && s->state != SMTPD_S_HANDSHAKE &&
	    s->state != SMTPD_S_STARTTLS;
}

bool smtpd_session_auth_offered(const struct smtpd_session *s)
{
	if (s->ctx->auth == NULL)
		return false;
	return smtpd_session_is_tls(s) || s->lst->auth_plaintext;
}

const char *smtpd_session_protocol(const struct smtpd_session *s)
{
	return smtp_header_protocol(s->esmtp, smtpd_session_is_tls(s), s->auth_user != NULL);
}

/*
 * Discard input up to and including the next LF of an overlong line.
 * Returns true when the end of the line was found (the caller replies).
 */
static bool smtpd_session_skip_line(struct smtpd_session *s)
{
	struct evbuffer *in = net_conn_input(s->conn);
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		s->skip_line = true;
		return false;
	}
	evbuffer_drain(in, (size_t)p.pos + eol_len);
	s->skip_line = false;
	return true;
}

/* An overlong line was skipped: an AUTH response ends the exchange, a command is refused. */
static void smtpd_session_overlong(struct smtpd_session *s)
{
	if (s->state == SMTPD_S_AUTH)
		smtpd_auth_line_too_long(s);
	else
		smtpd_session_reply(s, 500, "5.5.2", "Line too long");
}

/* Read and handle one command or AUTH line; false when no full line is buffered. */
static bool smtpd_session_line(struct smtpd_session *s)
{
	char line[SMTPD_LINE_BUF];
	size_t len = 0;
	if (s->skip_line) {
		if (!smtpd_session_skip_line(s))
			return false;
		event_del(s->cmd_deadline);
		smtpd_session_overlong(s);
		return true;
	}
	int r = net_conn_readline(s->conn, line, sizeof(line), &len);
	if (r == 0)
		return false;
	/* A line is complete: the next one gets its own command_timeout. */
	event_del(s->cmd_deadline);
	if (r < 0) {
		if (!smtpd_session_skip_line(s))
			return false;
		smtpd_session_overlong(s);
		return true;
	}
	if (s->state == SMTPD_S_AUTH)
		smtpd_auth_line(s, line, len);
	else
		smtpd_cmds_dispatch(s, line, len);
	explicit_bzero(line, len);
	return true;
}

/* Microseconds of a clock that never steps back. */
static uint64_t smtpd_session_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Whether the session reads command lines (or AUTH responses) now. */
static bool smtpd_session_reads_commands(const struct smtpd_session *s)
{
	return s->state == SMTPD_S_GREETED || s->state == SMTPD_S_READY ||
	    s->state == SMTPD_S_MAIL || s->state == SMTPD_S_RCPT || s->state == SMTPD_S_AUTH;
}

/* Whether message text is being received: DATA, a BDAT chunk, or between BDAT chunks. */
static bool smtpd_session_in_message(const struct smtpd_session *s)
{
	return s->state == SMTPD_S_DATA || s->state == SMTPD_S_BDAT ||
	    (s->state == SMTPD_S_RCPT && s->txn != NULL && s->txn->bdat);
}

/* Arm the data deadline at now + us. */
static void smtpd_session_data_arm(struct smtpd_session *s, uint64_t us)
{
	struct timeval tv = { .tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u) };
	evtimer_add(s->data_deadline, &tv);
}

/*
 * Start or stop the deadlines for what the session reads now. The read
 * timeouts of net_conn restart at every octet, so a client sending one
 * octet every few seconds would hold the session for ever without these.
 * Command line: complete within command_timeout of its first octet (not
 * counted while the session itself makes the client wait). Message text:
 * due data_timeout after it starts, each octet moving the due time
 * 1/min_data_rate s later, never to more than data_timeout from now (as
 * Postfix's smtpd_min_data_rate).
 */
static void smtpd_session_deadlines(struct smtpd_session *s)
{
	const struct config *cfg = s->ctx->cfg;
	if (s->conn == NULL)
		return;
	bool partial = s->wait == SMTPD_WAIT_NONE && smtpd_session_reads_commands(s) &&
	    (s->skip_line || evbuffer_get_length(net_conn_input(s->conn)) > 0);
	if (!partial)
		event_del(s->cmd_deadline);
	else if (!evtimer_pending(s->cmd_deadline, NULL)) {
		struct timeval tv = { .tv_sec = (time_t)cfg->cmd_timeout, .tv_usec = 0 };
		evtimer_add(s->cmd_deadline, &tv);
	}
	if (cfg->min_data_rate == 0 || !smtpd_session_in_message(s)) {
		event_del(s->data_deadline);
		s->data_due_us = 0;
	} else if (s->data_due_us == 0) {
		uint64_t grace = (uint64_t)cfg->data_timeout * 1000000u;
		s->data_due_us = smtpd_session_now_us() + grace;
		smtpd_session_data_arm(s, grace);
	}
}

/* n octets of message text were taken: the due time moves n/min_data_rate s later. */
static void smtpd_session_data_progress(struct smtpd_session *s, size_t n)
{
	const struct config *cfg = s->ctx->cfg;
	if (s->data_due_us == 0 || n == 0)
		return;
	uint64_t cap = smtpd_session_now_us() + (uint64_t)cfg->data_timeout * 1000000u;
	uint64_t credit = (uint64_t)n * 1000000u / cfg->min_data_rate;
	s->data_due_us = s->data_due_us + credit > cap ? cap : s->data_due_us + credit;
}

/* A command line was not complete within command_timeout of its first octet. */
static void smtpd_session_cmd_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;
	char text[300];
	(void)fd;
	(void)what;
	snprintf(text, sizeof(text), "%s Error: timeout exceeded", s->ctx->cfg->hostname);
	smtpd_session_close_reply(s, 421, "4.4.2", text, "command line not complete within command_timeout");
}

/* The data deadline passed: close when the text is late, else wait for the moved due time. */
static void smtpd_session_data_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;
	char text[300];
	(void)fd;
	(void)what;
	if (s->data_due_us == 0 || !smtpd_session_in_message(s))
		return;
	uint64_t now = smtpd_session_now_us();
	if (now < s->data_due_us) {
		smtpd_session_data_arm(s, s->data_due_us - now);
		return;
	}
	log_msg(LOG_LVL_INFO, "session=%s event=slow-data client=%s min_data_rate=%u", s->id,
	    s->peer_ip, s->ctx->cfg->min_data_rate);
	snprintf(text, sizeof(text), "%s Error: timeout exceeded (message data too slow)",
	    s->ctx->cfg->hostname);
	smtpd_session_close_reply(s, 421, "4.4.2", text, "message data slower than min_data_rate");
}

/*
 * Work through buffered input: command lines, AUTH responses or message
 * text, until input runs out, an answer must be waited for, or the
 * session ends.
 */
static void smtpd_session_process_input(struct smtpd_session *s)
{
	const struct config *cfg = s->ctx->cfg;
	while (s->conn != NULL && s->wait == SMTPD_WAIT_NONE) {
		switch (s->state) {
		case SMTPD_S_DATA:
		case SMTPD_S_BDAT: {
			size_t before = evbuffer_get_length(net_conn_input(s->conn));
			bool more = smtpd_data_feed(s);
			if (s->conn != NULL)
				smtpd_session_data_progress(s,
				    before - evbuffer_get_length(net_conn_input(s->conn)));
			if (!more)
				return;
			continue;
		}
		case SMTPD_S_GREETED:
		case SMTPD_S_READY:
		case SMTPD_S_MAIL:
		case SMTPD_S_RCPT:
		case SMTPD_S_AUTH:
			break;
		default:
			return;
		}
		if (net_conn_pending(s->conn) > SMTPD_OUTPUT_MAX) {
			/* A client that pipelines without reading: let it catch up. */
			smtpd_session_wait(s, SMTPD_WAIT_OUTPUT);
			net_conn_set_lowat(s->conn, SMTPD_OUTPUT_MAX / 2);
			return;
		}
		if (!smtpd_session_line(s))
			return;
		if (s->conn != NULL && cfg->max_errors != 0 && s->errors >= cfg->max_errors) {
			char text[300];
			snprintf(text, sizeof(text), "%s Too many errors", cfg->hostname);
			smtpd_session_close_reply(s, 421, "4.7.0", text, "too many errors");
		}
	}
}

/* Process input with the session held, so a handler may end it safely. */
static void smtpd_session_process(struct smtpd_session *s)
{
	smtpd_session_hold(s);
	smtpd_session_process_input(s);
	if (s->state != SMTPD_S_CLOSED)
		smtpd_session_deadlines(s);
	(void)smtpd_session_release(s);
}

/* The implicit TLS or STARTTLS handshake finished. */
static void smtpd_session_tls_ok(struct smtpd_session *s)
{
	log_msg(LOG_LVL_INFO, "session=%s event=tls version=%s cipher=%s", s->id,
	    net_conn_tls_version(s->conn), net_conn_tls_cipher(s->conn));
	smtpd_count_tls(s);
	if (s->state == SMTPD_S_HANDSHAKE) {
		smtpd_session_greet(s);
		return;
	}
	/* RFC 3207 4.2: the client starts again with EHLO; nothing before the handshake counts. */
	smtpd_session_set_state(s, SMTPD_S_GREETED);
	smtpd_session_process(s);
}

/* Events of the connection. */
static void smtpd_session_event(struct net_conn *c, enum net_event ev, void *arg)
{
	struct smtpd_session *s = arg;
	char text[300];
	(void)c;
	switch (ev) {
	case NET_EV_READ:
		if (s->wait == SMTPD_WAIT_NONE)
			smtpd_session_process(s);
		break;
	case NET_EV_DRAINED:
		if (s->wait == SMTPD_WAIT_OUTPUT && net_conn_pending(s->conn) <= SMTPD_OUTPUT_MAX / 2) {
			net_conn_set_lowat(s->conn, 0);
			smtpd_session_resume(s);
		}
		break;
	case NET_EV_TLS_OK:
		smtpd_session_tls_ok(s);
		break;
	case NET_EV_TIMEOUT:
		snprintf(text, sizeof(text), "%s Error: timeout exceeded", s->ctx->cfg->hostname);
		smtpd_session_close_reply(s, 421, "4.4.2", text, "timeout");
		break;
	case NET_EV_EOF:
		smtpd_session_drop(s, "client closed");
		break;
	case NET_EV_ERROR:
		snprintf(text, sizeof(text), "%s", net_conn_error(c));
		smtpd_session_drop(s, text);
		break;
	case NET_EV_CONNECTED:
		break;
	}
}

/* Whether a stopping daemon lets s finish what it is doing. */
static bool smtpd_session_busy(const struct smtpd_session *s)
{
	return s->state == SMTPD_S_DATA || s->state == SMTPD_S_BDAT ||
	    s->state == SMTPD_S_COMMIT || s->wait == SMTPD_WAIT_COMMIT;
}

void smtpd_session_stop_all(struct smtpd_ctx *ctx)
{
	char text[300];
	snprintf(text, sizeof(text), "%s Service shutting down, closing transmission channel",
	    ctx->cfg->hostname);
	struct smtpd_session *s = ctx->sessions;
	while (s != NULL) {
		struct smtpd_session *next = s->next;
		if (smtpd_session_busy(s))
			s->stop_after = true;
		else
			smtpd_session_close_reply(s, 421, "4.3.2", text, "shutdown");
		s = next;
	}
}

void smtpd_session_drop_all(struct smtpd_ctx *ctx)
{
	while (ctx->sessions != NULL)
		smtpd_session_drop(ctx->sessions, "shutdown grace period over");
}
