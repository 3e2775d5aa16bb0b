/*
 * status: the one summary of the daemon's state (docs/status.md), as JSON
 * for /status.json, the status page and `mxrelay status --json`, and as
 * text for `mxrelay status`.
 *
 * Owns: gathering the summary from the modules that know each part (the
 * configuration in force and the live sessions from reload, deliveries and
 * backoff from the scheduler, the queue's counts, the metrics' totals and
 * recent activity) and writing it in both forms.
 * Never: changes anything; holds message content (envelope data only).
 */
#ifndef MXR_STATUS_H
#define MXR_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct reload;
struct sched;
struct queue_store;
struct metrics_mail;
struct evbuffer;

struct status_sources {
	time_t started;
	struct reload *reload;		/* the generation in force, sessions */
	struct sched *sched;
	struct queue_store *queue;
	struct metrics_mail *metrics;
	/* The queue's counts for the gauges, read once per second at most. */
	time_t counts_at;
	bool counts_ok;
	struct queue_counts_cache *counts;	/* owned, made by status_register_gauges */
};

/* The summary at now into b: JSON (one object and a newline) or text lines. */
void status_write(const struct status_sources *src, time_t now, bool json, struct evbuffer *b);

/*
 * The gauges of the metrics that are read when written: the queue by
 * state and its oldest message (mxrelay_queue_*), the sessions open
 * (mxrelay_sessions). src must outlive the metrics' writing.
 */
void status_register_gauges(struct status_sources *src);
void status_sources_free(struct status_sources *src);

#endif
