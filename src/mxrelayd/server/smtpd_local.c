/*
 * smtpd_local: the local submission socket and local names.
 *
 * Owns: the public directory and the submission socket file (removed on
 * exit when it is still ours), the submitter's credentials on each
 * session, the sender restriction, the local Received field, and the
 * RCPT-time resolution of local names.
 * Never: reads what the client claims about its identity; the uid comes
 * from SO_PEERCRED only.
 */
#include "smtpd_local.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/aliases.h"
#include "smtpd_limit.h"
#include "smtpd_rate.h"
#include "smtpd_listener.h"
#include "smtpd_session.h"
#include "smtpd_txn.h"
#include "dns/dns_rr.h"
#include "smtp/smtp_header.h"
#include "util/log.h"
#include "util/unix_sock.h"
#include "util/xalloc.h"

/* Connections taken per readiness event. */
#define SMTPD_LOCAL_ACCEPT_BURST 32
/* Pause after running out of descriptors. */
#define SMTPD_LOCAL_RETRY_MS 250

struct smtpd_local {
	/* The sessions' context: the configuration in force at each accept (a reload swaps it). */
	struct smtpd_ctx *(*ctx_now)(void *arg);
	void *ctx_arg;
	struct cfg_listener lst;	/* what sessions of this socket see as their listener */
	char *path;			/* owned; NULL without a socket */
	int fd;				/* owned; -1 without a socket */
	struct event *ev;		/* owned */
	struct event *retry;		/* owned; re-arms ev after EMFILE */
	struct unix_sock_file file;	/* the socket file we made, to remove only ours */
};

/* The directory part of path into buf ("/" for a file at the root). */
static void smtpd_local_dir_of(const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "%s", path);
	char *slash = strrchr(buf, '/');
	if (slash == buf)
		buf[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
}

int smtpd_local_prepare(const struct config *cfg, char *err, size_t errlen)
{
	char dir[256];
	if (cfg->local_socket == NULL)
		return 0;
	smtpd_local_dir_of(cfg->local_socket, dir, sizeof(dir));
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "local_socket: cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	struct stat st;
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "local_socket: %s is not a directory", dir);
		return -1;
	}
	/*
	 * Any user must reach the socket; only the daemon may add or remove
	 * files. Each change only when needed: root without CAP_FOWNER (the
	 * systemd unit) cannot chmod a directory its user already owns.
	 */
	if ((st.st_mode & 07777) != 0755 && chmod(dir, 0755) != 0) {
		snprintf(err, errlen, "local_socket: chmod %s: %s", dir, strerror(errno));
		return -1;
	}
	/* The account privdrop_drop() becomes, which binds the socket and removes it at exit. */
	const char *user = cfg->user != NULL ? cfg->user : CFG_DEFAULT_USER;
	if (geteuid() == 0) {
		const struct passwd *pw = getpwnam(user);
		if (pw == NULL || ((st.st_uid != pw->pw_uid || st.st_gid != pw->pw_gid) &&
		    chown(dir, pw->pw_uid, pw->pw_gid) != 0)) {
			snprintf(err, errlen, "local_socket: chown %s to %s: %s", dir, user,
			    pw == NULL ? "no such user" : strerror(errno));
			return -1;
		}
	}
	return 0;
}

struct smtpd_local *smtpd_local_new(const struct config *cfg, char *err, size_t errlen)
{
	struct smtpd_local *l = xcalloc(1, sizeof(*l));
	l->fd = -1;
	if (cfg->local_socket == NULL)
		return l;
	snprintf(l->lst.text, sizeof(l->lst.text), "local:%s", cfg->local_socket);
	l->lst.mode = CFG_LISTEN_RELAY;
	l->lst.addr.ss_family = AF_UNIX;
	l->lst.addrlen = sizeof(sa_family_t);
	l->fd = unix_sock_listen(cfg->local_socket, 0666, &l->file, err, errlen);
	if (l->fd < 0) {
		free(l);
		return NULL;
	}
	l->path = xstrdup(cfg->local_socket);
	return l;
}

bool smtpd_local_may_override(const struct config *cfg, long uid, const char *user, long gid)
{
	if (cfg->local_sender_any || uid == 0)
		return true;
	for (size_t i = 0; i < cfg->nlocal_sender_override; i++) {
		const char *name = cfg->local_sender_override[i];
		if (name[0] != '@') {
			if (strcmp(name, user) == 0)
				return true;
			continue;
		}
		const struct group *gr = getgrnam(name + 1);
		if (gr == NULL)
			continue;
		if ((long)gr->gr_gid == gid)
			return true;
		for (char **m = gr->gr_mem; m != NULL && *m != NULL; m++)
			if (strcmp(*m, user) == 0)
				return true;
	}
	return false;
}

void smtpd_local_own_sender(const struct config *cfg, const char *user, char *buf, size_t len)
{
	snprintf(buf, len, "%s@%s", user, cfg->masquerade_domain != NULL ?
	    cfg->masquerade_domain : cfg->hostname);
}

/* Who is on the other end of fd, from the kernel. */
static void smtpd_local_peer_of(const struct config *cfg, int fd, struct smtpd_local_peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	p->uid = p->gid = p->pid = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		p->uid = (long)cred.uid;
		p->gid = (long)cred.gid;
		p->pid = (long)cred.pid;
	}
	const struct passwd *pw = p->uid >= 0 ? getpwuid((uid_t)p->uid) : NULL;
	/* A login name is written into addresses: only the characters a dot-atom allows. */
	bool usable = pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0' &&
	    strlen(pw->pw_name) < sizeof(p->user);
	for (const char *c = usable ? pw->pw_name : ""; *c != '\0' && usable; c++)
		usable = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("._-+", *c) != NULL;
	if (usable)
		snprintf(p->user, sizeof(p->user), "%s", pw->pw_name);
	else
		snprintf(p->user, sizeof(p->user), "uid%ld", p->uid);
	p->sender_override = p->uid >= 0 && smtpd_local_may_override(cfg, p->uid, p->user, p->gid);
}

/* The socket is readable: take the waiting connections. */
static void smtpd_local_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct smtpd_local *l = arg;
	struct smtpd_ctx *ctx = l->ctx_now(l->ctx_arg);
	(void)what;
	for (int i = 0; i < SMTPD_LOCAL_ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4((int)lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* The socket stays readable: without a pause the loop would spin. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				struct timeval tv = { 0, SMTPD_LOCAL_RETRY_MS * 1000 };
				log_msg(LOG_LVL_WARN, "event=accept-paused listener=\"%s\" error=\"%s\"",
				    l->lst.text, strerror(errno));
				event_del(l->ev);
				evtimer_add(l->retry, &tv);
			}
			return;
		}
		if (ctx->stopping) {
			close(fd);
			continue;
		}
		/* Counted in max_connections (a Unix peer has no per-address count). */
		if (smtpd_limit_acquire(ctx->limit, (struct sockaddr *)&ss) != SMTPD_LIMIT_OK) {
			log_msg(LOG_LVL_WARN, "event=refused listener=\"%s\" reason=\"max_connections\"",
			    l->lst.text);
			ctx->stats.refused++;
			close(fd);
			continue;
		}
		struct smtpd_local_peer *peer = xcalloc(1, sizeof(*peer));
		smtpd_local_peer_of(ctx->cfg, fd, peer);
		struct smtpd_session *s = smtpd_session_new(ctx, &l->lst, fd, (struct sockaddr *)&ss, sl);
		if (s == NULL) {
			free(peer);
			continue;
		}
		s->local = peer;
		snprintf(s->peer_ip, sizeof(s->peer_ip), "local");
		log_msg(LOG_LVL_INFO, "session=%s event=local-submitter uid=%ld user=%s pid=%ld "
		    "sender_override=%s", s->id, peer->uid, peer->user, peer->pid,
		    peer->sender_override ? "yes" : "no");
	}
}

static void smtpd_local_retry(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_local *l = arg;
	(void)fd;
	(void)what;
	if (l->ev != NULL)
		event_add(l->ev, NULL);
}

void smtpd_local_start(struct smtpd_local *l, struct smtpd_ctx *(*ctx_now)(void *arg), void *arg)
{
	l->ctx_now = ctx_now;
	l->ctx_arg = arg;
	if (l->fd < 0)
		return;
	struct smtpd_ctx *ctx = ctx_now(arg);
	if (ctx == NULL)
		return;
	if (listen(l->fd, SMTPD_LISTEN_BACKLOG) != 0)
		fatal("event=start-failed reason=\"listen %s: %s\"", l->path, strerror(errno));
	l->ev = event_new(ctx->base, l->fd, EV_READ | EV_PERSIST, smtpd_local_accept, l);
	l->retry = evtimer_new(ctx->base, smtpd_local_retry, l);
	if (l->ev == NULL || l->retry == NULL)
		fatal("smtpd_local: out of memory creating an event");
	event_add(l->ev, NULL);
	log_msg(LOG_LVL_INFO, "event=listening listener=\"%s\" mode=local socket_mode=0666", l->lst.text);
}

void smtpd_local_stop(struct smtpd_local *l)
{
	if (l == NULL)
		return;
	if (l->ev != NULL) {
		event_free(l->ev);
		l->ev = NULL;
	}
	if (l->retry != NULL) {
		event_free(l->retry);
		l->retry = NULL;
	}
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

void smtpd_local_free(struct smtpd_local *l)
{
	if (l == NULL)
		return;
	smtpd_local_stop(l);
	unix_sock_remove_own(l->path, &l->file);
	free(l->path);
	free(l);
}

void smtpd_local_sender(struct smtpd_session *s, char *sender, size_t sender_len)
{
	const struct smtpd_local_peer *p = s->local;
	if (p == NULL || p->sender_override)
		return;
	char own[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 2];
	smtpd_local_own_sender(s->ctx->cfg, p->user, own, sizeof(own));
	if (strcasecmp(own, sender) == 0)
		return;
	char was[SMTP_LOCAL_ACCEPT_MAX * 4 + SMTP_DOMAIN_MAX * 4];
	log_printable(was, sizeof(was), sender, strlen(sender));
	log_msg(LOG_LVL_INFO, "session=%s event=sender-rewritten uid=%ld user=%s from=<%s> to=<%s> "
	    "reason=\"local_sender_override\"", s->id, p->uid, p->user, was, own);
	snprintf(sender, sender_len, "%s", own);
}

const char *smtpd_local_log_tag(const struct smtpd_session *s, char *buf, size_t len)
{
	if (s->local == NULL)
		snprintf(buf, len, "%s", "");
	else
		snprintf(buf, len, " uid=%ld user=%s", s->local->uid, s->local->user);
	return buf;
}

size_t smtpd_local_received(const char *by_host, long uid, const char *queue_id, time_t when,
    char *buf, size_t len)
{
	char date[SMTP_HEADER_DATE_MAX];
	if (len == 0 || smtp_header_date(when, date, sizeof(date)) == 0)
		return 0;
	int n = snprintf(buf, len, "Received: by %s (mxrelay, from userid %ld)\r\n\tid %s; %s\r\n",
	    by_host, uid, queue_id, date);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

/* ---- local names ---- */

bool smtpd_local_is_local(const struct config *cfg, const struct smtp_addr *addr)
{
	if (addr->kind == SMTP_ADDR_LOCALONLY)
		return true;
	if (addr->kind != SMTP_ADDR_MAILBOX || addr->domain_is_literal)
		return false;
	/* Domains compare by their key: case and a trailing dot do not matter. */
	char domain[DNS_RR_NAME_MAX + 2], host[DNS_RR_NAME_MAX + 2];
	dns_rr_name_key(addr->domain, strlen(addr->domain), domain, sizeof(domain));
	dns_rr_name_key(cfg->hostname, strlen(cfg->hostname), host, sizeof(host));
	if (strcmp(domain, "localhost") != 0 && strcmp(domain, host) != 0)
		return false;
	const struct cfg_route *r = config_route(cfg, domain);
	return r == NULL || strcmp(r->domain, "*") == 0;
}

/* The local part unquoted; false when it holds a routing character or does not fit. */
static bool smtpd_local_name(const char *local, char *buf, size_t len)
{
	size_t n = strlen(local), k = 0;
	const char *p = local, *end = local + n;
	if (n >= 2 && local[0] == '"' && local[n - 1] == '"') {
		p++;
		end--;
	}
	for (; p < end; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		if (k + 1 >= len || strchr("@%!", *p) != NULL)
			return false;
		buf[k++] = *p;
	}
	buf[k] = '\0';
	return k > 0;
}

/* Add the expansion to the transaction, or refuse the lot when it would pass max_recipients. */
static void smtpd_local_accept_list(struct smtpd_session *s, const char *orig, char **list,
    size_t n, const struct smtpd_rcpt_params *rp, const char *why)
{
	const struct config *cfg = s->ctx->cfg;
	char porig[1100], paddr[1100], orcpt[SMTPD_ORCPT_MAX + 1];
	log_printable(porig, sizeof(porig), orig, strlen(orig));
	if (cfg->max_recipients != 0 && s->txn->nrcpts + n > cfg->max_recipients) {
		smtpd_session_refuse(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	/* One recipient for the rate limits: the one the client gave, however many it expands to. */
	if (!smtpd_rate_rcpt(s, orig))
		return;
	/* RFC 3461 4.2: the address the client gave, so a DSN names what was sent to. */
	if (rp->has_orcpt)
		snprintf(orcpt, sizeof(orcpt), "%s", rp->orcpt);
	else
		snprintf(orcpt, sizeof(orcpt), "rfc822;%s", orig);
	for (size_t i = 0; i < n; i++) {
		smtpd_txn_add_rcpt(s->txn, list[i], rp->notify, orcpt);
		log_printable(paddr, sizeof(paddr), list[i], strlen(list[i]));
		log_msg(LOG_LVL_INFO, "session=%s event=rcpt to=<%s> orig_to=<%s> status=accepted "
		    "via=%s", s->id, paddr, porig, why);
	}
	smtpd_session_set_state(s, SMTPD_S_RCPT);
	smtpd_session_reply(s, 250, "2.1.5", "Ok");
}

bool smtpd_local_rcpt(struct smtpd_session *s, const struct smtp_addr *addr,
    const struct smtpd_rcpt_params *rp, bool policy_ok, const struct policy_reply *pr)
{
	const struct config *cfg = s->ctx->cfg;
	char name[SMTP_LOCAL_ACCEPT_MAX + 1], orig[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 2];
	char porig[sizeof(orig) * 4];
	if (!smtpd_local_is_local(cfg, addr))
		return false;
	if (!policy_ok && !(addr->kind == SMTP_ADDR_LOCALONLY && strcmp(pr->esc, "5.1.3") == 0))
		return false;
	if (!smtpd_local_name(addr->local, name, sizeof(name)))
		return false;
	bool postmaster = smtp_addr_local_is_postmaster(addr->local);
	/* RFC 5321 4.5.1: postmaster is always taken; without an alias it stays as it was. */
	if (postmaster && aliases_find(cfg->aliases, name) == NULL && cfg->admin_address == NULL)
		return false;
	snprintf(orig, sizeof(orig), "%s@%s", name, cfg->hostname);
	log_printable(porig, sizeof(porig), orig, strlen(orig));
	const char *locals[] = { cfg->hostname, "localhost" };
	char **list = NULL;
	size_t n = 0;
	const char *missing = NULL;
	enum aliases_result r = aliases_expand(cfg->aliases, name, locals, 2, cfg->admin_address,
	    &list, &n, &missing);
	switch (r) {
	case ALIASES_OK:
		smtpd_local_accept_list(s, orig, list, n, rp, "alias");
		break;
	case ALIASES_NONE:
		if (cfg->admin_address != NULL) {
			char *one = (char *)cfg->admin_address;
			smtpd_local_accept_list(s, orig, &one, 1, rp, "admin_address");
			break;
		}
		log_msg(LOG_LVL_INFO, "session=%s event=rcpt to=<%s> status=refused code=550 dsn=5.1.1 "
		    "reason=\"local name without alias\"", s->id, porig);
		smtpd_session_reply(s, 550, "5.1.1", "<%s>: no such local user", porig);
		break;
	case ALIASES_UNKNOWN: {
		char pm[300];
		log_printable(pm, sizeof(pm), missing, strlen(missing));
		log_msg(LOG_LVL_WARN, "session=%s event=rcpt to=<%s> status=refused code=550 dsn=5.1.1 "
		    "reason=\"alias target %s is a local name without alias\"", s->id, porig, pm);
		smtpd_session_reply(s, 550, "5.1.1", "<%s>: no such local user (alias target %s)",
		    porig, pm);
		break;
	}
	case ALIASES_LOOP:
		log_msg(LOG_LVL_WARN, "session=%s event=rcpt to=<%s> status=refused code=550 dsn=5.4.6 "
		    "reason=\"alias loop\"", s->id, porig);
		smtpd_session_reply(s, 550, "5.4.6", "<%s>: alias loop (nested more than %d deep)",
		    porig, ALIASES_DEPTH_MAX);
		break;
	case ALIASES_TOO_MANY:
		smtpd_session_reply(s, 550, "5.5.3", "<%s>: alias expands to more than %d addresses",
		    porig, ALIASES_EXPAND_MAX);
		break;
	}
	aliases_list_free(list, n);
	return true;
}
