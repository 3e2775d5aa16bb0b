/*
 * metrics_recent: what happened lately, for the status page and
 * `mxrelay status`: messages in and recipient outcomes per minute over the
 * last hour, and the last permanent failures with their envelope.
 *
 * Owns: a ring of METRICS_RECENT_MINUTES one-minute buckets (a bucket is
 * cleared when its minute comes round again, so a quiet hour reads as
 * zeros, not as the counts of an hour before) and a ring of the last
 * METRICS_RECENT_FAILURES permanent failures (sender, recipient, the
 * reply) in fixed-size copies.
 * Never: reads the clock (the caller passes the time), holds message
 * content or anything but the envelope; loop thread only.
 */
#ifndef MXR_METRICS_RECENT_H
#define MXR_METRICS_RECENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define METRICS_RECENT_MINUTES 60
#define METRICS_RECENT_FAILURES 50

enum metrics_recent_kind {
	METRICS_RECENT_RECEIVED,	/* messages accepted (250 after the data) */
	METRICS_RECENT_DELIVERED,	/* recipients delivered */
	METRICS_RECENT_DEFERRED,	/* recipients deferred */
	METRICS_RECENT_FAILED,		/* recipients failed */
	METRICS_RECENT_NKINDS
};

/* One permanent failure, as kept. */
struct metrics_recent_failure {
	time_t when;
	char queue_id[32];
	char sender[256];	/* "" for the null sender */
	char rcpt[256];
	char destination[256];
	int code;		/* reply code, or 0 (DNS, connection, expiry) */
	char esc[16];
	char text[256];		/* printable */
};

struct metrics_recent;

struct metrics_recent *metrics_recent_new(void);
void metrics_recent_free(struct metrics_recent *r);
/* n events of kind at time now. */
void metrics_recent_count(struct metrics_recent *r, enum metrics_recent_kind kind, unsigned n,
    time_t now);
/* Keep a permanent failure (copied), the oldest kept making room. */
void metrics_recent_failure(struct metrics_recent *r, const struct metrics_recent_failure *f);
/*
 * The per-minute counts of kind for the METRICS_RECENT_MINUTES minutes up
 * to and including the minute of now, oldest first, into out[].
 * *first_minute gets the start of the oldest minute.
 */
void metrics_recent_series(const struct metrics_recent *r, enum metrics_recent_kind kind, time_t now,
    uint64_t out[METRICS_RECENT_MINUTES], time_t *first_minute);
/* The failures kept, and the i-th of them newest first (NULL past the end); valid until r changes. */
size_t metrics_recent_failure_count(const struct metrics_recent *r);
const struct metrics_recent_failure *metrics_recent_failure_at(const struct metrics_recent *r,
    size_t i);

#endif
