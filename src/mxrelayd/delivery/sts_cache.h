/*
 * sts_cache: the engine's MTA-STS policies kept in the queue store, so
 * that a policy fetched once holds until it expires, across restarts and
 * reloads (RFC 8461 5.1).
 *
 * Owns: the mapping between the engine's struct mxr_sts_cached and the
 * store's struct queue_sts_policy. Never: decides anything about a
 * policy (the engine does).
 */
#ifndef MXR_STS_CACHE_H
#define MXR_STS_CACHE_H

#include "mxrelay/mxrelay.h"

struct queue_store;

/* An mxr_sts_store over q (borrowed: it must outlive the engine contexts given it). */
void sts_cache_store(struct queue_store *q, struct mxr_sts_store *out);

#endif
