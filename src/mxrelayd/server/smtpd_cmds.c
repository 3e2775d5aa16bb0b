/*
 * smtpd_cmds: the command table of the SMTP server and its handlers.
 *
 * Owns: the table (verb, states, flags, line cap, handler), the checks
 * every command passes before its handler runs (NUL octets, line length,
 * state, TLS first, argument presence), and the handlers of HELO, EHLO,
 * MAIL (and SEND, SOML, SAML, taken as MAIL: this relay has no
 * terminals), RCPT with the relay decision and the optional recipient
 * domain check, RSET, NOOP, QUIT, HELP, VRFY, EXPN, STARTTLS, TURN, ETRN.
 * Never: reads input; never logs an AUTH argument.
 */
#include "smtpd_cmds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_mx.h"
#include "policy/policy.h"
#include "queue/queue_store.h"
#include "smtpd_auth.h"
#include "smtpd_count.h"
#include "smtpd_data.h"
#include "smtpd_local.h"
#include "smtpd_params.h"
#include "smtpd_submit.h"
#include "smtpd_rate.h"
#include "smtpd_txn.h"
#include "net/net_conn.h"
#include "smtp/smtp_addr.h"
#include "util/log.h"
#include "util/xalloc.h"

#define ST(x) (1u << SMTPD_S_##x)
/* States after the greeting where commands are read. */
#define ST_ANY (ST(GREETED) | ST(READY) | ST(MAIL) | ST(RCPT))
/* RFC 5321 4.5.3.1.4 plus the extensions' allowances (RFC 1870, 3461, 4954). */
#define LINE_CMD 512
#define LINE_MAIL (512 + 26 + 100 + 500 + 64)
#define LINE_RCPT (512 + 500 + 64)
#define LINE_AUTH 4096

/* A recipient waiting for its domain's DNS answer. */
struct smtpd_cmds_pending {
	char address[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 2];
	unsigned notify;
	bool has_orcpt;
	char orcpt[SMTPD_ORCPT_MAX + 1];
};

static smtpd_cmd_fn smtpd_cmds_helo, smtpd_cmds_ehlo, smtpd_cmds_mail, smtpd_cmds_rcpt,
    smtpd_cmds_data, smtpd_cmds_bdat, smtpd_cmds_rset, smtpd_cmds_noop, smtpd_cmds_quit,
    smtpd_cmds_help, smtpd_cmds_vrfy, smtpd_cmds_starttls, smtpd_cmds_auth,
    smtpd_cmds_not_impl;

static const struct smtpd_cmd_def smtpd_cmd_table[] = {
	{ SMTP_VERB_HELO, ST_ANY, SMTPD_CMD_PRE_TLS, LINE_CMD, smtpd_cmds_helo },
	{ SMTP_VERB_EHLO, ST_ANY, SMTPD_CMD_PRE_TLS, LINE_CMD, smtpd_cmds_ehlo },
	{ SMTP_VERB_MAIL, ST(READY), SMTPD_CMD_NEED_ARG, LINE_MAIL, smtpd_cmds_mail },
	{ SMTP_VERB_SEND, ST(READY), SMTPD_CMD_NEED_ARG, LINE_MAIL, smtpd_cmds_mail },
	{ SMTP_VERB_SOML, ST(READY), SMTPD_CMD_NEED_ARG, LINE_MAIL, smtpd_cmds_mail },
	{ SMTP_VERB_SAML, ST(READY), SMTPD_CMD_NEED_ARG, LINE_MAIL, smtpd_cmds_mail },
	{ SMTP_VERB_RCPT, ST(MAIL) | ST(RCPT), SMTPD_CMD_NEED_ARG, LINE_RCPT, smtpd_cmds_rcpt },
	{ SMTP_VERB_DATA, ST(RCPT), SMTPD_CMD_NO_ARG, LINE_CMD, smtpd_cmds_data },
	/* Allowed in every state so that a refused chunk is still read off the wire. */
	{ SMTP_VERB_BDAT, ST_ANY, SMTPD_CMD_NEED_ARG, LINE_CMD, smtpd_cmds_bdat },
	{ SMTP_VERB_RSET, ST_ANY, SMTPD_CMD_PRE_TLS | SMTPD_CMD_NO_ARG, LINE_CMD, smtpd_cmds_rset },
	{ SMTP_VERB_NOOP, ST_ANY, SMTPD_CMD_PRE_TLS, LINE_CMD, smtpd_cmds_noop },
	{ SMTP_VERB_QUIT, ST_ANY, SMTPD_CMD_PRE_TLS | SMTPD_CMD_NO_ARG, LINE_CMD, smtpd_cmds_quit },
	{ SMTP_VERB_HELP, ST_ANY, SMTPD_CMD_PRE_TLS, LINE_CMD, smtpd_cmds_help },
	{ SMTP_VERB_VRFY, ST_ANY, SMTPD_CMD_NEED_ARG, LINE_CMD, smtpd_cmds_vrfy },
	{ SMTP_VERB_EXPN, ST_ANY, SMTPD_CMD_NEED_ARG, LINE_CMD, smtpd_cmds_vrfy },
	{ SMTP_VERB_STARTTLS, ST(GREETED) | ST(READY), SMTPD_CMD_PRE_TLS | SMTPD_CMD_NO_ARG,
	    LINE_CMD, smtpd_cmds_starttls },
	{ SMTP_VERB_AUTH, ST(READY), SMTPD_CMD_NEED_ARG, LINE_AUTH, smtpd_cmds_auth },
	{ SMTP_VERB_TURN, ST_ANY, SMTPD_CMD_PRE_TLS, LINE_CMD, smtpd_cmds_not_impl },
	{ SMTP_VERB_ETRN, ST_ANY, SMTPD_CMD_PRE_TLS, LINE_CMD, smtpd_cmds_not_impl },
};

const struct smtpd_cmd_def *smtpd_cmds_find(enum smtp_verb v)
{
	for (size_t i = 0; i < sizeof(smtpd_cmd_table) / sizeof(smtpd_cmd_table[0]); i++)
		if (smtpd_cmd_table[i].verb == v)
			return &smtpd_cmd_table[i];
	return NULL;
}

struct smtpd_reply smtpd_cmds_state_reply(enum smtp_verb v, enum smtpd_state st)
{
	switch (v) {
	case SMTP_VERB_MAIL:
	case SMTP_VERB_SEND:
	case SMTP_VERB_SOML:
	case SMTP_VERB_SAML:
		if (st == SMTPD_S_GREETED)
			return (struct smtpd_reply){ 503, "5.5.1", "Error: send HELO/EHLO first" };
		return (struct smtpd_reply){ 503, "5.5.1", "Error: nested MAIL command" };
	case SMTP_VERB_RCPT:
		return (struct smtpd_reply){ 503, "5.5.1", "Error: need MAIL command" };
	case SMTP_VERB_DATA:
		if (st == SMTPD_S_MAIL)
			return (struct smtpd_reply){ 503, "5.5.1", "Error: need RCPT command" };
		return (struct smtpd_reply){ 503, "5.5.1", "Error: need MAIL command" };
	case SMTP_VERB_STARTTLS:
		return (struct smtpd_reply){ 503, "5.5.1", "Error: STARTTLS not allowed during a mail transaction" };
	case SMTP_VERB_AUTH:
		if (st == SMTPD_S_GREETED)
			return (struct smtpd_reply){ 503, "5.5.1", "Error: send EHLO first" };
		return (struct smtpd_reply){ 503, "5.5.1", "Error: AUTH not allowed during a mail transaction" };
	default:
		return (struct smtpd_reply){ 503, "5.5.1", "Error: bad sequence of commands" };
	}
}

/* Whether this listener wants STARTTLS before anything but the PRE_TLS commands. */
static bool smtpd_cmds_tls_first(const struct smtpd_session *s)
{
	return s->ctx->tls != NULL && s->lst->mode == CFG_LISTEN_SUBMISSION &&
	    !s->lst->auth_plaintext && !smtpd_session_is_tls(s);
}

void smtpd_cmds_dispatch(struct smtpd_session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	const char *err = NULL;
	if (memchr(line, '\0', len) != NULL) {
		smtpd_session_reply(s, 500, "5.5.2", "Error: NUL octet in command");
		return;
	}
	if (smtp_cmd_parse(line, len, &cmd, &err) != 0 || cmd.verb == SMTP_VERB_UNKNOWN) {
		smtpd_session_reply(s, 500, "5.5.2", "Error: command not recognized");
		return;
	}
	const struct smtpd_cmd_def *def = smtpd_cmds_find(cmd.verb);
	if (def == NULL) {
		smtpd_session_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (log_enabled(LOG_LVL_DEBUG))
		log_msg(LOG_LVL_DEBUG, "session=%s event=command verb=%s state=%s", s->id,
		    smtp_cmd_verb_name(cmd.verb), smtpd_session_state_name(s->state));
	if (len + 2 > def->line_max) {
		smtpd_session_reply(s, 500, "5.5.2", "Line too long");
		return;
	}
	if (!(def->states & (1u << s->state))) {
		struct smtpd_reply r = smtpd_cmds_state_reply(cmd.verb, s->state);
		smtpd_session_reply_r(s, &r);
		return;
	}
	if (!(def->flags & SMTPD_CMD_PRE_TLS) && smtpd_cmds_tls_first(s)) {
		smtpd_session_reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	if ((def->flags & SMTPD_CMD_NO_ARG) && cmd.arg_len > 0) {
		smtpd_session_reply(s, 501, "5.5.4", "Syntax: %s takes no argument",
		    smtp_cmd_verb_name(cmd.verb));
		return;
	}
	if ((def->flags & SMTPD_CMD_NEED_ARG) && cmd.arg_len == 0) {
		smtpd_session_reply(s, 501, "5.5.4", "Syntax: %s needs an argument",
		    smtp_cmd_verb_name(cmd.verb));
		return;
	}
	def->fn(s, &cmd);
}

/* End the transaction, if any, without a reply. */
static void smtpd_cmds_reset_txn(struct smtpd_session *s)
{
	smtpd_count_abort(s);
	smtpd_txn_free(s->txn);
	s->txn = NULL;
}

/* Take the HELO/EHLO argument; false (after a 501) when it is unusable. */
static bool smtpd_cmds_take_helo(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	size_t n = 0;
	while (n < cmd->arg_len && cmd->arg[n] != ' ')
		n++;
	if (n == 0) {
		smtpd_session_reply(s, 501, "5.5.4", "Syntax: %s hostname", smtp_cmd_verb_name(cmd->verb));
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)cmd->arg[i];
		if (c < 0x21 || c > 0x7e) {
			smtpd_session_reply(s, 501, "5.5.2", "Invalid %s name", smtp_cmd_verb_name(cmd->verb));
			return false;
		}
	}
	if (n >= sizeof(s->helo))
		n = sizeof(s->helo) - 1;
	memcpy(s->helo, cmd->arg, n);
	s->helo[n] = '\0';
	smtpd_cmds_reset_txn(s);
	smtpd_session_set_state(s, SMTPD_S_READY);
	/* Quotes and backslashes are allowed in the name: escaped, they cannot end the field. */
	char phelo[sizeof(s->helo) * 2];
	log_printable(phelo, sizeof(phelo), s->helo, n);
	log_msg(LOG_LVL_INFO, "session=%s event=helo verb=%s helo=\"%s\"", s->id,
	    smtp_cmd_verb_name(cmd->verb), phelo);
	return true;
}

/* HELO: plain SMTP (RFC 5321 4.1.1.1). */
static void smtpd_cmds_helo(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	if (!smtpd_cmds_take_helo(s, cmd))
		return;
	s->esmtp = false;
	smtpd_session_reply(s, 250, "", "%s", s->ctx->cfg->hostname);
}

/* EHLO: the greeting and the extensions offered now. */
static void smtpd_cmds_ehlo(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct config *cfg = s->ctx->cfg;
	if (!smtpd_cmds_take_helo(s, cmd))
		return;
	s->esmtp = true;
	smtpd_session_reply_cont(s, 250, "", "%s", cfg->hostname);
	smtpd_session_reply_cont(s, 250, "", "PIPELINING");
	smtpd_session_reply_cont(s, 250, "", "SIZE %llu", (unsigned long long)cfg->max_message_size);
	smtpd_session_reply_cont(s, 250, "", "8BITMIME");
	smtpd_session_reply_cont(s, 250, "", "DSN");
	smtpd_session_reply_cont(s, 250, "", "ENHANCEDSTATUSCODES");
	smtpd_session_reply_cont(s, 250, "", "SMTPUTF8");
	smtpd_session_reply_cont(s, 250, "", "CHUNKING");
	if (s->ctx->tls != NULL && !smtpd_session_is_tls(s))
		smtpd_session_reply_cont(s, 250, "", "STARTTLS");
	/* RFC 8689 3: the promise to relay only over authenticated TLS, made over TLS only. */
	if (smtpd_session_is_tls(s))
		smtpd_session_reply_cont(s, 250, "", "REQUIRETLS");
	if (smtpd_session_auth_offered(s) && s->auth_user == NULL)
		smtpd_session_reply_cont(s, 250, "", "AUTH PLAIN LOGIN");
	smtpd_session_reply(s, 250, "", "HELP");
}

/* strict_envelopes = no: "MAIL FROM:a@b" without <>, as Postfix's strict_rfc821_envelopes = no. */
static unsigned smtpd_cmds_bare_ok(const struct config *cfg)
{
	return cfg->strict_envelopes ? 0 : SMTP_ADDR_BARE_OK;
}

/* MAIL FROM (and SEND/SOML/SAML): start a transaction. */
static void smtpd_cmds_mail(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct config *cfg = s->ctx->cfg;
	struct smtp_addr addr;
	struct smtp_param params[SMTP_PARAMS_MAX];
	struct smtpd_mail_params mp;
	struct smtpd_reply r;
	const char *err = NULL;
	int code = 0;
	char text[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 2], ptext[sizeof(text) * 4];

	smtpd_count_expect(s, SMTPD_COUNT_MAIL);
	if (s->lst->require_auth && s->auth_user == NULL) {
		smtpd_session_reply(s, 530, "5.7.0", "Authentication required");
		return;
	}
	int n = smtp_cmd_parse_path_arg(cmd->arg, cmd->arg_len, "FROM:",
	    SMTP_ADDR_NULL_OK | SMTP_ADDR_UTF8_OK | smtpd_cmds_bare_ok(cfg), &addr, params,
	    SMTP_PARAMS_MAX, &err, &code);
	if (n < 0) {
		if (code == 553)
			smtpd_session_reply(s, 553, "5.1.7", "Bad sender address syntax: %s", err);
		else
			smtpd_session_reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>: %s", err);
		return;
	}
	if (!smtpd_params_mail(params, (size_t)n, cfg->max_message_size, &mp, &r)) {
		smtpd_session_reply_r(s, &r);
		return;
	}
	if (addr.utf8 && !mp.smtputf8) {
		smtpd_session_reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return;
	}
	/* RFC 8689 4.1: a message that must travel over TLS only arrives over TLS. */
	if (mp.requiretls && !smtpd_session_is_tls(s)) {
		smtpd_session_reply(s, 530, "5.7.10", "REQUIRETLS needs a TLS session: STARTTLS first");
		return;
	}
	/* RFC 1870 6.1: no room for the declared size now; say so before the client sends it. */
	if (mp.size > 0 && !queue_store_has_room(s->ctx->queue, mp.size)) {
		log_msg(LOG_LVL_WARN, "session=%s event=mail status=refused code=452 dsn=4.3.1 client=%s "
		    "size=%llu reason=\"queue file system lacks room\"", s->id, s->peer_ip,
		    (unsigned long long)mp.size);
		smtpd_session_reply(s, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	/* The queue's database is out of reach: nothing could be promised now. */
	if (!queue_store_available(s->ctx->queue)) {
		log_msg(LOG_LVL_WARN, "session=%s event=mail status=refused code=451 dsn=4.3.0 client=%s "
		    "reason=\"queue unavailable\"", s->id, s->peer_ip);
		smtpd_session_reply(s, 451, "4.3.0", "Queue temporarily unavailable, try again later");
		return;
	}
	if (smtp_addr_format(&addr, text, sizeof(text)) == 0 && addr.kind != SMTP_ADDR_NULLPATH) {
		smtpd_session_reply(s, 553, "5.1.7", "Sender address too long");
		return;
	}
	smtpd_local_sender(s, text, sizeof(text));
	if (!smtpd_submit_mail(s, addr.kind == SMTP_ADDR_NULLPATH ? "" : text))
		return;
	if (!smtpd_rate_mail(s))
		return;
	s->txn = smtpd_txn_new(text, &mp);
	smtpd_session_set_state(s, SMTPD_S_MAIL);
	log_printable(ptext, sizeof(ptext), text, strlen(text));
	log_msg(LOG_LVL_INFO, "session=%s event=mail from=\"<%s>\" size=%llu body=%s%s%s", s->id,
	    ptext, (unsigned long long)mp.size, mp.body_8bitmime ? "8bitmime" : "7bit",
	    mp.smtputf8 ? " smtputf8=yes" : "", mp.requiretls ? " requiretls=yes" : "");
	smtpd_session_reply(s, 250, "2.1.0", "Ok");
}

/* Add an accepted recipient and answer 250. */
static void smtpd_cmds_rcpt_accept(struct smtpd_session *s, const char *address,
    unsigned notify, const char *orcpt)
{
	char ptext[1100];
	if (!smtpd_rate_rcpt(s, address))
		return;
	smtpd_txn_add_rcpt(s->txn, address, notify, orcpt);
	smtpd_session_set_state(s, SMTPD_S_RCPT);
	log_printable(ptext, sizeof(ptext), address, strlen(address));
	log_msg(LOG_LVL_INFO, "session=%s event=rcpt to=\"<%s>\" status=accepted", s->id, ptext);
	smtpd_session_reply(s, 250, "2.1.5", "Ok");
}

/* The recipient domain's DNS answer came. */
static void smtpd_cmds_rcpt_dns(const struct dns_mx_result *res, void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_cmds_pending *p = s->dns_rcpt;
	struct policy_reply pr;
	s->dnsq = NULL;
	s->dns_rcpt = NULL;
	if (policy_domain_verdict(s->ctx->cfg, res, &pr)) {
		smtpd_cmds_rcpt_accept(s, p->address, p->notify, p->has_orcpt ? p->orcpt : NULL);
	} else {
		char ptext[1100];
		log_printable(ptext, sizeof(ptext), p->address, strlen(p->address));
		char preason[600];
		log_printable(preason, sizeof(preason), res->reason, strlen(res->reason));
		log_msg(LOG_LVL_INFO, "session=%s event=rcpt to=\"<%s>\" status=refused code=%d dsn=%s "
		    "client=%s reason=\"%s\"", s->id, ptext, pr.code, pr.esc, s->peer_ip, preason);
		smtpd_session_reply(s, pr.code, pr.esc, "%s", pr.text);
	}
	free(p);
	smtpd_session_resume(s);
}

/* RCPT TO: one recipient, through the relay policy and the optional DNS check. */
static void smtpd_cmds_rcpt(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	const struct config *cfg = s->ctx->cfg;
	struct smtp_addr addr;
	struct smtp_param params[SMTP_PARAMS_MAX];
	struct smtpd_rcpt_params rp;
	struct smtpd_reply r;
	struct policy_reply pr;
	const char *err = NULL;
	int code = 0;
	char text[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 2], ptext[sizeof(text) * 4];

	smtpd_count_expect(s, SMTPD_COUNT_RCPT);
	if (s->txn->bdat) {
		/* RFC 3030 2: the envelope is complete once message octets flow. */
		smtpd_session_reply(s, 503, "5.5.1", "Error: RCPT after BDAT");
		return;
	}
	if (cfg->max_recipients != 0 && s->txn->nrcpts >= cfg->max_recipients) {
		/* RFC 5321 4.5.3.1.10: the client sends the rest later; not its error. */
		smtpd_session_refuse(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	int n = smtp_cmd_parse_path_arg(cmd->arg, cmd->arg_len, "TO:",
	    SMTP_ADDR_NO_DOMAIN_OK | SMTP_ADDR_POLICY_FORMS | SMTP_ADDR_UTF8_OK |
	    smtpd_cmds_bare_ok(cfg), &addr, params, SMTP_PARAMS_MAX, &err, &code);
	if (n < 0) {
		if (code == 553)
			smtpd_session_reply(s, 553, "5.1.3", "Bad recipient address syntax: %s", err);
		else
			smtpd_session_reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>: %s", err);
		return;
	}
	if (!smtpd_params_rcpt(params, (size_t)n, &rp, &r)) {
		smtpd_session_reply_r(s, &r);
		return;
	}
	if (addr.utf8 && !s->txn->mail.smtputf8) {
		smtpd_session_reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return;
	}
	struct policy_client client = {
		.addr = (const struct sockaddr *)&s->peer,
		.authenticated = s->auth_user != NULL,
		.listener_requires_auth = s->lst->require_auth,
		.local_submission = s->local != NULL,
	};
	bool ok = policy_check_rcpt(cfg, &client, &addr, &pr);
	if (smtpd_local_rcpt(s, &addr, &rp, ok, &pr))
		return;
	if (addr.kind == SMTP_ADDR_LOCALONLY)
		/* "<Postmaster>" means ours (RFC 5321 4.5.1): give it our domain for the queue. */
		snprintf(text, sizeof(text), "%s@%s", addr.local, cfg->hostname);
	else if (smtp_addr_format(&addr, text, sizeof(text)) == 0) {
		ok = false;
		pr = (struct policy_reply){ 553, "5.1.3", "Recipient address too long" };
	}
	if (!ok) {
		log_printable(ptext, sizeof(ptext), text, strlen(text));
		log_msg(LOG_LVL_INFO, "session=%s event=rcpt to=\"<%s>\" status=refused code=%d dsn=%s "
		    "client=%s reason=\"%s\"", s->id, ptext, pr.code, pr.esc, s->peer_ip, pr.text);
		if (pr.code == 550 && strcmp(pr.esc, "5.7.1") == 0)
			smtpd_session_refuse(s, pr.code, pr.esc, "<%s>: %s", ptext, pr.text);
		else
			smtpd_session_reply(s, pr.code, pr.esc, "<%s>: %s", ptext, pr.text);
		return;
	}
	if (cfg->check_rcpt_domain && s->ctx->dns != NULL && addr.kind == SMTP_ADDR_MAILBOX &&
	    !addr.domain_is_literal) {
		struct smtpd_cmds_pending *p = xcalloc(1, sizeof(*p));
		snprintf(p->address, sizeof(p->address), "%s", text);
		p->notify = rp.notify;
		p->has_orcpt = rp.has_orcpt;
		memcpy(p->orcpt, rp.orcpt, sizeof(p->orcpt));
		s->dns_rcpt = p;
		smtpd_session_wait(s, SMTPD_WAIT_DNS);
		s->dnsq = dns_mx_resolve(s->ctx->dns, addr.domain, DNS_FAMILY_ANY,
		    smtpd_cmds_rcpt_dns, s);
		return;
	}
	smtpd_cmds_rcpt_accept(s, text, rp.notify, rp.has_orcpt ? rp.orcpt : NULL);
}

/* DATA (RFC 5321 4.1.1.4). */
static void smtpd_cmds_data(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	if (s->txn->bdat) {
		smtpd_session_reply(s, 503, "5.5.1", "Error: DATA after BDAT");
		return;
	}
	if (!queue_store_available(s->ctx->queue)) {
		smtpd_session_reply(s, 451, "4.3.0", "Queue temporarily unavailable, try again later");
		return;
	}
	smtpd_data_start(s);
}

/* BDAT (RFC 3030). */
static void smtpd_cmds_bdat(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	smtpd_data_bdat(s, cmd);
}

/* RSET: drop the transaction (RFC 5321 4.1.1.5). */
static void smtpd_cmds_rset(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtpd_cmds_reset_txn(s);
	if (s->state != SMTPD_S_GREETED)
		smtpd_session_set_state(s, SMTPD_S_READY);
	smtpd_session_reply(s, 250, "2.0.0", "Ok");
}

static void smtpd_cmds_noop(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtpd_session_reply(s, 250, "2.0.0", "Ok");
}

static void smtpd_cmds_quit(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	char text[300];
	(void)cmd;
	snprintf(text, sizeof(text), "%s Service closing transmission channel", s->ctx->cfg->hostname);
	smtpd_session_close_reply(s, 221, "2.0.0", text, "quit");
}

static void smtpd_cmds_help(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtpd_session_reply_cont(s, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT");
	smtpd_session_reply_cont(s, 214, "2.0.0", "Commands: HELP VRFY EXPN STARTTLS AUTH");
	smtpd_session_reply(s, 214, "2.0.0", "End of HELP info");
}

/* VRFY and EXPN: this relay has no mailboxes to confirm (RFC 5321 3.5.3). */
static void smtpd_cmds_vrfy(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	if (s->ctx->cfg->vrfy == CFG_VRFY_DISABLED)
		smtpd_session_reply(s, 502, "5.5.1", "%s command is disabled",
		    smtp_cmd_verb_name(cmd->verb));
	else
		smtpd_session_reply(s, 252, "2.5.0",
		    "Cannot VRFY user, but will accept message and attempt delivery");
}

/* STARTTLS (RFC 3207): reply, then the handshake; pipelined input is dropped. */
static void smtpd_cmds_starttls(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	if (s->ctx->tls == NULL) {
		smtpd_session_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (smtpd_session_is_tls(s)) {
		smtpd_session_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	/* The reply is queued in clear before the TLS filter stacks on top. */
	net_conn_printf(s->conn, "220 2.0.0 Ready to start TLS\r\n");
	smtpd_cmds_reset_txn(s);
	s->esmtp = false;
	s->helo[0] = '\0';
	/* RFC 3207 4.2: an AUTH done in clear is knowledge from before TLS; it goes too. */
	free(s->auth_user);
	s->auth_user = NULL;
	smtpd_session_set_state(s, SMTPD_S_STARTTLS);
	if (net_conn_starttls(s->conn, s->ctx->tls, NULL, true) != 0)
		smtpd_session_drop(s, "TLS setup failed");
}

static void smtpd_cmds_auth(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	smtpd_auth_start(s, cmd);
}

/* TURN and ETRN: a relay that never holds mail for a client to pull. */
static void smtpd_cmds_not_impl(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	(void)cmd;
	smtpd_session_reply(s, 502, "5.5.1", "Error: command not implemented");
}
