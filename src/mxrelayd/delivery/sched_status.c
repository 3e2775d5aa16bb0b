/*
 * sched_status: what the scheduler tells about itself: its counters, the
 * deliveries running and connections parked, and the destinations in
 * backoff (for the status summary and the metrics).
 */
#include "delivery/sched.h"

#include "sched_int.h"

void sched_get_stats(const struct sched *s, struct sched_stats *out)
{
	*out = s->stats;
	out->running = s->nrunning;
	out->waiting = s->waiting;
	out->destinations = sched_dest_count(s->dests);
	out->idle = sched_idle_count(s);
}

/* sched_each_backoff's walk over the destinations. */
struct sched_backoff_walk {
	time_t now;
	void (*fn)(void *arg, const struct sched_backoff *b);
	void *arg;
	size_t n;
};

static void sched_backoff_one(void *arg, const struct sched_dest *d)
{
	struct sched_backoff_walk *w = arg;
	if (!sched_dest_backed_off(d, w->now))
		return;
	struct sched_backoff b = { .destination = d->key, .failures = d->failures,
	    .until = d->backoff_until, .reason = d->reason };
	w->fn(w->arg, &b);
	w->n++;
}

size_t sched_each_backoff(const struct sched *s, time_t now,
    void (*fn)(void *arg, const struct sched_backoff *b), void *arg)
{
	struct sched_backoff_walk w = { .now = now, .fn = fn, .arg = arg };
	sched_dest_each(s->dests, sched_backoff_one, &w);
	return w.n;
}
