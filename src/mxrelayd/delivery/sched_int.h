/*
 * sched_int: what the scheduler's files (sched.c, sched_job.c,
 * sched_fleet.c, sched_bounce.c) share: the scheduler itself, its jobs
 * and its store calls in flight.
 *
 * Owns: nothing beyond these definitions. Never: included outside
 * src/mxrelayd/delivery/.
 */
#ifndef MXR_SCHED_INT_H
#define MXR_SCHED_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mxrelay/mxrelay.h"
#include "dsn.h"
#include "queue/queue_store.h"
#include "delivery/sched.h"
#include "sched_dest.h"
#include "sts_cache.h"
#include "dnssec_check.h"
#include "tls_reports.h"
#include "tls_results.h"

struct event;
struct cfg_route;

/* Most recipients claimed at once (waiting, in flight or being recorded). */
#define SCHED_CLAIM_MAX 20000
/* Most recipients one scan takes from the queue. */
#define SCHED_SCAN_MAX 2000
/* How often a stopping scheduler looks whether its idle connections have closed (ms). */
#define SCHED_STOP_POLL_MS 20
/* Seconds between periodic scans. */
#define SCHED_TICK_S 1
/* Seconds between sweeps of idle destinations, and how long a backoff is remembered after it ends. */
#define SCHED_SWEEP_S 60
#define SCHED_DEST_KEEP_S 3600
/* A DSN that could not be queued is tried again after this long. */
#define SCHED_BOUNCE_RETRY_S 60
/*
 * A shared store: how often every node looks for DSNs owed and finished
 * messages that a node left behind (it died between an outcome and its
 * bounce), and how long such a failure must have been quiet first.
 */
#define SCHED_FLEET_RECOVER_S 15
#define SCHED_FLEET_QUIET_S 15
/* A shared store: most recipients one node claims beyond what it can start (per delivery slot). */
#define SCHED_FLEET_CLAIM_FACTOR 4
/* A shared store: a destination whose fleet slots were all taken is asked again after (ms). */
#define SCHED_FLEET_RETRY_MS 100

/*
 * The jobs of one set of engine contexts. The current set's contexts are
 * the scheduler's direct and routes; a set retired by a reload owns the
 * old ones until its last job ends (freed from the tick, never from a
 * delivery's own callback).
 */
struct sched_engines {
	unsigned jobs;			/* jobs (waiting or running) that use these contexts */
	struct mxr_context *direct;	/* retired only: owned */
	struct sched_route *routes;	/* retired only: owned */
	size_t nroutes;
	struct sched_engines *next;	/* the retired list */
};

/* One due recipient inside a job. */
struct sched_rcpt {
	int64_t id;
	char *address;			/* owned */
	char *orcpt;			/* owned, or NULL */
	unsigned notify;
	unsigned tries;			/* attempts before this one */
};

/* One message's recipients for one destination domain: one delivery. */
struct sched_job {
	struct sched_dest_link link;	/* first: waits at its destination */
	struct sched *s;		/* the scheduler (jobs never outlive it) */
	struct sched_dest *dest;	/* not owned */
	struct mxr_context *ctx;	/* the route's engine context, not owned */
	struct sched_engines *eng;	/* the set ctx belongs to; counts this job */
	unsigned epoch;			/* dest->epoch when the delivery started */
	char msg_id[QUEUE_ID_LEN + 1];
	char domain[256];
	char *sender;			/* owned, from the start of the delivery; NULL before */
	double started;			/* the delivery began (sched_metrics_clock), or 0: no try */
	time_t received_at;
	struct sched_rcpt *r;		/* owned */
	size_t n;
	struct queue_body *body;	/* owned while the delivery runs */
	struct mxr_delivery *dlv;	/* the engine's delivery until its done callback; not owned;
					   NULL while the job starts (slot, fetch) */
	bool in_running;		/* on the running list (starting or delivering) */
	struct sched_op *op;		/* the store call this job waits on, or NULL; not owned */
	int slot;			/* the fleet's delivery slot held (shared store), or 0 */
	struct sched_job *prev, *next;	/* the running list */
};

enum sched_op_kind {
	SCHED_OP_OUTCOMES,		/* queue_update_outcomes */
	SCHED_OP_BOUNCE,		/* a failure DSN's commit (marks recipients bounced) */
	SCHED_OP_NOTICE,		/* a delay or success DSN's commit */
	SCHED_OP_MARK,			/* queue_update_bounced: failed, no DSN wanted */
	SCHED_OP_DELETE,		/* queue_update_delete_if_done */
	SCHED_OP_SCAN,			/* queue_due_fetch */
	SCHED_OP_START,			/* a job's slot and fetch before its delivery (job) */
	SCHED_OP_EXPIRE,		/* the fetch of an expired job's last replies (job) */
	SCHED_OP_FLUSH,			/* the fetch of a flushed message's domains */
	SCHED_OP_RECOVER,		/* queue_recover_fetch */
	SCHED_OP_DESTS,			/* queue_dest_fetch: the fleet's backoffs */
};

struct sched_dsn;

/* A store call in flight; its callback frees it (and does nothing else when orphaned). */
struct sched_op {
	struct sched *s;		/* NULL when the scheduler was freed first */
	struct sched_op *prev, *next;	/* the scheduler's list of ops */
	enum sched_op_kind kind;
	char msg_id[QUEUE_ID_LEN + 1];
	char dsn_id[QUEUE_ID_LEN + 1];	/* BOUNCE/NOTICE: the DSN's own queue id */
	size_t nclaimed;		/* OUTCOMES: recipients that stop being claimed */
	size_t nrcpts;			/* BOUNCE/NOTICE/MARK: recipients reported */
	bool any_failed;		/* OUTCOMES: a recipient failed (bounce next) */
	bool any_final;			/* OUTCOMES: a recipient reached a final state */
	int64_t *success_ids;		/* OUTCOMES: delivered, want a success notice (owned) */
	size_t nsuccess;
	int64_t *delay_ids;		/* OUTCOMES: deferred past the warning time (owned) */
	size_t ndelay;
	time_t at;			/* OUTCOMES: when the outcomes were decided */
	bool again;			/* BOUNCE/MARK: more failures came meanwhile: bounce again */
	enum dsn_kind dsn_kind;		/* BOUNCE/NOTICE: the DSN's type */
	struct sched_job *job;		/* START/EXPIRE: the job (freed by sched_free when orphaned) */
	struct sched_dsn *dsn;		/* BOUNCE/NOTICE: the DSN being built (owned) */
	int64_t *ids;			/* NOTICE: the recipients it is about (owned) */
	size_t nids;
	bool then_delete;		/* NOTICE: delete the message, when done, once it was read */
};

/* One engine context per distinct route. */
struct sched_route {
	const struct cfg_route *route;	/* in the frozen configuration */
	struct mxr_context *ctx;	/* owned */
};

struct sched {
	struct event_base *base;
	const struct config *cfg;	/* frozen, not owned */
	struct queue_store *q;		/* not owned */
	struct mxr_context *direct;	/* owned: direct MX delivery */
	struct sched_route *routes;	/* owned */
	size_t nroutes;
	struct sched_engines *eng;	/* owned: the jobs of direct and routes */
	struct sched_engines *retired;	/* owned: sets replaced by a reload, jobs still on them */
	struct sched_dests *dests;	/* owned */
	struct event *tick;		/* owned: periodic scan */
	struct event *kick_ev;		/* owned: scan soon */
	struct event *stop_ev;		/* owned: tells the stop callback from the loop */
	struct sched_job *running;	/* deliveries in flight (jobs owned) */
	unsigned nrunning;		/* how many */
	struct sched_op *ops;		/* store calls in flight (owned until their callback) */
	size_t claimed;			/* recipients claimed by us */
	size_t waiting;			/* jobs waiting at destinations */
	bool more_due;			/* the last scan stopped at its limit */
	bool scanning;			/* a due fetch is in flight */
	bool rescan;			/* asked for a scan meanwhile: another when it ends */
	bool shared;			/* the store is shared by a fleet (queue_store_shared) */
	bool dests_fetching;		/* shared: a fetch of the fleet's backoffs is in flight */
	int64_t dests_since;		/* shared: the latest change of the fleet's backoffs seen */
	time_t next_fleet_recover;	/* shared: when to look for what dead nodes left */
	struct event *fleet_ev;		/* shared, owned: asks again for slots all taken */
	bool recovered;			/* the scan for failed recipients without a DSN ran */
	time_t recover_at;		/* when that scan may run again (after a DSN failed) */
	bool stopping;
	bool idle_closed;		/* stopping: QUIT sent to every idle connection */
	void (*stop_done)(void *arg);
	void *stop_arg;
	time_t last_sweep;
	struct sched_stats stats;
	struct metrics_mail *metrics;	/* borrowed, or NULL */
	struct mxr_observer observer;	/* the engine contexts' (arg: the scheduler) */
	struct sts_cache *sts;		/* owned: MTA-STS policies in memory and in the store */
	struct mxr_sts_store sts_store;	/* the engine's view of sts */
	struct tls_results *results;	/* owned: TLS results counted for TLS reporting */
	struct tls_reports *reports;	/* owned: the daily TLS reports */
	struct dnssec_check *dnssec;	/* owned: whether the DNS server passes DNSSEC */
};

/* sched.c */
struct sched_op *sched_op_new(struct sched *s, enum sched_op_kind kind, const char *msg_id);
/* Unlink and free op; returns its scheduler (NULL when orphaned). */
struct sched *sched_op_end(struct sched_op *op);
/* Delete msg_id when nothing of it is left to do. */
void sched_delete_if_done(struct sched *s, const char *msg_id);
/* When stopping and nothing is in flight any more, tell the stop callback. */
void sched_check_stopped(struct sched *s);
/* Start waiting jobs, round-robin over destinations, within both limits. */
void sched_pump(struct sched *s);
/* The engine context and destination key of a recipient domain. */
struct mxr_context *sched_route_for(struct sched *s, const char *domain, char *key,
    size_t keylen);

/* sched_job.c */
/* Free a job and what it owns (its body closed); NULL is fine. */
void sched_job_free(struct sched_job *j);
/* Give a job's recipients back to the queue unchanged (due as before) and free it. */
void sched_job_unclaim(struct sched *s, struct sched_job *j);
/*
 * Start j (popped from its destination): it joins the running list at
 * once (counted against both limits), then takes a fleet slot when the
 * store is shared, reads its message and body, and starts the engine.
 */
void sched_job_start(struct sched *s, struct sched_job *j);
/* Read j's message and body, then start its delivery (after its fleet slot, if any). */
void sched_job_read(struct sched *s, struct sched_job *j);
/* The fleet had no slot for j: off the running list, first again at its destination. */
void sched_job_requeue(struct sched *s, struct sched_job *j);
/* Fail j's recipients for expiry (reading their last replies first); takes j. */
void sched_job_expire(struct sched *s, struct sched_job *j, time_t now);
/* Defer all of j without a try: its destination is backed off. Frees j. */
void sched_job_defer(struct sched *s, struct sched_job *j, time_t now);
/* Defer everything waiting at d (it has just been backed off). */
void sched_job_defer_waiting(struct sched *s, struct sched_dest *d, time_t now);

/* sched_fleet.c: destinations shared by the nodes of a fleet (a shared store) */
/* Ask for one of the fleet's slots at j's destination; then fetch and start it, or wait. */
void sched_fleet_acquire(struct sched *s, struct sched_job *j);
/* j's slot is no longer needed (its delivery ended or never started). */
void sched_fleet_release(struct sched *s, struct sched_job *j);
/* Tell the fleet d's backoff changed (a failure counted, a recovery, a flush). */
void sched_fleet_publish(struct sched *s, const struct sched_dest *d);
/* The tick's share: the fleet's backoffs fetched and merged, full destinations tried again. */
void sched_fleet_tick(struct sched *s, time_t now);
/* Make and free what a shared store's scheduler needs (the retry event); nothing otherwise. */
void sched_fleet_new(struct sched *s);
void sched_fleet_free(struct sched *s);

/* sched_engines.c */
/* The engine contexts of cfg: direct MX and one per route; 0, or -1 with err. */
int sched_engines_build(const struct sched *s, const struct config *cfg,
    struct mxr_context **direct, struct sched_route **routes, size_t *nroutes, char *err,
    size_t errlen);
/* Free engine contexts (those of a failed build or of a retired set). */
void sched_engines_free_contexts(struct mxr_context *direct, struct sched_route *routes,
    size_t nroutes);
/* Free the retired engine sets whose last job ended (from the tick). */
void sched_engines_reap(struct sched *s);

/* sched_bounce.c */
/*
 * Report msg_id's failed recipients: one failure DSN to the sender
 * covering them (or none: null sender, NOTIFY without FAILURE), the
 * recipients marked bounced in the DSN's own commit.
 */
void sched_bounce_failed(struct sched *s, const char *msg_id);
/*
 * A delay warning (DSN_DELAY: those of ids whose deferral at at crossed
 * the warning time) or a success notice (DSN_SUCCESS) for msg_id. With
 * then_delete the message is deleted (when done) once the notice has read
 * it: a deletion made beside the reading could take it away first.
 */
void sched_bounce_notice(struct sched *s, const char *msg_id, enum dsn_kind kind,
    const int64_t *ids, size_t n, time_t at, bool then_delete);
/*
 * Bounce failed recipients left by a crash (quiet since quiet_since: all
 * of them at start), delete finished messages.
 */
void sched_bounce_recover(struct sched *s, time_t quiet_since);
/* Free a DSN being built (NULL is fine). */
void sched_bounce_dsn_free(struct sched_dsn *d);
/* A DSN could not be queued: look for failed recipients again later. */
void sched_bounce_retry_later(struct sched *s);

/* sched_metrics.c */
/* The engine's observer of s: counts outbound connections, TLS and lookups in s->metrics. */
void sched_metrics_observer(struct sched *s, struct mxr_observer *out);
/* Seconds on the monotonic clock (past 0): when a delivery starts. */
double sched_metrics_clock(void);
/*
 * The outcomes o[0..j->n) of j decided at now: a delivery's time (when
 * j->started) and its recipient counts, then every permanent failure with
 * sender (NULL: unknown).
 */
void sched_metrics_outcomes(struct sched *s, const struct sched_job *j,
    const struct queue_outcome *o, const char *sender, time_t now);
/* A DSN of kind was queued (its commit is durable). */
void sched_metrics_dsn(struct sched *s, enum dsn_kind kind);

/* sched_job.c */
/* The job whose delivery just ended: record res[0..n) for its recipients, free it. */
void sched_job_done(const struct mxr_result *res, size_t n, void *arg);

/* Idle connections still open on every route's engine context (sched.c). */
size_t sched_idle_count(const struct sched *s);

#endif
