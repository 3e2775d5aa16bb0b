/*
 * queue_pg_conn: one connection to the PostgreSQL server, used from the
 * event loop without ever waiting on it: libpq in non-blocking mode and
 * in pipeline mode (statements sent without waiting for the answers of
 * the earlier ones), its socket watched by libevent, requests answered in
 * the order they were sent. A request is a run of statements ended by a
 * sync point: the server runs them as one implicit transaction, committed
 * at the sync (durably, with synchronous_commit on) or rolled back whole
 * when one fails; the request's done callback comes after that.
 *
 * Owns: the PGconn and its events, the requests in flight, reconnecting
 * with backoff (250 ms doubling to 10 s) when the server goes away, after
 * which the owner's setup runs again before the connection is ready.
 * Never: blocks the loop once open (only queue_pg_conn_open, at start,
 * waits for the server); calls a done callback inside the call that began
 * its request; keeps a PGresult past the callback it was given to.
 */
#include "queue_pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "util/log.h"
#include "util/xalloc.h"

enum queue_pg_conn_state {
	QPC_DOWN,		/* waiting to reconnect */
	QPC_CONNECTING,		/* PQconnectPoll under way */
	QPC_SETUP,		/* connected; the owner's setup runs */
	QPC_READY,
};

struct queue_pg_req {
	struct queue_pg_req *next;
	struct queue_pg_conn *c;	/* the connection it is sent on */
	queue_pg_result_fn *result;
	queue_pg_done_fn *done;
	void *arg;
	int nq;			/* statements added */
	int qi;			/* the statement whose results come now */
	bool in_result;		/* a result of statement qi was seen (its NULL ends it) */
	bool ok;
	char err[320];
};

struct queue_pg_conn {
	struct event_base *base;
	struct queue_pg_conn_opts o;
	char *name;			/* owned copy of o.name */
	PGconn *pg;
	enum queue_pg_conn_state state;
	bool opening;			/* inside queue_pg_conn_open: failures end it, no retry */
	bool setup_ran;			/* the setup ran once (first: false before) */
	char open_err[256];
	struct event *rev, *wev;	/* the socket, once connected */
	struct event *cev;		/* the socket while connecting (one shot) */
	struct event *retry_ev;		/* the next connection attempt */
	struct event *fail_ev;		/* requests that failed, answered from the loop */
	struct event *drain_ev;		/* the flow-control callback, from the loop */
	unsigned retry_ms;
	struct queue_pg_req *head, *tail;	/* sent, answers awaited (FIFO) */
	struct queue_pg_req *open;	/* being built (begin .. end) */
	struct queue_pg_req *failed, *failed_tail;
	void (*drain_fn)(void *arg);
	void *drain_arg;
};

static void queue_pg_conn_lost(struct queue_pg_conn *c, const char *why);
static void queue_pg_conn_start(struct queue_pg_conn *c);

/* The first line of libpq's message, for a log or an err. */
static void queue_pg_conn_msg(const char *m, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", m != NULL && m[0] != '\0' ? m : "no message");
	out[strcspn(out, "\n")] = '\0';
}

/* Put r on the failed list, answered from the loop. */
static void queue_pg_conn_fail_req(struct queue_pg_conn *c, struct queue_pg_req *r, const char *why)
{
	if (r->ok) {
		r->ok = false;
		snprintf(r->err, sizeof(r->err), "%s", why);
	}
	r->next = NULL;
	if (c->failed_tail != NULL)
		c->failed_tail->next = r;
	else
		c->failed = r;
	c->failed_tail = r;
	event_active(c->fail_ev, 0, 0);
}

/* The loop's turn: answer every failed request. */
static void queue_pg_conn_on_fail(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct queue_pg_conn *c = arg;
	struct queue_pg_req *r = c->failed;
	c->failed = c->failed_tail = NULL;
	while (r != NULL) {
		struct queue_pg_req *next = r->next;
		if (r->done != NULL)
			r->done(r->arg, false, r->err);
		free(r);
		r = next;
	}
}

/* The loop's turn: tell the flow-control callback everything went out. */
static void queue_pg_conn_on_drain(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct queue_pg_conn *c = arg;
	void (*fn)(void *) = c->drain_fn;
	c->drain_fn = NULL;
	if (fn != NULL)
		fn(c->drain_arg);
}

/* Send what libpq holds; false when the connection broke (then lost). */
static bool queue_pg_conn_flush(struct queue_pg_conn *c)
{
	if (c->pg == NULL)
		return false;
	int rc = PQflush(c->pg);
	if (rc < 0) {
		char m[256];
		queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
		queue_pg_conn_lost(c, m);
		return false;
	}
	if (rc == 1) {
		event_add(c->wev, NULL);
	} else {
		event_del(c->wev);
		if (c->drain_fn != NULL)
			event_active(c->drain_ev, 0, 0);
	}
	return true;
}

/* Tell the owner about each NOTIFY received. */
static void queue_pg_conn_notifies(struct queue_pg_conn *c)
{
	PGnotify *n;
	while (c->pg != NULL && (n = PQnotifies(c->pg)) != NULL) {
		if (c->o.notify != NULL)
			c->o.notify(c->o.arg, n->relname);
		PQfreemem(n);
	}
}

/* Hand every complete answer to its request. */
static void queue_pg_conn_process(struct queue_pg_conn *c)
{
	while (c->pg != NULL && !PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		struct queue_pg_req *r = c->head;
		if (res == NULL) {
			if (r != NULL && r->in_result) {
				r->in_result = false;
				r->qi++;
				continue;
			}
			break;
		}
		ExecStatusType st = PQresultStatus(res);
		if (r == NULL) {
			PQclear(res);
			continue;
		}
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			c->head = r->next;
			if (c->head == NULL)
				c->tail = NULL;
			if (r->done != NULL)
				r->done(r->arg, r->ok, r->ok ? NULL : r->err);
			free(r);
			continue;
		}
		r->in_result = true;
		if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR ||
		    st == PGRES_BAD_RESPONSE) {
			if (r->ok) {
				r->ok = false;
				queue_pg_sql_error(res, r->err, sizeof(r->err));
			}
		} else if (st == PGRES_PIPELINE_ABORTED) {
			if (r->ok) {
				r->ok = false;
				snprintf(r->err, sizeof(r->err), "pipeline aborted");
			}
		} else if (r->result != NULL && r->ok) {
			r->result(r->arg, r->qi, res);
		}
		PQclear(res);
	}
	queue_pg_conn_notifies(c);
	if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_BAD) {
		char m[256];
		queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
		queue_pg_conn_lost(c, m);
	}
}

static void queue_pg_conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct queue_pg_conn *c = arg;
	if (!PQconsumeInput(c->pg)) {
		char m[256];
		queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
		queue_pg_conn_lost(c, m);
		return;
	}
	queue_pg_conn_process(c);
	/* Reading may have unblocked output libpq still holds. */
	if (c->pg != NULL && PQisnonblocking(c->pg))
		(void)queue_pg_conn_flush(c);
}

static void queue_pg_conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)queue_pg_conn_flush(arg);
}

/* Connected: non-blocking, pipeline mode, events on the socket, then the owner's setup. */
static void queue_pg_conn_connected(struct queue_pg_conn *c)
{
	if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
		char m[256];
		queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
		queue_pg_conn_lost(c, m);
		return;
	}
	int fd = PQsocket(c->pg);
	c->rev = event_new(c->base, fd, EV_READ | EV_PERSIST, queue_pg_conn_on_read, c);
	c->wev = event_new(c->base, fd, EV_WRITE | EV_PERSIST, queue_pg_conn_on_write, c);
	if (c->rev == NULL || c->wev == NULL)
		fatal("op=queue_pg event=conn reason=\"cannot create events\"");
	event_add(c->rev, NULL);
	c->state = QPC_SETUP;
	bool first = !c->setup_ran;
	c->setup_ran = true;
	c->o.setup(c->o.arg, c, first);
}

/* One step of an asynchronous connection: wait for the socket as libpq asks. */
static void queue_pg_conn_poll(evutil_socket_t fd, short what, void *arg);

static void queue_pg_conn_poll_step(struct queue_pg_conn *c, PostgresPollingStatusType p)
{
	if (p == PGRES_POLLING_OK) {
		queue_pg_conn_connected(c);
		return;
	}
	if (p == PGRES_POLLING_FAILED) {
		char m[256];
		queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
		queue_pg_conn_lost(c, m);
		return;
	}
	if (c->cev != NULL)
		event_free(c->cev);
	short ev = p == PGRES_POLLING_WRITING ? EV_WRITE : EV_READ;
	c->cev = event_new(c->base, PQsocket(c->pg), ev, queue_pg_conn_poll, c);
	struct timeval tv = { QUEUE_PG_SYNC_TIMEOUT_MS / 1000, 0 };
	if (c->cev == NULL || event_add(c->cev, &tv) != 0)
		fatal("op=queue_pg event=conn reason=\"cannot watch the socket\"");
}

static void queue_pg_conn_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	struct queue_pg_conn *c = arg;
	if (what & EV_TIMEOUT) {
		queue_pg_conn_lost(c, "timed out connecting");
		return;
	}
	queue_pg_conn_poll_step(c, PQconnectPoll(c->pg));
}

/* Begin a connection attempt (asynchronous). */
static void queue_pg_conn_start(struct queue_pg_conn *c)
{
	c->state = QPC_CONNECTING;
	c->pg = PQconnectStartParams(c->o.keywords, c->o.values, 1);
	if (c->pg == NULL) {
		queue_pg_conn_lost(c, "out of memory");
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		char m[256];
		queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
		queue_pg_conn_lost(c, m);
		return;
	}
	queue_pg_conn_poll_step(c, PGRES_POLLING_WRITING);
}

static void queue_pg_conn_on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_pg_conn_start(arg);
}

/*
 * The connection broke (or could not be made): every request in flight
 * fails from the loop, the owner hears it, and a new attempt comes after
 * the backoff. While opening, the error ends the open instead.
 */
static void queue_pg_conn_lost(struct queue_pg_conn *c, const char *why)
{
	bool was_up = c->state == QPC_READY || c->state == QPC_SETUP;
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->cev != NULL)
		event_free(c->cev);
	c->rev = c->wev = c->cev = NULL;
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	c->state = QPC_DOWN;
	char msg[300];
	snprintf(msg, sizeof(msg), "database connection lost: %s", why);
	while (c->head != NULL) {
		struct queue_pg_req *r = c->head;
		c->head = r->next;
		queue_pg_conn_fail_req(c, r, msg);
	}
	c->tail = NULL;
	if (c->open != NULL && c->open->ok) {
		c->open->ok = false;
		snprintf(c->open->err, sizeof(c->open->err), "%s", msg);
	}
	/* A sender waiting for the buffer to drain goes on, and finds its request failed. */
	if (c->drain_fn != NULL)
		event_active(c->drain_ev, 0, 0);
	if (c->opening) {
		snprintf(c->open_err, sizeof(c->open_err), "%s", why);
		return;
	}
	if (was_up || c->retry_ms == 0)
		log_msg(LOG_LVL_WARN, "op=queue_pg conn=%s event=lost reason=\"%s\" retry_ms=%u",
		    c->name, why, c->retry_ms ? c->retry_ms : QUEUE_PG_RETRY_MIN_MS);
	if (c->o.state != NULL)
		c->o.state(c->o.arg, c, false, why);
	c->retry_ms = c->retry_ms == 0 ? QUEUE_PG_RETRY_MIN_MS :
	    c->retry_ms * 2 > QUEUE_PG_RETRY_MAX_MS ? QUEUE_PG_RETRY_MAX_MS : c->retry_ms * 2;
	struct timeval tv = { c->retry_ms / 1000, (c->retry_ms % 1000) * 1000 };
	event_add(c->retry_ev, &tv);
}

void queue_pg_conn_reset(struct queue_pg_conn *c, const char *why)
{
	if (c->state != QPC_DOWN)
		queue_pg_conn_lost(c, why);
}

void queue_pg_conn_setup_done(struct queue_pg_conn *c, bool ok, const char *err)
{
	if (c->state != QPC_SETUP)
		return;
	if (!ok) {
		queue_pg_conn_lost(c, err != NULL ? err : "setup failed");
		return;
	}
	if (c->retry_ms != 0 && !c->opening)
		log_msg(LOG_LVL_INFO, "op=queue_pg conn=%s event=reconnected", c->name);
	c->state = QPC_READY;
	c->retry_ms = 0;
	if (c->o.state != NULL)
		c->o.state(c->o.arg, c, true, NULL);
}

/* Wait (blocking, at start only) until the setup ends; false with err. */
static bool queue_pg_conn_wait_setup(struct queue_pg_conn *c, char *err, size_t errlen)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (c->state == QPC_SETUP) {
		int fl = c->pg != NULL ? PQflush(c->pg) : -1;
		if (fl < 0)
			break;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent > QUEUE_PG_SYNC_TIMEOUT_MS) {
			queue_pg_conn_lost(c, "timed out setting up");
			break;
		}
		struct pollfd pfd = { .fd = PQsocket(c->pg), .events = POLLIN | (fl ? POLLOUT : 0) };
		int n = poll(&pfd, 1, (int)(QUEUE_PG_SYNC_TIMEOUT_MS - spent));
		if (n < 0 && errno != EINTR) {
			queue_pg_conn_lost(c, strerror(errno));
			break;
		}
		if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
			if (!PQconsumeInput(c->pg)) {
				char m[256];
				queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
				queue_pg_conn_lost(c, m);
				break;
			}
			queue_pg_conn_process(c);
		}
	}
	if (c->state == QPC_READY)
		return true;
	snprintf(err, errlen, "%s", c->open_err[0] != '\0' ? c->open_err : "setup failed");
	return false;
}

struct queue_pg_conn *queue_pg_conn_open(struct event_base *base,
    const struct queue_pg_conn_opts *opts, char *err, size_t errlen)
{
	struct queue_pg_conn *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->o = *opts;
	c->name = xstrdup(opts->name);
	c->retry_ev = event_new(base, -1, 0, queue_pg_conn_on_retry, c);
	c->fail_ev = event_new(base, -1, 0, queue_pg_conn_on_fail, c);
	c->drain_ev = event_new(base, -1, 0, queue_pg_conn_on_drain, c);
	if (c->retry_ev == NULL || c->fail_ev == NULL || c->drain_ev == NULL)
		fatal("op=queue_pg event=conn reason=\"cannot create events\"");
	c->opening = true;
	c->pg = PQconnectdbParams(opts->keywords, opts->values, 1);
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		queue_pg_conn_msg(c->pg != NULL ? PQerrorMessage(c->pg) : "out of memory", err, errlen);
		queue_pg_conn_free(c);
		return NULL;
	}
	queue_pg_conn_connected(c);
	if (!queue_pg_conn_wait_setup(c, err, errlen)) {
		queue_pg_conn_free(c);
		return NULL;
	}
	c->opening = false;
	return c;
}

void queue_pg_conn_free(struct queue_pg_conn *c)
{
	if (c == NULL)
		return;
	c->opening = true;	/* no retry, no state callback */
	if (c->state != QPC_DOWN || c->pg != NULL)
		queue_pg_conn_lost(c, "closing");
	/* What is still owed an answer gets it now: the store is closing. */
	queue_pg_conn_on_fail(-1, 0, c);
	free(c->open);
	event_free(c->retry_ev);
	event_free(c->fail_ev);
	event_free(c->drain_ev);
	free(c->name);
	free(c);
}

bool queue_pg_conn_ready(const struct queue_pg_conn *c)
{
	return c != NULL && c->state == QPC_READY;
}

bool queue_pg_conn_idle(const struct queue_pg_conn *c)
{
	return c != NULL && c->head == NULL && c->open == NULL;
}

struct queue_pg_req *queue_pg_req_begin(struct queue_pg_conn *c, queue_pg_result_fn *result,
    queue_pg_done_fn *done, void *arg)
{
	if (c->open != NULL)
		panic("op=queue_pg conn=%s reason=\"a request begun inside another\"", c->name);
	struct queue_pg_req *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->result = result;
	r->done = done;
	r->arg = arg;
	r->ok = c->state == QPC_READY || c->state == QPC_SETUP;
	if (!r->ok)
		snprintf(r->err, sizeof(r->err), "database not connected");
	c->open = r;
	return r;
}

/* The connection r is open on; a statement for any other request is a bug. */
static struct queue_pg_conn *queue_pg_req_conn(struct queue_pg_req *r)
{
	if (r->c->open != r)
		panic("op=queue_pg reason=\"statement for a request that is not open\"");
	return r->c;
}

/* After a send failed: the connection is unusable. */
static void queue_pg_req_send_failed(struct queue_pg_conn *c, struct queue_pg_req *r)
{
	char m[256];
	queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
	r->ok = false;
	snprintf(r->err, sizeof(r->err), "send: %.300s", m);
	queue_pg_conn_lost(c, m);
}

void queue_pg_req_stmt(struct queue_pg_req *r, int stmt, int n, const char *const *vals,
    const int *lens, const int *fmts, int result_fmt)
{
	struct queue_pg_conn *c = queue_pg_req_conn(r);
	if (!r->ok || c->pg == NULL)
		return;
	if (!PQsendQueryPrepared(c->pg, queue_pg_sql_name((enum queue_pg_stmt)stmt), n, vals, lens,
	    fmts, result_fmt)) {
		queue_pg_req_send_failed(c, r);
		return;
	}
	r->nq++;
}

void queue_pg_req_prepare(struct queue_pg_req *r, int stmt)
{
	struct queue_pg_conn *c = queue_pg_req_conn(r);
	if (!r->ok || c->pg == NULL)
		return;
	enum queue_pg_stmt s = (enum queue_pg_stmt)stmt;
	if (!PQsendPrepare(c->pg, queue_pg_sql_name(s), queue_pg_sql_text(s), 0, NULL)) {
		queue_pg_req_send_failed(c, r);
		return;
	}
	r->nq++;
}

void queue_pg_req_sql(struct queue_pg_req *r, const char *sql, int n, const char *const *vals)
{
	struct queue_pg_conn *c = queue_pg_req_conn(r);
	if (!r->ok || c->pg == NULL)
		return;
	if (!PQsendQueryParams(c->pg, sql, n, NULL, vals, NULL, NULL, 0)) {
		queue_pg_req_send_failed(c, r);
		return;
	}
	r->nq++;
}

void queue_pg_req_end(struct queue_pg_req *r)
{
	struct queue_pg_conn *c = queue_pg_req_conn(r);
	c->open = NULL;
	if (!r->ok || c->pg == NULL) {
		queue_pg_conn_fail_req(c, r, r->err[0] != '\0' ? r->err : "database not connected");
		return;
	}
	if (PQpipelineSync(c->pg) != 1) {
		char m[256];
		queue_pg_conn_msg(PQerrorMessage(c->pg), m, sizeof(m));
		queue_pg_conn_fail_req(c, r, m);
		queue_pg_conn_lost(c, m);
		return;
	}
	r->next = NULL;
	if (c->tail != NULL)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	(void)queue_pg_conn_flush(c);
}

void queue_pg_conn_when_drained(struct queue_pg_conn *c, void (*fn)(void *arg), void *arg)
{
	c->drain_fn = fn;
	c->drain_arg = arg;
	if (c->pg == NULL) {
		/* Lost: the sender goes on and finds its request failed. */
		event_active(c->drain_ev, 0, 0);
		return;
	}
	(void)queue_pg_conn_flush(c);
}

bool queue_pg_req_ok(const struct queue_pg_req *r)
{
	return r->ok;
}
