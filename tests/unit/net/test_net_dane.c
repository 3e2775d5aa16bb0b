/*
 * test_net_dane: what authenticated the server of an outbound TLS
 * connection (DANE-EE, DANE-TA, PKIX with reference names) or why nothing
 * did, over real loopback handshakes through net_conn, STARTTLS and
 * implicit TLS alike.
 *
 * Covers: one table row per case, each run over both paths (STARTTLS with
 * a non-verifying client context, implicit TLS with a verifying one: the
 * handshake completes either way); which TLSA records are usable; a
 * verifying context's aborted handshake still typed; setup refusals; a
 * large transfer over a DANE-authenticated connection.
 * Never: reaches beyond loopback; leaves files behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "net/net_conn.h"
#include "net/net_tls.h"
#include "tpki.h"

#define DAY (24L * 3600)

/* The server certificates of the table. */
enum cert_id {
	C_GOOD,		/* mx1.a.test, under the intermediate */
	C_EXPIRED,	/* mx1.a.test, expired yesterday */
	C_WILD,		/* *.a.test */
	C_PARTIAL,	/* mx*.a.test */
	C_SELF,		/* mx1.a.test, self-signed */
	C_SHORT,	/* mx1.a.test, served without the root in its chain */
	C_EVIL,		/* a DNS name with a quote and an escape sequence */
	C_N,
};

/* Whose certificate or key a TLSA record is made from. */
enum tlsa_of { T_LEAF, T_ROOT, T_INTER, T_STRANGER };

struct rr_spec {
	uint8_t usage, selector, mtype;
	enum tlsa_of of;
	size_t trunc;		/* keep only this many octets; 0: all */
};

struct row {
	const char *name;
	enum cert_id cert;
	struct rr_spec rr[2];
	size_t nrr;
	const char *base;	/* TLSA base domain */
	const char *names[3];	/* reference identifiers, NULL-terminated */
	bool other_ca;		/* the client trusts an unrelated root only */
	size_t usable;		/* net_tls_tlsa_usable of the records */
	enum net_tls_auth auth;
	enum net_tls_fail fail;
	const char *text;	/* the verify text; %u is the server's port */
};

static const struct row rows[] = {
	{ "DANE-EE 3 1 1", C_GOOD, { { 3, 1, 1, T_LEAF, 0 } }, 1, "mx1.a.test", { NULL }, false,
	  1, NET_TLS_AUTH_DANE_EE, NET_TLS_FAIL_NONE, "" },
	{ "DANE-EE 3 1 1: no name, no date check", C_EXPIRED, { { 3, 1, 1, T_LEAF, 0 } }, 1,
	  "mx9.b.test", { "other.b.test", NULL }, false,
	  1, NET_TLS_AUTH_DANE_EE, NET_TLS_FAIL_NONE, "" },
	{ "DANE-EE 3 0 1", C_GOOD, { { 3, 0, 1, T_LEAF, 0 } }, 1, "mx1.a.test", { NULL }, false,
	  1, NET_TLS_AUTH_DANE_EE, NET_TLS_FAIL_NONE, "" },
	{ "DANE-EE 3 1 2", C_GOOD, { { 3, 1, 2, T_LEAF, 0 } }, 1, "mx1.a.test", { NULL }, false,
	  1, NET_TLS_AUTH_DANE_EE, NET_TLS_FAIL_NONE, "" },
	{ "DANE-EE 3 0 0 (full certificate)", C_GOOD, { { 3, 0, 0, T_LEAF, 0 } }, 1, "mx1.a.test",
	  { NULL }, false, 1, NET_TLS_AUTH_DANE_EE, NET_TLS_FAIL_NONE, "" },
	{ "DANE-TA 2 1 1 of the root", C_GOOD, { { 2, 1, 1, T_ROOT, 0 } }, 1, "mx1.a.test",
	  { NULL }, false, 1, NET_TLS_AUTH_DANE_TA, NET_TLS_FAIL_NONE, "" },
	{ "DANE-TA 2 1 1 of the intermediate", C_GOOD, { { 2, 1, 1, T_INTER, 0 } }, 1,
	  "mx1.a.test", { NULL }, false, 1, NET_TLS_AUTH_DANE_TA, NET_TLS_FAIL_NONE, "" },
	{ "DANE-TA: a further reference name matches", C_GOOD, { { 2, 1, 1, T_ROOT, 0 } }, 1,
	  "mx2.a.test", { "mx1.a.test", NULL }, false,
	  1, NET_TLS_AUTH_DANE_TA, NET_TLS_FAIL_NONE, "" },
	{ "DANE-TA 2 1 0 of a root the server does not send", C_SHORT, { { 2, 1, 0, T_ROOT, 0 } },
	  1, "mx1.a.test", { NULL }, false, 1, NET_TLS_AUTH_DANE_TA, NET_TLS_FAIL_NONE, "" },
	{ "DANE-TA 2 1 1 of a root the server does not send", C_SHORT, { { 2, 1, 1, T_ROOT, 0 } },
	  1, "mx1.a.test", { NULL }, false, 1, NET_TLS_AUTH_NONE, NET_TLS_FAIL_TLSA_MISMATCH,
	  "certificate does not match any TLSA record of _%u._tcp.mx1.a.test" },
	{ "DANE-TA with a wrong name", C_GOOD, { { 2, 1, 1, T_ROOT, 0 } }, 1, "mx2.a.test",
	  { NULL }, false, 1, NET_TLS_AUTH_NONE, NET_TLS_FAIL_HOST_MISMATCH,
	  "certificate name does not match mx2.a.test (certificate for mx1.a.test)" },
	{ "DANE-TA with an expired leaf", C_EXPIRED, { { 2, 1, 1, T_ROOT, 0 } }, 1, "mx1.a.test",
	  { NULL }, false, 1, NET_TLS_AUTH_NONE, NET_TLS_FAIL_EXPIRED, "certificate has expired" },
	{ "no record matches (the root is in the CA file: the store is not used)", C_GOOD,
	  { { 3, 1, 1, T_STRANGER, 0 }, { 2, 0, 1, T_STRANGER, 0 } }, 2, "mx1.a.test", { NULL },
	  false, 2, NET_TLS_AUTH_NONE, NET_TLS_FAIL_TLSA_MISMATCH,
	  "certificate does not match any TLSA record of _%u._tcp.mx1.a.test" },
	{ "PKIX-EE(1) and PKIX-TA(0) are ignored", C_GOOD,
	  { { 1, 1, 1, T_STRANGER, 0 }, { 0, 1, 1, T_STRANGER, 0 } }, 2, "mx1.a.test", { NULL },
	  false, 0, NET_TLS_AUTH_PKIX, NET_TLS_FAIL_NONE, "" },
	{ "matching type 1 with 20 octets is unusable", C_SELF, { { 3, 1, 1, T_LEAF, 20 } }, 1,
	  "mx1.a.test", { NULL }, false, 0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_NOT_TRUSTED,
	  "self-signed certificate" },
	{ "PKIX: name matches", C_GOOD, { { 0 } }, 0, NULL, { "mx1.a.test", NULL }, false,
	  0, NET_TLS_AUTH_PKIX, NET_TLS_FAIL_NONE, "" },
	{ "PKIX: one of two names matches", C_GOOD, { { 0 } }, 0, NULL,
	  { "mx2.a.test", "mx1.a.test", NULL }, false, 0, NET_TLS_AUTH_PKIX, NET_TLS_FAIL_NONE, "" },
	{ "PKIX: wrong name", C_GOOD, { { 0 } }, 0, NULL, { "mx2.a.test", NULL }, false,
	  0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_HOST_MISMATCH,
	  "certificate name does not match mx2.a.test (certificate for mx1.a.test)" },
	{ "PKIX: self-signed", C_SELF, { { 0 } }, 0, NULL, { "mx1.a.test", NULL }, false,
	  0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_NOT_TRUSTED, "self-signed certificate" },
	{ "PKIX: unknown CA, whole chain sent", C_GOOD, { { 0 } }, 0, NULL, { "mx1.a.test", NULL },
	  true, 0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_NOT_TRUSTED,
	  "self-signed certificate in certificate chain" },
	{ "PKIX: unknown CA, root not sent", C_SHORT, { { 0 } }, 0, NULL, { "mx1.a.test", NULL },
	  true, 0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_NOT_TRUSTED,
	  "unable to get local issuer certificate" },
	{ "PKIX: expired", C_EXPIRED, { { 0 } }, 0, NULL, { "mx1.a.test", NULL }, false,
	  0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_EXPIRED, "certificate has expired" },
	{ "PKIX: *.a.test matches mx1.a.test", C_WILD, { { 0 } }, 0, NULL,
	  { "mx1.a.test", NULL }, false, 0, NET_TLS_AUTH_PKIX, NET_TLS_FAIL_NONE, "" },
	{ "PKIX: *.a.test does not match a.test", C_WILD, { { 0 } }, 0, NULL, { "a.test", NULL },
	  false, 0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_HOST_MISMATCH,
	  "certificate name does not match a.test (certificate for *.a.test)" },
	{ "PKIX: *.a.test does not match x.mx1.a.test", C_WILD, { { 0 } }, 0, NULL,
	  { "x.mx1.a.test", NULL }, false, 0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_HOST_MISMATCH,
	  "certificate name does not match x.mx1.a.test (certificate for *.a.test)" },
	{ "PKIX: partial wildcard mx*.a.test refused", C_PARTIAL, { { 0 } }, 0, NULL,
	  { "mx1.a.test", NULL }, false, 0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_HOST_MISMATCH,
	  "certificate name does not match mx1.a.test (certificate for mx*.a.test)" },
	{ "PKIX: .a.test matches mx1.a.test", C_GOOD, { { 0 } }, 0, NULL, { ".a.test", NULL },
	  false, 0, NET_TLS_AUTH_PKIX, NET_TLS_FAIL_NONE, "" },
	{ "PKIX: .b.test does not match mx1.a.test", C_GOOD, { { 0 } }, 0, NULL,
	  { ".b.test", NULL }, false, 0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_HOST_MISMATCH,
	  "certificate name does not match .b.test (certificate for mx1.a.test)" },
	{ "PKIX: a hostile certificate name is escaped", C_EVIL, { { 0 } }, 0, NULL,
	  { "mx1.a.test", NULL }, false, 0, NET_TLS_AUTH_NONE, NET_TLS_FAIL_HOST_MISMATCH,
	  "certificate name does not match mx1.a.test (certificate for ev\\\"il\\x1b[31m.test)" },
	{ "PKIX: no names, the chain alone", C_GOOD, { { 0 } }, 0, NULL, { NULL }, false,
	  0, NET_TLS_AUTH_PKIX, NET_TLS_FAIL_NONE, "" },
};

/* Certificates and CA files made once for all tests. */
struct fx {
	struct tpki *root, *inter, *stranger;
	struct tpki *cert[C_N];
	SSL_CTX *srv[C_N];
	char dir[64], ca[96], other_ca[96];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	static const char *const mx1[] = { "mx1.a.test", NULL };
	static const char *const wild[] = { "*.a.test", NULL };
	static const char *const partial[] = { "mx*.a.test", NULL };
	static const char evil[] = "ev\"il\x1b[31m.test";
	f->root = tpki_issue("Test Root", NULL, NULL, true, -DAY, 30 * DAY);
	f->inter = tpki_issue("Test Intermediate", NULL, f->root, true, -DAY, 30 * DAY);
	f->stranger = tpki_issue("Stranger Root", NULL, NULL, true, -DAY, 30 * DAY);
	f->cert[C_GOOD] = tpki_issue("mx1.a.test", mx1, f->inter, false, -3600, DAY);
	f->cert[C_EXPIRED] = tpki_issue("mx1.a.test", mx1, f->inter, false, -3 * DAY, -DAY);
	f->cert[C_WILD] = tpki_issue("wild", wild, f->inter, false, -3600, DAY);
	f->cert[C_PARTIAL] = tpki_issue("partial", partial, f->inter, false, -3600, DAY);
	f->cert[C_SELF] = tpki_issue("mx1.a.test", mx1, NULL, false, -3600, DAY);
	f->cert[C_SHORT] = tpki_issue("mx1.a.test", mx1, f->inter, false, -3600, DAY);
	f->cert[C_EVIL] = tpki_issue_raw_dns("evil", evil, sizeof(evil) - 1, f->inter);
	const struct tpki *chain[] = { f->inter, f->root };
	for (int i = 0; i < C_N; i++)
		f->srv[i] = tpki_server_ctx(f->cert[i], chain, i == C_SELF ? 0 : i == C_SHORT ? 1 : 2);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mxr-dane-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", f->dir);
	snprintf(f->other_ca, sizeof(f->other_ca), "%s/other.pem", f->dir);
	const struct tpki *ca[] = { f->root };
	const struct tpki *other[] = { f->stranger };
	tpki_write_certs(f->ca, ca, 1);
	tpki_write_certs(f->other_ca, other, 1);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < C_N; i++) {
		net_tls_ctx_free(f->srv[i]);
		tpki_free(f->cert[i]);
	}
	tpki_free(f->root);
	tpki_free(f->inter);
	tpki_free(f->stranger);
	unlink(f->ca);
	unlink(f->other_ca);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The TLSA records of a row, their data in bufs. */
static size_t row_tlsa(const struct fx *f, const struct row *r, struct net_tls_tlsa *out,
    uint8_t bufs[][2048])
{
	for (size_t i = 0; i < r->nrr; i++) {
		const struct rr_spec *s = &r->rr[i];
		const struct tpki *of = s->of == T_LEAF ? f->cert[r->cert] : s->of == T_ROOT ? f->root :
		    s->of == T_INTER ? f->inter : f->stranger;
		size_t len = tpki_tlsa_data(of, s->selector, s->mtype, bufs[i], 2048);
		out[i] = (struct net_tls_tlsa){ s->usage, s->selector, s->mtype, bufs[i],
			s->trunc != 0 ? s->trunc : len };
	}
	return r->nrr;
}

/* One connection: a server over loopback and the client under test. */
struct run {
	struct event_base *base;
	int lfd;
	struct sockaddr_in addr;
	struct event *lev, *guard;
	SSL_CTX *srv_ctx, *cli_ctx;
	bool implicit, bulk;
	const struct net_tls_peer *peer;
	const char *legacy_sni;		/* use net_conn_starttls with this name instead of peer */
	struct net_conn *cli, *srv;
	bool tls_ok, error;
	enum net_tls_auth auth;
	enum net_tls_fail fail;
	char text[512], err[256];
	size_t sent, received;
};

/* What the bulk run sends, written as the DATA pump does. */
#define BULK_TOTAL (4u * 1024 * 1024)
#define BULK_HIWAT (256u * 1024)
#define BULK_LOWAT (64u * 1024)

static void bulk_pump(struct run *r)
{
	static const char block[16384];
	while (r->sent < BULK_TOTAL && net_conn_pending(r->cli) < BULK_HIWAT) {
		net_conn_write(r->cli, block, sizeof(block));
		r->sent += sizeof(block);
	}
}

static void server_cb(struct net_conn *c, enum net_event ev, void *arg)
{
	struct run *r = arg;
	if (ev != NET_EV_READ)
		return;
	if (r->bulk && net_conn_is_tls(c)) {
		struct evbuffer *in = net_conn_input(c);
		r->received += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (r->received == BULK_TOTAL)
			event_base_loopbreak(r->base);
		return;
	}
	char l[128];
	size_t len;
	while (!net_conn_is_tls(c) && net_conn_readline(c, l, sizeof(l), &len) == 1) {
		if (strcmp(l, "STARTTLS") == 0) {
			net_conn_printf(c, "220 go ahead\r\n");
			assert_int_equal(net_conn_starttls(c, r->srv_ctx, NULL, true), 0);
		}
	}
}

/* The client: STARTTLS after the greeting, then records the verdict. */
static void client_cb(struct net_conn *c, enum net_event ev, void *arg)
{
	struct run *r = arg;
	char l[128];
	size_t len;
	switch (ev) {
	case NET_EV_READ:
		while (!net_conn_is_tls(c) && net_conn_readline(c, l, sizeof(l), &len) == 1) {
			if (strcmp(l, "220 hello") == 0) {
				net_conn_printf(c, "STARTTLS\r\n");
			} else if (strcmp(l, "220 go ahead") == 0) {
				int rc = r->legacy_sni != NULL ?
				    net_conn_starttls(c, r->cli_ctx, r->legacy_sni, false) :
				    net_conn_starttls_peer(c, r->cli_ctx, r->peer);
				assert_int_equal(rc, 0);
			}
		}
		return;
	case NET_EV_TLS_OK:
		r->tls_ok = true;
		r->auth = net_conn_tls_auth(c);
		r->fail = net_conn_tls_fail(c);
		snprintf(r->text, sizeof(r->text), "%s", net_conn_tls_verify_text(c));
		if (r->bulk) {
			net_conn_set_lowat(c, BULK_LOWAT);
			bulk_pump(r);
			return;
		}
		event_base_loopbreak(r->base);
		return;
	case NET_EV_DRAINED:
		if (r->bulk && r->tls_ok)
			bulk_pump(r);
		return;
	case NET_EV_ERROR:
	case NET_EV_EOF:
	case NET_EV_TIMEOUT:
		r->error = true;
		r->fail = net_conn_tls_fail(c);
		snprintf(r->text, sizeof(r->text), "%s", net_conn_tls_verify_text(c));
		snprintf(r->err, sizeof(r->err), "%s", net_conn_error(c));
		event_base_loopbreak(r->base);
		return;
	default:
		return;
	}
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct run *r = arg;
	(void)what;
	int fd = accept4((int)lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	r->srv = net_conn_accept(r->base, fd, r->implicit ? r->srv_ctx : NULL, server_cb, r);
	assert_non_null(r->srv);
	if (!r->implicit)
		net_conn_printf(r->srv, "220 hello\r\n");
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	(void)fd;
	(void)what;
	fail_msg("the connection did not finish in time: tls %d sent %zu received %zu err %s",
	    r->tls_ok, r->sent, r->received, r->err);
}

/* Connect r's client to a fresh loopback server and run until the verdict. */
static void run_once(struct run *r)
{
	r->base = event_base_new();
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	r->addr.sin_family = AF_INET;
	r->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&r->addr, sizeof(r->addr)), 0);
	socklen_t alen = sizeof(r->addr);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&r->addr, &alen), 0);
	assert_int_equal(listen(r->lfd, 4), 0);
	r->lev = event_new(r->base, r->lfd, EV_READ | EV_PERSIST, accept_cb, r);
	event_add(r->lev, NULL);
	r->guard = evtimer_new(r->base, guard_cb, r);
	struct timeval tv = { 10, 0 };
	event_add(r->guard, &tv);
	const char *err = NULL;
	r->cli = net_conn_connect(r->base, (struct sockaddr *)&r->addr, sizeof(r->addr), NULL, 0,
	    2000, client_cb, r, &err);
	assert_non_null(r->cli);
	if (r->implicit)
		assert_int_equal(net_conn_set_implicit_tls_peer(r->cli, r->cli_ctx, r->peer), 0);
	event_base_dispatch(r->base);
	net_conn_free(r->cli);
	net_conn_free(r->srv);
	event_free(r->lev);
	event_free(r->guard);
	close(r->lfd);
	event_base_free(r->base);
}

static SSL_CTX *client_ctx(const char *ca, bool verify)
{
	const char *err = NULL;
	SSL_CTX *ctx = net_tls_client_ctx(ca, verify, &err);
	if (ctx == NULL)
		fail_msg("client context: %s", err);
	return ctx;
}

/* Every row over STARTTLS (non-verifying context) and implicit TLS (verifying context). */
static void test_table(void **state)
{
	struct fx *f = *state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct net_tls_tlsa rrs[2];
		uint8_t bufs[2][2048];
		size_t ntlsa = row_tlsa(f, w, rrs, bufs);
		size_t nnames = 0;
		while (w->names[nnames] != NULL)
			nnames++;
		struct net_tls_peer peer = { NULL, w->names, nnames, rrs, ntlsa, w->base };
		size_t usable = net_tls_tlsa_usable(rrs, ntlsa);
		if (usable != w->usable)
			fail_msg("%s: usable records: got %zu, want %zu", w->name, usable, w->usable);
		for (int implicit = 0; implicit < 2; implicit++) {
			struct run r = { .implicit = implicit != 0, .peer = &peer, .srv_ctx = f->srv[w->cert] };
			r.cli_ctx = client_ctx(w->other_ca ? f->other_ca : f->ca, implicit != 0);
			run_once(&r);
			net_tls_ctx_free(r.cli_ctx);
			const char *path = implicit ? "implicit TLS" : "STARTTLS";
			char want[512];
			snprintf(want, sizeof(want), w->text, (unsigned)ntohs(r.addr.sin_port));
			if (!r.tls_ok)
				fail_msg("%s over %s: no handshake: %s", w->name, path, r.err);
			if (r.auth != w->auth || r.fail != w->fail)
				fail_msg("%s over %s: got auth %s fail %d, want auth %s fail %d (%s)", w->name,
				    path, net_tls_auth_name(r.auth), (int)r.fail, net_tls_auth_name(w->auth),
				    (int)w->fail, r.text);
			if (strcmp(r.text, want) != 0)
				fail_msg("%s over %s: got text \"%s\", want \"%s\"", w->name, path, r.text, want);
		}
	}
}

/* Usable-record counts (RFC 7672 3.1.3 and OpenSSL's own checks), no connection. */
static void test_tlsa_usable(void **state)
{
	struct fx *f = *state;
	uint8_t d256[64], d512[64], cert[2048], junk[40];
	size_t n256 = tpki_tlsa_data(f->root, 1, 1, d256, sizeof(d256));
	size_t n512 = tpki_tlsa_data(f->root, 1, 2, d512, sizeof(d512));
	size_t ncert = tpki_tlsa_data(f->root, 0, 0, cert, sizeof(cert));
	memset(junk, 0x30, sizeof(junk));
	static const struct {
		const char *name;
		uint8_t usage, selector, mtype;
		int data;		/* 0: SHA-256, 1: SHA-512, 2: certificate, 3: junk */
		size_t len;		/* 0: the whole data */
		size_t want;
	} t[] = {
		{ "3 1 1", 3, 1, 1, 0, 0, 1 },
		{ "2 1 1", 2, 1, 1, 0, 0, 1 },
		{ "3 1 2", 3, 1, 2, 1, 0, 1 },
		{ "2 0 0 certificate", 2, 0, 0, 2, 0, 1 },
		{ "3 1 1 with 20 octets", 3, 1, 1, 0, 20, 0 },
		{ "3 1 2 with 32 octets", 3, 1, 2, 1, 32, 0 },
		{ "1 1 1 PKIX-EE", 1, 1, 1, 0, 0, 0 },
		{ "0 1 1 PKIX-TA", 0, 1, 1, 0, 0, 0 },
		{ "4 1 1 unknown usage", 4, 1, 1, 0, 0, 0 },
		{ "3 2 1 unknown selector", 3, 2, 1, 0, 0, 0 },
		{ "3 1 3 unknown matching type", 3, 1, 3, 0, 0, 0 },
		{ "2 0 0 not a certificate", 2, 0, 0, 3, 0, 0 },
	};
	const uint8_t *data[] = { d256, d512, cert, junk };
	size_t len[] = { n256, n512, ncert, sizeof(junk) };
	struct net_tls_tlsa all[sizeof(t) / sizeof(t[0])];
	size_t want_all = 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		all[i] = (struct net_tls_tlsa){ t[i].usage, t[i].selector, t[i].mtype, data[t[i].data],
			t[i].len != 0 ? t[i].len : len[t[i].data] };
		size_t got = net_tls_tlsa_usable(&all[i], 1);
		if (got != t[i].want)
			fail_msg("%s: got %zu usable, want %zu", t[i].name, got, t[i].want);
		want_all += t[i].want;
	}
	size_t got = net_tls_tlsa_usable(all, sizeof(t) / sizeof(t[0]));
	if (got != want_all)
		fail_msg("all together: got %zu usable, want %zu", got, want_all);
	assert_int_equal(net_tls_tlsa_usable(NULL, 0), 0);
}

/* A verifying context given only a name still aborts, and says why in typed form. */
static void test_legacy_verify_abort_typed(void **state)
{
	struct fx *f = *state;
	struct run r = { .srv_ctx = f->srv[C_GOOD], .legacy_sni = "mx2.a.test" };
	r.cli_ctx = client_ctx(f->ca, true);
	run_once(&r);
	net_tls_ctx_free(r.cli_ctx);
	assert_true(r.error);
	assert_false(r.tls_ok);
	assert_string_equal(r.err, "TLS handshake failed: certificate verify failed (hostname mismatch)");
	assert_int_equal(r.fail, NET_TLS_FAIL_HOST_MISMATCH);
	assert_string_equal(r.text, "certificate name does not match mx2.a.test");
	/* The same context and name with the right certificate: PKIX. */
	struct run ok = { .srv_ctx = f->srv[C_GOOD], .legacy_sni = "mx1.a.test" };
	ok.cli_ctx = client_ctx(f->ca, true);
	run_once(&ok);
	net_tls_ctx_free(ok.cli_ctx);
	assert_true(ok.tls_ok);
	assert_int_equal(ok.auth, NET_TLS_AUTH_PKIX);
	assert_string_equal(ok.text, "");
}

static void ignore_cb(struct net_conn *c, enum net_event ev, void *arg)
{
	(void)c;
	(void)ev;
	(void)arg;
}

/* What cannot be set up is refused at once, with the reason in net_conn_error. */
static void test_setup_refused(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name;
		bool tlsa;
		const char *base;
		const char *names[2];
		const char *err;
	} t[] = {
		{ "records without a base domain", true, NULL, { NULL },
		  "TLS setup failed: TLSA records without a TLSA base domain" },
		{ "an empty reference name", false, NULL, { "", NULL },
		  "TLS setup failed: empty reference name" },
	};
	uint8_t d[64];
	struct net_tls_tlsa rr = { 3, 1, 1, d, tpki_tlsa_data(f->root, 1, 1, d, sizeof(d)) };
	SSL_CTX *ctx = client_ctx(f->ca, false);
	struct event_base *base = event_base_new();
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		struct net_conn *c = net_conn_accept(base, sv[0], NULL, ignore_cb, NULL);
		struct net_tls_peer p = { NULL, t[i].names, t[i].names[0] != NULL ? 1 : 0,
			t[i].tlsa ? &rr : NULL, t[i].tlsa ? 1 : 0, t[i].base };
		if (net_conn_starttls_peer(c, ctx, &p) != -1)
			fail_msg("%s: started", t[i].name);
		if (strcmp(net_conn_error(c), t[i].err) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", t[i].name, net_conn_error(c), t[i].err);
		assert_false(net_conn_is_tls(c));
		net_conn_free(c);
		close(sv[1]);
	}
	event_base_free(base);
	net_tls_ctx_free(ctx);
}

/* 4 MiB through a DANE-EE connection, written at the pace of the drains. */
static void test_dane_bulk(void **state)
{
	struct fx *f = *state;
	uint8_t d[64];
	struct net_tls_tlsa rr = { 3, 1, 1, d, tpki_tlsa_data(f->cert[C_GOOD], 1, 1, d, sizeof(d)) };
	struct net_tls_peer p = { NULL, NULL, 0, &rr, 1, "mx1.a.test" };
	struct run r = { .srv_ctx = f->srv[C_GOOD], .peer = &p, .bulk = true };
	r.cli_ctx = client_ctx(f->ca, false);
	run_once(&r);
	net_tls_ctx_free(r.cli_ctx);
	assert_int_equal(r.auth, NET_TLS_AUTH_DANE_EE);
	if (r.received != BULK_TOTAL)
		fail_msg("got %zu octets, want %u (%s)", r.received, BULK_TOTAL, r.err);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(net_tls_fail_name(NET_TLS_FAIL_NONE), "");
	assert_string_equal(net_tls_fail_name(NET_TLS_FAIL_HOST_MISMATCH), "certificate-host-mismatch");
	assert_string_equal(net_tls_fail_name(NET_TLS_FAIL_EXPIRED), "certificate-expired");
	assert_string_equal(net_tls_fail_name(NET_TLS_FAIL_NOT_TRUSTED), "certificate-not-trusted");
	assert_string_equal(net_tls_fail_name(NET_TLS_FAIL_TLSA_MISMATCH), "validation-failure");
	assert_string_equal(net_tls_fail_name(NET_TLS_FAIL_OTHER), "validation-failure");
	assert_string_equal(net_tls_auth_name(NET_TLS_AUTH_DANE_EE), "dane-ee");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_tlsa_usable),
		cmocka_unit_test(test_legacy_verify_abort_typed),
		cmocka_unit_test(test_setup_refused),
		cmocka_unit_test(test_dane_bulk),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
