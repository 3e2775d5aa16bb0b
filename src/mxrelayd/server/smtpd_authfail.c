/*
 * smtpd_authfail: AUTH failures per client, across sessions.
 *
 * Owns: the entries (a chained hash table for lookup, and a list in the
 * order their windows started). Every window has the same length and the
 * clock passed in never goes back, so a window that starts (again) goes to
 * the tail and the head is always the first to end: expiry pops from the
 * head on every call, a full table drops its head, and nothing is scanned.
 * Never: does I/O, reads the clock, or knows who tried which user.
 */
#include "smtpd_authfail.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd_limit.h"
#include "util/xalloc.h"

struct smtpd_authfail_ent {
	struct smtpd_authfail_ent *chain;	/* next in the bucket */
	struct smtpd_authfail_ent *prev, *next;	/* window order */
	struct smtpd_limit_key key;
	uint64_t start_ms;			/* first failure of the window */
	unsigned failures;
};

struct smtpd_authfail {
	unsigned limit;
	uint64_t window_ms;
	size_t max_clients;
	unsigned v6_prefix;
	uint64_t last_ms;			/* latest time seen: a time before it counts as it */
	size_t nclients;
	size_t nbuckets;			/* power of two */
	struct smtpd_authfail_ent **buckets;	/* owned */
	struct smtpd_authfail_ent *head, *tail;	/* owned entries, oldest window first */
};

struct smtpd_authfail *smtpd_authfail_new(unsigned limit, uint64_t window_ms, size_t max_clients,
    unsigned v6_prefix)
{
	struct smtpd_authfail *t = xcalloc(1, sizeof(*t));
	t->limit = limit;
	t->window_ms = window_ms;
	t->max_clients = max_clients > 0 ? max_clients : 1;
	t->v6_prefix = v6_prefix;
	t->nbuckets = 16;
	while (t->nbuckets < t->max_clients)
		t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	return t;
}

void smtpd_authfail_set_limit(struct smtpd_authfail *t, unsigned limit, uint64_t window_ms)
{
	t->limit = limit;
	t->window_ms = window_ms;
}

void smtpd_authfail_free(struct smtpd_authfail *t)
{
	if (t == NULL)
		return;
	struct smtpd_authfail_ent *e = t->head;
	while (e != NULL) {
		struct smtpd_authfail_ent *next = e->next;
		free(e);
		e = next;
	}
	free(t->buckets);
	free(t);
}

/* The bucket slot pointing at the entry for k (or where it would be linked). */
static struct smtpd_authfail_ent **smtpd_authfail_slot(struct smtpd_authfail *t,
    const struct smtpd_limit_key *k)
{
	struct smtpd_authfail_ent **p = &t->buckets[smtpd_limit_key_hash(k) & (t->nbuckets - 1)];
	while (*p != NULL && memcmp((*p)->key.b, k->b, sizeof(k->b)) != 0)
		p = &(*p)->chain;
	return p;
}

static void smtpd_authfail_unlink_order(struct smtpd_authfail *t, struct smtpd_authfail_ent *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = NULL;
}

static void smtpd_authfail_append_order(struct smtpd_authfail *t, struct smtpd_authfail_ent *e)
{
	e->prev = t->tail;
	e->next = NULL;
	if (t->tail != NULL)
		t->tail->next = e;
	else
		t->head = e;
	t->tail = e;
}

/* Forget the entry at the head of the window order. */
static void smtpd_authfail_drop_head(struct smtpd_authfail *t)
{
	struct smtpd_authfail_ent *e = t->head;
	struct smtpd_authfail_ent **slot = smtpd_authfail_slot(t, &e->key);
	*slot = e->chain;
	smtpd_authfail_unlink_order(t, e);
	free(e);
	t->nclients--;
}

/* Take the time of this call, never earlier than the last, and drop the windows ended by then. */
static uint64_t smtpd_authfail_advance(struct smtpd_authfail *t, uint64_t now_ms)
{
	if (now_ms < t->last_ms)
		now_ms = t->last_ms;
	t->last_ms = now_ms;
	while (t->head != NULL && now_ms - t->head->start_ms >= t->window_ms)
		smtpd_authfail_drop_head(t);
	return now_ms;
}

bool smtpd_authfail_blocked(struct smtpd_authfail *t, const struct sockaddr *sa, uint64_t now_ms,
    uint64_t *retry_ms)
{
	struct smtpd_limit_key k;
	if (t->limit == 0 || !smtpd_limit_key_of(sa, t->v6_prefix, &k))
		return false;
	now_ms = smtpd_authfail_advance(t, now_ms);
	struct smtpd_authfail_ent *e = *smtpd_authfail_slot(t, &k);
	if (e == NULL || e->failures < t->limit)
		return false;
	if (retry_ms != NULL)
		*retry_ms = e->start_ms + t->window_ms - now_ms;
	return true;
}

unsigned smtpd_authfail_record(struct smtpd_authfail *t, const struct sockaddr *sa, uint64_t now_ms)
{
	struct smtpd_limit_key k;
	if (t->limit == 0 || !smtpd_limit_key_of(sa, t->v6_prefix, &k))
		return 0;
	now_ms = smtpd_authfail_advance(t, now_ms);
	struct smtpd_authfail_ent **slot = smtpd_authfail_slot(t, &k);
	struct smtpd_authfail_ent *e = *slot;
	if (e != NULL) {
		/* Its window is still open (an ended one was expired above): one more. */
		if (e->failures < UINT_MAX)
			e->failures++;
		return e->failures;
	}
	if (t->nclients >= t->max_clients) {
		smtpd_authfail_drop_head(t);
		slot = smtpd_authfail_slot(t, &k);
	}
	e = xcalloc(1, sizeof(*e));
	e->key = k;
	e->start_ms = now_ms;
	e->failures = 1;
	*slot = e;
	smtpd_authfail_append_order(t, e);
	t->nclients++;
	return 1;
}

size_t smtpd_authfail_clients(struct smtpd_authfail *t, uint64_t now_ms)
{
	(void)smtpd_authfail_advance(t, now_ms);
	return t->nclients;
}
