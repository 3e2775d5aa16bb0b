/*
 * test_net_conn: real loopback exchanges through net_conn and net_tls on
 * 127.0.0.1, both ends inside one event loop.
 *
 * Covers: connect and line exchange, the readline cap, the read timeout,
 * a refused connect's text, STARTTLS on both sides with a certificate made
 * here, verification failure, pipelined bytes dropped at STARTTLS,
 * implicit TLS, deferred free, server context errors, and a write the
 * output buffer refuses aborting instead of being dropped.
 * Never: reaches beyond loopback or leaves files behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "net/net_conn.h"
#include "net/net_tls.h"
#include "tsupport.h"
#include "util/xalloc.h"

enum scenario {
	SC_PLAIN,
	SC_READLINE,
	SC_TIMEOUT,
	SC_REFUSED,
	SC_STARTTLS,
	SC_VERIFY_FAIL,
	SC_PIPELINED,
	SC_IMPLICIT,
	SC_BULK,
	SC_TLS_BULK,
};

struct end {
	struct net_conn *c;
	char lines[8][128];
	int nlines;
	bool connected, tls_ok, eof, error, timeout;
	char err[256];
	bool verified;
	char version[32];
};

struct t {
	enum scenario sc;
	struct event_base *base;
	int lfd;
	struct sockaddr_in addr;
	struct event *lev;
	struct event *guard;
	SSL_CTX *srv_ctx;	/* server TLS */
	SSL_CTX *cli_ctx;	/* the client context the scenario uses */
	const char *sni;
	struct end srv, cli;
	int readline_step;
	int readline_results[6];
	char readline_text[4][32];
	size_t bulk_sent, bulk_received;
	int drained;
	bool saw_pending;
};

/* Files made once for all TLS tests. */
struct pki {
	char dir[64];
	char cert[96];
	char key[96];
	char otherkey[96];
};

static struct pki *pki_of(void **state)
{
	return *state;
}

static int pki_setup(void **state)
{
	struct pki *p = calloc(1, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/mxr-net-XXXXXX");
	if (mkdtemp(p->dir) == NULL)
		return -1;
	snprintf(p->cert, sizeof(p->cert), "%s/cert.pem", p->dir);
	snprintf(p->key, sizeof(p->key), "%s/key.pem", p->dir);
	snprintf(p->otherkey, sizeof(p->otherkey), "%s/other.pem", p->dir);
	EVP_PKEY *k = tsupport_write_key(p->key);
	tsupport_write_cert(k, p->cert, -3600, 86400);
	EVP_PKEY_free(k);
	EVP_PKEY_free(tsupport_write_key(p->otherkey));
	*state = p;
	return 0;
}

static int pki_teardown(void **state)
{
	struct pki *p = *state;
	unlink(p->cert);
	unlink(p->key);
	unlink(p->otherkey);
	rmdir(p->dir);
	free(p);
	return 0;
}

static void done(struct t *t)
{
	event_base_loopbreak(t->base);
}

/* Take every complete line into e->lines; returns how many were new. */
static int take_lines(struct end *e)
{
	char buf[128];
	size_t len;
	int n = 0;
	while (e->nlines < 8 && net_conn_readline(e->c, buf, sizeof(buf), &len) == 1) {
		snprintf(e->lines[e->nlines++], sizeof(e->lines[0]), "%s", buf);
		n++;
	}
	return n;
}

static void note_common(struct end *e, enum net_event ev)
{
	switch (ev) {
	case NET_EV_CONNECTED: e->connected = true; break;
	case NET_EV_TLS_OK:
		e->tls_ok = true;
		e->verified = net_conn_tls_verified(e->c);
		snprintf(e->version, sizeof(e->version), "%s", net_conn_tls_version(e->c));
		break;
	case NET_EV_EOF: e->eof = true; break;
	case NET_EV_ERROR:
		e->error = true;
		snprintf(e->err, sizeof(e->err), "%s", net_conn_error(e->c));
		break;
	case NET_EV_TIMEOUT:
		e->timeout = true;
		snprintf(e->err, sizeof(e->err), "%s", net_conn_error(e->c));
		break;
	default: break;
	}
}

/* What the bulk scenario sends, in chunks refilled at the low-water mark. */
#define BULK_TOTAL (4u * 1024 * 1024)
#define BULK_CHUNK (256u * 1024)

/*
 * The TLS bulk scenario writes as the DATA pump does: while net_conn_pending
 * is under a high-water mark, then again at each NET_EV_DRAINED.
 */
#define TLS_BULK_HIWAT (256u * 1024)
#define TLS_BULK_LOWAT (64u * 1024)

static void tls_bulk_pump(struct t *t, struct net_conn *c)
{
	static const char block[16384];
	while (t->bulk_sent < BULK_TOTAL && net_conn_pending(c) < TLS_BULK_HIWAT) {
		net_conn_write(c, block, sizeof(block));
		t->bulk_sent += sizeof(block);
	}
	if (net_conn_pending(c) > 0)
		t->saw_pending = true;
}

/* Top the client's output up to one chunk while the total lasts. */
static void bulk_fill(struct t *t, struct net_conn *c)
{
	static const char block[4096];
	size_t room = BULK_CHUNK;
	while (room > 0 && t->bulk_sent < BULK_TOTAL) {
		size_t n = sizeof(block) < room ? sizeof(block) : room;
		net_conn_write(c, block, n);
		t->bulk_sent += n;
		room -= n;
	}
	if (net_conn_pending(c) > 0)
		t->saw_pending = true;
}

/* The server end of every scenario. */
static void server_cb(struct net_conn *c, enum net_event ev, void *arg)
{
	struct t *t = arg;
	struct end *e = &t->srv;
	note_common(e, ev);
	if (t->sc == SC_READLINE && ev == NET_EV_READ) {
		/* Wait for all 27 octets the client sends, then probe the cap. */
		if (evbuffer_get_length(net_conn_input(c)) < 27)
			return;
		char buf[32];
		size_t len = 0;
		int i = 0;
		t->readline_results[i++] = net_conn_readline(c, buf, 8, &len);	/* 10 octets: too long */
		t->readline_results[i++] = net_conn_readline(c, buf, 11, &len);	/* fits exactly */
		snprintf(t->readline_text[0], 32, "%s", buf);
		t->readline_results[i++] = net_conn_readline(c, buf, 4, &len);	/* "abc" LF only */
		snprintf(t->readline_text[1], 32, "%s", buf);
		t->readline_results[i++] = net_conn_readline(c, buf, 32, &len);	/* "" */
		snprintf(t->readline_text[2], 32, "%s", buf);
		t->readline_results[i++] = net_conn_readline(c, buf, 8, &len);	/* no LF, over cap */
		t->readline_results[i++] = net_conn_readline(c, buf, 32, &len);	/* no LF, fits */
		done(t);
		return;
	}
	if ((t->sc == SC_BULK || t->sc == SC_TLS_BULK) && ev == NET_EV_READ) {
		struct evbuffer *in = net_conn_input(c);
		t->bulk_received += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (t->bulk_received == BULK_TOTAL)
			done(t);
		return;
	}
	if (ev == NET_EV_TLS_OK && t->sc == SC_IMPLICIT) {
		net_conn_printf(c, "220 implicit\r\n");
		return;
	}
	if (ev != NET_EV_READ)
		return;
	/* One line at a time, as a server must: STARTTLS changes what follows. */
	char l[128];
	size_t len;
	while (e->nlines < 8 && net_conn_readline(c, l, sizeof(l), &len) == 1) {
		snprintf(e->lines[e->nlines++], sizeof(e->lines[0]), "%s", l);
		if (strcmp(l, "STARTTLS") == 0) {
			net_conn_printf(c, "220 go ahead\r\n");
			assert_int_equal(net_conn_starttls(c, t->srv_ctx, NULL, true), 0);
		} else if (strncmp(l, "EHLO", 4) == 0) {
			net_conn_printf(c, "250 %s\r\n", net_conn_is_tls(c) ? "tls" : "plain");
		} else if (strcmp(l, "QUIT") == 0) {
			net_conn_printf(c, "221 bye\r\n");
			net_conn_close_after_flush(c);
			t->srv.c = NULL;
			return;
		} else {
			net_conn_printf(c, "500 what\r\n");
		}
	}
}

/* The client end: speaks a tiny SMTP-like script. */
static void client_cb(struct net_conn *c, enum net_event ev, void *arg)
{
	struct t *t = arg;
	struct end *e = &t->cli;
	note_common(e, ev);
	switch (ev) {
	case NET_EV_CONNECTED:
		if (t->sc == SC_BULK) {
			net_conn_set_lowat(c, 16 * 1024);
			bulk_fill(t, c);
		}
		if (t->sc == SC_READLINE)
			net_conn_printf(c, "0123456789\r\nabc\n\r\nxxxxxxxxxxxx");
		return;
	case NET_EV_TIMEOUT:
	case NET_EV_ERROR:
		done(t);
		return;
	case NET_EV_EOF:
		/* Deferred free: released after this callback returns. */
		net_conn_free(c);
		t->cli.c = NULL;
		done(t);
		return;
	case NET_EV_TLS_OK:
		if (t->sc == SC_TLS_BULK) {
			net_conn_set_lowat(c, TLS_BULK_LOWAT);
			tls_bulk_pump(t, c);
			return;
		}
		/* After STARTTLS the client speaks first; with implicit TLS it waits for 220. */
		if (t->sc != SC_IMPLICIT)
			net_conn_printf(c, "EHLO client.test\r\n");
		return;
	case NET_EV_READ:
		break;
	case NET_EV_DRAINED:
		t->drained++;
		if (t->sc == SC_BULK)
			bulk_fill(t, c);
		else if (t->sc == SC_TLS_BULK)
			tls_bulk_pump(t, c);
		return;
	default:
		return;
	}
	int before = e->nlines;
	take_lines(e);
	for (int i = before; i < e->nlines; i++) {
		const char *l = e->lines[i];
		if (strncmp(l, "220 hello", 9) == 0) {
			if (t->sc == SC_PLAIN)
				net_conn_printf(c, "EHLO client.test\r\n");
			else if (t->sc == SC_PIPELINED)
				net_conn_printf(c, "STARTTLS\r\nMAIL FROM:<early@x.test>\r\n");
			else if (t->sc == SC_STARTTLS || t->sc == SC_VERIFY_FAIL)
				net_conn_printf(c, "STARTTLS\r\n");
		} else if (strncmp(l, "220 go ahead", 12) == 0) {
			assert_int_equal(net_conn_starttls(c, t->cli_ctx, t->sni, false), 0);
		} else if (strncmp(l, "220 implicit", 12) == 0) {
			net_conn_printf(c, "EHLO client.test\r\n");
		} else if (strncmp(l, "250 ", 4) == 0) {
			net_conn_printf(c, "QUIT\r\n");
		}
	}
}

/* A new connection on the listener: the server end. */
static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct t *t = arg;
	(void)what;
	int fd = accept4((int)lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	bool implicit = t->sc == SC_IMPLICIT || t->sc == SC_TLS_BULK;
	t->srv.c = net_conn_accept(t->base, fd, implicit ? t->srv_ctx : NULL, server_cb, t);
	assert_non_null(t->srv.c);
	if (t->sc == SC_PLAIN || t->sc == SC_STARTTLS || t->sc == SC_VERIFY_FAIL ||
	    t->sc == SC_PIPELINED)
		net_conn_printf(t->srv.c, "220 hello\r\n");
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct t *t = arg;
	fail_msg("scenario %d did not finish in time", (int)t->sc);
}

/* Listener on 127.0.0.1 with a kernel-chosen port, and a 5 s guard. */
static void t_init(struct t *t, enum scenario sc)
{
	memset(t, 0, sizeof(*t));
	t->sc = sc;
	t->base = event_base_new();
	assert_non_null(t->base);
	t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(t->lfd >= 0);
	t->addr.sin_family = AF_INET;
	t->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(t->lfd, (struct sockaddr *)&t->addr, sizeof(t->addr)), 0);
	socklen_t len = sizeof(t->addr);
	assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&t->addr, &len), 0);
	assert_int_equal(listen(t->lfd, 16), 0);
	t->lev = event_new(t->base, t->lfd, EV_READ | EV_PERSIST, accept_cb, t);
	event_add(t->lev, NULL);
	t->guard = evtimer_new(t->base, guard_cb, t);
	struct timeval tv = { 5, 0 };
	event_add(t->guard, &tv);
}

/* Let pending closes finish, then free everything. */
static void t_fini(struct t *t)
{
	struct timeval tv = { 0, 100000 };
	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
	net_conn_free(t->cli.c);
	net_conn_free(t->srv.c);
	event_free(t->lev);
	event_free(t->guard);
	close(t->lfd);
	net_tls_ctx_free(t->srv_ctx);
	net_tls_ctx_free(t->cli_ctx);
	event_base_free(t->base);
}

static void t_connect(struct t *t)
{
	const char *err = NULL;
	t->cli.c = net_conn_connect(t->base, (struct sockaddr *)&t->addr, sizeof(t->addr), NULL, 0,
	    2000, client_cb, t, &err);
	assert_non_null(t->cli.c);
	event_base_dispatch(t->base);
}

static void test_plain_exchange(void **state)
{
	(void)state;
	struct t t;
	t_init(&t, SC_PLAIN);
	t_connect(&t);
	assert_true(t.cli.connected);
	assert_int_equal(t.cli.nlines, 3);
	assert_string_equal(t.cli.lines[0], "220 hello");
	assert_string_equal(t.cli.lines[1], "250 plain");
	assert_string_equal(t.cli.lines[2], "221 bye");
	assert_true(t.cli.eof);
	assert_string_equal(t.srv.lines[0], "EHLO client.test");
	assert_false(t.cli.error);
	t_fini(&t);
}

static void test_readline_cap(void **state)
{
	(void)state;
	struct t t;
	t_init(&t, SC_READLINE);
	t_connect(&t);
	static const int want[6] = { -1, 1, 1, 1, -1, 0 };
	for (int i = 0; i < 6; i++)
		if (t.readline_results[i] != want[i])
			fail_msg("readline call %d: got %d, want %d", i, t.readline_results[i], want[i]);
	assert_string_equal(t.readline_text[0], "0123456789");
	assert_string_equal(t.readline_text[1], "abc");
	assert_string_equal(t.readline_text[2], "");
	t_fini(&t);
}

static void test_read_timeout(void **state)
{
	(void)state;
	struct t t;
	t_init(&t, SC_TIMEOUT);
	const char *err = NULL;
	t.cli.c = net_conn_connect(t.base, (struct sockaddr *)&t.addr, sizeof(t.addr), NULL, 0,
	    2000, client_cb, &t, &err);
	assert_non_null(t.cli.c);
	net_conn_set_timeout(t.cli.c, 200);
	event_base_dispatch(t.base);
	assert_true(t.cli.connected);
	assert_true(t.cli.timeout);
	assert_string_equal(t.cli.err, "connection timed out after 200 ms");
	t_fini(&t);
}

static void test_connect_refused(void **state)
{
	(void)state;
	struct t t;
	t_init(&t, SC_REFUSED);
	/* A port nobody listens on: the listener's, once closed. */
	event_del(t.lev);
	close(t.lfd);
	t.lfd = socket(AF_INET, SOCK_STREAM, 0);
	t_connect(&t);
	assert_true(t.cli.error);
	assert_false(t.cli.connected);
	char want[128];
	snprintf(want, sizeof(want), "connect to 127.0.0.1:%u: Connection refused",
	    ntohs(t.addr.sin_port));
	assert_string_equal(t.cli.err, want);
	t_fini(&t);
}

static void tls_ctxs(struct t *t, struct pki *p, const char *ca, bool verify)
{
	const char *err = NULL;
	t->srv_ctx = net_tls_server_ctx(p->cert, p->key, &err);
	if (t->srv_ctx == NULL)
		fail_msg("server ctx: %s", err);
	t->cli_ctx = net_tls_client_ctx(ca, verify, &err);
	if (t->cli_ctx == NULL)
		fail_msg("client ctx: %s", err);
	t->sni = "mx.test";
}

static void test_starttls_opportunistic(void **state)
{
	struct t t;
	t_init(&t, SC_STARTTLS);
	tls_ctxs(&t, pki_of(state), NULL, false);
	t_connect(&t);
	assert_false(t.cli.error);
	assert_true(t.cli.tls_ok);
	assert_true(t.srv.tls_ok);
	assert_false(t.cli.verified);	/* self-signed, not in the system store */
	assert_string_equal(t.cli.version, "TLSv1.3");
	assert_int_equal(t.cli.nlines, 4);
	assert_string_equal(t.cli.lines[1], "220 go ahead");
	assert_string_equal(t.cli.lines[2], "250 tls");
	t_fini(&t);
}

static void test_starttls_verified(void **state)
{
	struct t t;
	t_init(&t, SC_STARTTLS);
	struct pki *p = pki_of(state);
	tls_ctxs(&t, p, p->cert, true);
	t_connect(&t);
	assert_false(t.cli.error);
	assert_true(t.cli.tls_ok);
	assert_true(t.cli.verified);
	assert_string_equal(t.cli.lines[2], "250 tls");
	t_fini(&t);
}

static void test_verify_failure(void **state)
{
	struct t t;
	t_init(&t, SC_VERIFY_FAIL);
	tls_ctxs(&t, pki_of(state), NULL, true);
	t_connect(&t);
	assert_true(t.cli.error);
	assert_false(t.cli.tls_ok);
	assert_string_equal(t.cli.err,
	    "TLS handshake failed: certificate verify failed (self-signed certificate)");
	t_fini(&t);
}

static void test_wrong_name_fails(void **state)
{
	struct t t;
	t_init(&t, SC_VERIFY_FAIL);
	struct pki *p = pki_of(state);
	tls_ctxs(&t, p, p->cert, true);
	t.sni = "other.test";
	t_connect(&t);
	assert_true(t.cli.error);
	assert_string_equal(t.cli.err,
	    "TLS handshake failed: certificate verify failed (hostname mismatch)");
	t_fini(&t);
}

static void test_pipelined_before_starttls_dropped(void **state)
{
	struct t t;
	t_init(&t, SC_PIPELINED);
	tls_ctxs(&t, pki_of(state), NULL, false);
	t_connect(&t);
	assert_true(t.srv.tls_ok);
	/* The server saw STARTTLS, then (over TLS) EHLO; never the MAIL FROM. */
	assert_string_equal(t.srv.lines[0], "STARTTLS");
	assert_string_equal(t.srv.lines[1], "EHLO client.test");
	for (int i = 0; i < t.srv.nlines; i++)
		assert_null(strstr(t.srv.lines[i], "MAIL"));
	t_fini(&t);
}

/* Run scenario sc over implicit TLS with a verified certificate; fails the test on an error. */
static void t_connect_implicit_tls(struct t *t, enum scenario sc, struct pki *p)
{
	t_init(t, sc);
	tls_ctxs(t, p, p->cert, true);
	const char *err = NULL;
	t->cli.c = net_conn_connect(t->base, (struct sockaddr *)&t->addr, sizeof(t->addr), NULL, 0,
	    2000, client_cb, t, &err);
	assert_non_null(t->cli.c);
	assert_int_equal(net_conn_set_implicit_tls(t->cli.c, t->cli_ctx, "mx.test"), 0);
	event_base_dispatch(t->base);
	if (t->cli.error)
		fail_msg("scenario %d over implicit TLS: %s", (int)sc, t->cli.err);
}

static void test_implicit_tls(void **state)
{
	struct t t;
	t_connect_implicit_tls(&t, SC_IMPLICIT, pki_of(state));
	assert_true(t.cli.tls_ok);
	assert_true(t.cli.verified);
	assert_string_equal(t.cli.lines[0], "220 implicit");
	assert_string_equal(t.cli.lines[1], "250 tls");
	t_fini(&t);
}

static void test_bulk_drained(void **state)
{
	(void)state;
	struct t t;
	t_init(&t, SC_BULK);
	t_connect(&t);
	assert_int_equal(t.bulk_received, BULK_TOTAL);
	assert_true(t.saw_pending);
	/* One refill per chunk after the first: the low-water mark drove the writer. */
	if (t.drained < (int)(BULK_TOTAL / BULK_CHUNK) - 1)
		fail_msg("got %d NET_EV_DRAINED, want at least %u", t.drained, BULK_TOTAL / BULK_CHUNK - 1);
	t_fini(&t);
}

/*
 * 4 MiB over TLS written by a pump that waits for the drain above 256 KiB
 * pending: the TLS filter must report the drain while the socket below it
 * takes the records (it once moved them all down at once and went quiet).
 */
static void test_tls_bulk_drained(void **state)
{
	struct t t;
	t_connect_implicit_tls(&t, SC_TLS_BULK, pki_of(state));
	if (t.bulk_received != BULK_TOTAL)
		fail_msg("got %zu octets, want %u", t.bulk_received, BULK_TOTAL);
	assert_true(t.saw_pending);
	t_fini(&t);
}

static void test_server_ctx_errors(void **state)
{
	struct pki *p = pki_of(state);
	const char *err = NULL;
	assert_null(net_tls_server_ctx("/nonexistent/cert.pem", p->key, &err));
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
	assert_null(net_tls_server_ctx(p->cert, p->otherkey, &err));
	assert_non_null(strstr(err, "does not match"));
	assert_null(net_tls_client_ctx("/nonexistent/ca.pem", true, &err));
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
}

static void refused_write_cb(struct net_conn *c, enum net_event ev, void *arg)
{
	(void)c;
	(void)ev;
	(void)arg;
}

/*
 * Child of test_refused_write_aborts: libevent allocating through xalloc
 * as the programs' mains set it up, then a write into an output buffer
 * that refuses data (frozen at its end). It must not come back.
 */
static _Noreturn void refused_write_child(bool use_printf)
{
	event_set_mem_functions(xmalloc, xrealloc, free);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		_exit(2);
	struct event_base *base = event_base_new();
	struct net_conn *c = net_conn_accept(base, sv[0], NULL, refused_write_cb, NULL);
	net_conn_write(c, "before\r\n", 8);
	evbuffer_freeze(net_conn_output(c), 0);
	if (use_printf)
		net_conn_printf(c, "%s\r\n", "dropped");
	else
		net_conn_write(c, "dropped\r\n", 9);
	_exit(0);
}

/* A write the output buffer refuses is not dropped in silence: the process aborts. */
static void test_refused_write_aborts(void **state)
{
	(void)state;
	for (int use_printf = 0; use_printf < 2; use_printf++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			refused_write_child(use_printf != 0);
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
			fail_msg("%s: got status 0x%x, want killed by SIGABRT",
			    use_printf ? "net_conn_printf" : "net_conn_write", st);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_exchange),
		cmocka_unit_test(test_readline_cap),
		cmocka_unit_test(test_read_timeout),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_starttls_opportunistic),
		cmocka_unit_test(test_starttls_verified),
		cmocka_unit_test(test_verify_failure),
		cmocka_unit_test(test_wrong_name_fails),
		cmocka_unit_test(test_pipelined_before_starttls_dropped),
		cmocka_unit_test(test_implicit_tls),
		cmocka_unit_test(test_bulk_drained),
		cmocka_unit_test(test_tls_bulk_drained),
		cmocka_unit_test(test_server_ctx_errors),
		cmocka_unit_test(test_refused_write_aborts),
	};
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
