/*
 * tls_reports: the daily TLS reports (RFC 8460) of the results
 * tls_results stores: once a UTC day is over, for each policy domain with
 * results, its `_smtp._tls` record is looked up and one report in the
 * JSON of RFC 8460 4, gzip'd, goes to each reporting URI: mailto: as a
 * message queued through this relay, https: as a POST.
 *
 * Owns: when reports are made (from 00:05 UTC on, a few minutes apart at
 * random, RFC 8460 5.1 asks not to all send at midnight), grouping a
 * day's rows into the report's policies and failure details, the report
 * id, what each report came to (kept in the store; a domain's rows of a
 * day go once its report is made), pruning results older than two weeks,
 * and the listings the control socket gives.
 * Never: counts results (tls_results does); sends a report before its
 * day is over unless asked (`mxrelay tlsrpt send`), and then keeps the
 * rows for the full report after midnight.
 */
#ifndef MXR_TLS_REPORTS_H
#define MXR_TLS_REPORTS_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct config;
struct queue_store;
struct queue_side;
struct tls_results;
struct tls_reports;

/* What the reports of a day came to: ok, and one line per domain. */
typedef void tls_reports_done_fn(void *arg, bool ok, const char *text);

/*
 * Reports of the results in q, read and recorded by side's thread (NULL:
 * on q from the loop). queued(arg) is called after a mailed report was
 * queued (so the scheduler looks for it at once).
 */
struct tls_reports *tls_reports_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, struct queue_side *side, struct tls_results *results,
    void (*queued)(void *arg), void *arg);
/* A new configuration (reload): the organization, addresses and resolver follow it. */
void tls_reports_set_config(struct tls_reports *r, const struct config *cfg);
/* Reports under way are abandoned (their done is not called). NULL is fine. */
void tls_reports_free(struct tls_reports *r);

/*
 * Make and send the reports of day (00:00 UTC, Unix time) now; done once
 * every domain is handled. Before the day is over the rows are kept.
 * false (done not called) when reports are off or a run is under way.
 */
bool tls_reports_send(struct tls_reports *r, int64_t day, tls_reports_done_fn *done,
    void *arg);

#endif
