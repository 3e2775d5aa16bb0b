/*
 * control_public: the listing socket for mailq run by any user.
 *
 * Owns: its socket file (removed on exit when it is still ours), one
 * connection per request with a capped line and timeouts, and the verb
 * check that lets only the listings through.
 * Never: runs a request that changes the queue, or shows message text.
 */
#include "control/control_public.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "config/config.h"
#include "control/control.h"
#include "util/unix_sock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CONTROL_PUBLIC_TIMEOUT_S 10
#define CONTROL_PUBLIC_WRITE_TIMEOUT_S 60
/* Most connections open at once; more are closed at accept. */
#define CONTROL_PUBLIC_CONNS_MAX 32

struct control_public_conn {
	struct control_public *owner;
	struct bufferevent *bev;		/* owned */
	struct control_public_conn *next;	/* in owner->conns */
	long uid;
	bool replied;
};

struct control_public {
	struct queue_store *q;			/* not owned */
	struct evconnlistener *lev;		/* owned */
	char *path;				/* owned */
	struct unix_sock_file file;	/* the socket file we made, to remove only ours */
	struct control_public_conn *conns;	/* owned */
	size_t nconns;
};

bool control_public_path(const struct config *cfg, char *buf, size_t len)
{
	if (cfg->local_socket == NULL)
		return false;
	const char *slash = strrchr(cfg->local_socket, '/');
	int dir = slash != NULL ? (int)(slash - cfg->local_socket) : 1;
	snprintf(buf, len, "%.*s/mailq.sock", dir, slash != NULL ? cfg->local_socket : ".");
	return true;
}

static void control_public_conn_free(struct control_public_conn *cn)
{
	struct control_public *c = cn->owner;
	for (struct control_public_conn **pp = &c->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cn) {
			*pp = cn->next;
			break;
		}
	}
	c->nconns--;
	bufferevent_free(cn->bev);
	free(cn);
}

/* Queue "ok TEXT" and the dot-stuffed body, or "error KIND TEXT"; close once written. */
static void control_public_reply(struct control_public_conn *cn, enum control_status st,
    const char *text, struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(cn->bev);
	control_frame_reply(out, st, text, body);
	cn->replied = true;
	bufferevent_disable(cn->bev, EV_READ);
	bufferevent_enable(cn->bev, EV_WRITE);
}

static void control_public_handle(struct control_public_conn *cn, const char *line, size_t len)
{
	struct control_req req;
	const char *why = NULL;
	char safe[CONTROL_LINE_MAX + 64];
	log_printable(safe, sizeof(safe), line, len);
	log_msg(LOG_LVL_INFO, "event=mailq-request uid=%ld request=\"%s\"", cn->uid, safe);
	if (control_parse(line, len, &req, &why) != 0) {
		control_public_reply(cn, CONTROL_E_USAGE, why, NULL);
		return;
	}
	if (req.verb != CONTROL_LIST && req.verb != CONTROL_LIST_JSON) {
		control_public_reply(cn, CONTROL_E_USAGE, "this socket only lists the queue; "
		    "changing it is for root (mxrelay queue)", NULL);
		return;
	}
	char msg[512];
	struct evbuffer *body = evbuffer_new();
	if (body == NULL)
		panic("event=mailq-failed reason=\"out of memory\"");
	enum control_status st = control_run(cn->owner->q, &req, time(NULL), body,
	    CONTROL_BODY_MAX, msg, sizeof(msg));
	control_public_reply(cn, st, msg, st == CONTROL_OK ? body : NULL);
	evbuffer_free(body);
}

static void control_public_on_read(struct bufferevent *bev, void *arg)
{
	struct control_public_conn *cn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (cn->replied)
		return;
	size_t n = 0;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX + 1)
			control_public_reply(cn, CONTROL_E_USAGE, "request too long", NULL);
		return;
	}
	if (n > CONTROL_LINE_MAX + 1)
		control_public_reply(cn, CONTROL_E_USAGE, "request too long", NULL);
	else
		control_public_handle(cn, line, n);
	free(line);
}

static void control_public_on_write(struct bufferevent *bev, void *arg)
{
	struct control_public_conn *cn = arg;
	(void)bev;
	if (cn->replied)
		control_public_conn_free(cn);
}

static void control_public_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	control_public_conn_free(arg);
}

static void control_public_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control_public *c = arg;
	(void)sa;
	(void)salen;
	if (c->nconns >= CONTROL_PUBLIC_CONNS_MAX) {
		close(fd);
		return;
	}
	struct control_public_conn *cn = xcalloc(1, sizeof(*cn));
	cn->owner = c;
	cn->uid = -1;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		cn->uid = (long)cred.uid;
	cn->bev = bufferevent_socket_new(evconnlistener_get_base(lev), fd, BEV_OPT_CLOSE_ON_FREE);
	if (cn->bev == NULL) {
		close(fd);
		free(cn);
		return;
	}
	struct timeval rt = { CONTROL_PUBLIC_TIMEOUT_S, 0 }, wt = { CONTROL_PUBLIC_WRITE_TIMEOUT_S, 0 };
	bufferevent_set_timeouts(cn->bev, &rt, &wt);
	bufferevent_setcb(cn->bev, control_public_on_read, control_public_on_write,
	    control_public_on_event, cn);
	bufferevent_enable(cn->bev, EV_READ);
	cn->next = c->conns;
	c->conns = cn;
	c->nconns++;
}

struct control_public *control_public_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, char *err, size_t errlen)
{
	struct control_public *c = xcalloc(1, sizeof(*c));
	c->q = q;
	char path[256];
	if (!control_public_path(cfg, path, sizeof(path)))
		return c;
	int fd = unix_sock_listen(path, 0666, &c->file, err, errlen);
	if (fd < 0) {
		free(c);
		return NULL;
	}
	c->lev = evconnlistener_new(base, control_public_on_accept, c, LEV_OPT_CLOSE_ON_FREE, 16, fd);
	if (c->lev == NULL) {
		snprintf(err, errlen, "listen %s: cannot create the listener", path);
		close(fd);
		unlink(path);
		free(c);
		return NULL;
	}
	c->path = xstrdup(path);
	log_msg(LOG_LVL_INFO, "event=mailq-listening path=\"%s\" mode=0666 verbs=list", path);
	return c;
}

void control_public_free(struct control_public *c)
{
	if (c == NULL)
		return;
	while (c->conns != NULL)
		control_public_conn_free(c->conns);
	if (c->lev != NULL)
		evconnlistener_free(c->lev);
	unix_sock_remove_own(c->path, &c->file);
	free(c->path);
	free(c);
}
