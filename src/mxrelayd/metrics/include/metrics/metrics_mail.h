/*
 * metrics_mail: the daemon's metrics of mail, typed: what the server, the
 * queue and the scheduler count, under the names of docs/metrics.md.
 *
 * Owns: the mxrelay_* families and their label values (results, statuses,
 * DSN types, directions, TLS versions), the per-destination set
 * (metrics_dest) and the recent activity (metrics_recent), and the totals
 * since start that the status summary reads.
 * Never: decides anything; does I/O; holds message content.
 * Threads: every count is safe from any thread except where said
 * "loop thread" (those also feed metrics_recent).
 */
#ifndef MXR_METRICS_MAIL_H
#define MXR_METRICS_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "metrics/metrics.h"
#include "metrics/metrics_dest.h"
#include "metrics/metrics_recent.h"

/* How a transaction ended (mxrelay_messages_received_total{listener,result}). */
enum metrics_rx_result {
	METRICS_RX_ACCEPTED,		/* queued: 250 after the data */
	METRICS_RX_REFUSED_POLICY,	/* relaying denied, AUTH required, sender not allowed (x.7.x) */
	METRICS_RX_REFUSED_ADDRESS,	/* every recipient unknown or unroutable (x.1.x) */
	METRICS_RX_REFUSED_SIZE,	/* too big (x.3.4) */
	METRICS_RX_REFUSED_HOP_LIMIT,	/* too many Received fields (x.4.6) */
	METRICS_RX_REFUSED_SYNTAX,	/* bad data: bare newlines, bad commands (x.5.x, x.6.x) */
	METRICS_RX_REFUSED_STORAGE,	/* the queue could not take it (x.3.x other than x.3.4) */
	METRICS_RX_REFUSED_LIMIT,	/* a rate or count limit (x.5.3, x.7.0 for connections) */
	METRICS_RX_REFUSED_OTHER,
	METRICS_RX_ABORTED,		/* the client reset or left without a refusal */
	METRICS_RX_NRESULTS
};

/* What a RCPT got (mxrelay_recipients_total{result}). */
enum metrics_rcpt_result {
	METRICS_RCPT_ACCEPTED,
	METRICS_RCPT_REFUSED_POLICY,	/* x.7.x */
	METRICS_RCPT_REFUSED_ADDRESS,	/* x.1.x */
	METRICS_RCPT_REFUSED_LIMIT,	/* too many recipients, x.5.3 */
	METRICS_RCPT_REFUSED_OTHER,
	METRICS_RCPT_NRESULTS
};

enum metrics_direction {
	METRICS_INBOUND,
	METRICS_OUTBOUND,
	METRICS_NDIRECTIONS
};

/* DSNs sent (mxrelay_dsn_sent_total{type}). */
enum metrics_dsn_type {
	METRICS_DSN_FAILURE,
	METRICS_DSN_DELAY,
	METRICS_DSN_SUCCESS,
	METRICS_DSN_NTYPES
};

/* The server's rate limits (mxrelay_rate_limited_total{limit}), in policy/ratelimit.h's order. */
enum metrics_rate_limit {
	METRICS_RATE_CLIENT_CONNECTION,
	METRICS_RATE_CLIENT_MESSAGE,
	METRICS_RATE_CLIENT_RECIPIENT,
	METRICS_RATE_USER_MESSAGE,
	METRICS_RATE_USER_RECIPIENT,
	METRICS_RATE_NLIMITS
};

/* Totals since start, for the status summary. */
struct metrics_mail_totals {
	uint64_t received, refused;	/* transactions queued; refused (aborted not counted) */
	uint64_t delivered, deferred, failed;	/* recipients */
	uint64_t dsn_sent;
	uint64_t sessions[METRICS_NDIRECTIONS];	/* connections since start */
	uint64_t tls_sessions[METRICS_NDIRECTIONS];	/* of which with TLS */
};

struct metrics_mail;

/* The registry with every family; dest_slots destinations get series of their own. */
struct metrics_mail *metrics_mail_new(size_t dest_slots);
void metrics_mail_free(struct metrics_mail *mm);
/* The registry, to write the text (metrics_render). */
struct metrics *metrics_mail_registry(struct metrics_mail *mm);
/* A reload: a new number of destination slots. */
void metrics_mail_set_dest_slots(struct metrics_mail *mm, size_t slots);

/* The class of a refusal from its reply code and enhanced status code (NULL or ""). */
enum metrics_rx_result metrics_mail_rx_reason(int code, const char *esc);
enum metrics_rcpt_result metrics_mail_rcpt_reason(int code, const char *esc);

/* A transaction on listener (its configured name) ended so. Loop thread. */
void metrics_mail_received(struct metrics_mail *mm, const char *listener,
    enum metrics_rx_result result, time_t now);
void metrics_mail_rcpt(struct metrics_mail *mm, enum metrics_rcpt_result result);
/* A connection began (inbound: accepted; outbound: connected) and, when tls_version is not NULL, is or became encrypted. */
void metrics_mail_session(struct metrics_mail *mm, enum metrics_direction dir);
void metrics_mail_tls(struct metrics_mail *mm, enum metrics_direction dir, const char *tls_version);
/* One group commit of nmsgs messages took seconds (writer thread). */
void metrics_mail_commit(struct metrics_mail *mm, double seconds, unsigned nmsgs);
/* One MX resolution took seconds. */
void metrics_mail_dns(struct metrics_mail *mm, double seconds);
/*
 * One delivery attempt (a message to one destination) took seconds and
 * ended with these recipient outcomes. Loop thread.
 */
void metrics_mail_delivery(struct metrics_mail *mm, const char *destination, double seconds,
    unsigned delivered, unsigned deferred, unsigned failed, time_t now);
/*
 * Recipient outcomes decided without an attempt (held back by a
 * destination's backoff, or expired in the queue): counted as
 * metrics_mail_delivery counts them, without a time. Loop thread.
 */
void metrics_mail_outcomes(struct metrics_mail *mm, const char *destination, unsigned delivered,
    unsigned deferred, unsigned failed, time_t now);
/* A recipient failed for good (after the delivery counted it): kept for the status page. Loop thread. */
void metrics_mail_failure(struct metrics_mail *mm, const struct metrics_recent_failure *f);
void metrics_mail_dsn(struct metrics_mail *mm, enum metrics_dsn_type type);

/*
 * Gauges computed when the text is written: fn fills the family it is
 * given (mxrelay_queue_messages{state}, mxrelay_queue_recipients{state},
 * mxrelay_queue_oldest_seconds, mxrelay_queue_available,
 * mxrelay_sessions{direction}).
 */
void metrics_mail_set_queue_collect(struct metrics_mail *mm, metrics_collect_fn *messages,
    metrics_collect_fn *recipients, metrics_collect_fn *oldest, metrics_collect_fn *available,
    void *arg);
void metrics_mail_set_sessions_collect(struct metrics_mail *mm, metrics_collect_fn *fn, void *arg);

/* A connection, MAIL or RCPT was refused by a rate limit. */
void metrics_mail_rate_limited(struct metrics_mail *mm, enum metrics_rate_limit limit);
/*
 * The rate limit table, read when the text is written: its buckets held
 * now (mxrelay_rate_limit_entries) and the live ones dropped from a full
 * table (mxrelay_rate_limit_evictions_total).
 */
void metrics_mail_set_rate_collect(struct metrics_mail *mm, metrics_collect_fn *entries,
    metrics_collect_fn *evictions, void *arg);

void metrics_mail_totals(const struct metrics_mail *mm, struct metrics_mail_totals *out);
const struct metrics_recent *metrics_mail_recent(const struct metrics_mail *mm);

#endif
