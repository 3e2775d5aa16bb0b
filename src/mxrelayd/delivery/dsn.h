/*
 * dsn: delivery status notifications (RFC 3464 multipart/report;
 * report-type=delivery-status, RFC 3461 semantics, RFC 3834
 * Auto-Submitted), built as text.
 *
 * Owns: the layout of a DSN (header, human-readable part, the
 * message/delivery-status part with its per-message and per-recipient
 * fields, the part that returns the original), the choice between the
 * whole original and its headers (RET), and making every field value
 * printable and folded. Never: reads the queue, the clock or the network;
 * the caller streams the original's octets between dsn_head() and
 * dsn_tail() itself, so a large original is never held in memory here.
 */
#ifndef MXR_DSN_H
#define MXR_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mxrelay/mxrelay.h"

/* The whole original is returned, when RET is not given, up to this size. */
#define DSN_FULL_DEFAULT_MAX (128 * 1024)
/* Most octets of the original's header section returned with RET=HDRS. */
#define DSN_HEADERS_MAX (256 * 1024)
/* Most recipients one DSN reports (more are split over several DSNs). */
#define DSN_RCPTS_MAX 1000
/* Cap of the text dsn_head builds (recipients' fields are capped too). */
#define DSN_HEAD_MAX (8 * 1024 * 1024)

enum dsn_kind {
	DSN_FAILURE,		/* "Undelivered Mail Returned to Sender" */
	DSN_DELAY,		/* a warning: still being retried */
	DSN_SUCCESS,		/* relayed to a next hop without DSN, or delivered */
};

enum dsn_action {
	DSN_ACTION_FAILED,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,
	DSN_ACTION_RELAYED,
	DSN_ACTION_EXPANDED,
};

/* What the third part returns. */
enum dsn_return {
	DSN_RETURN_FULL,	/* message/rfc822 (message/global for SMTPUTF8) */
	DSN_RETURN_HEADERS,	/* text/rfc822-headers (message/global-headers) */
};

struct dsn_rcpt {
	const char *address;	/* the final recipient, "local@domain" */
	const char *orcpt;	/* decoded ORCPT "type;address", or NULL */
	enum dsn_action action;
	const char *status;	/* "5.1.1"; NULL or "" derives one from code and action */
	int code;		/* SMTP reply code that decided, or 0 (DNS, connection) */
	const char *text;	/* the reply text (without code and status), or what happened */
	const char *remote_mta;	/* name of the host that answered, or NULL */
	time_t last_attempt;	/* 0 when unknown */
};

struct dsn_report {
	enum dsn_kind kind;
	const char *hostname;	/* the reporting MTA */
	const char *to;		/* the original envelope sender */
	const char *queue_id;	/* the original message's queue id */
	const char *envid;	/* decoded ENVID, or NULL */
	time_t arrival;		/* when the original was received */
	time_t now;		/* Date of the DSN */
	time_t retry_until;	/* DSN_DELAY: when retries stop (Will-Retry-Until) */
	const char *message_id;	/* Message-ID of the DSN, without <> */
	const char *boundary;	/* MIME boundary: must not occur in the original */
	enum dsn_return ret;
	bool utf8;		/* the original needs SMTPUTF8: message/global types */
	bool body_8bit;		/* the returned part holds 8-bit octets */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
};

/* A growable text with a cap fixed at creation. */
struct dsn_buf {
	char *data;		/* owned, NUL-terminated when not NULL */
	size_t len, cap;
	size_t max;		/* the most octets it may hold */
	bool overflow;		/* an append went past max (the text is cut) */
};

void dsn_buf_init(struct dsn_buf *b, size_t max);
void dsn_buf_free(struct dsn_buf *b);
/* Append n octets; false (and overflow set) when that would pass max. */
bool dsn_buf_add(struct dsn_buf *b, const void *p, size_t n);

/*
 * What the third part returns (RFC 3461 4.3): HDRS returns the headers,
 * FULL the whole message; without RET the whole message when it is at
 * most DSN_FULL_DEFAULT_MAX octets. Delay and success reports return the
 * headers only.
 */
enum dsn_return dsn_choose_return(enum dsn_kind kind, enum mxr_ret ret, uint64_t size);

/*
 * Append the DSN from its first header line up to and including the
 * header of the third part and its empty line: the caller then appends
 * the original (or its header section), then dsn_tail(). Returns false
 * when the text would pass the buffer's cap or r is incomplete.
 */
bool dsn_head(const struct dsn_report *r, struct dsn_buf *out);
/* Append the end of the third part and the closing boundary. */
bool dsn_tail(const struct dsn_report *r, struct dsn_buf *out);

/* "failed", "delayed", "delivered", "relayed", "expanded". */
const char *dsn_action_name(enum dsn_action a);
/* The Subject of a DSN of this kind. */
const char *dsn_subject(enum dsn_kind kind);

#endif
