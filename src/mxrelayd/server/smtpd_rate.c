/*
 * smtpd_rate: the server's rate limits applied (see smtpd_rate.h).
 *
 * When a request counts: a connection when it is accepted; a message when
 * its MAIL is accepted (as Postfix's anvil counts it), after every other
 * check of MAIL; a recipient when its RCPT is accepted, after the address,
 * relay and domain checks, so that a refused recipient never counts and a
 * client over its limit still learns that an address is refused. What a
 * transaction took is given back when it ends without a queued message
 * (RSET, a refused message, a dropped connection): the limits count mail
 * the relay took, and a client that retries a message the relay refused
 * spends nothing on it. A refused request takes nothing.
 */
#include "smtpd_rate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics_mail.h"
#include "smtpd_local.h"
#include "smtpd_session.h"
#include "util/log.h"

/* The metrics name the limits in the table's order. */
_Static_assert((int)METRICS_RATE_NLIMITS == (int)RATELIMIT_NKINDS,
    "metrics_rate_limit and ratelimit_kind name the same limits");

static uint64_t smtpd_rate_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool smtpd_rate_client_key(const struct config *cfg, const struct sockaddr *sa,
    struct smtpd_limit_key *k)
{
	if (sa == NULL || !smtpd_limit_key_of(sa, cfg->client_ipv6_prefix, k))
		return false;
	return !config_networks_match(cfg->rate.exempt, cfg->rate.nexempt, sa);
}

/*
 * The two limits of an event, the client's and the user's: their kinds
 * and rates (the client's from cfg, the user's from its user_rate line or
 * the default). The connection has no user limit (kind RATELIMIT_NKINDS,
 * rate 0).
 */
static void smtpd_rate_limits(const struct config *cfg, enum smtpd_rate_event ev,
    const char *user, enum ratelimit_kind *ck, enum ratelimit_kind *uk, struct cfg_rate *crate,
    struct cfg_rate *urate)
{
	struct cfg_rate m = { 0, 0 }, r = { 0, 0 };
	if (user != NULL && ev != SMTPD_RATE_CONNECTION)
		config_rate_user(cfg, user, &m, &r);
	/* The connection's, and what an unknown event gets: no user limit. */
	*ck = RATELIMIT_CLIENT_CONNECTION;
	*uk = RATELIMIT_NKINDS;
	*crate = cfg->rate.client_connection;
	*urate = (struct cfg_rate){ 0, 0 };
	switch (ev) {
	case SMTPD_RATE_CONNECTION:
		return;
	case SMTPD_RATE_MESSAGE:
		*ck = RATELIMIT_CLIENT_MESSAGE;
		*uk = RATELIMIT_USER_MESSAGE;
		*crate = cfg->rate.client_message;
		*urate = m;
		return;
	case SMTPD_RATE_RECIPIENT:
		*ck = RATELIMIT_CLIENT_RECIPIENT;
		*uk = RATELIMIT_USER_RECIPIENT;
		*crate = cfg->rate.client_recipient;
		*urate = r;
		return;
	}
}

/* A user's key: the name, cut to the longest key (no user name is that long); 0 for none. */
static size_t smtpd_rate_user_len(const char *user)
{
	size_t n = user != NULL ? strlen(user) : 0;
	return n < RATELIMIT_KEY_MAX ? n : RATELIMIT_KEY_MAX;
}

struct smtpd_rate_verdict smtpd_rate_decide(struct ratelimit *t, const struct config *cfg,
    enum smtpd_rate_event ev, const struct sockaddr *sa, const char *user, uint64_t now_ms)
{
	struct smtpd_rate_verdict v = { .ok = true };
	enum ratelimit_kind ck, uk;
	struct cfg_rate crate, urate;
	struct smtpd_limit_key key = { { 0 } };
	smtpd_rate_limits(cfg, ev, user, &ck, &uk, &crate, &urate);
	bool use_client = crate.n != 0 && smtpd_rate_client_key(cfg, sa, &key);
	bool use_user = urate.n != 0 && user != NULL;
	size_t ulen = use_user ? smtpd_rate_user_len(user) : 0;
	uint64_t cw = use_client ? ratelimit_wait(t, ck, key.b, sizeof(key.b), &crate, now_ms) : 0;
	uint64_t uw = use_user ? ratelimit_wait(t, uk, user, ulen, &urate, now_ms) : 0;
	if (cw == 0 && uw == 0) {
		/* Both have room now (one thread, the same time): neither take can fail. */
		v.took_client = use_client && ratelimit_take(t, ck, key.b, sizeof(key.b), &crate, now_ms);
		v.took_user = use_user && ratelimit_take(t, uk, user, ulen, &urate, now_ms);
		return v;
	}
	v.ok = false;
	if (cw >= uw) {
		v.limit = ck;
		v.rate = crate;
		v.retry_ms = cw;
		ratelimit_refused(t, ck, key.b, sizeof(key.b), now_ms);
	} else {
		v.limit = uk;
		v.rate = urate;
		v.retry_ms = uw;
		ratelimit_refused(t, uk, user, ulen, now_ms);
	}
	return v;
}

void smtpd_rate_give(struct ratelimit *t, const struct config *cfg, const struct sockaddr *sa,
    const char *user, const struct smtpd_rate_hold *h, uint64_t now_ms)
{
	struct smtpd_limit_key key;
	if ((h->message_client || h->rcpt_client > 0) && smtpd_limit_key_of(sa,
	    cfg->client_ipv6_prefix, &key)) {
		ratelimit_give(t, RATELIMIT_CLIENT_MESSAGE, key.b, sizeof(key.b),
		    h->message_client ? 1 : 0, now_ms);
		ratelimit_give(t, RATELIMIT_CLIENT_RECIPIENT, key.b, sizeof(key.b), h->rcpt_client,
		    now_ms);
	}
	if ((h->message_user || h->rcpt_user > 0) && user != NULL) {
		size_t ulen = smtpd_rate_user_len(user);
		ratelimit_give(t, RATELIMIT_USER_MESSAGE, user, ulen, h->message_user ? 1 : 0, now_ms);
		ratelimit_give(t, RATELIMIT_USER_RECIPIENT, user, ulen, h->rcpt_user, now_ms);
	}
}

void smtpd_rate_key_text(const struct config *cfg, int kind, const uint8_t *key, size_t keylen,
    char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	if (ratelimit_kind_is_user((enum ratelimit_kind)kind)) {
		log_printable(buf, len, (const char *)key, keylen);
		return;
	}
	if (keylen == sizeof(struct smtpd_limit_key) && key[0] == 4 &&
	    inet_ntop(AF_INET, key + 1, a, sizeof(a)) != NULL)
		snprintf(buf, len, "%s", a);
	else if (keylen == sizeof(struct smtpd_limit_key) && key[0] == 6 &&
	    inet_ntop(AF_INET6, key + 1, a, sizeof(a)) != NULL)
		snprintf(buf, len, "%s/%u", a, cfg->client_ipv6_prefix);
	else
		snprintf(buf, len, "?");
}

/* Whole seconds until the retry, rounded up, at least 1. */
static unsigned smtpd_rate_seconds(uint64_t ms)
{
	uint64_t s = (ms + 999) / 1000;
	return s < 1 ? 1 : s > 999999999 ? 999999999 : (unsigned)s;
}

/* Count a refusal in the metrics, and tell once that the table became full. */
static void smtpd_rate_counted(struct smtpd_ctx *ctx, const struct smtpd_rate_verdict *v)
{
	if (!v->ok && ctx->metrics != NULL)
		metrics_mail_rate_limited(ctx->metrics, (enum metrics_rate_limit)v->limit);
	if (ratelimit_eviction_notice(ctx->rate))
		log_msg(LOG_LVL_WARN, "event=rate-limit-table-full entries=%zu note=\"the rate limit "
		    "table is full of clients and users not yet refilled; the least recently used "
		    "are forgotten from now on (logged once)\"", ratelimit_max_entries(ctx->rate));
}

/* The client's address as text, for a connection not yet a session. */
static void smtpd_rate_peer_text(const struct sockaddr_storage *peer, char *ip, size_t len)
{
	snprintf(ip, len, "?");
	if (peer->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, ip,
		    (socklen_t)len);
	else if (peer->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, ip,
		    (socklen_t)len);
}

bool smtpd_rate_accept(struct smtpd_ctx *ctx, const struct cfg_listener *lst, int fd,
    const struct sockaddr_storage *peer)
{
	const struct config *cfg = ctx->cfg;
	if (ctx->rate == NULL || cfg->rate.client_connection.n == 0)
		return true;
	struct smtpd_rate_verdict v = smtpd_rate_decide(ctx->rate, cfg, SMTPD_RATE_CONNECTION,
	    (const struct sockaddr *)peer, NULL, smtpd_rate_now_ms());
	smtpd_rate_counted(ctx, &v);
	if (v.ok)
		return true;
	char ip[INET6_ADDRSTRLEN], line[512], rate[48];
	unsigned secs = smtpd_rate_seconds(v.retry_ms);
	smtpd_rate_peer_text(peer, ip, sizeof(ip));
	/* As Postfix: the answer instead of the greeting, then the connection closes. */
	int n = snprintf(line, sizeof(line), "421 4.7.0 %s Error: too many connections from %s; "
	    "try again in %u second%s\r\n", cfg->hostname, ip, secs, secs == 1 ? "" : "s");
	if (n > 0)
		(void)send(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	ctx->stats.refused++;
	config_rate_format(&v.rate, "off", rate, sizeof(rate));
	log_msg(LOG_LVL_INFO, "event=rate-limited command=connect client=%s listener=\"%s\" "
	    "limit=%s rate=%s code=421 dsn=4.7.0 retry_in=%u", ip, lst->text,
	    ratelimit_kind_name(v.limit), rate, secs);
	return false;
}

/* The user the session's limits count: the AUTH identity, or the local submitter; or NULL. */
static const char *smtpd_rate_user(const struct smtpd_session *s)
{
	if (s->auth_user != NULL)
		return s->auth_user;
	if (s->local != NULL)
		return s->local->user;
	return NULL;
}

/* Refuse a MAIL or RCPT that v refused: the 452 and its log line. */
static void smtpd_rate_refuse(struct smtpd_session *s, const struct smtpd_rate_verdict *v,
    const char *command, const char *rcpt)
{
	char user[300], prcpt[1100], rate[48], who[320];
	const char *u = smtpd_rate_user(s);
	unsigned secs = smtpd_rate_seconds(v->retry_ms);
	bool message = v->limit == RATELIMIT_CLIENT_MESSAGE || v->limit == RATELIMIT_USER_MESSAGE;
	log_printable(user, sizeof(user), u != NULL ? u : "", u != NULL ? strlen(u) : 0);
	if (ratelimit_kind_is_user(v->limit))
		snprintf(who, sizeof(who), "user %s", user);
	else
		snprintf(who, sizeof(who), "%s", s->peer_ip);
	config_rate_format(&v->rate, "off", rate, sizeof(rate));
	if (rcpt != NULL)
		log_printable(prcpt, sizeof(prcpt), rcpt, strlen(rcpt));
	log_msg(LOG_LVL_INFO, "session=%s event=rate-limited command=%s%s%s%s client=%s%s%s%s "
	    "limit=%s rate=%s code=452 dsn=4.7.0 retry_in=%u", s->id, command,
	    rcpt != NULL ? " to=\"<" : "", rcpt != NULL ? prcpt : "", rcpt != NULL ? ">\"" : "",
	    s->peer_ip, u != NULL ? " user=\"" : "", u != NULL ? user : "", u != NULL ? "\"" : "",
	    ratelimit_kind_name(v->limit), rate, secs);
	/* The relay's decision, not the client's mistake: as a refused recipient, not an error. */
	smtpd_session_refuse(s, 452, "4.7.0", "Error: too many %s from %s; try again in %u second%s",
	    message ? "messages" : "recipients", who, secs, secs == 1 ? "" : "s");
}

bool smtpd_rate_mail(struct smtpd_session *s)
{
	struct smtpd_ctx *ctx = s->ctx;
	if (ctx->rate == NULL)
		return true;
	struct smtpd_rate_verdict v = smtpd_rate_decide(ctx->rate, ctx->cfg, SMTPD_RATE_MESSAGE,
	    (const struct sockaddr *)&s->peer, smtpd_rate_user(s), smtpd_rate_now_ms());
	smtpd_rate_counted(ctx, &v);
	if (!v.ok) {
		smtpd_rate_refuse(s, &v, "MAIL", NULL);
		return false;
	}
	s->rate_hold = (struct smtpd_rate_hold){ .message_client = v.took_client,
		.message_user = v.took_user };
	return true;
}

bool smtpd_rate_rcpt(struct smtpd_session *s, const char *rcpt)
{
	struct smtpd_ctx *ctx = s->ctx;
	if (ctx->rate == NULL)
		return true;
	struct smtpd_rate_verdict v = smtpd_rate_decide(ctx->rate, ctx->cfg, SMTPD_RATE_RECIPIENT,
	    (const struct sockaddr *)&s->peer, smtpd_rate_user(s), smtpd_rate_now_ms());
	smtpd_rate_counted(ctx, &v);
	if (!v.ok) {
		smtpd_rate_refuse(s, &v, "RCPT", rcpt);
		return false;
	}
	s->rate_hold.rcpt_client += v.took_client ? 1 : 0;
	s->rate_hold.rcpt_user += v.took_user ? 1 : 0;
	return true;
}

void smtpd_rate_end(struct smtpd_session *s, bool queued)
{
	struct smtpd_rate_hold h = s->rate_hold;
	s->rate_hold = (struct smtpd_rate_hold){ 0 };
	if (queued || s->ctx->rate == NULL)
		return;
	smtpd_rate_give(s->ctx->rate, s->ctx->cfg, (const struct sockaddr *)&s->peer,
	    smtpd_rate_user(s), &h, smtpd_rate_now_ms());
}
