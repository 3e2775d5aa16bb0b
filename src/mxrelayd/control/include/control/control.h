/*
 * control: the daemon's control socket, through which `mxrelay queue`
 * lists and steers the queue of a running mxrelayd, and the request
 * grammar and queue listings both sides share.
 *
 * Owns: the Unix stream socket at cfg->control_socket (mode 0660, removed
 * on exit), opening the store the configuration names, the line protocol (one request line, one reply), and the text
 * and JSON forms of a queue listing and of one message, so that the
 * daemon's answer and the command line's direct read of a stopped
 * daemon's store look the same.
 * Never: changes the queue except through the queue_store functions;
 * never trusts a request: every line is capped and checked, and a bad one
 * gets "error usage ..." and never a crash.
 *
 * The protocol (one request per connection):
 *   request:  VERB [ARG] LF, at most CONTROL_LINE_MAX octets
 *   reply:    "ok TEXT" LF, or "error KIND TEXT" LF; after "ok" the
 *             verbs list, list-json, show, show-json and select* send a
 *             body: lines (dot-stuffed, LF ends) closed by a line ".".
 *   The select verbs answer queue ids, one a line, so that the command
 *   line can act on a selection one message at a time (each its own
 *   request, reply and count).
 *   KIND:     usage (a bad request), notfound (no such message),
 *             store (the queue could not be read or changed),
 *             toolarge (a listing passed its cap).
 */
#ifndef MXR_CONTROL_H
#define MXR_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct config;
struct event_base;
struct evbuffer;
struct queue_store;

/* Longest request line, line end excluded. */
#define CONTROL_LINE_MAX 512
/* Longest argument (a queue id or a domain name). */
#define CONTROL_ARG_MAX 255
/* Most octets of a listing the daemon sends; past it the body is cut. */
#define CONTROL_BODY_MAX (64u * 1024u * 1024u)
/* Most octets of the header section shown by "show". */
#define CONTROL_HEADERS_MAX (64u * 1024u)
/* The status and text an administrator's bounce gives each recipient. */
#define CONTROL_BOUNCE_ESC "5.0.0"
#define CONTROL_BOUNCE_TEXT "bounced by the administrator"

enum control_verb {
	CONTROL_LIST,		/* "list": text listing */
	CONTROL_LIST_JSON,	/* "list-json": one JSON object per message */
	CONTROL_SHOW,		/* "show ID" */
	CONTROL_SHOW_JSON,	/* "show-json ID" */
	CONTROL_FLUSH_ALL,	/* "flush": every undone recipient due now */
	CONTROL_FLUSH,		/* "flush ID" */
	CONTROL_FLUSH_DOMAIN,	/* "flush-domain DOMAIN" */
	CONTROL_HOLD,		/* "hold ID" */
	CONTROL_RELEASE,	/* "release ID" */
	CONTROL_DELETE,		/* "delete ID" */
	CONTROL_BOUNCE,		/* "bounce ID" */
	CONTROL_REQUEUE,	/* "requeue ID": due now, no try counted, backoff lifted */
	CONTROL_SELECT,		/* "select": every queue id */
	CONTROL_SELECT_DOMAIN,	/* "select-domain DOMAIN": ids with a recipient there */
	CONTROL_SELECT_SENDER,	/* "select-sender ADDR": ids from that sender ("<>": null) */
	CONTROL_RELOAD,		/* "reload": take the configuration file again */
	CONTROL_STATUS,		/* "status": the daemon's summary as text (docs/status.md) */
	CONTROL_STATUS_JSON,	/* "status-json": the same as one JSON object */
	CONTROL_TLSRPT_LIST,	/* "tlsrpt-list DAY": the TLS results counted that day */
	CONTROL_TLSRPT_LIST_JSON,/* "tlsrpt-list-json DAY": the same as a JSON array */
	CONTROL_TLSRPT_SEND,	/* "tlsrpt-send DAY": make and send that day's TLS reports now */
};

/*
 * What a request asks. arg is a queue id, a lower-case domain, a sender
 * address without angle brackets ("<>" for the null sender), a day
 * ("YYYY-MM-DD", UTC), or "".
 */
struct control_req {
	enum control_verb verb;
	char arg[CONTROL_ARG_MAX + 1];
};

/*
 * Parse one request line[0..len) (without its LF; a trailing CR is
 * allowed). Returns 0, or -1 with *why set to a static text saying what
 * is wrong. Pure: no I/O.
 */
int control_parse(const char *line, size_t len, struct control_req *out, const char **why);
/* The request's verb as written on the wire ("flush-domain"). */
const char *control_verb_name(enum control_verb v);
/* Whether the verb's "ok" reply carries a body ended by ".". */
bool control_verb_has_body(enum control_verb v);

/* Typed result of running a request against a store. */
enum control_status {
	CONTROL_OK,
	CONTROL_E_USAGE,
	CONTROL_E_NOTFOUND,
	CONTROL_E_STORE,
	CONTROL_E_TOOLARGE,
	CONTROL_E_CONFIG,	/* a reload refused: the errors are in the body */
	CONTROL_E_PARTIAL,	/* some of the work could not be done: the body says which */
};
/* "usage", "notfound", "store", "toolarge", "config", "partial" (the KIND of an error reply). */
const char *control_status_name(enum control_status s);

/*
 * Run a request against q synchronously: list/show/select write their
 * body (not dot-stuffed, "\n" line ends) into body, at most cap octets;
 * the others write nothing there. msg gets the reply's text ("flushed 3
 * recipients", or what went wrong). now is the time listings count ages
 * from and flushes make recipients due at. A bounce here fails the
 * waiting recipients in one small transaction and leaves the DSN to the
 * daemon's next start (the running daemon bounces through its writer and
 * its scheduler instead, see control.c).
 */
enum control_status control_run(struct queue_store *q, const struct control_req *req,
    time_t now, struct evbuffer *body, size_t cap, char *msg, size_t msglen);

struct evbuffer;
/*
 * Append s to b as a JSON string (quotes, backslashes and control
 * characters escaped), or null when s is NULL: the one JSON string writer
 * of the listings and the status summary.
 */
void control_json_str(struct evbuffer *b, const char *s);
/* Append ,"key": and s as control_json_str writes it: a member after the first. */
void control_json_field(struct evbuffer *b, const char *key, const char *s);
/* An age or duration as the listings show it: "45s", "12m", "3h05m" or "2d04h". */
void control_fmt_age(long long s, char *buf, size_t len);

/*
 * Write one reply of the line protocol to out: "ok TEXT" or "error KIND
 * TEXT", then, when body is not NULL, its lines (a line starting with a dot
 * gets a second one) and a line holding a single dot. body is drained.
 */
void control_frame_reply(struct evbuffer *out, enum control_status st, const char *text,
    struct evbuffer *body);

struct control;

/* What a request changed, for the scheduler to act on at once. */
enum control_event {
	CONTROL_EV_DUE,		/* a message was released: look for due work */
	CONTROL_EV_FLUSH_ALL,	/* everything is due now: lift every backoff */
	CONTROL_EV_FLUSH_DOMAIN,/* arg (a domain) is due now: lift its backoff */
	CONTROL_EV_FLUSH_MSG,	/* arg (a queue id) is due now: lift its destinations' backoff */
	CONTROL_EV_BOUNCED,	/* arg's waiting recipients failed: send the DSN now */
};
typedef void control_notify_fn(void *arg, enum control_event ev, const char *what);

/*
 * Listen on cfg->control_socket on base (a stale socket left by a dead
 * daemon is replaced; a live one is an error). notify(notify_arg, ev,
 * what) is called after a request changed the queue (a flush, requeue,
 * release or bounce), once the change is stored, so the scheduler acts on
 * it at once; it may be NULL. Returns NULL with err filled on failure.
 */
struct control *control_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, control_notify_fn *notify, void *notify_arg, char *err,
    size_t errlen);
/*
 * Who answers "reload": reload(arg, done, done_arg) asks for a new
 * configuration and calls done(done_arg, ok, text) from the loop once it
 * is decided (text: what was loaded, or the errors, one per line).
 * Without it, "reload" is refused.
 */
/* What "status" and "status-json" answer: fn writes the summary into b. */
void control_set_status(struct control *c, void (*fn)(void *arg, bool json, struct evbuffer *b),
    void *arg);

void control_set_reload(struct control *c, void (*reload)(void *arg,
    void (*done)(void *done_arg, bool ok, const char *text), void *done_arg), void *arg);

/*
 * Who answers the TLS reporting requests: list gives the results of day
 * (Unix time of 00:00 UTC) as text or JSON (malloc'ed); send makes and
 * sends that day's reports, calling done(done_arg, ok, text) from the
 * loop when all are out, or returns false when reports are off or being
 * made. Without it, those requests are refused.
 */
struct control_tlsrpt {
	/* Store what is counted in memory, before a listing reads the store. */
	void (*flush)(void *arg);
	bool (*send)(void *arg, int64_t day, void (*done)(void *done_arg, bool ok, const char *text),
	    void *done_arg);
	void *arg;
};
void control_set_tlsrpt(struct control *c, const struct control_tlsrpt *t);
struct queue_side;
/*
 * Run the requests that read or change the store (listings, show, hold,
 * flush, the TLS results) on side's thread with its store, so that the
 * loop never waits on them; side (borrowed) must be freed before c.
 */
void control_set_side(struct control *c, struct queue_side *side);
/* A day "YYYY-MM-DD" (UTC) as the Unix time of its 00:00; false when it is not one. */
bool control_day_parse(const char *s, int64_t *day);
/* Close every connection, stop listening and remove the socket. NULL is fine. */
void control_free(struct control *c);

/*
 * Open the queue store cfg names (queue_backend): SQLite under queue_dir,
 * or PostgreSQL at queue_dsn with this node's id (control_store.c). base
 * is the daemon's loop, or NULL for the command line. NULL with err
 * filled (never holding the DSN's password).
 */
struct queue_store *control_store_open(struct event_base *base, const struct config *cfg,
    char *err, size_t errlen);

#endif
