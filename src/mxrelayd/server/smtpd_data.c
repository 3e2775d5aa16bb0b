/*
 * smtpd_data: the message text of one transaction, into the queue.
 *
 * Owns: the Received field and the 354, streaming DATA through the
 * decoder (only CRLF.CRLF ends it, dots unstuffed) and BDAT chunks as
 * they are (RFC 3030: no stuffing), the size and hop limits, bare CR/LF
 * (bare_newline: made CRLF in DATA and BDAT alike, or refused), building
 * the envelope, the commit and its reply.
 * Never: adds, drops or changes a message octet besides prepending the
 * Received field, making bare line ends CRLF and, for a submission, what
 * smtpd_submit does to its header section; never replies 250 before the
 * commit callback says ok.
 */
#include "smtpd_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "queue/queue_store.h"
#include "smtpd_count.h"
#include "smtpd_local.h"
#include "smtpd_submit.h"
#include "smtpd_txn.h"
#include "net/net_conn.h"
#include "smtp/smtp_header.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Octets decoded per step: bounds the stack buffer, not the message. */
#define SMTPD_DATA_STEP (16 * 1024)
/* Input octets per step: decoded (a bare line end doubled) they fit the step buffer. */
#define SMTPD_DATA_TAKE ((SMTPD_DATA_STEP - 3) / 2)
/* A BDAT chunk this far over the size limit is not worth reading: close instead. */
#define SMTPD_DATA_BDAT_SLACK (1024 * 1024)

static void smtpd_data_finish(struct smtpd_session *s);

/* The codec's mode for the configured bare_newline. */
static enum smtp_data_newline smtpd_data_newline(const struct config *cfg)
{
	return cfg->bare_newline == CFG_BARE_NEWLINE_REJECT ? SMTP_DATA_NL_REJECT :
	    SMTP_DATA_NL_NORMALIZE;
}

/* Open the queue writer and put the Received field in front of the text. */
static void smtpd_data_open(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	const struct config *cfg = s->ctx->cfg;
	char hdr[2048], tls_info[200];
	const char *tv = NULL;

	t->writer = queue_writer_new(s->ctx->queue);
	snprintf(t->queue_id, sizeof(t->queue_id), "%s", queue_writer_id(t->writer));
	if (smtpd_session_is_tls(s) && (tv = net_conn_tls_version(s->conn)) != NULL) {
		const char *cipher = net_conn_tls_cipher(s->conn);
		snprintf(tls_info, sizeof(tls_info), "version=%s cipher=%s", tv,
		    cipher != NULL ? cipher : "unknown");
	}
	struct smtp_received r = {
		.helo = s->helo,
		.client_ip = s->peer_ip,
		.client_rdns = NULL,
		.by_host = cfg->hostname,
		.protocol = smtpd_session_protocol(s),
		.queue_id = t->queue_id,
		.tls_info = tv != NULL ? tls_info : NULL,
		/* RFC 5321 7.2: naming the recipient is only safe when there is one. */
		.for_rcpt = t->nrcpts == 1 ? t->rcpts[0].address : NULL,
		.when = time(NULL),
	};
	size_t n = smtp_header_received(&r, hdr, sizeof(hdr));
	if (n == 0) {
		/* Only an absurdly long recipient gets here: leave it out rather than fail. */
		r.for_rcpt = NULL;
		n = smtp_header_received(&r, hdr, sizeof(hdr));
	}
	if (s->local != NULL)
		n = smtpd_local_received(cfg->hostname, s->local->uid, t->queue_id, r.when, hdr,
		    sizeof(hdr));
	if (n == 0 || queue_writer_append(t->writer, hdr, n) != 0)
		t->write_error = true;
	t->submit = smtpd_submit_begin(s);
	log_msg(LOG_LVL_DEBUG, "session=%s queue=%s event=data-start nrcpt=%zu", s->id,
	    t->queue_id, t->nrcpts);
}

void smtpd_data_start(struct smtpd_session *s)
{
	smtp_data_dec_init(&s->txn->dec, smtpd_data_newline(s->ctx->cfg));
	smtpd_data_open(s);
	smtpd_session_set_state(s, SMTPD_S_DATA);
	smtpd_session_set_timeout(s, s->ctx->cfg->data_timeout);
	smtpd_session_reply(s, 354, "", "End data with <CR><LF>.<CR><LF>");
}

/* Take n decoded octets of message text into the queue, within the limits. */
static void smtpd_data_take(struct smtpd_session *s, const char *p, size_t n)
{
	struct smtpd_txn *t = s->txn;
	uint64_t max = s->ctx->cfg->max_message_size;
	if (n == 0)
		return;
	t->data_size += n;
	smtp_hdrscan_feed(&t->hdr, p, n);
	if (t->too_big || t->write_error)
		return;
	if (max != 0 && t->data_size > max) {
		/* Keep reading to the end, but stop storing: the space goes back now. */
		t->too_big = true;
		queue_writer_abort(t->writer);
		t->writer = NULL;
		return;
	}
	if ((t->submit != NULL ? smtpd_submit_append(t->submit, t->writer, p, n) :
	    queue_writer_append(t->writer, p, n)) != 0) {
		t->write_error = true;
		queue_writer_abort(t->writer);
		t->writer = NULL;
	}
}

/* bare_newline = reject and a bare CR or LF came: refuse and close (Postfix smtpd_forbid_bare_newline). */
static void smtpd_data_bare_nl(struct smtpd_session *s)
{
	log_msg(LOG_LVL_WARN, "session=%s queue=%s event=bare-newline client=%s", s->id,
	    s->txn->queue_id, s->peer_ip);
	smtpd_txn_free(s->txn);
	s->txn = NULL;
	smtpd_count_end(s, 521, "5.5.2");
	smtpd_session_close_reply(s, 521, "5.5.2", "Bare CR or LF in message data", "bare newline");
}

/* DATA: decode what is buffered. */
static bool smtpd_data_feed_data(struct smtpd_session *s)
{
	struct evbuffer *in = net_conn_input(s->conn);
	struct evbuffer_iovec v;
	char out[SMTPD_DATA_STEP];
	size_t consumed = 0, produced = 0;
	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return false;
	size_t take = v.iov_len < SMTPD_DATA_TAKE ? v.iov_len : SMTPD_DATA_TAKE;
	enum smtp_data_dec_status st = smtp_data_dec_feed(&s->txn->dec, v.iov_base, take, out,
	    &consumed, &produced);
	smtpd_data_take(s, out, produced);
	evbuffer_drain(in, consumed);
	switch (st) {
	case SMTP_DATA_DEC_MORE:
		return true;
	case SMTP_DATA_DEC_END:
		smtpd_data_finish(s);
		return true;
	case SMTP_DATA_DEC_BARE_NL:
		smtpd_data_bare_nl(s);
		return false;
	}
	return false;
}

/*
 * Take decoded BDAT text: the 8-bit flag, then as DATA text.
 * BDAT needs no dot-stuffing, but the text is sent on with DATA later,
 * where a bare LF could end it early at a lenient next hop, so its line
 * ends were made CRLF (or refused) as in DATA.
 */
static void smtpd_data_bdat_take(struct smtpd_session *s, const char *p, size_t n)
{
	struct smtpd_txn *t = s->txn;
	for (size_t i = 0; i < n && !t->any_8bit; i++)
		if ((unsigned char)p[i] >= 0x80)
			t->any_8bit = true;
	smtpd_data_take(s, p, n);
}

/* The last octet of a BDAT chunk was read. */
static void smtpd_data_bdat_done(struct smtpd_session *s, uint64_t size)
{
	if (s->bdat_discard) {
		s->bdat_discard = false;
		smtpd_session_set_state(s, s->bdat_return);
		/* Back to commands: their timeout, not the data timeout. */
		smtpd_session_set_timeout(s, s->ctx->cfg->cmd_timeout);
		smtpd_session_reply_r(s, &s->bdat_reply);
		return;
	}
	if (s->bdat_last) {
		char end[1] = { 0 };
		size_t n = 0;
		if (!smtp_data_lines_finish(&s->txn->bdat_lines, end, &n)) {
			smtpd_data_bare_nl(s);
			return;
		}
		smtpd_data_bdat_take(s, end, n);
		smtpd_data_finish(s);
		return;
	}
	smtpd_session_set_state(s, SMTPD_S_RCPT);
	smtpd_session_set_timeout(s, s->ctx->cfg->cmd_timeout);
	smtpd_session_reply(s, 250, "2.0.0", "%llu octets received", (unsigned long long)size);
}

/* BDAT: take octets of the current chunk. */
static bool smtpd_data_feed_bdat(struct smtpd_session *s)
{
	struct evbuffer *in = net_conn_input(s->conn);
	struct evbuffer_iovec v;
	char out[SMTPD_DATA_STEP];
	if (s->bdat_left == 0) {
		smtpd_data_bdat_done(s, 0);
		return true;
	}
	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return false;
	size_t take = v.iov_len < SMTPD_DATA_TAKE ? v.iov_len : SMTPD_DATA_TAKE;
	if ((uint64_t)take > s->bdat_left)
		take = (size_t)s->bdat_left;
	if (!s->bdat_discard) {
		size_t produced = 0;
		if (!smtp_data_lines_feed(&s->txn->bdat_lines, v.iov_base, take, out, &produced)) {
			smtpd_data_bare_nl(s);
			return false;
		}
		smtpd_data_bdat_take(s, out, produced);
	}
	evbuffer_drain(in, take);
	s->bdat_left -= take;
	if (s->bdat_left == 0)
		smtpd_data_bdat_done(s, s->bdat_size);
	return true;
}

bool smtpd_data_feed(struct smtpd_session *s)
{
	if (s->state == SMTPD_S_DATA)
		return smtpd_data_feed_data(s);
	return smtpd_data_feed_bdat(s);
}

int smtpd_data_bdat_arg(const char *arg, size_t len, uint64_t *size, bool *last)
{
	size_t i = 0;
	uint64_t v = 0;
	if (len == 0)
		return -1;
	for (; i < len && arg[i] >= '0' && arg[i] <= '9'; i++) {
		unsigned d = (unsigned)(arg[i] - '0');
		if (i >= 19 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (i == 0)
		return -1;
	*last = false;
	if (i < len) {
		if (arg[i] != ' ')
			return -1;
		while (i < len && arg[i] == ' ')
			i++;
		if (len - i != 4 || strncasecmp(arg + i, "LAST", 4) != 0)
			return -1;
		*last = true;
	}
	*size = v;
	return 0;
}

void smtpd_data_bdat(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct config *cfg = s->ctx->cfg;
	uint64_t size = 0;
	bool last = false;
	if (smtpd_data_bdat_arg(cmd->arg, cmd->arg_len, &size, &last) != 0) {
		smtpd_session_reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		return;
	}
	uint64_t max = cfg->max_message_size;
	if (max != 0 && size > max + SMTPD_DATA_BDAT_SLACK) {
		smtpd_count_end(s, 552, "5.3.4");
		smtpd_session_close_reply(s, 552, "5.3.4",
		    "Message size exceeds fixed maximum message size", "bdat chunk too large");
		return;
	}
	s->bdat_left = size;
	s->bdat_size = size;
	s->bdat_last = last;
	s->bdat_discard = false;
	if (s->state != SMTPD_S_RCPT) {
		/* RFC 3030 2: a refused chunk is still read, to stay in step. */
		s->bdat_discard = true;
		s->bdat_return = s->state;
		s->bdat_reply = s->state == SMTPD_S_MAIL ?
		    (struct smtpd_reply){ 503, "5.5.1", "Error: need RCPT command" } :
		    s->state == SMTPD_S_GREETED ?
		    (struct smtpd_reply){ 503, "5.5.1", "Error: send HELO/EHLO first" } :
		    (struct smtpd_reply){ 503, "5.5.1", "Error: need MAIL command" };
	} else if (!s->txn->bdat) {
		s->txn->bdat = true;
		smtp_data_lines_init(&s->txn->bdat_lines, smtpd_data_newline(cfg));
		smtpd_data_open(s);
	}
	smtpd_session_set_state(s, SMTPD_S_BDAT);
	smtpd_session_set_timeout(s, cfg->data_timeout);
}

/*
 * The one line of an accepted message, as Postfix logs under one queue id:
 * who sent it (client, HELO, AUTH user), the sender, its size, recipient
 * count and Message-ID. Every peer-supplied value is quoted and escaped.
 */
static void smtpd_data_log_queued(const struct smtpd_session *s, const struct smtpd_txn *t)
{
	char helo[sizeof(s->helo) * 2], user[520], from[1100], msgid[SMTP_HDRSCAN_MSGID_MAX * 4 + 1];
	char who[128];
	const char *m = smtp_hdrscan_msgid(&t->hdr);
	log_printable(helo, sizeof(helo), s->helo, strlen(s->helo));
	log_printable(user, sizeof(user), s->auth_user != NULL ? s->auth_user : "",
	    s->auth_user != NULL ? strlen(s->auth_user) : 0);
	log_printable(from, sizeof(from), t->sender, strlen(t->sender));
	log_printable(msgid, sizeof(msgid), m != NULL ? m : "", m != NULL ? strlen(m) : 0);
	log_msg(LOG_LVL_INFO, "session=%s queue=%s event=queued client=%s helo=\"%s\" auth=\"%s\" "
	    "from=\"<%s>\" size=%llu nrcpt=%zu message_id=\"%s\" proto=%s%s", s->id, t->queue_id,
	    s->peer_ip, helo, user, from, (unsigned long long)t->data_size, t->nrcpts, msgid,
	    smtpd_session_protocol(s), smtpd_local_log_tag(s, who, sizeof(who)));
}

/* The queue answered: reply, end the transaction, read on. */
static void smtpd_data_committed(void *arg, bool ok, const char *err)
{
	struct smtpd_session *s = arg;
	struct smtpd_ctx *ctx = s->ctx;
	/* Delivery need not wait for the client: it is queued whatever happens next. */
	if (ok && ctx->queued != NULL)
		ctx->queued(ctx->queued_arg);
	if (ok)
		smtpd_data_log_queued(s, s->txn);
	/*
	 * A store that lost its database (451 4.3.0: try later, perhaps on
	 * another node) is not a full disk (452 4.3.1).
	 */
	bool unavailable = !ok && !queue_store_available(ctx->queue);
	int code = ok ? 250 : unavailable ? 451 : 452;
	const char *esc = ok ? "2.0.0" : unavailable ? "4.3.0" : "4.3.1";
	/* Counted whether or not the client is still there to hear it. */
	smtpd_count_end(s, code, esc);
	if (!smtpd_session_release(s))
		return;	/* the client left; the message is queued all the same */
	struct smtpd_txn *t = s->txn;
	if (ok) {
		/* As Postfix: max_errors counts the errors made without delivering mail. */
		s->errors = 0;
		s->messages++;
		s->ctx->stats.messages++;
		s->ctx->stats.recipients += t->nrcpts;
		smtpd_session_reply(s, 250, "2.0.0", "Ok: queued as %s", t->queue_id);
	} else {
		log_msg(LOG_LVL_WARN, "session=%s queue=%s event=queue-failed code=%d reason=\"%s\"",
		    s->id, t->queue_id, code, err != NULL ? err : "unknown");
		if (unavailable)
			smtpd_session_reply(s, 451, "4.3.0", "Queue temporarily unavailable, try again later");
		else
			smtpd_session_reply(s, 452, "4.3.1", "Insufficient system storage");
	}
	smtpd_txn_free(t);
	s->txn = NULL;
	smtpd_session_set_state(s, SMTPD_S_READY);
	smtpd_session_set_timeout(s, s->ctx->cfg->cmd_timeout);
	if (s->stop_after) {
		char text[300];
		snprintf(text, sizeof(text), "%s Service shutting down, closing transmission channel",
		    s->ctx->cfg->hostname);
		s->wait = SMTPD_WAIT_NONE;
		smtpd_session_close_reply(s, 421, "4.3.2", text, "shutdown");
		return;
	}
	smtpd_session_resume(s);
}

/*
 * Commit the message (its DKIM signatures, when any, made): the session
 * is held and waits; smtpd_data_committed answers. The client may have
 * left meanwhile: what it sent is queued all the same.
 */
static void smtpd_data_commit(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = s->txn;
	size_t prefix_len = 0;
	const char *prefix = smtpd_submit_prefix(t->submit, &prefix_len);
	struct queue_rcpt_in *rcpts = xcalloc(t->nrcpts, sizeof(*rcpts));
	for (size_t i = 0; i < t->nrcpts; i++) {
		rcpts[i].address = t->rcpts[i].address;
		rcpts[i].notify = t->rcpts[i].notify;
		rcpts[i].orcpt = t->rcpts[i].orcpt;
	}
	struct queue_envelope env = {
		.sender = t->sender,
		.envid = t->mail.has_envid ? t->mail.envid : NULL,
		.ret = t->mail.ret,
		.smtputf8 = t->mail.smtputf8,
		.requiretls = t->mail.requiretls,
		/* RFC 8689 4.1: with REQUIRETLS the header field is ignored. */
		.tls_optional = !t->mail.requiretls && smtp_hdrscan_tls_optional(&t->hdr),
		.prefix = prefix,
		.prefix_len = prefix_len,
		/*
		 * What the octets are, not what BODY= claimed: a 7-bit message
		 * declared 8BITMIME may go on to a server without 8BITMIME as is.
		 */
		.body_8bit = t->any_8bit || t->dec.any_8bit,
		.client_ip = s->peer_ip,
		.client_helo = s->helo,
		.auth_user = s->auth_user,
		.protocol = smtpd_session_protocol(s),
		.received_at = t->started,
		.rcpts = rcpts,
		.nrcpts = t->nrcpts,
	};
	struct queue_writer *w = t->writer;
	t->writer = NULL;
	queue_writer_commit(w, &env, smtpd_data_committed, s);
	free(rcpts);
}

/* The end of the message: refuse it, or commit it and wait for the queue. */
static void smtpd_data_finish(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	const struct config *cfg = s->ctx->cfg;
	unsigned hops = t->hdr.received;
	struct smtpd_reply r = { 0, NULL, NULL };
	char why[1100];

	smtpd_session_set_timeout(s, cfg->cmd_timeout);
	if (t->submit != NULL && !t->too_big && !t->write_error) {
		struct smtpd_reply sr;
		if (smtpd_submit_finish(t->submit, t->writer, &sr) != 0) {
			t->write_error = true;
		} else if (sr.code != 0) {
			/* The text outlives the transaction: the reply goes after it is freed. */
			snprintf(why, sizeof(why), "%s", sr.text);
			r = (struct smtpd_reply){ sr.code, sr.esc, why };
		}
	}
	if (r.code == 0 && t->too_big)
		r = (struct smtpd_reply){ 552, "5.3.4", "Message size exceeds fixed maximum message size" };
	else if (r.code == 0 && hops > cfg->hop_limit)
		r = (struct smtpd_reply){ 554, "5.4.6", "Too many hops" };
	else if (r.code == 0 && t->write_error)
		r = (struct smtpd_reply){ 452, "4.3.1", "Insufficient system storage" };
	if (r.code != 0) {
		log_msg(LOG_LVL_INFO, "session=%s queue=%s event=refused code=%d dsn=%s reason=\"%s\" size=%llu hops=%u",
		    s->id, t->queue_id, r.code, r.esc, r.text, (unsigned long long)t->data_size, hops);
		smtpd_txn_free(t);
		s->txn = NULL;
		smtpd_session_set_state(s, SMTPD_S_READY);
		smtpd_count_end(s, r.code, r.esc);
		smtpd_session_reply_r(s, &r);
		return;
	}

	smtpd_session_set_state(s, SMTPD_S_COMMIT);
	/* Replies stay in order: no pipelined command is read before this one is answered. */
	smtpd_session_wait(s, SMTPD_WAIT_COMMIT);
	smtpd_session_hold(s);
	smtpd_count_committing(s);
	if (smtpd_submit_signs(t->submit)) {
		/* The signatures go with the envelope: made first (RSA ones off the loop). */
		smtpd_submit_sign(t->submit, s->ctx->signer, smtpd_data_commit, s);
		return;
	}
	smtpd_data_commit(s);
}
