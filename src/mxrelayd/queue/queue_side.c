/*
 * queue_side: synchronous store operations on a thread of their own (see
 * queue_side.h).
 */
#include "queue/queue_side.h"

#include <stdlib.h>

#include "queue/queue_store.h"
#include "util/workq.h"
#include "util/xalloc.h"

struct queue_side {
	struct workq *wq;		/* owned: one thread, so jobs run in order */
	struct queue_store *store;	/* owned: used by that thread only */
};

/* One job: what to run and what to call after. */
struct queue_side_job {
	struct queue_side *s;
	queue_side_fn *fn;
	queue_side_done_fn *done;
	void *arg;
};

static void queue_side_job_run(void *arg)
{
	struct queue_side_job *j = arg;
	j->fn(j->s->store, j->arg);
}

static void queue_side_job_done(void *arg)
{
	struct queue_side_job *j = arg;
	if (j->done != NULL)
		j->done(j->arg);
	free(j);
}

struct queue_side *queue_side_new(struct event_base *base, struct queue_store *store)
{
	struct queue_side *s = xcalloc(1, sizeof(*s));
	s->store = store;
	s->wq = workq_new(base, 1);
	return s;
}

void queue_side_run(struct queue_side *s, queue_side_fn *fn, queue_side_done_fn *done,
    void *arg)
{
	struct queue_side_job *j = xmalloc(sizeof(*j));
	*j = (struct queue_side_job){ .s = s, .fn = fn, .done = done, .arg = arg };
	workq_run(s->wq, queue_side_job_run, queue_side_job_done, j);
}

void queue_side_free(struct queue_side *s)
{
	if (s == NULL)
		return;
	workq_free(s->wq);
	queue_store_close(s->store);
	free(s);
}
