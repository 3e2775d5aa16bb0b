/*
 * metrics: the daemon's counters, gauges and histograms, written out in
 * the Prometheus text format or OpenMetrics.
 *
 * Owns: the families (name, help, type, label names), their series (one
 * per set of label values, made on first use and kept for the life of the
 * process, so counters survive a reload and start at zero on restart),
 * the cap on series per family (past it, values count in a series whose
 * labels are all "other": unbounded label values are how a Prometheus
 * server is killed), histograms with fixed buckets, gauges computed when
 * the text is written, and the exposition text itself.
 * Never: does I/O or reads the clock; never holds message content or
 * addresses (label values are listener names, states, results and, through
 * metrics_dest, destination domains bounded to a few).
 *
 * Threads: counting is lock-free (relaxed atomics) from any thread; making
 * a series and writing the text take the registry's mutex. Callers look a
 * series up once (at start, or at a reload) and keep the pointer: the hot
 * path is one atomic add.
 */
#ifndef MXR_METRICS_H
#define MXR_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Series a family holds at most before new label values count as "other". */
#define METRICS_SERIES_MAX 512
/* Label names a family has at most. */
#define METRICS_LABELS_MAX 3
/* Upper bounds a histogram has at most (+Inf comes on top). */
#define METRICS_BUCKETS_MAX 16

struct metrics;
struct metrics_family;
struct metrics_text;

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

/* One counter series: add to it with metrics_add(). */
typedef _Atomic uint64_t metrics_counter;

/* One histogram series. */
struct metrics_hist {
	const double *bounds;		/* the family's upper bounds; borrowed */
	size_t nbounds;
	_Atomic uint64_t buckets[METRICS_BUCKETS_MAX + 1];	/* per bucket, not cumulative */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_micro;	/* the sum of observations, in millionths */
};

/*
 * Called when the text is written, for a gauge family or for extra series
 * of any family: emit each value with metrics_text_value().
 */
typedef void metrics_collect_fn(struct metrics_text *t, const struct metrics_family *f, void *arg);

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * A family; labels is a comma-separated list of label names ("" for
 * none). name must match [a-z_][a-z0-9_]* and, for a counter, end in
 * "_total". Families are written in the order they were made. bounds
 * (histograms only) are nbounds increasing upper bounds, kept borrowed.
 */
struct metrics_family *metrics_family_new(struct metrics *m, enum metrics_type type,
    const char *name, const char *help, const char *labels);
void metrics_family_set_buckets(struct metrics_family *f, const double *bounds, size_t nbounds);
/* Values of this family computed at writing time (gauges, or series kept elsewhere). */
void metrics_family_set_collect(struct metrics_family *f, metrics_collect_fn *fn, void *arg);

/*
 * The series of f with these label values (one per label name, in order;
 * NULL when the family has none), made on first use. Past
 * METRICS_SERIES_MAX series the "other" series. Never NULL.
 */
metrics_counter *metrics_counter_at(struct metrics_family *f, const char *const *values);
struct metrics_hist *metrics_hist_at(struct metrics_family *f, const char *const *values);

static inline void metrics_add(metrics_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Record one observation (seconds, octets, a count) in h. */
void metrics_observe(struct metrics_hist *h, double v);

/* Inside a collect function: one sample of the family being written. */
void metrics_text_value(struct metrics_text *t, const char *const *values, double v);

/*
 * The exposition text of every family, malloc'ed (the caller frees),
 * *len its length. openmetrics: the OpenMetrics 1.0 form (counter
 * families named without "_total", "# EOF" at the end); otherwise the
 * Prometheus text format 0.0.4.
 */
char *metrics_render(struct metrics *m, bool openmetrics, size_t *len);

/* The Content-Type of each form. */
#define METRICS_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CONTENT_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

#endif
