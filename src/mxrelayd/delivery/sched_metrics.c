/*
 * sched_metrics: what the scheduler counts in the daemon's metrics: each
 * delivery's time and recipient outcomes by destination, each permanent
 * failure with its envelope (the status page's last failures), each DSN
 * queued, and, through the engine's observer, outbound connections, TLS
 * handshakes and destination lookups.
 *
 * Owns: the mapping from recorded outcomes to counts. Never: decides an
 * outcome, or counts anything without s->metrics.
 */
#include "sched_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "metrics/metrics_mail.h"
#include "util/log.h"

void sched_set_metrics(struct sched *s, struct metrics_mail *mm)
{
	s->metrics = mm;
}

double sched_metrics_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sched_metrics_connected(void *arg)
{
	struct sched *s = arg;
	if (s->metrics != NULL)
		metrics_mail_session(s->metrics, METRICS_OUTBOUND);
}

static void sched_metrics_tls(void *arg, const char *version)
{
	struct sched *s = arg;
	if (s->metrics != NULL)
		metrics_mail_tls(s->metrics, METRICS_OUTBOUND, version);
}

static void sched_metrics_resolved(void *arg, double seconds)
{
	struct sched *s = arg;
	if (s->metrics != NULL)
		metrics_mail_dns(s->metrics, seconds);
}

/* A TLS policy's result, counted for TLS reporting when reports are made (tlsrpt_organization). */
static void sched_metrics_tls_report(void *arg, const struct mxr_tls_report *r)
{
	struct sched *s = arg;
	if (s->results != NULL && s->cfg->tlsrpt_organization != NULL)
		tls_results_count(s->results, r, (int64_t)time(NULL));
}

void sched_metrics_observer(struct sched *s, struct mxr_observer *out)
{
	*out = (struct mxr_observer){
		.connected = sched_metrics_connected,
		.tls = sched_metrics_tls,
		.resolved = sched_metrics_resolved,
		.tls_report = sched_metrics_tls_report,
		.arg = s,
	};
}

/* One recipient failed for good: its envelope and last reply, for the status page. */
static void sched_metrics_failure(struct sched *s, const struct sched_job *j,
    const struct sched_rcpt *r, const struct queue_outcome *o, const char *sender, time_t now)
{
	struct metrics_recent_failure f = { .when = now, .code = o->code };
	snprintf(f.queue_id, sizeof(f.queue_id), "%s", j->msg_id);
	snprintf(f.sender, sizeof(f.sender), "%s", sender != NULL ? sender : "");
	snprintf(f.rcpt, sizeof(f.rcpt), "%s", r->address);
	snprintf(f.destination, sizeof(f.destination), "%.*s", (int)sizeof(f.destination) - 1,
	    j->dest->key);
	snprintf(f.esc, sizeof(f.esc), "%s", o->esc != NULL ? o->esc : "");
	const char *text = o->reply != NULL ? o->reply : "";
	log_printable(f.text, sizeof(f.text), text, strlen(text));
	metrics_mail_failure(s->metrics, &f);
}

void sched_metrics_outcomes(struct sched *s, const struct sched_job *j,
    const struct queue_outcome *o, const char *sender, time_t now)
{
	if (s->metrics == NULL)
		return;
	unsigned delivered = 0, deferred = 0, failed = 0;
	for (size_t i = 0; i < j->n; i++) {
		if (o[i].state == QUEUE_RCPT_DELIVERED)
			delivered++;
		else if (o[i].state == QUEUE_RCPT_FAILED)
			failed++;
		else
			deferred++;
	}
	if (j->started > 0) {
		double seconds = sched_metrics_clock() - j->started;
		metrics_mail_delivery(s->metrics, j->dest->key, seconds > 0 ? seconds : 0, delivered,
		    deferred, failed, now);
	} else {
		metrics_mail_outcomes(s->metrics, j->dest->key, delivered, deferred, failed, now);
	}
	for (size_t i = 0; i < j->n; i++)
		if (o[i].state == QUEUE_RCPT_FAILED)
			sched_metrics_failure(s, j, &j->r[i], &o[i], sender, now);
}

void sched_metrics_dsn(struct sched *s, enum dsn_kind kind)
{
	if (s->metrics == NULL)
		return;
	switch (kind) {
	case DSN_FAILURE:
		metrics_mail_dsn(s->metrics, METRICS_DSN_FAILURE);
		break;
	case DSN_DELAY:
		metrics_mail_dsn(s->metrics, METRICS_DSN_DELAY);
		break;
	case DSN_SUCCESS:
		metrics_mail_dsn(s->metrics, METRICS_DSN_SUCCESS);
		break;
	}
}
