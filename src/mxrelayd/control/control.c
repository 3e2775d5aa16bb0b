/*
 * control: the daemon's control socket (see control.h for the protocol)
 * and its request parser. What a request does to the queue, and the
 * listings it prints, are in control_exec.c.
 *
 * Owns: the listening socket file (created 0660 by the daemon's user,
 * removed on exit when it is still ours), one connection per request with
 * a capped request line and timeouts, the peer's credentials in the log.
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

#include "config/config.h"
#include "control/control.h"
#include "queue/queue_side.h"
#include "queue/queue_store.h"
#include "dns/dns_rr.h"
#include "smtp/smtp_addr.h"
#include "util/log.h"
#include "util/unix_sock.h"
#include "util/xalloc.h"

/* A client gets this long to send its request, and to read the reply. */
#define CONTROL_READ_TIMEOUT_S 10
#define CONTROL_WRITE_TIMEOUT_S 60
/* Most connections open at once; more are closed at accept. */
#define CONTROL_CONNS_MAX 64

/* ---- the request grammar ---- */

enum control_argkind {
	CONTROL_ARG_NONE,
	CONTROL_ARG_ID,
	CONTROL_ARG_ID_OPT,
	CONTROL_ARG_DOMAIN,
	CONTROL_ARG_SENDER,
	CONTROL_ARG_DAY,
};

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
	{ "requeue", CONTROL_REQUEUE, CONTROL_ARG_ID, false },
	{ "select", CONTROL_SELECT, CONTROL_ARG_NONE, true },
	{ "select-domain", CONTROL_SELECT_DOMAIN, CONTROL_ARG_DOMAIN, true },
	{ "select-sender", CONTROL_SELECT_SENDER, CONTROL_ARG_SENDER, true },
	{ "reload", CONTROL_RELOAD, CONTROL_ARG_NONE, true },
	{ "status", CONTROL_STATUS, CONTROL_ARG_NONE, true },
	{ "status-json", CONTROL_STATUS_JSON, CONTROL_ARG_NONE, true },
	{ "tlsrpt-list", CONTROL_TLSRPT_LIST, CONTROL_ARG_DAY, true },
	{ "tlsrpt-list-json", CONTROL_TLSRPT_LIST_JSON, CONTROL_ARG_DAY, true },
	{ "tlsrpt-send", CONTROL_TLSRPT_SEND, CONTROL_ARG_DAY, true },
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
	for (size_t i = 0; i < CONTROL_NVERBS; i++)
		if (control_verbs[i].verb == v)
			return control_verbs[i].body;
	return false;
}

void control_json_str(struct evbuffer *b, const char *s)
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

void control_json_field(struct evbuffer *b, const char *key, const char *s)
{
	evbuffer_add_printf(b, ",\"%s\":", key);
	control_json_str(b, s);
}

const char *control_status_name(enum control_status s)
{
	switch (s) {
	case CONTROL_OK: return "ok";
	case CONTROL_E_USAGE: return "usage";
	case CONTROL_E_NOTFOUND: return "notfound";
	case CONTROL_E_STORE: return "store";
	case CONTROL_E_TOOLARGE: return "toolarge";
	case CONTROL_E_CONFIG: return "config";
	case CONTROL_E_PARTIAL: return "partial";
	}
	return "?";
}

bool control_day_parse(const char *s, int64_t *day)
{
	int y, m, d;
	char tail;
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 || y > 9999 || m < 1 ||
	    m > 12 || d < 1)
		return false;
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[m - 1] + (m == 2 && leap ? 1 : 0))
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	/* Days since 1970-01-01 of a proleptic Gregorian date (civil from days, inverted). */
	int64_t yy = m <= 2 ? y - 1 : y;
	int64_t era = yy / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*day = (era * 146097 + doe - 719468) * 86400;
	return true;
}

/* Check and copy a domain argument: lower case, no trailing dot. */
static int control_parse_domain(const char *s, size_t n, char *out, const char **why)
{
	if (n > 0 && s[n - 1] == '.')
		n--;	/* checked without it; the key below drops it the same way */
	if (n == 0 || n > CONTROL_ARG_MAX) {
		*why = n == 0 ? "empty domain" : "domain too long";
		return -1;
	}
	/* A domain as the queue stores it: a name, or an address literal. */
	bool literal = s[0] == '[' && s[n - 1] == ']';
	if (!literal && !smtp_addr_domain_valid(s, n, true)) {
		*why = "not a domain name";
		return -1;
	}
	/* The domain as the queue stores it (queue_store_domain). */
	dns_rr_name_key(s, n, out, CONTROL_ARG_MAX + 1);
	struct sockaddr_storage ss;
	if (literal && smtp_addr_literal_to_sockaddr(out, &ss) != 0) {
		*why = "bad address literal";
		return -1;
	}
	return 0;
}

/*
 * Check and copy a sender argument: "<>" (the null sender), or
 * local@domain with or without angle brackets, kept without them.
 */
static int control_parse_sender(const char *s, size_t n, char *out, const char **why)
{
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	if (n == 0) {
		memcpy(out, "<>", 3);
		return 0;
	}
	if (n > CONTROL_ARG_MAX) {
		*why = "sender too long";
		return -1;
	}
	const char *at = NULL;
	for (size_t i = n; i > 0 && at == NULL; i--)
		if (s[i - 1] == '@')
			at = s + i - 1;
	size_t dlen = at != NULL ? n - (size_t)(at + 1 - s) : 0;
	if (at == NULL || at == s || dlen == 0 || memchr(s, '<', n) != NULL ||
	    memchr(s, '>', n) != NULL) {
		*why = "not a sender address (local@domain, or <> for the null sender)";
		return -1;
	}
	bool literal = at[1] == '[' && s[n - 1] == ']';
	if (!literal && !smtp_addr_domain_valid(at + 1, dlen, true)) {
		*why = "the sender's domain is not a domain name";
		return -1;
	}
	memcpy(out, s, n);
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
	case CONTROL_ARG_DAY: {
		int64_t day;
		if (alen != 10) {
			*why = "a day is needed: YYYY-MM-DD";
			return -1;
		}
		memcpy(out->arg, arg, alen);
		out->arg[alen] = '\0';
		if (!control_day_parse(out->arg, &day)) {
			*why = "a day is needed: YYYY-MM-DD";
			return -1;
		}
		return 0;
	}
	case CONTROL_ARG_SENDER:
		if (alen == 0) {
			*why = "a sender is needed (<> for the null sender)";
			return -1;
		}
		return control_parse_sender(arg, alen, out->arg, why);
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
	struct queue_side *side;	/* not owned; NULL: the store is read on the loop */
	control_notify_fn *notify;	/* may be NULL */
	void *notify_arg;
	struct evconnlistener *lev;	/* owned */
	char *path;			/* owned */
	struct unix_sock_file file;	/* the socket file we made, to remove only ours */
	struct control_conn *conns;	/* owned */
	size_t nconns;
	struct control_op *ops;		/* bounces and reloads in flight, freed by their callbacks */
	void (*reload)(void *arg, void (*done)(void *done_arg, bool ok, const char *text),
	    void *done_arg);
	void *reload_arg;
	void (*status)(void *arg, bool json, struct evbuffer *b);
	void *status_arg;
	struct control_tlsrpt tlsrpt;	/* list and send are NULL without TLS reporting */
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

void control_frame_reply(struct evbuffer *out, enum control_status st, const char *text,
    struct evbuffer *body)
{
	if (st == CONTROL_OK)
		evbuffer_add_printf(out, "ok %s\n", text);
	else
		evbuffer_add_printf(out, "error %s %s\n", control_status_name(st), text);
	if (body == NULL)
		return;
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

/* Queue the status line (and a dot-stuffed body) and close once it is written. */
static void control_reply(struct control_conn *cn, enum control_status st, const char *text,
    struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(cn->bev);
	char safe[512];
	log_printable(safe, sizeof(safe), text, strlen(text));
	control_frame_reply(out, st, text, body);
	log_msg(st == CONTROL_OK ? LOG_LVL_INFO : LOG_LVL_WARN,
	    "event=control-reply conn=%lu status=%s text=\"%s\"", cn->id, control_status_name(st), safe);
	cn->replied = true;
	bufferevent_disable(cn->bev, EV_READ);
	bufferevent_enable(cn->bev, EV_WRITE);
}

/*
 * A deferred request is answered: off the list of those pending, the reply
 * (body may be NULL) to its client if it is still there, the op freed.
 */
static void control_op_finish(struct control_op *op, enum control_status st, const char *text,
    struct evbuffer *body)
{
	struct control *c = op->ctl;
	if (c != NULL) {
		for (struct control_op **pp = &c->ops; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == op) {
				*pp = op->next;
				break;
			}
		}
	}
	if (op->conn != NULL) {
		op->conn->op = NULL;
		control_reply(op->conn, st, text, body);
	}
	free(op);
}

/* Writer thread done with a bounce: answer the client if it is still there, have the DSN sent. */
static void control_bounce_done(void *arg, bool ok, const char *err)
{
	struct control_op *op = arg;
	struct control *c = op->ctl;
	if (ok && c != NULL && c->notify != NULL)
		c->notify(c->notify_arg, CONTROL_EV_BOUNCED, op->id);
	if (ok)
		log_msg(LOG_LVL_INFO, "op=queue_bounce queue=%s rcpts=%zu reason=admin", op->id, op->n);
	char msg[256];
	if (ok)
		snprintf(msg, sizeof(msg), "bounced %zu recipient%s of %s", op->n,
		    op->n == 1 ? "" : "s", op->id);
	else
		snprintf(msg, sizeof(msg), "cannot bounce %s: %s", op->id, err ? err : "?");
	control_op_finish(op, ok ? CONTROL_OK : CONTROL_E_STORE, msg, NULL);
}

static struct control_op *control_defer(struct control_conn *cn);
static void control_deferred_done(struct control_op *op, enum control_status st, const char *text,
    const char *body);

/* A bounce's reading of its message: its undone recipients, as failed outcomes. */
struct control_bounce_read {
	struct control_conn *cn;	/* while not deferred: the connection */
	struct control_op *op;		/* with a side thread: the request waiting */
	char id[QUEUE_ID_LEN + 1];
	time_t now;
	int found;			/* 1, 0 not there, -1 error */
	char err[256];
	struct queue_outcome *o;	/* owned */
	size_t n;
};

/* Read message id and make a failed outcome of each undone recipient (any thread). */
static void control_bounce_read_job(struct queue_store *q, void *arg)
{
	struct control_bounce_read *b = arg;
	struct queue_msg m;
	struct queue_rcpt *r = NULL;
	size_t nr = 0;
	memset(&m, 0, sizeof(m));
	b->found = queue_query_message(q, b->id, &m, &r, &nr, false, b->err, sizeof(b->err));
	queue_query_msg_clear(&m);
	if (b->found <= 0) {
		queue_query_rcpts_free(r, nr);
		return;
	}
	b->o = xcalloc(nr > 0 ? nr : 1, sizeof(*b->o));
	for (size_t i = 0; i < nr; i++) {
		if (r[i].state != QUEUE_RCPT_PENDING && r[i].state != QUEUE_RCPT_DEFERRED)
			continue;
		b->o[b->n].rcpt_id = r[i].id;
		b->o[b->n].state = QUEUE_RCPT_FAILED;
		b->o[b->n].at = b->now;
		b->o[b->n].esc = CONTROL_BOUNCE_ESC;
		b->o[b->n].reply = CONTROL_BOUNCE_TEXT;
		b->n++;
	}
	queue_query_rcpts_free(r, nr);
}

/* Answer a bounce that ends here, through its op or its connection. */
static void control_bounce_answer(struct control_bounce_read *b, enum control_status st,
    const char *msg)
{
	if (b->op != NULL) {
		control_deferred_done(b->op, st, msg, "");
		return;
	}
	control_reply(b->cn, st, msg, NULL);
}

/* The message was read: nothing to do, or the failures to the writer; reply when durable. */
static void control_bounce_read_done(void *arg)
{
	struct control_bounce_read *b = arg;
	struct control *c = b->op != NULL ? b->op->ctl : b->cn->ctl;
	char msg[600];
	if (b->found <= 0) {
		if (b->found == 0)
			snprintf(msg, sizeof(msg), "no message %s", b->id);
		else
			snprintf(msg, sizeof(msg), "cannot read message %s: %s", b->id, b->err);
		control_bounce_answer(b, b->found == 0 ? CONTROL_E_NOTFOUND : CONTROL_E_STORE, msg);
	} else if (b->n == 0) {
		snprintf(msg, sizeof(msg), "bounced 0 recipients of %s (none is waiting)", b->id);
		control_bounce_answer(b, CONTROL_OK, msg);
		/* Failed ones may still owe their DSN (one that could not be queued). */
		if (c != NULL && c->notify != NULL)
			c->notify(c->notify_arg, CONTROL_EV_BOUNCED, b->id);
	} else if (c == NULL) {
		/* The control socket closed meanwhile (the daemon stops): nothing is changed. */
		free(b->op);
	} else {
		struct control_op *op = b->op;
		if (op == NULL) {
			op = control_defer(b->cn);
		}
		op->n = b->n;
		snprintf(op->id, sizeof(op->id), "%s", b->id);
		queue_update_outcomes(c->q, b->o, b->n, control_bounce_done, op);
	}
	free(b->o);
	free(b);
}

/* "bounce ID": every undone recipient failed, through the writer; reply when durable. */
static void control_bounce(struct control_conn *cn, const char *id)
{
	struct control *c = cn->ctl;
	struct control_bounce_read *b = xcalloc(1, sizeof(*b));
	b->cn = cn;
	snprintf(b->id, sizeof(b->id), "%.*s", (int)(sizeof(b->id) - 1), id);
	b->now = time(NULL);
	if (c->side != NULL) {
		b->op = control_defer(cn);
		queue_side_run(c->side, control_bounce_read_job, control_bounce_read_done, b);
		return;
	}
	control_bounce_read_job(c->q, b);
	control_bounce_read_done(b);
}

static void control_run_request(struct control_conn *cn, const struct control_req *req);

/* A request whose reply waits for work elsewhere: reading stops; control_deferred_done answers. */
static struct control_op *control_defer(struct control_conn *cn)
{
	struct control *c = cn->ctl;
	struct control_op *op = xcalloc(1, sizeof(*op));
	op->ctl = c;
	op->conn = cn;
	op->next = c->ops;
	c->ops = op;
	cn->op = op;
	bufferevent_disable(cn->bev, EV_READ);
	return op;
}

/* The waited-for work is done: answer the client if it is still there, body as the body. */
static void control_deferred_done(struct control_op *op, enum control_status st, const char *text,
    const char *body)
{
	struct evbuffer *b = evbuffer_new();
	if (b == NULL)
		panic("event=control-failed reason=\"out of memory\"");
	evbuffer_add(b, body, strlen(body));
	control_op_finish(op, st, text, b);
	evbuffer_free(b);
}

/* A reload was decided: the text is the body. */
static void control_reload_done(void *arg, bool ok, const char *text)
{
	control_deferred_done(arg, ok ? CONTROL_OK : CONTROL_E_CONFIG, ok ? "configuration loaded" :
	    "the new configuration was refused; the running one stays", text);
}

/* "reload": ask for the configuration again; the reply waits for the outcome. */
static void control_reload(struct control_conn *cn)
{
	struct control *c = cn->ctl;
	if (c->reload == NULL) {
		control_reply(cn, CONTROL_E_USAGE, "this daemon cannot reload", NULL);
		return;
	}
	c->reload(c->reload_arg, control_reload_done, control_defer(cn));
}

/* A day's TLS reports were made: what each domain's came to is the body. */
static void control_tlsrpt_done(void *arg, bool ok, const char *text)
{
	control_deferred_done(arg, ok ? CONTROL_OK : CONTROL_E_PARTIAL, ok ? "TLS reports sent" :
	    "some TLS reports were not sent", text);
}

/* "tlsrpt-list", "tlsrpt-list-json", "tlsrpt-send": TLS reporting, when the daemon makes reports. */
static void control_tlsrpt(struct control_conn *cn, const struct control_req *req)
{
	struct control *c = cn->ctl;
	int64_t day = 0;
	(void)control_day_parse(req->arg, &day);
	if (c->tlsrpt.flush == NULL || c->tlsrpt.send == NULL) {
		control_reply(cn, CONTROL_E_USAGE, "this daemon makes no TLS reports", NULL);
		return;
	}
	if (req->verb == CONTROL_TLSRPT_SEND) {
		struct control_op *op = control_defer(cn);
		if (!c->tlsrpt.send(c->tlsrpt.arg, day, control_tlsrpt_done, op))
			control_deferred_done(op, CONTROL_E_USAGE, "TLS reports are off (tlsrpt_organization "
			    "is not set) or being made now", "");
		return;
	}
	/* The counts in memory are queued for the store before the listing reads it. */
	c->tlsrpt.flush(c->tlsrpt.arg);
	control_run_request(cn, req);
}

void control_set_side(struct control *c, struct queue_side *side)
{
	c->side = side;
}

void control_set_tlsrpt(struct control *c, const struct control_tlsrpt *t)
{
	c->tlsrpt = *t;
}

void control_set_reload(struct control *c, void (*reload)(void *arg,
    void (*done)(void *done_arg, bool ok, const char *text), void *done_arg), void *arg)
{
	c->reload = reload;
	c->reload_arg = arg;
}

void control_set_status(struct control *c, void (*fn)(void *arg, bool json, struct evbuffer *b),
    void *arg)
{
	c->status = fn;
	c->status_arg = arg;
}

/* "status", "status-json": the summary the daemon gives (status.c). */
static void control_status(struct control_conn *cn, bool json)
{
	struct control *c = cn->ctl;
	if (c->status == NULL) {
		control_reply(cn, CONTROL_E_USAGE, "this daemon gives no status", NULL);
		return;
	}
	struct evbuffer *body = evbuffer_new();
	if (body == NULL)
		panic("event=control-failed reason=\"out of memory\"");
	c->status(c->status_arg, json, body);
	control_reply(cn, CONTROL_OK, json ? "status as JSON" : "status", body);
	evbuffer_free(body);
}

/* Tell the scheduler what a request that succeeded changed. */
static void control_notify_done(struct control *c, const struct control_req *req)
{
	if (c == NULL || c->notify == NULL)
		return;
	switch (req->verb) {
	case CONTROL_FLUSH_ALL:
		c->notify(c->notify_arg, CONTROL_EV_FLUSH_ALL, "");
		break;
	case CONTROL_FLUSH_DOMAIN:
		c->notify(c->notify_arg, CONTROL_EV_FLUSH_DOMAIN, req->arg);
		break;
	case CONTROL_FLUSH:
	case CONTROL_REQUEUE:
		c->notify(c->notify_arg, CONTROL_EV_FLUSH_MSG, req->arg);
		break;
	case CONTROL_RELEASE:
		c->notify(c->notify_arg, CONTROL_EV_DUE, req->arg);
		break;
	default:
		break;
	}
}

/* A request control_run answers, run with the side thread's store. */
struct control_side_job {
	struct control_op *op;		/* answers the client, if it is still there */
	struct control_req req;
	time_t now;
	struct evbuffer *body;		/* owned: filled on the side thread */
	enum control_status st;
	char msg[512];
};

static void control_side_run_job(struct queue_store *q, void *arg)
{
	struct control_side_job *j = arg;
	j->st = control_run(q, &j->req, j->now, j->body, CONTROL_BODY_MAX, j->msg, sizeof(j->msg));
}

/* Back on the loop: the reply, then what the scheduler must know. */
static void control_side_run_done(void *arg)
{
	struct control_side_job *j = arg;
	struct control *c = j->op->ctl;
	bool has_body = j->st == CONTROL_OK && control_verb_has_body(j->req.verb);
	control_op_finish(j->op, j->st, j->msg, has_body ? j->body : NULL);
	if (j->st == CONTROL_OK)
		control_notify_done(c, &j->req);
	evbuffer_free(j->body);
	free(j);
}

/*
 * Answer req with control_run: on the side thread when there is one (the
 * connection waits, the loop does not), else here.
 */
static void control_run_request(struct control_conn *cn, const struct control_req *req)
{
	struct control *c = cn->ctl;
	struct evbuffer *body = evbuffer_new();
	if (body == NULL)
		panic("event=control-failed reason=\"out of memory\"");
	if (c->side != NULL) {
		struct control_side_job *j = xcalloc(1, sizeof(*j));
		j->op = control_defer(cn);
		j->req = *req;
		j->now = time(NULL);
		j->body = body;
		queue_side_run(c->side, control_side_run_job, control_side_run_done, j);
		return;
	}
	char msg[512];
	enum control_status st = control_run(c->q, req, time(NULL), body, CONTROL_BODY_MAX,
	    msg, sizeof(msg));
	bool has_body = st == CONTROL_OK && control_verb_has_body(req->verb);
	control_reply(cn, st, msg, has_body ? body : NULL);
	evbuffer_free(body);
	if (st == CONTROL_OK)
		control_notify_done(c, req);
}

/* A whole request line arrived: parse, run, reply. */
static void control_handle(struct control_conn *cn, const char *line, size_t len)
{
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
	if (req.verb == CONTROL_RELOAD) {
		control_reload(cn);
		return;
	}
	if (req.verb == CONTROL_TLSRPT_LIST || req.verb == CONTROL_TLSRPT_LIST_JSON ||
	    req.verb == CONTROL_TLSRPT_SEND) {
		control_tlsrpt(cn, &req);
		return;
	}
	if (req.verb == CONTROL_STATUS || req.verb == CONTROL_STATUS_JSON) {
		control_status(cn, req.verb == CONTROL_STATUS_JSON);
		return;
	}
	control_run_request(cn, &req);
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

struct control *control_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, control_notify_fn *notify, void *notify_arg, char *err,
    size_t errlen)
{
	const char *path = cfg->control_socket;
	if (path == NULL || *path == '\0') {
		snprintf(err, errlen, "control socket path is empty");
		return NULL;
	}
	/*
	 * Owner and group may connect (the daemon's user made the file). Until
	 * the chmod the umask applies, which never grants more than the
	 * directory around it lets others reach.
	 */
	struct unix_sock_file file;
	int fd = unix_sock_listen(path, 0660, &file, err, errlen);
	if (fd < 0)
		return NULL;
	if (file.stale_removed)
		log_msg(LOG_LVL_INFO, "event=control-stale-removed path=\"%s\"", path);
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
	c->notify = notify;
	c->notify_arg = notify_arg;
	c->path = xstrdup(path);
	c->file = file;
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
	unix_sock_remove_own(c->path, &c->file);
	free(c->path);
	free(c);
}
