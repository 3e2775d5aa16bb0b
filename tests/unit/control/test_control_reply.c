/*
 * test_control_reply: the client's reading of the control line protocol,
 * one row per reply as the daemon could send it (or a broken one): the
 * status, the text, the body lines with their stuffed dots undone, and why
 * a reply is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/control_reply.h"

struct reply_row {
	const char *name;
	enum control_verb verb;
	const char *wire;		/* what the daemon writes, then closes */
	int rc;
	enum control_status status;
	const char *text;
	const char *body;		/* the lines given to the callback, each with "\n" */
	const char *why;		/* when rc is -1 */
};

static const struct reply_row rows[] = {
	{ "list with a body", CONTROL_LIST, "ok 2 messages\nA1 x\n..dot\n.\n", 0, CONTROL_OK,
	  "2 messages", "A1 x\n.dot\n", NULL },
	{ "flush has no body", CONTROL_FLUSH, "ok flushed 3 recipients\n", 0, CONTROL_OK,
	  "flushed 3 recipients", "", NULL },
	{ "error on a body verb has none", CONTROL_LIST, "error store database is locked\n", 0,
	  CONTROL_E_STORE, "database is locked", "", NULL },
	{ "refused reload lists errors", CONTROL_RELOAD,
	  "error config the new configuration was refused\nt.conf:3: bad key\n.\n", 0,
	  CONTROL_E_CONFIG, "the new configuration was refused", "t.conf:3: bad key\n", NULL },
	{ "partial work says what failed", CONTROL_TLSRPT_SEND,
	  "error partial some TLS reports were not sent\na.test not sent: no record\n.\n", 0,
	  CONTROL_E_PARTIAL, "some TLS reports were not sent", "a.test not sent: no record\n",
	  NULL },
	{ "reload taken", CONTROL_RELOAD, "ok configuration loaded\nwarning: x\n.\n", 0, CONTROL_OK,
	  "configuration loaded", "warning: x\n", NULL },
	{ "body cut short", CONTROL_LIST, "ok 2 messages\nA1 x\n", -1, CONTROL_OK, NULL, "A1 x\n",
	  "the daemon closed the connection" },
	{ "nothing at all", CONTROL_LIST, "", -1, CONTROL_OK, NULL, "",
	  "the daemon closed the connection" },
	{ "unknown kind", CONTROL_FLUSH, "error weird text\n", -1, CONTROL_OK, NULL, "",
	  "a reply that is neither ok nor a known error" },
	{ "not a status line", CONTROL_FLUSH, "220 mx.test ESMTP\n", -1, CONTROL_OK, NULL, "",
	  "a reply that is neither ok nor a known error" },
};

struct collected {
	char buf[512];
	size_t len;
};

static void collect(void *arg, const char *line, size_t len)
{
	struct collected *c = arg;
	c->len += (size_t)snprintf(c->buf + c->len, sizeof(c->buf) - c->len, "%.*s\n", (int)len, line);
}

static void test_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct reply_row *row = &rows[i];
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		size_t n = strlen(row->wire);
		assert_int_equal(write(sv[1], row->wire, n), (ssize_t)n);
		close(sv[1]);
		struct control_reply r;
		struct collected c = { .len = 0 };
		c.buf[0] = '\0';
		const char *why = NULL;
		int rc = control_reply_read(sv[0], row->verb, 1000, collect, &c, &r, &why);
		close(sv[0]);
		if (rc != row->rc)
			fail_msg("%s: got rc %d (%s), want %d", row->name, rc, why ? why : "", row->rc);
		if (rc == 0 && (r.status != row->status || strcmp(r.text, row->text) != 0))
			fail_msg("%s: got status %d \"%s\", want %d \"%s\"", row->name, r.status, r.text,
			    row->status, row->text);
		if (rc != 0 && strcmp(why, row->why) != 0)
			fail_msg("%s: got why \"%s\", want \"%s\"", row->name, why, row->why);
		if (strcmp(c.buf, row->body) != 0)
			fail_msg("%s: got body \"%s\", want \"%s\"", row->name, c.buf, row->body);
	}
}

static void test_no_reply_in_time(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct control_reply r;
	const char *why = NULL;
	assert_int_equal(control_reply_read(sv[0], CONTROL_LIST, 50, collect, NULL, &r, &why), -1);
	assert_string_equal(why, "no reply in time");
	close(sv[0]);
	close(sv[1]);
}

static void test_read_all(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	const char wire[] = "error config refused\nt.conf:3: bad key\n..dot\n.\n";
	assert_int_equal(write(sv[1], wire, sizeof(wire) - 1), (ssize_t)sizeof(wire) - 1);
	close(sv[1]);
	struct control_reply r;
	char *body;
	size_t blen;
	const char *why = NULL;
	assert_int_equal(control_reply_read_all(sv[0], CONTROL_RELOAD, 1000, &r, &body, &blen, &why), 0);
	close(sv[0]);
	assert_int_equal(r.status, CONTROL_E_CONFIG);
	assert_string_equal(body, "t.conf:3: bad key\n.dot\n");
	assert_int_equal(blen, strlen(body));
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_no_reply_in_time),
		cmocka_unit_test(test_read_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
