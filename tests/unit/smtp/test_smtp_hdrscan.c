/*
 * test_smtp_hdrscan: the header scanner counts Received fields, keeps
 * the first Message-ID and reads "TLS-Required: No", whole, split in two
 * everywhere and octet by octet.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_hdrscan.h"

struct row {
	const char *in;
	unsigned received;
	const char *msgid;	/* NULL: none */
	bool tls_optional;	/* "TLS-Required: No" */
};

static const struct row rows[] = {
	{ "Received: a\r\nreceived: b\r\nRECEIVED:c\r\nSubject: s\r\n\r\nReceived: body\r\n", 3, NULL, false },
	{ "Message-ID: <a.1@x.test>\r\nSubject: s\r\n\r\nbody\r\n", 0, "<a.1@x.test>", false },
	{ "message-id:<b@x.test>\r\n\r\n", 0, "<b@x.test>", false },
	{ "Message-ID:\r\n  <folded@x.test>\r\nTo: t\r\n\r\n", 0, "<folded@x.test>", false },
	{ "Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\n", 0, "<first@x>", false },
	{ "Subject: s\r\n\r\nMessage-ID: <in-body@x>\r\n", 0, NULL, false },
	{ "X-Received: a\r\nReceived-SPF: pass\r\n Received: folded\r\n\r\n", 0, NULL, false },
	{ "Message-ID: <no-body@x>", 0, "<no-body@x>", false },
	{ "Message-ID: <tabs@x>\t \r\n\r\n", 0, "<tabs@x>", false },
	{ "Message-ID: \"x result=failed client=203.0.113.7\"\r\n\r\n", 0,
	  "\"x result=failed client=203.0.113.7\"", false },
	{ "\r\nReceived: after an empty first line\r\n", 0, NULL, false },
	{ "", 0, NULL, false },
	{ "TLS-Required: No\r\nSubject: s\r\n\r\n", 0, NULL, true },
	{ "tls-required:no\r\n\r\n", 0, NULL, true },
	{ "TLS-Required:\r\n\t NO \r\n\r\n", 0, NULL, true },
	{ "TLS-Required: No", 0, NULL, true },
	{ "TLS-Required: Yes\r\n\r\n", 0, NULL, false },
	{ "TLS-Required: Nope\r\n\r\n", 0, NULL, false },
	{ "TLS-Required: No thanks\r\n\r\n", 0, NULL, false },
	{ "TLS-Required: Yes\r\nTLS-Required: No\r\n\r\n", 0, NULL, false },
	{ "X-TLS-Required: No\r\n\r\n", 0, NULL, false },
	{ "Subject: s\r\n\r\nTLS-Required: No\r\n", 0, NULL, false },
	{ "TLS-Required: No\r\nMessage-ID: <m@x>\r\nReceived: r\r\n\r\n", 1, "<m@x>", true },
};

static void check(size_t i, const struct smtp_hdrscan *h, const char *how)
{
	const char *m = smtp_hdrscan_msgid(h);
	if (h->received != rows[i].received)
		fail_msg("row %zu %s: received got %u, want %u", i, how, h->received, rows[i].received);
	if ((m == NULL) != (rows[i].msgid == NULL) || (m != NULL && strcmp(m, rows[i].msgid) != 0))
		fail_msg("row %zu %s: msgid got %s, want %s", i, how, m ? m : "(none)",
		    rows[i].msgid ? rows[i].msgid : "(none)");
	if (smtp_hdrscan_tls_optional(h) != rows[i].tls_optional)
		fail_msg("row %zu %s: tls_optional got %d, want %d", i, how,
		    smtp_hdrscan_tls_optional(h), rows[i].tls_optional);
}

static void test_rows_in_any_pieces(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = strlen(rows[i].in);
		struct smtp_hdrscan h;
		smtp_hdrscan_init(&h);
		smtp_hdrscan_feed(&h, rows[i].in, n);
		check(i, &h, "whole");
		for (size_t cut = 1; cut < n; cut++) {
			smtp_hdrscan_init(&h);
			smtp_hdrscan_feed(&h, rows[i].in, cut);
			smtp_hdrscan_feed(&h, rows[i].in + cut, n - cut);
			check(i, &h, "split");
		}
		smtp_hdrscan_init(&h);
		for (size_t k = 0; k < n; k++)
			smtp_hdrscan_feed(&h, rows[i].in + k, 1);
		check(i, &h, "octet by octet");
	}
}

/* A Message-ID longer than the cap is cut, never overflows. */
static void test_long_message_id_is_capped(void **state)
{
	(void)state;
	char in[2000];
	int n = snprintf(in, sizeof(in), "Message-ID: <");
	memset(in + n, 'a', 1500);
	n += 1500;
	n += snprintf(in + n, sizeof(in) - (size_t)n, ">\r\n\r\n");
	struct smtp_hdrscan h;
	smtp_hdrscan_init(&h);
	smtp_hdrscan_feed(&h, in, (size_t)n);
	const char *m = smtp_hdrscan_msgid(&h);
	assert_non_null(m);
	assert_int_equal(strlen(m), SMTP_HDRSCAN_MSGID_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_in_any_pieces),
		cmocka_unit_test(test_long_message_id_is_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
