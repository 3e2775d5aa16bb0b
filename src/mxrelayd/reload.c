/*
 * reload: a new configuration while the daemon runs (see reload.h).
 *
 * Owns: the generations (the current one and those retired but still
 * used), the helper's socket and its event, the frame being received
 * with the descriptors that came with it, the requests waiting for an
 * answer, and building and swapping in a generation. Never: reads the
 * disk for the configuration or what it names; never acts on a frame
 * that did not decode; never swaps in a configuration that failed a check.
 */
#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns/dns_mx.h"
#include "policy/auth_db.h"
#include "config/config.h"
#include "reload_frame.h"
#include "delivery/sched.h"
#include "server/server.h"
#include "net/net_tls.h"
#include "util/file.h"
#include "util/log.h"
#include "util/xalloc.h"

/*
 * How long the helper may take to answer: it reads a few local files and
 * binds sockets, so past this it is stuck (a hung network file system).
 */
#define RELOAD_ANSWER_TIMEOUT_S 60
/* How often retired generations are looked at for their last session. */
#define RELOAD_RETIRE_POLL_S 1

/* What sessions started under one configuration read. */
struct reload_gen {
	struct smtpd_ctx ctx;		/* sessions point here; its cfg/tls/auth/dns are this gen's */
	struct config *cfg;		/* owned */
	SSL_CTX *tls;			/* owned, or NULL */
	struct auth_db *auth;		/* owned, or NULL */
	struct dns_resolver *dns;	/* owned, or NULL */
	struct reload_gen *next;	/* the retired list */
};

/* One caller waiting for a reload's outcome. */
struct reload_waiter {
	void (*done)(void *arg, bool ok, const char *text);
	void *arg;
	struct reload_waiter *next;
};

struct reload {
	struct event_base *base;
	struct reload_gen *cur;		/* owned */
	struct reload_gen *retired;	/* owned: generations that sessions still use */
	struct smtpd_listener *listeners;/* owned */
	struct sched *sched;		/* not owned */
	void (*applied)(void *arg, const struct config *cfg);	/* a new generation is in force */
	void *applied_arg;
	struct smtpd_stats gone;	/* counters of generations already freed */
	int fd;				/* the helper's socket, or -1; owned */
	pid_t pid;
	struct event *ev;		/* owned: the helper's answer is readable */
	struct event *retire_ev;	/* owned: looks at retired generations */
	uint8_t *in;			/* owned: the answer so far */
	size_t inlen, incap;
	int fds[RELOAD_FRAME_MAX_LISTENERS];	/* owned: descriptors received with it */
	size_t nfds;
	bool busy;			/* a request is with the helper */
	struct reload_waiter *waiting;	/* owned: told when the answer comes */
	struct reload_waiter *next_round;/* owned: asked while busy, for the next request */
	bool again;			/* a request came while busy */
	bool stopping;
	bool debug;			/* -d: the log level is not the file's */
	struct event *answer_timeout;	/* owned: the helper took too long */
};

static void reload_gen_free(struct reload_gen *g)
{
	if (g == NULL)
		return;
	dns_resolver_free(g->dns);
	auth_db_free(g->auth);
	net_tls_ctx_free(g->tls);
	config_free(g->cfg);
	free(g);
}

static void reload_stats_add(struct smtpd_stats *to, const struct smtpd_stats *s)
{
	to->connections += s->connections;
	to->refused += s->refused;
	to->messages += s->messages;
	to->recipients += s->recipients;
	to->rejected += s->rejected;
}

/* Free the retired generations nothing uses any more. */
static void reload_reap(struct reload *r)
{
	struct reload_gen **pp = &r->retired;
	while (*pp != NULL) {
		struct reload_gen *g = *pp;
		if (g->ctx.nalive == 0 && g->ctx.nsessions == 0 && g->ctx.auth_jobs == 0) {
			*pp = g->next;
			reload_stats_add(&r->gone, &g->ctx.stats);
			log_msg(LOG_LVL_INFO, "event=config-retired config=\"%s\"", g->cfg->path);
			reload_gen_free(g);
		} else {
			pp = &g->next;
		}
	}
	if (r->retired != NULL) {
		struct timeval tv = { RELOAD_RETIRE_POLL_S, 0 };
		evtimer_add(r->retire_ev, &tv);
	}
}

static void reload_on_retire_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reload_reap(arg);
}

static void reload_on_readable(evutil_socket_t fd, short what, void *arg);
static void reload_on_answer_timeout(evutil_socket_t fd, short what, void *arg);

struct reload *reload_new(const struct smtpd_ctx *ctx, struct config *cfg, int helper_fd,
    pid_t helper_pid, struct sched *sched, bool debug)
{
	struct reload *r = xcalloc(1, sizeof(*r));
	r->base = ctx->base;
	r->debug = debug;
	r->sched = sched;
	r->cur = xcalloc(1, sizeof(*r->cur));
	r->cur->ctx = *ctx;
	r->cur->cfg = cfg;
	r->cur->tls = ctx->tls;
	r->cur->auth = ctx->auth;
	r->cur->dns = ctx->dns;
	r->listeners = ctx->listeners;
	r->fd = helper_fd;
	r->pid = helper_pid;
	r->retire_ev = evtimer_new(r->base, reload_on_retire_poll, r);
	r->answer_timeout = evtimer_new(r->base, reload_on_answer_timeout, r);
	if (r->retire_ev == NULL || r->answer_timeout == NULL)
		fatal("event=start-failed reason=\"reload: cannot create events\"");
	if (helper_fd >= 0) {
		evutil_make_socket_nonblocking(helper_fd);
		r->ev = event_new(r->base, helper_fd, EV_READ | EV_PERSIST, reload_on_readable, r);
		if (r->ev == NULL)
			fatal("event=start-failed reason=\"reload: cannot create events\"");
		event_add(r->ev, NULL);
	}
	return r;
}

struct smtpd_ctx *reload_ctx(struct reload *r)
{
	return &r->cur->ctx;
}

/* Tell every waiter of the request that ended, one log line per error. */
static void reload_finish(struct reload *r, bool ok, const char *text)
{
	if (ok) {
		log_msg(LOG_LVL_INFO, "event=reloaded %s", text);
	} else {
		/* Each error on its own line, as check-config prints them. */
		const char *p = text;
		while (*p != '\0') {
			const char *nl = strchr(p, '\n');
			size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
			char safe[1200];
			log_printable(safe, sizeof(safe), p, n);
			if (n > 0)
				log_msg(LOG_LVL_ERR, "event=reload-refused error=\"%s\" "
				    "note=\"the running configuration stays\"", safe);
			p += n;
			if (*p == '\n')
				p++;
		}
	}
	struct reload_waiter *w = r->waiting;
	r->waiting = NULL;
	r->busy = false;
	evtimer_del(r->answer_timeout);
	while (w != NULL) {
		struct reload_waiter *next = w->next;
		if (w->done != NULL)
			w->done(w->arg, ok, text);
		free(w);
		w = next;
	}
}

/* Send a request with the addresses the daemon listens on now. */
static void reload_send(struct reload *r)
{
	struct sockaddr_storage have[RELOAD_FRAME_MAX_LISTENERS];
	size_t n = 0;
	for (size_t i = 0; i < smtpd_listener_count(r->listeners) && n < RELOAD_FRAME_MAX_LISTENERS; i++)
		have[n++] = smtpd_listener_at(r->listeners, i)->addr;
	struct reload_frame_buf b = { 0 };
	bool sent = reload_frame_encode_request(&b, have, n) == 0;
	/* A request is small: the socket buffer takes it whole or the helper is stuck. */
	if (sent && send(r->fd, b.p, b.len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)b.len)
		sent = false;
	reload_frame_buf_free(&b);
	r->busy = true;
	r->inlen = 0;
	struct timeval tv = { RELOAD_ANSWER_TIMEOUT_S, 0 };
	evtimer_add(r->answer_timeout, &tv);
	if (!sent)
		reload_finish(r, false, "cannot ask the privileged helper: restart the daemon to load "
		    "a new configuration");
}

void reload_request(struct reload *r, const char *by, void (*done)(void *arg, bool ok,
    const char *text), void *arg)
{
	log_msg(LOG_LVL_INFO, "event=reload-requested by=%s", by);
	struct reload_waiter *w = xcalloc(1, sizeof(*w));
	w->done = done;
	w->arg = arg;
	if (r->stopping || r->fd < 0) {
		r->waiting = w;
		reload_finish(r, false, r->stopping ? "the daemon is stopping" :
		    "no privileged helper (it exited): restart the daemon to load a new configuration");
		return;
	}
	if (r->busy) {
		/* The file may have changed since the request in flight read it: ask again after. */
		w->next = r->next_round;
		r->next_round = w;
		r->again = true;
		return;
	}
	w->next = r->waiting;
	r->waiting = w;
	reload_send(r);
}

/* What cannot change without a restart: a refusal text, or NULL. */
static const char *reload_fixed_changed(const struct config *old, const struct config *c,
    char *buf, size_t len)
{
	const char *key = NULL;
	if (strcmp(old->queue_dir, c->queue_dir) != 0)
		key = "queue_dir";
	else if (old->queue_backend != c->queue_backend)
		key = "queue_backend";
	else if ((old->queue_dsn == NULL) != (c->queue_dsn == NULL) ||
	    (old->queue_dsn != NULL && strcmp(old->queue_dsn, c->queue_dsn) != 0))
		key = "queue_dsn";
	else if (strcmp(old->node_id, c->node_id) != 0)
		key = "node_id";
	else if (old->queue_lease_time != c->queue_lease_time)
		key = "queue_lease_time";
	else if ((old->user == NULL) != (c->user == NULL) ||
	    (old->user != NULL && strcmp(old->user, c->user) != 0))
		key = "user";
	else if (strcmp(old->control_socket, c->control_socket) != 0)
		key = "control_socket";
	else if (old->client_ipv6_prefix != c->client_ipv6_prefix)
		key = "client_ipv6_prefix";
	else if ((old->local_socket == NULL) != (c->local_socket == NULL) ||
	    (old->local_socket != NULL && strcmp(old->local_socket, c->local_socket) != 0))
		key = "local_socket";
	if (key == NULL)
		return NULL;
	snprintf(buf, len, "%s: %s cannot change while the daemon runs: restart it", c->path, key);
	return buf;
}

/* Build a generation from a checked answer and swap it in; NULL, or the refusal. */
static const char *reload_apply(struct reload *r, struct reload_msg *m, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	if (config_load_text_files(m->config_name, m->config_text, m->config_len, m->files, &cfg,
	    err, errlen) != 0)
		return err;
	const char *why = reload_fixed_changed(r->cur->cfg, cfg, err, errlen);
	if (why != NULL) {
		config_free(cfg);
		return why;
	}
	struct reload_gen *g = xcalloc(1, sizeof(*g));
	g->cfg = cfg;
	size_t clen = 0, klen = 0;
	char ferr[512];
	if (cfg->tls_cert != NULL) {
		const char *cert = file_set_get(m->files, cfg->tls_cert, CFG_NAMED_FILE_MAX, &clen, ferr,
		    sizeof(ferr));
		const char *key = file_set_get(m->files, cfg->tls_key, CFG_NAMED_FILE_MAX, &klen, ferr,
		    sizeof(ferr));
		const char *terr = ferr;
		if (cert != NULL && key != NULL)
			g->tls = net_tls_server_ctx_pem(cert, clen, key, klen, cfg->tls_cert, cfg->tls_key,
			    NULL, &terr);
		if (g->tls == NULL) {
			snprintf(err, errlen, "%s: tls_cert: %s", cfg->path, terr);
			reload_gen_free(g);
			return err;
		}
		if (cfg->tls_warning != NULL)
			log_msg(LOG_LVL_WARN, "event=tls-certificate reason=\"%s\"", cfg->tls_warning);
	}
	if (cfg->auth_file != NULL) {
		const char *users = file_set_get(m->files, cfg->auth_file, CFG_NAMED_FILE_MAX, &clen,
		    ferr, sizeof(ferr));
		if (users == NULL) {
			snprintf(err, errlen, "%s: auth_file: %s", cfg->path, ferr);
			reload_gen_free(g);
			return err;
		}
		if ((g->auth = auth_db_load_text(cfg->auth_file, users, clen, err, errlen)) == NULL) {
			reload_gen_free(g);
			return err;
		}
	}
	if (cfg->check_rcpt_domain) {
		const char *derr = NULL;
		if ((g->dns = dns_resolver_new(r->base, cfg->dns_server, cfg->dnssec_anchors, &derr)) == NULL) {
			snprintf(err, errlen, "%s: dns_server: %s", cfg->path, derr);
			reload_gen_free(g);
			return err;
		}
	}
	if (r->sched != NULL && sched_reconfigure(r->sched, cfg, err, errlen) != 0) {
		reload_gen_free(g);
		return err;
	}
	/* Checked: from here on nothing refuses. */
	struct reload_gen *old = r->cur;
	g->ctx = old->ctx;
	g->ctx.cfg = cfg;
	g->ctx.tls = g->tls;
	g->ctx.auth = g->auth;
	g->ctx.dns = g->dns;
	g->ctx.sessions = NULL;
	g->ctx.nsessions = 0;
	g->ctx.nalive = 0;
	g->ctx.auth_jobs = 0;
	memset(&g->ctx.stats, 0, sizeof(g->ctx.stats));
	int fds[RELOAD_FRAME_MAX_LISTENERS];
	for (size_t i = 0; i < RELOAD_FRAME_MAX_LISTENERS; i++)
		fds[i] = -1;
	for (size_t i = 0; i < m->nlisteners && i < r->nfds; i++) {
		uint32_t k = m->listener[i];
		if (k < cfg->nlisteners && k < RELOAD_FRAME_MAX_LISTENERS && fds[k] < 0) {
			fds[k] = r->fds[i];
			r->fds[i] = -1;
		}
	}
	r->listeners = smtpd_listener_replace(r->listeners, cfg, fds, &g->ctx);
	for (size_t i = 0; i < RELOAD_FRAME_MAX_LISTENERS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	g->ctx.listeners = r->listeners;
	old->ctx.listeners = NULL;
	smtpd_limit_set_max(g->ctx.limit, cfg->max_connections, cfg->max_connections_per_ip);
	if (!r->debug)
		log_init("mxrelayd", (enum log_level)cfg->log_level, 2);
	if (g->ctx.authfail != NULL)
		smtpd_authfail_set_limit(g->ctx.authfail, cfg->auth_failure_limit,
		    (uint64_t)cfg->auth_failure_window * 1000u);
	/* New sessions' ids go on from the old generation's: no id repeats. */
	old->next = r->retired;
	r->retired = old;
	r->cur = g;
	/* Before the reap frees the old configuration: nobody may keep pointing at it. */
	if (r->applied != NULL)
		r->applied(r->applied_arg, cfg);
	reload_reap(r);
	snprintf(err, errlen, "config=\"%s\" listeners=%zu tls=%s auth=%s", cfg->path,
	    smtpd_listener_count(r->listeners), g->tls != NULL ? "yes" : "no",
	    g->auth != NULL ? "yes" : "no");
	return NULL;
}

/* Close the descriptors that came with the answer and were not taken. */
static void reload_close_fds(struct reload *r)
{
	for (size_t i = 0; i < r->nfds; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	r->nfds = 0;
}

/* A whole answer arrived: decode it, apply it, tell the waiters. */
static void reload_on_answer(struct reload *r, size_t total)
{
	struct reload_msg m;
	char err[1200], text[1400];
	if (reload_frame_decode(r->in, total, &m, err, sizeof(err)) != 0) {
		snprintf(text, sizeof(text), "the privileged helper's answer is malformed: %s", err);
		reload_finish(r, false, text);
	} else if (m.kind == RELOAD_MSG_REFUSED) {
		reload_finish(r, false, m.errors);
	} else if (m.kind != RELOAD_MSG_CONFIG) {
		reload_finish(r, false, "the privileged helper answered something else");
	} else {
		const char *why = reload_apply(r, &m, err, sizeof(err));
		if (why != NULL)
			reload_finish(r, false, why);
		else {
			snprintf(text, sizeof(text), "%s", err);
			reload_finish(r, true, text);
		}
	}
	reload_msg_clear(&m);
	reload_close_fds(r);
	explicit_bzero(r->in, total);
	r->inlen = 0;
	if (r->again && !r->stopping && r->fd >= 0) {
		r->again = false;
		r->waiting = r->next_round;
		r->next_round = NULL;
		reload_send(r);
	}
}

/* The helper is gone or broke the protocol: no more reloads. */
static void reload_helper_lost(struct reload *r, const char *why)
{
	log_msg(LOG_LVL_ERR, "event=reload-helper-lost reason=\"%s\" note=\"reloads are refused "
	    "until a restart\"", why);
	if (r->ev != NULL) {
		event_free(r->ev);
		r->ev = NULL;
	}
	close(r->fd);
	r->fd = -1;
	reload_close_fds(r);
	if (r->busy)
		reload_finish(r, false, "the privileged helper is gone: restart the daemon to load a "
		    "new configuration");
	r->waiting = r->next_round;
	r->next_round = NULL;
	if (r->waiting != NULL)
		reload_finish(r, false, "the privileged helper is gone: restart the daemon to load a "
		    "new configuration");
}

/* The helper's socket is readable: take what is there, descriptors too. */
static void reload_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct reload *r = arg;
	(void)what;
	for (;;) {
		if (r->incap - r->inlen < 65536) {
			size_t cap = r->incap ? r->incap * 2 : 65536 * 2;
			if (cap > RELOAD_FRAME_HDR + RELOAD_FRAME_MAX)
				cap = RELOAD_FRAME_HDR + RELOAD_FRAME_MAX;
			if (cap <= r->inlen) {
				reload_helper_lost(r, "answer larger than a frame");
				return;
			}
			r->in = xrealloc(r->in, cap);
			r->incap = cap;
		}
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * RELOAD_FRAME_MAX_LISTENERS)];
		} cm;
		struct iovec iov = { .iov_base = r->in + r->inlen, .iov_len = r->incap - r->inlen };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
		    .msg_controllen = sizeof(cm.buf) };
		ssize_t n = recvmsg((int)fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			reload_helper_lost(r, n == 0 ? "its socket closed" : strerror(errno));
			return;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int d;
				memcpy(&d, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (r->nfds < RELOAD_FRAME_MAX_LISTENERS)
					r->fds[r->nfds++] = d;
				else
					close(d);
			}
		}
		if (mh.msg_flags & MSG_CTRUNC) {
			reload_helper_lost(r, "too many descriptors");
			return;
		}
		r->inlen += (size_t)n;
		size_t total = 0;
		int st = reload_frame_complete(r->in, r->inlen, &total);
		if (st < 0 || !r->busy) {
			reload_helper_lost(r, !r->busy ? "it spoke unasked" : "not a frame");
			return;
		}
		if (st == 1) {
			if (r->inlen != total) {
				reload_helper_lost(r, "octets after the answer");
				return;
			}
			reload_on_answer(r, total);
			return;
		}
	}
}

/* The helper did not answer in time: its socket is closed (it exits once it finishes). */
static void reload_on_answer_timeout(evutil_socket_t fd, short what, void *arg)
{
	char why[64];
	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "no answer within %d s", RELOAD_ANSWER_TIMEOUT_S);
	reload_helper_lost(arg, why);
}

void reload_stop_sessions(struct reload *r)
{
	r->stopping = true;
	smtpd_listener_stop(r->listeners);
	r->cur->ctx.stopping = true;
	smtpd_session_stop_all(&r->cur->ctx);
	for (struct reload_gen *g = r->retired; g != NULL; g = g->next) {
		g->ctx.stopping = true;
		smtpd_session_stop_all(&g->ctx);
	}
}

void reload_drop_sessions(struct reload *r)
{
	smtpd_session_drop_all(&r->cur->ctx);
	for (struct reload_gen *g = r->retired; g != NULL; g = g->next)
		smtpd_session_drop_all(&g->ctx);
}

bool reload_busy(const struct reload *r)
{
	if (r->cur->ctx.nsessions > 0 || r->cur->ctx.auth_jobs > 0)
		return true;
	for (const struct reload_gen *g = r->retired; g != NULL; g = g->next)
		if (g->ctx.nsessions > 0 || g->ctx.auth_jobs > 0)
			return true;
	return false;
}

void reload_set_applied(struct reload *r, void (*fn)(void *arg, const struct config *cfg),
    void *arg)
{
	r->applied = fn;
	r->applied_arg = arg;
}

unsigned reload_sessions(const struct reload *r)
{
	unsigned n = r->cur->ctx.nsessions;
	for (const struct reload_gen *g = r->retired; g != NULL; g = g->next)
		n += g->ctx.nsessions;
	return n;
}

struct smtpd_stats reload_stats(const struct reload *r)
{
	struct smtpd_stats s = r->gone;
	reload_stats_add(&s, &r->cur->ctx.stats);
	for (const struct reload_gen *g = r->retired; g != NULL; g = g->next)
		reload_stats_add(&s, &g->ctx.stats);
	return s;
}

static void reload_waiters_refuse(struct reload_waiter *w)
{
	while (w != NULL) {
		struct reload_waiter *next = w->next;
		if (w->done != NULL)
			w->done(w->arg, false, "the daemon is stopping");
		free(w);
		w = next;
	}
}

void reload_close_helper(struct reload *r)
{
	r->stopping = true;
	reload_waiters_refuse(r->waiting);
	reload_waiters_refuse(r->next_round);
	r->waiting = r->next_round = NULL;
	if (r->ev != NULL)
		event_free(r->ev);
	r->ev = NULL;
	if (r->fd >= 0) {
		/* The helper sees the end of its socket and exits. */
		close(r->fd);
		int st;
		while (waitpid(r->pid, &st, 0) < 0 && errno == EINTR)
			;
	} else if (r->pid > 0) {
		(void)waitpid(r->pid, NULL, WNOHANG);
	}
	r->fd = -1;
	r->pid = 0;
	reload_close_fds(r);
}

void reload_free(struct reload *r)
{
	if (r == NULL)
		return;
	reload_close_helper(r);
	event_free(r->retire_ev);
	event_free(r->answer_timeout);
	smtpd_listener_free(r->listeners);
	free(r->in);
	while (r->retired != NULL) {
		struct reload_gen *g = r->retired;
		r->retired = g->next;
		reload_gen_free(g);
	}
	reload_gen_free(r->cur);
	free(r);
}
