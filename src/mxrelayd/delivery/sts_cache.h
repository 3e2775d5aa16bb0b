/*
 * sts_cache: the engine's MTA-STS policies kept in the queue store, so
 * that a policy fetched once holds until it expires, across restarts and
 * reloads (RFC 8461 5.1).
 *
 * The policies not yet expired are read once, when the daemon starts,
 * and kept in memory; a policy the engine fetches is kept there at once
 * and written to the store by the queue's side thread. So a delivery
 * never waits on the store for a policy: on PostgreSQL each read would be
 * a round trip to the server. (Another node of a fleet fetches a policy
 * for itself the first time, then keeps it as this one does.)
 *
 * Owns: the table of policies (domain, id, text, times), the mapping
 * between the engine's struct mxr_sts_cached and the store's struct
 * queue_sts_policy. Never: decides anything about a policy (the engine
 * does); blocks the loop after start.
 */
#ifndef MXR_STS_CACHE_H
#define MXR_STS_CACHE_H

#include "mxrelay/mxrelay.h"

struct queue_store;
struct queue_side;
struct sts_cache;

/*
 * Read q's policies now (at start), and write new ones through side (NULL:
 * on q itself, synchronously).
 */
struct sts_cache *sts_cache_new(struct queue_store *q, struct queue_side *side);
/* The mxr_sts_store over c (c must outlive the engine contexts given it). */
void sts_cache_store(struct sts_cache *c, struct mxr_sts_store *out);
/* Policies held. */
size_t sts_cache_count(const struct sts_cache *c);
/* NULL is fine. */
void sts_cache_free(struct sts_cache *c);

#endif
