/*
 * test_smtp_header: the date-time, protocol names and the Received field,
 * one row per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_header.h"

struct date_row {
	time_t t;
	const char *want;
};

static const struct date_row date_rows[] = {
	{ 0, "Thu, 1 Jan 1970 00:00:00 +0000" },
	{ 1795882447, "Sat, 28 Nov 2026 16:14:07 +0000" },
	{ 951782400, "Tue, 29 Feb 2000 00:00:00 +0000" },
	{ 1735689599, "Tue, 31 Dec 2024 23:59:59 +0000" },
};

static void test_header_date(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(date_rows) / sizeof(date_rows[0]); i++) {
		char buf[SMTP_HEADER_DATE_MAX];
		size_t n = smtp_header_date(date_rows[i].t, buf, sizeof(buf));
		if (n != strlen(date_rows[i].want) || strcmp(buf, date_rows[i].want) != 0)
			fail_msg("date %lld: got \"%s\", want \"%s\"", (long long)date_rows[i].t, buf,
			    date_rows[i].want);
		/* One octet short of the NUL: refused, and buf left empty. */
		assert_int_equal(smtp_header_date(date_rows[i].t, buf, n), 0);
		assert_string_equal(buf, "");
	}
	char buf[SMTP_HEADER_DATE_MAX];
	assert_int_equal(smtp_header_date(0, buf, 0), 0);
	assert_int_equal(smtp_header_date((time_t)INT64_MAX, buf, sizeof(buf)), 0);
	assert_int_equal(smtp_header_date((time_t)253402300800LL, buf, sizeof(buf)), 0);
}

struct proto_row {
	bool esmtp, tls, auth;
	const char *want;
};

static const struct proto_row proto_rows[] = {
	{ false, false, false, "SMTP" }, { true, false, false, "ESMTP" },
	{ true, true, false, "ESMTPS" }, { true, false, true, "ESMTPA" },
	{ true, true, true, "ESMTPSA" }, { false, true, true, "SMTP" },
};

static void test_header_protocol(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(proto_rows) / sizeof(proto_rows[0]); i++) {
		const struct proto_row *r = &proto_rows[i];
		const char *got = smtp_header_protocol(r->esmtp, r->tls, r->auth);
		if (strcmp(got, r->want) != 0)
			fail_msg("protocol %d%d%d: got %s, want %s", r->esmtp, r->tls, r->auth, got,
			    r->want);
	}
}

struct recv_row {
	struct smtp_received in;
	const char *want;
};

static const struct recv_row recv_rows[] = {
	{ { "client.test", "192.0.2.1", "mail.client.test", "mx.relay.test", "ESMTPS", "8C1A",
	    "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384", "u@dest.test", 1795882447 },
	  "Received: from client.test (mail.client.test [192.0.2.1])\r\n"
	  "\tby mx.relay.test (mxrelay) with ESMTPS id 8C1A\r\n"
	  "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384)\r\n"
	  "\tfor <u@dest.test>; Sat, 28 Nov 2026 16:14:07 +0000\r\n" },
	{ { "client.test", "192.0.2.1", NULL, "mx.relay.test", "ESMTP", "8C1A", NULL, NULL,
	    1795882447 },
	  "Received: from client.test ([192.0.2.1])\r\n"
	  "\tby mx.relay.test (mxrelay) with ESMTP id 8C1A; Sat, 28 Nov 2026 16:14:07 +0000\r\n" },
	{ { "[IPv6:2001:db8::1]", "2001:db8::1", NULL, "mx", "SMTP", NULL, NULL, "a@b",
	    1795882447 },
	  "Received: from [IPv6:2001:db8::1] ([IPv6:2001:db8::1])\r\n"
	  "\tby mx (mxrelay) with SMTP\r\n"
	  "\tfor <a@b>; Sat, 28 Nov 2026 16:14:07 +0000\r\n" },
	/* Client text cannot break out of the field or its comments. */
	{ { "evil)\r\nX-Injected: 1 (\x01\xc3\xa9", "192.0.2.1", NULL, "mx", NULL, NULL, NULL,
	    "j\xc3\xb6rg@b\r\n", 1795882447 },
	  "Received: from evil???X-Injected: 1 ???? ([192.0.2.1])\r\n"
	  "\tby mx (mxrelay)\r\n"
	  "\tfor <j\xc3\xb6rg@b?\?>; Sat, 28 Nov 2026 16:14:07 +0000\r\n" },
	{ { "", "192.0.2.1", NULL, "mx", NULL, NULL, NULL, NULL, 0 },
	  "Received: from unknown ([192.0.2.1])\r\n"
	  "\tby mx (mxrelay); Thu, 1 Jan 1970 00:00:00 +0000\r\n" },
};

static void test_header_received(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(recv_rows) / sizeof(recv_rows[0]); i++) {
		char buf[2048];
		size_t n = smtp_header_received(&recv_rows[i].in, buf, sizeof(buf));
		if (n != strlen(recv_rows[i].want) || strcmp(buf, recv_rows[i].want) != 0)
			fail_msg("received row %zu: got\n%s\nwant\n%s", i, buf, recv_rows[i].want);
		/* Exactly enough room (text and NUL) works; one less does not. */
		assert_int_equal(smtp_header_received(&recv_rows[i].in, buf, n + 1), n);
		assert_int_equal(smtp_header_received(&recv_rows[i].in, buf, n), 0);
		assert_string_equal(buf, "");
	}
}

static void test_header_received_long(void **state)
{
	(void)state;
	/* A HELO name far over any cap is cut; no line passes 998 octets. */
	static char helo[5000];
	memset(helo, 'h', sizeof(helo) - 1);
	struct smtp_received r = { helo, "192.0.2.1", NULL, "mx", "ESMTP", "Q", NULL, NULL, 0 };
	char buf[4096];
	size_t n = smtp_header_received(&r, buf, sizeof(buf));
	assert_true(n > 0);
	const char *line = buf;
	for (const char *p = buf; *p != '\0'; p++) {
		if (*p == '\n') {
			assert_true(p > line && p[-1] == '\r');
			assert_true((size_t)(p - 1 - line) <= SMTP_HEADER_LINE_MAX);
			line = p + 1;
		}
	}
	assert_true(strstr(buf, "from hhh") != NULL);
	assert_true(strlen(buf) < 1000);
	/* A recipient or TLS text over its cap is cut, so the field still fits. */
	static char rcpt[1200];
	memset(rcpt, 'r', sizeof(rcpt) - 1);
	r.for_rcpt = rcpt;
	n = smtp_header_received(&r, buf, sizeof(buf));
	assert_true(n > 0);
	r.tls_info = rcpt;
	assert_true(smtp_header_received(&r, buf, sizeof(buf)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_date),
		cmocka_unit_test(test_header_protocol),
		cmocka_unit_test(test_header_received),
		cmocka_unit_test(test_header_received_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
