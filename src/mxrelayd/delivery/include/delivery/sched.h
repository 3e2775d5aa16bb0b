/*
 * sched: the daemon's delivery scheduler.
 *
 * Owns: taking due recipients from the queue (claimed, in memory), one
 * delivery per message and destination domain through the engine
 * (libmxrelay), the global and per-destination concurrency limits, the
 * backoff of destinations that keep failing, recording every outcome
 * (retry time, expiry), and the notifications that follow (failure
 * bounces, delay warnings, success notices: sched_bounce.c with dsn.c).
 * One engine context per distinct route (direct MX, each smarthost),
 * built at start. Never: speaks SMTP itself, decides acceptance, or
 * changes a recipient's state other than through the queue store.
 *
 * Recovery is the store's: claims live in memory, so after a crash every
 * unfinished recipient is due again and sched_new's first scan resumes it
 * (at least once); failed recipients whose bounce was not queued are
 * found and bounced at start.
 */
#ifndef MXR_SCHED_H
#define MXR_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct config;
struct queue_store;
struct queue_side;
struct metrics_mail;
struct sched;

/*
 * A scheduler on base over q, configured by cfg (kept, not copied: it is
 * frozen). It scans at once (from the loop) and then periodically.
 * Returns NULL and fills err when an engine context cannot be made (a bad
 * source address, DNS server or CA file). side (borrowed, or NULL) runs
 * the store's synchronous work: MTA-STS policies written, TLS results and
 * reports; it must outlive the scheduler's use of it (free it first: its
 * pending work ends with callbacks into the scheduler).
 */
struct sched *sched_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, struct queue_side *side, char *err, size_t errlen);

/*
 * A reloaded configuration (kept, not copied; the caller keeps it alive
 * while the scheduler runs on it): new deliveries take its routes,
 * limits and retry settings; deliveries under way finish on the engine
 * contexts they started with, freed once the last of them ends. 0, or
 * -1 with err (an engine context cannot be made) and nothing changed.
 */
int sched_reconfigure(struct sched *s, const struct config *cfg, char *err, size_t errlen);

/*
 * Count deliveries, outcomes, failures, DSNs and the engine's connections,
 * TLS handshakes and lookups in mm (borrowed, outliving the scheduler;
 * NULL: nothing counted). Set it before the loop runs.
 */
void sched_set_metrics(struct sched *s, struct metrics_mail *mm);

/* Look for due work now (a message was committed, or a held one released). */
void sched_kick(struct sched *s);

/* What the TLS reports of a day came to: ok, and a line per policy domain. */
typedef void sched_tls_done_fn(void *arg, bool ok, const char *text);
/*
 * Make and send the TLS reports (RFC 8460) of day (00:00 UTC, Unix time)
 * now; done runs once all are sent. false when reporting is off
 * (tlsrpt_organization) or reports are being made already.
 */
bool sched_tls_reports_send(struct sched *s, int64_t day, sched_tls_done_fn *done, void *arg);
/* Store the TLS results counted in memory, so that a listing of the store sees them. */
void sched_tls_results_flush(struct sched *s);

/*
 * The administrator flushed the queue (the recipients are due now in the
 * store): forget every destination's backoff, so they are tried rather
 * than deferred again unseen, and look for due work now.
 */
void sched_flush(struct sched *s);

/*
 * The administrator flushed or requeued one message, or one recipient
 * domain (the store already says it is due now): forget the backoff of
 * the destinations concerned only, and look for due work now.
 */
void sched_flush_message(struct sched *s, const char *msg_id);
void sched_flush_domain(struct sched *s, const char *domain);

/*
 * The administrator bounced msg_id (its waiting recipients are failed in
 * the store): queue the failure DSN now rather than at the next start.
 */
void sched_bounce_now(struct sched *s, const char *msg_id);

/*
 * Start no more deliveries; waiting work goes back to the queue (due as
 * before); deliveries in flight finish and their outcomes and bounces are
 * recorded; then done(arg) runs from the loop. Calling it again only
 * replaces done.
 */
void sched_stop(struct sched *s, void (*done)(void *arg), void *arg);

/*
 * Free the scheduler. Call it once the loop no longer runs its events
 * (after sched_stop's done, or when the daemon gives up waiting): work
 * still in flight is abandoned and its recipients are due again at the
 * next start. NULL is fine.
 */
void sched_free(struct sched *s);

/* What the scheduler has done since sched_new (for the control socket and logs). */
struct sched_stats {
	uint64_t deliveries;		/* deliveries started */
	uint64_t delivered;		/* recipients delivered */
	uint64_t deferred;		/* recipient deferrals (tries and backoff) */
	uint64_t failed;		/* recipients failed (5xx, expiry) */
	uint64_t backoff_deferred;	/* deferred without a try: destination backed off */
	uint64_t bounces;		/* failure DSNs queued */
	uint64_t notices;		/* delay and success DSNs queued */
	unsigned running;		/* deliveries in flight now */
	size_t idle;			/* connections parked for reuse now */
	size_t waiting;			/* jobs waiting for a destination slot */
	size_t destinations;		/* destinations remembered */
};
void sched_get_stats(const struct sched *s, struct sched_stats *out);

/* A destination backed off, as the status summary shows it (valid during the call). */
struct sched_backoff {
	const char *destination;	/* a domain, or a route's name */
	unsigned failures;		/* destination-level failures in a row */
	time_t until;			/* nothing is tried there before this */
	const char *reason;		/* what the last failure said (printable) */
};
/* Call fn for every destination backed off at now; how many there were. */
size_t sched_each_backoff(const struct sched *s, time_t now,
    void (*fn)(void *arg, const struct sched_backoff *b), void *arg);

#endif
