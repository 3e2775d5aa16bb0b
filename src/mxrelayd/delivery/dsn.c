/*
 * dsn: the text of delivery status notifications (see dsn.h).
 *
 * Owns: the DSN layout and wording, field folding, the caps on every
 * value copied from a peer or an envelope. Never: reads a clock, a file
 * or the queue; never copies peer text unfiltered (control octets become
 * spaces, and octets above 0x7e become '?' unless the report is UTF-8).
 */
#include "dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_header.h"
#include "util/xalloc.h"

/* Longest value copied into one field (a header line stays under 998 octets). */
#define DSN_VALUE_MAX 900
/* Fold header fields at a space past this column. */
#define DSN_FOLD_AT 76

void dsn_buf_init(struct dsn_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void dsn_buf_free(struct dsn_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

bool dsn_buf_add(struct dsn_buf *b, const void *p, size_t n)
{
	if (b->overflow || n > b->max - b->len) {
		b->overflow = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

/* Append a formatted text (each call's text is capped at 2 KiB). */
static bool dsn_printf(struct dsn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool dsn_printf(struct dsn_buf *b, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->overflow = true;
		return false;
	}
	return dsn_buf_add(b, tmp, (size_t)n);
}

static bool dsn_puts(struct dsn_buf *b, const char *s)
{
	return dsn_buf_add(b, s, strlen(s));
}

/* Copy src into dst as one printable line: controls become spaces, high octets '?' unless utf8. */
static void dsn_clean(char *dst, size_t dstlen, const char *src, bool utf8)
{
	size_t o = 0;
	if (src != NULL)
		for (; *src != '\0' && o + 1 < dstlen; src++) {
			unsigned char c = (unsigned char)*src;
			if (c < 0x20 || c == 0x7f)
				c = ' ';
			else if (c > 0x7e && !utf8)
				c = '?';
			dst[o++] = (char)c;
		}
	dst[o] = '\0';
}

/* Whether s has an octet outside ASCII. */
static bool dsn_has_8bit(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s > 0x7f)
			return true;
	return false;
}

/* Append "Name: value" folded at spaces near DSN_FOLD_AT columns, with CRLF. */
static bool dsn_field(struct dsn_buf *b, const char *name, const char *value)
{
	if (!dsn_puts(b, name) || !dsn_puts(b, ": "))
		return false;
	size_t col = strlen(name) + 2;
	const char *p = value;
	while (*p != '\0') {
		const char *sp = strchr(p + 1, ' ');
		size_t word = sp != NULL ? (size_t)(sp - p) : strlen(p);
		if (col + word > DSN_FOLD_AT && col > strlen(name) + 2 && *p == ' ') {
			/* The space becomes the fold's white space. */
			if (!dsn_puts(b, "\r\n\t"))
				return false;
			p++;
			word--;
			col = 1;
		}
		if (!dsn_buf_add(b, p, word))
			return false;
		col += word;
		p += word;
	}
	return dsn_puts(b, "\r\n");
}

/* Whether s is an enhanced status code "c.sss.ddd" with c in 2, 4, 5. */
static bool dsn_status_valid(const char *s)
{
	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	const char *p = s + 2;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		while (p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == 0 || n > 3)
			return false;
		p += n;
		if (part == 0) {
			if (*p != '.')
				return false;
			p++;
		}
	}
	return *p == '\0';
}

/* The Status value of a recipient: its own, else one from its code or action. */
static void dsn_status_of(const struct dsn_rcpt *r, char *out, size_t outlen)
{
	if (dsn_status_valid(r->status)) {
		snprintf(out, outlen, "%s", r->status);
		return;
	}
	int cls = r->code / 100;
	if (cls != 2 && cls != 4 && cls != 5)
		cls = r->action == DSN_ACTION_FAILED ? 5 : r->action == DSN_ACTION_DELAYED ? 4 : 2;
	snprintf(out, outlen, "%d.0.0", cls);
}

const char *dsn_action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_ACTION_FAILED: return "failed";
	case DSN_ACTION_DELAYED: return "delayed";
	case DSN_ACTION_DELIVERED: return "delivered";
	case DSN_ACTION_RELAYED: return "relayed";
	case DSN_ACTION_EXPANDED: return "expanded";
	}
	return "failed";
}

const char *dsn_subject(enum dsn_kind kind)
{
	switch (kind) {
	case DSN_FAILURE: return "Undelivered Mail Returned to Sender";
	case DSN_DELAY: return "Delayed Mail (still being retried)";
	case DSN_SUCCESS: return "Successful Mail Delivery Report";
	}
	return "Delivery Status Notification";
}

enum dsn_return dsn_choose_return(enum dsn_kind kind, enum mxr_ret ret, uint64_t size)
{
	if (kind != DSN_FAILURE || ret == MXR_RET_HDRS)
		return DSN_RETURN_HEADERS;
	if (ret == MXR_RET_FULL)
		return DSN_RETURN_FULL;
	return size <= DSN_FULL_DEFAULT_MAX ? DSN_RETURN_FULL : DSN_RETURN_HEADERS;
}

/* Whether the report must use the RFC 6533 types (UTF-8 addresses or an SMTPUTF8 original). */
static bool dsn_is_utf8(const struct dsn_report *r)
{
	if (r->utf8 || dsn_has_8bit(r->to))
		return true;
	for (size_t i = 0; i < r->nrcpts; i++)
		if (dsn_has_8bit(r->rcpts[i].address) || dsn_has_8bit(r->rcpts[i].orcpt))
			return true;
	return false;
}

/* The human-readable first part's text. */
static bool dsn_human(const struct dsn_report *r, struct dsn_buf *b, bool utf8)
{
	char host[256];
	dsn_clean(host, sizeof(host), r->hostname, false);
	bool ok = dsn_printf(b, "This is the mail system at host %s.\r\n\r\n", host);
	switch (r->kind) {
	case DSN_FAILURE:
		ok = ok && dsn_puts(b,
		    "Your message could not be delivered to one or more of its recipients,\r\n"
		    "and no further attempt will be made. The reason for each recipient\r\n"
		    "follows; the message (or its header) is attached.\r\n\r\n");
		break;
	case DSN_DELAY: {
		char until[SMTP_HEADER_DATE_MAX];
		if (smtp_header_date(r->retry_until, until, sizeof(until)) == 0)
			snprintf(until, sizeof(until), "the end of its time in the queue");
		ok = ok && dsn_printf(b,
		    "Your message has not been delivered yet to the recipients below.\r\n"
		    "Delivery is still being tried, until %s;\r\n"
		    "you do not need to send it again. You will be told if it fails.\r\n\r\n", until);
		break;
	}
	case DSN_SUCCESS:
		ok = ok && dsn_puts(b,
		    "Your message was handed on to the recipients' next mail server,\r\n"
		    "which does not send delivery notifications: this is the last report\r\n"
		    "you will get about these recipients.\r\n\r\n");
		break;
	}
	for (size_t i = 0; ok && i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		char addr[DSN_VALUE_MAX], text[DSN_VALUE_MAX], status[16], mta[256];
		dsn_clean(addr, sizeof(addr), rc->address, utf8);
		dsn_clean(text, sizeof(text), rc->text, false);
		dsn_clean(mta, sizeof(mta), rc->remote_mta, false);
		dsn_status_of(rc, status, sizeof(status));
		ok = dsn_printf(b, "<%s>: %s", addr, dsn_action_name(rc->action));
		if (ok && mta[0] != '\0')
			ok = dsn_printf(b, " (host %s)", mta);
		if (ok && rc->code != 0)
			ok = dsn_printf(b, ": %d %s %s\r\n", rc->code, status, text);
		else if (ok)
			ok = dsn_printf(b, ": %s %s\r\n", status, text);
	}
	return ok;
}

/* The per-recipient block of the message/delivery-status part. */
static bool dsn_rcpt_fields(const struct dsn_report *r, const struct dsn_rcpt *rc,
    struct dsn_buf *b, bool utf8)
{
	char v[DSN_VALUE_MAX + 64], addr[DSN_VALUE_MAX], status[16], date[SMTP_HEADER_DATE_MAX];
	bool ok = dsn_puts(b, "\r\n");
	if (rc->orcpt != NULL && rc->orcpt[0] != '\0' && strchr(rc->orcpt, ';') != NULL) {
		dsn_clean(v, sizeof(v), rc->orcpt, utf8);
		ok = ok && dsn_field(b, "Original-Recipient", v);
	}
	dsn_clean(addr, sizeof(addr), rc->address, utf8);
	snprintf(v, sizeof(v), "%s; %s", dsn_has_8bit(addr) ? "utf-8" : "rfc822", addr);
	ok = ok && dsn_field(b, "Final-Recipient", v);
	ok = ok && dsn_field(b, "Action", dsn_action_name(rc->action));
	dsn_status_of(rc, status, sizeof(status));
	ok = ok && dsn_field(b, "Status", status);
	if (rc->remote_mta != NULL && rc->remote_mta[0] != '\0') {
		char mta[256];
		dsn_clean(mta, sizeof(mta), rc->remote_mta, false);
		snprintf(v, sizeof(v), "dns; %s", mta);
		ok = ok && dsn_field(b, "Remote-MTA", v);
	}
	if (rc->text != NULL && rc->text[0] != '\0') {
		char text[DSN_VALUE_MAX - 32];
		dsn_clean(text, sizeof(text), rc->text, false);
		if (rc->code != 0) {
			bool esc = dsn_status_valid(rc->status);
			snprintf(v, sizeof(v), "smtp; %d %s%s%s", rc->code, esc ? rc->status : "",
			    esc ? " " : "", text);
		} else {
			snprintf(v, sizeof(v), "X-mxrelay; %s", text);
		}
		ok = ok && dsn_field(b, "Diagnostic-Code", v);
	}
	if (rc->last_attempt != 0 && smtp_header_date(rc->last_attempt, date, sizeof(date)) > 0)
		ok = ok && dsn_field(b, "Last-Attempt-Date", date);
	if (r->kind == DSN_DELAY && r->retry_until != 0 &&
	    smtp_header_date(r->retry_until, date, sizeof(date)) > 0)
		ok = ok && dsn_field(b, "Will-Retry-Until", date);
	return ok;
}

bool dsn_head(const struct dsn_report *r, struct dsn_buf *b)
{
	if (r->hostname == NULL || r->to == NULL || r->boundary == NULL || r->message_id == NULL)
		return false;
	bool utf8 = dsn_is_utf8(r);
	char date[SMTP_HEADER_DATE_MAX], host[256], to[DSN_VALUE_MAX], bnd[128], v[DSN_VALUE_MAX + 64];
	if (smtp_header_date(r->now, date, sizeof(date)) == 0)
		return false;
	dsn_clean(host, sizeof(host), r->hostname, false);
	dsn_clean(to, sizeof(to), r->to, utf8);
	dsn_clean(bnd, sizeof(bnd), r->boundary, false);

	bool ok = dsn_field(b, "Date", date);
	snprintf(v, sizeof(v), "Mail Delivery System <MAILER-DAEMON@%s>", host);
	ok = ok && dsn_field(b, "From", v);
	snprintf(v, sizeof(v), "<%s>", to);
	ok = ok && dsn_field(b, "To", v);
	ok = ok && dsn_field(b, "Subject", dsn_subject(r->kind));
	dsn_clean(v, sizeof(v), r->message_id, false);
	ok = ok && dsn_printf(b, "Message-ID: <%s>\r\n", v);
	ok = ok && dsn_field(b, "Auto-Submitted", "auto-replied");
	ok = ok && dsn_field(b, "MIME-Version", "1.0");
	ok = ok && dsn_printf(b, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", bnd);
	bool eight = utf8 || (r->body_8bit && r->ret == DSN_RETURN_FULL);
	if (eight)
		ok = ok && dsn_field(b, "Content-Transfer-Encoding", "8bit");
	ok = ok && dsn_puts(b, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* Part one: for people. */
	ok = ok && dsn_printf(b, "--%s\r\n", bnd);
	ok = ok && dsn_field(b, "Content-Description", "Notification");
	ok = ok && dsn_field(b, "Content-Type", "text/plain; charset=us-ascii");
	ok = ok && dsn_puts(b, "\r\n") && dsn_human(r, b, false);

	/* Part two: for programs (RFC 3464 2). */
	ok = ok && dsn_printf(b, "\r\n--%s\r\n", bnd);
	ok = ok && dsn_field(b, "Content-Description", "Delivery report");
	ok = ok && dsn_field(b, "Content-Type", utf8 ? "message/global-delivery-status"
	    : "message/delivery-status");
	if (utf8)
		ok = ok && dsn_field(b, "Content-Transfer-Encoding", "8bit");
	ok = ok && dsn_puts(b, "\r\n");
	snprintf(v, sizeof(v), "dns; %s", host);
	ok = ok && dsn_field(b, "Reporting-MTA", v);
	if (r->queue_id != NULL) {
		dsn_clean(v, sizeof(v), r->queue_id, false);
		ok = ok && dsn_field(b, "X-Mxrelay-Queue-ID", v);
	}
	if (r->envid != NULL && r->envid[0] != '\0') {
		dsn_clean(v, sizeof(v), r->envid, false);
		ok = ok && dsn_field(b, "Original-Envelope-Id", v);
	}
	if (r->arrival != 0 && smtp_header_date(r->arrival, date, sizeof(date)) > 0)
		ok = ok && dsn_field(b, "Arrival-Date", date);
	for (size_t i = 0; ok && i < r->nrcpts; i++)
		ok = dsn_rcpt_fields(r, &r->rcpts[i], b, utf8);

	/* Part three: the original, or its header section. */
	ok = ok && dsn_printf(b, "\r\n--%s\r\n", bnd);
	bool full = r->ret == DSN_RETURN_FULL;
	ok = ok && dsn_field(b, "Content-Description", full ? "Undelivered Message" : "Message Headers");
	ok = ok && dsn_field(b, "Content-Type", full ? (utf8 ? "message/global" : "message/rfc822")
	    : (utf8 ? "message/global-headers" : "text/rfc822-headers"));
	if (eight && full)
		ok = ok && dsn_field(b, "Content-Transfer-Encoding", "8bit");
	ok = ok && dsn_puts(b, "\r\n");
	return ok && !b->overflow;
}

bool dsn_tail(const struct dsn_report *r, struct dsn_buf *b)
{
	char bnd[128];
	dsn_clean(bnd, sizeof(bnd), r->boundary, false);
	return dsn_printf(b, "\r\n--%s--\r\n", bnd);
}
