/*
 * test_queue_bench: how many 1 KiB messages per second one loop commits
 * durably with 20 commits outstanding at a time (as 20 sessions finishing
 * DATA would), and how many transactions (fsyncs) that took.
 * MXR_QUEUE_BENCH_N sets the message count (default 2000);
 * MXR_QUEUE_BENCH_DIR the parent directory (default /tmp).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsupport.h"
#include <event2/event.h>

#include "queue/queue_store.h"
#include "util/log.h"

struct bench {
	struct queue_store *q;
	const struct queue_envelope *env;
	char body[1024];
	unsigned started, done, failed, total, window;
};

static void bench_start_one(struct bench *b);

static void bench_on_commit(void *arg, bool ok, const char *err)
{
	struct bench *b = arg;
	(void)err;
	b->done++;
	if (!ok)
		b->failed++;
	/* Keep the window full: a new session finishes DATA as one is answered. */
	if (b->started < b->total)
		bench_start_one(b);
}

static void bench_start_one(struct bench *b)
{
	struct queue_writer *w = queue_writer_new(b->q);
	queue_writer_append(w, b->body, sizeof(b->body));
	b->started++;
	queue_writer_commit(w, b->env, bench_on_commit, b);
}

struct outcome_bench {
	struct queue_store *q;
	const struct queue_due_list *due;
	size_t started, done, failed;
};

static void outcome_start_one(struct outcome_bench *ob);

static void outcome_on_commit(void *arg, bool ok, const char *err)
{
	struct outcome_bench *ob = arg;
	(void)err;
	ob->done++;
	if (!ok)
		ob->failed++;
	if (ob->started < ob->due->n)
		outcome_start_one(ob);
}

static void outcome_start_one(struct outcome_bench *ob)
{
	const struct queue_due *d = &ob->due->items[ob->started++];
	struct queue_outcome o = {
		.rcpt_id = d->rcpt_id, .state = QUEUE_RCPT_DELIVERED, .at = time(NULL),
		.code = 250, .esc = "2.0.0", .reply = "Ok: queued as 1234", .mx = "mx.bench.test[127.0.0.2]",
	};
	queue_update_outcomes(ob->q, &o, 1, outcome_on_commit, ob);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void test_commit_rate(void **state)
{
	(void)state;
	const char *n_env = getenv("MXR_QUEUE_BENCH_N");
	const char *parent = getenv("MXR_QUEUE_BENCH_DIR");
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/mxrq-bench.XXXXXX", parent ? parent : "/tmp");
	assert_non_null(mkdtemp(dir));
	struct event_base *base = event_base_new();
	char err[256];
	struct queue_store *q = queue_store_open(base, dir, err, sizeof(err));
	assert_non_null(q);

	struct queue_rcpt_in rcpts[2] = { { "a@bench.test", 0, NULL }, { "b@bench.test", 0, NULL } };
	struct queue_envelope env = {
		.sender = "s@bench.test", .ret = MXR_RET_UNSET, .client_ip = "127.0.0.1",
		.client_helo = "bench.test", .protocol = "ESMTP", .received_at = time(NULL),
		.rcpts = rcpts, .nrcpts = 2,
	};
	static struct bench b;
	b.q = q;
	b.env = &env;
	for (size_t i = 0; i < sizeof(b.body); i++)
		b.body[i] = (i % 64 == 62) ? '\r' : (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	b.total = n_env ? (unsigned)strtoul(n_env, NULL, 10) : 2000;
	b.window = 20;

	double t0 = now_s(), c0 = cpu_s();
	while (b.started < b.window && b.started < b.total)
		bench_start_one(&b);
	while (b.done < b.total)
		event_base_loop(base, EVLOOP_ONCE);
	double t = now_s() - t0, c = cpu_s() - c0;
	struct queue_store_stats st;
	queue_store_stats(q, &st);
	print_message("queue bench: %u x 1 KiB messages, 20 outstanding: %.0f msg/s, %.3f s,"
	    " %llu transactions (%.1f msgs per fsync, largest batch %llu), %llu checkpoints,"
	    " CPU %.0f us/msg\n",
	    b.total, b.total / t, t, (unsigned long long)st.transactions,
	    (double)b.total / (double)(st.transactions ? st.transactions : 1),
	    (unsigned long long)st.max_batch, (unsigned long long)st.checkpoints,
	    c * 1e6 / b.total);
	assert_int_equal(b.failed, 0);
	assert_true(st.transactions < b.total);

	/* Then the scheduler's side: one outcome per call, 20 outstanding. */
	struct queue_due_list due;
	assert_int_equal(queue_due_list(q, time(NULL) + 1, 2 * (size_t)b.total, true, &due, err,
	    sizeof(err)), 0);
	assert_int_equal(due.n, 2 * (size_t)b.total);
	static struct outcome_bench ob;
	ob.q = q;
	ob.due = &due;
	struct queue_store_stats st0;
	queue_store_stats(q, &st0);
	t0 = now_s();
	c0 = cpu_s();
	while (ob.started < 20 && ob.started < due.n)
		outcome_start_one(&ob);
	while (ob.done < due.n)
		event_base_loop(base, EVLOOP_ONCE);
	t = now_s() - t0;
	c = cpu_s() - c0;
	queue_store_stats(q, &st);
	print_message("queue bench: %zu outcomes (one per call), 20 outstanding: %.0f/s,"
	    " %llu transactions, CPU %.0f us/outcome\n", due.n, (double)due.n / t,
	    (unsigned long long)(st.transactions - st0.transactions), c * 1e6 / (double)due.n);
	assert_int_equal(ob.failed, 0);
	assert_int_equal(queue_due_claimed(q), 0);
	queue_due_list_free(&due);

	queue_store_close(q);
	event_base_free(base);
	tsupport_rm_tree(dir);
}

int main(void)
{
	log_init("test_queue_bench", LOG_LVL_WARN, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
