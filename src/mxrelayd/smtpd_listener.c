/*
 * smtpd_listener: listening sockets and the accept loop.
 *
 * Owns: the listening descriptors and their events, the socket options
 * (address reuse, IPv6-only for IPv6 addresses, a large backlog), the
 * connection limits checked at accept, and the pause when the process
 * runs out of descriptors. Never: blocks; never reads from a client.
 */
#include "mxrelayd/smtpd_listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "mxrelayd/smtpd_limit.h"
#include "mxrelayd/smtpd_session.h"
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

/* Bind one listener; -1 with err. */
static int smtpd_listener_open(const struct cfg_listener *lc, char *err, size_t errlen)
{
	int fd = socket(lc->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s: socket: %s", lc->text, strerror(errno));
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lc->addr.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Bound now (the port may need root); listen() waits for smtpd_listener_start. */
	if (bind(fd, (const struct sockaddr *)&lc->addr, lc->addrlen) != 0) {
		snprintf(err, errlen, "listen %s: %s", lc->text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct smtpd_listener *smtpd_listener_bind(const struct config *cfg, char *err, size_t errlen)
{
	struct smtpd_listener *l = xcalloc(1, sizeof(*l));
	l->socks = xcalloc(cfg->nlisteners > 0 ? cfg->nlisteners : 1, sizeof(*l->socks));
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		int fd = smtpd_listener_open(&cfg->listeners[i], err, errlen);
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
		(void)smtpd_session_new(ctx, ls->cfg, fd, (struct sockaddr *)&ss, sl);
	}
}

void smtpd_listener_start(struct smtpd_listener *l, struct smtpd_ctx *ctx)
{
	l->ctx = ctx;
	for (size_t i = 0; i < l->nsocks; i++) {
		struct smtpd_listen_sock *ls = &l->socks[i];
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
		log_msg(LOG_LVL_INFO, "event=listening listener=\"%s\" mode=%s", ls->cfg->text,
		    ls->cfg->mode == CFG_LISTEN_RELAY ? "relay" :
		    ls->cfg->mode == CFG_LISTEN_SUBMISSION ? "submission" : "smtps");
	}
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
