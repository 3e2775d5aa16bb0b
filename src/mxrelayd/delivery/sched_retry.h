/*
 * sched_retry: the arithmetic of retries, expiry, destination backoff and
 * delay warnings, as pure functions of the configuration and the clock
 * value passed in.
 *
 * Owns: which retry interval follows which try (the last one repeats),
 * when a message has been queued too long, how long a failing destination
 * rests, and whether a deferral is the one that should send the delay
 * warning. Never: reads the clock, touches the queue or logs.
 */
#ifndef MXR_SCHED_RETRY_H
#define MXR_SCHED_RETRY_H

#include <stdbool.h>
#include <time.h>

struct config;

/* Used when the configuration has no retry interval at all (seconds). */
#define SCHED_RETRY_FALLBACK 300

/*
 * The interval after the tries-th attempt failed (tries counts that
 * attempt, so the first failure has tries 1): retry_intervals[tries-1],
 * the last interval repeating.
 */
unsigned sched_retry_interval(const struct config *cfg, unsigned tries);

/* When a message received at received_at expires (max_queue_age after it). */
time_t sched_retry_expiry(const struct config *cfg, time_t received_at);

/* Whether a message received at received_at has expired at now. */
bool sched_retry_expired(const struct config *cfg, time_t received_at, time_t now);

/*
 * When a recipient that failed its tries-th attempt at now is due again:
 * now plus its interval, but never later than the expiry, so that an
 * expired recipient is found (and failed) at its expiry time.
 */
time_t sched_retry_next(const struct config *cfg, unsigned tries, time_t now,
    time_t received_at);

/*
 * How long a destination that failed failures times in a row (1 for the
 * first) rests: the retry interval of that many tries, so the backoff
 * grows with the same steps as a recipient's retries.
 */
unsigned sched_retry_backoff(const struct config *cfg, unsigned failures);

/*
 * Whether a deferral at now is the one that sends the delay warning for a
 * message received at received_at whose previous attempt was at prev (or
 * received_at when this was the first): the warning threshold lies in
 * (prev, now]. So exactly one deferral crosses it, with no stored flag.
 * False when delay warnings are off (delay_warning 0).
 */
bool sched_retry_warn_now(const struct config *cfg, time_t received_at, time_t prev, time_t now);

#endif
