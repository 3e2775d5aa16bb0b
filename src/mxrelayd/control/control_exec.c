/*
 * control_exec: carrying out one control request against the queue store,
 * and the text and JSON forms of `mxrelay queue list` and `show`.
 *
 * Owns: the listing formats (shared by the daemon's socket and the
 * command line's direct read of the store, so both print the same).
 * Never: touches sockets; writes the queue only through queue_store.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config/config.h"
#include "control/control.h"
#include "queue/queue_store.h"
#include "util/log.h"
#include "util/xalloc.h"

/* ---- formatting ---- */

/* Append s with control characters shown as '?', so a terminal shows it as text. */
static void control_text_str(struct evbuffer *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char o = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
		evbuffer_add(b, &o, 1);
	}
}

void control_fmt_age(long long s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* A size as "512 B", "2.1 KiB" or "3.4 MiB". */
static void control_fmt_size(uint64_t n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024);
	else
		snprintf(buf, len, "%.1f MiB", (double)n / (1024 * 1024));
}

/* A time as "2026-03-01 14:02:11 UTC". */
static void control_fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* The last reply of a recipient as "451 4.4.1 text (mx)", into b. */
static void control_text_reply(struct evbuffer *b, int code, const char *esc, const char *reply,
    const char *mx)
{
	if (code != 0)
		evbuffer_add_printf(b, " %d", code);
	if (esc != NULL && *esc != '\0')
		evbuffer_add_printf(b, " %s", esc);
	if (reply != NULL && *reply != '\0') {
		evbuffer_add(b, " ", 1);
		control_text_str(b, reply, strlen(reply));
	}
	if (mx != NULL && *mx != '\0') {
		evbuffer_add(b, " (", 2);
		control_text_str(b, mx, strlen(mx));
		evbuffer_add(b, ")", 1);
	}
}

/* One recipient's line of the text listing. */
static void control_text_rcpt(struct evbuffer *b, const struct queue_rcpt *r, time_t now)
{
	char when[32];
	evbuffer_add_printf(b, "    %-9s <", queue_store_state_name(r->state));
	control_text_str(b, r->address, strlen(r->address));
	evbuffer_add(b, ">", 1);
	if (r->tries > 0)
		evbuffer_add_printf(b, " tries=%u", r->tries);
	if (r->state == QUEUE_RCPT_DEFERRED || r->state == QUEUE_RCPT_PENDING) {
		if (r->next_try > now) {
			control_fmt_age((long long)(r->next_try - now), when, sizeof(when));
			evbuffer_add_printf(b, " next-try-in=%s", when);
		}
	}
	/* A fleet's queue: the node delivering it now. */
	if (r->claim_node != NULL) {
		evbuffer_add(b, " claimed-by=", 12);
		control_text_str(b, r->claim_node, strlen(r->claim_node));
	}
	if (r->last_code != 0 || r->last_reply != NULL) {
		evbuffer_add(b, ":", 1);
		control_text_reply(b, r->last_code, r->last_esc, r->last_reply, r->last_mx);
	}
	evbuffer_add(b, "\n", 1);
}

/* The text listing's state while it walks the queue. */
struct control_list {
	struct evbuffer *b;
	size_t cap;
	time_t now;
	bool json;
	bool cut;		/* the cap was reached */
	uint64_t messages, bytes, rcpts[QUEUE_RCPT_BOUNCED + 1];
};

/* Append an SMTP reply code as a JSON number, or null when no reply decided (0). */
static void control_json_code(struct evbuffer *b, int code)
{
	if (code != 0)
		evbuffer_add_printf(b, "%d", code);
	else
		evbuffer_add(b, "null", 4);
}

/* Append one recipient (without history) as a JSON object. */
static void control_json_rcpt(struct evbuffer *b, const struct queue_rcpt *r)
{
	evbuffer_add(b, "{\"address\":", 11);
	control_json_str(b, r->address);
	evbuffer_add_printf(b, ",\"state\":\"%s\",\"tries\":%u,\"next_try\":%lld,"
	    "\"first_fail\":%lld,\"last_code\":", queue_store_state_name(r->state), r->tries,
	    (long long)r->next_try, (long long)r->first_fail);
	control_json_code(b, r->last_code);
	control_json_field(b, "last_esc", r->last_esc);
	control_json_field(b, "last_reply", r->last_reply);
	control_json_field(b, "last_mx", r->last_mx);
	if (r->claim_node != NULL)
		control_json_field(b, "claimed_by", r->claim_node);
}

/* The envelope fields common to list-json and show-json, without the closing brace. */
static void control_json_msg(struct evbuffer *b, const struct queue_msg *m, time_t now)
{
	evbuffer_add_printf(b, "{\"id\":\"%s\",\"size\":%" PRIu64 ",\"received_at\":%lld,"
	    "\"age\":%lld,\"sender\":", m->id, m->size, (long long)m->received_at,
	    (long long)(now > m->received_at ? now - m->received_at : 0));
	control_json_str(b, m->sender);
	evbuffer_add_printf(b, ",\"held\":%s", m->held ? "true" : "false");
}

/* queue_list_fn: one message of the listing. */
static bool control_list_one(void *arg, const struct queue_msg *m, const struct queue_rcpt *rcpts,
    size_t nrcpts)
{
	struct control_list *l = arg;
	if (evbuffer_get_length(l->b) >= l->cap) {
		l->cut = true;
		return false;
	}
	l->messages++;
	l->bytes += m->size;
	for (size_t i = 0; i < nrcpts; i++)
		if (rcpts[i].state <= QUEUE_RCPT_BOUNCED)
			l->rcpts[rcpts[i].state]++;
	if (l->json) {
		control_json_msg(l->b, m, l->now);
		evbuffer_add(l->b, ",\"recipients\":[", 15);
		for (size_t i = 0; i < nrcpts; i++) {
			if (i > 0)
				evbuffer_add(l->b, ",", 1);
			control_json_rcpt(l->b, &rcpts[i]);
			evbuffer_add(l->b, "}", 1);
		}
		evbuffer_add(l->b, "]}\n", 3);
		return true;
	}
	char size[32], age[32];
	control_fmt_size(m->size, size, sizeof(size));
	control_fmt_age((long long)(l->now - m->received_at), age, sizeof(age));
	evbuffer_add_printf(l->b, "%s  %8s  %7s  <", m->id, size, age);
	control_text_str(l->b, m->sender, strlen(m->sender));
	evbuffer_add_printf(l->b, ">%s\n", m->held ? "  HELD" : "");
	for (size_t i = 0; i < nrcpts; i++)
		control_text_rcpt(l->b, &rcpts[i], l->now);
	return true;
}

/* The whole listing, text or JSON lines. */
static enum control_status control_list(struct queue_store *q, bool json, time_t now,
    struct evbuffer *b, size_t cap, char *msg, size_t msglen)
{
	struct control_list l = { .b = b, .cap = cap, .now = now, .json = json };
	char err[256];
	if (queue_query_list(q, control_list_one, &l, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "cannot read the queue: %s", err);
		return CONTROL_E_STORE;
	}
	if (l.cut) {
		snprintf(msg, msglen, "the listing passed %zu octets; it was cut after %" PRIu64
		    " messages", cap, l.messages);
		return CONTROL_E_TOOLARGE;
	}
	uint64_t nr = 0;
	for (size_t i = 0; i <= QUEUE_RCPT_BOUNCED; i++)
		nr += l.rcpts[i];
	if (!json) {
		char size[32];
		control_fmt_size(l.bytes, size, sizeof(size));
		if (l.messages == 0) {
			evbuffer_add_printf(b, "queue is empty\n");
		} else {
			evbuffer_add_printf(b, "-- %" PRIu64 " message%s, %s, %" PRIu64 " recipient%s",
			    l.messages, l.messages == 1 ? "" : "s", size, nr, nr == 1 ? "" : "s");
			const char *sep = " (";
			for (int s = 0; s <= QUEUE_RCPT_BOUNCED; s++) {
				if (l.rcpts[s] == 0)
					continue;
				evbuffer_add_printf(b, "%s%" PRIu64 " %s", sep, l.rcpts[s],
				    queue_store_state_name((enum queue_rcpt_state)s));
				sep = ", ";
			}
			evbuffer_add_printf(b, ")\n");
		}
	}
	snprintf(msg, msglen, "%" PRIu64 " message%s", l.messages, l.messages == 1 ? "" : "s");
	return CONTROL_OK;
}

/* The header section as text lines (or one JSON string), control characters made safe. */
static void control_show_headers(struct evbuffer *b, const char *h, size_t n, bool json)
{
	if (json) {
		char *z = xmemdup0(h, n);
		control_json_str(b, z);
		free(z);
		return;
	}
	size_t i = 0;
	while (i < n) {
		size_t e = i;
		while (e < n && h[e] != '\n')
			e++;
		size_t l = e;
		if (l > i && h[l - 1] == '\r')
			l--;
		if (l > i) {
			evbuffer_add(b, "  ", 2);
			control_text_str(b, h + i, l - i);
			evbuffer_add(b, "\n", 1);
		}
		i = e + 1;
	}
}

/* control_show in JSON: one object with the message, its recipients and their history. */
static void control_show_json(struct evbuffer *b, const struct queue_msg *m,
    const struct queue_rcpt *r, size_t nr, const char *ret, const char *hdr, size_t hlen,
    time_t now)
{
	control_json_msg(b, m, now);
	control_json_field(b, "envid", m->envid);
	control_json_field(b, "ret", ret);
	evbuffer_add_printf(b, ",\"smtputf8\":%s,\"body_8bit\":%s,\"requiretls\":%s,"
	    "\"tls_optional\":%s,\"client_ip\":", m->smtputf8 ? "true" : "false",
	    m->body_8bit ? "true" : "false", m->requiretls ? "true" : "false",
	    m->tls_optional ? "true" : "false");
	control_json_str(b, m->client_ip);
	control_json_field(b, "client_helo", m->client_helo);
	control_json_field(b, "auth_user", m->auth_user);
	control_json_field(b, "protocol", m->protocol);
	evbuffer_add(b, ",\"recipients\":[", 15);
	for (size_t i = 0; i < nr; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		control_json_rcpt(b, &r[i]);
		control_json_field(b, "orcpt", r[i].orcpt);
		evbuffer_add_printf(b, ",\"notify\":%u,\"history\":[", r[i].notify);
		for (size_t k = 0; k < r[i].nhistory; k++) {
			const struct queue_try *t = &r[i].history[k];
			evbuffer_add_printf(b, "%s{\"at\":%lld,\"status\":\"%s\",\"code\":",
			    k > 0 ? "," : "", (long long)t->at, queue_store_state_name(t->status));
			control_json_code(b, t->code);
			control_json_field(b, "esc", t->esc);
			control_json_field(b, "reply", t->reply);
			control_json_field(b, "mx", t->mx);
			evbuffer_add(b, "}", 1);
		}
		evbuffer_add(b, "]}", 2);
	}
	evbuffer_add(b, "],\"headers\":", 12);
	control_show_headers(b, hdr != NULL ? hdr : "", hlen, true);
	evbuffer_add(b, "}\n", 2);
}

/* control_show as text: the envelope, each recipient with its tries, then the headers. */
static void control_show_text(struct evbuffer *b, const struct queue_msg *m,
    const struct queue_rcpt *r, size_t nr, const char *ret, const char *hdr, size_t hlen,
    time_t now)
{
	char t1[40], t2[40];
	char size[32], age[32];
	control_fmt_time(m->received_at, t1, sizeof(t1));
	control_fmt_age((long long)(now - m->received_at), age, sizeof(age));
	control_fmt_size(m->size, size, sizeof(size));
	evbuffer_add_printf(b, "id:        %s%s\nsender:    <", m->id, m->held ? " (HELD)" : "");
	control_text_str(b, m->sender, strlen(m->sender));
	evbuffer_add_printf(b, ">\nreceived:  %s (%s ago) from [", t1, age);
	control_text_str(b, m->client_ip, m->client_ip ? strlen(m->client_ip) : 0);
	evbuffer_add(b, "] helo=", 7);
	control_text_str(b, m->client_helo, m->client_helo ? strlen(m->client_helo) : 0);
	evbuffer_add_printf(b, " with %s", m->protocol != NULL ? m->protocol : "?");
	if (m->auth_user != NULL) {
		evbuffer_add(b, " auth=", 6);
		control_text_str(b, m->auth_user, strlen(m->auth_user));
	}
	evbuffer_add_printf(b, "\nsize:      %" PRIu64 " octets (%s)%s%s\n", m->size, size,
	    m->body_8bit ? ", 8bit" : "", m->smtputf8 ? ", smtputf8" : "");
	/* RFC 8689: what the sender asked of the TLS of every hop. */
	if (m->requiretls || m->tls_optional)
		evbuffer_add_printf(b, "tls:       %s\n", m->requiretls ?
		    "REQUIRETLS (authenticated TLS to every hop, or a bounce)" :
		    "TLS-Required: No (recipient domains' TLS policies set aside)");
	if (m->envid != NULL || ret != NULL) {
		evbuffer_add(b, "dsn:      ", 10);
		if (ret != NULL)
			evbuffer_add_printf(b, " ret=%s", ret);
		if (m->envid != NULL) {
			evbuffer_add(b, " envid=", 7);
			control_text_str(b, m->envid, strlen(m->envid));
		}
		evbuffer_add(b, "\n", 1);
	}
	for (size_t i = 0; i < nr; i++) {
		evbuffer_add(b, "recipient: <", 12);
		control_text_str(b, r[i].address, strlen(r[i].address));
		evbuffer_add_printf(b, "> %s, tries=%u", queue_store_state_name(r[i].state),
		    r[i].tries);
		if ((r[i].state == QUEUE_RCPT_PENDING || r[i].state == QUEUE_RCPT_DEFERRED)) {
			control_fmt_time(r[i].next_try, t2, sizeof(t2));
			evbuffer_add_printf(b, ", next try %s", t2);
		}
		if (r[i].claim_node != NULL) {
			evbuffer_add(b, ", claimed by ", 13);
			control_text_str(b, r[i].claim_node, strlen(r[i].claim_node));
		}
		if (r[i].notify != 0)
			evbuffer_add_printf(b, ", notify=0x%x", r[i].notify);
		if (r[i].orcpt != NULL) {
			evbuffer_add(b, ", orcpt=", 8);
			control_text_str(b, r[i].orcpt, strlen(r[i].orcpt));
		}
		evbuffer_add(b, "\n", 1);
		for (size_t k = 0; k < r[i].nhistory; k++) {
			const struct queue_try *t = &r[i].history[k];
			control_fmt_time(t->at, t2, sizeof(t2));
			evbuffer_add_printf(b, "  %s %s:", t2, queue_store_state_name(t->status));
			control_text_reply(b, t->code, t->esc, t->reply, t->mx);
			evbuffer_add(b, "\n", 1);
		}
	}
	evbuffer_add(b, "headers:\n", 9);
	control_show_headers(b, hdr != NULL ? hdr : "", hlen, false);
}

/* The message id in detail: envelope, each recipient with its history, headers. */
static enum control_status control_show(struct queue_store *q, const char *id, bool json,
    time_t now, struct evbuffer *b, char *msg, size_t msglen)
{
	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	char err[256];
	memset(&m, 0, sizeof(m));
	int found = queue_query_message(q, id, &m, &r, &nr, true, err, sizeof(err));
	if (found <= 0) {
		if (found == 0)
			snprintf(msg, msglen, "no message %s", id);
		else
			snprintf(msg, msglen, "cannot read message %s: %s", id, err);
		queue_query_msg_clear(&m);
		return found == 0 ? CONTROL_E_NOTFOUND : CONTROL_E_STORE;
	}
	char *hdr = NULL;
	size_t hlen = 0;
	if (queue_query_headers(q, id, CONTROL_HEADERS_MAX, &hdr, &hlen, err, sizeof(err)) <= 0) {
		free(hdr);
		hdr = NULL;
		hlen = 0;
	}
	static const char *const rets[] = { NULL, "full", "hdrs" };
	const char *ret = (unsigned)m.ret < 3 ? rets[m.ret] : NULL;
	if (json)
		control_show_json(b, &m, r, nr, ret, hdr, hlen, now);
	else
		control_show_text(b, &m, r, nr, ret, hdr, hlen, now);
	free(hdr);
	queue_query_rcpts_free(r, nr);
	queue_query_msg_clear(&m);
	snprintf(msg, msglen, "message %s", id);
	return CONTROL_OK;
}

/* The distinct domains of undone recipients, gathered by control_flush_all. */
struct control_domains {
	char **d;
	size_t n, cap;
};

/* queue_list_fn: remember each domain with an undone recipient once. */
static bool control_domains_one(void *arg, const struct queue_msg *m,
    const struct queue_rcpt *rcpts, size_t nrcpts)
{
	struct control_domains *ds = arg;
	(void)m;
	for (size_t i = 0; i < nrcpts; i++) {
		if (rcpts[i].state != QUEUE_RCPT_PENDING && rcpts[i].state != QUEUE_RCPT_DEFERRED)
			continue;
		bool seen = false;
		for (size_t k = 0; k < ds->n && !seen; k++)
			seen = strcmp(ds->d[k], rcpts[i].domain) == 0;
		if (seen)
			continue;
		if (ds->n == ds->cap) {
			ds->cap = ds->cap ? ds->cap * 2 : 16;
			ds->d = xreallocarray(ds->d, ds->cap, sizeof(*ds->d));
		}
		ds->d[ds->n++] = xstrdup(rcpts[i].domain);
	}
	return true;
}

/* Make every undone recipient due now, one small transaction per domain. */
static enum control_status control_flush_all(struct queue_store *q, time_t now, char *msg,
    size_t msglen)
{
	struct control_domains ds = { 0 };
	char err[256];
	enum control_status st = CONTROL_OK;
	long total = 0;
	if (queue_query_list(q, control_domains_one, &ds, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "cannot read the queue: %s", err);
		st = CONTROL_E_STORE;
	}
	for (size_t i = 0; i < ds.n && st == CONTROL_OK; i++) {
		int n = queue_update_flush_domain(q, ds.d[i], now, err, sizeof(err));
		if (n < 0) {
			snprintf(msg, msglen, "cannot flush %s: %s", ds.d[i], err);
			st = CONTROL_E_STORE;
		}
		total += n > 0 ? n : 0;
	}
	for (size_t i = 0; i < ds.n; i++)
		free(ds.d[i]);
	free(ds.d);
	if (st == CONTROL_OK)
		snprintf(msg, msglen, "flushed %ld recipient%s of %zu domain%s (due now)", total,
		    total == 1 ? "" : "s", ds.n, ds.n == 1 ? "" : "s");
	return st;
}

/* A day's TLS results being listed. */
struct control_tlsrpt_rows {
	struct evbuffer *b;
	size_t cap;
	bool json;
	bool cut;		/* the cap was reached */
	uint64_t n;		/* rows written */
};

/* queue_tlsrpt_fn: one stored row as a line of text, or a JSON object. */
static bool control_tlsrpt_row(void *arg, const struct queue_tlsrpt_row *w)
{
	struct control_tlsrpt_rows *l = arg;
	const char *result = w->result[0] != '\0' ? w->result : "success";
	if (evbuffer_get_length(l->b) >= l->cap) {
		l->cut = true;
		return false;
	}
	if (l->json) {
		evbuffer_add_printf(l->b, "%s{\"domain\":", l->n > 0 ? "," : "");
		control_json_str(l->b, w->domain);
		control_json_field(l->b, "policy_type", w->policy_type);
		control_json_field(l->b, "result", result);
		evbuffer_add_printf(l->b, ",\"sessions\":%" PRIu64, w->sessions);
		control_json_field(l->b, "mx_host", w->mx_host);
		control_json_field(l->b, "mx_ip", w->mx_ip);
		control_json_field(l->b, "mx_helo", w->mx_helo);
		control_json_field(l->b, "sending_ip", w->sending_ip);
		control_json_field(l->b, "detail", w->detail);
		evbuffer_add(l->b, "}", 1);
	} else {
		control_text_str(l->b, w->domain, strlen(w->domain));
		evbuffer_add_printf(l->b, " %s %s sessions=%" PRIu64 " mx=", w->policy_type, result,
		    w->sessions);
		control_text_str(l->b, w->mx_host[0] != '\0' ? w->mx_host : "-",
		    w->mx_host[0] != '\0' ? strlen(w->mx_host) : 1);
		evbuffer_add(l->b, " ip=", 4);
		control_text_str(l->b, w->mx_ip[0] != '\0' ? w->mx_ip : "-",
		    w->mx_ip[0] != '\0' ? strlen(w->mx_ip) : 1);
		evbuffer_add(l->b, "\n", 1);
	}
	l->n++;
	return true;
}

/* The TLS results stored for the day req->arg names: per domain, policy, result and MX. */
static enum control_status control_tlsrpt_list(struct queue_store *q, const char *day_arg,
    bool json, struct evbuffer *b, size_t cap, char *msg, size_t msglen)
{
	int64_t day;
	if (!control_day_parse(day_arg, &day)) {
		snprintf(msg, msglen, "a day is YYYY-MM-DD");
		return CONTROL_E_USAGE;
	}
	struct control_tlsrpt_rows l = { .b = b, .cap = cap, .json = json };
	char err[256];
	if (json)
		evbuffer_add(b, "[", 1);
	if (queue_tlsrpt_list(q, day, day, NULL, control_tlsrpt_row, &l, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "cannot read the TLS results: %s", err);
		return CONTROL_E_STORE;
	}
	if (l.cut) {
		snprintf(msg, msglen, "the listing passed %zu octets; it was cut after %" PRIu64
		    " rows", cap, l.n);
		return CONTROL_E_TOOLARGE;
	}
	if (json)
		evbuffer_add(b, "]\n", 2);
	snprintf(msg, msglen, "%" PRIu64 " TLS result row%s", l.n, l.n == 1 ? "" : "s");
	return CONTROL_OK;
}

/* What a select request is walking for, and where the ids go. */
struct control_select {
	const struct control_req *req;
	struct evbuffer *b;
	size_t cap;
	bool cut;		/* the cap was reached */
	uint64_t n;		/* ids written */
};

/* queue_list_fn: write the id of a message the selection matches. */
static bool control_select_one(void *arg, const struct queue_msg *m,
    const struct queue_rcpt *rcpts, size_t nrcpts)
{
	struct control_select *sel = arg;
	bool match = false;
	switch (sel->req->verb) {
	case CONTROL_SELECT_DOMAIN:
		for (size_t i = 0; i < nrcpts && !match; i++)
			match = rcpts[i].domain != NULL && strcmp(rcpts[i].domain, sel->req->arg) == 0;
		break;
	case CONTROL_SELECT_SENDER:
		if (strcmp(sel->req->arg, "<>") == 0)
			match = m->sender == NULL || m->sender[0] == '\0';
		else
			match = m->sender != NULL && strcasecmp(m->sender, sel->req->arg) == 0;
		break;
	default:
		match = true;
		break;
	}
	if (!match)
		return true;
	if (evbuffer_get_length(sel->b) >= sel->cap) {
		sel->cut = true;
		return false;
	}
	evbuffer_add_printf(sel->b, "%s\n", m->id);
	sel->n++;
	return true;
}

/* The ids of the messages a select request matches, in id (arrival) order. */
static enum control_status control_select(struct queue_store *q, const struct control_req *req,
    struct evbuffer *b, size_t cap, char *msg, size_t msglen)
{
	struct control_select sel = { .req = req, .b = b, .cap = cap };
	char err[256];
	if (queue_query_list(q, control_select_one, &sel, err, sizeof(err)) < 0) {
		snprintf(msg, msglen, "cannot read the queue: %s", err);
		return CONTROL_E_STORE;
	}
	if (sel.cut) {
		snprintf(msg, msglen, "the selection passed %zu octets; it was cut after %" PRIu64
		    " messages", cap, sel.n);
		return CONTROL_E_TOOLARGE;
	}
	snprintf(msg, msglen, "%" PRIu64 " message%s", sel.n, sel.n == 1 ? "" : "s");
	return CONTROL_OK;
}

/* Whether message id is in the queue: 1, 0, or -1 (msg filled). */
static int control_exists(struct queue_store *q, const char *id, char *msg, size_t msglen)
{
	struct queue_msg m;
	char err[256];
	memset(&m, 0, sizeof(m));
	int found = queue_query_message(q, id, &m, NULL, NULL, false, err, sizeof(err));
	queue_query_msg_clear(&m);
	if (found < 0)
		snprintf(msg, msglen, "cannot read message %s: %s", id, err);
	else if (found == 0)
		snprintf(msg, msglen, "no message %s", id);
	return found;
}

enum control_status control_run(struct queue_store *q, const struct control_req *req,
    time_t now, struct evbuffer *body, size_t cap, char *msg, size_t msglen)
{
	char err[256];
	int n = 0;
	switch (req->verb) {
	case CONTROL_LIST:
	case CONTROL_LIST_JSON:
		return control_list(q, req->verb == CONTROL_LIST_JSON, now, body, cap, msg, msglen);
	case CONTROL_SHOW:
	case CONTROL_SHOW_JSON:
		return control_show(q, req->arg, req->verb == CONTROL_SHOW_JSON, now, body, msg, msglen);
	case CONTROL_FLUSH_ALL:
		return control_flush_all(q, now, msg, msglen);
	case CONTROL_FLUSH_DOMAIN:
		n = queue_update_flush_domain(q, req->arg, now, err, sizeof(err));
		break;
	case CONTROL_SELECT:
	case CONTROL_SELECT_DOMAIN:
	case CONTROL_SELECT_SENDER:
		return control_select(q, req, body, cap, msg, msglen);
	case CONTROL_FLUSH:
	case CONTROL_REQUEUE:
	case CONTROL_BOUNCE:
	case CONTROL_HOLD:
	case CONTROL_RELEASE:
	case CONTROL_DELETE: {
		int found = control_exists(q, req->arg, msg, msglen);
		if (found <= 0)
			return found == 0 ? CONTROL_E_NOTFOUND : CONTROL_E_STORE;
		/* Requeue is a flush of the whole message: tries and expiry stay as they are. */
		if (req->verb == CONTROL_FLUSH || req->verb == CONTROL_REQUEUE)
			n = queue_update_flush_msg(q, req->arg, now, err, sizeof(err));
		else if (req->verb == CONTROL_BOUNCE)
			n = queue_update_fail_waiting(q, req->arg, now, CONTROL_BOUNCE_ESC,
			    CONTROL_BOUNCE_TEXT, err, sizeof(err));
		else if (req->verb == CONTROL_DELETE)
			n = queue_update_delete(q, req->arg, err, sizeof(err));
		else
			n = queue_update_hold(q, req->arg, req->verb == CONTROL_HOLD, err, sizeof(err));
		break;
	}
	case CONTROL_TLSRPT_LIST:
	case CONTROL_TLSRPT_LIST_JSON:
		return control_tlsrpt_list(q, req->arg, req->verb == CONTROL_TLSRPT_LIST_JSON, body,
		    cap, msg, msglen);
	case CONTROL_RELOAD:
	case CONTROL_STATUS:
	case CONTROL_STATUS_JSON:
	case CONTROL_TLSRPT_SEND:
		snprintf(msg, msglen, "%s needs the running daemon", control_verb_name(req->verb));
		return CONTROL_E_USAGE;
	}
	if (n < 0) {
		snprintf(msg, msglen, "cannot %s %s: %s", control_verb_name(req->verb), req->arg, err);
		return CONTROL_E_STORE;
	}
	switch (req->verb) {
	case CONTROL_FLUSH:
	case CONTROL_FLUSH_DOMAIN:
		snprintf(msg, msglen, "flushed %d recipient%s of %s", n, n == 1 ? "" : "s", req->arg);
		break;
	case CONTROL_REQUEUE:
		snprintf(msg, msglen, "requeued %d recipient%s of %s", n, n == 1 ? "" : "s", req->arg);
		break;
	case CONTROL_BOUNCE:
		snprintf(msg, msglen, "bounced %d recipient%s of %s", n, n == 1 ? "" : "s", req->arg);
		break;
	case CONTROL_HOLD:
		snprintf(msg, msglen, "held %s", req->arg);
		break;
	case CONTROL_RELEASE:
		snprintf(msg, msglen, "released %s", req->arg);
		break;
	case CONTROL_DELETE:
		if (n == 0) {
			snprintf(msg, msglen, "no message %s", req->arg);
			return CONTROL_E_NOTFOUND;
		}
		snprintf(msg, msglen, "deleted %s", req->arg);
		break;
	default:
		break;
	}
	return CONTROL_OK;
}

