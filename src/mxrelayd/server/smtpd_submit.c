/*
 * smtpd_submit: sender binding and the header section of submissions
 * (see smtpd_submit.h).
 */
#include "smtpd_submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/sender_login.h"
#include "dkim/dkim_body.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_sign.h"
#include "dns/dns_idna.h"
#include "policy/policy.h"
#include "queue/queue_store.h"
#include "smtpd_session.h"
#include "smtpd_txn.h"
#include "smtp/smtp_addr.h"
#include "smtp/smtp_hdrfield.h"
#include "smtp/smtp_header.h"
#include "util/log.h"
#include "util/workq.h"
#include "util/xalloc.h"

struct smtpd_submit {
	const struct smtpd_session *s;		/* borrowed: the session outlives its transactions */
	const struct sender_login_entry *bound;	/* the owner From must match, when from_check */
	bool check_from;
	bool add_missing;			/* Date and Message-ID (authenticated or local) */
	char queue_id[QUEUE_ID_LEN + 1];
	char *hdr;				/* owned: the header section held so far */
	size_t len, cap;
	bool done;				/* the header section went to the writer */
	bool too_big;				/* it passed SMTPD_SUBMIT_HEADER_MAX */
	char why[1100];				/* the text of a refusal */
	/* DKIM: the keys of the From domain, the body's hash, the header as stored */
	const struct cfg_dkim *keys;		/* borrowed from the session's configuration */
	size_t nkeys;
	struct dkim_body *body;			/* owned, while the body streams */
	unsigned char bh[DKIM_BH_LEN];
	char *out;				/* owned: the header section written (what is signed) */
	size_t outlen;
	int64_t now;				/* t= */
	char *prefix;				/* owned: the DKIM-Signature fields made */
	size_t prefix_len;
	char sign_err[256];			/* why a signature could not be made */
	void (*signed_cb)(void *arg);		/* smtpd_submit_sign's caller */
	void *signed_arg;
};

/* What the session of s is: served by the relay, and bound to which sender_login entry. */
static bool smtpd_submit_served(const struct smtpd_session *s)
{
	struct policy_client client = {
		.addr = (const struct sockaddr *)&s->peer,
		.authenticated = s->auth_user != NULL,
		.listener_requires_auth = s->lst->require_auth,
		.local_submission = s->local != NULL,
	};
	return policy_client_served(s->ctx->cfg, &client);
}

/*
 * Whether s is bound by sender_login, and to which entry (NULL: it owns
 * nothing): an authenticated client by its user, a client of
 * relay_networks without AUTH by the network it comes from, when the file
 * names one. The local socket has its own rule (local_sender_override).
 */
static bool smtpd_submit_bound(const struct smtpd_session *s,
    const struct sender_login_entry **e)
{
	const struct sender_login *m = s->ctx->cfg->sender_login;
	*e = NULL;
	if (m == NULL || s->local != NULL)
		return false;
	if (s->auth_user != NULL) {
		*e = sender_login_user(m, s->auth_user);
		return true;
	}
	if (!smtpd_submit_served(s))
		return false;
	*e = sender_login_client(m, (const struct sockaddr *)&s->peer);
	return *e != NULL;
}

/* "user alice" or "client [192.0.2.0/24]", for replies and logs. */
static const char *smtpd_submit_owner(const struct smtpd_session *s,
    const struct sender_login_entry *e, char *buf, size_t len)
{
	char pr[300];
	if (s->auth_user != NULL)
		snprintf(buf, len, "user %s", log_printable(pr, sizeof(pr), s->auth_user,
		    strlen(s->auth_user)));
	else
		snprintf(buf, len, "client %s", sender_login_key(e));
	return buf;
}

bool smtpd_submit_mail(struct smtpd_session *s, const char *sender)
{
	const struct sender_login_entry *e;
	if (!smtpd_submit_bound(s, &e) || sender_login_owns(e, sender))
		return true;
	char who[400], ps[1100];
	smtpd_submit_owner(s, e, who, sizeof(who));
	log_printable(ps, sizeof(ps), sender, strlen(sender));
	log_msg(LOG_LVL_INFO, "session=%s event=mail from=\"<%s>\" status=refused code=553 dsn=5.7.1 "
	    "client=%s reason=\"sender not owned by %s\"", s->id, ps, s->peer_ip, who);
	smtpd_session_reply(s, 553, "5.7.1", "<%s>: Sender address rejected: not owned by %s", ps,
	    who);
	return false;
}

struct smtpd_submit *smtpd_submit_begin(struct smtpd_session *s)
{
	if (!smtpd_submit_served(s))
		return NULL;
	struct smtpd_submit *m = xcalloc(1, sizeof(*m));
	m->s = s;
	const struct sender_login_entry *e;
	m->check_from = s->ctx->cfg->from_check && smtpd_submit_bound(s, &e);
	if (m->check_from)
		m->bound = e;
	m->add_missing = s->auth_user != NULL || s->local != NULL;
	snprintf(m->queue_id, sizeof(m->queue_id), "%s", s->txn->queue_id);
	return m;
}

/* Refuse the message at its end with 550 5.7.1, naming the From address and its owner. */
static void smtpd_submit_refuse_from(struct smtpd_submit *m, const char *addr, size_t len)
{
	char who[400], pa[600];
	smtpd_submit_owner(m->s, m->bound, who, sizeof(who));
	log_printable(pa, sizeof(pa), addr, len);
	snprintf(m->why, sizeof(m->why), "From header address <%s> rejected: not owned by %s", pa,
	    who);
}

/* The addresses of every From field of hdr[0..len) into l. */
static void smtpd_submit_from_addrs(const char *hdr, size_t len, struct smtp_hdrfield_addrs *l)
{
	struct smtp_hdrfield f;
	size_t pos = 0;
	while (smtp_hdrfield_next(hdr, len, &pos, &f))
		if (smtp_hdrfield_is(&f, "from")) {
			size_t vn;
			char *v = smtp_hdrfield_unfold(&f, &vn);
			smtp_hdrfield_addrs_parse(l, v, vn);
			free(v);
		}
}

/* Whether every From address is owned; the refusal text when not. */
static bool smtpd_submit_from_ok(struct smtpd_submit *m, const struct smtp_hdrfield_addrs *fa)
{
	const struct smtp_hdrfield_addrs l = *fa;
	bool ok = true;
	for (size_t i = 0; i < l.n && ok; i++) {
		/* Compared in the form MAIL FROM addresses take: quoting and case do not matter. */
		struct smtp_addr a;
		char norm[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 2];
		const char *why = NULL;
		ok = smtp_addr_parse_mailbox(l.a[i], strlen(l.a[i]), SMTP_ADDR_UTF8_OK, &a, &why) == 0 &&
		    a.kind == SMTP_ADDR_MAILBOX && smtp_addr_format(&a, norm, sizeof(norm)) > 0 &&
		    sender_login_owns(m->bound, norm);
		if (!ok)
			smtpd_submit_refuse_from(m, l.a[i], strlen(l.a[i]));
	}
	return ok;
}

/*
 * The dkim_sign keys for the domain of the first From address (RFC 6376
 * d= must be that domain or a parent of it for DMARC), in A-labels.
 */
static void smtpd_submit_pick_keys(struct smtpd_submit *m, const struct smtp_hdrfield_addrs *fa)
{
	const struct config *cfg = m->s->ctx->cfg;
	if (cfg->ndkim == 0 || fa->n == 0)
		return;
	const char *at = strrchr(fa->a[0], '@');
	char domain[SMTP_DOMAIN_MAX + 1], ascii[SMTP_DOMAIN_MAX + 1];
	const char *why = NULL;
	if (at == NULL || snprintf(domain, sizeof(domain), "%s", at + 1) >= (int)sizeof(domain))
		return;
	size_t n = strlen(domain);
	if (n > 0 && domain[n - 1] == '>')
		domain[--n] = '\0';
	const char *d = domain;
	if (dns_idna_needed(domain)) {
		if (!dns_idna_to_ascii(domain, ascii, sizeof(ascii), &why))
			return;
		d = ascii;
	}
	char lower[SMTP_DOMAIN_MAX + 1];
	snprintf(lower, sizeof(lower), "%s", d);
	for (char *c = lower; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	m->keys = config_dkim_for(cfg, lower, &m->nkeys);
	if (m->keys != NULL)
		m->body = dkim_body_new();
}

/* Append p[0..n) to the header section being built. */
static void smtpd_submit_out(struct smtpd_submit *m, const char *p, size_t n)
{
	m->out = xrealloc(m->out, m->outlen + n + 1);
	memcpy(m->out + m->outlen, p, n);
	m->outlen += n;
}

/*
 * The header section hdr[0..len) as it is stored (its empty line, when it
 * has one, comes after it), into m->out: Bcc fields left out, Date and
 * Message-ID added at its end when missing and wanted.
 */
static void smtpd_submit_build_header(struct smtpd_submit *m, const char *hdr, size_t len)
{
	bool has_date = false, has_msgid = false;
	struct smtp_hdrfield f;
	size_t pos = 0, from = 0;
	m->out = xmalloc(len + 1);
	m->outlen = 0;
	while (smtp_hdrfield_next(hdr, len, &pos, &f)) {
		has_date = has_date || smtp_hdrfield_is(&f, "date");
		has_msgid = has_msgid || smtp_hdrfield_is(&f, "message-id");
		if (smtp_hdrfield_is(&f, "bcc")) {
			size_t at = (size_t)(f.start - hdr);
			smtpd_submit_out(m, hdr + from, at - from);
			from = pos;
		}
	}
	smtpd_submit_out(m, hdr + from, len - from);
	if (!m->add_missing || (has_date && has_msgid))
		return;
	/* A last field without its line end gets one before the fields added. */
	char add[400];
	size_t k = 0;
	if (m->outlen > 0 && m->out[m->outlen - 1] != '\n')
		k += (size_t)snprintf(add + k, sizeof(add) - k, "\r\n");
	if (!has_date) {
		char date[SMTP_HEADER_DATE_MAX];
		if (smtp_header_date(time(NULL), date, sizeof(date)) > 0)
			k += (size_t)snprintf(add + k, sizeof(add) - k, "Date: %s\r\n", date);
	}
	if (!has_msgid)
		k += (size_t)snprintf(add + k, sizeof(add) - k, "Message-ID: <%s@%s>\r\n", m->queue_id,
		    m->s->ctx->cfg->hostname);
	if (k < sizeof(add))
		smtpd_submit_out(m, add, k);
}

/*
 * The header section ended at hdr[end] (the empty line starts there, or
 * end == len when the text ends without one): check From, write the
 * section, then what followed it.
 */
static int smtpd_submit_release(struct smtpd_submit *m, struct queue_writer *w, size_t end)
{
	m->done = true;
	struct smtp_hdrfield_addrs from = { 0 };
	smtpd_submit_from_addrs(m->hdr, end, &from);
	bool ok = !m->check_from || smtpd_submit_from_ok(m, &from);
	if (ok)
		smtpd_submit_pick_keys(m, &from);
	smtp_hdrfield_addrs_free(&from);
	if (!ok)
		return 0;	/* refused at the end; nothing more is stored */
	smtpd_submit_build_header(m, m->hdr, end);
	if (queue_writer_append(w, m->out, m->outlen) != 0)
		return -1;
	int rc = end < m->len ? queue_writer_append(w, m->hdr + end, m->len - end) : 0;
	/* The body is what follows the empty line. */
	if (m->body != NULL && end + 2 < m->len)
		dkim_body_feed(m->body, m->hdr + end + 2, m->len - end - 2);
	if (m->body == NULL) {
		free(m->out);
		m->out = NULL;
	}
	free(m->hdr);
	m->hdr = NULL;
	m->len = m->cap = 0;
	return rc;
}

/* Where the empty line ending the header starts in hdr[0..len) (CRLF line ends), or 0 with none yet. */
static bool smtpd_submit_header_end(const char *hdr, size_t len, size_t from, size_t *end)
{
	if (len >= 2 && hdr[0] == '\r' && hdr[1] == '\n') {
		*end = 0;
		return true;
	}
	for (size_t i = from; i + 2 < len; i++) {
		const char *nl = memchr(hdr + i, '\n', len - i - 2);
		if (nl == NULL)
			return false;
		i = (size_t)(nl - hdr);
		if (hdr[i + 1] == '\r' && hdr[i + 2] == '\n') {
			*end = i + 1;
			return true;
		}
	}
	return false;
}

int smtpd_submit_append(struct smtpd_submit *m, struct queue_writer *w, const char *p, size_t n)
{
	if (m->done) {
		if (m->why[0] != '\0')
			return 0;
		if (m->body != NULL)
			dkim_body_feed(m->body, p, n);
		return queue_writer_append(w, p, n);
	}
	if (m->too_big)
		return 0;
	if (m->len + n > SMTPD_SUBMIT_HEADER_MAX + 2) {
		m->too_big = true;
		snprintf(m->why, sizeof(m->why), "Message header section exceeds %u octets",
		    SMTPD_SUBMIT_HEADER_MAX);
		return 0;
	}
	if (m->len + n > m->cap) {
		m->cap = m->cap == 0 ? 4096 : m->cap;
		while (m->cap < m->len + n)
			m->cap *= 2;
		m->hdr = xrealloc(m->hdr, m->cap);
	}
	size_t from = m->len > 2 ? m->len - 2 : 0;
	memcpy(m->hdr + m->len, p, n);
	m->len += n;
	size_t end;
	if (!smtpd_submit_header_end(m->hdr, m->len, from, &end))
		return 0;
	return smtpd_submit_release(m, w, end);
}

int smtpd_submit_finish(struct smtpd_submit *m, struct queue_writer *w, struct smtpd_reply *r)
{
	*r = (struct smtpd_reply){ 0, NULL, NULL };
	if (!m->done && !m->too_big && smtpd_submit_release(m, w, m->len) != 0)
		return -1;
	if (m->too_big)
		*r = (struct smtpd_reply){ 552, "5.3.4", m->why };
	else if (m->why[0] != '\0')
		*r = (struct smtpd_reply){ 550, "5.7.1", m->why };
	return 0;
}

/* ---- DKIM signatures, made on a worker ---- */

bool smtpd_submit_signs(const struct smtpd_submit *m)
{
	return m != NULL && m->keys != NULL && m->why[0] == '\0' && m->done;
}

/* On a worker: one signature per key, each over the header as stored (the others not signed). */
static void smtpd_submit_sign_job(void *arg)
{
	struct smtpd_submit *m = arg;
	for (size_t i = 0; i < m->nkeys; i++) {
		const struct cfg_dkim *k = &m->keys[i];
		struct dkim_sign_in in = {
			.key = k->key, .domain = k->domain, .selector = k->selector, .bh = m->bh,
			.header = m->out, .header_len = m->outlen, .now = m->now,
		};
		size_t len = 0;
		char err[200];
		char *field = dkim_sign_field(&in, &len, err, sizeof(err));
		if (field == NULL) {
			snprintf(m->sign_err, sizeof(m->sign_err), "%s/%s: %s", k->domain, k->selector,
			    err);
			continue;
		}
		m->prefix = xrealloc(m->prefix, m->prefix_len + len + 1);
		memcpy(m->prefix + m->prefix_len, field, len);
		m->prefix_len += len;
		free(field);
	}
}

/* Back on the loop: log what was made, hand over. */
static void smtpd_submit_signed(void *arg)
{
	struct smtpd_submit *m = arg;
	const struct smtpd_session *s = m->s;
	for (size_t i = 0; i < m->nkeys && m->prefix != NULL; i++)
		log_msg(LOG_LVL_INFO, "session=%s queue=%s event=dkim-signed domain=%s selector=%s "
		    "algorithm=%s", s->id, m->queue_id, m->keys[i].domain, m->keys[i].selector,
		    dkim_alg_name(dkim_key_alg(m->keys[i].key)));
	if (m->sign_err[0] != '\0')
		log_msg(LOG_LVL_WARN, "session=%s queue=%s event=dkim-not-signed reason=\"%s\"", s->id,
		    m->queue_id, m->sign_err);
	m->signed_cb(m->signed_arg);
}

void smtpd_submit_sign(struct smtpd_submit *m, struct workq *q, void (*done)(void *arg),
    void *arg)
{
	dkim_body_final(m->body, m->bh);
	dkim_body_free(m->body);
	m->body = NULL;
	m->now = (int64_t)time(NULL);
	m->signed_cb = done;
	m->signed_arg = arg;
	/*
	 * An Ed25519 signature costs about 30 us: made here it spares the two
	 * thread switches a worker costs. An RSA one (200 us for 2048 bits,
	 * 1.4 ms for 4096) goes to a worker, where it holds up no session.
	 */
	bool cheap = true;
	for (size_t i = 0; i < m->nkeys; i++)
		cheap = cheap && dkim_key_alg(m->keys[i].key) == DKIM_ALG_ED25519_SHA256;
	if (cheap || q == NULL) {
		smtpd_submit_sign_job(m);
		smtpd_submit_signed(m);
		return;
	}
	workq_run(q, smtpd_submit_sign_job, smtpd_submit_signed, m);
}

const char *smtpd_submit_prefix(const struct smtpd_submit *m, size_t *len)
{
	*len = m != NULL ? m->prefix_len : 0;
	return m != NULL ? m->prefix : NULL;
}

void smtpd_submit_free(struct smtpd_submit *m)
{
	if (m == NULL)
		return;
	free(m->hdr);
	free(m->out);
	dkim_body_free(m->body);
	free(m->prefix);
	free(m);
}
