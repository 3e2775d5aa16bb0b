/*
 * client_txn: MAIL, RCPT, DATA and the message stream of an outbound
 * session, one transaction after another until every recipient the
 * session carries is decided.
 *
 * Owns: the batch of each transaction, the per-recipient state inside the
 * session, the 452 split into further transactions, pipelined reply
 * draining, and the streaming buffers (read by offset, dot-stuffed, the
 * final dot in the same write as the last body bytes).
 * Never: touches the connection beyond writing commands and data through
 * client_session, sends a message without an accepted recipient, or
 * decides a recipient twice.
 */
#include "client_txn.h"
#include "client_esmtp.h"
#include "client_session_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_conn.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Message streaming: read this much per refill, keep at most HIWAT queued. */
#define CT_CHUNK (64u * 1024u)
#define CT_BODY_HIWAT (256u * 1024u)
#define CT_BODY_LOWAT (64u * 1024u)

void client_txn_init(struct client_txn *t, const struct client_msg *msg,
    struct client_rcpt *const *rcpts, size_t n)
{
	memset(t, 0, sizeof(*t));
	t->msg = msg;
	t->n = n;
	t->r = xcalloc(n ? n : 1, sizeof(*t->r));
	if (n > 0)
		memcpy(t->r, rcpts, n * sizeof(*t->r));
	t->rst = xcalloc(n ? n : 1, 1);
	t->batch = xcalloc(n ? n : 1, sizeof(*t->batch));
}

/* Drop the streaming buffers (the message is sent or abandoned). */
static void ct_free_buffers(struct client_txn *t)
{
	free(t->inbuf);
	t->inbuf = NULL;
	free(t->outbuf);
	t->outbuf = NULL;
}

void client_txn_clear(struct client_txn *t)
{
	ct_free_buffers(t);
	free(t->r);
	free(t->rst);
	free(t->batch);
	memset(t, 0, sizeof(*t));
}

bool client_txn_undecided(const struct client_session *s)
{
	const struct client_txn *t = &s->txn;
	for (size_t i = 0; i < t->n; i++)
		if (t->rst[i] != CS_R_DONE && !t->r[i]->decided)
			return true;
	return false;
}

void client_txn_progress_all(struct client_session *s, const struct client_outcome *o)
{
	struct client_txn *t = &s->txn;
	for (size_t i = 0; i < t->n; i++)
		if (t->rst[i] != CS_R_DONE && !t->r[i]->decided)
			s->hooks.progress(s->hooks.arg, t->r[i], o);
}

/* Give recipient i its final status. */
static void ct_decide(struct client_session *s, size_t i, const struct client_outcome *o)
{
	struct client_txn *t = &s->txn;
	if (t->rst[i] == CS_R_DONE || t->r[i]->decided)
		return;
	t->rst[i] = CS_R_DONE;
	s->hooks.decide(s->hooks.arg, t->r[i], o);
}

/* Decide every recipient in state st. */
static void ct_decide_state(struct client_session *s, enum client_txn_rcpt_state st,
    const struct client_outcome *o)
{
	for (size_t i = 0; i < s->txn.n; i++)
		if (s->txn.rst[i] == st)
			ct_decide(s, i, o);
}

void client_txn_decide_all(struct client_session *s, const struct client_outcome *o)
{
	for (size_t i = 0; i < s->txn.n; i++)
		if (s->txn.rst[i] != CS_R_DONE)
			ct_decide(s, i, o);
}

void client_txn_conn_lost(struct client_session *s, const struct client_outcome *o)
{
	/* Never sent twice: once the dot went out, only the reply could have said no. */
	if (s->txn.dot_sent)
		ct_decide_state(s, CS_R_ACCEPTED, o);
}

/* The status a reply code gives a recipient. */
static enum mxr_status ct_status_of(int code)
{
	if (code >= 200 && code < 300)
		return MXR_DELIVERED;
	return code >= 500 ? MXR_PERMFAIL : MXR_TEMPFAIL;
}

/* A progress step for every accepted recipient. */
static void ct_progress_accepted(struct client_session *s, const struct client_outcome *o)
{
	for (size_t i = 0; i < s->txn.n; i++)
		if (s->txn.rst[i] == CS_R_ACCEPTED)
			s->hooks.progress(s->hooks.arg, s->txn.r[i], o);
}

/* Send RCPT TO for batch member k. */
static bool ct_send_rcpt(struct client_session *s, size_t k)
{
	const struct client_rcpt *r = s->txn.r[s->txn.batch[k]];
	char params[1200];
	client_esmtp_rcpt_params(&s->caps, r, params, sizeof(params));
	s->last_cmd = "RCPT";
	return client_session_send(s, false, "RCPT TO:<%s>%s", r->address, params);
}

void client_txn_begin(struct client_session *s)
{
	struct client_txn *t = &s->txn;
	const struct client_msg *m = t->msg;
	struct client_outcome o;
	size_t waiting = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->rst[i] == CS_R_OVERFLOW || t->rst[i] == CS_R_BATCH || t->rst[i] == CS_R_ACCEPTED)
			t->rst[i] = CS_R_WAIT;
		if (t->rst[i] == CS_R_WAIT && t->r[i]->decided)
			t->rst[i] = CS_R_DONE;
		if (t->rst[i] == CS_R_WAIT)
			waiting++;
	}
	if (waiting == 0) {
		client_session_end_txns(s);
		return;
	}
	if (m->smtputf8 && !s->caps.smtputf8) {
		client_session_outcome_text(s, &o, MXR_PERMFAIL, MXR_STAGE_MAIL, 0, "5.6.7",
		    "the message needs SMTPUTF8 but %s does not offer it", s->cfg.mx_host);
		client_txn_decide_all(s, &o);
		client_session_end_txns(s);
		return;
	}
	if (s->caps.size && s->caps.size_max != 0 && m->size > s->caps.size_max) {
		client_session_outcome_text(s, &o, MXR_PERMFAIL, MXR_STAGE_MAIL, 0, "5.3.4",
		    "message of %" PRIu64 " octets exceeds the %" PRIu64 " octets %s accepts",
		    m->size, s->caps.size_max, s->cfg.mx_host);
		client_txn_decide_all(s, &o);
		client_session_end_txns(s);
		return;
	}
	if (t->need_rset) {
		s->last_cmd = "RSET";
		if (client_session_send(s, false, "RSET"))
			client_session_wait(s, CS_RSET, MXR_STAGE_MAIL, s->cfg.to->mail, "reply to RSET");
		return;
	}
	if (m->body_8bit && !s->caps.eightbitmime) {
		/* RFC 6152 3: never sent unconverted; another host may offer 8BITMIME. */
		client_session_outcome_text(s, &o, MXR_PERMFAIL, MXR_STAGE_MAIL, 0, "5.6.3",
		    "message has 8-bit content and %s does not support 8BITMIME", s->cfg.mx_host);
		client_session_fail_host(s, &o);
		return;
	}

	t->nbatch = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->rst[i] == CS_R_WAIT) {
			t->rst[i] = CS_R_BATCH;
			t->batch[t->nbatch++] = i;
		}
	}
	t->rcpt_replied = 0;
	t->naccepted = 0;
	t->have_overflow = false;
	t->dot_sent = false;
	t->dsn = s->caps.dsn;
	t->pipelined = s->caps.pipelining;

	char params[1024];
	client_esmtp_mail_params(&s->caps, m, params, sizeof(params));
	s->last_cmd = "MAIL";
	t->need_rset = true;
	s->nmsgs++;
	if (!client_session_send(s, false, "MAIL FROM:<%s>%s", m->sender, params))
		return;
	if (t->pipelined) {
		/* RFC 2920: MAIL, every RCPT and DATA in one write; replies read in order. */
		for (size_t k = 0; k < t->nbatch; k++)
			if (!ct_send_rcpt(s, k))
				return;
		s->last_cmd = "MAIL";
		if (!client_session_send(s, false, "DATA"))
			return;
	}
	client_session_wait(s, CS_MAIL, MXR_STAGE_MAIL, s->cfg.to->mail, "reply to MAIL");
}

/* No recipient of the transaction was accepted: the 452-split ones are deferred too. */
static void ct_nothing_accepted(struct client_session *s)
{
	if (s->txn.have_overflow)
		ct_decide_state(s, CS_R_OVERFLOW, &s->txn.overflow);
	client_txn_begin(s);
}

/* Swallow n pipelined replies, then do what next says. */
static void ct_drain(struct client_session *s, size_t n, enum client_txn_after_drain next)
{
	s->txn.drain = n;
	s->txn.after_drain = next;
	if (n == 0) {
		if (next == CLIENT_TXN_AFTER_QUIT)
			client_session_quit(s);
		else
			ct_nothing_accepted(s);
		return;
	}
	client_session_wait(s, CS_DRAIN, s->stage, s->cfg.to->rcpt, "pipelined replies");
}

/*
 * A DATA progress step for every accepted recipient when the octets sent
 * moved: written minus still queued, below the total until the final dot
 * has gone out (dot-stuffing makes the written count run ahead of SIZE).
 */
static void ct_data_sent(struct client_session *s, bool all_out)
{
	struct client_txn *t = &s->txn;
	uint64_t total = t->msg->size;
	if (total == 0 || !t->msg->data_progress)
		return;
	size_t queued = net_conn_pending(s->conn);
	uint64_t sent = t->wire_out > queued ? t->wire_out - queued : 0;
	if (all_out)
		sent = total;
	else if (sent >= total)
		sent = total - 1;
	if (sent == t->reported)
		return;
	t->reported = sent;
	struct client_outcome o;
	client_session_outcome_text(s, &o, MXR_PENDING, MXR_STAGE_DATA, 0, "",
	    "sent %" PRIu64 " of %" PRIu64 " octets", sent, total);
	o.bytes_sent = sent;
	o.bytes_total = total;
	ct_progress_accepted(s, &o);
}

/* Fill the output from the message until the buffer is full or the message ends. */
static void ct_body_pump(struct client_session *s)
{
	struct client_txn *t = &s->txn;
	const struct client_msg *m = t->msg;
	ct_data_sent(s, false);
	while (s->state == CS_BODY && net_conn_pending(s->conn) < CT_BODY_HIWAT) {
		ssize_t got = 0;
		if (t->off < m->src.size) {
			/* Never past src.size: sources may rely on it. */
			uint64_t left = m->src.size - t->off;
			size_t want = left < CT_CHUNK ? (size_t)left : CT_CHUNK;
			got = m->src.read_at(m->src.arg, t->off, t->inbuf, want);
		}
		if (got < 0) {
			struct client_outcome o;
			client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_DATA, 0, "4.3.0",
			    "error reading the message at offset %" PRIu64, t->off);
			/* Closing without the final dot makes the server drop the message. */
			client_txn_decide_all(s, &o);
			client_session_record_fail(s, &o);
			client_session_finish(s);
			return;
		}
		size_t outn = 0;
		if (got > 0) {
			outn = smtp_data_enc_feed(&t->enc, t->inbuf, (size_t)got, t->outbuf);
			t->off += (uint64_t)got;
		}
		bool last = got == 0 || t->off >= m->src.size;
		if (last)
			outn += smtp_data_enc_finish(&t->enc, t->outbuf + outn);
		/* The final dot goes out in the same write as the last body bytes. */
		net_conn_write(s->conn, t->outbuf, outn);
		t->wire_out += outn;
		if (last) {
			t->dot_sent = true;
			s->last_cmd = "end of data";
			net_conn_set_lowat(s->conn, 0);
			client_session_wait(s, CS_DOT, MXR_STAGE_DATA, s->cfg.to->data_term,
			    "reply to end of data");
			return;
		}
	}
	if (s->state == CS_BODY)
		client_session_wait(s, CS_BODY, MXR_STAGE_DATA, s->cfg.to->data_block,
		    "message data to drain");
}

void client_txn_on_drained(struct client_session *s)
{
	if (s->state == CS_BODY)
		ct_body_pump(s);
	else if (s->state == CS_DOT && net_conn_pending(s->conn) == 0)
		ct_data_sent(s, true);
}

/* 354: stream the message. */
static void ct_body_start(struct client_session *s)
{
	struct client_txn *t = &s->txn;
	t->inbuf = xmalloc(CT_CHUNK);
	t->outbuf = xmalloc(smtp_data_enc_bound(CT_CHUNK) + 8);
	t->off = 0;
	t->wire_out = 0;
	t->reported = 0;
	smtp_data_enc_init(&t->enc);
	net_conn_set_lowat(s->conn, CT_BODY_LOWAT);
	client_session_set_state(s, CS_BODY);
	ct_body_pump(s);
}

/* A reply to MAIL: RCPTs follow (or were pipelined), or the transaction ends. */
static void ct_on_mail_reply(struct client_session *s)
{
	struct client_txn *t = &s->txn;
	struct client_outcome o;
	int code = s->reply.code;
	if (code / 100 == 2) {
		client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_MAIL);
		for (size_t k = 0; k < t->nbatch; k++)
			s->hooks.progress(s->hooks.arg, t->r[t->batch[k]], &o);
		if (t->pipelined) {
			client_session_wait(s, CS_RCPT, MXR_STAGE_RCPT, s->cfg.to->rcpt, "reply to RCPT");
		} else if (ct_send_rcpt(s, 0)) {
			client_session_wait(s, CS_RCPT, MXR_STAGE_RCPT, s->cfg.to->rcpt, "reply to RCPT");
		}
		return;
	}
	client_session_outcome_reply(s, &o, ct_status_of(code), MXR_STAGE_MAIL);
	if (code / 100 == 5) {
		client_txn_decide_all(s, &o);
	} else {
		/* 4xx before any recipient: the next MX may take it (as Postfix does). */
		client_session_record_fail(s, &o);
	}
	ct_drain(s, t->pipelined ? t->nbatch + 1 : 0, CLIENT_TXN_AFTER_QUIT);
}

/* A reply to RCPT for batch member rcpt_replied. */
static void ct_on_rcpt_reply(struct client_session *s)
{
	struct client_txn *t = &s->txn;
	size_t k = t->rcpt_replied++;
	size_t i = t->batch[k];
	int code = s->reply.code;
	struct client_outcome o;
	if (code >= 200 && code < 300) {
		t->rst[i] = CS_R_ACCEPTED;
		t->naccepted++;
		client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_RCPT);
		s->hooks.progress(s->hooks.arg, t->r[i], &o);
	} else if (code == 452 && (s->reply.esc[0] == '\0' || strcmp(s->reply.esc, "4.5.3") == 0)) {
		/* Too many recipients (RFC 5321 4.5.3.1.10): the next transaction takes it. */
		t->rst[i] = CS_R_OVERFLOW;
		client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_RCPT);
		s->hooks.progress(s->hooks.arg, t->r[i], &o);
		if (!t->have_overflow) {
			t->have_overflow = true;
			client_session_outcome_reply(s, &t->overflow, MXR_TEMPFAIL, MXR_STAGE_RCPT);
		}
	} else {
		client_session_outcome_reply(s, &o, ct_status_of(code), MXR_STAGE_RCPT);
		ct_decide(s, i, &o);
	}

	if (t->pipelined) {
		if (t->rcpt_replied < t->nbatch)
			client_session_wait(s, CS_RCPT, MXR_STAGE_RCPT, s->cfg.to->rcpt, "reply to RCPT");
		else
			client_session_wait(s, CS_DATA, MXR_STAGE_DATA, s->cfg.to->data_init,
			    "reply to DATA");
		return;
	}
	if (t->have_overflow) {
		for (size_t j = t->rcpt_replied; j < t->nbatch; j++)
			t->rst[t->batch[j]] = CS_R_OVERFLOW;
		t->rcpt_replied = t->nbatch;
	}
	if (t->rcpt_replied < t->nbatch) {
		if (ct_send_rcpt(s, t->rcpt_replied))
			client_session_wait(s, CS_RCPT, MXR_STAGE_RCPT, s->cfg.to->rcpt, "reply to RCPT");
		return;
	}
	if (t->naccepted == 0) {
		ct_nothing_accepted(s);
		return;
	}
	s->last_cmd = "DATA";
	if (client_session_send(s, false, "DATA"))
		client_session_wait(s, CS_DATA, MXR_STAGE_DATA, s->cfg.to->data_init, "reply to DATA");
}

/* A reply to DATA: 354 starts the message; anything else decides the accepted. */
static void ct_on_data_reply(struct client_session *s)
{
	struct client_txn *t = &s->txn;
	struct client_outcome o;
	if (s->reply.code == 354) {
		if (t->naccepted == 0) {
			/* RFC 2920 3.1: a 354 with no recipient gets an empty message, ignored. */
			net_conn_write(s->conn, ".\r\n", 3);
			ct_drain(s, 1, CLIENT_TXN_AFTER_NOTHING_ACCEPTED);
			return;
		}
		client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_DATA);
		ct_progress_accepted(s, &o);
		ct_body_start(s);
		return;
	}
	if (t->naccepted == 0) {
		ct_nothing_accepted(s);
		return;
	}
	client_session_outcome_reply(s, &o, ct_status_of(s->reply.code), MXR_STAGE_DATA);
	if (o.status == MXR_DELIVERED)
		o.status = MXR_TEMPFAIL;	/* a 2xx instead of 354 is a broken server */
	ct_decide_state(s, CS_R_ACCEPTED, &o);
	if (s->reply.code == 421) {
		client_session_fail_quit(s, &o);
		return;
	}
	client_txn_begin(s);
}

/* The reply after the final dot decides every accepted recipient. */
static void ct_on_dot_reply(struct client_session *s)
{
	struct client_txn *t = &s->txn;
	struct client_outcome o;
	/* The reply proves the whole message arrived, even before the drain was seen. */
	ct_data_sent(s, true);
	client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_DATA);
	ct_progress_accepted(s, &o);
	o.status = ct_status_of(s->reply.code);
	ct_decide_state(s, CS_R_ACCEPTED, &o);
	t->dot_sent = false;
	t->need_rset = false;
	ct_free_buffers(t);
	if (s->reply.code == 421) {
		client_session_fail_quit(s, &o);
		return;
	}
	client_txn_begin(s);
}

void client_txn_on_reply(struct client_session *s)
{
	struct client_txn *t = &s->txn;
	struct client_outcome o;
	int code = s->reply.code;
	switch (s->state) {
	case CS_MAIL:
		ct_on_mail_reply(s);
		return;
	case CS_RCPT:
		ct_on_rcpt_reply(s);
		return;
	case CS_DATA:
		ct_on_data_reply(s);
		return;
	case CS_BODY:
		/* A reply before the end of the message: the server gave up on it. */
		client_session_outcome_reply(s, &o, code >= 500 ? MXR_PERMFAIL : MXR_TEMPFAIL,
		    MXR_STAGE_DATA);
		ct_decide_state(s, CS_R_ACCEPTED, &o);
		client_session_record_fail(s, &o);
		client_session_finish(s);
		return;
	case CS_DOT:
		ct_on_dot_reply(s);
		return;
	case CS_DRAIN:
		if (code == 354) {
			net_conn_write(s->conn, ".\r\n", 3);
			t->drain++;
		}
		if (--t->drain > 0) {
			client_session_wait(s, CS_DRAIN, s->stage, s->cfg.to->rcpt, "pipelined replies");
			return;
		}
		ct_drain(s, 0, t->after_drain);
		return;
	case CS_RSET:
		if (code / 100 == 2) {
			t->need_rset = false;
			client_txn_begin(s);
			return;
		}
		client_session_outcome_reply(s, &o, MXR_TEMPFAIL, MXR_STAGE_MAIL);
		client_session_fail_quit(s, &o);
		return;
	default:
		return;
	}
}
