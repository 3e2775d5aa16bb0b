/*
 * test_client_session: the outbound session driven against a scripted
 * SMTP receiver on loopback (a thread of this test), through the public
 * mxr_deliver with address-literal recipients, so no DNS is involved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsupport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mxrelay/mxrelay.h"
#include "util/log.h"

/* What the receiver answers; NULL means the usual positive reply. */
struct script {
	const char *greeting;
	const char *ehlo;	/* whole reply, lines joined by CRLF */
	const char *mail;
	const char *rcpt[8];	/* one per RCPT, across transactions */
	const char *data;
	const char *dot;
};

struct server {
	int lfd;
	uint16_t port;
	pthread_t th;
	const struct script *sc;
	char log[8192];		/* commands received, one per line */
	size_t loglen;
	char msg[8192];		/* the last message, as received on the wire */
	size_t msglen;
	int ntxn;		/* messages received */
};

static void srv_reply(int fd, const char *r)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", r);
	ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
	(void)w;
}

/* Serve one connection according to the script. */
static void *srv_main(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	FILE *in = fdopen(dup(fd), "r");
	const struct script *sc = s->sc;
	size_t nrcpt = 0;
	char line[4096];
	srv_reply(fd, sc->greeting != NULL ? sc->greeting : "220 rx.test ESMTP");
	while (fgets(line, sizeof(line), in) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		s->loglen += (size_t)snprintf(s->log + s->loglen, sizeof(s->log) - s->loglen, "%s\n", line);
		if (strncasecmp(line, "EHLO", 4) == 0) {
			srv_reply(fd, sc->ehlo != NULL ? sc->ehlo : "250-rx.test\r\n250-PIPELINING\r\n250 8BITMIME");
		} else if (strncasecmp(line, "HELO", 4) == 0) {
			srv_reply(fd, "250 rx.test");
		} else if (strncasecmp(line, "MAIL", 4) == 0) {
			srv_reply(fd, sc->mail != NULL ? sc->mail : "250 2.1.0 Ok");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			const char *r = nrcpt < 8 ? sc->rcpt[nrcpt] : NULL;
			nrcpt++;
			srv_reply(fd, r != NULL ? r : "250 2.1.5 Ok");
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			const char *r = sc->data != NULL ? sc->data : "354 go ahead";
			srv_reply(fd, r);
			if (strncmp(r, "354", 3) != 0)
				continue;
			s->msglen = 0;
			while (fgets(line, sizeof(line), in) != NULL && strcmp(line, ".\r\n") != 0) {
				size_t n = strlen(line);
				if (s->msglen + n < sizeof(s->msg)) {
					memcpy(s->msg + s->msglen, line, n);
					s->msglen += n;
				}
			}
			s->ntxn++;
			srv_reply(fd, sc->dot != NULL ? sc->dot : "250 2.0.0 queued");
		} else if (strncasecmp(line, "RSET", 4) == 0) {
			srv_reply(fd, "250 2.0.0 Ok");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			srv_reply(fd, "221 2.0.0 Bye");
			break;
		} else {
			srv_reply(fd, "502 5.5.2 what?");
		}
	}
	fclose(in);
	close(fd);
	return NULL;
}

static void srv_start(struct server *s, const struct script *sc)
{
	memset(s, 0, sizeof(*s));
	s->sc = sc;
	s->lfd = tsupport_listen_loopback(4, &s->port);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(struct server *s)
{
	/* A client that never connected leaves accept() waiting: wake it. */
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

/* The client's side of a run; zero takes helo "client.test", a 7-bit body, no log id. */
struct sender {
	const char *helo_name;
	bool body_8bit;
	const char *log_id;
};

/* Deliver msg to rcpts at the scripted server as snd (or NULL) says; results are the caller's. */
static struct mxr_result *run_as(struct server *s, const struct script *sc,
    const struct sender *snd, const char *text, const char *const *rcpts, size_t n)
{
	static const struct sender plain = { 0 };
	if (snd == NULL)
		snd = &plain;
	srv_start(s, sc);
	struct mxr_rcpt r[8];
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++)
		r[i].address = rcpts[i];
	struct mxr_options opt = {
		.helo_name = snd->helo_name != NULL ? snd->helo_name : "client.test",
		.port = s->port,
		.tls = MXR_TLS_NONE,
		.timeouts = { .connect = 5, .greeting = 5, .helo = 5, .mail = 5, .rcpt = 5,
			      .data_init = 5, .data_block = 5, .data_term = 5 },
	};
	struct mxr_message m = {
		.sender = "alice@sender.test",
		.rcpts = r,
		.nrcpts = n,
		.src = mxr_source_mem(text, strlen(text)),
		.body_8bit = snd->body_8bit,
		.log_id = snd->log_id,
	};
	struct mxr_result *res = NULL;
	char err[256];
	assert_int_equal(mxr_deliver(&opt, &m, NULL, NULL, &res, err, sizeof(err)), 0);
	srv_stop(s);
	return res;
}

static struct mxr_result *run(struct server *s, const struct script *sc, const char *text,
    const char *const *rcpts, size_t n)
{
	return run_as(s, sc, NULL, text, rcpts, n);
}

static void want(const struct mxr_result *r, enum mxr_status st, enum mxr_stage stage, int code,
    const char *esc)
{
	if (r->status != st || r->stage != stage || r->code != code || strcmp(r->esc, esc) != 0)
		fail_msg("<%s>: got %s/%s %d %s \"%s\", want %s/%s %d %s", r->rcpt,
		    mxr_status_name(r->status), mxr_stage_name(r->stage), r->code, r->esc, r->text,
		    mxr_status_name(st), mxr_stage_name(stage), code, esc);
}

/* Pipelined: one recipient refused, the other delivered; the text is dot-stuffed with CRLF. */
static void test_pipelined_mixed(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = { .rcpt = { NULL, "550 5.1.1 no such user" } };
	const char *rc[] = { "bob@[127.0.0.1]", "carol@[127.0.0.1]" };
	struct mxr_result *r = run(&s, &sc, "Subject: x\n\n.dot\nend", rc, 2);
	want(&r[0], MXR_DELIVERED, MXR_STAGE_DATA, 250, "2.0.0");
	want(&r[1], MXR_PERMFAIL, MXR_STAGE_RCPT, 550, "5.1.1");
	assert_int_equal(s.ntxn, 1);
	assert_string_equal(s.msg, "Subject: x\r\n\r\n..dot\r\nend\r\n");
	assert_non_null(strstr(s.log, "MAIL FROM:<alice@sender.test>\nRCPT TO:<bob@[127.0.0.1]>\n"
	    "RCPT TO:<carol@[127.0.0.1]>\nDATA\n"));
	free(r);
}

/* 452 4.5.3 on the third RCPT: it goes in a second transaction on the same connection. */
static void test_452_splits(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = {
		.ehlo = "250 rx.test",
		.rcpt = { NULL, NULL, "452 4.5.3 too many recipients" },
	};
	const char *rc[] = { "a@[127.0.0.1]", "b@[127.0.0.1]", "c@[127.0.0.1]" };
	struct mxr_result *r = run(&s, &sc, "x\r\n", rc, 3);
	for (int i = 0; i < 3; i++)
		want(&r[i], MXR_DELIVERED, MXR_STAGE_DATA, 250, "2.0.0");
	assert_int_equal(s.ntxn, 2);
	free(r);
}

/* A 421 greeting defers, with the reply. */
static void test_421_greeting(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = { .greeting = "421 4.3.2 busy" };
	const char *rc[] = { "a@[127.0.0.1]" };
	struct mxr_result *r = run(&s, &sc, "x\r\n", rc, 1);
	want(&r[0], MXR_TEMPFAIL, MXR_STAGE_CONNECT, 421, "4.3.2");
	free(r);
}

/* A greeting that is no reply defers with 4.5.0. */
static void test_garbage_greeting(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = { .greeting = "hello there" };
	const char *rc[] = { "a@[127.0.0.1]" };
	struct mxr_result *r = run(&s, &sc, "x\r\n", rc, 1);
	want(&r[0], MXR_TEMPFAIL, MXR_STAGE_CONNECT, 0, "4.5.0");
	free(r);
}

/* 451 after the dot defers every accepted recipient. */
static void test_451_after_dot(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = { .dot = "451 4.3.0 try later" };
	const char *rc[] = { "a@[127.0.0.1]", "b@[127.0.0.1]" };
	struct mxr_result *r = run(&s, &sc, "x\r\n", rc, 2);
	want(&r[0], MXR_TEMPFAIL, MXR_STAGE_DATA, 451, "4.3.0");
	want(&r[1], MXR_TEMPFAIL, MXR_STAGE_DATA, 451, "4.3.0");
	free(r);
}

/* SIZE smaller than the message: 5.3.4 and no MAIL. */
static void test_size_limit(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = { .ehlo = "250-rx.test\r\n250 SIZE 10" };
	const char *rc[] = { "a@[127.0.0.1]" };
	struct mxr_result *r = run(&s, &sc, "this message is longer than ten octets\r\n", rc, 1);
	want(&r[0], MXR_PERMFAIL, MXR_STAGE_MAIL, 0, "5.3.4");
	assert_null(strstr(s.log, "MAIL"));
	free(r);
}

/* EHLO refused with 5xx: HELO, and MAIL without parameters. */
static void test_helo_fallback(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = { .ehlo = "502 5.5.2 no EHLO here" };
	const char *rc[] = { "a@[127.0.0.1]" };
	struct mxr_result *r = run(&s, &sc, "x\xc3\xa9\r\n", rc, 1);
	want(&r[0], MXR_DELIVERED, MXR_STAGE_DATA, 250, "2.0.0");
	assert_non_null(strstr(s.log, "HELO client.test\nMAIL FROM:<alice@sender.test>\n"));
	free(r);
}

/* MAIL refused with 5xx fails every recipient; no RCPT follows without pipelining. */
static void test_mail_5xx(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = { .ehlo = "250 rx.test", .mail = "553 5.7.1 sender refused" };
	const char *rc[] = { "a@[127.0.0.1]", "b@[127.0.0.1]" };
	struct mxr_result *r = run(&s, &sc, "x\r\n", rc, 2);
	want(&r[0], MXR_PERMFAIL, MXR_STAGE_MAIL, 553, "5.7.1");
	want(&r[1], MXR_PERMFAIL, MXR_STAGE_MAIL, 553, "5.7.1");
	assert_null(strstr(s.log, "RCPT"));
	free(r);
}

/*
 * Our own name first in the greeting or in the reply to EHLO/HELO, in any
 * case: the mail would come back to us (RFC 5321 6.3): 5.4.6 after QUIT,
 * no MAIL. Elsewhere in the text, or another name, is no loop.
 */
static void test_mail_loop(void **state)
{
	(void)state;
	static const struct {
		struct script sc;
		const char *helo;
		enum mxr_status st;
		enum mxr_stage stage;
		const char *esc;
	} cases[] = {
		{ { .greeting = "220 relay.test ESMTP" }, "relay.test",
		  MXR_PERMFAIL, MXR_STAGE_CONNECT, "5.4.6" },
		{ { .greeting = "220-Relay.TEST ESMTP\r\n220 more" }, "relay.test",
		  MXR_PERMFAIL, MXR_STAGE_CONNECT, "5.4.6" },
		{ { .ehlo = "250-relay.test hello\r\n250 8BITMIME" }, "RELAY.test",
		  MXR_PERMFAIL, MXR_STAGE_HELO, "5.4.6" },
		{ { .greeting = "220 other.test", .ehlo = "502 5.5.2 no EHLO here" }, "rx.test",
		  MXR_PERMFAIL, MXR_STAGE_HELO, "5.4.6" },
		{ { .greeting = "220 relay.test ESMTP" }, "client.test",
		  MXR_DELIVERED, MXR_STAGE_DATA, "2.0.0" },
		{ { .greeting = "220 rx.test ESMTP relay.test" }, "relay.test",
		  MXR_DELIVERED, MXR_STAGE_DATA, "2.0.0" },
		{ { .greeting = "220 relay.test.example ESMTP" }, "relay.test",
		  MXR_DELIVERED, MXR_STAGE_DATA, "2.0.0" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct server s;
		const struct sender snd = { .helo_name = cases[i].helo };
		const char *rc[] = { "a@[127.0.0.1]", "b@[127.0.0.1]" };
		struct mxr_result *r = run_as(&s, &cases[i].sc, &snd, "x\r\n", rc, 2);
		for (int k = 0; k < 2; k++) {
			want(&r[k], cases[i].st, cases[i].stage,
			    cases[i].st == MXR_DELIVERED ? 250 : 0, cases[i].esc);
			if (cases[i].st == MXR_PERMFAIL && strstr(r[k].text, "loops back to myself") == NULL)
				fail_msg("case %zu: got text \"%s\", want \"... loops back to myself\"", i,
				    r[k].text);
		}
		if (cases[i].st == MXR_PERMFAIL) {
			if (strstr(s.log, "MAIL") != NULL || strstr(s.log, "QUIT") == NULL)
				fail_msg("case %zu: got commands\n%s\nwant QUIT and no MAIL", i, s.log);
		}
		free(r);
	}
}

/* 8-bit octets to a server without 8BITMIME (RFC 6152 3): 5.6.3 after QUIT, no MAIL. */
static void test_8bit_needs_8bitmime(void **state)
{
	(void)state;
	struct server s;
	static const struct script sc = { .ehlo = "250-rx.test\r\n250 PIPELINING" };
	const struct sender snd = { .body_8bit = true };
	const char *rc[] = { "a@[127.0.0.1]" };
	struct mxr_result *r = run_as(&s, &sc, &snd, "caf\xc3\xa9\r\n", rc, 1);
	want(&r[0], MXR_PERMFAIL, MXR_STAGE_MAIL, 0, "5.6.3");
	if (strstr(r[0].text, "8-bit") == NULL || strstr(r[0].text, "8BITMIME") == NULL)
		fail_msg("got text \"%s\", want it to name 8-bit content and 8BITMIME", r[0].text);
	if (strstr(s.log, "MAIL") != NULL || strstr(s.log, "QUIT") == NULL)
		fail_msg("got commands\n%s\nwant QUIT and no MAIL", s.log);
	free(r);

	/* The same message where 8BITMIME is offered goes out labelled. */
	r = run_as(&s, &(const struct script){ 0 }, &snd, "caf\xc3\xa9\r\n", rc, 1);
	want(&r[0], MXR_DELIVERED, MXR_STAGE_DATA, 250, "2.0.0");
	assert_non_null(strstr(s.log, "MAIL FROM:<alice@sender.test> BODY=8BITMIME\n"));
	free(r);
}

/* Every line the engine logs for a delivery carries its log_id as queue=. */
static void test_log_id(void **state)
{
	(void)state;
	FILE *f = tmpfile();
	assert_non_null(f);
	log_init("test_client_session", LOG_LVL_DEBUG, fileno(f));
	struct server s;
	static const struct script sc = { .rcpt = { NULL, "550 5.1.1 no such user" } };
	const struct sender snd = { .log_id = "0123abcd" };
	const char *rc[] = { "a@[127.0.0.1]", "b@[127.0.0.1]" };
	struct mxr_result *r = run_as(&s, &sc, &snd, "x\r\n", rc, 2);
	log_init("test_client_session", LOG_LVL_WARN, 2);
	free(r);
	rewind(f);
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		if (strstr(line, " queue=0123abcd ") == NULL && strstr(line, " queue=0123abcd\n") == NULL)
			fail_msg("got line without queue=0123abcd: %s", line);
	}
	fclose(f);
	if (n < 5)
		fail_msg("got %d log lines, want the delivery's (at least 5)", n);
}

/* What the event callback of test_data_sent saw. */
struct seen_events {
	size_t steps, data_sent, steps_with_bytes;
	uint64_t last_sent, total;
	bool out_of_order;	/* sent went back, passed total, or came in another stage */
	bool done_before_all_sent;
};

static void seen_event(const struct mxr_event *e, void *arg)
{
	struct seen_events *v = arg;
	if (e->kind == MXR_EVENT_STEP) {
		v->steps++;
		if (e->bytes_sent != 0 || e->bytes_total != 0)
			v->steps_with_bytes++;
		if (e->stage == MXR_STAGE_DONE && (v->total == 0 || v->last_sent != v->total))
			v->done_before_all_sent = true;
		return;
	}
	assert_int_equal(e->kind, MXR_EVENT_DATA_SENT);
	if (e->stage != MXR_STAGE_DATA || e->status != MXR_PENDING || e->code != 0 ||
	    e->bytes_sent <= v->last_sent || e->bytes_sent > e->bytes_total)
		v->out_of_order = true;
	v->data_sent++;
	v->last_sent = e->bytes_sent;
	v->total = e->bytes_total;
}

/*
 * DATA progress: the engine reports octets sent of the size, growing, the
 * whole size before the final status, and the steps carry no counts.
 */
static void test_data_sent(void **state)
{
	(void)state;
	enum { LINES = 16384, LINE = 64 };
	char *text = malloc((size_t)LINES * LINE + 1);
	assert_non_null(text);
	for (size_t i = 0; i < LINES; i++) {
		memset(text + i * LINE, 'x', LINE - 2);
		memcpy(text + i * LINE + LINE - 2, "\r\n", 2);
	}
	text[(size_t)LINES * LINE] = '\0';
	struct server s;
	srv_start(&s, &(const struct script){ 0 });
	struct mxr_rcpt r = { .address = "bob@[127.0.0.1]" };
	struct mxr_options opt = {
		.helo_name = "client.test",
		.port = s.port,
		.tls = MXR_TLS_NONE,
		.timeouts = { .connect = 5, .greeting = 5, .helo = 5, .mail = 5, .rcpt = 5,
			      .data_init = 5, .data_block = 5, .data_term = 5 },
	};
	struct mxr_message m = {
		.sender = "alice@sender.test",
		.rcpts = &r,
		.nrcpts = 1,
		.src = mxr_source_mem(text, strlen(text)),
	};
	struct seen_events v = { 0 };
	struct mxr_result *res = NULL;
	char err[256];
	assert_int_equal(mxr_deliver(&opt, &m, seen_event, &v, &res, err, sizeof(err)), 0);
	srv_stop(&s);
	want(&res[0], MXR_DELIVERED, MXR_STAGE_DATA, 250, "2.0.0");
	if (v.data_sent < 2 || v.total != (uint64_t)LINES * LINE || v.last_sent != v.total)
		fail_msg("got %zu DATA progress events, last %llu of %llu, want a few, the last %llu of %llu",
		    v.data_sent, (unsigned long long)v.last_sent, (unsigned long long)v.total,
		    (unsigned long long)LINES * LINE, (unsigned long long)LINES * LINE);
	assert_false(v.out_of_order);
	assert_false(v.done_before_all_sent);
	assert_int_equal(v.steps_with_bytes, 0);
	assert_true(v.steps > 0);
	free(res);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_mixed),
		cmocka_unit_test(test_452_splits),
		cmocka_unit_test(test_421_greeting),
		cmocka_unit_test(test_garbage_greeting),
		cmocka_unit_test(test_451_after_dot),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_mail_5xx),
		cmocka_unit_test(test_mail_loop),
		cmocka_unit_test(test_8bit_needs_8bitmime),
		cmocka_unit_test(test_log_id),
		cmocka_unit_test(test_data_sent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
