/*
 * smtp_header: the Received trace field (RFC 5321 4.4), the RFC 5322
 * date-time and the RFC 3848 protocol names.
 *
 * Owns: the layout and folding of the Received field we add, and the rule
 * that client-supplied text is made printable before it enters a header.
 * Never: reads a clock or the locale (day and month names are fixed
 * English, as RFC 5322 requires), and never writes past the caller's
 * buffer or a line past 998 octets.
 */
#include "smtp/smtp_header.h"

#include <stdio.h>
#include <string.h>

#include "smtp/smtp_addr.h"
#include "util/utf8.h"

static const char *const hdr_days[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const hdr_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

size_t smtp_header_date(time_t t, char *buf, size_t len)
{
	struct tm tm;
	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_year < 0 ||
	    tm.tm_year > 9999 - 1900)
		return 0;
	int n = snprintf(buf, len, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    hdr_days[tm.tm_wday], tm.tm_mday, hdr_months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

const char *smtp_header_protocol(bool esmtp, bool tls, bool auth)
{
	if (!esmtp)
		return "SMTP";
	if (tls && auth)
		return "ESMTPSA";
	if (tls)
		return "ESMTPS";
	if (auth)
		return "ESMTPA";
	return "ESMTP";
}

/* How peer text is made safe for a header. */
enum hdr_clean {
	HDR_ASCII,	/* printable ASCII only; '(' and ')' too become '?' (comments) */
	HDR_UTF8,	/* printable ASCII and well-formed UTF-8; the rest becomes '?' */
};

/* A bounded writer that remembers where the current line began. */
struct hdr_out {
	char *buf;
	size_t len;
	size_t pos;
	size_t line_start;
	bool failed;
};

/* Append raw octets we wrote ourselves. */
static void hdr_raw(struct hdr_out *o, const char *s, size_t n)
{
	if (o->failed || n >= o->len - o->pos) {
		o->failed = true;
		return;
	}
	memcpy(o->buf + o->pos, s, n);
	o->pos += n;
}

static void hdr_str(struct hdr_out *o, const char *s)
{
	hdr_raw(o, s, strlen(s));
}

/* Append at most max octets of peer text, cleaned as the mode says. */
static void hdr_clean(struct hdr_out *o, const char *s, size_t max, enum hdr_clean mode)
{
	size_t n = strnlen(s, max);
	for (size_t i = 0; i < n && !o->failed;) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80 && mode == HDR_UTF8) {
			size_t u = utf8_seq_len(s + i, n - i);
			if (u > 0) {
				hdr_raw(o, s + i, u);
				i += u;
				continue;
			}
		}
		char ch = (char)c;
		if (c < 0x20 || c >= 0x7f || (mode == HDR_ASCII && (c == '(' || c == ')')))
			ch = '?';
		hdr_raw(o, &ch, 1);
		i++;
	}
}

/* End the current line with CRLF; fail when it passed the line cap. */
static void hdr_eol(struct hdr_out *o)
{
	if (o->pos - o->line_start > SMTP_HEADER_LINE_MAX)
		o->failed = true;
	hdr_raw(o, "\r\n", 2);
	o->line_start = o->pos;
}

size_t smtp_header_received(const struct smtp_received *r, char *buf, size_t len)
{
	struct hdr_out o = { .buf = buf, .len = len };
	char date[SMTP_HEADER_DATE_MAX];
	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (smtp_header_date(r->when, date, sizeof(date)) == 0)
		return 0;

	hdr_str(&o, "Received: from ");
	hdr_clean(&o, r->helo != NULL && r->helo[0] != '\0' ? r->helo : "unknown",
	    SMTP_HEADER_HELO_MAX, HDR_ASCII);
	hdr_str(&o, " (");
	if (r->client_rdns != NULL) {
		hdr_clean(&o, r->client_rdns, SMTP_DOMAIN_MAX, HDR_ASCII);
		hdr_str(&o, " ");
	}
	hdr_str(&o, "[");
	if (r->client_ip != NULL && strchr(r->client_ip, ':') != NULL)
		hdr_str(&o, "IPv6:");
	hdr_clean(&o, r->client_ip != NULL ? r->client_ip : "unknown", 64, HDR_ASCII);
	hdr_str(&o, "])");
	hdr_eol(&o);

	hdr_str(&o, "\tby ");
	hdr_clean(&o, r->by_host != NULL ? r->by_host : "localhost", SMTP_DOMAIN_MAX, HDR_ASCII);
	hdr_str(&o, " (mxrelay)");
	if (r->protocol != NULL) {
		hdr_str(&o, " with ");
		hdr_clean(&o, r->protocol, 32, HDR_ASCII);
	}
	if (r->queue_id != NULL) {
		hdr_str(&o, " id ");
		hdr_clean(&o, r->queue_id, 128, HDR_ASCII);
	}
	if (r->tls_info != NULL) {
		hdr_eol(&o);
		hdr_str(&o, "\t(");
		hdr_clean(&o, r->tls_info, 512, HDR_ASCII);
		hdr_str(&o, ")");
	}
	if (r->for_rcpt != NULL) {
		hdr_eol(&o);
		hdr_str(&o, "\tfor <");
		hdr_clean(&o, r->for_rcpt, SMTP_LOCAL_ACCEPT_MAX + 1 + SMTP_DOMAIN_MAX, HDR_UTF8);
		hdr_str(&o, ">");
	}
	hdr_str(&o, "; ");
	hdr_str(&o, date);
	hdr_eol(&o);
	if (o.failed) {
		buf[0] = '\0';
		return 0;
	}
	buf[o.pos] = '\0';
	return o.pos;
}
