/*
 * test_queue_store: the durable queue: messages in and out byte for byte
 * (in memory and in spool files), group commit, outcomes and history, the
 * command line's reads and changes, disk full, spool files removed with
 * their messages and as orphans, and a SIGKILL mid-commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>

#include "tsupport.h"
#include <event2/event.h>
#include <sqlite3.h>

#include "queue/queue_store.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A temporary queue directory on the real filesystem (fsync must mean something). */
struct fixture {
	char dir[128];
	struct event_base *base;
	struct queue_store *q;
};

/* Commit results collected by the callback. */
struct waiter {
	int pending;
	int ok;
	int failed;
	char err[200];
};

static void on_commit(void *arg, bool ok, const char *err)
{
	struct waiter *w = arg;
	w->pending--;
	if (ok) {
		w->ok++;
	} else {
		w->failed++;
		snprintf(w->err, sizeof(w->err), "%s", err ? err : "(null)");
	}
}

/* Run the loop until every callback of w has come back. */
static void wait_all(struct event_base *base, struct waiter *w)
{
	while (w->pending > 0)
		event_base_loop(base, EVLOOP_ONCE);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/mxrq-test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	/* The store must create the directory itself (mode 0700). */
	rmdir(f->dir);
	f->base = event_base_new();
	char err[256];
	f->q = queue_store_open(f->base, f->dir, err, sizeof(err));
	if (f->q == NULL) {
		fprintf(stderr, "open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

/* Number of files in dir's spool directory; with id, whether id's is there (0/1). */
static int spool_files(const char *dir, const char *id)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/bodies", dir);
	DIR *d = opendir(p);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && (id == NULL || strcmp(de->d_name, id) == 0))
			n++;
	closedir(d);
	return n;
}

static void rm_dir(const char *dir)
{
	tsupport_rm_tree(dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	queue_store_close(f->q);
	event_base_free(f->base);
	rm_dir(f->dir);
	free(f);
	return 0;
}

/* Deterministic message text for id: headers then a body of len octets. */
static char *make_body(const char *id, size_t len)
{
	char *b = xmalloc(len + 1);
	int h = snprintf(b, len + 1, "Subject: test %s\r\nFrom: a@b.test\r\n\r\n", id);
	size_t seed = 0;
	for (const char *p = id; *p; p++)
		seed = seed * 31 + (unsigned char)*p;
	for (size_t i = (size_t)h; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : (char)('a' + (seed >> 16) % 26);
	}
	b[len] = '\0';
	return b;
}

static const struct queue_rcpt_in rcpts3[] = {
	{ "alice@Example.TEST", MXR_NOTIFY_FAILURE, "rfc822;alice@example.test" },
	{ "bob@example.test", 0, NULL },
	{ "carol@other.test", 0, NULL },
};

static struct queue_envelope envelope(const struct queue_rcpt_in *r, size_t n)
{
	struct queue_envelope e = {
		.sender = "sender@origin.test", .envid = "env1", .ret = MXR_RET_HDRS,
		.smtputf8 = false, .body_8bit = true, .client_ip = "127.0.0.1",
		.client_helo = "client.test", .auth_user = NULL, .protocol = "ESMTP",
		.received_at = time(NULL), .rcpts = r, .nrcpts = n,
	};
	return e;
}

/* Write body in pieces of step octets and commit it; returns the writer's id. */
static void put_message(struct fixture *f, const char *body, size_t len, size_t step,
    const struct queue_envelope *e, struct waiter *w, char id[QUEUE_ID_LEN + 1])
{
	struct queue_writer *qw = queue_writer_new(f->q);
	snprintf(id, QUEUE_ID_LEN + 1, "%s", queue_writer_id(qw));
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		assert_int_equal(queue_writer_append(qw, body + off, n), 0);
	}
	assert_int_equal(queue_writer_size(qw), len);
	w->pending++;
	queue_writer_commit(qw, e, on_commit, w);
}

/*
 * Commit a small message to r[0..n), received now, and claim what is due:
 * all n recipients, in *due. Returns now.
 */
static time_t put_and_claim(struct fixture *f, const struct queue_rcpt_in *r, size_t n,
    struct waiter *w, char id[QUEUE_ID_LEN + 1], struct queue_due_list *due)
{
	struct queue_envelope e = envelope(r, n);
	time_t now = time(NULL);
	e.received_at = now;
	put_message(f, "Subject: x\r\n\r\nhi\r\n", 18, 18, &e, w, id);
	wait_all(f->base, w);
	assert_int_equal(w->ok, 1);
	char err[256];
	assert_int_equal(queue_due_list(f->q, now, 100, true, due, err, sizeof(err)), 0);
	assert_int_equal(due->n, n);
	return now;
}

/* Read the whole body of id through its mxr_source in reads of step octets. */
static void check_body(struct queue_store *q, const char *id, const char *want, size_t len,
    size_t step)
{
	struct mxr_source src;
	char err[256];
	struct queue_body *b = queue_body_open(q, id, &src, err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(src.size, len);
	char *buf = xmalloc(step);
	uint64_t off = 0;
	for (;;) {
		ssize_t r = src.read_at(src.arg, off, buf, step);
		assert_true(r >= 0);
		if (r == 0)
			break;
		if (memcmp(buf, want + off, (size_t)r) != 0)
			fail_msg("body of %s differs in [%llu, %llu)", id, (unsigned long long)off,
			    (unsigned long long)off + (unsigned long long)r);
		off += (uint64_t)r;
	}
	assert_int_equal(off, len);
	/* A read from the middle, across a chunk border. */
	if (len > 70000) {
		ssize_t r = src.read_at(src.arg, 65530, buf, step < 20 ? step : 20);
		assert_true(r > 0);
		assert_memory_equal(buf, want + 65530, (size_t)r);
	}
	free(buf);
	queue_body_close(b);
}

static void test_id(void **state)
{
	(void)state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	queue_id_new(a);
	struct timespec ts = { 0, 2000 };
	nanosleep(&ts, NULL);
	queue_id_new(b);
	assert_int_equal(strlen(a), QUEUE_ID_LEN);
	assert_true(queue_id_valid(a));
	assert_true(queue_id_valid(b));
	if (strcmp(a, b) >= 0)
		fail_msg("ids not in time order: got %s then %s", a, b);
	assert_false(queue_id_valid("short"));
	assert_false(queue_id_valid("0123456789abcdefghiw"));
}

static void test_small_and_spilled(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	struct queue_envelope e = envelope(rcpts3, 3);
	struct waiter w = { 0 };
	char id1[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1], id3[QUEUE_ID_LEN + 1];
	char *small = make_body("small", 1500);
	size_t biglen = 2u * 1024 * 1024 + 17;
	char *big = make_body("big", biglen);
	put_message(f, small, 1500, 100, &e, &w, id1);
	put_message(f, big, biglen, 8191, &e, &w, id2);
	put_message(f, "", 0, 1, &e, &w, id3);
	wait_all(f->base, &w);
	assert_int_equal(w.ok, 3);

	check_body(f->q, id1, small, 1500, 7);
	check_body(f->q, id2, big, biglen, 65536);
	check_body(f->q, id2, big, biglen, 100000);
	check_body(f->q, id3, "", 0, 16);

	/* Only the large body has a spool file; the rest live in the database. */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | grep -v '^queue.db' | grep -vc '^bodies$') -eq 0",
	    f->dir);
	assert_int_equal(system(cmd), 0);
	if (spool_files(f->dir, NULL) != 1 || spool_files(f->dir, id2) != 1)
		fail_msg("spool files: got %d (%s's: %d), want 1, the big body's",
		    spool_files(f->dir, NULL), id2, spool_files(f->dir, id2));

	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	char err[256];
	assert_int_equal(queue_query_message(f->q, id2, &m, &r, &nr, true, err, sizeof(err)), 1);
	assert_string_equal(m.sender, "sender@origin.test");
	assert_string_equal(m.envid, "env1");
	assert_int_equal(m.ret, MXR_RET_HDRS);
	assert_true(m.body_8bit);
	assert_null(m.auth_user);
	assert_int_equal(m.size, biglen);
	assert_int_equal(nr, 3);
	assert_string_equal(r[0].domain, "example.test");
	assert_string_equal(r[0].orcpt, "rfc822;alice@example.test");
	assert_int_equal(r[0].notify, MXR_NOTIFY_FAILURE);
	assert_int_equal(r[2].state, QUEUE_RCPT_PENDING);
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);

	char *hdr = NULL;
	size_t hlen = 0;
	assert_int_equal(queue_query_headers(f->q, id2, 65536, &hdr, &hlen, err, sizeof(err)), 1);
	assert_string_equal(hdr, "Subject: test big\r\nFrom: a@b.test\r\n\r\n");
	free(hdr);
	assert_int_equal(queue_query_headers(f->q, "00000000000000000000", 100, &hdr, &hlen,
	    err, sizeof(err)), 0);
	free(small);
	free(big);
}

/*
 * A prefix made at the end of DATA (DKIM-Signature fields) comes before
 * the text, for a body in the table and a spooled one, in the size and in
 * the header section; reads split anywhere across the seam.
 */
static void test_prefix(void **state)
{
	struct fixture *f = *state;
	static const char prefix[] = "DKIM-Signature: v=1; a=ed25519-sha256; d=a.test;\r\n\tb=x\r\n";
	size_t plen = sizeof(prefix) - 1;
	struct queue_envelope e = envelope(rcpts3, 3);
	e.prefix = prefix;
	e.prefix_len = plen;
	struct waiter w = { 0 };
	char id1[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1];
	char *small = make_body("small", 1500);
	size_t biglen = 2u * 1024 * 1024 + 17;
	char *big = make_body("big", biglen);
	put_message(f, small, 1500, 100, &e, &w, id1);
	put_message(f, big, biglen, 8191, &e, &w, id2);
	wait_all(f->base, &w);
	assert_int_equal(w.ok, 2);

	char *want1 = xmalloc(plen + 1500), *want2 = xmalloc(plen + biglen);
	memcpy(want1, prefix, plen);
	memcpy(want1 + plen, small, 1500);
	memcpy(want2, prefix, plen);
	memcpy(want2 + plen, big, biglen);
	size_t steps[] = { 1, 7, plen - 1, plen, plen + 1, 65536 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		check_body(f->q, id1, want1, plen + 1500, steps[i]);
	check_body(f->q, id2, want2, plen + biglen, 100000);

	struct queue_msg m;
	char err[256];
	assert_int_equal(queue_query_message(f->q, id2, &m, NULL, NULL, false, err, sizeof(err)), 1);
	if (m.size != plen + biglen)
		fail_msg("size: got %llu, want %zu (prefix and text)", (unsigned long long)m.size,
		    plen + biglen);
	queue_query_msg_clear(&m);
	char *hdr = NULL;
	size_t hlen = 0;
	assert_int_equal(queue_query_headers(f->q, id2, 65536, &hdr, &hlen, err, sizeof(err)), 1);
	if (strncmp(hdr, prefix, plen) != 0 || strcmp(hdr + plen,
	    "Subject: test big\r\nFrom: a@b.test\r\n\r\n") != 0)
		fail_msg("headers: got \"%s\", want the prefix, then the stored fields", hdr);
	free(hdr);
	free(want1);
	free(want2);
	free(small);
	free(big);
}

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct queue_rcpt_in r1 = { "x@gc.test", 0, NULL };
	struct queue_envelope e = envelope(&r1, 1);
	struct waiter w = { 0 };
	char *body = make_body("gc", 1024);
	char ids[50][QUEUE_ID_LEN + 1];
	struct queue_store_stats before, after;
	queue_store_stats(f->q, &before);
	for (int i = 0; i < 50; i++)
		put_message(f, body, 1024, 1024, &e, &w, ids[i]);
	wait_all(f->base, &w);
	queue_store_stats(f->q, &after);
	assert_int_equal(w.ok, 50);
	uint64_t tx = after.transactions - before.transactions;
	print_message("group commit: 50 commits in %llu transactions (largest batch %llu)\n",
	    (unsigned long long)tx, (unsigned long long)after.max_batch);
	if (tx >= 50)
		fail_msg("transactions: got %llu, want fewer than 50", (unsigned long long)tx);
	assert_int_equal(after.jobs_ok - before.jobs_ok, 50);
	for (int i = 0; i < 50; i += 7)
		check_body(f->q, ids[i], body, 1024, 300);
	struct queue_counts c;
	char err[256];
	assert_int_equal(queue_query_count(f->q, &c, err, sizeof(err)), 0);
	assert_int_equal(c.messages, 50);
	assert_int_equal(c.rcpts[QUEUE_RCPT_PENDING], 50);
	assert_int_equal(c.bytes, 50 * 1024);
	free(body);
}

static void on_delete(void *arg, bool ok, bool deleted, const char *err)
{
	int *out = arg;
	(void)err;
	*out = ok ? (deleted ? 1 : 0) : -1;
}

static void test_outcomes(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_LEN + 1];
	struct waiter w = { 0 };
	struct queue_due_list due;
	time_t now = put_and_claim(f, rcpts3, 3, &w, id, &due);
	char err[256];
	/* Grouped by domain: example.test twice, then other.test. */
	assert_string_equal(due.items[0].domain, "example.test");
	assert_string_equal(due.items[1].domain, "example.test");
	assert_string_equal(due.items[2].domain, "other.test");
	assert_string_equal(due.items[0].msg_id, id);
	assert_int_equal(queue_due_claimed(f->q), 3);
	/* Claimed recipients are not handed out again. */
	struct queue_due_list again;
	assert_int_equal(queue_due_list(f->q, now, 100, true, &again, err, sizeof(err)), 0);
	assert_int_equal(again.n, 0);
	queue_due_list_free(&again);

	struct queue_outcome o[3] = {
		{ due.items[0].rcpt_id, QUEUE_RCPT_DELIVERED, now, 0, 250, "2.0.0", "ok queued",
		  "mx1.example.test[127.0.0.2]" },
		{ due.items[1].rcpt_id, QUEUE_RCPT_DEFERRED, now, now + 600, 451, "4.4.1",
		  "try later", "mx1.example.test[127.0.0.2]" },
		{ due.items[2].rcpt_id, QUEUE_RCPT_FAILED, now, 0, 550, "5.1.1", "no such user",
		  "mx.other.test[127.0.0.3]" },
	};
	queue_due_list_free(&due);
	w.pending++;
	queue_update_outcomes(f->q, o, 3, on_commit, &w);
	wait_all(f->base, &w);
	assert_int_equal(w.ok, 2);
	assert_int_equal(queue_due_claimed(f->q), 0);

	/* Nothing due now: the deferred one waits ten minutes. */
	assert_int_equal(queue_due_list(f->q, now, 100, false, &again, err, sizeof(err)), 0);
	assert_int_equal(again.n, 0);
	queue_due_list_free(&again);
	assert_int_equal(queue_due_list(f->q, now + 600, 100, false, &again, err, sizeof(err)), 0);
	assert_int_equal(again.n, 1);
	assert_int_equal(again.items[0].tries, 1);
	assert_int_equal(again.items[0].first_fail, now);
	queue_due_list_free(&again);

	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	assert_int_equal(queue_query_message(f->q, id, &m, &r, &nr, true, err, sizeof(err)), 1);
	assert_int_equal(nr, 3);
	assert_int_equal(r[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(r[1].state, QUEUE_RCPT_DEFERRED);
	assert_int_equal(r[1].next_try, now + 600);
	assert_int_equal(r[2].state, QUEUE_RCPT_FAILED);
	assert_int_equal(r[2].last_code, 550);
	assert_string_equal(r[2].last_esc, "5.1.1");
	assert_string_equal(r[2].last_reply, "no such user");
	assert_int_equal(r[1].nhistory, 1);
	assert_int_equal(r[1].history[0].status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(r[1].history[0].code, 451);
	assert_string_equal(r[1].history[0].mx, "mx1.example.test[127.0.0.2]");
	int64_t failed_id = r[2].id;
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);

	/* A final state is never left: a late "deferred" for the delivered one is ignored. */
	struct queue_outcome late = o[1];
	late.rcpt_id = o[0].rcpt_id;
	w.pending++;
	queue_update_outcomes(f->q, &late, 1, on_commit, &w);
	wait_all(f->base, &w);

	int deleted = -2;
	queue_update_delete_if_done(f->q, id, on_delete, &deleted);
	while (deleted == -2)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(deleted, 0);

	w.pending++;
	queue_update_bounced(f->q, &failed_id, 1, on_commit, &w);
	wait_all(f->base, &w);
	/* Flush the domain, deliver the deferred one, and the message can go. */
	assert_int_equal(queue_update_flush_domain(f->q, "example.test", now, err, sizeof(err)), 1);
	assert_int_equal(queue_due_list(f->q, now, 100, true, &due, err, sizeof(err)), 0);
	queue_due_list_free(&due);
	assert_int_equal(queue_due_list(f->q, now, 100, true, &due, err, sizeof(err)), 0);
	assert_int_equal(due.n, 0);
	queue_due_list_free(&due);
	o[1].state = QUEUE_RCPT_DELIVERED;
	o[1].code = 250;
	w.pending++;
	queue_update_outcomes(f->q, &o[1], 1, on_commit, &w);
	wait_all(f->base, &w);
	assert_int_equal(queue_query_message(f->q, id, &m, &r, &nr, true, err, sizeof(err)), 1);
	assert_int_equal(r[1].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(r[1].tries, 2);
	assert_int_equal(r[1].nhistory, 2);
	assert_int_equal(r[2].state, QUEUE_RCPT_BOUNCED);
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);
	deleted = -2;
	queue_update_delete_if_done(f->q, id, on_delete, &deleted);
	while (deleted == -2)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(deleted, 1);
	assert_int_equal(queue_query_message(f->q, id, &m, NULL, NULL, false, err, sizeof(err)), 0);
	struct queue_counts c;
	assert_int_equal(queue_query_count(f->q, &c, err, sizeof(err)), 0);
	assert_int_equal(c.messages, 0);
	assert_int_equal(c.rcpts[QUEUE_RCPT_DELIVERED] + c.rcpts[QUEUE_RCPT_BOUNCED], 0);
}

struct lister {
	int n;
	char first_sender[64];
	int rcpts;
};

static bool on_list(void *arg, const struct queue_msg *m, const struct queue_rcpt *r, size_t nr)
{
	struct lister *l = arg;
	(void)r;
	if (l->n++ == 0)
		snprintf(l->first_sender, sizeof(l->first_sender), "%s", m->sender);
	l->rcpts += (int)nr;
	return true;
}

static void test_admin(void **state)
{
	struct fixture *f = *state;
	struct queue_envelope e = envelope(rcpts3, 3);
	time_t now = time(NULL);
	e.received_at = now;
	struct waiter w = { 0 };
	char ids[70][QUEUE_ID_LEN + 1];
	/* 70 messages: more than one page of the listing. */
	for (int i = 0; i < 70; i++)
		put_message(f, "Subject: a\r\n\r\nb\r\n", 17, 17, &e, &w, ids[i]);
	wait_all(f->base, &w);
	assert_int_equal(w.ok, 70);
	char err[256];
	struct lister l = { 0 };
	assert_int_equal(queue_query_list(f->q, on_list, &l, err, sizeof(err)), 70);
	assert_int_equal(l.n, 70);
	assert_int_equal(l.rcpts, 210);
	assert_string_equal(l.first_sender, "sender@origin.test");

	/* Held messages are not due. */
	assert_int_equal(queue_update_hold(f->q, ids[0], true, err, sizeof(err)), 1);
	struct queue_due_list due;
	assert_int_equal(queue_due_list(f->q, now, 1000, false, &due, err, sizeof(err)), 0);
	assert_int_equal(due.n, 207);
	queue_due_list_free(&due);
	struct queue_counts c;
	assert_int_equal(queue_query_count(f->q, &c, err, sizeof(err)), 0);
	assert_int_equal(c.held, 1);
	assert_int_equal(queue_update_hold(f->q, ids[0], false, err, sizeof(err)), 1);
	/* LIMIT is honoured. */
	assert_int_equal(queue_due_list(f->q, now, 5, false, &due, err, sizeof(err)), 0);
	assert_int_equal(due.n, 5);
	queue_due_list_free(&due);
	/* A body opened before its message is deleted reads -1 afterwards. */
	struct mxr_source src;
	struct queue_body *b = queue_body_open(f->q, ids[1], &src, err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(queue_update_delete(f->q, ids[1], err, sizeof(err)), 1);
	char tmp[8];
	assert_int_equal(src.read_at(src.arg, 0, tmp, sizeof(tmp)), -1);
	queue_body_close(b);
	assert_null(queue_body_open(f->q, ids[1], &src, err, sizeof(err)));
	assert_int_equal(queue_update_delete(f->q, ids[1], err, sizeof(err)), 0);
	assert_int_equal(queue_query_message(f->q, ids[1], &(struct queue_msg){ 0 }, NULL, NULL,
	    false, err, sizeof(err)), 0);
	assert_int_equal(queue_update_hold(f->q, "nosuchid", true, err, sizeof(err)), 0);
	assert_int_equal(queue_query_count(f->q, &c, err, sizeof(err)), 0);
	assert_int_equal(c.messages, 69);
	assert_int_equal(c.rcpts[QUEUE_RCPT_PENDING], 207);
	/* Nothing in the future to flush: pending recipients are due already. */
	assert_int_equal(queue_update_flush_msg(f->q, ids[2], now, err, sizeof(err)), 0);
}

/* Room for a declared SIZE: twice the size must be free on the queue's file system. */
static void test_has_room(void **state)
{
	struct fixture *f = *state;
	if (!queue_store_has_room(f->q, 1))
		fail_msg("no room for 1 octet in %s", f->dir);
	if (queue_store_has_room(f->q, UINT64_MAX / 4))
		fail_msg("room for %llu octets in %s", (unsigned long long)(UINT64_MAX / 4), f->dir);
	if (queue_store_has_room(f->q, UINT64_MAX))
		fail_msg("room for UINT64_MAX octets (the doubling must not wrap)");
	assert_true(queue_store_has_room(NULL, 1));
}

static void test_disk_full(void **state)
{
	struct fixture *f = *state;
	struct queue_envelope e = envelope(rcpts3, 3);
	struct waiter w = { 0 };
	char ids[3][QUEUE_ID_LEN + 1];
	char *body = make_body("full", 4000);
	put_message(f, body, 4000, 4000, &e, &w, ids[0]);
	put_message(f, body, 4000, 4000, &e, &w, ids[1]);
	wait_all(f->base, &w);
	assert_int_equal(w.ok, 2);

	/* Cap the database near its present size: a 200 KiB message (kept in it) cannot fit. */
	queue_store_set_max_pages(f->q, 40);
	size_t biglen = 200 * 1024;
	char *big = make_body("toolarge", biglen);
	char id[QUEUE_ID_LEN + 1];
	put_message(f, big, biglen, 65536, &e, &w, id);
	wait_all(f->base, &w);
	assert_int_equal(w.failed, 1);
	print_message("disk full: ok=false err=\"%s\"\n", w.err);
	assert_non_null(strstr(w.err, "full"));

	/* Earlier messages are intact; the failed one left nothing behind. */
	check_body(f->q, ids[0], body, 4000, 512);
	check_body(f->q, ids[1], body, 4000, 4000);
	char err[256];
	struct queue_msg m;
	assert_int_equal(queue_query_message(f->q, id, &m, NULL, NULL, false, err, sizeof(err)), 0);
	struct queue_counts c;
	assert_int_equal(queue_query_count(f->q, &c, err, sizeof(err)), 0);
	assert_int_equal(c.messages, 2);

	/* With room again, commits succeed. */
	queue_store_set_max_pages(f->q, 1000000);
	put_message(f, big, biglen, 65536, &e, &w, id);
	wait_all(f->base, &w);
	assert_int_equal(w.ok, 3);
	check_body(f->q, id, big, biglen, 65536);
	free(big);
	free(body);
}

static void test_bounce_atomic(void **state)
{
	struct fixture *f = *state;
	struct queue_envelope e = envelope(rcpts3, 3);
	time_t now = time(NULL);
	e.received_at = now;
	struct waiter w = { 0 };
	char id[QUEUE_ID_LEN + 1], bid[QUEUE_ID_LEN + 1];
	put_message(f, "Subject: x\r\n\r\nhi\r\n", 18, 18, &e, &w, id);
	wait_all(f->base, &w);
	char err[256];
	struct queue_due_list due;
	assert_int_equal(queue_due_list(f->q, now, 100, true, &due, err, sizeof(err)), 0);
	assert_int_equal(due.n, 3);
	struct queue_outcome o = { due.items[2].rcpt_id, QUEUE_RCPT_FAILED, now, 0, 550, "5.1.1",
		"no such user", NULL };
	int64_t failed = o.rcpt_id;
	int64_t others[2] = { due.items[0].rcpt_id, due.items[1].rcpt_id };
	queue_due_unclaim(f->q, others, 2);
	queue_due_list_free(&due);
	w.pending++;
	queue_update_outcomes(f->q, &o, 1, on_commit, &w);
	wait_all(f->base, &w);

	/* The bounce goes to the sender from the null path, and finishes the failed rcpt. */
	struct queue_rcpt_in br = { "sender@origin.test", 0, NULL };
	struct queue_envelope be = envelope(&br, 1);
	be.sender = "";
	be.received_at = now;
	struct queue_writer *qw = queue_writer_new(f->q);
	snprintf(bid, sizeof(bid), "%s", queue_writer_id(qw));
	assert_int_equal(queue_writer_append(qw, "Subject: failure\r\n\r\n", 20), 0);
	queue_writer_bounce_for(qw, &failed, 1);
	w.pending++;
	queue_writer_commit(qw, &be, on_commit, &w);
	wait_all(f->base, &w);
	assert_int_equal(w.failed, 0);

	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	assert_int_equal(queue_query_message(f->q, id, &m, &r, &nr, false, err, sizeof(err)), 1);
	assert_int_equal(r[2].state, QUEUE_RCPT_BOUNCED);
	assert_int_equal(r[0].state, QUEUE_RCPT_PENDING);
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);
	assert_int_equal(queue_query_message(f->q, bid, &m, &r, &nr, false, err, sizeof(err)), 1);
	assert_string_equal(m.sender, "");
	assert_int_equal(nr, 1);
	assert_string_equal(r[0].domain, "origin.test");
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);
	/* The two unclaimed recipients and the bounce's are due. */
	assert_int_equal(queue_due_list(f->q, now, 100, false, &due, err, sizeof(err)), 0);
	assert_int_equal(due.n, 3);
	queue_due_list_free(&due);
}

/* The command line opens the store without a loop: reads and changes only. */
static void test_cli_mode(void **state)
{
	struct fixture *f = *state;
	struct queue_envelope e = envelope(rcpts3, 3);
	struct waiter w = { 0 };
	char id[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1];
	put_message(f, "Subject: cli\r\n\r\nbody\r\n", 22, 22, &e, &w, id);
	put_message(f, "Subject: cli2\r\n\r\nbody\r\n", 23, 23, &e, &w, id2);
	wait_all(f->base, &w);
	/* The daemon's store stays open while the command line works beside it. */
	char err[256];
	struct queue_store *cli = queue_store_open(NULL, f->dir, err, sizeof(err));
	assert_non_null(cli);
	struct queue_counts c;
	assert_int_equal(queue_query_count(cli, &c, err, sizeof(err)), 0);
	assert_int_equal(c.messages, 2);
	assert_int_equal(queue_update_hold(cli, id, true, err, sizeof(err)), 1);
	assert_int_equal(queue_update_delete(cli, id2, err, sizeof(err)), 1);
	char *hdr = NULL;
	size_t hlen = 0;
	assert_int_equal(queue_query_headers(cli, id, 4096, &hdr, &hlen, err, sizeof(err)), 1);
	assert_string_equal(hdr, "Subject: cli\r\n\r\n");
	free(hdr);
	queue_store_close(cli);
	/* The daemon sees the change at once. */
	struct queue_due_list due;
	assert_int_equal(queue_due_list(f->q, time(NULL), 100, false, &due, err, sizeof(err)), 0);
	assert_int_equal(due.n, 0);
	queue_due_list_free(&due);
	struct queue_msg m;
	assert_int_equal(queue_query_message(f->q, id, &m, NULL, NULL, false, err, sizeof(err)), 1);
	assert_true(m.held);
	queue_query_msg_clear(&m);
}

/*
 * A recipient domain is stored under its one key (case folded, one trailing
 * dot dropped), so x@A.Test. and x@a.test are one destination for the
 * scheduler, and a flush of either spelling reaches both.
 */
static void test_domain_key(void **state)
{
	struct fixture *f = *state;
	static const struct queue_rcpt_in rcpts[] = {
		{ "x@A.Test.", 0, NULL },
		{ "y@a.test", 0, NULL },
		{ "z@b.test", 0, NULL },
	};
	char id[QUEUE_ID_LEN + 1];
	struct waiter w = { 0 };
	struct queue_due_list due;
	time_t now = put_and_claim(f, rcpts, 3, &w, id, &due);
	char err[256];
	static const char *const want[] = { "a.test", "a.test", "b.test" };
	for (size_t i = 0; i < due.n; i++)
		if (strcmp(due.items[i].domain, want[i]) != 0)
			fail_msg("recipient %s: domain got \"%s\", want \"%s\"", due.items[i].address,
			    due.items[i].domain, want[i]);

	/* All three wait; a flush of either spelling of a.test frees its two. */
	static const char *const flush[] = { "A.TEST.", "a.test" };
	for (size_t k = 0; k < 2; k++) {
		struct queue_outcome o[3];
		for (size_t i = 0; i < 3; i++)
			o[i] = (struct queue_outcome){ due.items[i].rcpt_id, QUEUE_RCPT_DEFERRED, now,
				now + 600, 451, "4.4.1", "try later", NULL };
		queue_due_list_free(&due);
		w.pending++;
		queue_update_outcomes(f->q, o, 3, on_commit, &w);
		wait_all(f->base, &w);
		int n = queue_update_flush_domain(f->q, flush[k], now, err, sizeof(err));
		if (n != 2)
			fail_msg("flush \"%s\": got %d recipients, want 2 (%s)", flush[k], n, err);
		assert_int_equal(queue_due_list(f->q, now + 600, 100, true, &due, err, sizeof(err)), 0);
		assert_int_equal(due.n, 3);
	}
	queue_due_list_free(&due);
}

/* Another process holds the write lock past the busy timeout: ok=false, then recovery. */
static void test_busy(void **state)
{
	struct fixture *f = *state;
	struct queue_envelope e = envelope(rcpts3, 1);
	struct waiter w = { 0 };
	char id[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1];
	put_message(f, "Subject: a\r\n\r\nb\r\n", 17, 17, &e, &w, id);
	wait_all(f->base, &w);
	char path[256];
	snprintf(path, sizeof(path), "%s/queue.db", f->dir);
	sqlite3 *other = NULL;
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	queue_store_set_busy_timeout(f->q, 200);
	put_message(f, "Subject: c\r\n\r\nd\r\n", 17, 17, &e, &w, id2);
	wait_all(f->base, &w);
	assert_int_equal(w.failed, 1);
	print_message("busy: ok=false err=\"%s\"\n", w.err);
	assert_non_null(strstr(w.err, "locked"));
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	put_message(f, "Subject: c\r\n\r\nd\r\n", 17, 17, &e, &w, id2);
	wait_all(f->base, &w);
	assert_int_equal(w.ok, 2);
	char err[256];
	struct queue_counts c;
	assert_int_equal(queue_query_count(f->q, &c, err, sizeof(err)), 0);
	assert_int_equal(c.messages, 2);
	struct queue_store_stats st;
	queue_store_stats(f->q, &st);
	assert_int_equal(st.failed_transactions, 1);
	assert_int_equal(st.jobs_failed, 1);
}

/* A long run of commits: the writer checkpoints, and every body stays exact. */
static void test_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct queue_rcpt_in r1 = { "x@ck.test", 0, NULL };
	struct queue_envelope e = envelope(&r1, 1);
	struct waiter w = { 0 };
	char *body = make_body("ck", 20000);
	char id[QUEUE_ID_LEN + 1];
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 10; i++)
			put_message(f, body, 20000, 20000, &e, &w, id);
		wait_all(f->base, &w);
	}
	assert_int_equal(w.ok, 400);
	struct queue_store_stats st;
	queue_store_stats(f->q, &st);
	print_message("checkpoint: %llu transactions, %llu checkpoints\n",
	    (unsigned long long)st.transactions, (unsigned long long)st.checkpoints);
	assert_true(st.checkpoints >= 1);
	check_body(f->q, id, body, 20000, 4096);
	free(body);
}

/* The spill file cannot grow (file size limit): append fails, commit says why. */
static void test_spill_error(void **state)
{
	struct fixture *f = *state;
	struct queue_envelope e = envelope(rcpts3, 1);
	struct waiter w = { 0 };
	struct rlimit old, small;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 512 * 1024;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	char *big = make_body("spillfail", 1024 * 1024);
	struct queue_writer *qw = queue_writer_new(f->q);
	int rc = 0;
	for (size_t off = 0; off < 1024 * 1024 && rc == 0; off += 65536)
		rc = queue_writer_append(qw, big + off, 65536);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, -1);
	w.pending++;
	queue_writer_commit(qw, &e, on_commit, &w);
	wait_all(f->base, &w);
	assert_int_equal(w.failed, 1);
	print_message("spill error: ok=false err=\"%s\"\n", w.err);
	assert_non_null(strstr(w.err, "spool write"));
	free(big);
}

/* Spool files: read back, removed with their message (daemon and command line), after an abort, and as orphans at start. */
static void test_spool(void **state)
{
	struct fixture *f = *state;
	struct queue_rcpt_in r1 = { "k@spool.test", 0, NULL };
	struct queue_envelope e = envelope(&r1, 1);
	struct waiter w = { 0 };
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	size_t len = 3u * 1024 * 1024 + 5;
	char *body = make_body("spool", len);
	put_message(f, body, len, 16384, &e, &w, a);
	put_message(f, body, len, 65536, &e, &w, b);
	wait_all(f->base, &w);
	assert_int_equal(w.ok, 2);
	check_body(f->q, a, body, len, 65536);
	check_body(f->q, b, body, len, 4096);
	assert_int_equal(spool_files(f->dir, NULL), 2);

	/* An aborted message and a failed commit leave no file. */
	struct queue_writer *qw = queue_writer_new(f->q);
	char aborted[QUEUE_ID_LEN + 1];
	snprintf(aborted, sizeof(aborted), "%s", queue_writer_id(qw));
	assert_int_equal(queue_writer_append(qw, body, len), 0);
	assert_int_equal(spool_files(f->dir, aborted), 1);
	queue_writer_abort(qw);
	assert_int_equal(spool_files(f->dir, aborted), 0);
	struct queue_rcpt_in dup = { "k@spool.test", 0, NULL };
	struct queue_envelope e2 = envelope(&dup, 1);
	qw = queue_writer_new(f->q);
	char failed[QUEUE_ID_LEN + 1];
	snprintf(failed, sizeof(failed), "%s", queue_writer_id(qw));
	assert_int_equal(queue_writer_append(qw, body, len), 0);
	queue_store_set_busy_timeout(f->q, 100);
	char err[256];
	struct queue_store *locker = queue_store_open(NULL, f->dir, err, sizeof(err));
	assert_non_null(locker);
	sqlite3 *ldb = NULL;
	char path[256];
	snprintf(path, sizeof(path), "%s/queue.db", f->dir);
	assert_int_equal(sqlite3_open(path, &ldb), SQLITE_OK);
	assert_int_equal(sqlite3_exec(ldb, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	w.pending++;
	queue_writer_commit(qw, &e2, on_commit, &w);
	wait_all(f->base, &w);
	assert_int_equal(w.failed, 1);
	sqlite3_exec(ldb, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(ldb);
	queue_store_set_busy_timeout(f->q, 5000);
	if (spool_files(f->dir, failed) != 0)
		fail_msg("the spool file of %s, whose commit failed, is still there", failed);

	/* Deleted by the command line: the file goes with the rows. */
	assert_int_equal(queue_update_delete(locker, a, err, sizeof(err)), 1);
	queue_store_close(locker);
	assert_int_equal(spool_files(f->dir, a), 0);
	/* Deleted by the daemon once done: the file goes after the commit. */
	int deleted = -2;
	struct queue_due_list due;
	assert_int_equal(queue_due_list(f->q, time(NULL), 10, true, &due, err, sizeof(err)), 0);
	assert_int_equal(due.n, 1);
	struct queue_outcome o = { due.items[0].rcpt_id, QUEUE_RCPT_DELIVERED, time(NULL), 0, 250,
	    "2.0.0", "ok", "mx" };
	queue_due_list_free(&due);
	queue_update_outcomes_delete(f->q, b, &o, 1, on_delete, &deleted);
	while (deleted == -2)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(deleted, 1);
	assert_int_equal(spool_files(f->dir, NULL), 0);

	/* Orphans (no committed message names them) are removed at the next start. */
	char c[QUEUE_ID_LEN + 1];
	put_message(f, body, len, 65536, &e, &w, c);
	wait_all(f->base, &w);
	const char *orphans[] = { "0000000000000000000a", "not-a-queue-id" };
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/bodies/%s", f->dir, orphans[i]);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x", 1), 1);
		close(fd);
	}
	assert_int_equal(spool_files(f->dir, NULL), 3);
	queue_store_close(f->q);
	f->q = queue_store_open(f->base, f->dir, err, sizeof(err));
	assert_non_null(f->q);
	if (spool_files(f->dir, NULL) != 1 || spool_files(f->dir, c) != 1)
		fail_msg("after start: got %d spool files, want 1 (%s's)", spool_files(f->dir, NULL), c);
	check_body(f->q, c, body, len, 65536);
	free(body);
}

/* ---- crash safety: SIGKILL a committing child ---- */

struct child_ack {
	int fd;
	int outstanding;
};

struct child_msg {
	struct child_ack *ack;
	char id[QUEUE_ID_LEN + 1];
};

static void child_on_commit(void *arg, bool ok, const char *err)
{
	struct child_msg *cm = arg;
	(void)err;
	if (ok) {
		char line[QUEUE_ID_LEN + 2];
		memcpy(line, cm->id, QUEUE_ID_LEN);
		line[QUEUE_ID_LEN] = '\n';
		/* 21 octets: atomic on a pipe. */
		if (write(cm->ack->fd, line, sizeof(line) - 1) != (ssize_t)sizeof(line) - 1)
			_exit(3);
	}
	cm->ack->outstanding--;
	free(cm);
}

/* The child: commit messages of varied sizes, 10 outstanding, forever. */
static _Noreturn void child_run(const char *dir, int fd)
{
	struct event_base *base = event_base_new();
	char err[256];
	struct queue_store *q = queue_store_open(base, dir, err, sizeof(err));
	if (q == NULL)
		_exit(2);
	struct child_ack ack = { fd, 0 };
	struct queue_rcpt_in r1 = { "k@crash.test", 0, NULL };
	struct queue_envelope e = envelope(&r1, 1);
	for (unsigned i = 0;; i++) {
		while (ack.outstanding < 10) {
			struct child_msg *cm = xcalloc(1, sizeof(*cm));
			cm->ack = &ack;
			struct queue_writer *w = queue_writer_new(q);
			snprintf(cm->id, sizeof(cm->id), "%s", queue_writer_id(w));
			size_t len = (i % 13 == 0) ? 300000 : 500 + (i * 37) % 5000;
			char *body = make_body(cm->id, len);
			queue_writer_append(w, body, len);
			free(body);
			ack.outstanding++;
			i++;
			queue_writer_commit(w, &e, child_on_commit, cm);
		}
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static void test_crash(void **state)
{
	(void)state;
	char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/mxrq-crash.XXXXXX");
	assert_non_null(mkdtemp(dir));
	unsigned seed;
	assert_int_equal(getrandom(&seed, sizeof(seed), 0), sizeof(seed));
	for (int round = 0; round < 3; round++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child_run(dir, p[1]);
		}
		close(p[1]);
		struct timespec ts = { 0, (long)(100 + (seed >> (round * 3)) % 400) * 1000000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));
		char *acked = NULL;
		size_t len = 0, cap = 0;
		for (;;) {
			if (len + 4096 > cap) {
				cap = cap ? cap * 2 : 65536;
				acked = xrealloc(acked, cap);
			}
			ssize_t r = read(p[0], acked + len, 4096);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
		close(p[0]);
		assert_int_equal(len % (QUEUE_ID_LEN + 1), 0);
		size_t n = len / (QUEUE_ID_LEN + 1);

		struct event_base *base = event_base_new();
		char err[256];
		struct queue_store *q = queue_store_open(base, dir, err, sizeof(err));
		assert_non_null(q);
		for (size_t i = 0; i < n; i++) {
			char id[QUEUE_ID_LEN + 1];
			memcpy(id, acked + i * (QUEUE_ID_LEN + 1), QUEUE_ID_LEN);
			id[QUEUE_ID_LEN] = '\0';
			struct queue_msg m;
			if (queue_query_message(q, id, &m, NULL, NULL, false, err, sizeof(err)) != 1)
				fail_msg("acknowledged message %s lost after SIGKILL", id);
			char *want = make_body(id, (size_t)m.size);
			check_body(q, id, want, (size_t)m.size, 65536);
			free(want);
			queue_query_msg_clear(&m);
		}
		/* The database itself is sound, not just the rows we looked at. */
		char path[128];
		snprintf(path, sizeof(path), "%s/queue.db", dir);
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		sqlite3_close(db);
		/* After the start's clean-up, every spool file is a committed message's. */
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM messages WHERE body_file = 1",
		    -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		int spooled = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
		if (spool_files(dir, NULL) != spooled)
			fail_msg("crash round %d: %d spool files, want %d (one per spooled message)",
			    round, spool_files(dir, NULL), spooled);
		struct queue_counts c;
		assert_int_equal(queue_query_count(q, &c, err, sizeof(err)), 0);
		print_message("crash round %d: %zu acknowledged, %llu in the queue, all intact\n",
		    round, n, (unsigned long long)c.messages);
		assert_true(c.messages >= n);
		queue_store_close(q);
		event_base_free(base);
		free(acked);
	}
	rm_dir(dir);
}

int main(void)
{
	log_init("test_queue_store", LOG_LVL_WARN, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id),
		cmocka_unit_test_setup_teardown(test_small_and_spilled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_has_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounce_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spill_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool, setup, teardown),
		cmocka_unit_test(test_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
