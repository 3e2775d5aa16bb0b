/*
 * smtpd_listener: listening sockets and the accept loop.
 *
 * Owns: the listening descriptors and their events, the socket options
 * (address reuse, IPv6-only for IPv6 addresses, a large backlog), the
 * connection limits and the connection rate (smtpd_rate) checked at
 * accept, and the pause when the process runs out of descriptors.
 * Never: blocks; never reads from a client.
 */
#include "smtpd_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "smtpd_limit.h"
#include "smtpd_rate.h"
#include "smtpd_session.h"
#include "net/net_listen.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Connections taken per readiness event, so one busy port does not starve the loop. */
#define SMTPD_ACCEPT_BURST 64
/* Pause after running out of descriptors. */
#define SMTPD_ACCEPT_RETRY_MS 250

struct smtpd_listen_sock {
	struct smtpd_listener *owner;
	const struct cfg_listener *cfg;	/* borrowed from the frozen config */
	int fd;				/* owned */
	struct event *ev;		/* owned */
	struct event *retry;		/* owned; re-arms after EMFILE */
};

struct smtpd_listener {
	struct smtpd_ctx *ctx;		/* borrowed, set by start */
	struct smtpd_listen_sock *socks;/* owned array */
	size_t nsocks;
};

int smtpd_listener_bind_one(const struct cfg_listener *lc, char *err, size_t errlen)
{
	/* Bound now (the port may need root); listen() waits for smtpd_listener_start. */
	return net_listen_bind(&lc->addr, lc->addrlen, lc->text, err, errlen);
}

struct smtpd_listener *smtpd_listener_bind(const struct config *cfg, char *err, size_t errlen)
{
	struct smtpd_listener *l = xcalloc(1, sizeof(*l));
	l->socks = xcalloc(cfg->nlisteners > 0 ? cfg->nlisteners : 1, sizeof(*l->socks));
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		int fd = smtpd_listener_bind_one(&cfg->listeners[i], err, errlen);
		if (fd < 0) {
			smtpd_listener_free(l);
			return NULL;
		}
		l->socks[l->nsocks].owner = l;
		l->socks[l->nsocks].cfg = &cfg->listeners[i];
		l->socks[l->nsocks].fd = fd;
		l->nsocks++;
	}
	return l;
}

/* Turn a connection away with one line, without waiting for it. */
static void smtpd_listener_refuse(struct smtpd_ctx *ctx, const struct smtpd_listen_sock *ls, int fd,
    const struct sockaddr_storage *peer, const char *why)
{
	char line[320];
	int n = snprintf(line, sizeof(line), "421 4.7.0 %s Too many connections\r\n",
	    ctx->cfg->hostname);
	if (n > 0)
		(void)send(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	ctx->stats.refused++;
	close(fd);
	char ip[INET6_ADDRSTRLEN] = "?";
	if (peer->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)peer)->sin_addr, ip, sizeof(ip));
	else if (peer->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr, ip, sizeof(ip));
	log_msg(LOG_LVL_WARN, "event=refused client=%s listener=\"%s\" code=421 dsn=4.7.0 reason=\"%s\"",
	    ip, ls->cfg->text, why);
}

static void smtpd_listener_retry(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_listen_sock *ls = arg;
	(void)fd;
	(void)what;
	if (ls->ev != NULL)
		event_add(ls->ev, NULL);
}

/* The socket is readable: take the waiting connections. */
static void smtpd_listener_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct smtpd_listen_sock *ls = arg;
	struct smtpd_ctx *ctx = ls->owner->ctx;
	(void)what;
	for (int i = 0; i < SMTPD_ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4((int)lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				struct timeval tv = { 0, SMTPD_ACCEPT_RETRY_MS * 1000 };
				warnx_log("event=accept-paused listener=\"%s\" error=\"%s\"", ls->cfg->text,
				    strerror(errno));
				event_del(ls->ev);
				evtimer_add(ls->retry, &tv);
			}
			return;
		}
		if (ctx->stopping) {
			close(fd);
			continue;
		}
		enum smtpd_limit_verdict v = smtpd_limit_acquire(ctx->limit, (struct sockaddr *)&ss);
		if (v != SMTPD_LIMIT_OK) {
			smtpd_listener_refuse(ctx, ls, fd, &ss, v == SMTPD_LIMIT_TOTAL ?
			    "max_connections" : "max_connections_per_ip");
			continue;
		}
		if (!smtpd_rate_accept(ctx, ls->cfg, fd, &ss)) {
			smtpd_limit_release(ctx->limit, (struct sockaddr *)&ss);
			continue;
		}
		(void)smtpd_session_new(ctx, ls->cfg, fd, (struct sockaddr *)&ss, sl);
	}
}

/* Accept on one bound socket: listen (a no-op when it listens already) and arm its events. */
static void smtpd_listener_arm(struct smtpd_listen_sock *ls, struct smtpd_ctx *ctx)
{
	/*
	 * Only now does the kernel take connections: until the queue,
	 * TLS and the scheduler are ready a client is refused at once
	 * rather than left waiting in the backlog.
	 */
	if (listen(ls->fd, SMTPD_LISTEN_BACKLOG) != 0)
		fatal("event=start-failed reason=\"listen %s: %s\"", ls->cfg->text, strerror(errno));
	ls->ev = event_new(ctx->base, ls->fd, EV_READ | EV_PERSIST, smtpd_listener_accept, ls);
	ls->retry = evtimer_new(ctx->base, smtpd_listener_retry, ls);
	if (ls->ev == NULL || ls->retry == NULL)
		fatal("smtpd_listener: out of memory creating events");
	event_add(ls->ev, NULL);
}

void smtpd_listener_start(struct smtpd_listener *l, struct smtpd_ctx *ctx)
{
	l->ctx = ctx;
	for (size_t i = 0; i < l->nsocks; i++) {
		struct smtpd_listen_sock *ls = &l->socks[i];
		smtpd_listener_arm(ls, ctx);
		log_msg(LOG_LVL_INFO, "event=listening listener=\"%s\" mode=%s", ls->cfg->text,
		    config_listen_mode_name(ls->cfg->mode));
	}
}

bool smtpd_listener_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

size_t smtpd_listener_count(const struct smtpd_listener *l)
{
	return l->nsocks;
}

const struct cfg_listener *smtpd_listener_at(const struct smtpd_listener *l, size_t i)
{
	return i < l->nsocks ? l->socks[i].cfg : NULL;
}

/* The index of the socket bound to addr, or -1. */
static ssize_t smtpd_listener_find(const struct smtpd_listener *l, const struct sockaddr_storage *addr)
{
	for (size_t i = 0; i < l->nsocks; i++)
		if (l->socks[i].fd >= 0 && smtpd_listener_addr_equal(&l->socks[i].cfg->addr, addr))
			return (ssize_t)i;
	return -1;
}

/* Stop accepting on one socket; close it unless keep_fd. */
static void smtpd_listener_sock_end(struct smtpd_listen_sock *ls, bool keep_fd)
{
	if (ls->ev != NULL)
		event_free(ls->ev);
	if (ls->retry != NULL)
		event_free(ls->retry);
	ls->ev = ls->retry = NULL;
	if (!keep_fd && ls->fd >= 0)
		close(ls->fd);
	ls->fd = -1;
}

struct smtpd_listener *smtpd_listener_replace(struct smtpd_listener *old, const struct config *cfg,
    int *fds, struct smtpd_ctx *ctx)
{
	struct smtpd_listener *l = xcalloc(1, sizeof(*l));
	l->ctx = ctx;
	l->socks = xcalloc(cfg->nlisteners > 0 ? cfg->nlisteners : 1, sizeof(*l->socks));
	bool *kept = xcalloc(old->nsocks > 0 ? old->nsocks : 1, sizeof(bool));
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct cfg_listener *lc = &cfg->listeners[i];
		struct smtpd_listen_sock *ls = &l->socks[l->nsocks];
		ssize_t k = smtpd_listener_find(old, &lc->addr);
		if (k >= 0 && !kept[k]) {
			/*
			 * The same bound socket goes on listening: its backlog
			 * holds whoever connects meanwhile, so nobody is refused.
			 */
			kept[k] = true;
			ls->fd = old->socks[k].fd;
			smtpd_listener_sock_end(&old->socks[k], true);
			if (fds[i] >= 0)
				close(fds[i]);
		} else if (fds[i] >= 0) {
			ls->fd = fds[i];
			log_msg(LOG_LVL_INFO, "event=listening listener=\"%s\" mode=%s reload=added",
			    lc->text, config_listen_mode_name(lc->mode));
		} else {
			log_msg(LOG_LVL_WARN, "event=listener-missing listener=\"%s\" "
			    "reason=\"no socket bound for it\"", lc->text);
			continue;
		}
		fds[i] = -1;
		ls->owner = l;
		ls->cfg = lc;
		l->nsocks++;
		smtpd_listener_arm(ls, ctx);
	}
	for (size_t k = 0; k < old->nsocks; k++) {
		if (!kept[k] && old->socks[k].fd >= 0)
			log_msg(LOG_LVL_INFO, "event=listener-closed listener=\"%s\" reload=removed",
			    old->socks[k].cfg->text);
		smtpd_listener_sock_end(&old->socks[k], kept[k]);
	}
	free(kept);
	smtpd_listener_free(old);
	return l;
}

void smtpd_listener_stop(struct smtpd_listener *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nsocks; i++) {
		struct smtpd_listen_sock *ls = &l->socks[i];
		if (ls->ev != NULL) {
			event_free(ls->ev);
			ls->ev = NULL;
		}
		if (ls->retry != NULL) {
			event_free(ls->retry);
			ls->retry = NULL;
		}
		if (ls->fd >= 0) {
			close(ls->fd);
			ls->fd = -1;
		}
	}
}

void smtpd_listener_free(struct smtpd_listener *l)
{
	if (l == NULL)
		return;
	smtpd_listener_stop(l);
	free(l->socks);
	free(l);
}
