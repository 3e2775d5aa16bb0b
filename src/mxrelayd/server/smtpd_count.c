/*
 * smtpd_count: the server sessions' counts (see smtpd_count.h). Where a
 * transaction ends, the rate limits hear it too (smtpd_rate_end): what it
 * took stays taken only when its message was queued.
 */
#include "smtpd_count.h"

#include <time.h>

#include "metrics/metrics_mail.h"
#include "net/net_conn.h"
#include "smtpd_rate.h"

void smtpd_count_connection(struct smtpd_session *s)
{
	if (s->ctx->metrics != NULL)
		metrics_mail_session(s->ctx->metrics, METRICS_INBOUND);
}

void smtpd_count_tls(struct smtpd_session *s)
{
	if (s->ctx->metrics != NULL && s->conn != NULL)
		metrics_mail_tls(s->ctx->metrics, METRICS_INBOUND, net_conn_tls_version(s->conn));
}

void smtpd_count_expect(struct smtpd_session *s, enum smtpd_count_expect what)
{
	s->count_expect = what;
}

/* Count the transaction as result and forget it. */
static void smtpd_count_received(struct smtpd_session *s, enum metrics_rx_result result)
{
	s->rx_open = false;
	s->rx_committing = false;
	s->rx_refused = false;
	if (s->ctx->metrics != NULL)
		metrics_mail_received(s->ctx->metrics, s->lst->text, result, time(NULL));
}

void smtpd_count_reply(struct smtpd_session *s, int code, const char *esc)
{
	enum smtpd_count_expect what = s->count_expect;
	s->count_expect = SMTPD_COUNT_NONE;
	if (what == SMTPD_COUNT_MAIL) {
		if (code < 400) {
			s->rx_open = true;
			s->rx_refused = false;
		} else {
			/* A refused MAIL: a transaction that ends here. */
			smtpd_rate_end(s, false);
			smtpd_count_received(s, metrics_mail_rx_reason(code, esc));
		}
	} else if (what == SMTPD_COUNT_RCPT) {
		if (s->ctx->metrics != NULL)
			metrics_mail_rcpt(s->ctx->metrics, metrics_mail_rcpt_reason(code, esc));
		if (code >= 400 && s->rx_open) {
			s->rx_refused = true;
			s->rx_refusal = metrics_mail_rx_reason(code, esc);
		}
	}
}

void smtpd_count_committing(struct smtpd_session *s)
{
	s->rx_committing = s->rx_open;
}

void smtpd_count_end(struct smtpd_session *s, int code, const char *esc)
{
	smtpd_rate_end(s, code < 400);
	if (s->rx_open)
		smtpd_count_received(s, metrics_mail_rx_reason(code, esc));
}

void smtpd_count_abort(struct smtpd_session *s)
{
	/* Committing: the commit's answer ends the transaction, for the rate limits too. */
	if (s->rx_committing)
		return;
	smtpd_rate_end(s, false);
	if (!s->rx_open)
		return;
	smtpd_count_received(s, s->rx_refused ? s->rx_refusal : METRICS_RX_ABORTED);
}
