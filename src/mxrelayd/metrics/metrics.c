/*
 * metrics: the registry of families and series and the exposition text
 * (see metrics.h).
 */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

struct metrics_series {
	char *values[METRICS_LABELS_MAX];	/* owned */
	metrics_counter counter;
	struct metrics_hist hist;
};

struct metrics_family {
	struct metrics *m;
	enum metrics_type type;
	char *name;			/* owned; for a counter with "_total" */
	char *help;			/* owned */
	char *labels[METRICS_LABELS_MAX];/* owned */
	size_t nlabels;
	const double *bounds;		/* histograms; borrowed */
	size_t nbounds;
	struct metrics_series **series;	/* owned */
	size_t nseries;
	struct metrics_series *other;	/* owned; past METRICS_SERIES_MAX */
	metrics_collect_fn *collect;
	void *collect_arg;
};

struct metrics {
	pthread_mutex_t mu;
	struct metrics_family **fams;	/* owned, in the order made */
	size_t nfams;
};

/* The text being written: a growing buffer, and the family of the samples. */
struct metrics_text {
	char *buf;
	size_t len, cap;
	bool openmetrics;
	const struct metrics_family *f;
};

static const double metrics_default_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
};

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	return m;
}

static void metrics_series_free(struct metrics_series *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < METRICS_LABELS_MAX; i++)
		free(s->values[i]);
	free(s);
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nfams; i++) {
		struct metrics_family *f = m->fams[i];
		for (size_t k = 0; k < f->nseries; k++)
			metrics_series_free(f->series[k]);
		metrics_series_free(f->other);
		for (size_t k = 0; k < f->nlabels; k++)
			free(f->labels[k]);
		free(f->series);
		free(f->name);
		free(f->help);
		free(f);
	}
	free(m->fams);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* Whether s is a metric or label name: [a-zA-Z_][a-zA-Z0-9_]*. */
static bool metrics_name_ok(const char *s, size_t n)
{
	if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

struct metrics_family *metrics_family_new(struct metrics *m, enum metrics_type type,
    const char *name, const char *help, const char *labels)
{
	size_t nlen = strlen(name);
	/* Family names and label sets are the program's own: a bad one is a bug. */
	if (!metrics_name_ok(name, nlen) ||
	    (type == METRICS_COUNTER && (nlen < 7 || strcmp(name + nlen - 6, "_total") != 0)))
		panic("metrics: bad family name \"%s\"", name);
	struct metrics_family *f = xcalloc(1, sizeof(*f));
	f->m = m;
	f->type = type;
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	for (const char *p = labels; p != NULL && *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (f->nlabels == METRICS_LABELS_MAX || !metrics_name_ok(p, n) ||
		    (n == 2 && memcmp(p, "le", 2) == 0))
			panic("metrics: bad labels \"%s\" of %s", labels, name);
		f->labels[f->nlabels] = xmalloc(n + 1);
		memcpy(f->labels[f->nlabels], p, n);
		f->labels[f->nlabels][n] = '\0';
		f->nlabels++;
		p = comma != NULL ? comma + 1 : NULL;
	}
	if (type == METRICS_HISTOGRAM)
		metrics_family_set_buckets(f, metrics_default_bounds,
		    sizeof(metrics_default_bounds) / sizeof(metrics_default_bounds[0]));
	pthread_mutex_lock(&m->mu);
	m->fams = xreallocarray(m->fams, m->nfams + 1, sizeof(*m->fams));
	m->fams[m->nfams++] = f;
	pthread_mutex_unlock(&m->mu);
	return f;
}

void metrics_family_set_buckets(struct metrics_family *f, const double *bounds, size_t nbounds)
{
	if (nbounds == 0 || nbounds > METRICS_BUCKETS_MAX)
		panic("metrics: %zu buckets for %s", nbounds, f->name);
	for (size_t i = 1; i < nbounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			panic("metrics: buckets of %s not increasing", f->name);
	f->bounds = bounds;
	f->nbounds = nbounds;
}

void metrics_family_set_collect(struct metrics_family *f, metrics_collect_fn *fn, void *arg)
{
	f->collect = fn;
	f->collect_arg = arg;
}

static struct metrics_series *metrics_series_new(const struct metrics_family *f,
    const char *const *values)
{
	struct metrics_series *s = xcalloc(1, sizeof(*s));
	for (size_t i = 0; i < f->nlabels; i++)
		s->values[i] = xstrdup(values != NULL ? values[i] : "other");
	s->hist.bounds = f->bounds;
	s->hist.nbounds = f->nbounds;
	return s;
}

/* The series of f for values, made when new; "other" past the cap. Under the mutex. */
static struct metrics_series *metrics_series_at(struct metrics_family *f, const char *const *values)
{
	pthread_mutex_lock(&f->m->mu);
	struct metrics_series *s = NULL;
	for (size_t i = 0; i < f->nseries && s == NULL; i++) {
		size_t k = 0;
		while (k < f->nlabels && strcmp(f->series[i]->values[k], values[k]) == 0)
			k++;
		if (k == f->nlabels)
			s = f->series[i];
	}
	if (s == NULL && f->nseries < METRICS_SERIES_MAX) {
		s = metrics_series_new(f, values);
		f->series = xreallocarray(f->series, f->nseries + 1, sizeof(*f->series));
		f->series[f->nseries++] = s;
	} else if (s == NULL) {
		if (f->other == NULL) {
			f->other = metrics_series_new(f, NULL);
			log_msg(LOG_LVL_WARN, "event=metrics-series-cap family=%s max=%d "
			    "note=\"further label values count as other\"", f->name, METRICS_SERIES_MAX);
		}
		s = f->other;
	}
	pthread_mutex_unlock(&f->m->mu);
	return s;
}

metrics_counter *metrics_counter_at(struct metrics_family *f, const char *const *values)
{
	return &metrics_series_at(f, values)->counter;
}

struct metrics_hist *metrics_hist_at(struct metrics_family *f, const char *const *values)
{
	return &metrics_series_at(f, values)->hist;
}

void metrics_observe(struct metrics_hist *h, double v)
{
	size_t b = 0;
	while (b < h->nbounds && v > h->bounds[b])
		b++;
	atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	if (v > 0 && isfinite(v))
		atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)llround(v * 1e6), memory_order_relaxed);
}

static void metrics_text_grow(struct metrics_text *t, size_t more)
{
	if (t->len + more + 1 <= t->cap)
		return;
	size_t cap = t->cap != 0 ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	t->buf = xrealloc(t->buf, cap);
	t->cap = cap;
}

static void metrics_text_add(struct metrics_text *t, const char *s, size_t n)
{
	metrics_text_grow(t, n);
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

__attribute__((format(printf, 2, 3)))
static void metrics_text_printf(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		metrics_text_add(t, small, (size_t)n);
		return;
	}
	metrics_text_grow(t, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* s escaped for a label value (\\, \", \n) or, with in_help, for HELP text (\\, \n). */
static void metrics_text_escaped(struct metrics_text *t, const char *s, bool in_help)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			metrics_text_add(t, "\\\\", 2);
		else if (*s == '\n')
			metrics_text_add(t, "\\n", 2);
		else if (*s == '"' && !in_help)
			metrics_text_add(t, "\\\"", 2);
		else
			metrics_text_add(t, s, 1);
	}
}

/* name{l1="v1",...,extra} with extra (e.g. le="0.5") appended when given. */
static void metrics_text_sample_name(struct metrics_text *t, const struct metrics_family *f,
    const char *suffix, const char *const *values, const char *extra)
{
	metrics_text_add(t, f->name, strlen(f->name));
	metrics_text_add(t, suffix, strlen(suffix));
	if (f->nlabels == 0 && extra == NULL)
		return;
	metrics_text_add(t, "{", 1);
	for (size_t i = 0; i < f->nlabels; i++) {
		metrics_text_printf(t, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
		metrics_text_escaped(t, values != NULL ? values[i] : "other", false);
		metrics_text_add(t, "\"", 1);
	}
	if (extra != NULL)
		metrics_text_printf(t, "%s%s", f->nlabels > 0 ? "," : "", extra);
	metrics_text_add(t, "}", 1);
}

/* A number as the formats want it: integers plainly, +Inf/-Inf/NaN by name. */
static void metrics_text_number(struct metrics_text *t, double v)
{
	if (isnan(v))
		metrics_text_add(t, "NaN", 3);
	else if (isinf(v))
		metrics_text_add(t, v > 0 ? "+Inf" : "-Inf", 4);
	else if (v == floor(v) && fabs(v) < 1e15)
		metrics_text_printf(t, "%.0f", v);
	else
		metrics_text_printf(t, "%.9g", v);
}

void metrics_text_value(struct metrics_text *t, const char *const *values, double v)
{
	metrics_text_sample_name(t, t->f, "", values, NULL);
	metrics_text_add(t, " ", 1);
	metrics_text_number(t, v);
	metrics_text_add(t, "\n", 1);
}

static void metrics_text_hist(struct metrics_text *t, const struct metrics_family *f,
    const struct metrics_series *s)
{
	const char *const *values = (const char *const *)s->values;
	uint64_t cum = 0;
	char le[48];
	for (size_t b = 0; b <= f->nbounds; b++) {
		cum += atomic_load_explicit(&s->hist.buckets[b], memory_order_relaxed);
		if (b < f->nbounds)
			snprintf(le, sizeof(le), "le=\"%.9g\"", f->bounds[b]);
		else
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		metrics_text_sample_name(t, f, "_bucket", values, le);
		metrics_text_printf(t, " %llu\n", (unsigned long long)cum);
	}
	uint64_t sum = atomic_load_explicit(&s->hist.sum_micro, memory_order_relaxed);
	metrics_text_sample_name(t, f, "_sum", values, NULL);
	metrics_text_printf(t, " %.6f\n", (double)sum / 1e6);
	metrics_text_sample_name(t, f, "_count", values, NULL);
	/* The count is read last: a bucket counted meanwhile makes +Inf at most equal to it. */
	uint64_t count = atomic_load_explicit(&s->hist.count, memory_order_relaxed);
	metrics_text_printf(t, " %llu\n", (unsigned long long)(count > cum ? cum : count));
}

static void metrics_text_series(struct metrics_text *t, const struct metrics_family *f,
    const struct metrics_series *s)
{
	if (f->type == METRICS_HISTOGRAM) {
		metrics_text_hist(t, f, s);
		return;
	}
	metrics_text_value(t, (const char *const *)s->values,
	    (double)atomic_load_explicit(&s->counter, memory_order_relaxed));
}

static void metrics_text_family(struct metrics_text *t, const struct metrics_family *f)
{
	static const char *const type_names[] = { "counter", "gauge", "histogram" };
	/* OpenMetrics names a counter family without its _total suffix. */
	size_t nlen = strlen(f->name);
	if (t->openmetrics && f->type == METRICS_COUNTER)
		nlen -= 6;
	metrics_text_printf(t, "# HELP %.*s ", (int)nlen, f->name);
	metrics_text_escaped(t, f->help, true);
	metrics_text_printf(t, "\n# TYPE %.*s %s\n", (int)nlen, f->name, type_names[f->type]);
	t->f = f;
	for (size_t i = 0; i < f->nseries; i++)
		metrics_text_series(t, f, f->series[i]);
	if (f->other != NULL)
		metrics_text_series(t, f, f->other);
	if (f->collect != NULL)
		f->collect(t, f, f->collect_arg);
}

char *metrics_render(struct metrics *m, bool openmetrics, size_t *len)
{
	struct metrics_text t = { .openmetrics = openmetrics };
	metrics_text_grow(&t, 0);
	t.buf[0] = '\0';
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->nfams; i++)
		metrics_text_family(&t, m->fams[i]);
	pthread_mutex_unlock(&m->mu);
	if (openmetrics)
		metrics_text_add(&t, "# EOF\n", 6);
	*len = t.len;
	return t.buf;
}
