/*
 * tlsrpt_mail: one TLS-RPT report as a mail message (RFC 8460 5.3) and
 * the report's file name (5.1).
 *
 * Owns: the checks on every value that reaches a header, the header
 * fields and their folding at 78 characters, the MIME structure and its
 * boundary, base64 in 76-character lines, RFC 2231 continuations for a
 * long file name, and the Message-ID made from a report id.
 * Never: does I/O, reads a clock, allocates or writes past the caller's
 * buffer (tlsrpt_out measures what does not fit).
 */
#include "tlsrpt/tlsrpt_mail.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tlsrpt/tlsrpt_time.h"
#include "tlsrpt_name.h"
#include "tlsrpt_out.h"

/* RFC 5322 2.1.1: a line SHOULD be no more than 78 characters without its CRLF. */
#define MAIL_LINE_MAX 78
/* Base64 of 57 octets: one 76-character line (RFC 2045 6.8). */
#define MAIL_B64_IN 57
#define MAIL_ADDR_MAX 320
#define MAIL_MSGID_LEFT_MAX 128

/* A header field being written: the writer and the column its current line is at. */
struct mail_hdr {
	struct tlsrpt_out *o;
	size_t col;
	size_t words;	/* words on the current line */
};

/* Write a reason into why (when there is room); returns st. */
static enum tlsrpt_mail_status mail_fail(enum tlsrpt_mail_status st, char *why, size_t whylen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum tlsrpt_mail_status mail_fail(enum tlsrpt_mail_status st, char *why, size_t whylen,
    const char *fmt, ...)
{
	if (whylen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return st;
}

static bool mail_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Whether s is a host name (a NULL is not). */
static bool mail_host(const char *s)
{
	return s != NULL && tlsrpt_name_host(s, strlen(s));
}

/* Whether s may stand in an address field: printable ASCII with an "@", no CR or LF. */
static bool mail_addr(const char *s)
{
	if (s == NULL || s[0] == '\0' || strchr(s, '@') == NULL || strlen(s) >= MAIL_ADDR_MAX)
		return false;
	for (const char *c = s; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			return false;
	return true;
}

/* Whether s is a msg-id as this module writes it: "<" printable, no space, one "@" ">". */
static bool mail_msgid(const char *s)
{
	size_t n = strlen(s);
	if (n < 5 || n >= TLSRPT_MAIL_MSGID_MAX || s[0] != '<' || s[n - 1] != '>')
		return false;
	size_t at = 0;
	for (size_t i = 1; i + 1 < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c > 0x7e || c == '<' || c == '>')
			return false;
		at += c == '@';
	}
	return at == 1 && s[1] != '@' && s[n - 2] != '@';
}

/* Whether u (NULL or "" for none) is a unique-id this module writes: 1 to 64 letters, digits. */
static bool mail_unique_ok(const char *u)
{
	if (u == NULL || u[0] == '\0')
		return true;
	size_t n = strlen(u);
	if (n > TLSRPT_MAIL_UNIQUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!mail_is_alnum(u[i]))
			return false;
	return true;
}

enum tlsrpt_mail_status tlsrpt_mail_filename(const char *submitter, const char *policy_domain,
    int64_t begin, int64_t end, const char *unique_id, bool gz, char *out, size_t cap)
{
	if (cap > 0)
		out[0] = '\0';
	if (!mail_host(submitter) || !mail_host(policy_domain) || begin < 0 || begin > end ||
	    end > TLSRPT_TIME_MAX || !mail_unique_ok(unique_id))
		return TLSRPT_MAIL_INVALID;
	bool uid = unique_id != NULL && unique_id[0] != '\0';
	int n = snprintf(out, cap, "%s!%s!%lld!%lld%s%s%s", submitter, policy_domain,
	    (long long)begin, (long long)end, uid ? "!" : "", uid ? unique_id : "",
	    gz ? ".json.gz" : ".json");
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return TLSRPT_MAIL_TOO_BIG;
	}
	return TLSRPT_MAIL_OK;
}

/* Whether c is RFC 5322 atext. */
static bool mail_is_atext(char c)
{
	return mail_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

enum tlsrpt_mail_status tlsrpt_mail_message_id(const char *report_id, const char *submitter,
    char *out, size_t cap)
{
	if (cap > 0)
		out[0] = '\0';
	if (!mail_host(submitter))
		return TLSRPT_MAIL_INVALID;
	char left[MAIL_MSGID_LEFT_MAX + 1];
	size_t n = 0;
	for (const char *c = report_id != NULL ? report_id : ""; *c != '\0'; c++) {
		char ch = mail_is_atext(*c) ? *c : '.';
		if (ch == '.' && (n == 0 || left[n - 1] == '.'))
			continue;	/* no dot first, no two in a row */
		if (n == MAIL_MSGID_LEFT_MAX)
			break;
		left[n++] = ch;
	}
	while (n > 0 && left[n - 1] == '.')
		n--;
	left[n] = '\0';
	int w = snprintf(out, cap, "<%s@%s>", n > 0 ? left : "tlsrpt", submitter);
	if (w < 0 || (size_t)w >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return TLSRPT_MAIL_TOO_BIG;
	}
	return TLSRPT_MAIL_OK;
}

/* Begin a header field "Name:". */
static void mail_hdr_start(struct mail_hdr *h, struct tlsrpt_out *o, const char *name)
{
	h->o = o;
	tlsrpt_out_str(o, name);
	tlsrpt_out_char(o, ':');
	h->col = strlen(name) + 1;
	h->words = 0;
}

/*
 * Add word[0..n) after a space, folding first when the line would pass 78
 * and a word precedes it on the line. Never right after the field name:
 * readers such as Python's email package keep the space of that fold in
 * the value, so a long first word stays on the name's line instead.
 */
static void mail_hdr_word(struct mail_hdr *h, const char *word, size_t n)
{
	if (h->col + 1 + n > MAIL_LINE_MAX && h->words > 0) {
		tlsrpt_out_str(h->o, "\r\n");
		h->col = 0;
		h->words = 0;
	}
	tlsrpt_out_char(h->o, ' ');
	tlsrpt_out_mem(h->o, word, n);
	h->col += 1 + n;
	h->words++;
}

static void mail_hdr_str(struct mail_hdr *h, const char *word)
{
	mail_hdr_word(h, word, strlen(word));
}

/*
 * Add "label value" as one word when it fits where it goes (a fold may
 * then come before the label, not after it); else as two words, so that
 * the fold can come between them.
 */
static void mail_hdr_pair(struct mail_hdr *h, const char *label, const char *value)
{
	char word[MAIL_LINE_MAX];
	int n = snprintf(word, sizeof(word), "%s %s", label, value);
	if (n > 0 && (size_t)n < sizeof(word) &&
	    (h->words > 0 || h->col + 1 + (size_t)n <= MAIL_LINE_MAX)) {
		mail_hdr_word(h, word, (size_t)n);
	} else {
		mail_hdr_str(h, label);
		mail_hdr_str(h, value);
	}
}

static void mail_hdr_end(struct mail_hdr *h)
{
	tlsrpt_out_str(h->o, "\r\n");
}

/* A whole header field of one value. */
static void mail_field(struct tlsrpt_out *o, const char *name, const char *value)
{
	struct mail_hdr h;
	mail_hdr_start(&h, o, name);
	mail_hdr_str(&h, value);
	mail_hdr_end(&h);
}

/*
 * The attachment's disposition: filename="F" when it fits a folded line,
 * else RFC 2231 continuations filename*0="..."; filename*1="..." (a file
 * name holds no octet that needs quoting or encoding).
 */
static void mail_disposition(struct tlsrpt_out *o, const char *fname)
{
	struct mail_hdr h;
	char word[MAIL_LINE_MAX + 1];
	size_t flen = strlen(fname);
	mail_hdr_start(&h, o, "Content-Disposition");
	mail_hdr_str(&h, "attachment;");
	if (1 + strlen("filename=\"\"") + flen <= MAIL_LINE_MAX) {
		int n = snprintf(word, sizeof(word), "filename=\"%s\"", fname);
		mail_hdr_word(&h, word, (size_t)n);
	} else {
		/* Each piece on its own line: ' filename*NN="' (15) + piece + '";' (2). */
		size_t piece = MAIL_LINE_MAX - 17;
		for (size_t i = 0, k = 0; i < flen; i += piece, k++) {
			size_t len = flen - i < piece ? flen - i : piece;
			int n = snprintf(word, sizeof(word), "filename*%zu=\"%.*s\"%s", k, (int)len,
			    fname + i, i + len < flen ? ";" : "");
			mail_hdr_word(&h, word, (size_t)n);
		}
	}
	mail_hdr_end(&h);
}

/* Write gz[0..n) in base64, 76 characters a line, each line ending CRLF. */
static void mail_base64(struct tlsrpt_out *o, const unsigned char *gz, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t line = 0; line < n; line += MAIL_B64_IN) {
		size_t end = line + MAIL_B64_IN < n ? line + MAIL_B64_IN : n;
		for (size_t i = line; i < end; i += 3) {
			unsigned v = (unsigned)gz[i] << 16;
			if (i + 1 < end)
				v |= (unsigned)gz[i + 1] << 8;
			if (i + 2 < end)
				v |= gz[i + 2];
			char q[4] = { b64[v >> 18], b64[(v >> 12) & 63],
				i + 1 < end ? b64[(v >> 6) & 63] : '=', i + 2 < end ? b64[v & 63] : '=' };
			tlsrpt_out_mem(o, q, 4);
		}
		tlsrpt_out_str(o, "\r\n");
	}
}

/* Check every input of the mail before a byte of it is written. */
static enum tlsrpt_mail_status mail_check(const struct tlsrpt_mail *m, char *why, size_t whylen)
{
	if (!mail_addr(m->from))
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen, "from is not a printable address");
	if (!mail_addr(m->to))
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen, "to is not a printable address");
	if (!mail_host(m->submitter))
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen, "submitter is not a host name");
	if (!mail_host(m->policy_domain))
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen, "policy domain is not a host name");
	if (m->message_id != NULL && m->message_id[0] != '\0' && !mail_msgid(m->message_id))
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen,
		    "message id is not \"<left@right>\" in printable ASCII");
	if (m->date < 0 || m->date > TLSRPT_TIME_MAX)
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen, "date out of range");
	if (m->begin < 0 || m->begin > m->end || m->end > TLSRPT_TIME_MAX)
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen,
		    "date range is not 0 <= begin <= end <= 9999-12-31");
	if (!mail_unique_ok(m->unique_id))
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen,
		    "unique id is not 1 to 64 letters and digits");
	if (m->gz == NULL || m->gzlen == 0)
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen, "no compressed report");
	return TLSRPT_MAIL_OK;
}

/* The message header: addresses, date, ids, subject, the two TLS-Report fields, MIME. */
static void mail_header(struct tlsrpt_out *o, const struct tlsrpt_mail *m, const char *msgid,
    const char *boundary)
{
	char date[TLSRPT_TIME_RFC5322_SIZE];
	tlsrpt_time_rfc5322(m->date, date);
	mail_field(o, "From", m->from);
	mail_field(o, "To", m->to);
	mail_field(o, "Date", date);
	mail_field(o, "Message-ID", msgid);
	struct mail_hdr h;
	mail_hdr_start(&h, o, "Subject");
	mail_hdr_pair(&h, "Report Domain:", m->policy_domain);
	mail_hdr_pair(&h, "Submitter:", m->submitter);
	mail_hdr_pair(&h, "Report-ID:", msgid);
	mail_hdr_end(&h);
	mail_field(o, "TLS-Report-Domain", m->policy_domain);
	mail_field(o, "TLS-Report-Submitter", m->submitter);
	mail_field(o, "MIME-Version", "1.0");
	mail_hdr_start(&h, o, "Content-Type");
	mail_hdr_str(&h, "multipart/report;");
	mail_hdr_str(&h, "report-type=\"tlsrpt\";");
	tlsrpt_out_str(o, "\r\n boundary=\"");
	tlsrpt_out_str(o, boundary);
	tlsrpt_out_str(o, "\"\r\n\r\n");
}

/* One line "label value" of the text part, the value on a line of its own when too long. */
static void mail_text_item(struct tlsrpt_out *o, const char *label, const char *value)
{
	tlsrpt_out_str(o, label);
	tlsrpt_out_str(o, strlen(label) + 1 + strlen(value) <= MAIL_LINE_MAX ? " " : "\r\n ");
	tlsrpt_out_str(o, value);
	tlsrpt_out_str(o, "\r\n");
}

/* The human-readable part: who reports on what, for which time. */
static void mail_text(struct tlsrpt_out *o, const struct tlsrpt_mail *m)
{
	char begin[TLSRPT_TIME_RFC3339_SIZE], end[TLSRPT_TIME_RFC3339_SIZE];
	tlsrpt_time_rfc3339(m->begin, begin);
	tlsrpt_time_rfc3339(m->end, end);
	tlsrpt_out_str(o, "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "This is an aggregate SMTP TLS report (RFC 8460).\r\n");
	mail_text_item(o, "Report domain:", m->policy_domain);
	mail_text_item(o, "Submitter:", m->submitter);
	tlsrpt_out_str(o, "Date range: ");
	tlsrpt_out_str(o, begin);
	tlsrpt_out_str(o, " to ");
	tlsrpt_out_str(o, end);
	tlsrpt_out_str(o, "\r\nThe report is attached as gzip-compressed JSON.\r\n\r\n");
}

enum tlsrpt_mail_status tlsrpt_mail_write(const struct tlsrpt_mail *m, char *out, size_t cap,
    size_t *len, char *why, size_t whylen)
{
	*len = 0;
	if (whylen > 0)
		why[0] = '\0';
	if (cap > 0)
		out[0] = '\0';
	enum tlsrpt_mail_status st = mail_check(m, why, whylen);
	if (st != TLSRPT_MAIL_OK)
		return st;
	char msgid[TLSRPT_MAIL_MSGID_MAX], fname[TLSRPT_MAIL_FILENAME_MAX], boundary[64];
	if (m->message_id != NULL && m->message_id[0] != '\0')
		snprintf(msgid, sizeof(msgid), "%s", m->message_id);
	else if (tlsrpt_mail_message_id(m->report_id, m->submitter, msgid, sizeof(msgid)) !=
	    TLSRPT_MAIL_OK)
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen, "no message id can be made");
	if (tlsrpt_mail_filename(m->submitter, m->policy_domain, m->begin, m->end, m->unique_id,
	    true, fname, sizeof(fname)) != TLSRPT_MAIL_OK)
		return mail_fail(TLSRPT_MAIL_INVALID, why, whylen, "no file name can be made");
	/* "=_" is in no base64 line and no line of the text part: the boundary is in neither. */
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%lld_%lld", (long long)m->begin,
	    (long long)m->end);
	struct tlsrpt_out o;
	tlsrpt_out_init(&o, out, cap);
	mail_header(&o, m, msgid, boundary);
	tlsrpt_out_str(&o, "This is a multipart message in MIME format.\r\n\r\n--");
	tlsrpt_out_str(&o, boundary);
	tlsrpt_out_str(&o, "\r\n");
	mail_text(&o, m);
	tlsrpt_out_str(&o, "--");
	tlsrpt_out_str(&o, boundary);
	tlsrpt_out_str(&o, "\r\nContent-Type: application/tlsrpt+gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\n");
	mail_disposition(&o, fname);
	tlsrpt_out_str(&o, "\r\n");
	mail_base64(&o, m->gz, m->gzlen);
	tlsrpt_out_str(&o, "\r\n--");
	tlsrpt_out_str(&o, boundary);
	tlsrpt_out_str(&o, "--\r\n");
	*len = o.len;
	return tlsrpt_out_finish(&o) ? TLSRPT_MAIL_OK : TLSRPT_MAIL_TOO_BIG;
}

const char *tlsrpt_mail_status_name(enum tlsrpt_mail_status s)
{
	switch (s) {
	case TLSRPT_MAIL_OK: return "ok";
	case TLSRPT_MAIL_TOO_BIG: return "too big";
	case TLSRPT_MAIL_INVALID: return "invalid";
	}
	return "unknown";
}
