/*
 * status_rate: the rate limits' part of the status summary and their
 * gauges (docs/status.md, docs/metrics.md).
 *
 * Owns: what the summary says of the rate limits: the limits in force,
 * the buckets held and dropped, the refusals per limit since start, and
 * the clients and users that have no room now (the latest refused first,
 * at most STATUS_RATE_LIMITED of them).
 * Never: changes a bucket's room; walks the whole table (the table lists
 * what it refused lately).
 */
#ifndef MXR_STATUS_RATE_H
#define MXR_STATUS_RATE_H

struct evbuffer;
struct config;
struct ratelimit;
struct metrics_mail;
struct reload;

/* Clients and users listed as limited now, at most. */
#define STATUS_RATE_LIMITED 10

/* The "rate_limits" object's value (t NULL: no table, nothing counted). */
void status_rate_json(struct evbuffer *b, const struct config *cfg, struct ratelimit *t);
/* The text lines. */
void status_rate_text(struct evbuffer *b, const struct config *cfg, struct ratelimit *t);
/* mxrelay_rate_limit_entries and _evictions_total, read from the table of r's generation in force. */
void status_rate_register_gauges(struct metrics_mail *mm, struct reload *r);

#endif
