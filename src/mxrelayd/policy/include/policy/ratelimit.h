/*
 * ratelimit: token buckets per client and per user, in one bounded table
 * that lives for the daemon's life (a reload keeps it).
 *
 * Owns: one bucket per limit and key (a client's address key, a user
 * name), the exact arithmetic of a bucket that holds n and refills n every
 * period (how long until one more fits, to the millisecond), and the
 * table's bounds: entries that have refilled completely hold nothing and
 * are dropped (a heap ordered by the time each is full again; no scan),
 * and a table full of live entries drops the least recently used one.
 * Also the refusals per limit, and the entries refused lately, for the
 * status summary.
 * Never: does I/O, logs or reads the clock: the caller passes monotonic
 * milliseconds (a time earlier than one seen before counts as that one).
 * Loop thread only.
 */
#ifndef MXR_RATELIMIT_H
#define MXR_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The limits, one bucket each per key. */
enum ratelimit_kind {
	RATELIMIT_CLIENT_CONNECTION,	/* client_connection_rate */
	RATELIMIT_CLIENT_MESSAGE,	/* client_message_rate */
	RATELIMIT_CLIENT_RECIPIENT,	/* client_recipient_rate */
	RATELIMIT_USER_MESSAGE,		/* user_message_rate, user_rate messages= */
	RATELIMIT_USER_RECIPIENT,	/* user_recipient_rate, user_rate recipients= */
	RATELIMIT_NKINDS
};

/* The table the daemon keeps: at most this many buckets (~100 octets each). */
#define RATELIMIT_MAX_ENTRIES 100000
/* Longest key: a user name (a client's key is 17 octets). */
#define RATELIMIT_KEY_MAX 255

struct ratelimit;

/*
 * A table of at most max_entries buckets. seed keys the hash (SipHash), so
 * that clients cannot choose keys that share a chain; any value is
 * correct, a random one is safe.
 */
struct ratelimit *ratelimit_new(size_t max_entries, const uint8_t seed[16]);
void ratelimit_free(struct ratelimit *t);

/* "client_connection", "client_message", ... (the metrics' and the logs' name). */
const char *ratelimit_kind_name(enum ratelimit_kind kind);
/* Whether kind is keyed by user (else by client address). */
bool ratelimit_kind_is_user(enum ratelimit_kind kind);

/*
 * Milliseconds until the bucket of kind and key at rate has room for one
 * more at now_ms: 0 when it has now (always for a rate of no limit, and
 * for a key never seen). A bucket last used at another rate (a reload
 * changed it) is carried over to this one: the items it had taken (and
 * the part of one refilled so far) stay taken, at most the new rate's n.
 */
uint64_t ratelimit_wait(struct ratelimit *t, enum ratelimit_kind kind, const void *key,
    size_t keylen, const struct cfg_rate *rate, uint64_t now_ms);
/*
 * Take one from the bucket: true, or false (nothing taken) when it has no
 * room (ratelimit_wait said how long). Always true for a rate of no limit.
 */
bool ratelimit_take(struct ratelimit *t, enum ratelimit_kind kind, const void *key,
    size_t keylen, const struct cfg_rate *rate, uint64_t now_ms);
/*
 * Give back count items taken earlier (the transaction they were for
 * queued nothing): never past a full bucket; nothing for a bucket that
 * is full again or was dropped.
 */
void ratelimit_give(struct ratelimit *t, enum ratelimit_kind kind, const void *key,
    size_t keylen, unsigned count, uint64_t now_ms);
/* A request was refused for kind and key: counted, and the entry is the latest refused. */
void ratelimit_refused(struct ratelimit *t, enum ratelimit_kind kind, const void *key,
    size_t keylen, uint64_t now_ms);

/* Buckets held at now_ms (those full again by then dropped first). */
size_t ratelimit_count(struct ratelimit *t, uint64_t now_ms);
size_t ratelimit_max_entries(const struct ratelimit *t);
/* Live entries dropped because the table was full, since it was made. */
uint64_t ratelimit_evictions(const struct ratelimit *t);
/* True once: at the first call after the first eviction (to log the table full once). */
bool ratelimit_eviction_notice(struct ratelimit *t);
/* Refusals of kind since the table was made. */
uint64_t ratelimit_refusals(const struct ratelimit *t, enum ratelimit_kind kind);

/* One bucket with no room now, for the status summary. */
struct ratelimit_limited {
	enum ratelimit_kind kind;
	uint8_t key[RATELIMIT_KEY_MAX];
	size_t keylen;
	uint64_t retry_ms;		/* until one more fits */
	unsigned refusals;		/* since the bucket was last full */
};
/*
 * Up to max buckets that have no room at now_ms, the latest refused
 * first; the rest of the entries refused lately are looked at, at most
 * 4 * max + 64 of them. Returns how many were written to out.
 */
size_t ratelimit_limited(struct ratelimit *t, uint64_t now_ms, struct ratelimit_limited *out,
    size_t max);

#endif
