/*
 * client_session_tls: the TLS half of an outbound session, held to the
 * host's plan (client_tlspol): STARTTLS or implicit TLS, the judgement of
 * the handshake (DANE, MTA-STS, PKIX with names, or nothing to check),
 * the REQUIRETLS promise before each transaction, and what TLS reporting
 * (RFC 8460) is told of the attempt.
 *
 * Owns: when STARTTLS is sent, what a missing or refused STARTTLS and a
 * failed handshake or verification mean under the plan (4.7.5 and the
 * next host, or clear text where the plan allows it), what authenticated
 * the server (tls_auth), and the one report per attempt.
 * Never: sends anything but STARTTLS and QUIT before the plan is met;
 * calls SSL_* itself (net_conn does).
 */
#include "client_observer.h"
#include "client_session.h"
#include "client_session_int.h"
#include "client_txn.h"

#include <stdio.h>
#include <string.h>

#include "net/net_conn.h"
#include "util/log.h"

/* The policy's name as the texts say it: "dane", "mta-sts", "verify", ... */
static const char *cst_policy(const struct client_session *s)
{
	return s->plan.testing ? "mta-sts testing" : mxr_tls_policy_name(s->plan.applied);
}

/* Whether a clear-text session is acceptable under the plan. */
static bool cst_plain_ok(const struct client_session *s)
{
	return s->plan.need == CLIENT_TLS_NONE || s->plan.need == CLIENT_TLS_MAY;
}

/* One report of this attempt to the observer (MX delivery only). */
static void cst_report(struct client_session *s, const char *result_type, const char *detail)
{
	if (s->cfg.report_domain == NULL || s->reported)
		return;
	s->reported = true;
	struct mxr_tls_report r = {
		.policy_domain = s->cfg.report_domain,
		.policy = s->plan.report,
		.policy_text = s->plan.report_text,
		.mx_host = s->cfg.mx_host,
		.mx_ip = s->ip,
		.mx_helo = s->peer_helo[0] != '\0' ? s->peer_helo : NULL,
		.source_ip = s->conn != NULL ? net_conn_local_ip(s->conn) : NULL,
		.result_type = result_type,
		.detail = detail,
	};
	client_observer_tls_report(s->cfg.observer, &r);
}

/* The server offers no STARTTLS (or refused it): plain, or the next host. */
static bool cst_no_tls(struct client_session *s, const char *why)
{
	struct client_outcome o;
	cst_report(s, "starttls-not-supported", why);
	if (cst_plain_ok(s))
		return false;
	client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, "4.7.5",
	    "TLS required by policy %s but %s %s", cst_policy(s), s->cfg.mx_host, why);
	client_session_fail_quit(s, &o);
	return true;
}

bool client_session_tls_after_helo(struct client_session *s)
{
	if (s->plan.need == CLIENT_TLS_NONE || s->plan.implicit || s->tls_on || s->tls_tried)
		return false;
	if (!s->caps.starttls)
		return cst_no_tls(s, "does not offer STARTTLS");
	s->tls_tried = true;
	s->last_cmd = "STARTTLS";
	if (client_session_send(s, false, "STARTTLS"))
		client_session_wait(s, CS_STARTTLS, MXR_STAGE_TLS, s->cfg.to->tls, "reply to STARTTLS");
	return true;
}

/* What the connection is checked against, from the plan. */
static void cst_peer(const struct client_session *s, struct net_tls_peer *peer,
    const char **names)
{
	const struct client_tlsplan *p = &s->plan;
	for (size_t i = 0; i < p->nnames; i++)
		names[i] = p->names[i];
	*peer = (struct net_tls_peer){
		.sni = p->dane ? p->tlsa_base : s->cfg.mx_host,
		.names = p->nnames > 0 ? names : NULL,
		.nnames = p->nnames,
		.tlsa = p->dane ? p->tlsa : NULL,
		.ntlsa = p->dane ? p->ntlsa : 0,
		.tlsa_base = p->dane ? p->tlsa_base : NULL,
	};
}

int client_session_tls_implicit(struct client_session *s)
{
	struct net_tls_peer peer;
	const char *names[CLIENT_TLSPOL_NAMES_MAX];
	cst_peer(s, &peer, names);
	return s->cfg.tls_ctx != NULL ?
	    net_conn_set_implicit_tls_peer(s->conn, s->cfg.tls_ctx, &peer) : -1;
}

void client_session_tls_on_reply(struct client_session *s)
{
	struct client_outcome o;
	int code = s->reply.code;
	if (code == 220) {
		struct net_tls_peer peer;
		const char *names[CLIENT_TLSPOL_NAMES_MAX];
		cst_peer(s, &peer, names);
		if (s->cfg.tls_ctx != NULL &&
		    net_conn_starttls_peer(s->conn, s->cfg.tls_ctx, &peer) == 0) {
			client_session_wait(s, CS_TLS, MXR_STAGE_TLS, s->cfg.to->tls, "TLS handshake");
			return;
		}
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0,
		    cst_plain_ok(s) ? "4.7.0" : "4.7.5", "cannot start TLS with %s: %s",
		    s->cfg.mx_host, net_conn_error(s->conn));
		client_session_fail_close(s, &o);
		return;
	}
	char why[80];
	snprintf(why, sizeof(why), "refused STARTTLS with %d", code);
	if (!cst_plain_ok(s)) {
		client_session_outcome_reply(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS);
		char t[sizeof(o.text) - 80];
		snprintf(t, sizeof(t), "%.*s", (int)sizeof(t) - 1, o.text);
		snprintf(o.text, sizeof(o.text), "TLS required by policy %.20s but STARTTLS refused: %s",
		    cst_policy(s), t);
		snprintf(o.esc, sizeof(o.esc), "4.7.5");
		cst_report(s, "starttls-not-supported", why);
		client_session_fail_quit(s, &o);
		return;
	}
	cst_report(s, "starttls-not-supported", why);
	client_session_outcome_reply(s, &o, MXR_PENDING, MXR_STAGE_TLS);
	client_txn_progress_all(s, &o);
	log_msg(LOG_LVL_INFO,
	    "session=%s%s mx=%s ip=%s tls=refused code=%d note=\"continuing without TLS\"",
	    s->id, client_msg_log_tag(s->cfg.msg), s->cfg.mx_host, s->ip, code);
	client_session_after_tls(s);
}

/* What the handshake proved, against what the plan asked. */
static bool cst_judge(struct client_session *s, const char **result_type)
{
	enum net_tls_auth a = net_conn_tls_auth(s->conn);
	*result_type = NULL;
	if (s->plan.dane) {
		if (a == NET_TLS_AUTH_DANE_TA || a == NET_TLS_AUTH_DANE_EE) {
			s->tls_auth = MXR_TLS_AUTH_DANE;
			return true;
		}
	} else if (s->plan.check_pkix) {
		if (a == NET_TLS_AUTH_PKIX) {
			s->tls_auth = s->plan.success_auth;
			return true;
		}
	} else {
		/* Nothing to check: encrypted, not authenticated. */
		s->tls_auth = MXR_TLS_AUTH_NONE;
		return true;
	}
	s->tls_auth = MXR_TLS_AUTH_NONE;
	enum net_tls_fail f = net_conn_tls_fail(s->conn);
	*result_type = f != NET_TLS_FAIL_NONE ? net_tls_fail_name(f) : "validation-failure";
	return false;
}

/* An MTA-STS testing policy that does not list the host: what enforce would refuse. */
static bool cst_unlisted(struct client_session *s, const char **result_type, char *detail,
    size_t len)
{
	if (!s->plan.unlisted)
		return false;
	*result_type = "validation-failure";
	snprintf(detail, len, "MX host %s is not among the MX hosts of the policy", s->cfg.mx_host);
	return true;
}

bool client_session_tls_done(struct client_session *s)
{
	const char *result_type;
	bool ok = cst_judge(s, &result_type);
	const char *vt = net_conn_tls_verify_text(s->conn);
	char detail[300];
	snprintf(detail, sizeof(detail), "%s", vt != NULL && vt[0] != '\0' ? vt : "not verified");
	if (!ok && !s->plan.testing && s->plan.need == CLIENT_TLS_AUTH) {
		struct client_outcome o;
		cst_report(s, result_type, detail);
		client_session_outcome_text(s, &o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, "4.7.5",
		    "TLS policy %s: %s of %s (%s)", cst_policy(s),
		    s->plan.dane ? "certificate does not match the TLSA records" :
		    "certificate did not verify", s->cfg.mx_host, detail);
		/* Nothing more is said to a server that could not prove who it is. */
		client_session_fail_close(s, &o);
		return false;
	}
	/* Under testing a failure is only reported (RFC 8461 5); delivery goes on. */
	if (ok && cst_unlisted(s, &result_type, detail, sizeof(detail)))
		ok = false;
	cst_report(s, ok ? NULL : result_type, ok ? NULL : detail);
	s->tls_on = true;
	s->tls_verified = net_conn_tls_verified(s->conn);
	/* Borrowed from the domain that made the plan: not needed after the handshake. */
	s->plan.tlsa = NULL;
	s->plan.ntlsa = 0;
	s->plan.report_text = NULL;
	struct client_outcome o;
	const char *v = net_conn_tls_version(s->conn);
	const char *c = net_conn_tls_cipher(s->conn);
	client_observer_tls(s->cfg.observer, v);
	client_session_outcome_text(s, &o, MXR_PENDING, MXR_STAGE_TLS, 0, "", "%s %s policy=%s auth=%s%s",
	    v != NULL ? v : "TLS", c != NULL ? c : "", cst_policy(s), mxr_tls_auth_name(s->tls_auth),
	    !ok ? " (would fail: testing)" : "");
	client_txn_progress_all(s, &o);
	log_msg(LOG_LVL_INFO, "session=%s%s mx=%s ip=%s tls=%s cipher=%s tls_policy=%s tls_auth=%s%s%s",
	    s->id, client_msg_log_tag(s->cfg.msg), s->cfg.mx_host, s->ip, v != NULL ? v : "-",
	    c != NULL ? c : "-", s->plan.testing ? "mta-sts-testing" : mxr_tls_policy_name(s->plan.applied),
	    mxr_tls_auth_name(s->tls_auth), ok ? "" : " verify_failed=", ok ? "" : result_type);
	return true;
}

/* Whether a failed handshake may be followed by the same address in clear text. */
bool client_session_tls_may_fall_back(const struct client_session *s)
{
	return s->plan.need == CLIENT_TLS_MAY && !s->plan.requiretls && s->cfg.auth_user == NULL;
}

/* The failure text of a handshake that did not finish. */
void client_session_tls_failed(struct client_session *s, struct client_outcome *o,
    const char *err)
{
	bool required = !cst_plain_ok(s) || s->plan.implicit;
	client_session_outcome_text(s, o, MXR_TEMPFAIL, MXR_STAGE_TLS, 0, required ? "4.7.5" : "4.7.0",
	    "%sTLS handshake with %s failed: %s", required ? "TLS required but " : "",
	    s->cfg.mx_host, err);
	cst_report(s, "validation-failure", err);
}

bool client_session_requiretls_ok(struct client_session *s)
{
	const struct client_msg *m = s->cfg.msg;
	if (m == NULL || !m->requiretls_strict)
		return true;
	struct client_outcome o;
	if (s->tls_on && s->tls_auth != MXR_TLS_AUTH_NONE && s->plan.requiretls &&
	    s->caps.requiretls)
		return true;
	/* RFC 8689 4.2.1: a server that cannot keep the promise never gets the message. */
	client_session_outcome_text(s, &o, MXR_PERMFAIL, MXR_STAGE_MAIL, 0, "5.7.10",
	    "REQUIRETLS: %s %s", s->cfg.mx_host, !s->tls_on || s->tls_auth == MXR_TLS_AUTH_NONE ?
	    "is not reached over authenticated TLS" : "does not offer REQUIRETLS");
	client_session_fail_host(s, &o);
	return false;
}
