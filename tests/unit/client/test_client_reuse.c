/*
 * test_client_reuse: connection reuse and smarthost batching, driven
 * through one mxr_context on this test's own loop against a loopback SMTP
 * receiver (a thread) that counts connections, transactions and QUITs and
 * can misbehave: close after a message, drop at a MAIL, send 421 while
 * the client is idle, never answer the final dot. Also the orderly end:
 * mxr_context_close_idle() and mxr_delivery_cancel(). Address-literal recipients and a numeric smarthost
 * keep DNS out of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsupport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "mxrelay/mxrelay.h"

/* How the receiver behaves; zero is a plain, well-behaved server. */
struct script {
	int close_after_dots;	/* close (no reply pending) after this many messages on a connection */
	int drop_at_mail;	/* close without a reply at this MAIL of a connection (1 = first) */
	int drop_conns;		/* ... only on the first this many connections */
	int idle_421_ms;	/* after each message, send 421 if nothing comes for this long */
	bool hang_at_dot;	/* never answer the final dot; wait for the client to close */
};

struct server {
	int lfd;
	uint16_t port;
	pthread_t th;
	struct script sc;
	int nconn, nmail, nrset, nquit, ndot, nclosed;	/* read with __atomic */
	char log[16384];	/* commands of every connection, "--" between connections */
	size_t loglen;
};

static int srv_get(int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void srv_inc(int *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
}

static void srv_reply(int fd, const char *r)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", r);
	ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
	(void)w;
}

/* Read one line into buf (CRLF stripped); false at EOF. */
static bool srv_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		char c;
		ssize_t r = recv(fd, &c, 1, 0);
		if (r <= 0)
			return false;
		if (c == '\n')
			break;
		if (c != '\r')
			buf[n++] = c;
	}
	buf[n] = '\0';
	return true;
}

static void srv_log(struct server *s, const char *line)
{
	int k = snprintf(s->log + s->loglen, sizeof(s->log) - s->loglen, "%s\n", line);
	if (k > 0 && s->loglen + (size_t)k < sizeof(s->log))
		s->loglen += (size_t)k;
}

/* Serve one connection; returns when it ends. */
static void srv_conn(struct server *s, int fd, int conn_no)
{
	const struct script *sc = &s->sc;
	int mails = 0, dots = 0;
	char line[2048];
	srv_reply(fd, "220 rx.test ESMTP");
	for (;;) {
		if (sc->idle_421_ms > 0 && dots > 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, sc->idle_421_ms) == 0) {
				srv_log(s, "(421)");
				srv_reply(fd, "421 4.4.2 rx.test idle too long");
				return;
			}
		}
		if (!srv_line(fd, line, sizeof(line)))
			return;
		srv_log(s, line);
		if (strncasecmp(line, "EHLO", 4) == 0) {
			srv_reply(fd, "250-rx.test\r\n250-PIPELINING\r\n250 8BITMIME");
		} else if (strncasecmp(line, "MAIL", 4) == 0) {
			mails++;
			if (sc->drop_at_mail == mails && conn_no <= sc->drop_conns) {
				srv_log(s, "(drop)");
				return;
			}
			srv_inc(&s->nmail);
			srv_reply(fd, "250 2.1.0 Ok");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			srv_reply(fd, "250 2.1.5 Ok");
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			srv_reply(fd, "354 go ahead");
			while (srv_line(fd, line, sizeof(line)) && strcmp(line, ".") != 0)
				;
			srv_inc(&s->ndot);
			dots++;
			if (sc->hang_at_dot) {
				while (srv_line(fd, line, sizeof(line)))
					;
				srv_log(s, "(closed by the client)");
				srv_inc(&s->nclosed);
				return;
			}
			srv_reply(fd, "250 2.0.0 queued");
			if (sc->close_after_dots == dots) {
				srv_log(s, "(close)");
				return;
			}
		} else if (strncasecmp(line, "RSET", 4) == 0) {
			srv_inc(&s->nrset);
			srv_reply(fd, "250 2.0.0 Ok");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			srv_inc(&s->nquit);
			srv_reply(fd, "221 2.0.0 Bye");
			return;
		} else {
			srv_reply(fd, "502 5.5.2 what?");
		}
	}
}

/* Accept and serve connections one after another until the listener is shut. */
static void *srv_main(void *arg)
{
	struct server *s = arg;
	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		srv_inc(&s->nconn);
		srv_log(s, "--");
		srv_conn(s, fd, srv_get(&s->nconn));
		close(fd);
	}
}

static void srv_start(struct server *s, const struct script *sc)
{
	memset(s, 0, sizeof(*s));
	if (sc != NULL)
		s->sc = *sc;
	s->lfd = tsupport_listen_loopback(16, &s->port);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(struct server *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* Wait up to ms for *p to reach want (the receiver runs in its own thread). */
static int srv_wait(int *p, int want, int ms)
{
	for (int i = 0; i < ms / 5 && srv_get(p) < want; i++)
		usleep(5000);
	return srv_get(p);
}

/* The client side: one context on this test's loop. */
struct client {
	struct event_base *base;
	struct mxr_context *ctx;
	struct mxr_result res[4];
	size_t nres;
	bool done;
	char reuse_text[256];	/* the "reusing connection" event text, if any */
};

static void cl_event(const struct mxr_event *e, void *arg)
{
	struct client *c = arg;
	if (e->stage == MXR_STAGE_CONNECT && strncmp(e->text, "reusing", 7) == 0)
		snprintf(c->reuse_text, sizeof(c->reuse_text), "%s", e->text);
}

static void cl_done(const struct mxr_result *r, size_t n, void *arg)
{
	struct client *c = arg;
	c->nres = n < 4 ? n : 4;
	memcpy(c->res, r, c->nres * sizeof(*r));
	c->done = true;
}

static void cl_open(struct client *c, const struct server *s, unsigned idle_ms, unsigned max_msgs,
    const char *smarthost)
{
	memset(c, 0, sizeof(*c));
	c->base = event_base_new();
	assert_non_null(c->base);
	struct mxr_options opt = {
		.helo_name = "client.test",
		.port = s->port,
		.tls = MXR_TLS_NONE,
		.smarthost = smarthost,
		.timeouts = { .connect = 5, .greeting = 5, .helo = 5, .mail = 5, .rcpt = 5,
			      .data_init = 5, .data_block = 5, .data_term = 5 },
		.reuse_idle_ms = idle_ms,
		.reuse_max_msgs = max_msgs,
	};
	char err[256];
	c->ctx = mxr_context_new(c->base, &opt, err, sizeof(err));
	if (c->ctx == NULL)
		fail_msg("mxr_context_new: %s", err);
}

static void cl_close(struct client *c)
{
	mxr_context_free(c->ctx);
	event_base_free(c->base);
}

/* A 1 KiB message. */
static const char *msg_text(void)
{
	static char text[1025];
	if (text[0] == '\0') {
		memset(text, 'x', sizeof(text) - 1);
		memcpy(text, "Subject: reuse\r\n\r\n", 18);
		for (size_t i = 80; i < sizeof(text) - 1; i += 80) {
			text[i - 2] = '\r';
			text[i - 1] = '\n';
		}
		text[sizeof(text) - 3] = '\r';
		text[sizeof(text) - 2] = '\n';
	}
	return text;
}

/* Deliver one message to rcpts and run the loop until its results are in. */
static void cl_deliver(struct client *c, const char *const *rcpts, size_t n)
{
	struct mxr_rcpt r[4];
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++)
		r[i].address = rcpts[i];
	struct mxr_message m = {
		.sender = "alice@sender.test",
		.rcpts = r,
		.nrcpts = n,
		.src = mxr_source_mem(msg_text(), strlen(msg_text())),
	};
	c->done = false;
	c->reuse_text[0] = '\0';
	mxr_delivery_start(c->ctx, &m, cl_event, cl_done, c);
	while (!c->done)
		assert_int_equal(event_base_loop(c->base, EVLOOP_ONCE), 0);
}

/* Run the loop for ms milliseconds (idle timers, closed peers). */
static void cl_run(struct client *c, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	event_base_loopexit(c->base, &tv);
	event_base_dispatch(c->base);
}

static void want_delivered(const struct client *c, size_t n)
{
	assert_int_equal(c->nres, n);
	for (size_t i = 0; i < n; i++)
		if (c->res[i].status != MXR_DELIVERED)
			fail_msg("<%s>: got %s %d \"%s\", want delivered", c->res[i].rcpt,
			    mxr_status_name(c->res[i].status), c->res[i].code, c->res[i].text);
}

static const char *const one_rcpt[] = { "bob@[127.0.0.1]" };

/* Reuse on: three messages, one connection, three transactions, no RSET, no QUIT between. */
static void test_reuse_one_connection(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	srv_start(&s, NULL);
	cl_open(&c, &s, 5000, 0, NULL);
	for (int i = 0; i < 3; i++) {
		cl_deliver(&c, one_rcpt, 1);
		want_delivered(&c, 1);
		assert_int_equal(mxr_context_idle_count(c.ctx), 1);
		if (i > 0 && strstr(c.reuse_text, "reusing connection to [127.0.0.1][127.0.0.1]") == NULL)
			fail_msg("message %d: reuse event \"%s\"", i + 1, c.reuse_text);
	}
	assert_int_equal(srv_wait(&s.ndot, 3, 2000), 3);
	if (srv_get(&s.nconn) != 1 || srv_get(&s.nmail) != 3 || srv_get(&s.nrset) != 0 ||
	    srv_get(&s.nquit) != 0)
		fail_msg("got conn=%d mail=%d rset=%d quit=%d, want 1 3 0 0\n%s", srv_get(&s.nconn),
		    srv_get(&s.nmail), srv_get(&s.nrset), srv_get(&s.nquit), s.log);
	cl_close(&c);
	srv_stop(&s);
}

/* Reuse off: one connection per message, each ended with QUIT. */
static void test_reuse_off(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	srv_start(&s, NULL);
	cl_open(&c, &s, 0, 0, NULL);
	for (int i = 0; i < 3; i++) {
		cl_deliver(&c, one_rcpt, 1);
		want_delivered(&c, 1);
		assert_int_equal(mxr_context_idle_count(c.ctx), 0);
	}
	assert_int_equal(srv_wait(&s.nquit, 3, 2000), 3);
	assert_int_equal(srv_get(&s.nconn), 3);
	assert_int_equal(srv_get(&s.nmail), 3);
	cl_close(&c);
	srv_stop(&s);
}

/* reuse_max_msgs 2: the third message opens a second connection; the first ended with QUIT. */
static void test_reuse_max_msgs(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	srv_start(&s, NULL);
	cl_open(&c, &s, 5000, 2, NULL);
	for (int i = 0; i < 3; i++) {
		cl_deliver(&c, one_rcpt, 1);
		want_delivered(&c, 1);
	}
	assert_int_equal(srv_wait(&s.ndot, 3, 2000), 3);
	assert_int_equal(srv_get(&s.nconn), 2);
	assert_int_equal(srv_get(&s.nquit), 1);
	cl_close(&c);
	srv_stop(&s);
}

/* An idle session past reuse_idle_ms says QUIT and leaves the cache. */
static void test_idle_expiry(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	srv_start(&s, NULL);
	cl_open(&c, &s, 150, 0, NULL);
	cl_deliver(&c, one_rcpt, 1);
	want_delivered(&c, 1);
	assert_int_equal(mxr_context_idle_count(c.ctx), 1);
	cl_run(&c, 600);
	assert_int_equal(mxr_context_idle_count(c.ctx), 0);
	assert_int_equal(srv_wait(&s.nquit, 1, 2000), 1);
	cl_deliver(&c, one_rcpt, 1);
	want_delivered(&c, 1);
	assert_int_equal(srv_get(&s.nconn), 2);
	cl_close(&c);
	srv_stop(&s);
}

/* The peer closes an idle session: it leaves the cache; the next message connects afresh. */
static void test_peer_closes_idle(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	static const struct script sc = { .close_after_dots = 1 };
	srv_start(&s, &sc);
	cl_open(&c, &s, 5000, 0, NULL);
	cl_deliver(&c, one_rcpt, 1);
	want_delivered(&c, 1);
	cl_run(&c, 300);
	assert_int_equal(mxr_context_idle_count(c.ctx), 0);
	cl_deliver(&c, one_rcpt, 1);
	want_delivered(&c, 1);
	assert_string_equal(c.reuse_text, "");
	assert_int_equal(srv_get(&s.nconn), 2);
	cl_close(&c);
	srv_stop(&s);
}

/* A 421 while idle closes the session without QUIT. */
static void test_421_while_idle(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	static const struct script sc = { .idle_421_ms = 100 };
	srv_start(&s, &sc);
	cl_open(&c, &s, 5000, 0, NULL);
	cl_deliver(&c, one_rcpt, 1);
	want_delivered(&c, 1);
	cl_run(&c, 400);
	assert_int_equal(mxr_context_idle_count(c.ctx), 0);
	assert_int_equal(srv_get(&s.nquit), 0);
	cl_close(&c);
	srv_stop(&s);
}

/*
 * The server dropped the idle connection without the client seeing it
 * (it closes only when MAIL comes): the message goes on a fresh
 * connection, once, and the recipient is delivered.
 */
static void test_dead_reused_retried_once(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	static const struct script sc = { .drop_at_mail = 2, .drop_conns = 1 };
	srv_start(&s, &sc);
	cl_open(&c, &s, 5000, 0, NULL);
	cl_deliver(&c, one_rcpt, 1);
	want_delivered(&c, 1);
	cl_deliver(&c, one_rcpt, 1);
	want_delivered(&c, 1);
	if (strstr(c.reuse_text, "reusing") == NULL)
		fail_msg("the second message did not try the idle connection\n%s", s.log);
	assert_int_equal(srv_get(&s.nconn), 2);
	assert_int_equal(srv_get(&s.ndot), 2);
	cl_close(&c);
	srv_stop(&s);
}

/* Through a smarthost, recipients of two domains share one transaction. */
static void test_smarthost_one_transaction(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	srv_start(&s, NULL);
	char relay[64];
	snprintf(relay, sizeof(relay), "[127.0.0.1]:%u", (unsigned)s.port);
	cl_open(&c, &s, 0, 0, relay);
	static const char *const rc[] = { "bob@a.test", "dave@b.test", "carol@a.test" };
	cl_deliver(&c, rc, 3);
	want_delivered(&c, 3);
	assert_string_equal(c.res[1].domain, "b.test");
	assert_int_equal(srv_wait(&s.nquit, 1, 2000), 1);
	assert_int_equal(srv_get(&s.nconn), 1);
	assert_int_equal(srv_get(&s.nmail), 1);
	if (strstr(s.log, "RCPT TO:<bob@a.test>\nRCPT TO:<dave@b.test>\nRCPT TO:<carol@a.test>\nDATA")
	    == NULL)
		fail_msg("want the three RCPTs in one transaction, in order:\n%s", s.log);
	cl_close(&c);
	srv_stop(&s);
}

/* mxr_context_close_idle: the idle session says QUIT at once and leaves the cache. */
static void test_close_idle(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	srv_start(&s, NULL);
	cl_open(&c, &s, 60000, 0, NULL);
	cl_deliver(&c, one_rcpt, 1);
	want_delivered(&c, 1);
	assert_int_equal(mxr_context_idle_count(c.ctx), 1);
	mxr_context_close_idle(c.ctx);
	while (mxr_context_idle_count(c.ctx) > 0)
		assert_int_equal(event_base_loop(c.base, EVLOOP_ONCE), 0);
	assert_int_equal(srv_wait(&s.nquit, 1, 2000), 1);
	assert_int_equal(srv_get(&s.nconn), 1);
	cl_close(&c);
	srv_stop(&s);
}

/*
 * mxr_delivery_cancel on a delivery waiting for the reply to its dot: the
 * connection closes at once, no callback runs afterwards, and everything
 * is freed (LeakSanitizer checks that in the sanitizer build).
 */
static void test_cancel_running(void **state)
{
	(void)state;
	struct server s;
	struct client c;
	static const struct script sc = { .hang_at_dot = true };
	srv_start(&s, &sc);
	cl_open(&c, &s, 5000, 0, NULL);
	struct mxr_rcpt r = { .address = one_rcpt[0] };
	struct mxr_message m = {
		.sender = "alice@sender.test",
		.rcpts = &r,
		.nrcpts = 1,
		.src = mxr_source_mem(msg_text(), strlen(msg_text())),
	};
	struct mxr_delivery *d = mxr_delivery_start(c.ctx, &m, cl_event, cl_done, &c);
	assert_non_null(d);
	while (srv_get(&s.ndot) < 1) {
		assert_int_equal(event_base_loop(c.base, EVLOOP_NONBLOCK), 0);
		usleep(1000);
	}
	mxr_delivery_cancel(d);
	/* libevent closes a freed bufferevent's socket from the loop (its finalizers). */
	cl_run(&c, 100);
	assert_int_equal(srv_wait(&s.nclosed, 1, 5000), 1);
	if (c.done)
		fail_msg("done ran after mxr_delivery_cancel");
	assert_int_equal(mxr_context_idle_count(c.ctx), 0);
	mxr_delivery_cancel(NULL);
	cl_close(&c);
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse_one_connection),
		cmocka_unit_test(test_reuse_off),
		cmocka_unit_test(test_reuse_max_msgs),
		cmocka_unit_test(test_idle_expiry),
		cmocka_unit_test(test_peer_closes_idle),
		cmocka_unit_test(test_421_while_idle),
		cmocka_unit_test(test_dead_reused_retried_once),
		cmocka_unit_test(test_smarthost_one_transaction),
		cmocka_unit_test(test_close_idle),
		cmocka_unit_test(test_cancel_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
