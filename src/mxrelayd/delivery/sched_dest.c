/*
 * sched_dest: per-destination state of the scheduler (see sched_dest.h).
 *
 * Owns: the destination table and its entries, the ready queue.
 * Never: owns or frees the jobs linked into a wait list.
 */
#include "sched_dest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_retry.h"
#include "util/xalloc.h"

#define SCHED_DEST_BUCKETS 4096

struct sched_dests {
	struct sched_dest *bucket[SCHED_DEST_BUCKETS];
	size_t count;
	struct sched_dest *ready_head, *ready_tail;
};

/* FNV-1a over the key. */
static size_t sched_dest_hash(const char *key)
{
	uint32_t h = 2166136261u;
	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 16777619u;
	}
	return h % SCHED_DEST_BUCKETS;
}

struct sched_dests *sched_dest_table_new(void)
{
	return xcalloc(1, sizeof(struct sched_dests));
}

void sched_dest_table_free(struct sched_dests *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < SCHED_DEST_BUCKETS; i++) {
		struct sched_dest *d = t->bucket[i];
		while (d != NULL) {
			struct sched_dest *next = d->hnext;
			free(d);
			d = next;
		}
	}
	free(t);
}

struct sched_dest *sched_dest_find(struct sched_dests *t, const char *key)
{
	for (struct sched_dest *d = t->bucket[sched_dest_hash(key)]; d != NULL; d = d->hnext)
		if (strcmp(d->key, key) == 0)
			return d;
	return NULL;
}

struct sched_dest *sched_dest_get(struct sched_dests *t, const char *key)
{
	struct sched_dest *d = sched_dest_find(t, key);
	if (d != NULL)
		return d;
	d = xcalloc(1, sizeof(*d));
	snprintf(d->key, sizeof(d->key), "%s", key);
	size_t h = sched_dest_hash(d->key);
	d->hnext = t->bucket[h];
	t->bucket[h] = d;
	t->count++;
	return d;
}

size_t sched_dest_count(const struct sched_dests *t)
{
	return t->count;
}

void sched_dest_each(const struct sched_dests *t, void (*fn)(void *arg,
    const struct sched_dest *d), void *arg)
{
	for (size_t b = 0; b < SCHED_DEST_BUCKETS; b++)
		for (const struct sched_dest *d = t->bucket[b]; d != NULL; d = d->hnext)
			fn(arg, d);
}

void sched_dest_ready(struct sched_dests *t, struct sched_dest *d)
{
	if (d->in_ready || d->nwait == 0 || d->fleet_full)
		return;
	d->in_ready = true;
	d->rnext = NULL;
	if (t->ready_tail != NULL)
		t->ready_tail->rnext = d;
	else
		t->ready_head = d;
	t->ready_tail = d;
}

struct sched_dest *sched_dest_next_ready(struct sched_dests *t)
{
	struct sched_dest *d = t->ready_head;
	if (d == NULL)
		return NULL;
	t->ready_head = d->rnext;
	if (t->ready_head == NULL)
		t->ready_tail = NULL;
	d->rnext = NULL;
	d->in_ready = false;
	return d;
}

void sched_dest_push(struct sched_dests *t, struct sched_dest *d, struct sched_dest_link *l)
{
	l->next = NULL;
	if (d->wait_tail != NULL)
		d->wait_tail->next = l;
	else
		d->wait_head = l;
	d->wait_tail = l;
	d->nwait++;
	sched_dest_ready(t, d);
}

void sched_dest_push_front(struct sched_dests *t, struct sched_dest *d, struct sched_dest_link *l)
{
	l->next = d->wait_head;
	d->wait_head = l;
	if (d->wait_tail == NULL)
		d->wait_tail = l;
	d->nwait++;
	sched_dest_ready(t, d);
}

size_t sched_dest_unfull_all(struct sched_dests *t)
{
	size_t n = 0;
	for (size_t i = 0; i < SCHED_DEST_BUCKETS; i++)
		for (struct sched_dest *d = t->bucket[i]; d != NULL; d = d->hnext) {
			if (!d->fleet_full)
				continue;
			d->fleet_full = false;
			sched_dest_ready(t, d);
			n++;
		}
	return n;
}

struct sched_dest_link *sched_dest_pop(struct sched_dest *d)
{
	struct sched_dest_link *l = d->wait_head;
	if (l == NULL)
		return NULL;
	d->wait_head = l->next;
	if (d->wait_head == NULL)
		d->wait_tail = NULL;
	d->nwait--;
	l->next = NULL;
	return l;
}

struct sched_dest *sched_dest_any_waiting(struct sched_dests *t)
{
	for (size_t i = 0; i < SCHED_DEST_BUCKETS; i++)
		for (struct sched_dest *d = t->bucket[i]; d != NULL; d = d->hnext)
			if (d->nwait > 0)
				return d;
	return NULL;
}

bool sched_dest_failed(struct sched_dest *d, const struct config *cfg, unsigned start_epoch,
    time_t now, const char *reason)
{
	snprintf(d->reason, sizeof(d->reason), "%s", reason != NULL ? reason : "");
	/* A wave of deliveries started together fails together: count it once. */
	if (d->failures == 0 || start_epoch == d->epoch) {
		d->failures++;
		d->epoch++;
		d->backoff_from = now;
		d->backoff_until = now + (time_t)sched_retry_backoff(cfg, d->failures);
	}
	return sched_dest_backed_off(d, now);
}

void sched_dest_succeeded(struct sched_dest *d)
{
	d->failures = 0;
	d->backoff_from = 0;
	d->backoff_until = 0;
	d->reason[0] = '\0';
}

size_t sched_dest_forgive_all(struct sched_dests *t)
{
	size_t n = 0;
	for (size_t i = 0; i < SCHED_DEST_BUCKETS; i++)
		for (struct sched_dest *d = t->bucket[i]; d != NULL; d = d->hnext) {
			if (d->failures == 0)
				continue;
			sched_dest_succeeded(d);
			n++;
		}
	return n;
}

bool sched_dest_backed_off(const struct sched_dest *d, time_t now)
{
	/* Before the failure that set it, the clock was stepped back: that must not stretch it. */
	return d->failures > 0 && now >= d->backoff_from && now < d->backoff_until;
}

size_t sched_dest_sweep(struct sched_dests *t, time_t now, time_t keep)
{
	size_t freed = 0;
	for (size_t i = 0; i < SCHED_DEST_BUCKETS; i++) {
		struct sched_dest **pp = &t->bucket[i];
		while (*pp != NULL) {
			struct sched_dest *d = *pp;
			bool idle = d->running == 0 && d->nwait == 0 && !d->in_ready;
			bool stale = d->failures == 0 || d->backoff_until + keep <= now;
			if (idle && stale) {
				*pp = d->hnext;
				free(d);
				t->count--;
				freed++;
			} else {
				pp = &d->hnext;
			}
		}
	}
	return freed;
}
