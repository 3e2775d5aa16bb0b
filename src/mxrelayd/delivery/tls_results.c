/*
 * tls_results: TLS results counted in memory and stored once a minute
 * (see tls_results.h). A crash loses at most a minute of counts: a
 * report is a statistic, not mail. The write goes through the queue's
 * side thread: the rows leave the table for it, and come back (their
 * counts added to what was counted since) when the store refuses them.
 */
#include "tls_results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "queue/queue_side.h"
#include "queue/queue_store.h"
#include "util/log.h"
#include "util/xalloc.h"

#define TLS_RESULTS_BUCKETS 512

/* One counted key; its strings are owned. */
struct tls_result {
	struct tls_result *next;	/* bucket chain */
	uint32_t hash;
	int64_t day;
	char *domain, *policy_type, *policy, *result, *sending_ip, *mx_host, *mx_ip;
	char *mx_helo, *detail;		/* the last seen: not part of the key */
	uint64_t sessions;
};

struct tr_batch;

struct tls_results {
	struct queue_store *q;		/* borrowed */
	struct queue_side *side;	/* borrowed, or NULL: written on q from the loop */
	struct event *timer;		/* owned: the flush */
	struct tls_result *buckets[TLS_RESULTS_BUCKETS];
	size_t n;
	struct tr_batch *inflight;	/* batches the side thread writes; they point back here */
};

/* Rows on their way to the store through the side thread. */
struct tr_batch {
	struct tls_results *t;		/* NULL once t is freed */
	struct tr_batch *prev, *next;	/* t->inflight */
	struct tls_result *list;	/* owned: the keys taken out of the table */
	struct queue_tlsrpt_row *rows;	/* owned array; its strings are the keys' */
	size_t n;
	bool ok;
	char err[256];
};

int64_t tls_results_day(int64_t t)
{
	return t - ((t % 86400) + 86400) % 86400;
}

const char *tls_results_policy_name(enum mxr_tls_report_policy p)
{
	switch (p) {
	case MXR_TLSRPT_TLSA: return "tlsa";
	case MXR_TLSRPT_STS: return "sts";
	case MXR_TLSRPT_NO_POLICY: return "no-policy-found";
	}
	return "no-policy-found";
}

/* FNV-1a over one more string of the key (with its end). */
static uint32_t tr_hash(uint32_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return (h ^ 0xffu) * 16777619u;
}

static void tr_free_one(struct tls_result *r)
{
	free(r->domain);
	free(r->policy_type);
	free(r->policy);
	free(r->result);
	free(r->sending_ip);
	free(r->mx_host);
	free(r->mx_ip);
	free(r->mx_helo);
	free(r->detail);
	free(r);
}

/* The rows of the keys in list (their strings borrowed), n of them, malloc'ed. */
static struct queue_tlsrpt_row *tr_rows(const struct tls_result *list, size_t n)
{
	struct queue_tlsrpt_row *rows = xcalloc(n > 0 ? n : 1, sizeof(*rows));
	size_t k = 0;
	for (const struct tls_result *r = list; r != NULL && k < n; r = r->next)
		rows[k++] = (struct queue_tlsrpt_row){
			.day = r->day, .domain = r->domain, .policy_type = r->policy_type,
			.policy = r->policy, .result = r->result, .sending_ip = r->sending_ip,
			.mx_host = r->mx_host, .mx_ip = r->mx_ip, .mx_helo = r->mx_helo,
			.detail = r->detail, .sessions = r->sessions,
		};
	return rows;
}

/* Take every key out of the table into one list; its length. */
static size_t tr_take_all(struct tls_results *t, struct tls_result **list)
{
	size_t n = 0;
	*list = NULL;
	for (size_t b = 0; b < TLS_RESULTS_BUCKETS; b++) {
		while (t->buckets[b] != NULL) {
			struct tls_result *r = t->buckets[b];
			t->buckets[b] = r->next;
			r->next = *list;
			*list = r;
			n++;
		}
	}
	t->n = 0;
	return n;
}

static void tr_free_list(struct tls_result *list)
{
	while (list != NULL) {
		struct tls_result *next = list->next;
		tr_free_one(list);
		list = next;
	}
}

static void tr_merge(struct tls_results *t, struct tls_result *r);

/* On the side thread: the batch's rows into the store. */
static void tr_batch_write(struct queue_store *q, void *arg)
{
	struct tr_batch *b = arg;
	b->ok = queue_tlsrpt_add(q, b->rows, b->n, b->err, sizeof(b->err)) == 0;
}

/* Back on the loop: stored, or the counts back into the table for the next flush. */
static void tr_batch_done(void *arg)
{
	struct tr_batch *b = arg;
	struct tls_results *t = b->t;
	if (t != NULL) {
		if (b->prev != NULL)
			b->prev->next = b->next;
		else
			t->inflight = b->next;
		if (b->next != NULL)
			b->next->prev = b->prev;
	}
	if (!b->ok)
		log_msg(LOG_LVL_WARN, "event=tls-results-not-stored keys=%zu reason=\"%s\"%s", b->n,
		    b->err, t != NULL ? " note=\"kept for the next flush\"" : "");
	if (!b->ok && t != NULL) {
		while (b->list != NULL) {
			struct tls_result *r = b->list;
			b->list = r->next;
			tr_merge(t, r);
		}
	}
	tr_free_list(b->list);
	free(b->rows);
	free(b);
}

int tls_results_flush(struct tls_results *t)
{
	if (t == NULL || t->n == 0)
		return 0;
	struct tls_result *list;
	size_t n = tr_take_all(t, &list);
	struct queue_tlsrpt_row *rows = tr_rows(list, n);
	if (t->side != NULL) {
		struct tr_batch *b = xcalloc(1, sizeof(*b));
		*b = (struct tr_batch){ .t = t, .next = t->inflight, .list = list, .rows = rows, .n = n };
		if (t->inflight != NULL)
			t->inflight->prev = b;
		t->inflight = b;
		queue_side_run(t->side, tr_batch_write, tr_batch_done, b);
		return 0;
	}
	char err[256];
	int rc = queue_tlsrpt_add(t->q, rows, n, err, sizeof(err));
	free(rows);
	if (rc != 0) {
		/* Kept for the next flush; the cap stores at once when it is reached. */
		log_msg(LOG_LVL_WARN, "event=tls-results-not-stored keys=%zu reason=\"%s\"", n, err);
		while (list != NULL) {
			struct tls_result *r = list;
			list = r->next;
			tr_merge(t, r);
		}
		return -1;
	}
	tr_free_list(list);
	return 0;
}

static void tr_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tls_results_flush(arg);
}

struct tls_results *tls_results_new(struct event_base *base, struct queue_store *q,
    struct queue_side *side)
{
	struct tls_results *t = xcalloc(1, sizeof(*t));
	t->q = q;
	t->side = side;
	t->timer = event_new(base, -1, EV_PERSIST, tr_timer_cb, t);
	struct timeval tv = { TLS_RESULTS_FLUSH_SECONDS, 0 };
	if (t->timer == NULL || event_add(t->timer, &tv) != 0)
		fatal("event=tls_results_new error=\"cannot create the flush timer\"");
	return t;
}

void tls_results_free(struct tls_results *t)
{
	if (t == NULL)
		return;
	/* The last counts, stored from here (the daemon is stopping); batches under way finish alone. */
	for (struct tr_batch *b = t->inflight; b != NULL; b = b->next)
		b->t = NULL;
	t->side = NULL;
	tls_results_flush(t);
	for (size_t b = 0; b < TLS_RESULTS_BUCKETS; b++) {
		while (t->buckets[b] != NULL) {
			struct tls_result *r = t->buckets[b];
			t->buckets[b] = r->next;
			tr_free_one(r);
		}
	}
	event_free(t->timer);
	free(t);
}

/* A string of a report, "" for NULL. */
static const char *tr_s(const char *s)
{
	return s != NULL ? s : "";
}

/*
 * A copy of peer-influenced text for the store and the report: octets
 * outside printable ASCII become '?', at most 300 of them. Not escaped:
 * the report's JSON writer and the listing escape what they write.
 */
static char *tr_clean(const char *s)
{
	size_t n = strnlen(s, 300);
	char *out = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ? '?' : s[i];
	out[n] = '\0';
	return out;
}

/* The hash of a key: its day and its seven strings. */
static uint32_t tr_key_hash(int64_t day, const char *const key[7])
{
	uint32_t h = 2166136261u ^ (uint32_t)(day / 86400);
	for (size_t i = 0; i < 7; i++)
		h = tr_hash(h, key[i]);
	return h;
}

/* The counted key of day and key[], or NULL. */
static struct tls_result *tr_find(const struct tls_results *t, uint32_t h, int64_t day,
    const char *const key[7])
{
	for (struct tls_result *r = t->buckets[h % TLS_RESULTS_BUCKETS]; r != NULL; r = r->next)
		if (r->hash == h && r->day == day && strcmp(r->domain, key[0]) == 0 &&
		    strcmp(r->policy_type, key[1]) == 0 && strcmp(r->policy, key[2]) == 0 &&
		    strcmp(r->result, key[3]) == 0 && strcmp(r->sending_ip, key[4]) == 0 &&
		    strcmp(r->mx_host, key[5]) == 0 && strcmp(r->mx_ip, key[6]) == 0)
			return r;
	return NULL;
}

static void tr_insert(struct tls_results *t, struct tls_result *r)
{
	struct tls_result **slot = &t->buckets[r->hash % TLS_RESULTS_BUCKETS];
	r->next = *slot;
	*slot = r;
	t->n++;
}

/* A key that came back from a write the store refused: its counts added to the table's. */
static void tr_merge(struct tls_results *t, struct tls_result *r)
{
	const char *key[7] = { r->domain, r->policy_type, r->policy, r->result, r->sending_ip,
		r->mx_host, r->mx_ip };
	struct tls_result *have = tr_find(t, r->hash, r->day, key);
	if (have == NULL) {
		tr_insert(t, r);
		return;
	}
	have->sessions += r->sessions;
	tr_free_one(r);
}

void tls_results_count(struct tls_results *t, const struct mxr_tls_report *rep, int64_t now)
{
	bool failed = rep->result_type != NULL;
	/*
	 * RFC 8460 4.4: successes count per policy; failures per result, MX and
	 * addresses. A TLSA policy is one host's records, so its host stays.
	 */
	bool host = failed || rep->policy == MXR_TLSRPT_TLSA;
	const char *key[7] = {
		tr_s(rep->policy_domain), tls_results_policy_name(rep->policy),
		tr_s(rep->policy_text), failed ? rep->result_type : "",
		failed ? tr_s(rep->source_ip) : "", host ? tr_s(rep->mx_host) : "",
		failed ? tr_s(rep->mx_ip) : "",
	};
	int64_t day = tls_results_day(now);
	uint32_t h = tr_key_hash(day, key);
	struct tls_result *r = tr_find(t, h, day, key);
	if (r == NULL) {
		/* At the cap the counts go to the store now; a store that refuses loses this one. */
		if (t->n >= TLS_RESULTS_MAX && tls_results_flush(t) != 0)
			return;
		r = xcalloc(1, sizeof(*r));
		r->hash = h;
		r->day = day;
		r->domain = xstrdup(key[0]);
		r->policy_type = xstrdup(key[1]);
		r->policy = xstrdup(key[2]);
		r->result = xstrdup(key[3]);
		r->sending_ip = xstrdup(key[4]);
		r->mx_host = xstrdup(key[5]);
		r->mx_ip = xstrdup(key[6]);
		tr_insert(t, r);
	}
	r->sessions++;
	if (failed) {
		free(r->mx_helo);
		r->mx_helo = tr_clean(tr_s(rep->mx_helo));
		free(r->detail);
		r->detail = tr_clean(tr_s(rep->detail));
	} else if (r->mx_helo == NULL) {
		r->mx_helo = xstrdup("");
		r->detail = xstrdup("");
	}
}
