/*
 * metrics_recent: the last hour per minute and the last permanent
 * failures (see metrics_recent.h).
 */
#include "metrics/metrics_recent.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

struct metrics_recent_minute {
	time_t minute;			/* start of the minute counted, 0: never used */
	uint64_t counts[METRICS_RECENT_NKINDS];
};

struct metrics_recent {
	struct metrics_recent_minute minutes[METRICS_RECENT_MINUTES];
	struct metrics_recent_failure failures[METRICS_RECENT_FAILURES];
	size_t nfailures;		/* kept, at most METRICS_RECENT_FAILURES */
	size_t next_failure;		/* slot the next failure goes to */
};

struct metrics_recent *metrics_recent_new(void)
{
	return xcalloc(1, sizeof(struct metrics_recent));
}

void metrics_recent_free(struct metrics_recent *r)
{
	free(r);
}

static size_t metrics_recent_slot(time_t minute)
{
	return (size_t)((uint64_t)(minute / 60) % METRICS_RECENT_MINUTES);
}

void metrics_recent_count(struct metrics_recent *r, enum metrics_recent_kind kind, unsigned n,
    time_t now)
{
	time_t minute = now - now % 60;
	struct metrics_recent_minute *m = &r->minutes[metrics_recent_slot(minute)];
	if (m->minute != minute) {
		memset(m, 0, sizeof(*m));
		m->minute = minute;
	}
	m->counts[kind] += n;
}

void metrics_recent_series(const struct metrics_recent *r, enum metrics_recent_kind kind, time_t now,
    uint64_t out[METRICS_RECENT_MINUTES], time_t *first_minute)
{
	time_t last = now - now % 60;
	time_t first = last - (METRICS_RECENT_MINUTES - 1) * 60;
	*first_minute = first;
	for (size_t i = 0; i < METRICS_RECENT_MINUTES; i++) {
		time_t minute = first + (time_t)i * 60;
		const struct metrics_recent_minute *m = &r->minutes[metrics_recent_slot(minute)];
		out[i] = m->minute == minute ? m->counts[kind] : 0;
	}
}

void metrics_recent_failure(struct metrics_recent *r, const struct metrics_recent_failure *f)
{
	r->failures[r->next_failure] = *f;
	r->next_failure = (r->next_failure + 1) % METRICS_RECENT_FAILURES;
	if (r->nfailures < METRICS_RECENT_FAILURES)
		r->nfailures++;
}

size_t metrics_recent_failure_count(const struct metrics_recent *r)
{
	return r->nfailures;
}

const struct metrics_recent_failure *metrics_recent_failure_at(const struct metrics_recent *r,
    size_t i)
{
	if (i >= r->nfailures)
		return NULL;
	size_t slot = (r->next_failure + METRICS_RECENT_FAILURES - 1 - i) % METRICS_RECENT_FAILURES;
	return &r->failures[slot];
}
