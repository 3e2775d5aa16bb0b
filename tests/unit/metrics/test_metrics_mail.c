/*
 * test_metrics_mail: the classes of refusals (reply code and enhanced
 * status code to a result label), and what each typed count adds to the
 * families and the totals since start: transactions by listener and
 * result, recipients, outcomes with and without a delivery time, DSNs,
 * connections and TLS by direction and version.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics_mail.h"

static const char *const rx_names[METRICS_RX_NRESULTS] = {
	"accepted", "refused_policy", "refused_address", "refused_size", "refused_hop_limit",
	"refused_syntax", "refused_storage", "refused_limit", "refused_other", "aborted",
};

static const struct {
	int code;
	const char *esc;
	enum metrics_rx_result want;
} rx_cases[] = {
	{ 250, "2.0.0", METRICS_RX_ACCEPTED },
	{ 354, "", METRICS_RX_ACCEPTED },
	{ 550, "5.7.1", METRICS_RX_REFUSED_POLICY },	/* relaying denied */
	{ 530, "5.7.0", METRICS_RX_REFUSED_POLICY },	/* authentication required */
	{ 554, "5.7.1", METRICS_RX_REFUSED_POLICY },
	{ 421, "4.7.0", METRICS_RX_REFUSED_LIMIT },	/* too many connections */
	{ 450, "4.7.1", METRICS_RX_REFUSED_POLICY },
	{ 550, "5.1.1", METRICS_RX_REFUSED_ADDRESS },
	{ 553, "5.1.7", METRICS_RX_REFUSED_ADDRESS },	/* bad sender syntax */
	{ 553, "5.1.3", METRICS_RX_REFUSED_ADDRESS },
	{ 450, "4.1.2", METRICS_RX_REFUSED_ADDRESS },	/* domain not found, for now */
	{ 552, "5.3.4", METRICS_RX_REFUSED_SIZE },
	{ 552, NULL, METRICS_RX_REFUSED_SIZE },	/* RFC 1870 without an enhanced code */
	{ 552, "", METRICS_RX_REFUSED_SIZE },
	{ 452, "4.3.1", METRICS_RX_REFUSED_STORAGE },
	{ 451, "4.3.0", METRICS_RX_REFUSED_STORAGE },
	{ 554, "5.4.6", METRICS_RX_REFUSED_HOP_LIMIT },
	{ 451, "4.4.2", METRICS_RX_REFUSED_OTHER },
	{ 501, "5.5.4", METRICS_RX_REFUSED_SYNTAX },
	{ 521, "5.5.2", METRICS_RX_REFUSED_SYNTAX },	/* bare newline */
	{ 553, "5.6.7", METRICS_RX_REFUSED_SYNTAX },	/* non-ASCII without SMTPUTF8 */
	{ 452, "4.5.3", METRICS_RX_REFUSED_LIMIT },	/* too many recipients */
	{ 550, "5.2.2", METRICS_RX_REFUSED_OTHER },
	{ 554, "", METRICS_RX_REFUSED_OTHER },
	{ 451, NULL, METRICS_RX_REFUSED_OTHER },
	{ 550, "5x7.1", METRICS_RX_REFUSED_OTHER },	/* not an enhanced code */
	{ 550, "2.7.1", METRICS_RX_REFUSED_OTHER },
};

static void test_rx_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rx_cases) / sizeof(rx_cases[0]); i++) {
		enum metrics_rx_result got = metrics_mail_rx_reason(rx_cases[i].code, rx_cases[i].esc);
		if (got != rx_cases[i].want)
			fail_msg("%d %s: got %s, want %s", rx_cases[i].code,
			    rx_cases[i].esc != NULL ? rx_cases[i].esc : "(null)", rx_names[got],
			    rx_names[rx_cases[i].want]);
	}
}

static const struct {
	int code;
	const char *esc;
	enum metrics_rcpt_result want;
} rcpt_cases[] = {
	{ 250, "2.1.5", METRICS_RCPT_ACCEPTED },
	{ 550, "5.7.1", METRICS_RCPT_REFUSED_POLICY },
	{ 550, "5.1.1", METRICS_RCPT_REFUSED_ADDRESS },
	{ 553, "5.1.3", METRICS_RCPT_REFUSED_ADDRESS },
	{ 452, "4.5.3", METRICS_RCPT_REFUSED_LIMIT },
	{ 501, "5.5.4", METRICS_RCPT_REFUSED_OTHER },
	{ 452, "4.3.1", METRICS_RCPT_REFUSED_OTHER },
	{ 503, "5.5.1", METRICS_RCPT_REFUSED_OTHER },
};

static void test_rcpt_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		enum metrics_rcpt_result got = metrics_mail_rcpt_reason(rcpt_cases[i].code,
		    rcpt_cases[i].esc);
		if (got != rcpt_cases[i].want)
			fail_msg("%d %s: got %d, want %d", rcpt_cases[i].code, rcpt_cases[i].esc,
			    (int)got, (int)rcpt_cases[i].want);
	}
}

static void want_in(const char *text, const char *want)
{
	if (strstr(text, want) == NULL)
		fail_msg("want \"%s\" in:\n%s", want, text);
}

static void test_counts(void **state)
{
	(void)state;
	struct metrics_mail *mm = metrics_mail_new(4);
	time_t now = 1700000000;
	metrics_mail_received(mm, "127.0.0.1:25", METRICS_RX_ACCEPTED, now);
	metrics_mail_received(mm, "127.0.0.1:25", METRICS_RX_ACCEPTED, now);
	metrics_mail_received(mm, "local:/run/mxrelay/submit", METRICS_RX_REFUSED_SIZE, now);
	metrics_mail_received(mm, "127.0.0.1:25", METRICS_RX_ABORTED, now);
	metrics_mail_rcpt(mm, METRICS_RCPT_ACCEPTED);
	metrics_mail_rcpt(mm, METRICS_RCPT_REFUSED_POLICY);
	metrics_mail_session(mm, METRICS_INBOUND);
	metrics_mail_session(mm, METRICS_OUTBOUND);
	metrics_mail_tls(mm, METRICS_INBOUND, "TLSv1.3");
	metrics_mail_tls(mm, METRICS_OUTBOUND, NULL);
	metrics_mail_delivery(mm, "a.test", 0.5, 2, 1, 0, now);
	metrics_mail_outcomes(mm, "b.test", 0, 0, 3, now);
	metrics_mail_dsn(mm, METRICS_DSN_FAILURE);
	metrics_mail_dsn(mm, METRICS_DSN_DELAY);
	metrics_mail_commit(mm, 0.002, 3);
	metrics_mail_dns(mm, 0.01);

	struct metrics_mail_totals t;
	metrics_mail_totals(mm, &t);
	if (t.received != 2 || t.refused != 1)
		fail_msg("received %llu refused %llu, want 2 and 1 (aborted not refused)",
		    (unsigned long long)t.received, (unsigned long long)t.refused);
	if (t.delivered != 2 || t.deferred != 1 || t.failed != 3)
		fail_msg("outcomes %llu/%llu/%llu, want 2/1/3 (those without a try counted too)",
		    (unsigned long long)t.delivered, (unsigned long long)t.deferred,
		    (unsigned long long)t.failed);
	assert_int_equal(t.dsn_sent, 2);
	assert_int_equal(t.sessions[METRICS_INBOUND], 1);
	assert_int_equal(t.tls_sessions[METRICS_OUTBOUND], 1);

	size_t len;
	char *text = metrics_render(metrics_mail_registry(mm), false, &len);
	want_in(text, "mxrelay_messages_received_total{listener=\"127.0.0.1:25\",result=\"accepted\"} 2\n");
	want_in(text, "mxrelay_messages_received_total{listener=\"local:/run/mxrelay/submit\","
	    "result=\"refused_size\"} 1\n");
	want_in(text, "mxrelay_messages_received_total{listener=\"127.0.0.1:25\",result=\"aborted\"} 1\n");
	want_in(text, "mxrelay_recipients_total{result=\"refused_policy\"} 1\n");
	want_in(text, "mxrelay_recipients_total{result=\"refused_limit\"} 0\n");
	want_in(text, "mxrelay_tls_sessions_total{direction=\"inbound\",version=\"TLSv1.3\"} 1\n");
	want_in(text, "mxrelay_tls_sessions_total{direction=\"outbound\",version=\"unknown\"} 1\n");
	want_in(text, "mxrelay_deliveries_total{status=\"failed\"} 3\n");
	want_in(text, "mxrelay_delivery_seconds_count 1\n");
	want_in(text, "mxrelay_dsn_sent_total{type=\"success\"} 0\n");
	want_in(text, "mxrelay_commit_batch_messages_sum 3");
	want_in(text, "mxrelay_dns_seconds_count 1\n");
	free(text);
	metrics_mail_free(mm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_reason),
		cmocka_unit_test(test_rcpt_reason),
		cmocka_unit_test(test_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
