/*
 * control: the daemon's control socket (see control.h for the protocol),
 * the request parser, and the queue listings in text and JSON.
 *
 * Owns: the listening socket file (created 0660 by the daemon's user,
 * removed on exit when it is still ours), one connection per request with
 * a capped request line and timeouts, the peer's credentials in the log,
 * and the formatting of `mxrelay queue list` and `show`.
 * Never: writes the queue other than through queue_store functions,
 * blocks on a client, or frees a connection whose queue update is still
 * in flight (the update's record outlives it, see struct control_op).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "mxrelayd/config.h"
#include "mxrelayd/control.h"
#include "mxrelayd/queue_store.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A client gets this long to send its request, and to read the reply. */
#define CONTROL_READ_TIMEOUT_S 10
#define CONTROL_WRITE_TIMEOUT_S 60
/* Most connections open at once; more are closed at accept. */
#define CONTROL_CONNS_MAX 64
/* The text given for an administrator's bounce. */
#define CONTROL_BOUNCE_ESC "5.0.0"
#define CONTROL_BOUNCE_TEXT "bounced by the administrator"

/* ---- the request grammar ---- */

enum control_argkind { CONTROL_ARG_NONE, CONTROL_ARG_ID, CONTROL_ARG_ID_OPT, CONTROL_ARG_DOMAIN };

static const struct control_verb_def {
	const char *name;
	enum control_verb verb;
	enum control_argkind arg;
	bool body;
} control_verbs[] = {
	{ "list", CONTROL_LIST, CONTROL_ARG_NONE, true },
	{ "list-json", CONTROL_LIST_JSON, CONTROL_ARG_NONE, true },
	{ "show", CONTROL_SHOW, CONTROL_ARG_ID, true },
	{ "show-json", CONTROL_SHOW_JSON, CONTROL_ARG_ID, true },
	{ "flush", CONTROL_FLUSH, CONTROL_ARG_ID_OPT, false },
	{ "flush-domain", CONTROL_FLUSH_DOMAIN, CONTROL_ARG_DOMAIN, false },
	{ "hold", CONTROL_HOLD, CONTROL_ARG_ID, false },
	{ "release", CONTROL_RELEASE, CONTROL_ARG_ID, false },
	{ "delete", CONTROL_DELETE, CONTROL_ARG_ID, false },
	{ "bounce", CONTROL_BOUNCE, CONTROL_ARG_ID, false },
};
#define CONTROL_NVERBS (sizeof(control_verbs) / sizeof(control_verbs[0]))

const char *control_verb_name(enum control_verb v)
{
	if (v == CONTROL_FLUSH_ALL)
		return "flush";
	for (size_t i = 0; i < CONTROL_NVERBS; i++)
		if (control_verbs[i].verb == v)
			return control_verbs[i].name;
	return "?";
}

bool control_verb_has_body(enum control_verb v)
{
	return v == CONTROL_LIST || v == CONTROL_LIST_JSON || v == CONTROL_SHOW ||
	    v == CONTROL_SHOW_JSON;
}

const char *control_status_name(enum control_status s)
{
	switch (s) {
	case CONTROL_OK: return "ok";
	case CONTROL_E_USAGE: return "usage";
	case CONTROL_E_NOTFOUND: return "notfound";
	case CONTROL_E_STORE: return "store";
	case CONTROL_E_TOOLARGE: return "toolarge";
	}
	return "?";
}

/* Check and copy a domain argument: lower case, no trailing dot. */
static int control_parse_domain(const char *s, size_t n, char *out, const char **why)
{
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > CONTROL_ARG_MAX) {
		*why = n == 0 ? "empty domain" : "domain too long";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || c == '@' || c == '"' || c == '\\') {
			*why = "bad character in domain";
			return -1;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
	}
	out[n] = '\0';
	return 0;
}

int control_parse(const char *line, size_t len, struct control_req *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > CONTROL_LINE_MAX) {
		*why = "request too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
			*why = "control character in request";
			return -1;
		}
	}
	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	const char *arg = line + vlen;
	size_t alen = len - vlen;
	while (alen > 0 && *arg == ' ') {
		arg++;
		alen--;
	}
	while (alen > 0 && arg[alen - 1] == ' ')
		alen--;
	if (vlen == 0) {
		*why = "empty request";
		return -1;
	}
	const struct control_verb_def *d = NULL;
	for (size_t i = 0; i < CONTROL_NVERBS; i++) {
		if (strlen(control_verbs[i].name) == vlen &&
		    memcmp(control_verbs[i].name, line, vlen) == 0) {
			d = &control_verbs[i];
			break;
		}
	}
	if (d == NULL) {
		*why = "unknown request";
		return -1;
	}
	out->verb = d->verb;
	if (memchr(arg, ' ', alen) != NULL) {
		*why = "too many arguments";
		return -1;
	}
	switch (d->arg) {
	case CONTROL_ARG_NONE:
		if (alen != 0) {
			*why = "this request takes no argument";
			return -1;
		}
		return 0;
	case CONTROL_ARG_DOMAIN:
		return control_parse_domain(arg, alen, out->arg, why);
	case CONTROL_ARG_ID_OPT:
		if (alen == 0) {
			out->verb = CONTROL_FLUSH_ALL;
			return 0;
		}
		/* fall through */
	case CONTROL_ARG_ID:
		if (alen == 0) {
			*why = "a queue id is needed";
			return -1;
		}
		if (alen != QUEUE_ID_LEN) {
			*why = "not a queue id";
			return -1;
		}
		memcpy(out->arg, arg, alen);
		out->arg[alen] = '\0';
		if (!queue_id_valid(out->arg)) {
			*why = "not a queue id";
			return -1;
		}
		return 0;
	}
	*why = "unknown request";
	return -1;
}

/* ---- formatting ---- */

/* Append s as a JSON string, or null when s is NULL. */
static void control_json_str(struct evbuffer *b, const char *s)
{
	if (s == NULL) {
		evbuffer_add(b, "null", 4);
		return;
	}
	evbuffer_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			evbuffer_add_printf(b, "\\u%04x", *p);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

/* Append s with control characters shown as '?', so a terminal shows it as text. */
static void control_text_str(struct evbuffer *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char o = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
		evbuffer_add(b, &o, 1);
	}
}

/* A duration as "45s", "12m", "3h05m" or "2d04h". */
static void control_fmt_age(long long s, char *buf, size_t len)
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

/* Append one recipient (without history) as a JSON object. */
static void control_json_rcpt(struct evbuffer *b, const struct queue_rcpt *r)
{
	evbuffer_add(b, "{\"address\":", 11);
	control_json_str(b, r->address);
	evbuffer_add_printf(b, ",\"state\":\"%s\",\"tries\":%u,\"next_try\":%lld,"
	    "\"first_fail\":%lld,\"last_code\":", queue_store_state_name(r->state), r->tries,
	    (long long)r->next_try, (long long)r->first_fail);
	if (r->last_code != 0)
		evbuffer_add_printf(b, "%d", r->last_code);
	else
		evbuffer_add(b, "null", 4);
	evbuffer_add(b, ",\"last_esc\":", 12);
	control_json_str(b, r->last_esc);
	evbuffer_add(b, ",\"last_reply\":", 14);
	control_json_str(b, r->last_reply);
	evbuffer_add(b, ",\"last_mx\":", 11);
	control_json_str(b, r->last_mx);
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
	char t1[40], t2[40];
	if (json) {
		control_json_msg(b, &m, now);
		evbuffer_add(b, ",\"envid\":", 9);
		control_json_str(b, m.envid);
		evbuffer_add(b, ",\"ret\":", 7);
		control_json_str(b, ret);
		evbuffer_add_printf(b, ",\"smtputf8\":%s,\"body_8bit\":%s,\"client_ip\":",
		    m.smtputf8 ? "true" : "false", m.body_8bit ? "true" : "false");
		control_json_str(b, m.client_ip);
		evbuffer_add(b, ",\"client_helo\":", 15);
		control_json_str(b, m.client_helo);
		evbuffer_add(b, ",\"auth_user\":", 13);
		control_json_str(b, m.auth_user);
		evbuffer_add(b, ",\"protocol\":", 12);
		control_json_str(b, m.protocol);
		evbuffer_add(b, ",\"recipients\":[", 15);
		for (size_t i = 0; i < nr; i++) {
			if (i > 0)
				evbuffer_add(b, ",", 1);
			control_json_rcpt(b, &r[i]);
			evbuffer_add(b, ",\"orcpt\":", 9);
			control_json_str(b, r[i].orcpt);
			evbuffer_add_printf(b, ",\"notify\":%u,\"history\":[", r[i].notify);
			for (size_t k = 0; k < r[i].nhistory; k++) {
				const struct queue_try *t = &r[i].history[k];
				evbuffer_add_printf(b, "%s{\"at\":%lld,\"status\":\"%s\",\"code\":",
				    k > 0 ? "," : "", (long long)t->at, queue_store_state_name(t->status));
				if (t->code != 0)
					evbuffer_add_printf(b, "%d", t->code);
				else
					evbuffer_add(b, "null", 4);
				evbuffer_add(b, ",\"esc\":", 7);
				control_json_str(b, t->esc);
				evbuffer_add(b, ",\"reply\":", 9);
				control_json_str(b, t->reply);
				evbuffer_add(b, ",\"mx\":", 6);
				control_json_str(b, t->mx);
				evbuffer_add(b, "}", 1);
			}
			evbuffer_add(b, "]}", 2);
		}
		evbuffer_add(b, "],\"headers\":", 12);
		control_show_headers(b, hdr != NULL ? hdr : "", hlen, true);
		evbuffer_add(b, "}\n", 2);
	} else {
		char size[32], age[32];
		control_fmt_time(m.received_at, t1, sizeof(t1));
		control_fmt_age((long long)(now - m.received_at), age, sizeof(age));
		control_fmt_size(m.size, size, sizeof(size));
		evbuffer_add_printf(b, "id:        %s%s\nsender:    <", m.id, m.held ? " (HELD)" : "");
		control_text_str(b, m.sender, strlen(m.sender));
		evbuffer_add_printf(b, ">\nreceived:  %s (%s ago) from [", t1, age);
		control_text_str(b, m.client_ip, m.client_ip ? strlen(m.client_ip) : 0);
		evbuffer_add(b, "] helo=", 7);
		control_text_str(b, m.client_helo, m.client_helo ? strlen(m.client_helo) : 0);
		evbuffer_add_printf(b, " with %s", m.protocol != NULL ? m.protocol : "?");
		if (m.auth_user != NULL) {
			evbuffer_add(b, " auth=", 6);
			control_text_str(b, m.auth_user, strlen(m.auth_user));
		}
		evbuffer_add_printf(b, "\nsize:      %" PRIu64 " octets (%s)%s%s\n", m.size, size,
		    m.body_8bit ? ", 8bit" : "", m.smtputf8 ? ", smtputf8" : "");
		if (m.envid != NULL || ret != NULL) {
			evbuffer_add(b, "dsn:      ", 10);
			if (ret != NULL)
				evbuffer_add_printf(b, " ret=%s", ret);
			if (m.envid != NULL) {
				evbuffer_add(b, " envid=", 7);
				control_text_str(b, m.envid, strlen(m.envid));
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
	int n;
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
	case CONTROL_FLUSH:
	case CONTROL_HOLD:
	case CONTROL_RELEASE:
	case CONTROL_DELETE: {
		int found = control_exists(q, req->arg, msg, msglen);
		if (found <= 0)
			return found == 0 ? CONTROL_E_NOTFOUND : CONTROL_E_STORE;
		if (req->verb == CONTROL_FLUSH)
			n = queue_update_flush_msg(q, req->arg, now, err, sizeof(err));
		else if (req->verb == CONTROL_DELETE)
			n = queue_update_delete(q, req->arg, err, sizeof(err));
		else
			n = queue_update_hold(q, req->arg, req->verb == CONTROL_HOLD, err, sizeof(err));
		break;
	}
	case CONTROL_BOUNCE:
	default:
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

/* ---- the socket ---- */

struct control_conn;

/* A bounce waiting for the writer thread; outlives its connection. */
struct control_op {
	struct control *ctl;		/* NULL once control_free ran */
	struct control_conn *conn;	/* NULL once the connection went */
	struct control_op *next;	/* in ctl->ops */
	char id[QUEUE_ID_LEN + 1];
	size_t n;			/* recipients bounced */
};

struct control_conn {
	struct control *ctl;
	struct bufferevent *bev;	/* owned */
	struct control_conn *next;	/* in ctl->conns */
	struct control_op *op;		/* not owned: a bounce in flight */
	unsigned long id;
	long uid, pid;
	bool replied;			/* the reply is queued; close once written */
	bool drain;			/* unread input is left: read it away before closing */
};

struct control {
	struct event_base *base;	/* not owned */
	struct queue_store *q;		/* not owned */
	void (*kick)(void *arg);
	void *kick_arg;
	struct evconnlistener *lev;	/* owned */
	char *path;			/* owned */
	dev_t dev;			/* the socket file we made, to remove only ours */
	ino_t ino;
	struct control_conn *conns;	/* owned */
	size_t nconns;
	struct control_op *ops;		/* bounces in flight, freed by their callbacks */
	unsigned long next_id;
};

/*
 * Close and free a connection. Called from its own bufferevent callbacks:
 * libevent defers the bufferevent's release until its callback returns.
 */
static void control_conn_free(struct control_conn *cn)
{
	struct control *c = cn->ctl;
	for (struct control_conn **pp = &c->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cn) {
			*pp = cn->next;
			break;
		}
	}
	c->nconns--;
	if (cn->op != NULL)
		cn->op->conn = NULL;
	bufferevent_free(cn->bev);
	free(cn);
}

/* Queue the status line (and a dot-stuffed body) and close once it is written. */
static void control_reply(struct control_conn *cn, enum control_status st, const char *text,
    struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(cn->bev);
	char safe[512];
	log_printable(safe, sizeof(safe), text, strlen(text));
	if (st == CONTROL_OK)
		evbuffer_add_printf(out, "ok %s\n", text);
	else
		evbuffer_add_printf(out, "error %s %s\n", control_status_name(st), text);
	log_msg(st == CONTROL_OK ? LOG_LVL_INFO : LOG_LVL_WARN,
	    "event=control-reply conn=%lu status=%s text=\"%s\"", cn->id, control_status_name(st), safe);
	if (body != NULL) {
		char *line;
		size_t n;
		while ((line = evbuffer_readln(body, &n, EVBUFFER_EOL_LF)) != NULL) {
			if (n > 0 && line[0] == '.')
				evbuffer_add(out, ".", 1);
			evbuffer_add(out, line, n);
			evbuffer_add(out, "\n", 1);
			free(line);
		}
		size_t rest = evbuffer_get_length(body);
		if (rest > 0) {
			/* a last line without its LF */
			if (evbuffer_pullup(body, 1)[0] == '.')
				evbuffer_add(out, ".", 1);
			evbuffer_remove_buffer(body, out, rest);
			evbuffer_add(out, "\n", 1);
		}
		evbuffer_add(out, ".\n", 2);
	}
	cn->replied = true;
	bufferevent_disable(cn->bev, EV_READ);
	bufferevent_enable(cn->bev, EV_WRITE);
}

/* Writer thread done with a bounce: answer the client if it is still there, kick. */
static void control_bounce_done(void *arg, bool ok, const char *err)
{
	struct control_op *op = arg;
	struct control *c = op->ctl;
	if (c != NULL) {
		for (struct control_op **pp = &c->ops; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == op) {
				*pp = op->next;
				break;
			}
		}
		if (ok && c->kick != NULL)
			c->kick(c->kick_arg);
	}
	if (ok)
		log_msg(LOG_LVL_INFO, "op=queue_bounce queue=%s rcpts=%zu reason=admin", op->id, op->n);
	if (op->conn != NULL) {
		char msg[256];
		op->conn->op = NULL;
		if (ok)
			snprintf(msg, sizeof(msg), "bounced %zu recipient%s of %s", op->n,
			    op->n == 1 ? "" : "s", op->id);
		else
			snprintf(msg, sizeof(msg), "cannot bounce %s: %s", op->id, err ? err : "?");
		control_reply(op->conn, ok ? CONTROL_OK : CONTROL_E_STORE, msg, NULL);
	}
	free(op);
}

/* "bounce ID": every undone recipient failed, through the writer; reply when durable. */
static void control_bounce(struct control_conn *cn, const char *id)
{
	struct control *c = cn->ctl;
	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	char err[256], msg[300];
	memset(&m, 0, sizeof(m));
	int found = queue_query_message(c->q, id, &m, &r, &nr, false, err, sizeof(err));
	queue_query_msg_clear(&m);
	if (found <= 0) {
		if (found == 0)
			snprintf(msg, sizeof(msg), "no message %s", id);
		else
			snprintf(msg, sizeof(msg), "cannot read message %s: %s", id, err);
		control_reply(cn, found == 0 ? CONTROL_E_NOTFOUND : CONTROL_E_STORE, msg, NULL);
		queue_query_rcpts_free(r, nr);
		return;
	}
	struct queue_outcome *o = xcalloc(nr > 0 ? nr : 1, sizeof(*o));
	size_t n = 0;
	time_t now = time(NULL);
	for (size_t i = 0; i < nr; i++) {
		if (r[i].state != QUEUE_RCPT_PENDING && r[i].state != QUEUE_RCPT_DEFERRED)
			continue;
		o[n].rcpt_id = r[i].id;
		o[n].state = QUEUE_RCPT_FAILED;
		o[n].at = now;
		o[n].esc = CONTROL_BOUNCE_ESC;
		o[n].reply = CONTROL_BOUNCE_TEXT;
		n++;
	}
	queue_query_rcpts_free(r, nr);
	if (n == 0) {
		free(o);
		snprintf(msg, sizeof(msg), "bounced 0 recipients of %s (none is waiting)", id);
		control_reply(cn, CONTROL_OK, msg, NULL);
		return;
	}
	struct control_op *op = xcalloc(1, sizeof(*op));
	op->ctl = c;
	op->conn = cn;
	op->n = n;
	snprintf(op->id, sizeof(op->id), "%s", id);
	op->next = c->ops;
	c->ops = op;
	cn->op = op;
	bufferevent_disable(cn->bev, EV_READ);
	queue_update_outcomes(c->q, o, n, control_bounce_done, op);
	free(o);
}

/* A whole request line arrived: parse, run, reply. */
static void control_handle(struct control_conn *cn, const char *line, size_t len)
{
	struct control *c = cn->ctl;
	struct control_req req;
	const char *why = NULL;
	char safe[CONTROL_LINE_MAX + 64];
	log_printable(safe, sizeof(safe), line, len);
	log_msg(LOG_LVL_INFO, "event=control-request conn=%lu uid=%ld pid=%ld request=\"%s\"",
	    cn->id, cn->uid, cn->pid, safe);
	if (control_parse(line, len, &req, &why) != 0) {
		control_reply(cn, CONTROL_E_USAGE, why, NULL);
		return;
	}
	if (req.verb == CONTROL_BOUNCE) {
		control_bounce(cn, req.arg);
		return;
	}
	char msg[512];
	struct evbuffer *body = evbuffer_new();
	if (body == NULL)
		panic("event=control-failed reason=\"out of memory\"");
	enum control_status st = control_run(c->q, &req, time(NULL), body, CONTROL_BODY_MAX,
	    msg, sizeof(msg));
	bool has_body = st == CONTROL_OK && control_verb_has_body(req.verb);
	control_reply(cn, st, msg, has_body ? body : NULL);
	evbuffer_free(body);
	if (st == CONTROL_OK && c->kick != NULL &&
	    (req.verb == CONTROL_FLUSH || req.verb == CONTROL_FLUSH_ALL ||
	    req.verb == CONTROL_FLUSH_DOMAIN || req.verb == CONTROL_RELEASE))
		c->kick(c->kick_arg);
}

/* Read callback: wait for one LF-ended line, capped. */
static void control_on_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *cn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (cn->drain) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (cn->replied || cn->op != NULL)
		return;
	size_t n = 0;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX + 1) {
			cn->drain = true;
			control_reply(cn, CONTROL_E_USAGE, "request too long", NULL);
		}
		return;
	}
	if (n > CONTROL_LINE_MAX + 1)
		control_reply(cn, CONTROL_E_USAGE, "request too long", NULL);
	else
		control_handle(cn, line, n);
	free(line);
}

/* Write callback: the reply is out; close. */
static void control_on_write(struct bufferevent *bev, void *arg)
{
	struct control_conn *cn = arg;
	if (!cn->replied)
		return;
	if (!cn->drain) {
		control_conn_free(cn);
		return;
	}
	/*
	 * Closing with unread input would reset the connection and could
	 * destroy the reply before the client reads it: end our side, then
	 * read until the client closes (or the read timeout).
	 */
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	bufferevent_enable(bev, EV_READ);
}

/* EOF, error or timeout: close (a bounce in flight keeps going without us). */
static void control_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *cn = arg;
	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_msg(LOG_LVL_WARN, "event=control-timeout conn=%lu", cn->id);
	control_conn_free(cn);
}

/* A client connected: note who it is and wait for its request. */
static void control_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *c = arg;
	(void)lev;
	(void)sa;
	(void)salen;
	if (c->nconns >= CONTROL_CONNS_MAX) {
		log_msg(LOG_LVL_WARN, "event=control-refused reason=\"too many connections\"");
		evutil_closesocket(fd);
		return;
	}
	struct control_conn *cn = xcalloc(1, sizeof(*cn));
	cn->ctl = c;
	cn->id = ++c->next_id;
	cn->uid = cn->pid = -1;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		cn->uid = (long)cred.uid;
		cn->pid = (long)cred.pid;
	}
	cn->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cn->bev == NULL) {
		evutil_closesocket(fd);
		free(cn);
		return;
	}
	cn->next = c->conns;
	c->conns = cn;
	c->nconns++;
	log_msg(LOG_LVL_DEBUG, "event=control-connect conn=%lu uid=%ld pid=%ld", cn->id, cn->uid,
	    cn->pid);
	struct timeval rt = { CONTROL_READ_TIMEOUT_S, 0 }, wt = { CONTROL_WRITE_TIMEOUT_S, 0 };
	bufferevent_set_timeouts(cn->bev, &rt, &wt);
	bufferevent_setcb(cn->bev, control_on_read, control_on_write, control_on_event, cn);
	bufferevent_enable(cn->bev, EV_READ);
}

/* Remove a socket left at path by a daemon that died; fail if one is alive. */
static int control_clear_stale(const char *path, const struct sockaddr_un *sun, char *err,
    size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int e = errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s: another daemon is listening there", path);
		return -1;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the stale %s: %s", path, strerror(errno));
		return -1;
	}
	log_msg(LOG_LVL_INFO, "event=control-stale-removed path=\"%s\"", path);
	return 0;
}

struct control *control_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, void (*kick)(void *arg), void *kick_arg, char *err, size_t errlen)
{
	const char *path = cfg->control_socket;
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path == NULL || *path == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path %s", path == NULL || *path == '\0' ?
		    "is empty" : "is too long for a Unix socket");
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (control_clear_stale(path, &sun, err, errlen) != 0)
		return NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	/*
	 * The mode follows bind (made by this, the daemon's, user): owner and
	 * group may connect. Until chmod the umask applies, which never grants
	 * more than the directory around it lets others reach.
	 */
	struct stat st;
	if (chmod(path, 0660) != 0 || stat(path, &st) != 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return NULL;
	}
	struct control *c = xcalloc(1, sizeof(*c));
	c->lev = evconnlistener_new(base, control_on_accept, c, LEV_OPT_CLOSE_ON_FREE, 16, fd);
	if (c->lev == NULL) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		free(c);
		return NULL;
	}
	c->base = base;
	c->q = q;
	c->kick = kick;
	c->kick_arg = kick_arg;
	c->path = xstrdup(path);
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	log_msg(LOG_LVL_INFO, "event=control-listening path=\"%s\" mode=0660", path);
	return c;
}

void control_free(struct control *c)
{
	if (c == NULL)
		return;
	evconnlistener_free(c->lev);
	while (c->conns != NULL)
		control_conn_free(c->conns);
	/* Bounces still in flight finish in their callbacks, which then touch nothing of ours. */
	for (struct control_op *op = c->ops, *next; op != NULL; op = next) {
		next = op->next;
		op->ctl = NULL;
		op->next = NULL;
	}
	struct stat st;
	if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	free(c->path);
	free(c);
}
