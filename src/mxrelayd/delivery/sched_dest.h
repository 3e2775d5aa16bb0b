/*
 * sched_dest: the scheduler's memory of each destination (a recipient
 * domain, or the smarthost its route names): deliveries running there,
 * the jobs waiting for a slot, and the backoff of a destination that
 * keeps failing (RFC 5321 4.5.4.1: remember unreachable hosts, delay per
 * destination rather than per message).
 *
 * Owns: the table of destinations (a hash by key), the FIFO of waiting
 * jobs of each, the ready queue that visits destinations round-robin,
 * and the backoff arithmetic's state. Never: starts deliveries, frees
 * jobs (they belong to the scheduler) or touches the queue store.
 */
#ifndef MXR_SCHED_DEST_H
#define MXR_SCHED_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;

/* Longest destination key: a domain, or a smarthost "host[:port]". */
#define SCHED_DEST_KEY_MAX 320

/* Embedded first in what waits at a destination (the scheduler's job). */
struct sched_dest_link {
	struct sched_dest_link *next;
};

struct sched_dest {
	char key[SCHED_DEST_KEY_MAX];
	unsigned running;		/* deliveries in flight there */
	struct sched_dest_link *wait_head, *wait_tail;	/* not owned */
	size_t nwait;
	unsigned failures;		/* destination-level failures in a row */
	time_t backoff_from;		/* when the backoff was set (a clock stepped back ends it) */
	time_t backoff_until;		/* nothing is tried there before this */
	unsigned epoch;			/* grows with each counted failure */
	char reason[256];		/* what the last failure said (printable) */
	bool in_ready;			/* in the table's ready queue */
	bool fleet_full;		/* a shared store gave no slot: out of the ready queue
					   until the next tick (sched_dest_unfull_all) */
	int64_t fleet_changed;		/* the shared store's time of the state adopted last */
	struct sched_dest *hnext;	/* hash chain */
	struct sched_dest *rnext;	/* ready queue */
};

struct sched_dests;

struct sched_dests *sched_dest_table_new(void);
/* Free the table and every destination; their wait lists must be empty. NULL is fine. */
void sched_dest_table_free(struct sched_dests *t);
/* The destination named key (created when new). */
struct sched_dest *sched_dest_get(struct sched_dests *t, const char *key);
/* The destination named key, or NULL. */
struct sched_dest *sched_dest_find(struct sched_dests *t, const char *key);
size_t sched_dest_count(const struct sched_dests *t);
/* Call fn for every destination remembered (none may be added or removed meanwhile). */
void sched_dest_each(const struct sched_dests *t, void (*fn)(void *arg,
    const struct sched_dest *d), void *arg);

/* Queue l at d's tail and put d in the ready queue. */
void sched_dest_push(struct sched_dests *t, struct sched_dest *d, struct sched_dest_link *l);
/* Queue l at d's head (a job given back before it started) and put d in the ready queue. */
void sched_dest_push_front(struct sched_dests *t, struct sched_dest *d, struct sched_dest_link *l);
/* Take d's oldest waiting job, or NULL. */
struct sched_dest_link *sched_dest_pop(struct sched_dest *d);
/*
 * A destination with jobs waiting, in the ready queue or not (one at its
 * concurrency limit has left it), or NULL. Walks the whole table: for
 * draining at stop, not for scheduling.
 */
struct sched_dest *sched_dest_any_waiting(struct sched_dests *t);
/*
 * Clear fleet_full everywhere, putting those with waiting jobs back in
 * the ready queue: the number cleared.
 */
size_t sched_dest_unfull_all(struct sched_dests *t);
/* Put d at the end of the ready queue (when it has waiting jobs and is not there). */
void sched_dest_ready(struct sched_dests *t, struct sched_dest *d);
/* Take the first destination of the ready queue, or NULL. */
struct sched_dest *sched_dest_next_ready(struct sched_dests *t);

/*
 * A delivery started when d's epoch was start_epoch found the destination
 * unreachable at now (every MX failed at DNS or connection level).
 * Counted once per wave: deliveries started before the last counted
 * failure (an older epoch) do not grow the backoff again. Returns true
 * when the destination is (now) backed off.
 */
bool sched_dest_failed(struct sched_dest *d, const struct config *cfg, unsigned start_epoch,
    time_t now, const char *reason);
/* A delivery reached the destination: forget its failures. */
void sched_dest_succeeded(struct sched_dest *d);
/*
 * An administrator's flush: forget the failures and backoff of every
 * destination, so that what was flushed is tried now (as Postfix's flush
 * empties its dead-destination cache). Returns how many were backed off.
 */
size_t sched_dest_forgive_all(struct sched_dests *t);
/* Whether nothing may be tried at d now: from backoff_from until backoff_until. */
bool sched_dest_backed_off(const struct sched_dest *d, time_t now);

/*
 * Free idle destinations (nothing running or waiting) whose backoff has
 * been over for keep seconds; those without failures go at once. Returns
 * the number freed.
 */
size_t sched_dest_sweep(struct sched_dests *t, time_t now, time_t keep);

#endif
