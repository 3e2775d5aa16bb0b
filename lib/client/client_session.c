/*
 * client_session: the outbound SMTP session for one connection.
 *
 * Owns: the state machine from connect to QUIT, the per-stage deadline
 * timer, the EHLO capabilities, the transaction in flight (its batch of
 * recipients and their per-session state) and the message streaming
 * buffers. Recipients beyond the server's limit (452 4.5.3) go into the
 * next transaction on the same connection.
 * Never: logs credentials or AUTH payloads, sends credentials in the clear
 * unless the TLS policy is "none", sends a message without an accepted
 * recipient, or frees itself from inside a callback.
 */
#include "client/client_session.h"
#include "client/client_esmtp.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "net/net_conn.h"
#include "smtp/smtp_caps.h"
#include "smtp/smtp_cmd.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_reply.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Message streaming: read this much per refill, keep at most HIWAT queued. */
#define CS_CHUNK (64u * 1024u)
#define CS_BODY_HIWAT (256u * 1024u)
#define CS_BODY_LOWAT (64u * 1024u)
/* A command line we send, CRLF included (RFC 5321 4.5.3.1.4 plus extensions). */
#define CS_CMD_MAX 2048
/* Longest user name or password accepted for AUTH. */
#define CS_CRED_MAX 512

enum cs_state {
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
	CS_QUIT,
	CS_DONE,
};

static const char *const cs_state_names[] = {
	"connecting", "greeting", "ehlo", "helo", "starttls", "tls", "auth-user",
	"auth-pass", "auth", "mail", "rcpt", "data", "body", "dot", "drain", "rset",
	"quit", "done",
};

/* Where a recipient stands in this session. */
enum cs_rcpt_state {
	CS_R_WAIT,	/* not yet in a transaction */
	CS_R_BATCH,	/* in the transaction in flight, RCPT not yet answered */
	CS_R_ACCEPTED,	/* RCPT answered 2xx */
	CS_R_OVERFLOW,	/* 452 too many recipients: next transaction */
	CS_R_DONE,	/* decided */
};

/* What to do once the replies being drained are in. */
enum cs_after_drain { CS_AFTER_QUIT, CS_AFTER_NOTHING_ACCEPTED };

struct client_session {
	struct client_session_cfg cfg;	/* pointers borrowed from the domain */
	struct client_session_hooks hooks;
	char id[17];
	char ip[64];
	uint16_t port;
	struct net_conn *conn;		/* owned */
	struct event *deadline;		/* owned: the current wait's limit */
	struct event *finish_ev;	/* owned: reports done from the loop */
	enum cs_state state;
	const char *waiting;		/* what the deadline waits for, for texts */
	const char *last_cmd;		/* the last thing sent, for texts */
	enum mxr_stage stage;		/* stage for failures of the current wait */
	struct smtp_reply reply;	/* owned lines */
	struct smtp_caps caps;
	bool tls_on;
	bool tls_tried;
	bool implicit;			/* implicit TLS handshake still running */
	bool auth_done;
	bool need_rset;			/* a MAIL was sent and its transaction not completed */

	struct client_rcpt **r;		/* owned array; the recipients are borrowed */
	unsigned char *rst;		/* owned: enum cs_rcpt_state per recipient */
	size_t n;

	size_t *batch;			/* owned: indices into r of the transaction */
	size_t nbatch;
	size_t rcpt_replied;		/* RCPT replies read */
	size_t naccepted;
	bool pipelined;			/* MAIL, RCPTs and DATA went in one write */
	bool dsn;			/* DSN parameters went with this transaction */
	bool have_overflow;
	struct client_outcome overflow;	/* the 452 that split the transaction */
	size_t drain;
	enum cs_after_drain after_drain;

	char *inbuf;			/* owned, CS_CHUNK, while streaming */
	char *outbuf;			/* owned, encoder bound, while streaming */
	uint64_t off;
	struct smtp_data_enc enc;
	bool dot_sent;

	bool failed;
	struct client_outcome fail;	/* why the session could not go on */
	enum client_session_end end;
};

static void cs_on_reply(struct client_session *s);
static void cs_after_helo(struct client_session *s);
static void cs_txn_begin(struct client_session *s);

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

/* Move to a new state, logging the transition. */
static void cs_set_state(struct client_session *s, enum cs_state st)
{
	if (s->state != st)
		log_msg(LOG_LVL_DEBUG, "session=%s mx=%s ip=%s state=%s next=%s", s->id,
		    s->cfg.mx_host, s->ip, cs_state_names[s->state], cs_state_names[st]);
	s->state = st;
}

/* Enter a waiting state with a deadline of ms milliseconds. */
static void cs_wait(struct client_session *s, enum cs_state st, enum mxr_stage stage,
    unsigned ms, const char *what)
{
	cs_set_state(s, st);
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
	o->dsn_passed = s->dsn;
}

/* An outcome from a text made by the engine. */
static void cs_outcome_text(const struct client_session *s, struct client_outcome *o,
    enum mxr_status st, enum mxr_stage stage, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static void cs_outcome_text(const struct client_session *s, struct client_outcome *o,
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

/* An outcome from the reply just read: its code, enhanced code and text. */
static void cs_outcome_reply(const struct client_session *s, struct client_outcome *o,
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

/* A progress step for every recipient of the session still undecided. */
static void cs_progress_all(struct client_session *s, const struct client_outcome *o)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rst[i] != CS_R_DONE && !s->r[i]->decided)
			s->hooks.progress(s->hooks.arg, s->r[i], o);
}

/* Give recipient i its final status. */
static void cs_decide(struct client_session *s, size_t i, const struct client_outcome *o)
{
	if (s->rst[i] == CS_R_DONE || s->r[i]->decided)
		return;
	s->rst[i] = CS_R_DONE;
	s->hooks.decide(s->hooks.arg, s->r[i], o);
}

/* Decide every recipient in state st. */
static void cs_decide_state(struct client_session *s, enum cs_rcpt_state st,
    const struct client_outcome *o)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rst[i] == st)
			cs_decide(s, i, o);
}

/* The status a reply code gives a recipient. */
static enum mxr_status cs_status_of(int code)
{
	if (code >= 200 && code < 300)
		return MXR_DELIVERED;
	return code >= 500 ? MXR_PERMFAIL : MXR_TEMPFAIL;
}

/* Report the end from the loop, never from inside the caller's call. */
static void cs_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct client_session *s = arg;
	s->hooks.done(s->hooks.arg, s, s->end, &s->fail);
}

/* The session is over: close the connection and report. */
static void cs_finish(struct client_session *s)
{
	if (s->state == CS_DONE)
		return;
	cs_set_state(s, CS_DONE);
	evtimer_del(s->deadline);
	net_conn_free(s->conn);
	s->conn = NULL;
	free(s->inbuf);
	s->inbuf = NULL;
	free(s->outbuf);
	s->outbuf = NULL;
	s->end = CLIENT_SESSION_FINISHED;
	for (size_t i = 0; i < s->n; i++)
		if (s->rst[i] != CS_R_DONE && !s->r[i]->decided)
			s->end = CLIENT_SESSION_MOVE_ON;
	if (s->end == CLIENT_SESSION_MOVE_ON && !s->failed)
		cs_outcome_text(s, &s->fail, MXR_TEMPFAIL, s->stage, 0, "4.4.2",
		    "session with %s ended early", s->cfg.mx_host);
	log_msg(LOG_LVL_INFO, "session=%s mx=%s ip=%s end=%s tls=%s", s->id, s->cfg.mx_host,
	    s->ip, s->end == CLIENT_SESSION_FINISHED ? "finished" : "move-on",
	    s->tls_on ? "yes" : "no");
	event_active(s->finish_ev, 0, 0);
}

/* Remember why the session cannot go on (the first reason wins). */
static void cs_record_fail(struct client_session *s, const struct client_outcome *o)
{
	if (s->failed)
		return;
	s->failed = true;
	s->fail = *o;
	s->fail.status = MXR_TEMPFAIL;
	char pr[600];
	log_msg(LOG_LVL_INFO, "session=%s mx=%s ip=%s stage=%s code=%d esc=%s reason=\"%s\"",
	    s->id, s->cfg.mx_host, s->ip, mxr_stage_name(o->stage), o->code, o->esc,
	    log_printable(pr, sizeof(pr), o->text, strlen(o->text)));
}

/*
 * The connection is gone or can no longer be trusted: recipients whose
 * message was already sent are deferred (never sent twice), the rest move on.
 */
static void cs_fail_close(struct client_session *s, const struct client_outcome *o)
{
	if (s->dot_sent)
		cs_decide_state(s, CS_R_ACCEPTED, o);
	cs_record_fail(s, o);
	cs_finish(s);
}

/* Send one command line (CRLF added). secret keeps it out of the debug log. */
static bool cs_send(struct client_session *s, bool secret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool cs_send(struct client_session *s, bool secret, const char *fmt, ...)
{
	char line[CS_CMD_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		struct client_outcome o;
		cs_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.3.0",
		    "command to %s would exceed %d octets", s->cfg.mx_host, CS_CMD_MAX);
		cs_fail_close(s, &o);
		return false;
	}
	if (log_enabled(LOG_LVL_DEBUG)) {
		char pr[CS_CMD_MAX * 2];
		log_msg(LOG_LVL_DEBUG, "session=%s send=\"%s\"", s->id,
		    secret ? "(credentials)" : log_printable(pr, sizeof(pr), line, (size_t)n));
	}
	line[n++] = '\r';
	line[n++] = '\n';
	net_conn_write(s->conn, line, (size_t)n);
	return true;
}

/* Say goodbye and wait briefly for the 221; the session then ends. */
static void cs_quit(struct client_session *s)
{
	if (s->conn == NULL || s->state == CS_QUIT || s->state == CS_DONE) {
		cs_finish(s);
		return;
	}
	s->last_cmd = "QUIT";
	if (!cs_send(s, false, "QUIT"))
		return;
	unsigned ms = s->cfg.to->mail < 10000 ? s->cfg.to->mail : 10000;
	cs_wait(s, CS_QUIT, s->stage, ms, "reply to QUIT");
}

/* The server refused to go on (a reply, not a broken connection): quit and move on. */
static void cs_fail_quit(struct client_session *s, const struct client_outcome *o)
{
	cs_record_fail(s, o);
	if (s->reply.code == 421) {
		/* RFC 5321 3.8: the server is closing; nothing more will be read. */
		cs_fail_close(s, o);
		return;
	}
	cs_quit(s);
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
	if (!s->tls_on && s->cfg.tls != MXR_TLS_NONE) {
		cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_AUTH, 0, "4.7.0",
		    "refusing to send credentials to %s without TLS", s->cfg.mx_host);
		cs_fail_quit(s, &o);
		return;
	}
	size_t ul = strlen(s->cfg.auth_user);
	size_t pl = s->cfg.auth_pass != NULL ? strlen(s->cfg.auth_pass) : 0;
	if (ul > CS_CRED_MAX || pl > CS_CRED_MAX) {
		cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_AUTH, 0, "4.7.0",
		    "credentials longer than %d octets", CS_CRED_MAX);
		cs_fail_quit(s, &o);
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
		bool ok = cs_send(s, true, "AUTH PLAIN %s", b64);
		explicit_bzero(raw, sizeof(raw));
		explicit_bzero(b64, sizeof(b64));
		if (ok)
			cs_wait(s, CS_AUTH, MXR_STAGE_AUTH, s->cfg.to->mail, "reply to AUTH");
		return;
	}
	if (s->caps.auth & SMTP_AUTH_LOGIN) {
		if (cs_send(s, false, "AUTH LOGIN"))
			cs_wait(s, CS_AUTH_USER, MXR_STAGE_AUTH, s->cfg.to->mail, "reply to AUTH");
		return;
	}
	log_msg(LOG_LVL_WARN, "session=%s mx=%s ip=%s auth=skipped reason=\"no PLAIN or LOGIN offered\"",
	    s->id, s->cfg.mx_host, s->ip);
	s->auth_done = true;
	cs_txn_begin(s);
}

/* The next step of AUTH LOGIN: a 334 prompt gets the user name or password. */
static void cs_auth_login_step(struct client_session *s, const char *secret, enum cs_state next)
{
	char b64[(CS_CRED_MAX + 2) / 3 * 4 + 1];
	cs_b64(secret, strlen(secret), b64);
	bool ok = cs_send(s, true, "%s", b64);
	explicit_bzero(b64, sizeof(b64));
	if (ok)
		cs_wait(s, next, MXR_STAGE_AUTH, s->cfg.to->mail, "reply to AUTH");
}

/* Send RCPT TO for batch member k. */
static bool cs_send_rcpt(struct client_session *s, size_t k)
{
	const struct client_rcpt *r = s->r[s->batch[k]];
	char params[1200];
	client_esmtp_rcpt_params(&s->caps, r, params, sizeof(params));
	s->last_cmd = "RCPT";
	return cs_send(s, false, "RCPT TO:<%s>%s", r->address, params);
}

/* Decide every undecided recipient: used for problems of the message itself. */
static void cs_decide_all(struct client_session *s, const struct client_outcome *o)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rst[i] != CS_R_DONE)
			cs_decide(s, i, o);
}

/* Begin the next transaction with the recipients not yet tried, or QUIT. */
static void cs_txn_begin(struct client_session *s)
{
	const struct client_msg *m = s->cfg.msg;
	struct client_outcome o;
	size_t waiting = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->rst[i] == CS_R_OVERFLOW || s->rst[i] == CS_R_BATCH || s->rst[i] == CS_R_ACCEPTED)
			s->rst[i] = CS_R_WAIT;
		if (s->rst[i] == CS_R_WAIT && s->r[i]->decided)
			s->rst[i] = CS_R_DONE;
		if (s->rst[i] == CS_R_WAIT)
			waiting++;
	}
	if (waiting == 0) {
		cs_quit(s);
		return;
	}
	if (m->smtputf8 && !s->caps.smtputf8) {
		cs_outcome_text(s, &o, MXR_PERMFAIL, MXR_STAGE_MAIL, 0, "5.6.7",
		    "the message needs SMTPUTF8 but %s does not offer it", s->cfg.mx_host);
		cs_decide_all(s, &o);
		cs_quit(s);
		return;
	}
	if (s->caps.size && s->caps.size_max != 0 && m->src.size > s->caps.size_max) {
		cs_outcome_text(s, &o, MXR_PERMFAIL, MXR_STAGE_MAIL, 0, "5.3.4",
		    "message of %" PRIu64 " octets exceeds the %" PRIu64 " octets %s accepts",
		    m->src.size, s->caps.size_max, s->cfg.mx_host);
		cs_decide_all(s, &o);
		cs_quit(s);
		return;
	}
	if (s->need_rset) {
		s->last_cmd = "RSET";
		if (cs_send(s, false, "RSET"))
			cs_wait(s, CS_RSET, MXR_STAGE_MAIL, s->cfg.to->mail, "reply to RSET");
		return;
	}
	if (m->body_8bit && !s->caps.eightbitmime)
		log_msg(LOG_LVL_INFO, "session=%s mx=%s ip=%s body=8bit note=\"8BITMIME not offered; sent unconverted\"",
		    s->id, s->cfg.mx_host, s->ip);

	s->nbatch = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->rst[i] == CS_R_WAIT) {
			s->rst[i] = CS_R_BATCH;
			s->batch[s->nbatch++] = i;
		}
	}
	s->rcpt_replied = 0;
	s->naccepted = 0;
	s->have_overflow = false;
	s->dot_sent = false;
	s->dsn = s->caps.dsn;
	s->pipelined = s->caps.pipelining;

	char params[1024];
	client_esmtp_mail_params(&s->caps, s->cfg.msg, params, sizeof(params));
	s->last_cmd = "MAIL";
	s->need_rset = true;
	if (!cs_send(s, false, "MAIL FROM:<%s>%s", m->sender, params))
		return;
	if (s->pipelined) {
		/* RFC 2920: MAIL, every RCPT and DATA in one write; replies read in order. */
		for (size_t k = 0; k < s->nbatch; k++)
			if (!cs_send_rcpt(s, k))
				return;
		s->last_cmd = "MAIL";
		if (!cs_send(s, false, "DATA"))
			return;
	}
	cs_wait(s, CS_MAIL, MXR_STAGE_MAIL, s->cfg.to->mail, "reply to MAIL");
}

/* No recipient of the transaction was accepted: the 452-split ones are deferred too. */
static void cs_txn_nothing_accepted(struct client_session *s)
{
	if (s->have_overflow)
		cs_decide_state(s, CS_R_OVERFLOW, &s->overflow);
	cs_txn_begin(s);
}

/* Swallow n pipelined replies, then do what next says. */
static void cs_drain(struct client_session *s, size_t n, enum cs_after_drain next)
{
	s->drain = n;
	s->after_drain = next;
	if (n == 0) {
		if (next == CS_AFTER_QUIT)
			cs_quit(s);
		else
			cs_txn_nothing_accepted(s);
		return;
	}
	cs_wait(s, CS_DRAIN, s->stage, s->cfg.to->rcpt, "pipelined replies");
}

/* Fill the output from the message until the buffer is full or the message ends. */
static void cs_body_pump(struct client_session *s)
{
	const struct client_msg *m = s->cfg.msg;
	while (s->state == CS_BODY && net_conn_pending(s->conn) < CS_BODY_HIWAT) {
		ssize_t got = 0;
		if (s->off < m->src.size) {
			/* Never past src.size: sources may rely on it. */
			uint64_t left = m->src.size - s->off;
			size_t want = left < CS_CHUNK ? (size_t)left : CS_CHUNK;
			got = m->src.read_at(m->src.arg, s->off, s->inbuf, want);
		}
		if (got < 0) {
			struct client_outcome o;
			cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_DATA, 0, "4.3.0",
			    "error reading the message at offset %" PRIu64, s->off);
			/* Closing without the final dot makes the server drop the message. */
			cs_decide_all(s, &o);
			cs_record_fail(s, &o);
			cs_finish(s);
			return;
		}
		size_t outn = 0;
		if (got > 0) {
			outn = smtp_data_enc_feed(&s->enc, s->inbuf, (size_t)got, s->outbuf);
			s->off += (uint64_t)got;
		}
		bool last = got == 0 || s->off >= m->src.size;
		if (last)
			outn += smtp_data_enc_finish(&s->enc, s->outbuf + outn);
		/* The final dot goes out in the same write as the last body bytes. */
		net_conn_write(s->conn, s->outbuf, outn);
		if (last) {
			s->dot_sent = true;
			s->last_cmd = "end of data";
			net_conn_set_lowat(s->conn, 0);
			cs_wait(s, CS_DOT, MXR_STAGE_DATA, s->cfg.to->data_term,
			    "reply to end of data");
			return;
		}
	}
	if (s->state == CS_BODY)
		cs_wait(s, CS_BODY, MXR_STAGE_DATA, s->cfg.to->data_block, "message data to drain");
}

/* 354: stream the message. */
static void cs_body_start(struct client_session *s)
{
	s->inbuf = xmalloc(CS_CHUNK);
	s->outbuf = xmalloc(smtp_data_enc_bound(CS_CHUNK) + 8);
	s->off = 0;
	smtp_data_enc_init(&s->enc);
	net_conn_set_lowat(s->conn, CS_BODY_LOWAT);
	cs_set_state(s, CS_BODY);
	cs_body_pump(s);
}

/* A reply to RCPT for batch member s->rcpt_replied. */
static void cs_on_rcpt_reply(struct client_session *s)
{
	size_t k = s->rcpt_replied++;
	size_t i = s->batch[k];
	int code = s->reply.code;
	struct client_outcome o;
	if (code >= 200 && code < 300) {
		s->rst[i] = CS_R_ACCEPTED;
		s->naccepted++;
		cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_RCPT);
		s->hooks.progress(s->hooks.arg, s->r[i], &o);
	} else if (code == 452 && (s->reply.esc[0] == '\0' || strcmp(s->reply.esc, "4.5.3") == 0)) {
		/* Too many recipients (RFC 5321 4.5.3.1.10): the next transaction takes it. */
		s->rst[i] = CS_R_OVERFLOW;
		cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_RCPT);
		s->hooks.progress(s->hooks.arg, s->r[i], &o);
		if (!s->have_overflow) {
			s->have_overflow = true;
			cs_outcome_reply(s, &s->overflow, MXR_TEMPFAIL, MXR_STAGE_RCPT);
		}
	} else {
		cs_outcome_reply(s, &o, cs_status_of(code), MXR_STAGE_RCPT);
		cs_decide(s, i, &o);
	}

	if (s->pipelined) {
		if (s->rcpt_replied < s->nbatch)
			cs_wait(s, CS_RCPT, MXR_STAGE_RCPT, s->cfg.to->rcpt, "reply to RCPT");
		else
			cs_wait(s, CS_DATA, MXR_STAGE_DATA, s->cfg.to->data_init, "reply to DATA");
		return;
	}
	if (s->have_overflow) {
		for (size_t j = s->rcpt_replied; j < s->nbatch; j++)
			s->rst[s->batch[j]] = CS_R_OVERFLOW;
		s->rcpt_replied = s->nbatch;
	}
	if (s->rcpt_replied < s->nbatch) {
		if (cs_send_rcpt(s, s->rcpt_replied))
			cs_wait(s, CS_RCPT, MXR_STAGE_RCPT, s->cfg.to->rcpt, "reply to RCPT");
		return;
	}
	if (s->naccepted == 0) {
		cs_txn_nothing_accepted(s);
		return;
	}
	s->last_cmd = "DATA";
	if (cs_send(s, false, "DATA"))
		cs_wait(s, CS_DATA, MXR_STAGE_DATA, s->cfg.to->data_init, "reply to DATA");
}

/* A reply to DATA: 354 starts the message; anything else decides the accepted. */
static void cs_on_data_reply(struct client_session *s)
{
	struct client_outcome o;
	if (s->reply.code == 354) {
		if (s->naccepted == 0) {
			/* RFC 2920 3.1: a 354 with no recipient gets an empty message, ignored. */
			net_conn_write(s->conn, ".\r\n", 3);
			cs_drain(s, 1, CS_AFTER_NOTHING_ACCEPTED);
			return;
		}
		cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_DATA);
		for (size_t i = 0; i < s->n; i++)
			if (s->rst[i] == CS_R_ACCEPTED)
				s->hooks.progress(s->hooks.arg, s->r[i], &o);
		cs_body_start(s);
		return;
	}
	if (s->naccepted == 0) {
		cs_txn_nothing_accepted(s);
		return;
	}
	cs_outcome_reply(s, &o, cs_status_of(s->reply.code), MXR_STAGE_DATA);
	if (o.status == MXR_DELIVERED)
		o.status = MXR_TEMPFAIL;	/* a 2xx instead of 354 is a broken server */
	cs_decide_state(s, CS_R_ACCEPTED, &o);
	if (s->reply.code == 421) {
		cs_fail_quit(s, &o);
		return;
	}
	cs_txn_begin(s);
}

/* The reply after the final dot decides every accepted recipient. */
static void cs_on_dot_reply(struct client_session *s)
{
	struct client_outcome o;
	cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_DATA);
	for (size_t i = 0; i < s->n; i++)
		if (s->rst[i] == CS_R_ACCEPTED)
			s->hooks.progress(s->hooks.arg, s->r[i], &o);
	o.status = cs_status_of(s->reply.code);
	cs_decide_state(s, CS_R_ACCEPTED, &o);
	s->dot_sent = false;
	s->need_rset = false;
	free(s->inbuf);
	s->inbuf = NULL;
	free(s->outbuf);
	s->outbuf = NULL;
	if (s->reply.code == 421) {
		cs_fail_quit(s, &o);
		return;
	}
	cs_txn_begin(s);
}

/* A 2xx to EHLO/HELO, or a refused STARTTLS under opportunistic policy: go on. */
static void cs_after_helo(struct client_session *s)
{
	struct client_outcome o;
	bool want_tls = s->cfg.tls == MXR_TLS_OPPORTUNISTIC || s->cfg.tls == MXR_TLS_REQUIRED;
	if (want_tls && !s->tls_on && !s->tls_tried) {
		if (s->caps.starttls) {
			s->tls_tried = true;
			s->last_cmd = "STARTTLS";
			if (cs_send(s, false, "STARTTLS"))
				cs_wait(s, CS_STARTTLS, MXR_STAGE_TLS, s->cfg.to->tls,
				    "reply to STARTTLS");
			return;
		}
		if (s->cfg.tls == MXR_TLS_REQUIRED) {
			cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, "4.7.5",
			    "TLS required but %s does not offer STARTTLS", s->cfg.mx_host);
			cs_fail_quit(s, &o);
			return;
		}
	}
	if (s->cfg.auth_user != NULL && !s->auth_done) {
		cs_auth(s);
		return;
	}
	cs_txn_begin(s);
}

/* Send EHLO (again after TLS). */
static void cs_ehlo(struct client_session *s)
{
	memset(&s->caps, 0, sizeof(s->caps));
	s->last_cmd = "EHLO";
	if (cs_send(s, false, "EHLO %s", s->cfg.helo_name))
		cs_wait(s, CS_EHLO, MXR_STAGE_HELO, s->cfg.to->helo, "reply to EHLO");
}

/* Whether the verified-TLS rule holds for this connection. */
static bool cs_tls_ok(struct client_session *s)
{
	if (s->cfg.tls != MXR_TLS_REQUIRED && s->cfg.tls != MXR_TLS_IMPLICIT)
		return true;
	if (net_conn_is_tls(s->conn) && net_conn_tls_verified(s->conn))
		return true;
	struct client_outcome o;
	cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, "4.7.5",
	    "TLS required but the certificate of %s did not verify", s->cfg.mx_host);
	cs_record_fail(s, &o);
	cs_quit(s);
	return false;
}

/* Report the TLS outcome to every recipient. */
static void cs_tls_progress(struct client_session *s)
{
	struct client_outcome o;
	const char *v = net_conn_tls_version(s->conn);
	const char *c = net_conn_tls_cipher(s->conn);
	cs_outcome_text(s, &o, MXR_PENDING, MXR_STAGE_TLS, 0, "", "%s %s %s",
	    v != NULL ? v : "TLS", c != NULL ? c : "",
	    net_conn_tls_verified(s->conn) ? "verified" : "unverified");
	cs_progress_all(s, &o);
	log_msg(LOG_LVL_INFO, "session=%s mx=%s ip=%s tls=%s cipher=%s verified=%s", s->id,
	    s->cfg.mx_host, s->ip, v != NULL ? v : "-", c != NULL ? c : "-",
	    net_conn_tls_verified(s->conn) ? "yes" : "no");
}

/* One complete reply, in the state that waited for it. */
static void cs_on_reply(struct client_session *s)
{
	struct client_outcome o;
	int code = s->reply.code;
	evtimer_del(s->deadline);
	if (log_enabled(LOG_LVL_DEBUG)) {
		char t[600];
		char pr[1300];
		smtp_reply_format(&s->reply, t, sizeof(t));
		log_msg(LOG_LVL_DEBUG, "session=%s state=%s reply=\"%s\"", s->id,
		    cs_state_names[s->state], log_printable(pr, sizeof(pr), t, strlen(t)));
	}
	/* RFC 5321 3.8: 421 may come at any time; the connection then ends. */
	if (code == 421 && s->state != CS_DOT && s->state != CS_DATA && s->state != CS_QUIT &&
	    s->state != CS_DRAIN) {
		cs_outcome_reply(s, &o, MXR_TEMPFAIL, s->stage);
		cs_fail_close(s, &o);
		return;
	}
	switch (s->state) {
	case CS_CONNECTING:
	case CS_GREETING:
		cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_CONNECT);
		cs_progress_all(s, &o);
		if (code / 100 != 2) {
			/* 4xx or 5xx greeting: remembered, and the next host is tried. */
			o.status = MXR_TEMPFAIL;
			cs_fail_quit(s, &o);
			return;
		}
		if (s->cfg.tls == MXR_TLS_IMPLICIT && !s->tls_on) {
			/* The handshake result should have come first; check it anyway. */
			if (!cs_tls_ok(s))
				return;
			s->tls_on = true;
			cs_tls_progress(s);
		}
		cs_ehlo(s);
		return;
	case CS_EHLO:
		if (code / 100 == 2) {
			s->caps.esmtp = true;
			smtp_caps_parse(&s->reply, &s->caps);
			cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_HELO);
			o.text[strcspn(o.text, " ")] = '\0';
			cs_progress_all(s, &o);
			cs_after_helo(s);
		} else if (code / 100 == 5) {
			/* RFC 5321 4.1.1.1: fall back to HELO. */
			s->last_cmd = "HELO";
			if (cs_send(s, false, "HELO %s", s->cfg.helo_name))
				cs_wait(s, CS_HELO, MXR_STAGE_HELO, s->cfg.to->helo, "reply to HELO");
		} else {
			cs_outcome_reply(s, &o, MXR_TEMPFAIL, MXR_STAGE_HELO);
			cs_fail_quit(s, &o);
		}
		return;
	case CS_HELO:
		if (code / 100 == 2) {
			memset(&s->caps, 0, sizeof(s->caps));
			cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_HELO);
			cs_progress_all(s, &o);
			cs_after_helo(s);
		} else {
			cs_outcome_reply(s, &o, MXR_TEMPFAIL, MXR_STAGE_HELO);
			cs_fail_quit(s, &o);
		}
		return;
	case CS_STARTTLS:
		if (code == 220) {
			SSL_CTX *ctx = s->cfg.tls == MXR_TLS_REQUIRED ? s->cfg.tls_verify : s->cfg.tls_any;
			if (ctx != NULL && net_conn_starttls(s->conn, ctx, s->cfg.mx_host, false) == 0) {
				cs_wait(s, CS_TLS, MXR_STAGE_TLS, s->cfg.to->tls, "TLS handshake");
				return;
			}
			cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0,
			    s->cfg.tls == MXR_TLS_REQUIRED ? "4.7.5" : "4.7.0",
			    "%scannot start TLS with %s",
			    s->cfg.tls == MXR_TLS_REQUIRED ? "TLS required but " : "", s->cfg.mx_host);
			cs_fail_close(s, &o);
			return;
		}
		if (s->cfg.tls == MXR_TLS_REQUIRED) {
			cs_outcome_reply(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS);
			char t[sizeof(o.text) - 40];
			memcpy(t, o.text, sizeof(t) - 1);
			t[sizeof(t) - 1] = '\0';
			snprintf(o.text, sizeof(o.text), "TLS required but STARTTLS refused: %s", t);
			snprintf(o.esc, sizeof(o.esc), "4.7.5");
			cs_fail_quit(s, &o);
			return;
		}
		cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_TLS);
		cs_progress_all(s, &o);
		log_msg(LOG_LVL_INFO, "session=%s mx=%s ip=%s tls=refused code=%d note=\"continuing without TLS\"",
		    s->id, s->cfg.mx_host, s->ip, code);
		if (s->cfg.auth_user != NULL && !s->auth_done)
			cs_auth(s);
		else
			cs_txn_begin(s);
		return;
	case CS_AUTH_USER:
	case CS_AUTH_PASS:
		if (code == 334) {
			if (s->state == CS_AUTH_USER)
				cs_auth_login_step(s, s->cfg.auth_user, CS_AUTH_PASS);
			else
				cs_auth_login_step(s, s->cfg.auth_pass != NULL ? s->cfg.auth_pass : "",
				    CS_AUTH);
			return;
		}
		/* FALLTHROUGH */
	case CS_AUTH:
		cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_AUTH);
		if (code / 100 == 2) {
			s->auth_done = true;
			cs_progress_all(s, &o);
			cs_txn_begin(s);
			return;
		}
		/* Credentials refused: deferred, like a soft bounce; the next host may take them. */
		o.status = MXR_TEMPFAIL;
		cs_fail_quit(s, &o);
		return;
	case CS_MAIL:
		if (code / 100 == 2) {
			cs_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_MAIL);
			for (size_t k = 0; k < s->nbatch; k++)
				s->hooks.progress(s->hooks.arg, s->r[s->batch[k]], &o);
			if (s->pipelined) {
				cs_wait(s, CS_RCPT, MXR_STAGE_RCPT, s->cfg.to->rcpt, "reply to RCPT");
			} else if (cs_send_rcpt(s, 0)) {
				cs_wait(s, CS_RCPT, MXR_STAGE_RCPT, s->cfg.to->rcpt, "reply to RCPT");
			}
			return;
		}
		cs_outcome_reply(s, &o, cs_status_of(code), MXR_STAGE_MAIL);
		if (code / 100 == 5) {
			cs_decide_all(s, &o);
		} else {
			/* 4xx before any recipient: the next MX may take it (as Postfix does). */
			cs_record_fail(s, &o);
		}
		cs_drain(s, s->pipelined ? s->nbatch + 1 : 0, CS_AFTER_QUIT);
		return;
	case CS_RCPT:
		cs_on_rcpt_reply(s);
		return;
	case CS_DATA:
		cs_on_data_reply(s);
		return;
	case CS_BODY:
		/* A reply before the end of the message: the server gave up on it. */
		cs_outcome_reply(s, &o, code >= 500 ? MXR_PERMFAIL : MXR_TEMPFAIL, MXR_STAGE_DATA);
		cs_decide_state(s, CS_R_ACCEPTED, &o);
		cs_record_fail(s, &o);
		cs_finish(s);
		return;
	case CS_DOT:
		cs_on_dot_reply(s);
		return;
	case CS_DRAIN:
		if (code == 354) {
			net_conn_write(s->conn, ".\r\n", 3);
			s->drain++;
		}
		if (--s->drain > 0) {
			cs_wait(s, CS_DRAIN, s->stage, s->cfg.to->rcpt, "pipelined replies");
			return;
		}
		cs_drain(s, 0, s->after_drain);
		return;
	case CS_RSET:
		if (code / 100 == 2) {
			s->need_rset = false;
			cs_txn_begin(s);
			return;
		}
		cs_outcome_reply(s, &o, MXR_TEMPFAIL, MXR_STAGE_MAIL);
		cs_fail_quit(s, &o);
		return;
	case CS_QUIT:
		cs_finish(s);
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
			cs_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.5.0",
			    "malformed reply from %s: line longer than %d octets", s->cfg.mx_host,
			    SMTP_REPLY_LINE_MAX);
			cs_fail_close(s, &o);
			return;
		}
		if (s->state == CS_TLS)
			continue;
		enum smtp_reply_result res = smtp_reply_feed(&s->reply, line, len);
		if (res == SMTP_REPLY_MORE)
			continue;
		if (res == SMTP_REPLY_BAD) {
			char pr[200];
			cs_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.5.0",
			    "malformed reply from %s: %s: \"%s\"", s->cfg.mx_host,
			    s->reply.error != NULL ? s->reply.error : "bad reply",
			    log_printable(pr, sizeof(pr), line, len < 100 ? len : 100));
			cs_fail_close(s, &o);
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
		if (s->cfg.tls == MXR_TLS_IMPLICIT && !eof)
			cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.1",
			    "cannot connect to %s with TLS: %s", s->cfg.mx_host, err);
		else
			cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.1",
			    "cannot connect to %s: %s", s->cfg.mx_host, err);
		break;
	case CS_GREETING:
		if (s->implicit) {
			cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, "4.7.5",
			    "TLS required but the handshake with %s failed: %s", s->cfg.mx_host, err);
			break;
		}
		cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.2",
		    "connection dropped before greeting%s%s", eof ? "" : ": ", eof ? "" : err);
		break;
	case CS_TLS:
		cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0,
		    s->cfg.tls == MXR_TLS_REQUIRED ? "4.7.5" : "4.7.0", "%sTLS handshake with %s failed: %s",
		    s->cfg.tls == MXR_TLS_REQUIRED ? "TLS required but " : "", s->cfg.mx_host, err);
		break;
	case CS_QUIT:
		cs_finish(s);
		return;
	default:
		cs_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.4.2",
		    "connection dropped after %s%s%s", s->last_cmd != NULL ? s->last_cmd : "connect",
		    eof ? "" : ": ", eof ? "" : err);
		break;
	}
	cs_fail_close(s, &o);
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
		cs_outcome_text(s, &o, MXR_PENDING, MXR_STAGE_CONNECT, 0, "", "connected to %s[%s]:%u",
		    s->cfg.mx_host, s->ip, (unsigned)s->port);
		cs_progress_all(s, &o);
		s->last_cmd = "connect";
		s->implicit = s->cfg.tls == MXR_TLS_IMPLICIT;
		cs_wait(s, CS_GREETING, MXR_STAGE_CONNECT, s->cfg.to->greeting, "greeting");
		cs_on_read(s);
		return;
	case NET_EV_READ:
		cs_on_read(s);
		return;
	case NET_EV_DRAINED:
		if (s->state == CS_BODY)
			cs_body_pump(s);
		return;
	case NET_EV_TLS_OK:
		if (s->implicit && s->state == CS_GREETING) {
			/* Implicit TLS: the handshake ends before the greeting is read. */
			s->implicit = false;
			if (!cs_tls_ok(s))
				return;
			s->tls_on = true;
			cs_tls_progress(s);
			return;
		}
		if (s->state == CS_TLS) {
			evtimer_del(s->deadline);
			if (!cs_tls_ok(s))
				return;
			s->tls_on = true;
			cs_tls_progress(s);
			cs_ehlo(s);
		}
		return;
	case NET_EV_TIMEOUT:
		cs_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.4.2", "timeout waiting for %s from %s",
		    s->waiting != NULL ? s->waiting : "input", s->cfg.mx_host);
		cs_fail_close(s, &o);
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
		cs_finish(s);
		return;
	}
	if (s->state == CS_CONNECTING)
		cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.1",
		    "cannot connect to %s: timed out", s->cfg.mx_host);
	else
		cs_outcome_text(s, &o, MXR_TEMPFAIL, s->stage, 0, "4.4.2", "timeout waiting for %s from %s",
		    s->waiting != NULL ? s->waiting : "input", s->cfg.mx_host);
	cs_fail_close(s, &o);
}

struct client_session *client_session_start(const struct client_session_cfg *cfg,
    struct client_rcpt *const *rcpts, size_t n, const struct client_session_hooks *hooks)
{
	struct client_session *s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->hooks = *hooks;
	snprintf(s->id, sizeof(s->id), "%08" PRIx32 "%08" PRIx32, arc4random(), arc4random());
	s->n = n;
	s->r = xcalloc(n ? n : 1, sizeof(*s->r));
	memcpy(s->r, rcpts, n * sizeof(*s->r));
	s->rst = xcalloc(n ? n : 1, 1);
	s->batch = xcalloc(n ? n : 1, sizeof(*s->batch));
	smtp_reply_init(&s->reply);
	s->deadline = evtimer_new(cfg->base, cs_deadline_cb, s);
	s->finish_ev = event_new(cfg->base, -1, 0, cs_finish_cb, s);
	if (s->deadline == NULL || s->finish_ev == NULL)
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
	cs_outcome_text(s, &o, MXR_PENDING, MXR_STAGE_CONNECT, 0, "", "connecting to %s[%s]:%u",
	    cfg->mx_host, s->ip, (unsigned)s->port);
	cs_progress_all(s, &o);
	log_msg(LOG_LVL_INFO, "session=%s mx=%s ip=%s port=%u rcpts=%zu event=connect", s->id,
	    cfg->mx_host, s->ip, (unsigned)s->port, n);

	const char *err = NULL;
	s->conn = net_conn_connect(cfg->base, cfg->addr, cfg->addrlen, cfg->src, cfg->srclen,
	    cfg->to->connect, cs_net_cb, s, &err);
	if (s->conn == NULL) {
		cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.4.1",
		    "cannot connect to %s: %s", cfg->mx_host, err != NULL ? err : "failed");
		cs_record_fail(s, &o);
		cs_finish(s);
		return s;
	}
	net_conn_set_timeout(s->conn, 0);
	if (cfg->tls == MXR_TLS_IMPLICIT) {
		if (cfg->tls_verify == NULL ||
		    net_conn_set_implicit_tls(s->conn, cfg->tls_verify, cfg->mx_host) != 0) {
			cs_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, "4.7.5",
			    "TLS required but cannot start TLS with %s", cfg->mx_host);
			cs_record_fail(s, &o);
			cs_finish(s);
			return s;
		}
	}
	/* net_conn enforces the connect timeout; this catches a handshake that stalls. */
	unsigned limit = cfg->to->connect + (cfg->tls == MXR_TLS_IMPLICIT ? cfg->to->tls : 1000);
	cs_wait(s, CS_CONNECTING, MXR_STAGE_CONNECT, limit, "connection");
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
	smtp_reply_reset(&s->reply);
	free(s->r);
	free(s->rst);
	free(s->batch);
	free(s->inbuf);
	free(s->outbuf);
	free(s);
}
