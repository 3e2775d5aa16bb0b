/*
 * metrics_dest: per-destination outcomes for the busiest few destinations
 * (see metrics_dest.h).
 */
#include "metrics/metrics_dest.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static const char *const metrics_dest_status_names[METRICS_DEST_NSTATUS] = {
	"delivered", "deferred", "failed",
};

/* Hash chains over the entries: a count finds its destination without a scan. */
#define METRICS_DEST_BUCKETS 1024
#define METRICS_DEST_NONE SIZE_MAX

/* A destination remembered: its score, and its counts while it holds a slot. */
struct metrics_dest_entry {
	char *name;			/* owned */
	size_t next;			/* next entry of its hash chain, or METRICS_DEST_NONE */
	double score;			/* recent outcomes, decayed */
	bool slotted;			/* has a series of its own */
	uint64_t counts[METRICS_DEST_NSTATUS];	/* since it got its slot */
};

struct metrics_dest {
	struct metrics_family *family;	/* borrowed from the registry */
	size_t slots;			/* destinations with a series of their own, at most */
	size_t nslotted;
	struct metrics_dest_entry *entries;	/* owned; nentries of METRICS_DEST_CANDIDATES */
	size_t nentries;
	uint64_t other[METRICS_DEST_NSTATUS];
	uint64_t since_decay;
	size_t buckets[METRICS_DEST_BUCKETS];	/* first entry of each chain */
};

static size_t metrics_dest_bucket(const char *name)
{
	uint32_t h = 2166136261u;
	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h % METRICS_DEST_BUCKETS;
}

/* The quietest slotted entry, or NULL. */
static struct metrics_dest_entry *metrics_dest_quietest(struct metrics_dest *d, bool slotted)
{
	struct metrics_dest_entry *q = NULL;
	for (size_t i = 0; i < d->nentries; i++) {
		struct metrics_dest_entry *e = &d->entries[i];
		if (e->slotted == slotted && (q == NULL || e->score < q->score))
			q = e;
	}
	return q;
}

static struct metrics_dest_entry *metrics_dest_busiest_unslotted(struct metrics_dest *d)
{
	struct metrics_dest_entry *b = NULL;
	for (size_t i = 0; i < d->nentries; i++) {
		struct metrics_dest_entry *e = &d->entries[i];
		if (!e->slotted && (b == NULL || e->score > b->score))
			b = e;
	}
	return b;
}

static void metrics_dest_unslot(struct metrics_dest *d, struct metrics_dest_entry *e)
{
	e->slotted = false;
	memset(e->counts, 0, sizeof(e->counts));
	d->nslotted--;
}

/*
 * At writing time: slots past the configured number given up, and a
 * destination twice as busy as the quietest slotted one takes its slot.
 */
static void metrics_dest_rebalance(struct metrics_dest *d)
{
	while (d->nslotted > d->slots)
		metrics_dest_unslot(d, metrics_dest_quietest(d, true));
	for (;;) {
		struct metrics_dest_entry *b = metrics_dest_busiest_unslotted(d);
		if (b == NULL || d->slots == 0)
			return;
		if (d->nslotted == d->slots) {
			struct metrics_dest_entry *q = metrics_dest_quietest(d, true);
			if (!(b->score > 2 * q->score))
				return;
			metrics_dest_unslot(d, q);
		}
		b->slotted = true;
		d->nslotted++;
	}
}

static void metrics_dest_collect(struct metrics_text *t, const struct metrics_family *f, void *arg)
{
	struct metrics_dest *d = arg;
	(void)f;
	metrics_dest_rebalance(d);
	for (size_t i = 0; i < d->nentries; i++) {
		const struct metrics_dest_entry *e = &d->entries[i];
		if (!e->slotted)
			continue;
		for (size_t s = 0; s < METRICS_DEST_NSTATUS; s++) {
			const char *values[] = { e->name, metrics_dest_status_names[s] };
			metrics_text_value(t, values, (double)e->counts[s]);
		}
	}
	for (size_t s = 0; s < METRICS_DEST_NSTATUS; s++) {
		const char *values[] = { "other", metrics_dest_status_names[s] };
		metrics_text_value(t, values, (double)d->other[s]);
	}
}

struct metrics_dest *metrics_dest_new(struct metrics *m, size_t slots)
{
	struct metrics_dest *d = xcalloc(1, sizeof(*d));
	d->slots = slots;
	d->entries = xcalloc(METRICS_DEST_CANDIDATES, sizeof(*d->entries));
	for (size_t b = 0; b < METRICS_DEST_BUCKETS; b++)
		d->buckets[b] = METRICS_DEST_NONE;
	d->family = metrics_family_new(m, METRICS_COUNTER, "mxrelay_destination_deliveries_total",
	    "Recipient outcomes per destination, for the busiest destinations; the rest count as "
	    "destination=\"other\"", "destination,status");
	metrics_family_set_collect(d->family, metrics_dest_collect, d);
	return d;
}

void metrics_dest_free(struct metrics_dest *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->nentries; i++)
		free(d->entries[i].name);
	free(d->entries);
	free(d);
}

void metrics_dest_set_slots(struct metrics_dest *d, size_t slots)
{
	d->slots = slots;
}

/* Take entry i out of its hash chain. */
static void metrics_dest_unlink(struct metrics_dest *d, size_t i)
{
	size_t *at = &d->buckets[metrics_dest_bucket(d->entries[i].name)];
	while (*at != i)
		at = &d->entries[*at].next;
	*at = d->entries[i].next;
}

/* The entry of name, made (in place of the quietest unslotted one when full), or NULL. */
static struct metrics_dest_entry *metrics_dest_entry(struct metrics_dest *d, const char *name)
{
	size_t b = metrics_dest_bucket(name);
	for (size_t i = d->buckets[b]; i != METRICS_DEST_NONE; i = d->entries[i].next)
		if (strcmp(d->entries[i].name, name) == 0)
			return &d->entries[i];
	struct metrics_dest_entry *e;
	if (d->nentries < METRICS_DEST_CANDIDATES) {
		e = &d->entries[d->nentries++];
	} else {
		/* Full: the quietest destination without a slot is forgotten. */
		e = metrics_dest_quietest(d, false);
		if (e == NULL)
			return NULL;
		metrics_dest_unlink(d, (size_t)(e - d->entries));
		free(e->name);
	}
	*e = (struct metrics_dest_entry){ .name = xstrdup(name), .next = d->buckets[b] };
	d->buckets[b] = (size_t)(e - d->entries);
	return e;
}

void metrics_dest_count(struct metrics_dest *d, const char *destination,
    enum metrics_dest_status status, unsigned n)
{
	d->since_decay += n;
	if (d->since_decay >= METRICS_DEST_DECAY) {
		for (size_t i = 0; i < d->nentries; i++)
			d->entries[i].score /= 2;
		d->since_decay = 0;
	}
	struct metrics_dest_entry *e = metrics_dest_entry(d, destination);
	if (e != NULL) {
		e->score += n;
		if (!e->slotted && d->nslotted < d->slots) {
			e->slotted = true;
			d->nslotted++;
		}
	}
	if (e != NULL && e->slotted)
		e->counts[status] += n;
	else
		d->other[status] += n;
}
