/*
 * workq: a few worker threads for CPU work the event loop must not wait
 * on (a DKIM signature with an RSA key costs a fifth of a millisecond, a
 * 4096-bit one more than a millisecond: on the loop it would hold up
 * every other session).
 *
 * Owns: the threads, the queue of jobs to run and the list of jobs done,
 * and the one event that hands the done jobs back to the loop.
 * Never: runs a done callback anywhere but on the loop (or in
 * workq_free), or touches what a job points to; a job's fn must touch
 * nothing the loop may change meanwhile.
 * Threads: workq_new, workq_run and workq_free on the loop thread only;
 * the base must be thread-aware (evthread_use_pthreads before it is made).
 */
#ifndef MXR_WORKQ_H
#define MXR_WORKQ_H

struct event_base;
struct workq;

typedef void workq_fn(void *arg);

/* threads workers (at least 1) for base. Aborts when a thread cannot be made. */
struct workq *workq_new(struct event_base *base, unsigned threads);
/*
 * Run fn(arg) on a worker, then done(arg) on the loop, never inside this
 * call. Jobs start in the order given.
 */
void workq_run(struct workq *q, workq_fn *fn, workq_fn *done, void *arg);
/*
 * Stop the workers once their current jobs end, then run every job not
 * yet run and every done callback not yet called, on this thread: no job
 * is lost. NULL is fine.
 */
void workq_free(struct workq *q);

#endif
