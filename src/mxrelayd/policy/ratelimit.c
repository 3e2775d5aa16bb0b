/*
 * ratelimit: token buckets in a bounded table (see ratelimit.h).
 *
 * Owns: the entries, each in three structures at once: a chained hash
 * table (SipHash-2-4 with the table's key) to find it, a binary min-heap
 * on the time it is full again to drop it then, and a list in use order
 * to drop the least recently used one from a full table; those refused
 * are also in a list in refusal order, for the status summary.
 *
 * A bucket is kept as the generic cell rate algorithm keeps it: one
 * number, the time it is full again (tat). Times are counted in units of
 * 1/n millisecond, so that an item costs exactly period milliseconds
 * worth of units, the bucket holds n * period of them, and no division
 * rounds: the time until one more fits is exact, rounded up to the next
 * millisecond only when it is reported.
 * Never: does I/O, logs or reads the clock; never walks all entries.
 */
#include "policy/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

/* Entries dropped at most per call for being full again: the work of one call stays small. */
#define RATELIMIT_EXPIRE_BURST 256

struct ratelimit_ent {
	struct ratelimit_ent *chain;		/* next in the hash bucket */
	struct ratelimit_ent *used_prev;	/* use order: used_head is the least recent */
	struct ratelimit_ent *used_next;
	struct ratelimit_ent *ref_prev;		/* refusal order: ref_head is the latest */
	struct ratelimit_ent *ref_next;
	uint64_t tat;		/* full again at this time, in units of 1/n ms */
	uint64_t full_ms;	/* the same in whole milliseconds, rounded up: the heap's key */
	uint32_t n;		/* the rate tat is counted in: n per period_ms */
	uint32_t period_ms;
	uint32_t heap_at;	/* index in the heap */
	uint32_t bucket;	/* index in the hash table */
	uint32_t refusals;	/* since it was made (it is dropped once full) */
	bool refused;		/* linked in the refusal order */
	uint8_t kind;
	uint8_t keylen;
	uint8_t key[];		/* keylen octets */
};

struct ratelimit {
	size_t max;				/* entries held at most */
	uint64_t k0, k1;			/* the hash key */
	uint64_t last_ms;			/* the latest time seen */
	size_t nbuckets;			/* a power of two; 0 until the first entry */
	struct ratelimit_ent **buckets;		/* owned array of chains of owned entries */
	struct ratelimit_ent **heap;		/* owned array; the entries are the buckets' */
	size_t n, heap_cap;
	struct ratelimit_ent *used_head, *used_tail;
	struct ratelimit_ent *ref_head, *ref_tail;
	uint64_t evictions;
	bool notice_due;			/* an eviction happened and was not told yet */
	bool noticed;				/* it was told: never again */
	uint64_t refusals[RATELIMIT_NKINDS];
};

static const char *const ratelimit_kind_names[RATELIMIT_NKINDS] = {
	"client_connection", "client_message", "client_recipient", "user_message",
	"user_recipient",
};

const char *ratelimit_kind_name(enum ratelimit_kind kind)
{
	return (unsigned)kind < RATELIMIT_NKINDS ? ratelimit_kind_names[kind] : "?";
}

bool ratelimit_kind_is_user(enum ratelimit_kind kind)
{
	return kind == RATELIMIT_USER_MESSAGE || kind == RATELIMIT_USER_RECIPIENT;
}

/* ---- the hash: SipHash-2-4 (Aumasson and Bernstein) --------------------- */

static uint64_t ratelimit_rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static void ratelimit_sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ratelimit_rotl(v[1], 13) ^ v[0];
	v[0] = ratelimit_rotl(v[0], 32);
	v[2] += v[3];
	v[3] = ratelimit_rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ratelimit_rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ratelimit_rotl(v[1], 17) ^ v[2];
	v[2] = ratelimit_rotl(v[2], 32);
}

/* One 64-bit word of p, little-endian, of len (<= 8) octets. */
static uint64_t ratelimit_le64(const uint8_t *p, size_t len)
{
	uint64_t w = 0;
	for (size_t i = 0; i < len; i++)
		w |= (uint64_t)p[i] << (8 * i);
	return w;
}

static uint64_t ratelimit_siphash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
	uint64_t v[4] = { 0x736f6d6570736575ull ^ k0, 0x646f72616e646f6dull ^ k1,
		0x6c7967656e657261ull ^ k0, 0x7465646279746573ull ^ k1 };
	size_t whole = len - len % 8;
	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = ratelimit_le64(in + i, 8);
		v[3] ^= m;
		ratelimit_sipround(v);
		ratelimit_sipround(v);
		v[0] ^= m;
	}
	uint64_t b = ((uint64_t)len << 56) | ratelimit_le64(in + whole, len % 8);
	v[3] ^= b;
	ratelimit_sipround(v);
	ratelimit_sipround(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		ratelimit_sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The hash of kind and key. */
static uint64_t ratelimit_hash(const struct ratelimit *t, enum ratelimit_kind kind,
    const void *key, size_t keylen)
{
	uint8_t buf[1 + RATELIMIT_KEY_MAX];
	buf[0] = (uint8_t)kind;
	memcpy(buf + 1, key, keylen);
	return ratelimit_siphash(t->k0, t->k1, buf, 1 + keylen);
}

/* ---- the heap, on full_ms ------------------------------------------------ */

static void ratelimit_heap_set(struct ratelimit *t, size_t i, struct ratelimit_ent *e)
{
	t->heap[i] = e;
	e->heap_at = (uint32_t)i;
}

/* Move the entry at i up or down to its place. */
static void ratelimit_heap_fix(struct ratelimit *t, size_t i)
{
	struct ratelimit_ent *e = t->heap[i];
	while (i > 0 && t->heap[(i - 1) / 2]->full_ms > e->full_ms) {
		ratelimit_heap_set(t, i, t->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= t->n)
			break;
		if (c + 1 < t->n && t->heap[c + 1]->full_ms < t->heap[c]->full_ms)
			c++;
		if (t->heap[c]->full_ms >= e->full_ms)
			break;
		ratelimit_heap_set(t, i, t->heap[c]);
		i = c;
	}
	ratelimit_heap_set(t, i, e);
}

/* Take e out of the heap (one entry fewer held). */
static void ratelimit_heap_remove(struct ratelimit *t, struct ratelimit_ent *e)
{
	size_t i = e->heap_at, last = t->n - 1;
	t->n = last;
	if (i != last) {
		ratelimit_heap_set(t, i, t->heap[last]);
		ratelimit_heap_fix(t, i);
	}
	t->heap[last] = NULL;
}

/* The entry that is full first, when it is full by now_ms; else NULL. */
static struct ratelimit_ent *ratelimit_full_first(const struct ratelimit *t, uint64_t now_ms)
{
	struct ratelimit_ent *e = t->n > 0 ? t->heap[0] : NULL;
	return e != NULL && e->full_ms <= now_ms ? e : NULL;
}

/* ---- the lists ------------------------------------------------------------ */

static void ratelimit_used_unlink(struct ratelimit *t, struct ratelimit_ent *e)
{
	if (e->used_prev != NULL)
		e->used_prev->used_next = e->used_next;
	else
		t->used_head = e->used_next;
	if (e->used_next != NULL)
		e->used_next->used_prev = e->used_prev;
	else
		t->used_tail = e->used_prev;
	e->used_prev = e->used_next = NULL;
}

/* e was just used: it goes to the tail, the most recent end. */
static void ratelimit_used_touch(struct ratelimit *t, struct ratelimit_ent *e)
{
	if (t->used_tail == e)
		return;
	if (e->used_prev != NULL || e->used_next != NULL || t->used_head == e)
		ratelimit_used_unlink(t, e);
	e->used_prev = t->used_tail;
	if (t->used_tail != NULL)
		t->used_tail->used_next = e;
	else
		t->used_head = e;
	t->used_tail = e;
}

static void ratelimit_ref_unlink(struct ratelimit *t, struct ratelimit_ent *e)
{
	if (!e->refused)
		return;
	if (e->ref_prev != NULL)
		e->ref_prev->ref_next = e->ref_next;
	else
		t->ref_head = e->ref_next;
	if (e->ref_next != NULL)
		e->ref_next->ref_prev = e->ref_prev;
	else
		t->ref_tail = e->ref_prev;
	e->ref_prev = e->ref_next = NULL;
	e->refused = false;
}

/* e was just refused: it goes to the head, the latest end. */
static void ratelimit_ref_push(struct ratelimit *t, struct ratelimit_ent *e)
{
	ratelimit_ref_unlink(t, e);
	e->ref_next = t->ref_head;
	if (t->ref_head != NULL)
		t->ref_head->ref_prev = e;
	else
		t->ref_tail = e;
	t->ref_head = e;
	e->refused = true;
}

/* ---- entries -------------------------------------------------------------- */

struct ratelimit *ratelimit_new(size_t max_entries, const uint8_t seed[16])
{
	struct ratelimit *t = xcalloc(1, sizeof(*t));
	t->max = max_entries > 0 ? max_entries : 1;
	t->k0 = ratelimit_le64(seed, 8);
	t->k1 = ratelimit_le64(seed + 8, 8);
	return t;
}

void ratelimit_free(struct ratelimit *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->heap[i]);
	free(t->heap);
	free(t->buckets);
	free(t);
}

/* The entry of kind and key, or NULL. */
static struct ratelimit_ent *ratelimit_find(const struct ratelimit *t, enum ratelimit_kind kind,
    const void *key, size_t keylen)
{
	if (t->nbuckets == 0 || keylen > RATELIMIT_KEY_MAX)
		return NULL;
	size_t b = (size_t)(ratelimit_hash(t, kind, key, keylen) & (t->nbuckets - 1));
	for (struct ratelimit_ent *e = t->buckets[b]; e != NULL; e = e->chain)
		if (e->kind == kind && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return e;
	return NULL;
}

/* Forget e altogether. */
static void ratelimit_drop(struct ratelimit *t, struct ratelimit_ent *e)
{
	struct ratelimit_ent **p = &t->buckets[e->bucket];
	while (*p != e)
		p = &(*p)->chain;
	*p = e->chain;
	ratelimit_used_unlink(t, e);
	ratelimit_ref_unlink(t, e);
	ratelimit_heap_remove(t, e);
	free(e);
}

/* Take the time of a call, never earlier than the last; drop some of the buckets full by then. */
static uint64_t ratelimit_advance(struct ratelimit *t, uint64_t now_ms)
{
	if (now_ms < t->last_ms)
		now_ms = t->last_ms;
	t->last_ms = now_ms;
	struct ratelimit_ent *e;
	for (int i = 0; i < RATELIMIT_EXPIRE_BURST && (e = ratelimit_full_first(t, now_ms)) != NULL; i++)
		ratelimit_drop(t, e);
	return now_ms;
}

/* Units of e's rate the bucket is short of full at now_ms (0: full). */
static uint64_t ratelimit_debt(const struct ratelimit_ent *e, uint64_t now_ms)
{
	uint64_t now_u = now_ms * e->n;
	return e->tat > now_u ? e->tat - now_u : 0;
}

/* Set e short of full by debt units at now_ms, and its place in the heap. */
static void ratelimit_set_debt(struct ratelimit *t, struct ratelimit_ent *e, uint64_t now_ms,
    uint64_t debt)
{
	e->tat = now_ms * e->n + debt;
	e->full_ms = (e->tat + e->n - 1) / e->n;
	ratelimit_heap_fix(t, e->heap_at);
}

/*
 * Count e in rate from now on, keeping what it holds: the items it is
 * short of stay short (a fraction of one rounds down), at most the new n.
 */
static void ratelimit_rerate(struct ratelimit *t, struct ratelimit_ent *e,
    const struct cfg_rate *rate, uint64_t now_ms)
{
	uint32_t n = rate->n, period_ms = rate->period * 1000u;
	if (e->n == n && e->period_ms == period_ms)
		return;
	uint64_t debt = ratelimit_debt(e, now_ms);
	/* debt / old period items, in the new units: split so nothing overflows. */
	uint64_t items = debt / e->period_ms, part = debt % e->period_ms;
	uint64_t moved = items * period_ms + part * period_ms / e->period_ms;
	uint64_t cap = (uint64_t)n * period_ms;
	e->n = n;
	e->period_ms = period_ms;
	ratelimit_set_debt(t, e, now_ms, moved < cap ? moved : cap);
}

/* Make room for one more entry: a bucket full by now if there is one, else the least recent. */
static void ratelimit_make_room(struct ratelimit *t, uint64_t now_ms)
{
	if (t->n < t->max)
		return;
	struct ratelimit_ent *full = ratelimit_full_first(t, now_ms);
	if (full != NULL) {
		ratelimit_drop(t, full);
		return;
	}
	ratelimit_drop(t, t->used_head);
	t->evictions++;
	if (!t->noticed)
		t->notice_due = true;
}

/* A new entry for kind and key at rate, full, linked everywhere. */
static struct ratelimit_ent *ratelimit_add(struct ratelimit *t, enum ratelimit_kind kind,
    const void *key, size_t keylen, const struct cfg_rate *rate, uint64_t now_ms)
{
	if (t->nbuckets == 0) {
		t->nbuckets = 16;
		while (t->nbuckets < t->max)
			t->nbuckets *= 2;
		t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	}
	ratelimit_make_room(t, now_ms);
	if (t->n == t->heap_cap) {
		t->heap_cap = t->heap_cap == 0 ? 64 : t->heap_cap * 2;
		if (t->heap_cap > t->max)
			t->heap_cap = t->max;
		t->heap = xreallocarray(t->heap, t->heap_cap, sizeof(*t->heap));
	}
	struct ratelimit_ent *e = xcalloc(1, sizeof(*e) + keylen);
	e->kind = (uint8_t)kind;
	e->keylen = (uint8_t)keylen;
	memcpy(e->key, key, keylen);
	e->n = rate->n;
	e->period_ms = rate->period * 1000u;
	e->bucket = (uint32_t)(ratelimit_hash(t, kind, key, keylen) & (t->nbuckets - 1));
	e->chain = t->buckets[e->bucket];
	t->buckets[e->bucket] = e;
	e->heap_at = (uint32_t)t->n;
	t->heap[t->n++] = e;
	ratelimit_set_debt(t, e, now_ms, 0);
	ratelimit_used_touch(t, e);
	return e;
}

/* Milliseconds until e has room for one more at now_ms (its own rate). */
static uint64_t ratelimit_wait_ent(const struct ratelimit_ent *e, uint64_t now_ms)
{
	uint64_t debt = ratelimit_debt(e, now_ms);
	uint64_t cap = (uint64_t)e->n * e->period_ms;
	if (debt + e->period_ms <= cap)
		return 0;
	uint64_t over = debt + e->period_ms - cap;
	return (over + e->n - 1) / e->n;
}

uint64_t ratelimit_wait(struct ratelimit *t, enum ratelimit_kind kind, const void *key,
    size_t keylen, const struct cfg_rate *rate, uint64_t now_ms)
{
	if (rate->n == 0)
		return 0;
	now_ms = ratelimit_advance(t, now_ms);
	struct ratelimit_ent *e = ratelimit_find(t, kind, key, keylen);
	if (e == NULL)
		return 0;
	ratelimit_rerate(t, e, rate, now_ms);
	return ratelimit_wait_ent(e, now_ms);
}

bool ratelimit_take(struct ratelimit *t, enum ratelimit_kind kind, const void *key,
    size_t keylen, const struct cfg_rate *rate, uint64_t now_ms)
{
	if (rate->n == 0)
		return true;
	if (keylen > RATELIMIT_KEY_MAX)
		panic("ratelimit_take: a key of %zu octets", keylen);
	now_ms = ratelimit_advance(t, now_ms);
	struct ratelimit_ent *e = ratelimit_find(t, kind, key, keylen);
	if (e == NULL)
		e = ratelimit_add(t, kind, key, keylen, rate, now_ms);
	else
		ratelimit_rerate(t, e, rate, now_ms);
	if (ratelimit_wait_ent(e, now_ms) > 0)
		return false;
	ratelimit_set_debt(t, e, now_ms, ratelimit_debt(e, now_ms) + e->period_ms);
	ratelimit_used_touch(t, e);
	return true;
}

void ratelimit_give(struct ratelimit *t, enum ratelimit_kind kind, const void *key,
    size_t keylen, unsigned count, uint64_t now_ms)
{
	now_ms = ratelimit_advance(t, now_ms);
	struct ratelimit_ent *e = ratelimit_find(t, kind, key, keylen);
	if (e == NULL || count == 0)
		return;
	uint64_t debt = ratelimit_debt(e, now_ms), back = (uint64_t)count * e->period_ms;
	if (debt <= back) {
		/* Full again: it holds nothing worth keeping. */
		ratelimit_drop(t, e);
		return;
	}
	ratelimit_set_debt(t, e, now_ms, debt - back);
}

void ratelimit_refused(struct ratelimit *t, enum ratelimit_kind kind, const void *key,
    size_t keylen, uint64_t now_ms)
{
	(void)ratelimit_advance(t, now_ms);
	if ((unsigned)kind < RATELIMIT_NKINDS)
		t->refusals[kind]++;
	struct ratelimit_ent *e = ratelimit_find(t, kind, key, keylen);
	if (e == NULL)
		return;
	if (e->refusals < UINT32_MAX)
		e->refusals++;
	ratelimit_ref_push(t, e);
	ratelimit_used_touch(t, e);
}

size_t ratelimit_count(struct ratelimit *t, uint64_t now_ms)
{
	now_ms = ratelimit_advance(t, now_ms);
	/* Drop every bucket full by now, not only a burst of them: the count is exact. */
	struct ratelimit_ent *e;
	while ((e = ratelimit_full_first(t, now_ms)) != NULL)
		ratelimit_drop(t, e);
	return t->n;
}

size_t ratelimit_max_entries(const struct ratelimit *t)
{
	return t->max;
}

uint64_t ratelimit_evictions(const struct ratelimit *t)
{
	return t->evictions;
}

bool ratelimit_eviction_notice(struct ratelimit *t)
{
	if (!t->notice_due)
		return false;
	t->notice_due = false;
	t->noticed = true;
	return true;
}

uint64_t ratelimit_refusals(const struct ratelimit *t, enum ratelimit_kind kind)
{
	return (unsigned)kind < RATELIMIT_NKINDS ? t->refusals[kind] : 0;
}

size_t ratelimit_limited(struct ratelimit *t, uint64_t now_ms, struct ratelimit_limited *out,
    size_t max)
{
	now_ms = ratelimit_advance(t, now_ms);
	size_t found = 0, looked = 0, budget = 4 * max + 64;
	for (struct ratelimit_ent *e = t->ref_head; e != NULL && found < max && looked < budget;
	    e = e->ref_next, looked++) {
		uint64_t wait = ratelimit_wait_ent(e, now_ms);
		if (wait == 0)
			continue;
		struct ratelimit_limited *l = &out[found++];
		l->kind = (enum ratelimit_kind)e->kind;
		l->keylen = e->keylen;
		memcpy(l->key, e->key, e->keylen);
		l->retry_ms = wait;
		l->refusals = e->refusals;
	}
	return found;
}
