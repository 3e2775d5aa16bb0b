/*
 * test_dsn_build: delivery status notifications built by dsn.c, parsed
 * back: the MIME structure (multipart/report, three parts, their types),
 * the DSN header, the per-message and per-recipient fields of
 * message/delivery-status, RET/ENVID/ORCPT handling, caps and cleaning of
 * peer text. One row per case, failures say got X, want Y.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "dsn.h"
#include "util/xalloc.h"

/* 2026-01-02 03:04:05 UTC and a day earlier. */
#define T_NOW 1767323045
#define T_ARRIVAL (T_NOW - 86400)

static const char ORIGINAL[] =
    "Received: from c.test by mx.relay.test; Thu, 1 Jan 2026 03:04:05 +0000\r\n"
    "From: alice@sender.test\r\n"
    "To: bob@a.test\r\n"
    "Subject: hello\r\n"
    "Message-ID: <m1@sender.test>\r\n"
    "\r\n"
    "Body line one.\r\n"
    "Body line two.\r\n";

/* The header section of ORIGINAL (through the empty line). */
static size_t original_headers_len(void)
{
	return (size_t)(strstr(ORIGINAL, "\r\n\r\n") - ORIGINAL) + 4;
}

/* Build a whole DSN as the scheduler does: head, the returned text, tail. */
static char *build(const struct dsn_report *r, size_t *len)
{
	struct dsn_buf b;
	dsn_buf_init(&b, DSN_HEAD_MAX);
	assert_true(dsn_head(r, &b));
	if (r->ret == DSN_RETURN_FULL)
		assert_true(dsn_buf_add(&b, ORIGINAL, strlen(ORIGINAL)));
	else
		assert_true(dsn_buf_add(&b, ORIGINAL, original_headers_len()));
	assert_true(dsn_tail(r, &b));
	*len = b.len;
	return b.data;
}

/*
 * The unfolded value of field name in the header block [p, end), or NULL.
 * Returns a new string.
 */
static char *field(const char *p, const char *end, const char *name)
{
	size_t nl = strlen(name);
	while (p < end) {
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL || eol > end)
			eol = end;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			char *out = xcalloc(1, (size_t)(end - v) + 1);
			size_t o = 0;
			const char *q = v;
			for (;;) {
				const char *e = strstr(q, "\r\n");
				if (e == NULL || e > end)
					e = end;
				memcpy(out + o, q, (size_t)(e - q));
				o += (size_t)(e - q);
				if (e + 2 < end && (e[2] == ' ' || e[2] == '\t')) {
					q = e + 3;
					out[o++] = ' ';
					continue;
				}
				break;
			}
			out[o] = '\0';
			return out;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Assert that field name of [p, end) is want (NULL: absent). */
static void expect_field(const char *what, const char *p, const char *end, const char *name,
    const char *want)
{
	char *got = field(p, end, name);
	if (want == NULL && got != NULL)
		fail_msg("%s: %s: got \"%s\", want none", what, name, got);
	if (want != NULL && got == NULL)
		fail_msg("%s: %s: got none, want \"%s\"", what, name, want);
	if (want != NULL && strcmp(got, want) != 0)
		fail_msg("%s: %s: got \"%s\", want \"%s\"", what, name, got, want);
	free(got);
}

struct part {
	const char *hdr, *hdr_end;	/* header block */
	const char *body, *body_end;	/* content */
};

/* Split a multipart body by boundary into at most max parts; returns the count. */
static size_t split_parts(const char *msg, const char *boundary, struct part *parts, size_t max)
{
	char delim[200];
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	size_t n = 0;
	const char *p = strstr(msg, delim);
	while (p != NULL && n < max) {
		p += strlen(delim);
		if (strncmp(p, "--", 2) == 0)
			break;
		assert_memory_equal(p, "\r\n", 2);
		p += 2;
		const char *next = strstr(p, delim);
		assert_non_null(next);
		const char *he = strstr(p, "\r\n\r\n");
		assert_non_null(he);
		parts[n].hdr = p;
		parts[n].hdr_end = he + 2;
		parts[n].body = he + 4;
		parts[n].body_end = next;
		n++;
		p = next;
	}
	return n;
}

/* Every line ends in CRLF and is at most 998 octets; no NUL. */
static void check_lines(const char *msg, size_t len)
{
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\n')
			fail_msg("bare LF at offset %zu", i);
		if (msg[i] == '\r') {
			if (i + 1 >= len || msg[i + 1] != '\n')
				fail_msg("bare CR at offset %zu", i);
			i++;
			col = 0;
			continue;
		}
		if (msg[i] == '\0')
			fail_msg("NUL at offset %zu", i);
		if (++col > 998)
			fail_msg("line over 998 octets at offset %zu", i);
	}
	if (len < 2 || memcmp(msg + len - 2, "\r\n", 2) != 0)
		fail_msg("the DSN does not end with CRLF");
}

/* What one row expects of the report's recipient blocks. */
struct want_rcpt {
	const char *original_recipient;	/* NULL: absent */
	const char *final_recipient;
	const char *action;
	const char *status;
	const char *remote_mta;		/* NULL: absent */
	const char *diagnostic;		/* NULL: absent */
};

struct row {
	const char *name;
	enum dsn_kind kind;
	enum dsn_return ret;
	const char *envid;
	bool utf8;
	struct dsn_rcpt rcpts[3];
	size_t nrcpts;
	/* expectations */
	const char *subject;
	const char *part3_type;
	const char *status_type;
	const char *envid_field;	/* NULL: absent */
	bool will_retry;
	struct want_rcpt want[3];
};

static const struct row rows[] = {
	{
		.name = "failure, one rcpt, ORCPT and ENVID, whole message",
		.kind = DSN_FAILURE, .ret = DSN_RETURN_FULL, .envid = "env-42",
		.rcpts = { { .address = "bob@a.test", .orcpt = "rfc822;Bob@A.test",
			.action = DSN_ACTION_FAILED, .status = "5.1.1", .code = 550,
			.text = "no such user here", .remote_mta = "mx1.a.test", .last_attempt = T_NOW } },
		.nrcpts = 1,
		.subject = "Undelivered Mail Returned to Sender",
		.part3_type = "message/rfc822",
		.status_type = "message/delivery-status",
		.envid_field = "env-42",
		.want = { { "rfc822;Bob@A.test", "rfc822; bob@a.test", "failed", "5.1.1", "dns; mx1.a.test",
			"smtp; 550 5.1.1 no such user here" } },
	},
	{
		.name = "failure, headers only (RET=HDRS), no ENVID, no ORCPT, no code",
		.kind = DSN_FAILURE, .ret = DSN_RETURN_HEADERS,
		.rcpts = { { .address = "carol@b.test", .action = DSN_ACTION_FAILED, .status = "5.1.10",
			.text = "domain has a null MX" } },
		.nrcpts = 1,
		.subject = "Undelivered Mail Returned to Sender",
		.part3_type = "text/rfc822-headers",
		.status_type = "message/delivery-status",
		.want = { { NULL, "rfc822; carol@b.test", "failed", "5.1.10", NULL,
			"X-mxrelay; domain has a null MX" } },
	},
	{
		.name = "failure, three rcpts, one expired with 4.4.7, bad status derived from code",
		.kind = DSN_FAILURE, .ret = DSN_RETURN_FULL,
		.rcpts = {
			{ .address = "a@c.test", .action = DSN_ACTION_FAILED, .status = "5.2.2", .code = 552,
			  .text = "mailbox full", .remote_mta = "mx.c.test" },
			{ .address = "b@c.test", .action = DSN_ACTION_FAILED, .status = "4.4.7", .code = 451,
			  .text = "message expired; last reply: 4.3.0 try later", .remote_mta = "mx.c.test" },
			{ .address = "c@c.test", .action = DSN_ACTION_FAILED, .status = "junk", .code = 554,
			  .text = "rejected" },
		},
		.nrcpts = 3,
		.subject = "Undelivered Mail Returned to Sender",
		.part3_type = "message/rfc822",
		.status_type = "message/delivery-status",
		.want = {
			{ NULL, "rfc822; a@c.test", "failed", "5.2.2", "dns; mx.c.test", "smtp; 552 5.2.2 mailbox full" },
			{ NULL, "rfc822; b@c.test", "failed", "4.4.7", "dns; mx.c.test",
			  "smtp; 451 4.4.7 message expired; last reply: 4.3.0 try later" },
			{ NULL, "rfc822; c@c.test", "failed", "5.0.0", NULL, "smtp; 554 rejected" },
		},
	},
	{
		.name = "delay warning",
		.kind = DSN_DELAY, .ret = DSN_RETURN_HEADERS, .envid = "e1",
		.rcpts = { { .address = "d@d.test", .action = DSN_ACTION_DELAYED, .status = "4.4.1",
			.text = "connection refused" } },
		.nrcpts = 1,
		.subject = "Delayed Mail (still being retried)",
		.part3_type = "text/rfc822-headers",
		.status_type = "message/delivery-status",
		.envid_field = "e1",
		.will_retry = true,
		.want = { { NULL, "rfc822; d@d.test", "delayed", "4.4.1", NULL, "X-mxrelay; connection refused" } },
	},
	{
		.name = "relayed notice (NOTIFY=SUCCESS, next hop without DSN)",
		.kind = DSN_SUCCESS, .ret = DSN_RETURN_HEADERS,
		.rcpts = { { .address = "e@e.test", .orcpt = "rfc822;e@e.test", .action = DSN_ACTION_RELAYED,
			.status = "2.0.0", .code = 250, .text = "ok queued", .remote_mta = "mx.e.test" } },
		.nrcpts = 1,
		.subject = "Successful Mail Delivery Report",
		.part3_type = "text/rfc822-headers",
		.status_type = "message/delivery-status",
		.want = { { "rfc822;e@e.test", "rfc822; e@e.test", "relayed", "2.0.0", "dns; mx.e.test",
			"smtp; 250 2.0.0 ok queued" } },
	},
	{
		.name = "peer text with CR, LF, 8-bit and a very long reply is cleaned and folded",
		.kind = DSN_FAILURE, .ret = DSN_RETURN_HEADERS,
		.rcpts = { { .address = "f@f.test", .action = DSN_ACTION_FAILED, .status = "5.7.1", .code = 550,
			.text = "bad\r\nInjected: yes \x01\xff end" } },
		.nrcpts = 1,
		.subject = "Undelivered Mail Returned to Sender",
		.part3_type = "text/rfc822-headers",
		.status_type = "message/delivery-status",
		.want = { { NULL, "rfc822; f@f.test", "failed", "5.7.1", NULL,
			"smtp; 550 5.7.1 bad  Injected: yes  ? end" } },
	},
	{
		.name = "UTF-8 recipient: RFC 6533 global types",
		.kind = DSN_FAILURE, .ret = DSN_RETURN_FULL, .utf8 = true,
		.rcpts = { { .address = "j\xc3\xb6rg@g.test", .action = DSN_ACTION_FAILED, .status = "5.1.1",
			.code = 550, .text = "unknown" } },
		.nrcpts = 1,
		.subject = "Undelivered Mail Returned to Sender",
		.part3_type = "message/global",
		.status_type = "message/global-delivery-status",
		.want = { { NULL, "utf-8; j\xc3\xb6rg@g.test", "failed", "5.1.1", NULL, "smtp; 550 5.1.1 unknown" } },
	},
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct dsn_report r = {
			.kind = w->kind,
			.hostname = "mx.relay.test",
			.to = "alice@sender.test",
			.queue_id = "0123456789abcdefghij",
			.envid = w->envid,
			.arrival = T_ARRIVAL,
			.now = T_NOW,
			.retry_until = T_NOW + 4 * 86400,
			.message_id = "dsn1@mx.relay.test",
			.boundary = "dsn1/mx.relay.test",
			.ret = w->ret,
			.utf8 = w->utf8,
			.rcpts = w->rcpts,
			.nrcpts = w->nrcpts,
		};
		size_t len = 0;
		char *msg = build(&r, &len);
		check_lines(msg, len);
		const char *he = strstr(msg, "\r\n\r\n");
		assert_non_null(he);
		const char *hend = he + 2;
		char what[200];
		snprintf(what, sizeof(what), "row %zu (%s) header", i, w->name);
		expect_field(what, msg, hend, "From", "Mail Delivery System <MAILER-DAEMON@mx.relay.test>");
		expect_field(what, msg, hend, "To", "<alice@sender.test>");
		expect_field(what, msg, hend, "Subject", w->subject);
		expect_field(what, msg, hend, "Auto-Submitted", "auto-replied");
		expect_field(what, msg, hend, "Message-ID", "<dsn1@mx.relay.test>");
		expect_field(what, msg, hend, "Date", "Fri, 2 Jan 2026 03:04:05 +0000");
		expect_field(what, msg, hend, "MIME-Version", "1.0");
		expect_field(what, msg, hend, "Content-Type",
		    "multipart/report; report-type=delivery-status; boundary=\"dsn1/mx.relay.test\"");

		struct part p[4];
		size_t np = split_parts(msg, "dsn1/mx.relay.test", p, 4);
		if (np != 3)
			fail_msg("%s: got %zu parts, want 3", what, np);
		expect_field(what, p[0].hdr, p[0].hdr_end, "Content-Type", "text/plain; charset=us-ascii");
		expect_field(what, p[1].hdr, p[1].hdr_end, "Content-Type", w->status_type);
		expect_field(what, p[2].hdr, p[2].hdr_end, "Content-Type", w->part3_type);
		/* The closing boundary ends the message. */
		if (strstr(msg, "\r\n--dsn1/mx.relay.test--\r\n") != msg + len - strlen("\r\n--dsn1/mx.relay.test--\r\n"))
			fail_msg("%s: no closing boundary at the end", what);

		/* Part three: the original, or its header section, octet for octet. */
		size_t want3 = w->ret == DSN_RETURN_FULL ? strlen(ORIGINAL) : original_headers_len();
		if ((size_t)(p[2].body_end - p[2].body) != want3 || memcmp(p[2].body, ORIGINAL, want3) != 0)
			fail_msg("%s: part three is %zu octets, want %zu of the original", what,
			    (size_t)(p[2].body_end - p[2].body), want3);

		/* Part two: per-message block, then one block per recipient. */
		const char *s2 = p[1].body, *e2 = p[1].body_end;
		const char *blk_end = strstr(s2, "\r\n\r\n");
		assert_non_null(blk_end);
		snprintf(what, sizeof(what), "row %zu (%s) per-message", i, w->name);
		expect_field(what, s2, blk_end + 2, "Reporting-MTA", "dns; mx.relay.test");
		expect_field(what, s2, blk_end + 2, "Original-Envelope-Id", w->envid_field);
		expect_field(what, s2, blk_end + 2, "Arrival-Date", "Thu, 1 Jan 2026 03:04:05 +0000");
		const char *b = blk_end + 4;
		for (size_t k = 0; k < w->nrcpts; k++) {
			const char *be = strstr(b, "\r\n\r\n");
			if (be == NULL || be > e2)
				be = e2 - 2 > b ? e2 - 2 : e2;
			const char *bend = be + 2 <= e2 ? be + 2 : e2;
			const struct want_rcpt *wr = &w->want[k];
			snprintf(what, sizeof(what), "row %zu (%s) rcpt %zu", i, w->name, k);
			expect_field(what, b, bend, "Original-Recipient", wr->original_recipient);
			expect_field(what, b, bend, "Final-Recipient", wr->final_recipient);
			expect_field(what, b, bend, "Action", wr->action);
			expect_field(what, b, bend, "Status", wr->status);
			expect_field(what, b, bend, "Remote-MTA", wr->remote_mta);
			expect_field(what, b, bend, "Diagnostic-Code", wr->diagnostic);
			expect_field(what, b, bend, "Will-Retry-Until",
			    w->will_retry ? "Tue, 6 Jan 2026 03:04:05 +0000" : NULL);
			b = be + 4;
		}
		/* No header may have been injected by peer text. */
		if (strstr(msg, "\r\nInjected:") != NULL)
			fail_msg("row %zu: peer text started a header line", i);
		free(msg);
	}
}

static void test_choose_return(void **state)
{
	(void)state;
	static const struct {
		enum dsn_kind kind;
		enum mxr_ret ret;
		uint64_t size;
		enum dsn_return want;
	} t[] = {
		{ DSN_FAILURE, MXR_RET_UNSET, 1000, DSN_RETURN_FULL },
		{ DSN_FAILURE, MXR_RET_UNSET, DSN_FULL_DEFAULT_MAX, DSN_RETURN_FULL },
		{ DSN_FAILURE, MXR_RET_UNSET, DSN_FULL_DEFAULT_MAX + 1, DSN_RETURN_HEADERS },
		{ DSN_FAILURE, MXR_RET_FULL, 10 * 1024 * 1024, DSN_RETURN_FULL },
		{ DSN_FAILURE, MXR_RET_HDRS, 10, DSN_RETURN_HEADERS },
		{ DSN_DELAY, MXR_RET_FULL, 10, DSN_RETURN_HEADERS },
		{ DSN_SUCCESS, MXR_RET_FULL, 10, DSN_RETURN_HEADERS },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum dsn_return got = dsn_choose_return(t[i].kind, t[i].ret, t[i].size);
		if (got != t[i].want)
			fail_msg("row %zu: got %d, want %d", i, (int)got, (int)t[i].want);
	}
}

/* A report too large for its buffer fails instead of being cut silently. */
static void test_cap(void **state)
{
	(void)state;
	struct dsn_rcpt rc = { .address = "x@y.test", .action = DSN_ACTION_FAILED, .status = "5.0.0",
		.code = 550, .text = "no" };
	struct dsn_report r = { .kind = DSN_FAILURE, .hostname = "h.test", .to = "a@b.test",
		.now = T_NOW, .message_id = "m@h.test", .boundary = "b", .rcpts = &rc, .nrcpts = 1 };
	struct dsn_buf b;
	dsn_buf_init(&b, 200);
	assert_false(dsn_head(&r, &b));
	assert_true(b.overflow);
	assert_true(b.len <= 200);
	dsn_buf_free(&b);
	/* Missing essentials are refused. */
	dsn_buf_init(&b, DSN_HEAD_MAX);
	r.to = NULL;
	assert_false(dsn_head(&r, &b));
	dsn_buf_free(&b);
}

/* A long Diagnostic-Code is folded at spaces, and unfolds to the same text. */
static void test_fold(void **state)
{
	(void)state;
	char text[600];
	memset(text, 0, sizeof(text));
	for (size_t i = 0; i + 6 < 500; i += 6)
		memcpy(text + i, "word5 ", 6);
	struct dsn_rcpt rc = { .address = "x@y.test", .action = DSN_ACTION_FAILED, .status = "5.0.0",
		.code = 550, .text = text };
	struct dsn_report r = { .kind = DSN_FAILURE, .hostname = "h.test", .to = "a@b.test",
		.now = T_NOW, .message_id = "m@h.test", .boundary = "bnd", .rcpts = &rc, .nrcpts = 1,
		.ret = DSN_RETURN_HEADERS };
	size_t len = 0;
	char *msg = build(&r, &len);
	check_lines(msg, len);
	const char *d = strstr(msg, "Diagnostic-Code:");
	assert_non_null(d);
	const char *e = strstr(d, "\r\n");
	assert_true(e - d <= 78);
	assert_true(e[2] == '\t');
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_choose_return),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_fold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
