/*
 * workq: worker threads for the loop's CPU work (see workq.h).
 */
#include "util/workq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>

#include "util/log.h"
#include "util/xalloc.h"

/* Most workers: the machine's cores are shared with everything else the relay does. */
#define WORKQ_THREADS_MAX 16

struct workq_job {
	workq_fn *fn, *done;
	void *arg;
	struct workq_job *next;
};

/* A FIFO of jobs. */
struct workq_list {
	struct workq_job *head, *tail;
};

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* a job was queued, or stop */
	struct workq_list todo;		/* under mu */
	struct workq_list done;		/* under mu */
	bool stop;			/* under mu */
	struct event *wake;		/* owned: done jobs are waiting */
	pthread_t threads[WORKQ_THREADS_MAX];
	unsigned nthreads;
};

static void workq_push(struct workq_list *l, struct workq_job *j)
{
	j->next = NULL;
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct workq_job *workq_take_all(struct workq_list *l)
{
	struct workq_job *j = l->head;
	l->head = l->tail = NULL;
	return j;
}

/* A worker: run jobs until told to stop. */
static void *workq_thread(void *arg)
{
	struct workq *q = arg;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->todo.head == NULL && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop)
			break;
		struct workq_job *j = q->todo.head;
		q->todo.head = j->next;
		if (q->todo.head == NULL)
			q->todo.tail = NULL;
		pthread_mutex_unlock(&q->mu);
		j->fn(j->arg);
		pthread_mutex_lock(&q->mu);
		bool first = q->done.head == NULL;
		workq_push(&q->done, j);
		/* One wake-up covers every job done before the loop looks. */
		if (first)
			event_active(q->wake, EV_READ, 0);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* On the loop: call back the jobs that are done, in the order they ended. */
static void workq_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct workq *q = arg;
	pthread_mutex_lock(&q->mu);
	struct workq_job *j = workq_take_all(&q->done);
	pthread_mutex_unlock(&q->mu);
	while (j != NULL) {
		struct workq_job *next = j->next;
		j->done(j->arg);
		free(j);
		j = next;
	}
}

struct workq *workq_new(struct event_base *base, unsigned threads)
{
	struct workq *q = xcalloc(1, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->wake = event_new(base, -1, 0, workq_wake_cb, q);
	if (q->wake == NULL)
		fatal("event=workq_new error=\"cannot create an event\"");
	if (threads == 0)
		threads = 1;
	if (threads > WORKQ_THREADS_MAX)
		threads = WORKQ_THREADS_MAX;
	for (; q->nthreads < threads; q->nthreads++)
		if (pthread_create(&q->threads[q->nthreads], NULL, workq_thread, q) != 0)
			fatal("event=workq_new error=\"cannot create a worker thread\"");
	return q;
}

void workq_run(struct workq *q, workq_fn *fn, workq_fn *done, void *arg)
{
	struct workq_job *j = xmalloc(sizeof(*j));
	j->fn = fn;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&q->mu);
	workq_push(&q->todo, j);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void workq_free(struct workq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	/* The workers are gone: what is left runs here, in order. */
	for (struct workq_job *j = workq_take_all(&q->todo); j != NULL;) {
		struct workq_job *next = j->next;
		j->fn(j->arg);
		workq_push(&q->done, j);
		j = next;
	}
	event_del(q->wake);
	workq_wake_cb(-1, 0, q);
	event_free(q->wake);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
