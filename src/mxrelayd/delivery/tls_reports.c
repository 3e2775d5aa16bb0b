/*
 * tls_reports: making and sending the daily TLS reports (see
 * tls_reports.h). One run handles one day: its rows are read first, all
 * of them, on the queue's side thread (the loop never waits on the
 * store); then one domain at a time: ask its `_smtp._tls` record, write
 * the report, queue a mail or POST it to each reporting URI in turn, and
 * record what it came to (on the side thread again).
 */
#include "tls_reports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <event2/event.h>

#include "config/config.h"
#include "dns/dns_mx.h"
#include "dns/dns_rr.h"
#include "dns/dns_txt.h"
#include "net/net_http.h"
#include "queue/queue_side.h"
#include "queue/queue_store.h"
#include "tls_results.h"
#include "tlsrpt/tlsrpt_gzip.h"
#include "tlsrpt/tlsrpt_mail.h"
#include "tlsrpt/tlsrpt_record.h"
#include "tlsrpt/tlsrpt_report.h"
#include "tlsrpt/tlsrpt_time.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How often the daily run is looked at, and how long results are kept. */
#define TRS_CHECK_SECONDS 300
#define TRS_KEEP_DAYS 14
/* A day whose report failed for now (a lookup, the store) is tried again this much later. */
#define TRS_RETRY_SECONDS 3600
/* Reports start this long after midnight UTC, plus up to TRS_SPREAD_SECONDS at random. */
#define TRS_START_SECONDS 300
#define TRS_SPREAD_SECONDS 1800
/* A POST may take this long. */
#define TRS_POST_TIMEOUT_MS 60000u
/* Rows of one domain and day read for a report. */
#define TRS_ROWS_MAX 10000

/* A day that failed for now, and when it may be tried again. */
struct trs_hold {
	int64_t day, at;
};

/* One stored row, copied. */
struct trs_row {
	char *type, *policy, *result, *sip, *host, *ip, *helo, *detail;
	uint64_t n;
};

struct trs_plan;

struct tls_reports {
	struct event_base *base;
	const struct config *cfg;		/* borrowed; replaced at reload */
	struct queue_store *q;			/* borrowed */
	struct queue_side *side;		/* borrowed, or NULL: the store read from the loop */
	bool picking;				/* the daily check's reading is under way */
	struct tls_results *results;		/* borrowed */
	void (*queued)(void *arg);
	void *queued_arg;
	struct dns_resolver *dns;		/* owned */
	struct net_http *http;			/* owned */
	struct event *timer;			/* owned: the daily check */
	struct event *step;			/* owned: the next step of a run, from the loop */
	int64_t start_after;			/* seconds after midnight the daily run starts */
	/* the run under way */
	bool running;
	int64_t day;
	bool keep;				/* the day is not over: rows stay */
	struct trs_plan *plan;			/* owned: the day read from the store */
	size_t cur;
	char *text;				/* owned: what each domain came to */
	size_t textlen;
	bool all_ok;
	bool retry;				/* a domain failed for now: the day is tried again */
	struct trs_hold held[TRS_KEEP_DAYS];	/* by day: not tried again before at */
	tls_reports_done_fn *done;
	void *done_arg;
	/* the domain under way */
	struct dns_query *dq;
	struct net_http_req *post;
	struct tlsrpt_rua rua;
	size_t uri;
	char report_id[128];
	unsigned char *gz;			/* owned */
	size_t gzlen;
	char outcome[2048];
	bool sent_any;
};

static void trs_next_uri(struct tls_reports *r);
static void trs_next_domain(struct tls_reports *r);

static int64_t trs_now(void)
{
	return (int64_t)time(NULL);
}

/* Append a line to the run's text. */
static void trs_say(struct tls_reports *r, const char *line)
{
	size_t n = strlen(line);
	r->text = xrealloc(r->text, r->textlen + n + 2);
	memcpy(r->text + r->textlen, line, n);
	r->textlen += n;
	r->text[r->textlen++] = '\n';
	r->text[r->textlen] = '\0';
}

/* A resolver for the configuration (its server and trust anchors). */
static void trs_resolver(struct tls_reports *r)
{
	const char *err = NULL;
	struct dns_resolver *d = dns_resolver_new(r->base, r->cfg->dns_server,
	    r->cfg->dnssec_anchors, &err);
	if (d == NULL) {
		log_msg(LOG_LVL_WARN, "event=tls-reports-resolver-failed reason=\"%s\"",
		    err != NULL ? err : "?");
		return;
	}
	dns_resolver_free(r->dns);
	r->dns = d;
}

/* ---- reading a day's rows ---- */

struct trs_rows {
	struct trs_row *v;
	size_t n, cap;
	char **domains;			/* distinct domains, in order (listing by day) */
	size_t ndomains;
	bool want_domains;
};

static bool trs_take_row(void *arg, const struct queue_tlsrpt_row *qr)
{
	struct trs_rows *rows = arg;
	if (rows->want_domains) {
		if (rows->ndomains == 0 || strcmp(rows->domains[rows->ndomains - 1], qr->domain) != 0) {
			rows->domains = xreallocarray(rows->domains, rows->ndomains + 1, sizeof(char *));
			rows->domains[rows->ndomains++] = xstrdup(qr->domain);
		}
		return true;
	}
	if (rows->n >= TRS_ROWS_MAX)
		return false;
	if (rows->n == rows->cap) {
		rows->cap = rows->cap ? rows->cap * 2 : 16;
		rows->v = xreallocarray(rows->v, rows->cap, sizeof(*rows->v));
	}
	rows->v[rows->n++] = (struct trs_row){
		.type = xstrdup(qr->policy_type), .policy = xstrdup(qr->policy),
		.result = xstrdup(qr->result), .sip = xstrdup(qr->sending_ip),
		.host = xstrdup(qr->mx_host), .ip = xstrdup(qr->mx_ip), .helo = xstrdup(qr->mx_helo),
		.detail = xstrdup(qr->detail), .n = qr->sessions,
	};
	return true;
}

static void trs_rows_free(struct trs_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		struct trs_row *w = &rows->v[i];
		free(w->type);
		free(w->policy);
		free(w->result);
		free(w->sip);
		free(w->host);
		free(w->ip);
		free(w->helo);
		free(w->detail);
	}
	free(rows->v);
	for (size_t i = 0; i < rows->ndomains; i++)
		free(rows->domains[i]);
	free(rows->domains);
}

/* ---- a day read from the store, on the side thread ---- */

/* One domain of a day: whether its report was made, and its rows. */
struct trs_domain_plan {
	char *domain;			/* owned */
	bool reported;
	struct trs_rows rows;		/* owned */
	char err[256];			/* when its rows could not be read */
};

/* What one reading of the store gives a run, or the daily check. */
struct trs_plan {
	struct tls_reports *r;
	int64_t day;			/* the run's day; the check's answer (-1: none) */
	bool keep;
	struct trs_domain_plan *d;	/* owned */
	size_t n;
	char err[256];			/* the day's listing failed */
	/* the daily check's question */
	bool may_pick;			/* else only prune */
	int64_t now, today;
	struct trs_hold held[TRS_KEEP_DAYS];
};

static void trs_plan_free(struct trs_plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->d[i].domain);
		trs_rows_free(&p->d[i].rows);
	}
	free(p->d);
	free(p);
}

/* Read day: its domains, which were reported (unless the day is kept), their rows. */
static void trs_read_day(struct queue_store *q, struct trs_plan *p)
{
	struct trs_rows names = { .want_domains = true };
	if (queue_tlsrpt_list(q, p->day, p->day, NULL, trs_take_row, &names, p->err,
	    sizeof(p->err)) < 0) {
		trs_rows_free(&names);
		return;
	}
	p->err[0] = '\0';
	p->d = xcalloc(names.ndomains > 0 ? names.ndomains : 1, sizeof(*p->d));
	for (size_t i = 0; i < names.ndomains; i++) {
		struct trs_domain_plan *d = &p->d[p->n++];
		d->domain = names.domains[i];
		names.domains[i] = NULL;
		char err[256];
		d->reported = !p->keep && queue_tlsrpt_was_reported(q, p->day, d->domain, err,
		    sizeof(err)) == 1;
		if (d->reported)
			continue;
		d->rows.want_domains = false;
		if (queue_tlsrpt_list(q, p->day, p->day, d->domain, trs_take_row, &d->rows, d->err,
		    sizeof(d->err)) >= 0)
			d->err[0] = '\0';
	}
	trs_rows_free(&names);
}

/* The daily check: prune, then the oldest day kept, over, not held, with a domain not reported. */
static void trs_pick_day(struct queue_store *q, struct trs_plan *p)
{
	char err[256];
	if (queue_tlsrpt_prune(q, p->today - TRS_KEEP_DAYS * 86400, err, sizeof(err)) < 0)
		log_msg(LOG_LVL_WARN, "event=tls-results-prune-failed reason=\"%s\"", err);
	p->day = -1;
	for (int64_t day = p->today - TRS_KEEP_DAYS * 86400; p->may_pick && day < p->today &&
	    p->day < 0; day += 86400) {
		const struct trs_hold *h = &p->held[(day / 86400) % TRS_KEEP_DAYS];
		if (h->day == day && p->now < h->at)
			continue;
		struct trs_rows rows = { .want_domains = true };
		if (queue_tlsrpt_list(q, day, day, NULL, trs_take_row, &rows, err, sizeof(err)) > 0)
			for (size_t i = 0; i < rows.ndomains && p->day < 0; i++)
				if (queue_tlsrpt_was_reported(q, day, rows.domains[i], err,
				    sizeof(err)) == 0)
					p->day = day;
		trs_rows_free(&rows);
	}
}

static void trs_read_day_job(struct queue_store *q, void *arg)
{
	trs_read_day(q, arg);
}

static void trs_pick_day_job(struct queue_store *q, void *arg)
{
	trs_pick_day(q, arg);
}

/* Run job on the side thread (or here, without one), then done on the loop. */
static void trs_side(struct tls_reports *r, queue_side_fn *job, queue_side_done_fn *done,
    void *arg)
{
	if (r->side != NULL) {
		queue_side_run(r->side, job, done, arg);
		return;
	}
	job(r->q, arg);
	done(arg);
}

/* The domain under way. */
static const char *trs_domain(const struct tls_reports *r)
{
	return r->plan->d[r->cur].domain;
}

/* What a report came to, to remember (on the side thread). */
struct trs_record {
	int64_t day, at;
	char *domain, *report_id, *outcome;	/* owned */
};

static void trs_record_job(struct queue_store *q, void *arg)
{
	struct trs_record *w = arg;
	char err[256];
	if (queue_tlsrpt_reported(q, w->day, w->domain, w->report_id, w->outcome, w->at, true, err,
	    sizeof(err)) != 0)
		log_msg(LOG_LVL_WARN, "event=tls-report-not-recorded domain=%s reason=\"%s\"",
		    w->domain, err);
}

static void trs_record_done(void *arg)
{
	struct trs_record *w = arg;
	free(w->domain);
	free(w->report_id);
	free(w->outcome);
	free(w);
}

/* Remember the report of domain (its rows go with it). */
static void trs_record(struct tls_reports *r, const char *domain)
{
	struct trs_record *w = xmalloc(sizeof(*w));
	*w = (struct trs_record){ .day = r->day, .at = trs_now(), .domain = xstrdup(domain),
	    .report_id = xstrdup(r->report_id), .outcome = xstrdup(r->outcome) };
	trs_side(r, trs_record_job, trs_record_done, w);
}

/* ---- writing one report ---- */

/* The result type of a stored name (validation-failure for one this build does not know). */
static enum tlsrpt_result_type trs_result(const char *name)
{
	for (int t = 0; t < TLSRPT_RESULT_COUNT; t++) {
		const char *n = tlsrpt_result_type_name((enum tlsrpt_result_type)t);
		if (n != NULL && strcmp(n, name) == 0)
			return (enum tlsrpt_result_type)t;
	}
	return TLSRPT_RESULT_VALIDATION_FAILURE;
}

static enum tlsrpt_policy_type trs_policy_type(const char *name)
{
	if (strcmp(name, "tlsa") == 0)
		return TLSRPT_POLICY_TLSA;
	if (strcmp(name, "sts") == 0)
		return TLSRPT_POLICY_STS;
	return TLSRPT_POLICY_NO_POLICY_FOUND;
}

/* Lines of a policy's text (pointers into the copy *buf, which the caller frees). */
static size_t trs_lines(const char *text, char **buf, const char ***lines)
{
	*buf = xstrdup(text);
	size_t n = 0, cap = 0;
	*lines = NULL;
	for (char *p = *buf; *p != '\0';) {
		char *nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (*p != '\0') {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				*lines = xreallocarray(*lines, cap, sizeof(char *));
			}
			(*lines)[n++] = p;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

/*
 * The report of rows as gzip'd JSON into r->gz: one policy per distinct
 * (type, text), its successes summed, a failure detail per failure row.
 */
static bool trs_write(struct tls_reports *r, const char *domain, const struct trs_rows *rows,
    char *why, size_t whylen)
{
	size_t np = 0;
	struct tlsrpt_policy *pol = xcalloc(rows->n ? rows->n : 1, sizeof(*pol));
	struct tlsrpt_failure *fail = xcalloc(rows->n ? rows->n : 1, sizeof(*fail));
	char **bufs = xcalloc(rows->n ? rows->n : 1, sizeof(char *));
	const char ***lines = xcalloc(rows->n ? rows->n : 1, sizeof(char **));
	const char ***mx = xcalloc(rows->n ? rows->n : 1, sizeof(char **));
	size_t nf = 0;
	for (size_t i = 0; i < rows->n; i++) {
		const struct trs_row *w = &rows->v[i];
		if (i == 0 || strcmp(w->type, rows->v[i - 1].type) != 0 ||
		    strcmp(w->policy, rows->v[i - 1].policy) != 0) {
			struct tlsrpt_policy *p = &pol[np];
			p->type = trs_policy_type(w->type);
			p->policy_domain = domain;
			p->npolicy_string = trs_lines(w->policy, &bufs[np], &lines[np]);
			p->policy_string = lines[np];
			/* RFC 8460 4.4: an MTA-STS policy's MX patterns, a TLSA policy's host. */
			size_t k = 0;
			mx[np] = xcalloc(p->npolicy_string + 1, sizeof(char *));
			for (size_t l = 0; p->type == TLSRPT_POLICY_STS && l < p->npolicy_string; l++)
				if (strncmp(lines[np][l], "mx: ", 4) == 0)
					mx[np][k++] = lines[np][l] + 4;
			if (p->type == TLSRPT_POLICY_TLSA && w->host[0] != '\0')
				mx[np][k++] = w->host;
			p->mx_host = mx[np];
			p->nmx_host = k;
			p->failures = &fail[nf];
			np++;
		}
		struct tlsrpt_policy *p = &pol[np - 1];
		if (w->result[0] == '\0') {
			p->total_successful_session_count += w->n;
			continue;
		}
		p->total_failure_session_count += w->n;
		fail[nf++] = (struct tlsrpt_failure){
			.result_type = trs_result(w->result), .sending_mta_ip = w->sip,
			.receiving_mx_hostname = w->host, .receiving_mx_helo = w->helo,
			.receiving_ip = w->ip, .failed_session_count = w->n,
			.failure_reason_code = w->detail,
		};
		p->nfailures++;
	}
	struct tlsrpt_report rep = {
		.organization_name = r->cfg->tlsrpt_organization,
		.start_datetime = r->day,
		.end_datetime = r->day + 86399,
		.contact_info = r->cfg->tlsrpt_contact,
		.report_id = r->report_id,
		.policies = pol,
		.npolicies = np,
	};
	size_t len = 0;
	bool ok = false;
	char *json = NULL;
	if (tlsrpt_report_write(&rep, NULL, 0, &len, why, whylen) != TLSRPT_REPORT_INVALID) {
		json = xmalloc(len + 1);
		ok = tlsrpt_report_write(&rep, json, len + 1, &len, why, whylen) == TLSRPT_REPORT_OK;
	}
	if (ok) {
		size_t cap = tlsrpt_gzip_bound(len);
		free(r->gz);
		r->gz = xmalloc(cap);
		ok = tlsrpt_gzip(json, len, r->gz, cap, &r->gzlen) == TLSRPT_GZIP_OK;
		if (!ok)
			snprintf(why, whylen, "cannot compress the report");
	}
	free(json);
	for (size_t i = 0; i < np; i++) {
		free(bufs[i]);
		free(lines[i]);
		free(mx[i]);
	}
	free(bufs);
	free(lines);
	free(mx);
	free(fail);
	free(pol);
	return ok;
}

/* ---- sending it ---- */

/* The domain is done: note the outcome, remember the report, go on. */
static void trs_domain_done(struct tls_reports *r, bool forget)
{
	const char *domain = trs_domain(r);
	char line[sizeof(r->outcome) + DNS_RR_NAME_MAX + 2];
	snprintf(line, sizeof(line), "%s %s", domain, r->outcome);
	trs_say(r, line);
	char pr[sizeof(r->outcome) * 2];
	log_msg(LOG_LVL_INFO, "event=tls-report domain=%s day=%lld report_id=%s outcome=\"%s\"",
	    domain, (long long)r->day, r->report_id,
	    log_printable(pr, sizeof(pr), r->outcome, strlen(r->outcome)));
	/*
	 * A report made (or a domain that takes none) is remembered and its
	 * rows go; one that failed for now is tried again at the next run.
	 */
	if (!r->keep && forget)
		trs_record(r, domain);
	if (!forget)
		r->retry = true;
	r->cur++;
	event_active(r->step, 0, 0);
}

/* Add one URI's fate to the domain's outcome. */
static void trs_note(struct tls_reports *r, const char *what)
{
	size_t used = strlen(r->outcome);
	size_t room = sizeof(r->outcome) - used;
	/* The outcome is a note for the log and the command: a long list is cut, never overrun. */
	if (room > 3)
		snprintf(r->outcome + used, room, "%s%.*s", used > 0 ? "; " : "", (int)(room - 3), what);
}

static void trs_mail_committed(void *arg, bool ok, const char *err)
{
	struct tls_reports *r = arg;
	char what[700];
	snprintf(what, sizeof(what), ok ? "mailed to %s" : "not queued for %s: %s",
	    r->rua.u[r->uri].addr, err != NULL ? err : "");
	trs_note(r, what);
	if (ok) {
		r->sent_any = true;
		if (r->queued != NULL)
			r->queued(r->queued_arg);
	}
	r->uri++;
	trs_next_uri(r);
}

/* Queue the report as a mail to a mailto: URI (RFC 8460 5.3). */
static void trs_mail(struct tls_reports *r)
{
	const struct tlsrpt_uri *u = &r->rua.u[r->uri];
	const struct config *cfg = r->cfg;
	struct tlsrpt_mail m = {
		.from = cfg->tlsrpt_sender, .to = u->addr, .date = trs_now(),
		.submitter = cfg->tlsrpt_submitter, .policy_domain = trs_domain(r),
		.report_id = r->report_id, .begin = r->day, .end = r->day + 86399,
		.gz = r->gz, .gzlen = r->gzlen,
	};
	size_t len = 0;
	char why[256];
	char *text = NULL;
	enum tlsrpt_mail_status st = tlsrpt_mail_write(&m, NULL, 0, &len, why, sizeof(why));
	if (st != TLSRPT_MAIL_INVALID) {
		text = xmalloc(len + 1);
		st = tlsrpt_mail_write(&m, text, len + 1, &len, why, sizeof(why));
	}
	struct queue_writer *w = st == TLSRPT_MAIL_OK ? queue_writer_new(r->q) : NULL;
	if (w == NULL || queue_writer_append(w, text, len) != 0) {
		queue_writer_abort(w);
		free(text);
		char what[TLSRPT_ADDR_MAX + 300];
		snprintf(what, sizeof(what), "no mail for %s: %s", u->addr,
		    st != TLSRPT_MAIL_OK ? why : "cannot write to the queue");
		trs_note(r, what);
		r->uri++;
		trs_next_uri(r);
		return;
	}
	free(text);
	struct queue_rcpt_in to = { .address = u->addr, .notify = 0, .orcpt = NULL };
	struct queue_envelope env = {
		.sender = cfg->tlsrpt_sender,
		.client_ip = "127.0.0.1",
		.client_helo = cfg->hostname,
		.protocol = "local",
		.received_at = trs_now(),
		.rcpts = &to,
		.nrcpts = 1,
	};
	queue_writer_commit(w, &env, trs_mail_committed, r);
}

static void trs_post_done(const struct net_http_response *resp, void *arg)
{
	struct tls_reports *r = arg;
	r->post = NULL;
	char what[800];
	if (resp->fail == NET_HTTP_OK) {
		snprintf(what, sizeof(what), "posted to %s (%ld)", r->rua.u[r->uri].uri, resp->status);
		r->sent_any = true;
	} else {
		snprintf(what, sizeof(what), "not posted to %s: %s", r->rua.u[r->uri].uri,
		    resp->error);
	}
	trs_note(r, what);
	r->uri++;
	trs_next_uri(r);
}

/* The POST target's addresses came: post the report (RFC 8460 5.4). */
static void trs_post_host(const struct dns_mx_result *res, void *arg)
{
	struct tls_reports *r = arg;
	r->dq = NULL;
	const struct tlsrpt_uri *u = &r->rua.u[r->uri];
	struct net_http_opts o = {
		.url = u->uri,
		.ca_file = r->cfg->ca_file,
		.timeout_ms = TRS_POST_TIMEOUT_MS,
		.addrs = res->status == DNS_OK && res->nhosts > 0 ? res->hosts[0].addrs : NULL,
		.naddrs = res->status == DNS_OK && res->nhosts > 0 ? res->hosts[0].naddrs : 0,
		.content_type = "application/tlsrpt+gzip",
		.body = r->gz,
		.body_len = r->gzlen,
		.user_agent = "mxrelay/" MXR_VERSION,
	};
	r->post = net_http_start(r->http, &o, trs_post_done, r);
	if (r->post == NULL) {
		trs_note(r, "not posted: cannot start");
		r->uri++;
		trs_next_uri(r);
	}
}

/* The host of an https: URI ("https://host[:port]/..."), into out. */
static bool trs_uri_host(const char *uri, char *out, size_t cap)
{
	const char *h = uri + strlen("https://");
	size_t n = strcspn(h, ":/?#");
	if (n == 0 || n >= cap)
		return false;
	memcpy(out, h, n);
	out[n] = '\0';
	return true;
}

/* Send to the next reporting URI, or finish the domain. */
static void trs_next_uri(struct tls_reports *r)
{
	if (r->uri >= r->rua.n) {
		if (!r->sent_any)
			r->all_ok = false;
		trs_domain_done(r, true);
		return;
	}
	const struct tlsrpt_uri *u = &r->rua.u[r->uri];
	if (u->kind == TLSRPT_MAILTO) {
		trs_mail(r);
		return;
	}
	char host[256];
	if (r->dns == NULL || !trs_uri_host(u->uri, host, sizeof(host))) {
		trs_note(r, "not posted: no host in the URI");
		r->uri++;
		trs_next_uri(r);
		return;
	}
	r->dq = dns_host_resolve(r->dns, host, DNS_FAMILY_ANY, trs_post_host, r);
}

/* The domain's _smtp._tls record came: where its reports go. */
static void trs_rua(const struct dns_txt_result *res, void *arg)
{
	struct tls_reports *r = arg;
	r->dq = NULL;
	char why[256];
	if (res->status != DNS_OK) {
		/* Asked again at the next run: the rows stay. */
		snprintf(r->outcome, sizeof(r->outcome), "not sent: TLS-RPT record lookup failed: %s",
		    res->reason);
		r->all_ok = false;
		trs_domain_done(r, false);
		return;
	}
	enum tlsrpt_record_status st = tlsrpt_record_parse((const char *const *)res->texts, res->n,
	    &r->rua, why, sizeof(why));
	if (st != TLSRPT_RECORD_OK) {
		snprintf(r->outcome, sizeof(r->outcome), "not sent: %s",
		    st == TLSRPT_RECORD_NONE ? "the domain publishes no TLS-RPT record" : why);
		trs_domain_done(r, true);
		return;
	}
	r->uri = 0;
	trs_next_uri(r);
}

/* Start the report of the next domain, or end the run. */
static void trs_next_domain(struct tls_reports *r)
{
	while (r->plan != NULL && r->cur < r->plan->n) {
		struct trs_domain_plan *dp = &r->plan->d[r->cur];
		const char *domain = dp->domain;
		if (dp->reported) {
			r->cur++;
			continue;
		}
		if (dp->err[0] != '\0') {
			snprintf(r->outcome, sizeof(r->outcome), "not sent: %s", dp->err);
			r->all_ok = false;
			trs_domain_done(r, false);
			return;
		}
		uint8_t rnd[8];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			memset(rnd, 0, sizeof(rnd));
		char date[TLSRPT_TIME_RFC3339_SIZE];
		tlsrpt_time_rfc3339(r->day, date);
		snprintf(r->report_id, sizeof(r->report_id), "%.10s.%02x%02x%02x%02x%02x%02x%02x%02x@%s",
		    date, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
		    r->cfg->tlsrpt_submitter);
		r->outcome[0] = '\0';
		r->sent_any = false;
		char why[256];
		bool ok = trs_write(r, domain, &dp->rows, why, sizeof(why));
		if (!ok) {
			snprintf(r->outcome, sizeof(r->outcome), "not sent: %s", why);
			r->all_ok = false;
			trs_domain_done(r, false);
			return;
		}
		char name[DNS_RR_NAME_MAX + 16];
		snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
		r->dq = r->dns != NULL ? dns_txt_resolve(r->dns, name, trs_rua, r) : NULL;
		if (r->dq == NULL) {
			snprintf(r->outcome, sizeof(r->outcome), "not sent: no resolver");
			r->all_ok = false;
			trs_domain_done(r, false);
		}
		return;
	}
	/* The run is over. */
	r->running = false;
	if (r->retry && !r->keep) {
		struct trs_hold *h = &r->held[(r->day / 86400) % TRS_KEEP_DAYS];
		h->day = r->day;
		h->at = trs_now() + TRS_RETRY_SECONDS;
	}
	if (r->plan != NULL && r->plan->err[0] != '\0') {
		char line[300];
		snprintf(line, sizeof(line), "cannot read the TLS results: %s", r->plan->err);
		trs_say(r, line);
		r->all_ok = false;
	}
	trs_plan_free(r->plan);
	r->plan = NULL;
	if (r->text == NULL)
		trs_say(r, "no TLS results for that day");
	tls_reports_done_fn *done = r->done;
	void *arg = r->done_arg;
	char *text = r->text;
	r->text = NULL;
	r->textlen = 0;
	if (done != NULL)
		done(arg, r->all_ok, text);
	free(text);
}

static void trs_step_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	trs_next_domain(arg);
}

/* The day was read: start on its domains. */
static void trs_day_read(void *arg)
{
	struct trs_plan *p = arg;
	struct tls_reports *r = p->r;
	r->plan = p;
	r->cur = 0;
	event_active(r->step, 0, 0);
}

bool tls_reports_send(struct tls_reports *r, int64_t day, tls_reports_done_fn *done, void *arg)
{
	if (r->running || r->cfg->tlsrpt_organization == NULL)
		return false;
	/* Queued on the side thread before the reading: the counts of the last minute go in too. */
	tls_results_flush(r->results);
	r->running = true;
	r->day = day;
	r->keep = day + 86400 > trs_now();
	r->all_ok = true;
	r->retry = false;
	r->done = done;
	r->done_arg = arg;
	struct trs_plan *p = xcalloc(1, sizeof(*p));
	p->r = r;
	p->day = day;
	p->keep = r->keep;
	trs_side(r, trs_read_day_job, trs_day_read, p);
	return true;
}

/* The daily check's answer: the day to report, if any. */
static void trs_day_picked(void *arg)
{
	struct trs_plan *p = arg;
	struct tls_reports *r = p->r;
	r->picking = false;
	if (p->day >= 0 && !r->running)
		tls_reports_send(r, p->day, NULL, NULL);
	trs_plan_free(p);
}

/* The daily check: once the start time of today passed, yesterday (and earlier) are reported. */
static void trs_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct tls_reports *r = arg;
	if (r->picking)
		return;
	struct trs_plan *p = xcalloc(1, sizeof(*p));
	p->r = r;
	p->now = trs_now();
	p->today = tls_results_day(p->now);
	memcpy(p->held, r->held, sizeof(p->held));
	/* Pruning is done every time; which day to report only once today's start time passed. */
	p->may_pick = !r->running && r->cfg->tlsrpt_organization != NULL &&
	    p->now >= p->today + r->start_after;
	r->picking = true;
	trs_side(r, trs_pick_day_job, trs_day_picked, p);
}

struct tls_reports *tls_reports_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, struct queue_side *side, struct tls_results *results,
    void (*queued)(void *arg), void *arg)
{
	struct tls_reports *r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->cfg = cfg;
	r->q = q;
	r->side = side;
	r->results = results;
	r->queued = queued;
	r->queued_arg = arg;
	r->http = net_http_new(base);
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = 0;
	r->start_after = TRS_START_SECONDS + (int64_t)(rnd % TRS_SPREAD_SECONDS);
	trs_resolver(r);
	r->timer = event_new(base, -1, EV_PERSIST, trs_timer_cb, r);
	r->step = event_new(base, -1, 0, trs_step_cb, r);
	struct timeval tv = { TRS_CHECK_SECONDS, 0 };
	if (r->timer == NULL || r->step == NULL || event_add(r->timer, &tv) != 0)
		fatal("event=tls_reports_new error=\"cannot create timers\"");
	return r;
}

void tls_reports_set_config(struct tls_reports *r, const struct config *cfg)
{
	r->cfg = cfg;
	/* A run under way keeps its resolver; the next one uses the new settings. */
	if (!r->running)
		trs_resolver(r);
}

void tls_reports_free(struct tls_reports *r)
{
	if (r == NULL)
		return;
	dns_query_cancel(r->dq);
	net_http_free(r->http);
	dns_resolver_free(r->dns);
	event_free(r->timer);
	event_free(r->step);
	trs_plan_free(r->plan);
	free(r->text);
	free(r->gz);
	free(r);
}
