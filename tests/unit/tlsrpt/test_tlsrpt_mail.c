/*
 * test_tlsrpt_mail: the report mail (RFC 8460 5.3) and file name (5.1).
 * The mail is taken apart as a reader would: every line CRLF-terminated
 * and at most 78 characters, the header unfolded and each field checked,
 * the multipart/report split at its boundary, the attachment's base64
 * decoded and inflated back to the JSON given. Then the file names, the
 * Message-ID made from a report id, and each refused input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "tlsrpt/tlsrpt_gzip.h"
#include "tlsrpt/tlsrpt_mail.h"

static const char sample_json[] = "{\"organization-name\":\"Company-X\",\"policies\":[]}";

struct sample {
	unsigned char gz[512];
	struct tlsrpt_mail m;
};

/* A mail of the RFC 8460 5.3 example's values, its report the JSON above. */
static void sample_init(struct sample *s)
{
	size_t gzlen;
	assert_int_equal(tlsrpt_gzip(sample_json, strlen(sample_json), s->gz, sizeof(s->gz), &gzlen),
	    TLSRPT_GZIP_OK);
	memset(&s->m, 0, sizeof(s->m));
	s->m.from = "tlsrpt@mail.sender.example.com";
	s->m.to = "mts-sts-tlsrpt@example.net";
	s->m.date = 1494377670;	/* 2017-05-10T00:54:30Z */
	s->m.message_id = "<735ff.e317+bf22029@example.net>";
	s->m.submitter = "mail.sender.example.com";
	s->m.policy_domain = "example.net";
	s->m.report_id = "735ff.e317+bf22029";
	s->m.begin = 1013662812;
	s->m.end = 1013749130;
	s->m.gz = s->gz;
	s->m.gzlen = gzlen;
}

/* Write the mail into a new buffer; fails the test unless OK. */
static char *mail_text(const struct tlsrpt_mail *m, size_t *len)
{
	char why[128];
	assert_int_equal(tlsrpt_mail_write(m, NULL, 0, len, why, sizeof(why)), TLSRPT_MAIL_TOO_BIG);
	char *out = malloc(*len + 1);
	assert_non_null(out);
	enum tlsrpt_mail_status st = tlsrpt_mail_write(m, out, *len + 1, len, why, sizeof(why));
	if (st != TLSRPT_MAIL_OK)
		fail_msg("mail: got %s (%s), want ok", tlsrpt_mail_status_name(st), why);
	return out;
}

/*
 * Every line ends CRLF, holds no other CR or LF and no NUL, and is at most
 * max characters, unless it holds the word long (NULL for none): a word
 * too long for any line.
 */
static void check_lines(const char *t, size_t len, size_t max, const char *word)
{
	size_t start = 0, line = 1;
	for (size_t i = 0; i < len; i++) {
		if (t[i] == '\0')
			fail_msg("line %zu: a NUL", line);
		if (t[i] == '\r' && (i + 1 >= len || t[i + 1] != '\n'))
			fail_msg("line %zu: a bare CR", line);
		if (t[i] == '\n' && (i == 0 || t[i - 1] != '\r'))
			fail_msg("line %zu: a bare LF", line);
		if (t[i] == '\n') {
			size_t n = i - 1 - start;
			bool has_word = word != NULL && n >= strlen(word) &&
			    memmem(t + start, n, word, strlen(word)) != NULL;
			if (n > max && !has_word)
				fail_msg("line %zu: %zu characters, want at most %zu: %.*s", line,
				    i - 1 - start, max, (int)(i - 1 - start), t + start);
			start = i + 1;
			line++;
		}
	}
	if (start != len)
		fail_msg("the text does not end with CRLF");
}

/* The unfolded value of header field name in the header block h (ends at the blank line). */
static char *header_value(const char *h, const char *name)
{
	size_t nlen = strlen(name);
	for (const char *p = h; *p != '\0' && !(p[0] == '\r' && p[1] == '\n');) {
		const char *eol = strstr(p, "\r\n");
		if (strncmp(p, name, nlen) == 0 && p[nlen] == ':') {
			static char v[2048];
			size_t n = 0;
			const char *q = p + nlen + 1;
			while (*q == ' ')
				q++;
			for (;;) {
				while (q < eol && n + 1 < sizeof(v))
					v[n++] = *q++;
				if (eol[2] != ' ' && eol[2] != '\t')
					break;
				q = eol + 2;	/* unfold: the CRLF goes, the white space stays */
				eol = strstr(q, "\r\n");
			}
			v[n] = '\0';
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Decode base64 lines s[0..n) (CRLF between lines) into out; the length. */
static size_t unbase64(const char *s, size_t n, unsigned char *out, size_t cap)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '=')
			continue;
		const char *p = strchr(b64, s[i]);
		if (p == NULL || s[i] == '\0')
			fail_msg("base64: octet 0x%02x", (unsigned char)s[i]);
		acc = acc << 6 | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			assert_true(len < cap);
			out[len++] = (unsigned char)(acc >> bits);
		}
	}
	return len;
}

/* Inflate gzip gz[0..n) into out; the length. */
static size_t gunzip(const unsigned char *gz, size_t n, unsigned char *out, size_t cap)
{
	z_stream z = { 0 };
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)gz;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	size_t got = z.total_out;
	inflateEnd(&z);
	return got;
}

static void expect_header(const char *h, const char *name, const char *want)
{
	const char *got = header_value(h, name);
	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", name, got ? got : "(none)", want);
}

static void test_mail_structure(void **state)
{
	(void)state;
	struct sample s;
	sample_init(&s);
	size_t len;
	char *t = mail_text(&s.m, &len);
	check_lines(t, len, 78, NULL);
	expect_header(t, "From", "tlsrpt@mail.sender.example.com");
	expect_header(t, "To", "mts-sts-tlsrpt@example.net");
	expect_header(t, "Date", "Wed, 10 May 2017 00:54:30 +0000");
	expect_header(t, "Message-ID", "<735ff.e317+bf22029@example.net>");
	expect_header(t, "Subject", "Report Domain: example.net Submitter: mail.sender.example.com "
	    "Report-ID: <735ff.e317+bf22029@example.net>");
	expect_header(t, "TLS-Report-Domain", "example.net");
	expect_header(t, "TLS-Report-Submitter", "mail.sender.example.com");
	expect_header(t, "MIME-Version", "1.0");
	const char *ct = header_value(t, "Content-Type");
	assert_non_null(ct);
	static const char prefix[] = "multipart/report; report-type=\"tlsrpt\"; boundary=\"";
	size_t pl = strlen(prefix);
	if (strncmp(ct, prefix, pl) != 0 || ct[strlen(ct) - 1] != '"')
		fail_msg("Content-Type got \"%s\"", ct);
	char boundary[128];
	snprintf(boundary, sizeof(boundary), "\r\n--%.*s", (int)(strlen(ct) - pl - 1), ct + pl);
	/* The body: preamble, two parts, the close delimiter, nothing after it. */
	const char *body = strstr(t, "\r\n\r\n");
	const char *p1 = strstr(body, boundary);
	assert_non_null(p1);
	p1 += strlen(boundary);
	assert_memory_equal(p1, "\r\n", 2);
	const char *p2 = strstr(p1, boundary);
	assert_non_null(p2);
	p2 += strlen(boundary);
	assert_memory_equal(p2, "\r\n", 2);
	const char *close = strstr(p2, boundary);
	assert_non_null(close);
	assert_string_equal(close + strlen(boundary), "--\r\n");
	/* Part one: short US-ASCII text. */
	expect_header(p1 + 2, "Content-Type", "text/plain; charset=\"us-ascii\"");
	expect_header(p1 + 2, "Content-Transfer-Encoding", "7bit");
	const char *text = strstr(p1, "\r\n\r\n") + 4;
	assert_true(strncmp(text, "This is an aggregate SMTP TLS report", 36) == 0);
	assert_non_null(strstr(text, "Report domain: example.net\r\n"));
	assert_non_null(strstr(text, "Date range: 2002-02-14T05:00:12Z to 2002-02-15T04:58:50Z"));
	/* Part two: the gzip'd JSON in base64, with its 5.1 file name. */
	expect_header(p2 + 2, "Content-Type", "application/tlsrpt+gzip");
	expect_header(p2 + 2, "Content-Transfer-Encoding", "base64");
	expect_header(p2 + 2, "Content-Disposition",
	    "attachment; filename=\"mail.sender.example.com!example.net!1013662812!1013749130.json.gz\"");
	const char *b64 = strstr(p2, "\r\n\r\n") + 4;
	unsigned char gz[512], json[512];
	size_t gzlen = unbase64(b64, (size_t)(close - b64), gz, sizeof(gz));
	assert_int_equal(gzlen, s.m.gzlen);
	assert_memory_equal(gz, s.gz, gzlen);
	size_t jlen = gunzip(gz, gzlen, json, sizeof(json));
	assert_int_equal(jlen, strlen(sample_json));
	assert_memory_equal(json, sample_json, jlen);
	free(t);
}

/* Base64 lines are 76 characters, for attachments of every length modulo 57. */
static void test_mail_base64_lines(void **state)
{
	(void)state;
	static unsigned char gz[400];
	for (size_t i = 0; i < sizeof(gz); i++)
		gz[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 1; n <= 3 * 57 + 3; n++) {
		struct sample s;
		sample_init(&s);
		s.m.gz = gz;
		s.m.gzlen = n;
		size_t len;
		char *t = mail_text(&s.m, &len);
		check_lines(t, len, 78, NULL);
		const char *b64 = strstr(strstr(t, "application/tlsrpt+gzip"), "\r\n\r\n") + 4;
		const char *end = strstr(b64, "\r\n\r\n--");
		size_t lines = 0;
		for (const char *l = b64; l < end; lines++) {
			const char *e = strstr(l, "\r\n");
			size_t chars = (size_t)(e - l);
			if (chars == 0 || chars > 76 || (e < end && chars != 76))
				fail_msg("n %zu line %zu: %zu characters, want 76 (the last 1 to 76)", n,
				    lines, chars);
			l = e + 2;
		}
		unsigned char back[400];
		size_t got = unbase64(b64, (size_t)(end - b64), back, sizeof(back));
		if (got != n || memcmp(back, gz, n) != 0)
			fail_msg("n %zu: decoded %zu octets, want the %zu given", n, got, n);
		if (lines != (n + 56) / 57)
			fail_msg("n %zu: %zu lines, want %zu", n, lines, (n + 56) / 57);
		free(t);
	}
}

/* Long domains: header fields fold, a long file name becomes RFC 2231 continuations. */
static void test_mail_long_names(void **state)
{
	(void)state;
	char sub[254], dom[254];
	memset(sub, 'a', sizeof(sub));
	/* Four labels of 63 and 62 octets: a 253-octet name. */
	for (int i = 0; i < 3; i++)
		sub[i * 64 + 63] = '.';
	sub[253] = '\0';
	snprintf(dom, sizeof(dom), "policy-%.*s.example", 40, sub);
	struct sample s;
	sample_init(&s);
	s.m.submitter = sub;
	s.m.policy_domain = dom;
	s.m.message_id = NULL;
	s.m.unique_id = "0123456789";
	size_t len;
	char *t = mail_text(&s.m, &len);
	/* Only a line holding a word longer than a line may pass 78: the 253-octet name. */
	check_lines(t, len, 78, sub);
	char want[1024];
	snprintf(want, sizeof(want), "Report Domain: %s Submitter: %s Report-ID: <735ff.e317+bf22029@%s>",
	    dom, sub, sub);
	expect_header(t, "Subject", want);
	const char *p2 = strstr(t, "application/tlsrpt+gzip");
	const char *cd = header_value(p2, "Content-Disposition");
	assert_non_null(cd);
	/* Join the continuations back: filename*0="..."; filename*1="..." ... */
	char joined[TLSRPT_MAIL_FILENAME_MAX] = "";
	int k = 0;
	for (const char *q = cd; (q = strstr(q, "filename*")) != NULL; k++) {
		int idx, used = 0;
		assert_int_equal(sscanf(q, "filename*%d=\"%n", &idx, &used), 1);
		assert_int_equal(idx, k);
		const char *e = strchr(q + used, '"');
		strncat(joined, q + used, (size_t)(e - q - used));
		q = e;
	}
	assert_true(k >= 2);
	char fname[TLSRPT_MAIL_FILENAME_MAX];
	assert_int_equal(tlsrpt_mail_filename(sub, dom, s.m.begin, s.m.end, "0123456789", true, fname,
	    sizeof(fname)), TLSRPT_MAIL_OK);
	assert_string_equal(joined, fname);
	free(t);
}

struct fname_row {
	const char *sub, *dom;
	int64_t begin, end;
	const char *uid;
	bool gz;
	enum tlsrpt_mail_status want;
	const char *name;
};

static void test_mail_filename(void **state)
{
	(void)state;
	static const struct fname_row rows[] = {
		{ "mail.sender.example.com", "example.com", 1470013207, 1470186007, NULL, true,
		  TLSRPT_MAIL_OK, "mail.sender.example.com!example.com!1470013207!1470186007.json.gz" },
		{ "mail.sender.example.com", "example.com", 1470013207, 1470186007, "001", true,
		  TLSRPT_MAIL_OK, "mail.sender.example.com!example.com!1470013207!1470186007!001.json.gz" },
		{ "a.test", "b.test", 0, 0, "", false, TLSRPT_MAIL_OK, "a.test!b.test!0!0.json" },
		{ "a.test", "b.test", 5, 4, NULL, true, TLSRPT_MAIL_INVALID, "" },
		{ "a.test", "b.test", -1, 4, NULL, true, TLSRPT_MAIL_INVALID, "" },
		{ "a.test", "b.test", 0, INT64_C(253402300800), NULL, true, TLSRPT_MAIL_INVALID, "" },
		{ "a.test", "b.test", 0, 1, "0-1", true, TLSRPT_MAIL_INVALID, "" },
		{ "a.test", "b.test", 0, 1, "01234567890123456789012345678901234567890123456789012345678901234",
		  true, TLSRPT_MAIL_INVALID, "" },
		{ "a!b.test", "b.test", 0, 1, NULL, true, TLSRPT_MAIL_INVALID, "" },
		{ "a.test", "b.test.", 0, 1, NULL, true, TLSRPT_MAIL_INVALID, "" },
		{ "a.test", "", 0, 1, NULL, true, TLSRPT_MAIL_INVALID, "" },
		{ NULL, "b.test", 0, 1, NULL, true, TLSRPT_MAIL_INVALID, "" },
		{ "a.test", "b/../c", 0, 1, NULL, true, TLSRPT_MAIL_INVALID, "" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct fname_row *r = &rows[i];
		char out[TLSRPT_MAIL_FILENAME_MAX];
		memset(out, 'x', sizeof(out));
		enum tlsrpt_mail_status got = tlsrpt_mail_filename(r->sub, r->dom, r->begin, r->end,
		    r->uid, r->gz, out, sizeof(out));
		if (got != r->want || strcmp(out, r->name) != 0)
			fail_msg("row %zu: got %s \"%s\", want %s \"%s\"", i, tlsrpt_mail_status_name(got),
			    out, tlsrpt_mail_status_name(r->want), r->name);
	}
	char small[10];
	assert_int_equal(tlsrpt_mail_filename("a.test", "b.test", 0, 1, NULL, true, small,
	    sizeof(small)), TLSRPT_MAIL_TOO_BIG);
	assert_string_equal(small, "");
}

struct msgid_row {
	const char *report_id, *submitter;
	enum tlsrpt_mail_status want;
	const char *msgid;
};

static void test_mail_message_id(void **state)
{
	(void)state;
	static const struct msgid_row rows[] = {
		{ "5065427c-23d3-47ca-b6e0-946ea0e8c4be", "x.example", TLSRPT_MAIL_OK,
		  "<5065427c-23d3-47ca-b6e0-946ea0e8c4be@x.example>" },
		{ "2024-01-01T00:00:00Z_example.com", "x.example", TLSRPT_MAIL_OK,
		  "<2024-01-01T00.00.00Z_example.com@x.example>" },
		{ "a@b", "x.example", TLSRPT_MAIL_OK, "<a.b@x.example>" },
		{ "..a  b..", "x.example", TLSRPT_MAIL_OK, "<a.b@x.example>" },
		{ "<id>", "x.example", TLSRPT_MAIL_OK, "<id@x.example>" },
		{ "caf\xc3\xa9\r\n", "x.example", TLSRPT_MAIL_OK, "<caf@x.example>" },
		{ "", "x.example", TLSRPT_MAIL_OK, "<tlsrpt@x.example>" },
		{ NULL, "x.example", TLSRPT_MAIL_OK, "<tlsrpt@x.example>" },
		{ " @ ", "x.example", TLSRPT_MAIL_OK, "<tlsrpt@x.example>" },
		{ "id", "x.example\r\nBcc: a@b", TLSRPT_MAIL_INVALID, "" },
		{ "id", "", TLSRPT_MAIL_INVALID, "" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[TLSRPT_MAIL_MSGID_MAX];
		enum tlsrpt_mail_status got = tlsrpt_mail_message_id(rows[i].report_id,
		    rows[i].submitter, out, sizeof(out));
		if (got != rows[i].want || strcmp(out, rows[i].msgid) != 0)
			fail_msg("row %zu: got %s \"%s\", want %s \"%s\"", i, tlsrpt_mail_status_name(got),
			    out, tlsrpt_mail_status_name(rows[i].want), rows[i].msgid);
	}
	/* The left part is cut at 128 octets. */
	char id[300], out[TLSRPT_MAIL_MSGID_MAX];
	memset(id, 'i', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	assert_int_equal(tlsrpt_mail_message_id(id, "x.example", out, sizeof(out)), TLSRPT_MAIL_OK);
	assert_int_equal(strlen(out), 1 + 128 + strlen("@x.example>"));
	assert_int_equal(tlsrpt_mail_message_id(id, "x.example", out, 20), TLSRPT_MAIL_TOO_BIG);
	assert_string_equal(out, "");
}

/* Without a Message-ID one is made from the report id, and the Subject carries it. */
static void test_mail_made_message_id(void **state)
{
	(void)state;
	struct sample s;
	sample_init(&s);
	s.m.message_id = "";
	s.m.report_id = "2016-04-01T00:00:00Z!x";
	size_t len;
	char *t = mail_text(&s.m, &len);
	expect_header(t, "Message-ID", "<2016-04-01T00.00.00Z!x@mail.sender.example.com>");
	assert_non_null(strstr(header_value(t, "Subject"),
	    "Report-ID: <2016-04-01T00.00.00Z!x@mail.sender.example.com>"));
	free(t);
}

struct invalid_row {
	const char *name;
	void (*spoil)(struct tlsrpt_mail *m);
	const char *why;
};

static void spoil_from_crlf(struct tlsrpt_mail *m) { m->from = "a@b.example\r\nBcc: x@y.example"; }
static void spoil_from_none(struct tlsrpt_mail *m) { m->from = NULL; }
static void spoil_from_at(struct tlsrpt_mail *m) { m->from = "postmaster"; }
static void spoil_to_lf(struct tlsrpt_mail *m) { m->to = "a@b.example\nX: y"; }
static void spoil_to_utf8(struct tlsrpt_mail *m) { m->to = "caf\xc3\xa9@b.example"; }
static void spoil_submitter(struct tlsrpt_mail *m) { m->submitter = "mail sender"; }
static void spoil_domain(struct tlsrpt_mail *m) { m->policy_domain = "example.net\r\n"; }
static void spoil_msgid(struct tlsrpt_mail *m) { m->message_id = "<a b@c>"; }
static void spoil_msgid_at(struct tlsrpt_mail *m) { m->message_id = "<abc>"; }
static void spoil_msgid_crlf(struct tlsrpt_mail *m) { m->message_id = "<a@b>\r\nX: y"; }
static void spoil_date(struct tlsrpt_mail *m) { m->date = -5; }
static void spoil_range(struct tlsrpt_mail *m) { m->end = m->begin - 1; }
static void spoil_uid(struct tlsrpt_mail *m) { m->unique_id = "a!b"; }
static void spoil_gz(struct tlsrpt_mail *m) { m->gzlen = 0; }
static void spoil_gz_null(struct tlsrpt_mail *m) { m->gz = NULL; }

static void test_mail_invalid(void **state)
{
	(void)state;
	static const struct invalid_row rows[] = {
		{ "CRLF in from", spoil_from_crlf, "from" }, { "no from", spoil_from_none, "from" },
		{ "from without @", spoil_from_at, "from" }, { "LF in to", spoil_to_lf, "to" },
		{ "UTF-8 in to", spoil_to_utf8, "to" }, { "space in submitter", spoil_submitter, "submitter" },
		{ "CRLF in policy domain", spoil_domain, "policy domain" },
		{ "space in msgid", spoil_msgid, "message id" }, { "msgid without @", spoil_msgid_at, "message id" },
		{ "CRLF in msgid", spoil_msgid_crlf, "message id" }, { "negative date", spoil_date, "date" },
		{ "end before begin", spoil_range, "range" }, { "bad unique id", spoil_uid, "unique id" },
		{ "empty report", spoil_gz, "no compressed" }, { "NULL report", spoil_gz_null, "no compressed" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sample s;
		sample_init(&s);
		rows[i].spoil(&s.m);
		char out[4096], why[128];
		size_t len = 3;
		out[0] = 'x';
		enum tlsrpt_mail_status st = tlsrpt_mail_write(&s.m, out, sizeof(out), &len, why,
		    sizeof(why));
		if (st != TLSRPT_MAIL_INVALID || strstr(why, rows[i].why) == NULL)
			fail_msg("%s: got %s \"%s\", want invalid with \"%s\"", rows[i].name,
			    tlsrpt_mail_status_name(st), why, rows[i].why);
		if (len != 0 || out[0] != '\0')
			fail_msg("%s: something was written", rows[i].name);
	}
	assert_string_equal(tlsrpt_mail_status_name((enum tlsrpt_mail_status)9), "unknown");
}

/* The measuring contract: a buffer one octet short gets "" and TOO_BIG. */
static void test_mail_too_big(void **state)
{
	(void)state;
	struct sample s;
	sample_init(&s);
	size_t len, len2;
	char *t = mail_text(&s.m, &len);
	char *buf = malloc(len + 1);
	assert_non_null(buf);
	memset(buf, 'x', len + 1);
	assert_int_equal(tlsrpt_mail_write(&s.m, buf, len, &len2, NULL, 0), TLSRPT_MAIL_TOO_BIG);
	assert_int_equal(len2, len);
	assert_string_equal(buf, "");
	assert_int_equal(tlsrpt_mail_write(&s.m, buf, len + 1, &len2, NULL, 0), TLSRPT_MAIL_OK);
	assert_string_equal(buf, t);
	free(buf);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail_structure),
		cmocka_unit_test(test_mail_base64_lines),
		cmocka_unit_test(test_mail_long_names),
		cmocka_unit_test(test_mail_filename),
		cmocka_unit_test(test_mail_message_id),
		cmocka_unit_test(test_mail_made_message_id),
		cmocka_unit_test(test_mail_invalid),
		cmocka_unit_test(test_mail_too_big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
