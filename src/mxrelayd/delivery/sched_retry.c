/*
 * sched_retry: retry intervals, expiry, destination backoff and the delay
 * warning threshold (see sched_retry.h).
 *
 * Owns: only arithmetic. Never: reads the clock or any state but the
 * frozen configuration.
 */
#include "sched_retry.h"

#include "config/config.h"

unsigned sched_retry_interval(const struct config *cfg, unsigned tries)
{
	if (cfg->nretry_intervals == 0)
		return SCHED_RETRY_FALLBACK;
	size_t i = tries == 0 ? 0 : (size_t)tries - 1;
	if (i >= cfg->nretry_intervals)
		i = cfg->nretry_intervals - 1;
	return cfg->retry_intervals[i];
}

time_t sched_retry_expiry(const struct config *cfg, time_t received_at)
{
	return received_at + (time_t)cfg->max_queue_age;
}

bool sched_retry_expired(const struct config *cfg, time_t received_at, time_t now)
{
	return now >= sched_retry_expiry(cfg, received_at);
}

time_t sched_retry_next(const struct config *cfg, unsigned tries, time_t now,
    time_t received_at)
{
	time_t next = now + (time_t)sched_retry_interval(cfg, tries);
	time_t exp = sched_retry_expiry(cfg, received_at);
	/* Due at the expiry, so the recipient is failed then, not a whole interval later. */
	if (next > exp)
		next = exp > now ? exp : now;
	return next;
}

unsigned sched_retry_backoff(const struct config *cfg, unsigned failures)
{
	return sched_retry_interval(cfg, failures == 0 ? 1 : failures);
}

bool sched_retry_warn_now(const struct config *cfg, time_t received_at, time_t prev, time_t now)
{
	if (cfg->delay_warning == 0)
		return false;
	time_t at = received_at + (time_t)cfg->delay_warning;
	return prev < at && at <= now;
}
