/*
 * metrics_mail: the mxrelay_* families and what each count means (see
 * metrics_mail.h and docs/metrics.md).
 */
#include "metrics/metrics_mail.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static const char *const metrics_rx_names[METRICS_RX_NRESULTS] = {
	"accepted", "refused_policy", "refused_address", "refused_size", "refused_hop_limit",
	"refused_syntax", "refused_storage", "refused_limit", "refused_other", "aborted",
};
static const char *const metrics_rcpt_names[METRICS_RCPT_NRESULTS] = {
	"accepted", "refused_policy", "refused_address", "refused_limit", "refused_other",
};
static const char *const metrics_dir_names[METRICS_NDIRECTIONS] = { "inbound", "outbound" };
static const char *const metrics_dsn_names[METRICS_DSN_NTYPES] = { "failure", "delay", "success" };
static const char *const metrics_status_names[] = { "delivered", "deferred", "failed" };
static const char *const metrics_rate_names[METRICS_RATE_NLIMITS] = {
	"client_connection", "client_message", "client_recipient", "user_message", "user_recipient",
};

/* Group commits gather up to a few hundred messages. */
static const double metrics_batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 };
/* An fsync takes from tens of microseconds (NVMe) to tens of milliseconds (disks). */
static const double metrics_commit_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

struct metrics_mail {
	struct metrics *m;			/* owned */
	struct metrics_family *rx;		/* {listener,result} */
	metrics_counter *rcpt[METRICS_RCPT_NRESULTS];
	metrics_counter *deliveries[3];
	metrics_counter *dsn[METRICS_DSN_NTYPES];
	metrics_counter *sessions_total[METRICS_NDIRECTIONS];
	struct metrics_family *tls;		/* {direction,version} */
	struct metrics_hist *commit_seconds, *commit_batch, *delivery_seconds, *dns_seconds;
	struct metrics_family *queue_messages, *queue_rcpts, *queue_oldest, *queue_available;
	struct metrics_family *sessions;
	metrics_counter *rate_limited[METRICS_RATE_NLIMITS];
	struct metrics_family *rate_entries, *rate_evictions;
	struct metrics_dest *dest;		/* owned */
	struct metrics_recent *recent;		/* owned; loop thread */
	_Atomic uint64_t received, refused, tls_total[METRICS_NDIRECTIONS];
};

static struct metrics_hist *metrics_mail_hist(struct metrics *m, const char *name, const char *help,
    const double *bounds, size_t nbounds)
{
	struct metrics_family *f = metrics_family_new(m, METRICS_HISTOGRAM, name, help, "");
	if (bounds != NULL)
		metrics_family_set_buckets(f, bounds, nbounds);
	return metrics_hist_at(f, NULL);
}

/* One series per value of a one-label family, made now so that every value is written from the start. */
static void metrics_mail_labelled(struct metrics *m, const char *name, const char *help,
    const char *label, const char *const *values, size_t n, metrics_counter **out)
{
	struct metrics_family *f = metrics_family_new(m, METRICS_COUNTER, name, help, label);
	for (size_t i = 0; i < n; i++)
		out[i] = metrics_counter_at(f, &values[i]);
}

struct metrics_mail *metrics_mail_new(size_t dest_slots)
{
	struct metrics_mail *mm = xcalloc(1, sizeof(*mm));
	struct metrics *m = mm->m = metrics_new();
	mm->rx = metrics_family_new(m, METRICS_COUNTER, "mxrelay_messages_received_total",
	    "SMTP transactions by listener and how they ended: accepted (queued) or the reason "
	    "they were refused", "listener,result");
	metrics_mail_labelled(m, "mxrelay_recipients_total", "RCPT commands by result", "result",
	    metrics_rcpt_names, METRICS_RCPT_NRESULTS, mm->rcpt);
	metrics_mail_labelled(m, "mxrelay_deliveries_total",
	    "Recipient outcomes: delivered, deferred (tried, or held back by a destination's "
	    "backoff) and failed (refused, or expired in the queue)", "status", metrics_status_names, 3,
	    mm->deliveries);
	metrics_mail_labelled(m, "mxrelay_connections_total",
	    "SMTP connections since start: inbound accepted, outbound connected", "direction",
	    metrics_dir_names, METRICS_NDIRECTIONS, mm->sessions_total);
	mm->tls = metrics_family_new(m, METRICS_COUNTER, "mxrelay_tls_sessions_total",
	    "SMTP connections that used TLS, by direction and protocol version", "direction,version");
	metrics_mail_labelled(m, "mxrelay_dsn_sent_total", "Delivery status notifications queued",
	    "type", metrics_dsn_names, METRICS_DSN_NTYPES, mm->dsn);
	mm->commit_seconds = metrics_mail_hist(m, "mxrelay_commit_seconds",
	    "Time of one group commit of the queue (the fsync the 250 waits for)",
	    metrics_commit_bounds, sizeof(metrics_commit_bounds) / sizeof(metrics_commit_bounds[0]));
	mm->commit_batch = metrics_mail_hist(m, "mxrelay_commit_batch_messages",
	    "Messages made durable by one group commit", metrics_batch_bounds,
	    sizeof(metrics_batch_bounds) / sizeof(metrics_batch_bounds[0]));
	mm->delivery_seconds = metrics_mail_hist(m, "mxrelay_delivery_seconds",
	    "Time of one delivery attempt of a message to one destination", NULL, 0);
	mm->dns_seconds = metrics_mail_hist(m, "mxrelay_dns_seconds",
	    "Time of one MX resolution (MX and address lookups)", NULL, 0);
	mm->queue_messages = metrics_family_new(m, METRICS_GAUGE, "mxrelay_queue_messages",
	    "Messages in the queue by state", "state");
	mm->queue_rcpts = metrics_family_new(m, METRICS_GAUGE, "mxrelay_queue_recipients",
	    "Recipients in the queue by state", "state");
	mm->queue_oldest = metrics_family_new(m, METRICS_GAUGE, "mxrelay_queue_oldest_seconds",
	    "Age of the oldest message in the queue (0 when empty)", "");
	mm->queue_available = metrics_family_new(m, METRICS_GAUGE, "mxrelay_queue_available",
	    "1 when the queue's store takes mail, 0 while its database server is out of reach", "");
	mm->sessions = metrics_family_new(m, METRICS_GAUGE, "mxrelay_sessions",
	    "SMTP sessions open now: inbound sessions, outbound deliveries", "direction");
	metrics_mail_labelled(m, "mxrelay_rate_limited_total",
	    "Connections, MAIL and RCPT commands refused by a rate limit, by limit", "limit",
	    metrics_rate_names, METRICS_RATE_NLIMITS, mm->rate_limited);
	mm->rate_entries = metrics_family_new(m, METRICS_GAUGE, "mxrelay_rate_limit_entries",
	    "Rate limit buckets held now (clients and users not yet refilled)", "");
	mm->rate_evictions = metrics_family_new(m, METRICS_COUNTER,
	    "mxrelay_rate_limit_evictions_total",
	    "Rate limit buckets dropped before they refilled because the table was full", "");
	mm->dest = metrics_dest_new(m, dest_slots);
	mm->recent = metrics_recent_new();
	return mm;
}

void metrics_mail_free(struct metrics_mail *mm)
{
	if (mm == NULL)
		return;
	metrics_dest_free(mm->dest);
	metrics_recent_free(mm->recent);
	metrics_free(mm->m);
	free(mm);
}

struct metrics *metrics_mail_registry(struct metrics_mail *mm)
{
	return mm->m;
}

void metrics_mail_set_dest_slots(struct metrics_mail *mm, size_t slots)
{
	metrics_dest_set_slots(mm->dest, slots);
}

/* The enhanced status code's subject and detail ("5.7.1" -> 7, 1); false without one. */
static bool metrics_esc_parts(const char *esc, int *subject, int *detail)
{
	if (esc == NULL || (esc[0] != '4' && esc[0] != '5') || esc[1] != '.')
		return false;
	char *end;
	long s = strtol(esc + 2, &end, 10);
	if (*end != '.')
		return false;
	*subject = (int)s;
	*detail = (int)strtol(end + 1, NULL, 10);
	return true;
}

enum metrics_rx_result metrics_mail_rx_reason(int code, const char *esc)
{
	int subject, detail;
	if (code >= 200 && code < 400)
		return METRICS_RX_ACCEPTED;
	if (!metrics_esc_parts(esc, &subject, &detail))
		return code == 552 ? METRICS_RX_REFUSED_SIZE : METRICS_RX_REFUSED_OTHER;
	switch (subject) {
	case 1:
		return METRICS_RX_REFUSED_ADDRESS;
	case 3:
		return detail == 4 ? METRICS_RX_REFUSED_SIZE : METRICS_RX_REFUSED_STORAGE;
	case 4:
		return detail == 6 ? METRICS_RX_REFUSED_HOP_LIMIT : METRICS_RX_REFUSED_OTHER;
	case 5:
		return detail == 3 ? METRICS_RX_REFUSED_LIMIT : METRICS_RX_REFUSED_SYNTAX;
	case 6:
		return METRICS_RX_REFUSED_SYNTAX;
	case 7:
		return detail == 0 && code < 500 ? METRICS_RX_REFUSED_LIMIT : METRICS_RX_REFUSED_POLICY;
	default:
		return METRICS_RX_REFUSED_OTHER;
	}
}

enum metrics_rcpt_result metrics_mail_rcpt_reason(int code, const char *esc)
{
	switch (metrics_mail_rx_reason(code, esc)) {
	case METRICS_RX_ACCEPTED:
		return METRICS_RCPT_ACCEPTED;
	case METRICS_RX_REFUSED_POLICY:
		return METRICS_RCPT_REFUSED_POLICY;
	case METRICS_RX_REFUSED_ADDRESS:
		return METRICS_RCPT_REFUSED_ADDRESS;
	case METRICS_RX_REFUSED_LIMIT:
		return METRICS_RCPT_REFUSED_LIMIT;
	default:
		return METRICS_RCPT_REFUSED_OTHER;
	}
}

void metrics_mail_received(struct metrics_mail *mm, const char *listener,
    enum metrics_rx_result result, time_t now)
{
	const char *values[] = { listener, metrics_rx_names[result] };
	metrics_add(metrics_counter_at(mm->rx, values), 1);
	if (result == METRICS_RX_ACCEPTED) {
		atomic_fetch_add_explicit(&mm->received, 1, memory_order_relaxed);
		metrics_recent_count(mm->recent, METRICS_RECENT_RECEIVED, 1, now);
	} else if (result != METRICS_RX_ABORTED) {
		atomic_fetch_add_explicit(&mm->refused, 1, memory_order_relaxed);
	}
}

void metrics_mail_rcpt(struct metrics_mail *mm, enum metrics_rcpt_result result)
{
	metrics_add(mm->rcpt[result], 1);
}

void metrics_mail_session(struct metrics_mail *mm, enum metrics_direction dir)
{
	metrics_add(mm->sessions_total[dir], 1);
}

void metrics_mail_tls(struct metrics_mail *mm, enum metrics_direction dir, const char *tls_version)
{
	const char *values[] = { metrics_dir_names[dir], tls_version != NULL ? tls_version : "unknown" };
	metrics_add(metrics_counter_at(mm->tls, values), 1);
	atomic_fetch_add_explicit(&mm->tls_total[dir], 1, memory_order_relaxed);
}

void metrics_mail_commit(struct metrics_mail *mm, double seconds, unsigned nmsgs)
{
	metrics_observe(mm->commit_seconds, seconds);
	metrics_observe(mm->commit_batch, nmsgs);
}

void metrics_mail_dns(struct metrics_mail *mm, double seconds)
{
	metrics_observe(mm->dns_seconds, seconds);
}

void metrics_mail_delivery(struct metrics_mail *mm, const char *destination, double seconds,
    unsigned delivered, unsigned deferred, unsigned failed, time_t now)
{
	metrics_observe(mm->delivery_seconds, seconds);
	metrics_mail_outcomes(mm, destination, delivered, deferred, failed, now);
}

void metrics_mail_outcomes(struct metrics_mail *mm, const char *destination, unsigned delivered,
    unsigned deferred, unsigned failed, time_t now)
{
	const unsigned counts[] = { delivered, deferred, failed };
	static const enum metrics_recent_kind kinds[] = {
		METRICS_RECENT_DELIVERED, METRICS_RECENT_DEFERRED, METRICS_RECENT_FAILED,
	};
	for (size_t s = 0; s < 3; s++) {
		if (counts[s] == 0)
			continue;
		metrics_add(mm->deliveries[s], counts[s]);
		metrics_recent_count(mm->recent, kinds[s], counts[s], now);
		metrics_dest_count(mm->dest, destination, (enum metrics_dest_status)s, counts[s]);
	}
}

void metrics_mail_failure(struct metrics_mail *mm, const struct metrics_recent_failure *f)
{
	metrics_recent_failure(mm->recent, f);
}

void metrics_mail_dsn(struct metrics_mail *mm, enum metrics_dsn_type type)
{
	metrics_add(mm->dsn[type], 1);
}

void metrics_mail_set_queue_collect(struct metrics_mail *mm, metrics_collect_fn *messages,
    metrics_collect_fn *recipients, metrics_collect_fn *oldest, metrics_collect_fn *available,
    void *arg)
{
	metrics_family_set_collect(mm->queue_messages, messages, arg);
	metrics_family_set_collect(mm->queue_rcpts, recipients, arg);
	metrics_family_set_collect(mm->queue_oldest, oldest, arg);
	metrics_family_set_collect(mm->queue_available, available, arg);
}

void metrics_mail_set_sessions_collect(struct metrics_mail *mm, metrics_collect_fn *fn, void *arg)
{
	metrics_family_set_collect(mm->sessions, fn, arg);
}

void metrics_mail_rate_limited(struct metrics_mail *mm, enum metrics_rate_limit limit)
{
	if ((unsigned)limit < METRICS_RATE_NLIMITS)
		metrics_add(mm->rate_limited[limit], 1);
}

void metrics_mail_set_rate_collect(struct metrics_mail *mm, metrics_collect_fn *entries,
    metrics_collect_fn *evictions, void *arg)
{
	metrics_family_set_collect(mm->rate_entries, entries, arg);
	metrics_family_set_collect(mm->rate_evictions, evictions, arg);
}

void metrics_mail_totals(const struct metrics_mail *mm, struct metrics_mail_totals *out)
{
	memset(out, 0, sizeof(*out));
	out->received = atomic_load_explicit(&mm->received, memory_order_relaxed);
	out->refused = atomic_load_explicit(&mm->refused, memory_order_relaxed);
	out->delivered = atomic_load_explicit(mm->deliveries[0], memory_order_relaxed);
	out->deferred = atomic_load_explicit(mm->deliveries[1], memory_order_relaxed);
	out->failed = atomic_load_explicit(mm->deliveries[2], memory_order_relaxed);
	for (size_t t = 0; t < METRICS_DSN_NTYPES; t++)
		out->dsn_sent += atomic_load_explicit(mm->dsn[t], memory_order_relaxed);
	for (size_t d = 0; d < METRICS_NDIRECTIONS; d++) {
		out->sessions[d] = atomic_load_explicit(mm->sessions_total[d], memory_order_relaxed);
		out->tls_sessions[d] = atomic_load_explicit(&mm->tls_total[d], memory_order_relaxed);
	}
}

const struct metrics_recent *metrics_mail_recent(const struct metrics_mail *mm)
{
	return mm->recent;
}
