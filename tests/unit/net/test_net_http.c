/*
 * test_net_http: the HTTPS client against an in-process HTTPS server (a
 * thread per connection, OpenSSL on blocking sockets) with certificates
 * made in the test, over 127.0.0.1 reached by a name only the client's
 * addresses resolve.
 *
 * Covers: GET 200 with its body and type; 404 and 301 as STATUS, the 301
 * not followed; bodies over the cap (announced or not) as TOO_LARGE; a
 * silent server as TIMEOUT; a certificate for another name and a
 * self-signed one as TLS; POST with its body and type seen by the server;
 * no addresses as CONNECT without a callback from inside start; a refused
 * connection; a non-https URL; cancel before the answer and from another
 * request's callback; two requests at once; net_http_free with requests in
 * flight and from inside a callback (ASan/LSan find what leaks).
 * Never: reaches beyond loopback; asks DNS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "net/net_http.h"
#include "net/net_tls.h"
#include "tpki.h"
#include "tsupport.h"

#define DAY (24L * 3600)
#define HOST "mta-sts.a.test"
#define POLICY "version: STSv1\r\nmode: enforce\r\nmx: mx1.a.test\r\nmax_age: 86400\r\n"
#define BIG (100u * 1024u)
#define MAX_CONNS 16

/* ---- The server: one thread accepting, one per connection. ---- */

struct hsrv {
	SSL_CTX *ctx;
	int lfd;
	uint16_t port;
	int stop[2];			/* a byte written here ends every wait */
	pthread_t acceptor;
	pthread_mutex_t mu;
	pthread_t conns[MAX_CONNS];
	int nconns;
	/* What the server saw, under mu. */
	int nreq;
	char paths[MAX_CONNS][64];
	char method[8], ctype[128], agent[64], body[512];
	size_t body_len;
};

/* Wait up to ms for fd to be readable or the stop pipe; 1 when fd is. */
static int hsrv_wait(struct hsrv *s, int fd, int ms)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { s->stop[0], POLLIN, 0 } };
	if (poll(p, 2, ms) <= 0 || (p[1].revents & POLLIN))
		return 0;
	return 1;
}

/* The value of header name in head, into out (empty when absent). */
static void hsrv_header(const char *head, const char *name, char *out, size_t len)
{
	out[0] = '\0';
	size_t nl = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
			const char *v = p + 3 + nl;
			while (*v == ' ')
				v++;
			size_t n = strcspn(v, "\r\n");
			snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), v);
			return;
		}
	}
}

/* Write all of text (len octets) over ssl. */
static void hsrv_send(SSL *ssl, const char *text, size_t len)
{
	size_t off = 0;
	while (off < len) {
		int n = SSL_write(ssl, text + off, (int)(len - off));
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

/* Answer the request for path: a response chosen by the path. */
static void hsrv_answer(struct hsrv *s, SSL *ssl, int fd, const char *path)
{
	char buf[512];
	int n;
	if (strcmp(path, "/hang") == 0) {
		hsrv_wait(s, fd, 10000);
		return;
	}
	if (strcmp(path, "/slow") == 0) {
		struct pollfd p = { s->stop[0], POLLIN, 0 };
		if (poll(&p, 1, 300) > 0)
			return;
	}
	if (strcmp(path, "/ok") == 0 || strcmp(path, "/slow") == 0) {
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(POLICY), POLICY);
	} else if (strcmp(path, "/301") == 0) {
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 301 Moved\r\nLocation: https://%s:%u/ok\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n", HOST, s->port);
	} else if (strcmp(path, "/post") == 0) {
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		    "Connection: close\r\n\r\nok");
	} else if (strncmp(path, "/big", 4) == 0) {
		bool announce = strcmp(path, "/big") == 0;
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%s"
		    "Connection: close\r\n\r\n", announce ? "Content-Length: 102400\r\n" : "");
		hsrv_send(ssl, buf, (size_t)n);
		static const char block[4096];
		for (unsigned i = 0; i < BIG / sizeof(block); i++)
			hsrv_send(ssl, block, sizeof(block));
		return;
	} else {
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n");
	}
	hsrv_send(ssl, buf, (size_t)n);
}

/* Read one request (head and body) from ssl into head; its length, or 0. */
static size_t hsrv_read(SSL *ssl, char *head, size_t cap, char **body)
{
	size_t used = 0;
	char *end = NULL;
	while (end == NULL && used + 1 < cap) {
		int n = SSL_read(ssl, head + used, (int)(cap - 1 - used));
		if (n <= 0)
			return 0;
		used += (size_t)n;
		head[used] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (end == NULL)
		return 0;
	char cl[32];
	hsrv_header(head, "Content-Length", cl, sizeof(cl));
	size_t want = (size_t)(end + 4 - head) + (size_t)strtoul(cl, NULL, 10);
	while (used < want && used + 1 < cap) {
		int n = SSL_read(ssl, head + used, (int)(cap - 1 - used));
		if (n <= 0)
			return 0;
		used += (size_t)n;
		head[used] = '\0';
	}
	*body = end + 4;
	return used;
}

struct hconn {
	struct hsrv *s;
	int fd;
};

static void *hsrv_conn(void *arg)
{
	struct hconn *hc = arg;
	struct hsrv *s = hc->s;
	struct timeval tv = { 5, 0 };
	setsockopt(hc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(hc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	SSL *ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, hc->fd);
	char *head = malloc(8192), *body = NULL;
	size_t len = SSL_accept(ssl) == 1 ? hsrv_read(ssl, head, 8192, &body) : 0;
	if (len > 0) {
		char path[64] = "";
		sscanf(head, "%*7s %63s", path);
		pthread_mutex_lock(&s->mu);
		if (s->nreq < MAX_CONNS)
			snprintf(s->paths[s->nreq], sizeof(s->paths[0]), "%s", path);
		s->nreq++;
		sscanf(head, "%7s", s->method);
		hsrv_header(head, "Content-Type", s->ctype, sizeof(s->ctype));
		hsrv_header(head, "User-Agent", s->agent, sizeof(s->agent));
		s->body_len = len - (size_t)(body - head);
		snprintf(s->body, sizeof(s->body), "%.*s", (int)s->body_len, body);
		pthread_mutex_unlock(&s->mu);
		hsrv_answer(s, ssl, hc->fd, path);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(hc->fd);
	free(head);
	free(hc);
	return NULL;
}

static void *hsrv_accept(void *arg)
{
	struct hsrv *s = arg;
	while (hsrv_wait(s, s->lfd, 20000) == 1) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct hconn *hc = calloc(1, sizeof(*hc));
		hc->s = s;
		hc->fd = fd;
		pthread_mutex_lock(&s->mu);
		if (s->nconns < MAX_CONNS &&
		    pthread_create(&s->conns[s->nconns], NULL, hsrv_conn, hc) == 0) {
			s->nconns++;
			hc = NULL;
		}
		pthread_mutex_unlock(&s->mu);
		if (hc != NULL) {
			close(fd);
			free(hc);
		}
	}
	return NULL;
}

static void hsrv_start(struct hsrv *s, SSL_CTX *ctx)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->lfd = tsupport_listen_loopback(16, &s->port);
	assert_int_equal(pipe(s->stop), 0);
	pthread_mutex_init(&s->mu, NULL);
	assert_int_equal(pthread_create(&s->acceptor, NULL, hsrv_accept, s), 0);
}

static void hsrv_stop(struct hsrv *s)
{
	assert_int_equal(write(s->stop[1], "x", 1), 1);
	pthread_join(s->acceptor, NULL);
	for (int i = 0; i < s->nconns; i++)
		pthread_join(s->conns[i], NULL);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
	pthread_mutex_destroy(&s->mu);
}

/* ---- Certificates made once. ---- */

struct fx {
	struct tpki *root, *good, *other, *self;
	SSL_CTX *srv_good, *srv_other, *srv_self;
	char dir[64], ca[96];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	static const char *const host[] = { HOST, NULL };
	static const char *const other[] = { "other.test", NULL };
	f->root = tpki_issue("HTTP Test Root", NULL, NULL, true, -DAY, 30 * DAY);
	f->good = tpki_issue(HOST, host, f->root, false, -3600, DAY);
	f->other = tpki_issue("other.test", other, f->root, false, -3600, DAY);
	f->self = tpki_issue(HOST, host, NULL, false, -3600, DAY);
	const struct tpki *chain[] = { f->root };
	f->srv_good = tpki_server_ctx(f->good, chain, 1);
	f->srv_other = tpki_server_ctx(f->other, chain, 1);
	f->srv_self = tpki_server_ctx(f->self, NULL, 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mxr-http-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", f->dir);
	const struct tpki *ca[] = { f->root };
	tpki_write_certs(f->ca, ca, 1);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	net_tls_ctx_free(f->srv_good);
	net_tls_ctx_free(f->srv_other);
	net_tls_ctx_free(f->srv_self);
	tpki_free(f->root);
	tpki_free(f->good);
	tpki_free(f->other);
	tpki_free(f->self);
	unlink(f->ca);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- The client side. ---- */

struct got {
	int calls;
	enum net_http_fail fail;
	long status;
	char ctype[128], body[512], error[256];
	size_t body_len;
};

struct client {
	struct event_base *base;
	struct net_http *h;
	struct sockaddr_storage addr;
	int waiting;			/* callbacks still expected */
	struct net_http_req *cancel_in_cb;	/* cancelled from the first callback */
	bool free_in_cb;		/* net_http_free from the first callback */
	struct timeval started;
};

struct slot {
	struct client *cl;
	struct got got;
};

static void got_cb(const struct net_http_response *r, void *arg)
{
	struct slot *s = arg;
	struct client *cl = s->cl;
	s->got.calls++;
	s->got.fail = r->fail;
	s->got.status = r->status;
	snprintf(s->got.ctype, sizeof(s->got.ctype), "%s", r->content_type != NULL ? r->content_type : "");
	snprintf(s->got.body, sizeof(s->got.body), "%.*s", (int)r->body_len, r->body);
	s->got.body_len = r->body_len;
	snprintf(s->got.error, sizeof(s->got.error), "%s", r->error);
	if (cl->cancel_in_cb != NULL) {
		net_http_cancel(cl->cancel_in_cb);
		cl->cancel_in_cb = NULL;
		cl->waiting--;
	}
	if (cl->free_in_cb) {
		cl->free_in_cb = false;
		net_http_free(cl->h);
		cl->h = NULL;
		cl->waiting = 1;
	}
	if (--cl->waiting == 0)
		event_base_loopbreak(cl->base);
}

static void client_init(struct client *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->base = event_base_new();
	cl->h = net_http_new(cl->base);
	cl->addr = tsupport_sockaddr("127.0.0.1");
	gettimeofday(&cl->started, NULL);
}

static void client_fini(struct client *cl)
{
	net_http_free(cl->h);
	event_base_free(cl->base);
}

/* Run the loop until every expected callback came, or ms passed. */
static void client_run(struct client *cl, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	event_base_loopexit(cl->base, &tv);
	event_base_dispatch(cl->base);
}

static long elapsed_ms(const struct client *cl)
{
	struct timeval now;
	gettimeofday(&now, NULL);
	return (now.tv_sec - cl->started.tv_sec) * 1000 + (now.tv_usec - cl->started.tv_usec) / 1000;
}

/* Start a GET (or POST with body) of path on the server at port. */
static struct net_http_req *start(struct client *cl, struct fx *f, uint16_t port, const char *path,
    struct slot *s, unsigned timeout_ms, size_t max_body, const char *body)
{
	char url[128];
	snprintf(url, sizeof(url), "https://%s:%u%s", HOST, port, path);
	struct net_http_opts o = {
		.url = url, .ca_file = f->ca, .timeout_ms = timeout_ms, .max_body = max_body,
		.addrs = &cl->addr, .naddrs = 1, .user_agent = "mxrelay/test",
		.content_type = body != NULL ? "application/tlsrpt+json" : NULL,
		.body = body, .body_len = body != NULL ? strlen(body) : 0,
	};
	s->cl = cl;
	cl->waiting++;
	struct net_http_req *r = net_http_start(cl->h, &o, got_cb, s);
	assert_non_null(r);
	assert_int_equal(s->got.calls, 0);	/* never from inside start */
	return r;
}

/* One request against a server with ctx; checks fail, status and the error's start. */
static void one(struct fx *f, SSL_CTX *ctx, const char *path, unsigned timeout_ms,
    size_t max_body, enum net_http_fail want, long want_status, const char *want_error,
    struct hsrv *seen)
{
	struct hsrv s;
	struct client cl;
	struct slot sl = { 0 };
	hsrv_start(&s, ctx);
	client_init(&cl);
	start(&cl, f, s.port, path, &sl, timeout_ms, max_body, NULL);
	client_run(&cl, 10000);
	client_fini(&cl);
	hsrv_stop(&s);
	if (sl.got.calls != 1)
		fail_msg("%s: got %d callbacks, want 1", path, sl.got.calls);
	if (sl.got.fail != want || sl.got.status != want_status)
		fail_msg("%s: got fail %d status %ld (%s), want fail %d status %ld", path,
		    (int)sl.got.fail, sl.got.status, sl.got.error, (int)want, want_status);
	if (strncmp(sl.got.error, want_error, strlen(want_error)) != 0)
		fail_msg("%s: got error \"%s\", want it to start \"%s\"", path, sl.got.error, want_error);
	if (seen != NULL)
		*seen = s;
}

static void test_get_ok(void **state)
{
	struct fx *f = *state;
	struct hsrv s;
	struct client cl;
	struct slot sl = { 0 };
	hsrv_start(&s, f->srv_good);
	client_init(&cl);
	start(&cl, f, s.port, "/ok", &sl, 5000, 1024, NULL);
	client_run(&cl, 10000);
	client_fini(&cl);
	hsrv_stop(&s);
	assert_int_equal(sl.got.calls, 1);
	if (sl.got.fail != NET_HTTP_OK)
		fail_msg("got fail %d: %s", (int)sl.got.fail, sl.got.error);
	assert_int_equal(sl.got.status, 200);
	assert_string_equal(sl.got.ctype, "text/plain");
	assert_string_equal(sl.got.body, POLICY);
	assert_int_equal(sl.got.body_len, strlen(POLICY));
	assert_string_equal(sl.got.error, "");
	assert_string_equal(s.method, "GET");
	assert_string_equal(s.agent, "mxrelay/test");
}

/* Statuses, caps, timeouts and certificates, one request each. */
static void test_outcomes(void **state)
{
	struct fx *f = *state;
	struct hsrv seen;
	one(f, f->srv_good, "/404", 5000, 1024, NET_HTTP_FAIL_STATUS, 404, "HTTP status 404", NULL);
	one(f, f->srv_good, "/301", 5000, 1024, NET_HTTP_FAIL_STATUS, 301,
	    "HTTP status 301 (redirects are not followed)", &seen);
	if (seen.nreq != 1)
		fail_msg("301: the server got %d requests, want 1 (not followed)", seen.nreq);
	one(f, f->srv_good, "/big", 5000, 1024, NET_HTTP_FAIL_TOO_LARGE, 200,
	    "body longer than 1024 octets", NULL);
	one(f, f->srv_good, "/big-unannounced", 5000, 1024, NET_HTTP_FAIL_TOO_LARGE, 200,
	    "body longer than 1024 octets", NULL);
	one(f, f->srv_good, "/big", 5000, BIG, NET_HTTP_OK, 200, "", NULL);
	one(f, f->srv_other, "/ok", 5000, 1024, NET_HTTP_FAIL_TLS, 0, "SSL: no alternative", NULL);
	one(f, f->srv_self, "/ok", 5000, 1024, NET_HTTP_FAIL_TLS, 0, "SSL certificate problem", NULL);
}

static void test_timeout(void **state)
{
	struct fx *f = *state;
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	one(f, f->srv_good, "/hang", 300, 1024, NET_HTTP_FAIL_TIMEOUT, 0, "Operation timed out", NULL);
	gettimeofday(&t1, NULL);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
	if (ms < 250 || ms > 5000)
		fail_msg("timed out after %ld ms, want about 300", ms);
}

static void test_post(void **state)
{
	struct fx *f = *state;
	struct hsrv s;
	struct client cl;
	struct slot sl = { 0 };
	static const char report[] = "{\"organization-name\":\"mxrelay\",\"policies\":[]}";
	hsrv_start(&s, f->srv_good);
	client_init(&cl);
	start(&cl, f, s.port, "/post", &sl, 5000, 1024, report);
	client_run(&cl, 10000);
	client_fini(&cl);
	hsrv_stop(&s);
	if (sl.got.fail != NET_HTTP_OK)
		fail_msg("got fail %d: %s", (int)sl.got.fail, sl.got.error);
	assert_string_equal(sl.got.body, "ok");
	assert_string_equal(sl.got.ctype, "");
	assert_string_equal(s.method, "POST");
	assert_string_equal(s.ctype, "application/tlsrpt+json");
	assert_int_equal(s.body_len, strlen(report));
	assert_string_equal(s.body, report);
}

/* What fails before any connection: reported from the loop, never from start. */
static void test_refused_at_start(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *url;
		size_t naddrs;
		enum net_http_fail want;
		const char *error;
	} t[] = {
		{ "https://" HOST "/ok", 0, NET_HTTP_FAIL_CONNECT, "no address for the host" },
		{ "http://" HOST "/ok", 1, NET_HTTP_FAIL_OTHER, "not an https URL" },
		{ "https://", 1, NET_HTTP_FAIL_OTHER, "bad URL" },
		{ "https://" HOST "./ok", 1, NET_HTTP_FAIL_OTHER,
		  "the URL's host is not an ASCII name (A-labels)" },
		{ "https://mta-sts.\xc3\xa4.test/ok", 1, NET_HTTP_FAIL_OTHER,
		  "the URL's host is not an ASCII name (A-labels)" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct client cl;
		struct slot sl = { .cl = &cl };
		client_init(&cl);
		struct net_http_opts o = { .url = t[i].url, .ca_file = f->ca, .timeout_ms = 2000,
			.addrs = &cl.addr, .naddrs = t[i].naddrs };
		cl.waiting = 1;
		assert_non_null(net_http_start(cl.h, &o, got_cb, &sl));
		if (sl.got.calls != 0)
			fail_msg("%s: callback from inside net_http_start", t[i].url);
		client_run(&cl, 5000);
		client_fini(&cl);
		if (sl.got.calls != 1 || sl.got.fail != t[i].want || strcmp(sl.got.error, t[i].error) != 0)
			fail_msg("%s: got %d calls, fail %d \"%s\"; want 1, %d \"%s\"", t[i].url,
			    sl.got.calls, (int)sl.got.fail, sl.got.error, (int)t[i].want, t[i].error);
	}
}

static void test_connect_refused(void **state)
{
	struct fx *f = *state;
	uint16_t port;
	int fd = tsupport_listen_loopback(1, &port);
	close(fd);
	struct client cl;
	struct slot sl = { 0 };
	client_init(&cl);
	start(&cl, f, port, "/ok", &sl, 2000, 1024, NULL);
	client_run(&cl, 5000);
	client_fini(&cl);
	if (sl.got.calls != 1 || sl.got.fail != NET_HTTP_FAIL_CONNECT)
		fail_msg("got %d calls, fail %d (%s), want CONNECT", sl.got.calls, (int)sl.got.fail,
		    sl.got.error);
}

/* Cancel before the answer; cancel one request from another's callback. */
static void test_cancel(void **state)
{
	struct fx *f = *state;
	struct hsrv s;
	struct client cl;
	struct slot a = { 0 }, b = { 0 }, c = { 0 };
	hsrv_start(&s, f->srv_good);
	client_init(&cl);
	net_http_cancel(start(&cl, f, s.port, "/slow", &a, 5000, 1024, NULL));
	cl.waiting--;
	start(&cl, f, s.port, "/ok", &b, 5000, 1024, NULL);
	cl.cancel_in_cb = start(&cl, f, s.port, "/slow", &c, 5000, 1024, NULL);
	client_run(&cl, 10000);
	/* Give a cancelled /slow the time to have answered. */
	client_run(&cl, 600);
	client_fini(&cl);
	hsrv_stop(&s);
	assert_int_equal(a.got.calls, 0);
	assert_int_equal(b.got.calls, 1);
	assert_int_equal(b.got.fail, NET_HTTP_OK);
	assert_int_equal(c.got.calls, 0);
}

static void test_two_at_once(void **state)
{
	struct fx *f = *state;
	struct hsrv s;
	struct client cl;
	struct slot a = { 0 }, b = { 0 };
	hsrv_start(&s, f->srv_good);
	client_init(&cl);
	start(&cl, f, s.port, "/slow", &a, 5000, 1024, NULL);
	start(&cl, f, s.port, "/ok", &b, 5000, 1024, NULL);
	client_run(&cl, 10000);
	client_fini(&cl);
	hsrv_stop(&s);
	assert_int_equal(a.got.calls, 1);
	assert_int_equal(b.got.calls, 1);
	assert_int_equal(a.got.fail, NET_HTTP_OK);
	assert_int_equal(b.got.fail, NET_HTTP_OK);
	assert_string_equal(a.got.body, POLICY);
	assert_string_equal(b.got.body, POLICY);
	assert_int_equal(s.nreq, 2);
}

/* Free with requests in flight: no callback, nothing leaked (LSan). */
static void test_free_in_flight(void **state)
{
	struct fx *f = *state;
	struct hsrv s;
	struct client cl;
	struct slot a = { 0 }, b = { 0 };
	hsrv_start(&s, f->srv_good);
	client_init(&cl);
	start(&cl, f, s.port, "/slow", &a, 5000, 1024, NULL);
	start(&cl, f, s.port, "/hang", &b, 5000, 1024, NULL);
	client_run(&cl, 150);
	net_http_free(cl.h);
	cl.h = NULL;
	client_run(&cl, 500);
	client_fini(&cl);
	hsrv_stop(&s);
	assert_int_equal(a.got.calls, 0);
	assert_int_equal(b.got.calls, 0);
	assert_true(elapsed_ms(&cl) < 5000);
}

/* Free from inside a callback: the other request never calls back. */
static void test_free_inside_callback(void **state)
{
	struct fx *f = *state;
	struct hsrv s;
	struct client cl;
	struct slot a = { 0 }, b = { 0 };
	hsrv_start(&s, f->srv_good);
	client_init(&cl);
	start(&cl, f, s.port, "/ok", &a, 5000, 1024, NULL);
	start(&cl, f, s.port, "/slow", &b, 5000, 1024, NULL);
	cl.free_in_cb = true;
	client_run(&cl, 10000);
	client_run(&cl, 600);
	assert_null(cl.h);
	client_fini(&cl);
	hsrv_stop(&s);
	assert_int_equal(a.got.calls, 1);
	assert_int_equal(b.got.calls, 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_ok),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_post),
		cmocka_unit_test(test_refused_at_start),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_two_at_once),
		cmocka_unit_test(test_free_in_flight),
		cmocka_unit_test(test_free_inside_callback),
	};
	return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
