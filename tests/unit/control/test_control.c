/*
 * test_control: the control socket's request grammar (table-driven), the
 * requests run against a real (empty, then filled) queue store, and the
 * socket itself: replies, bad and oversized requests, stale sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsupport.h"
#include <event2/buffer.h>
#include <event2/event.h>

#include "config/config.h"
#include "control/control.h"
#include "queue/queue_store.h"
#include "util/log.h"

#define ID "0123456789abcdefghij"

struct parse_case {
	const char *line;
	int rc;
	enum control_verb verb;
	const char *arg;	/* expected arg, or the expected error text when rc != 0 */
};

static const struct parse_case parse_cases[] = {
	{ "list", 0, CONTROL_LIST, "" },
	{ "list\r", 0, CONTROL_LIST, "" },
	{ "list-json", 0, CONTROL_LIST_JSON, "" },
	{ "list x", -1, CONTROL_LIST, "this request takes no argument" },
	{ "show " ID, 0, CONTROL_SHOW, ID },
	{ "show-json " ID, 0, CONTROL_SHOW_JSON, ID },
	{ "show  " ID "  ", 0, CONTROL_SHOW, ID },
	{ "show", -1, CONTROL_SHOW, "a queue id is needed" },
	{ "show 0123", -1, CONTROL_SHOW, "not a queue id" },
	{ "show 0123456789ABCDEFGHIJ", -1, CONTROL_SHOW, "not a queue id" },
	{ "show 0123456789abcdefghiz", -1, CONTROL_SHOW, "not a queue id" },
	{ "show " ID " " ID, -1, CONTROL_SHOW, "too many arguments" },
	{ "flush", 0, CONTROL_FLUSH_ALL, "" },
	{ "flush " ID, 0, CONTROL_FLUSH, ID },
	{ "flush-domain Example.TEST.", 0, CONTROL_FLUSH_DOMAIN, "example.test" },
	{ "flush-domain [127.0.0.1]", 0, CONTROL_FLUSH_DOMAIN, "[127.0.0.1]" },
	{ "flush-domain", -1, CONTROL_FLUSH_DOMAIN, "empty domain" },
	{ "flush-domain a@b", -1, CONTROL_FLUSH_DOMAIN, "not a domain name" },
	{ "flush-domain E...", -1, CONTROL_FLUSH_DOMAIN, "not a domain name" },
	{ "flush-domain -a.test", -1, CONTROL_FLUSH_DOMAIN, "not a domain name" },
	{ "flush-domain [IPv6:::1]", 0, CONTROL_FLUSH_DOMAIN, "[ipv6:::1]" },
	{ "flush-domain [1.2.3]", -1, CONTROL_FLUSH_DOMAIN, "bad address literal" },
	{ "hold " ID, 0, CONTROL_HOLD, ID },
	{ "release " ID, 0, CONTROL_RELEASE, ID },
	{ "delete " ID, 0, CONTROL_DELETE, ID },
	{ "bounce " ID, 0, CONTROL_BOUNCE, ID },
	{ "requeue " ID, 0, CONTROL_REQUEUE, ID },
	{ "requeue", -1, CONTROL_REQUEUE, "a queue id is needed" },
	{ "select", 0, CONTROL_SELECT, "" },
	{ "select x", -1, CONTROL_SELECT, "this request takes no argument" },
	{ "select-domain B.Test", 0, CONTROL_SELECT_DOMAIN, "b.test" },
	{ "select-domain", -1, CONTROL_SELECT_DOMAIN, "empty domain" },
	{ "select-sender s@x.test", 0, CONTROL_SELECT_SENDER, "s@x.test" },
	{ "select-sender <S@X.test>", 0, CONTROL_SELECT_SENDER, "S@X.test" },
	{ "select-sender <>", 0, CONTROL_SELECT_SENDER, "<>" },
	{ "select-sender \"a@b\"@x.test", 0, CONTROL_SELECT_SENDER, "\"a@b\"@x.test" },
	{ "select-sender [1.2.3.4]@x.test", 0, CONTROL_SELECT_SENDER, "[1.2.3.4]@x.test" },
	{ "select-sender u@[127.0.0.1]", 0, CONTROL_SELECT_SENDER, "u@[127.0.0.1]" },
	{ "select-sender", -1, CONTROL_SELECT_SENDER, "a sender is needed (<> for the null sender)" },
	{ "select-sender nobody", -1, CONTROL_SELECT_SENDER,
	  "not a sender address (local@domain, or <> for the null sender)" },
	{ "select-sender @x.test", -1, CONTROL_SELECT_SENDER,
	  "not a sender address (local@domain, or <> for the null sender)" },
	{ "select-sender a@", -1, CONTROL_SELECT_SENDER,
	  "not a sender address (local@domain, or <> for the null sender)" },
	{ "select-sender <a@x.test", -1, CONTROL_SELECT_SENDER,
	  "not a sender address (local@domain, or <> for the null sender)" },
	{ "select-sender a@x..test", -1, CONTROL_SELECT_SENDER,
	  "the sender's domain is not a domain name" },
	{ "", -1, CONTROL_LIST, "empty request" },
	{ " list", -1, CONTROL_LIST, "empty request" },
	{ "LIST", -1, CONTROL_LIST, "unknown request" },
	{ "frobnicate", -1, CONTROL_LIST, "unknown request" },
	{ "list\tx", -1, CONTROL_LIST, "control character in request" },
	{ "hold\0" ID, -1, CONTROL_LIST, "control character in request" },
};

/* Each row: parse, compare verb and argument, or the error. */
static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		size_t len = strlen(c->line);
		if (strncmp(c->line, "hold", 4) == 0 && c->rc != 0)
			len = 5 + QUEUE_ID_LEN;	/* the row with a NUL inside */
		struct control_req req;
		const char *why = NULL;
		int rc = control_parse(c->line, len, &req, &why);
		if (rc != c->rc)
			fail_msg("%zu \"%s\": got rc %d (%s), want %d", i, c->line, rc,
			    why ? why : "-", c->rc);
		if (rc == 0) {
			if (req.verb != c->verb || strcmp(req.arg, c->arg) != 0)
				fail_msg("%zu \"%s\": got %s \"%s\", want %s \"%s\"", i, c->line,
				    control_verb_name(req.verb), req.arg, control_verb_name(c->verb), c->arg);
		} else if (why == NULL || strcmp(why, c->arg) != 0) {
			fail_msg("%zu \"%s\": got error \"%s\", want \"%s\"", i, c->line,
			    why ? why : "(null)", c->arg);
		}
	}
}

/* Lines longer than the cap, and a domain longer than a domain may be. */
static void test_parse_caps(void **state)
{
	(void)state;
	char line[CONTROL_LINE_MAX + 16];
	memset(line, 'a', sizeof(line));
	memcpy(line, "flush-domain ", 13);
	/* Labels of 62 octets, so only the length is wrong. */
	for (size_t i = 13 + 62; i < sizeof(line); i += 63)
		line[i] = '.';
	struct control_req req;
	const char *why = NULL;
	assert_int_equal(control_parse(line, sizeof(line), &req, &why), -1);
	assert_string_equal(why, "request too long");
	assert_int_equal(control_parse(line, 13 + CONTROL_ARG_MAX + 1, &req, &why), -1);
	assert_string_equal(why, "domain too long");
	assert_int_equal(control_parse(line, 13 + CONTROL_ARG_MAX, &req, &why), 0);
	assert_int_equal(strlen(req.arg), CONTROL_ARG_MAX);
}

/* A fresh queue directory under /tmp. */
static char *make_dir(void)
{
	char tmpl[] = "/tmp/test_control.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

/* Remove the directory made by make_dir and what the store left in it. */
static void rm_dir(char *d)
{
	tsupport_rm_tree(d);
	free(d);
}

/* Run a request string against q; returns the status, body and text in the out buffers. */
static enum control_status run(struct queue_store *q, const char *line, char *body, size_t bodylen,
    char *msg, size_t msglen)
{
	struct control_req req;
	const char *why = NULL;
	if (control_parse(line, strlen(line), &req, &why) != 0)
		fail_msg("\"%s\": %s", line, why);
	struct evbuffer *b = evbuffer_new();
	enum control_status st = control_run(q, &req, 1000000, b, CONTROL_BODY_MAX, msg, msglen);
	size_t n = evbuffer_get_length(b);
	if (n >= bodylen)
		n = bodylen - 1;
	evbuffer_remove(b, body, n);
	body[n] = '\0';
	evbuffer_free(b);
	return st;
}

/* Requests against an empty store opened the way the command line opens it. */
static void test_run_empty(void **state)
{
	(void)state;
	char *dir = make_dir();
	char err[256], body[4096], msg[512];
	struct queue_store *q = queue_store_open(NULL, dir, err, sizeof(err));
	assert_non_null(q);
	assert_int_equal(run(q, "list", body, sizeof(body), msg, sizeof(msg)), CONTROL_OK);
	assert_string_equal(body, "queue is empty\n");
	assert_int_equal(run(q, "list-json", body, sizeof(body), msg, sizeof(msg)), CONTROL_OK);
	assert_string_equal(body, "");
	static const char *const notfound[] = { "show " ID, "hold " ID, "release " ID,
		"delete " ID, "flush " ID, "requeue " ID, "bounce " ID };
	for (size_t i = 0; i < sizeof(notfound) / sizeof(notfound[0]); i++) {
		enum control_status st = run(q, notfound[i], body, sizeof(body), msg, sizeof(msg));
		if (st != CONTROL_E_NOTFOUND || strcmp(msg, "no message " ID) != 0)
			fail_msg("\"%s\": got %s \"%s\", want notfound", notfound[i],
			    control_status_name(st), msg);
	}
	assert_int_equal(run(q, "select", body, sizeof(body), msg, sizeof(msg)), CONTROL_OK);
	assert_string_equal(body, "");
	assert_string_equal(msg, "0 messages");
	assert_int_equal(run(q, "flush", body, sizeof(body), msg, sizeof(msg)), CONTROL_OK);
	assert_string_equal(msg, "flushed 0 recipients of 0 domains (due now)");
	queue_store_close(q);
	rm_dir(dir);
}

/* The day's TLS results as text and JSON: peer text escaped, every field there. */
static void test_run_tlsrpt_list(void **state)
{
	(void)state;
	char *dir = make_dir();
	char err[256], body[4096], msg[512];
	struct queue_store *q = queue_store_open(NULL, dir, err, sizeof(err));
	assert_non_null(q);
	/* 2026-12-06 00:00 UTC */
	struct queue_tlsrpt_row rows[2] = {
		{ .day = 1796515200, .domain = "a.test", .policy_type = "sts", .policy = "p",
		  .result = "", .sending_ip = "", .mx_host = "", .mx_ip = "", .mx_helo = "",
		  .detail = "", .sessions = 3 },
		{ .day = 1796515200, .domain = "a.test", .policy_type = "tlsa", .policy = "p",
		  .result = "validation-failure", .sending_ip = "192.0.2.1",
		  .mx_host = "mx\\\"q.a.test", .mx_ip = "192.0.2.9", .mx_helo = "h\x01",
		  .detail = "said \"no\"", .sessions = 1 },
	};
	assert_int_equal(queue_tlsrpt_add(q, rows, 2, err, sizeof(err)), 0);
	assert_int_equal(run(q, "tlsrpt-list 2026-12-06", body, sizeof(body), msg, sizeof(msg)),
	    CONTROL_OK);
	assert_string_equal(body, "a.test sts success sessions=3 mx=- ip=-\n"
	    "a.test tlsa validation-failure sessions=1 mx=mx\\\"q.a.test ip=192.0.2.9\n");
	assert_string_equal(msg, "2 TLS result rows");
	assert_int_equal(run(q, "tlsrpt-list-json 2026-12-06", body, sizeof(body), msg,
	    sizeof(msg)), CONTROL_OK);
	assert_string_equal(body, "[{\"domain\":\"a.test\",\"policy_type\":\"sts\","
	    "\"result\":\"success\",\"sessions\":3,\"mx_host\":\"\",\"mx_ip\":\"\","
	    "\"mx_helo\":\"\",\"sending_ip\":\"\",\"detail\":\"\"},"
	    "{\"domain\":\"a.test\",\"policy_type\":\"tlsa\",\"result\":\"validation-failure\","
	    "\"sessions\":1,\"mx_host\":\"mx\\\\\\\"q.a.test\",\"mx_ip\":\"192.0.2.9\","
	    "\"mx_helo\":\"h\\u0001\",\"sending_ip\":\"192.0.2.1\","
	    "\"detail\":\"said \\\"no\\\"\"}]\n");
	assert_int_equal(run(q, "tlsrpt-list 2026-12-05", body, sizeof(body), msg, sizeof(msg)),
	    CONTROL_OK);
	assert_string_equal(body, "");
	queue_store_close(q);
	rm_dir(dir);
}

/* The loop-side state of a test that commits messages. */
struct filled {
	struct event_base *base;
	int pending;
	bool ok;
};

/* Commit callback: count down. */
static void filled_done(void *arg, bool ok, const char *err)
{
	struct filled *f = arg;
	(void)err;
	f->ok = f->ok && ok;
	f->pending--;
	event_base_loopbreak(f->base);
}

/* Put one message with two recipients into q, its id into id. */
static void put_message(struct queue_store *q, struct filled *f, char id[QUEUE_ID_LEN + 1])
{
	static const char text[] = "Subject: hello\r\nTo: a@a.test\r\n\r\nbody\r\n";
	struct queue_rcpt_in rc[2] = { { "a@a.test", 0, NULL }, { "b@B.test", 0, NULL } };
	struct queue_envelope env = {
		.sender = "s@x.test", .client_ip = "127.0.0.1", .client_helo = "h",
		.protocol = "ESMTP", .received_at = 999000, .rcpts = rc, .nrcpts = 2,
	};
	struct queue_writer *w = queue_writer_new(q);
	snprintf(id, QUEUE_ID_LEN + 1, "%s", queue_writer_id(w));
	assert_int_equal(queue_writer_append(w, text, sizeof(text) - 1), 0);
	f->pending++;
	queue_writer_commit(w, &env, filled_done, f);
	while (f->pending > 0)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_true(f->ok);
}

/* What the control socket told the scheduler, in order. */
struct notes {
	int n;
	enum control_event ev[16];
	char what[16][CONTROL_ARG_MAX + 1];
};

static void note(void *arg, enum control_event ev, const char *what)
{
	struct notes *k = arg;
	assert_true(k->n < 16);
	k->ev[k->n] = ev;
	snprintf(k->what[k->n], sizeof(k->what[k->n]), "%s", what);
	k->n++;
}

/* Fail unless note i is ev about what. */
static void expect_note(const struct notes *k, int i, enum control_event ev, const char *what)
{
	if (k->n <= i)
		fail_msg("note %d: got %d notes, want one more", i, k->n);
	if (k->ev[i] != ev || strcmp(k->what[i], what) != 0)
		fail_msg("note %d: got event %d \"%s\", want %d \"%s\"", i, (int)k->ev[i],
		    k->what[i], (int)ev, what);
}

/* Selections, requeue and a bounce without the daemon, run against a filled store. */
static void test_run_filled(void **state)
{
	(void)state;
	char *dir = make_dir();
	char err[256], body[4096], msg[512], want[600], a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	struct filled f = { .base = event_base_new(), .ok = true };
	struct queue_store *q = queue_store_open(f.base, dir, err, sizeof(err));
	assert_non_null(q);
	put_message(q, &f, a);
	put_message(q, &f, b);
	static const struct { const char *req; bool both; } rows[] = {
		{ "select", true },
		{ "select-domain b.TEST", true },
		{ "select-domain c.test", false },
		{ "select-sender <S@X.TEST>", true },
		{ "select-sender s@y.test", false },
		{ "select-sender <>", false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(run(q, rows[i].req, body, sizeof(body), msg, sizeof(msg)), CONTROL_OK);
		snprintf(want, sizeof(want), "%s", rows[i].both ? a : "");
		if (rows[i].both)
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "\n%s\n", b);
		if (strcmp(body, want) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", rows[i].req, body, want);
	}
	/* requeue: due now (the store's clock is 1000000 in run), nothing else changes */
	char req[64];
	snprintf(req, sizeof(req), "requeue %s", a);
	assert_int_equal(run(q, req, body, sizeof(body), msg, sizeof(msg)), CONTROL_OK);
	snprintf(want, sizeof(want), "requeued 0 recipients of %s", a);
	assert_string_equal(msg, want);	/* pending since 999000: already due */

	snprintf(req, sizeof(req), "bounce %s", a);
	assert_int_equal(run(q, req, body, sizeof(body), msg, sizeof(msg)), CONTROL_OK);
	snprintf(want, sizeof(want), "bounced 2 recipients of %s", a);
	assert_string_equal(msg, want);
	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	assert_int_equal(queue_query_message(q, a, &m, &r, &nr, true, err, sizeof(err)), 1);
	assert_int_equal(nr, 2);
	for (size_t i = 0; i < nr; i++) {
		if (r[i].state != QUEUE_RCPT_FAILED || r[i].tries != 1 || r[i].first_fail != 1000000 ||
		    r[i].nhistory != 1 || strcmp(r[i].last_esc, CONTROL_BOUNCE_ESC) != 0)
			fail_msg("recipient %zu: got state %s tries %u first_fail %lld history %zu; want "
			    "failed, 1, 1000000, 1", i, queue_store_state_name(r[i].state), r[i].tries,
			    (long long)r[i].first_fail, r[i].nhistory);
	}
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);
	/* nothing left waiting: a second bounce fails none */
	assert_int_equal(run(q, req, body, sizeof(body), msg, sizeof(msg)), CONTROL_OK);
	snprintf(want, sizeof(want), "bounced 0 recipients of %s", a);
	assert_string_equal(msg, want);
	queue_store_close(q);
	event_base_free(f.base);
	rm_dir(dir);
}

/* Connect to path, send req, run the loop until the server closes; the reply into out. */
static void ask(struct event_base *base, const char *path, const char *req, size_t reqlen,
    char *out, size_t outlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(write(fd, req, reqlen), (ssize_t)reqlen);
	size_t got = 0;
	for (int i = 0; i < 2000; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		ssize_t n = read(fd, out + got, outlen - 1 - got);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
		else
			usleep(1000);
	}
	out[got] = '\0';
	close(fd);
}

/* The socket: list, show, hold/release, flush with a kick, bounce, bad requests, removal. */
static void test_socket(void **state)
{
	(void)state;
	char *dir = make_dir();
	char err[256], out[16384], path[400], id[QUEUE_ID_LEN + 1], req[600];
	struct filled f = { .base = event_base_new(), .ok = true };
	struct queue_store *q = queue_store_open(f.base, dir, err, sizeof(err));
	assert_non_null(q);
	put_message(q, &f, id);

	snprintf(path, sizeof(path), "%s/control.sock", dir);
	char text[600];
	snprintf(text, sizeof(text), "control_socket = %s\nlisten = 127.0.0.1:2525 relay\n"
	    "queue_dir = %s\n", path, dir);
	struct config *cfg = NULL;
	assert_int_equal(config_load_text("t", text, strlen(text), &cfg, err, sizeof(err)), 0);
	/* a stale socket (nobody listening) is replaced */
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(stale, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(stale);
	struct notes notes = { 0 };
	struct control *c = control_new(f.base, cfg, q, note, &notes, err, sizeof(err));
	if (c == NULL)
		fail_msg("control_new: %s", err);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	/* a second one finds the first alive */
	assert_null(control_new(f.base, cfg, q, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "another daemon"));

	ask(f.base, path, "list\n", 5, out, sizeof(out));
	assert_int_equal(strncmp(out, "ok 1 message\n", 13), 0);
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, "pending   <a@a.test>"));
	assert_non_null(strstr(out, "\n.\n"));

	snprintf(req, sizeof(req), "show %s\n", id);
	ask(f.base, path, req, strlen(req), out, sizeof(out));
	assert_non_null(strstr(out, "  Subject: hello\n"));
	assert_non_null(strstr(out, "sender:    <s@x.test>"));

	snprintf(req, sizeof(req), "hold %s\n", id);
	ask(f.base, path, req, strlen(req), out, sizeof(out));
	snprintf(text, sizeof(text), "ok held %s\n", id);
	assert_string_equal(out, text);
	ask(f.base, path, "list-json\n", 10, out, sizeof(out));
	assert_non_null(strstr(out, "\"held\":true"));

	snprintf(req, sizeof(req), "release %s\r\n", id);
	ask(f.base, path, req, strlen(req), out, sizeof(out));
	expect_note(&notes, 0, CONTROL_EV_DUE, id);
	/* A flush is the administrator saying "try now": the scheduler forgets backoff. */
	ask(f.base, path, "flush-domain b.test\n", 20, out, sizeof(out));
	assert_int_equal(strncmp(out, "ok flushed ", 11), 0);
	expect_note(&notes, 1, CONTROL_EV_FLUSH_DOMAIN, "b.test");
	snprintf(req, sizeof(req), "requeue %s\n", id);
	ask(f.base, path, req, strlen(req), out, sizeof(out));
	snprintf(text, sizeof(text), "ok requeued 0 recipients of %s\n", id);
	assert_string_equal(out, text);
	expect_note(&notes, 2, CONTROL_EV_FLUSH_MSG, id);
	ask(f.base, path, "flush\n", 6, out, sizeof(out));
	expect_note(&notes, 3, CONTROL_EV_FLUSH_ALL, "");
	ask(f.base, path, "select-domain B.test\n", 21, out, sizeof(out));
	snprintf(text, sizeof(text), "ok 1 message\n%s\n.\n", id);
	assert_string_equal(out, text);
	ask(f.base, path, "select-sender <>\n", 17, out, sizeof(out));
	assert_string_equal(out, "ok 0 messages\n.\n");

	snprintf(req, sizeof(req), "bounce %s\n", id);
	ask(f.base, path, req, strlen(req), out, sizeof(out));
	snprintf(text, sizeof(text), "ok bounced 2 recipients of %s\n", id);
	assert_string_equal(out, text);
	/* The scheduler is told at once, so the DSN goes now, not at the next start. */
	expect_note(&notes, 4, CONTROL_EV_BOUNCED, id);
	assert_int_equal(notes.n, 5);
	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	assert_int_equal(queue_query_message(q, id, &m, &r, &nr, true, err, sizeof(err)), 1);
	assert_int_equal(nr, 2);
	for (size_t i = 0; i < nr; i++) {
		assert_int_equal(r[i].state, QUEUE_RCPT_FAILED);
		assert_string_equal(r[i].last_esc, "5.0.0");
		assert_string_equal(r[i].last_reply, "bounced by the administrator");
	}
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);

	ask(f.base, path, "frob\n", 5, out, sizeof(out));
	assert_string_equal(out, "error usage unknown request\n");
	ask(f.base, path, "show 0123456789abcdefghij\n", 26, out, sizeof(out));
	assert_string_equal(out, "error notfound no message 0123456789abcdefghij\n");
	char big[CONTROL_LINE_MAX * 3];
	memset(big, 'x', sizeof(big));
	ask(f.base, path, big, sizeof(big), out, sizeof(out));
	assert_string_equal(out, "error usage request too long\n");
	ask(f.base, path, "li", 2, out, sizeof(out));	/* half a request, then EOF */
	assert_string_equal(out, "");

	snprintf(req, sizeof(req), "delete %s\n", id);
	ask(f.base, path, req, strlen(req), out, sizeof(out));
	snprintf(text, sizeof(text), "ok deleted %s\n", id);
	assert_string_equal(out, text);

	control_free(c);
	assert_int_equal(access(path, F_OK), -1);
	queue_store_close(q);
	config_free(cfg);
	event_base_free(f.base);
	rm_dir(dir);
}

int main(void)
{
	log_init("test_control", LOG_LVL_ERR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_caps),
		cmocka_unit_test(test_run_empty),
		cmocka_unit_test(test_run_filled),
		cmocka_unit_test(test_run_tlsrpt_list),
		cmocka_unit_test(test_socket),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
