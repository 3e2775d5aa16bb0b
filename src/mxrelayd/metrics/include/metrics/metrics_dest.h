/*
 * metrics_dest: delivery outcomes per destination, for a bounded set of
 * destinations (mxrelay_destination_deliveries_total{destination,status}).
 *
 * Owns: the choice of which destinations get series of their own: at
 * most `slots` of them, the busiest by recent traffic (a score per
 * destination, halved every METRICS_DEST_DECAY outcomes, kept for at most
 * METRICS_DEST_CANDIDATES destinations); every other outcome counts in
 * destination="other". A destination gets its series while a slot is free,
 * or when, at writing time, its score is more than twice that of the
 * quietest destination holding one, which then gives its slot up (its
 * series stops being written; its outcomes count in "other" from then on).
 * A destination's series counts from the moment it got its slot, so every
 * series only grows, "other" included.
 * Never: holds more than slots + 1 series or more than the candidates;
 * scans them to count (a hash finds a destination). Threads: the loop
 * thread only (counting and writing the text both run there).
 */
#ifndef MXR_METRICS_DEST_H
#define MXR_METRICS_DEST_H

#include <stddef.h>

#include "metrics/metrics.h"

/* Destinations whose traffic is remembered to choose the busiest. */
#define METRICS_DEST_CANDIDATES 1024
/* Outcomes after which every score is halved: recent traffic counts most. */
#define METRICS_DEST_DECAY 10000

/* The statuses counted, as label values. */
enum metrics_dest_status {
	METRICS_DEST_DELIVERED,
	METRICS_DEST_DEFERRED,
	METRICS_DEST_FAILED,
	METRICS_DEST_NSTATUS
};

struct metrics_dest;

/* The family in m, with at most slots destinations of their own (0: only "other"). */
struct metrics_dest *metrics_dest_new(struct metrics *m, size_t slots);
void metrics_dest_free(struct metrics_dest *d);
/* A new number of slots (a reload): destinations past it give theirs up at the next writing. */
void metrics_dest_set_slots(struct metrics_dest *d, size_t slots);
/* n recipients' outcome at destination (a domain or a route name, lower case). */
void metrics_dest_count(struct metrics_dest *d, const char *destination,
    enum metrics_dest_status status, unsigned n);

#endif
