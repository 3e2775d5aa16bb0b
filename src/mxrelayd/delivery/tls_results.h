/*
 * tls_results: what the engine's TLS policies met on each attempt,
 * counted per day, policy domain, policy and result (RFC 8460 4), in
 * memory and then in the queue store once a minute, for the daily
 * reports (tls_reports).
 *
 * Owns: the counts not yet stored, the key they are grouped by (a
 * success counts per policy; a failure per result type, MX host and
 * addresses, as the report's failure-details are), and the flush.
 * Never: sends anything; keeps more than TLS_RESULTS_MAX keys in memory
 * (at the cap it stores at once, and drops the new count when the store
 * refuses).
 */
#ifndef MXR_TLS_RESULTS_H
#define MXR_TLS_RESULTS_H

#include <stdint.h>

#include "mxrelay/mxrelay.h"

struct event_base;
struct queue_store;
struct queue_side;
struct tls_results;

/* Keys held before a flush is forced. */
#define TLS_RESULTS_MAX 4096
/* Seconds between flushes. */
#define TLS_RESULTS_FLUSH_SECONDS 60

/* Counts stored in q, written by side's thread (NULL: on q from the loop). */
struct tls_results *tls_results_new(struct event_base *base, struct queue_store *q,
    struct queue_side *side);
/* Store what is counted, then free. NULL is fine. */
void tls_results_free(struct tls_results *t);
/* Count one attempt at Unix time now. */
void tls_results_count(struct tls_results *t, const struct mxr_tls_report *r, int64_t now);
/*
 * Store what is counted now (before a report is made): 0, or -1 (logged)
 * when written from the loop. Through the side thread the write is
 * queued before any later side job (a report reads after it).
 */
int tls_results_flush(struct tls_results *t);
/* 00:00 UTC of the day of t. */
int64_t tls_results_day(int64_t t);
/* "tlsa", "sts" or "no-policy-found". */
const char *tls_results_policy_name(enum mxr_tls_report_policy p);

#endif
