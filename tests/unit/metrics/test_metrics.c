/*
 * test_metrics: the exposition text of counters, gauges and histograms in
 * both formats, label escaping, the series cap, and the bounded set of
 * destinations (slots, "other", the busiest taking a slot, every series
 * only growing), and the recent activity (per minute over an hour, a
 * minute cleared when it comes round again, the last failures newest first).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics/metrics_dest.h"
#include "metrics/metrics_recent.h"

static void want_in(const char *text, const char *want)
{
	if (strstr(text, want) == NULL)
		fail_msg("want \"%s\" in:\n%s", want, text);
}

static void want_not_in(const char *text, const char *want)
{
	if (strstr(text, want) != NULL)
		fail_msg("did not want \"%s\" in:\n%s", want, text);
}

static void queue_gauge(struct metrics_text *t, const struct metrics_family *f, void *arg)
{
	(void)f;
	(void)arg;
	const char *a[] = { "queued" }, *b[] = { "held" };
	metrics_text_value(t, a, 3);
	metrics_text_value(t, b, 0.5);
}

static void test_text_formats(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	struct metrics_family *rx = metrics_family_new(m, METRICS_COUNTER,
	    "mxrelay_messages_received_total", "Messages received.\nBy result", "listener,result");
	const char *v1[] = { "127.0.0.1:25", "accepted" };
	const char *v2[] = { "we\"ird\\\n", "refused" };
	metrics_add(metrics_counter_at(rx, v1), 2);
	metrics_add(metrics_counter_at(rx, v1), 1);
	metrics_add(metrics_counter_at(rx, v2), 1);
	struct metrics_family *g = metrics_family_new(m, METRICS_GAUGE, "mxrelay_queue_messages",
	    "Messages in the queue", "state");
	metrics_family_set_collect(g, queue_gauge, NULL);
	static const double bounds[] = { 0.01, 0.1, 1 };
	struct metrics_family *h = metrics_family_new(m, METRICS_HISTOGRAM, "mxrelay_commit_seconds",
	    "Group commit time", "");
	metrics_family_set_buckets(h, bounds, 3);
	struct metrics_hist *hh = metrics_hist_at(h, NULL);
	metrics_observe(hh, 0.005);
	metrics_observe(hh, 0.05);
	metrics_observe(hh, 0.1);
	metrics_observe(hh, 7);

	size_t len;
	char *text = metrics_render(m, false, &len);
	assert_int_equal(strlen(text), len);
	want_in(text, "# HELP mxrelay_messages_received_total Messages received.\\nBy result\n");
	want_in(text, "# TYPE mxrelay_messages_received_total counter\n");
	want_in(text, "mxrelay_messages_received_total{listener=\"127.0.0.1:25\",result=\"accepted\"} 3\n");
	want_in(text, "mxrelay_messages_received_total{listener=\"we\\\"ird\\\\\\n\",result=\"refused\"} 1\n");
	want_in(text, "# TYPE mxrelay_queue_messages gauge\n");
	want_in(text, "mxrelay_queue_messages{state=\"queued\"} 3\n");
	want_in(text, "mxrelay_queue_messages{state=\"held\"} 0.5\n");
	want_in(text, "mxrelay_commit_seconds_bucket{le=\"0.01\"} 1\n");
	want_in(text, "mxrelay_commit_seconds_bucket{le=\"0.1\"} 3\n");
	want_in(text, "mxrelay_commit_seconds_bucket{le=\"1\"} 3\n");
	want_in(text, "mxrelay_commit_seconds_bucket{le=\"+Inf\"} 4\n");
	want_in(text, "mxrelay_commit_seconds_sum 7.155000\n");
	want_in(text, "mxrelay_commit_seconds_count 4\n");
	want_not_in(text, "# EOF");
	free(text);

	text = metrics_render(m, true, &len);
	want_in(text, "# TYPE mxrelay_messages_received counter\n");
	want_in(text, "# HELP mxrelay_messages_received Messages");
	want_in(text, "mxrelay_messages_received_total{listener=\"127.0.0.1:25\",result=\"accepted\"} 3\n");
	assert_string_equal(text + len - 6, "# EOF\n");
	free(text);
	metrics_free(m);
}

static void test_series_cap(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	struct metrics_family *f = metrics_family_new(m, METRICS_COUNTER, "x_total", "x", "k");
	for (int i = 0; i < METRICS_SERIES_MAX + 10; i++) {
		char v[16];
		snprintf(v, sizeof(v), "v%d", i);
		const char *vals[] = { v };
		metrics_add(metrics_counter_at(f, vals), 1);
	}
	size_t len;
	char *text = metrics_render(m, false, &len);
	want_in(text, "x_total{k=\"v0\"} 1\n");
	want_in(text, "x_total{k=\"other\"} 10\n");
	char last[32];
	snprintf(last, sizeof(last), "x_total{k=\"v%d\"}", METRICS_SERIES_MAX);
	want_not_in(text, last);
	free(text);
	metrics_free(m);
}

/* The value of the sample line starting with prefix, or -1 when absent. */
static long sample(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix);
	return p == NULL ? -1 : strtol(p + strlen(prefix), NULL, 10);
}

static long dest_value(struct metrics *m, const char *dest, const char *status)
{
	char prefix[128];
	snprintf(prefix, sizeof(prefix),
	    "mxrelay_destination_deliveries_total{destination=\"%s\",status=\"%s\"} ", dest, status);
	size_t len;
	char *text = metrics_render(m, false, &len);
	long v = sample(text, prefix);
	free(text);
	return v;
}

static void test_destinations(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	struct metrics_dest *d = metrics_dest_new(m, 2);
	metrics_dest_count(d, "a.test", METRICS_DEST_DELIVERED, 1);
	metrics_dest_count(d, "a.test", METRICS_DEST_DELIVERED, 1);
	metrics_dest_count(d, "b.test", METRICS_DEST_DEFERRED, 1);
	metrics_dest_count(d, "c.test", METRICS_DEST_FAILED, 1);
	/* Two slots: a and b have series, c counts as other. */
	assert_int_equal(dest_value(m, "a.test", "delivered"), 2);
	assert_int_equal(dest_value(m, "b.test", "deferred"), 1);
	assert_int_equal(dest_value(m, "c.test", "failed"), -1);
	assert_int_equal(dest_value(m, "other", "failed"), 1);
	/* c becomes far busier than b, the quietest: at the next writing it takes b's slot. */
	for (int i = 0; i < 5; i++)
		metrics_dest_count(d, "c.test", METRICS_DEST_DELIVERED, 1);
	assert_int_equal(dest_value(m, "other", "delivered"), 5);
	assert_int_equal(dest_value(m, "b.test", "deferred"), -1);
	assert_int_equal(dest_value(m, "c.test", "delivered"), 0);
	metrics_dest_count(d, "c.test", METRICS_DEST_DELIVERED, 1);
	assert_int_equal(dest_value(m, "c.test", "delivered"), 1);
	/* other never goes down. */
	assert_int_equal(dest_value(m, "other", "delivered"), 5);
	assert_int_equal(dest_value(m, "other", "failed"), 1);
	/* No slots: everything is other. */
	metrics_dest_set_slots(d, 0);
	assert_int_equal(dest_value(m, "a.test", "delivered"), -1);
	metrics_dest_count(d, "a.test", METRICS_DEST_DELIVERED, 1);
	assert_int_equal(dest_value(m, "other", "delivered"), 6);
	metrics_dest_free(d);
	metrics_free(m);
}

static void test_many_destinations_bounded(void **state)
{
	(void)state;
	struct metrics *m = metrics_new();
	struct metrics_dest *d = metrics_dest_new(m, 3);
	for (int i = 0; i < 3 * METRICS_DEST_CANDIDATES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "d%d.test", i);
		metrics_dest_count(d, name, METRICS_DEST_DELIVERED, 1);
		metrics_dest_count(d, "busy.test", METRICS_DEST_DELIVERED, 1);
	}
	size_t len;
	char *text = metrics_render(m, false, &len);
	size_t lines = 0;
	for (const char *p = text; (p = strstr(p, "mxrelay_destination_deliveries_total{")) != NULL; p++)
		lines++;
	/* At most 3 destinations and other, three statuses each. */
	assert_true(lines <= 4 * 3);
	want_in(text, "destination=\"busy.test\"");
	free(text);
	metrics_dest_free(d);
	metrics_free(m);
}

static void test_recent_minutes(void **state)
{
	(void)state;
	struct metrics_recent *r = metrics_recent_new();
	time_t t0 = 1800000000 - 1800000000 % 60;	/* a minute's start */
	metrics_recent_count(r, METRICS_RECENT_RECEIVED, 2, t0 + 5);
	metrics_recent_count(r, METRICS_RECENT_RECEIVED, 1, t0 + 59);
	metrics_recent_count(r, METRICS_RECENT_RECEIVED, 4, t0 + 60);
	metrics_recent_count(r, METRICS_RECENT_FAILED, 1, t0 + 61);
	uint64_t out[METRICS_RECENT_MINUTES];
	time_t first;
	metrics_recent_series(r, METRICS_RECENT_RECEIVED, t0 + 90, out, &first);
	assert_int_equal(first, t0 + 60 - (METRICS_RECENT_MINUTES - 1) * 60);
	assert_int_equal(out[METRICS_RECENT_MINUTES - 1], 4);
	assert_int_equal(out[METRICS_RECENT_MINUTES - 2], 3);
	assert_int_equal(out[0], 0);
	metrics_recent_series(r, METRICS_RECENT_FAILED, t0 + 90, out, &first);
	assert_int_equal(out[METRICS_RECENT_MINUTES - 1], 1);
	/* An hour later the same slots hold new minutes: the old counts are gone. */
	time_t later = t0 + METRICS_RECENT_MINUTES * 60;
	metrics_recent_count(r, METRICS_RECENT_RECEIVED, 7, later + 1);
	metrics_recent_series(r, METRICS_RECENT_RECEIVED, later + 1, out, &first);
	assert_int_equal(out[METRICS_RECENT_MINUTES - 1], 7);
	uint64_t sum = 0;
	for (size_t i = 0; i < METRICS_RECENT_MINUTES; i++)
		sum += out[i];
	assert_int_equal(sum, 7 + 4);	/* t0+60 is still within the hour, t0 is not */
	metrics_recent_free(r);
}

static void test_recent_failures(void **state)
{
	(void)state;
	struct metrics_recent *r = metrics_recent_new();
	assert_null(metrics_recent_failure_at(r, 0));
	for (int i = 0; i < METRICS_RECENT_FAILURES + 5; i++) {
		struct metrics_recent_failure f = { .when = i, .code = 550 };
		snprintf(f.rcpt, sizeof(f.rcpt), "r%d@b.test", i);
		snprintf(f.text, sizeof(f.text), "User unknown");
		metrics_recent_failure(r, &f);
	}
	assert_int_equal(metrics_recent_failure_count(r), METRICS_RECENT_FAILURES);
	const struct metrics_recent_failure *f = metrics_recent_failure_at(r, 0);
	char want[32];
	snprintf(want, sizeof(want), "r%d@b.test", METRICS_RECENT_FAILURES + 4);
	assert_string_equal(f->rcpt, want);
	assert_string_equal(f->text, "User unknown");
	f = metrics_recent_failure_at(r, METRICS_RECENT_FAILURES - 1);
	assert_string_equal(f->rcpt, "r5@b.test");
	assert_null(metrics_recent_failure_at(r, METRICS_RECENT_FAILURES));
	metrics_recent_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_formats),
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_destinations),
		cmocka_unit_test(test_many_destinations_bounded),
		cmocka_unit_test(test_recent_minutes),
		cmocka_unit_test(test_recent_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
