/*
 * test_smtp_data: the DATA codec. Each decoder row is run in one piece,
 * split in two at every position, and one octet at a time; all must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_data.h"
#include "smtp/smtp_hdrscan.h"

struct dec_row {
	const char *in;
	enum smtp_data_dec_status want;
	const char *out;	/* message text produced (checked for END only) */
	size_t consumed;	/* for END and BARE_NL; 0: the whole input */
	unsigned received;
	bool any_8bit;
};

static const struct dec_row dec_rows[] = {
	{ ".\r\n", SMTP_DATA_DEC_END, "", 3, 0, false },
	{ ".\r\nQUIT\r\n", SMTP_DATA_DEC_END, "", 3, 0, false },
	{ "a\r\n.\r\n", SMTP_DATA_DEC_END, "a\r\n", 6, 0, false },
	{ "a\r\n.\r\nRSET\r\nQUIT\r\n", SMTP_DATA_DEC_END, "a\r\n", 6, 0, false },
	{ "\r\n.\r\n", SMTP_DATA_DEC_END, "\r\n", 5, 0, false },
	{ "..a\r\n.\r\n", SMTP_DATA_DEC_END, ".a\r\n", 8, 0, false },
	{ "...\r\n.\r\n", SMTP_DATA_DEC_END, "..\r\n", 8, 0, false },
	{ "..\r\n.\r\n", SMTP_DATA_DEC_END, ".\r\n", 7, 0, false },
	{ "a.\r\n.\r\n", SMTP_DATA_DEC_END, "a.\r\n", 7, 0, false },
	{ ".a\r\n.\r\n", SMTP_DATA_DEC_END, "a\r\n", 7, 0, false },
	{ "a\r\n. \r\n.\r\n", SMTP_DATA_DEC_END, "a\r\n \r\n", 10, 0, false },
	{ "Received: x\r\nreceived: y\r\nRECEIVED:z\r\nSubject: s\r\n\r\nReceived: body\r\n.\r\n",
	  SMTP_DATA_DEC_END,
	  "Received: x\r\nreceived: y\r\nRECEIVED:z\r\nSubject: s\r\n\r\nReceived: body\r\n",
	  0, 3, false },
	{ "Received x\r\nX-Received: y\r\n Received: folded\r\nReceivedX:\r\n.\r\n",
	  SMTP_DATA_DEC_END, "Received x\r\nX-Received: y\r\n Received: folded\r\nReceivedX:\r\n",
	  0, 0, false },
	{ "..Received: stuffed\r\n.\r\n", SMTP_DATA_DEC_END, ".Received: stuffed\r\n", 24, 0,
	  false },
	{ ".Received: dot\r\n.\r\n", SMTP_DATA_DEC_END, "Received: dot\r\n", 19, 1, false },
	{ "caf\xc3\xa9\r\n.\r\n", SMTP_DATA_DEC_END, "caf\xc3\xa9\r\n", 10, 0, true },
	/* Not the end. */
	{ "a\r\n", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	{ "a\r\n.", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	{ "a\r\n.\r", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	{ "", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	/* Bare line ends: smuggling attempts and sloppy clients. */
	{ "a\n.\n", SMTP_DATA_DEC_BARE_NL, NULL, 2, 0, false },
	{ "a\r\n.\n", SMTP_DATA_DEC_BARE_NL, NULL, 5, 0, false },
	{ "a\n.\r\n", SMTP_DATA_DEC_BARE_NL, NULL, 2, 0, false },
	{ "a\r.\r\n", SMTP_DATA_DEC_BARE_NL, NULL, 3, 0, false },
	{ "a\r\n.\r.\r\n", SMTP_DATA_DEC_BARE_NL, NULL, 6, 0, false },
	{ "\n", SMTP_DATA_DEC_BARE_NL, NULL, 1, 0, false },
	{ ".\n", SMTP_DATA_DEC_BARE_NL, NULL, 2, 0, false },
	{ "\r\r\n", SMTP_DATA_DEC_BARE_NL, NULL, 2, 0, false },
	{ "ab\rc", SMTP_DATA_DEC_BARE_NL, NULL, 4, 0, false },
};

/* bare_newline = normalize: bare line ends become CRLF; only CRLF.CRLF ends. */
static const struct dec_row dec_normalize_rows[] = {
	/* The four smuggling forms: one message, the rest of it text. */
	{ "a\n.\nMAIL FROM:<e@b.test>\r\n.\r\n", SMTP_DATA_DEC_END,
	  "a\r\n.\r\nMAIL FROM:<e@b.test>\r\n", 0, 0, false },
	{ "a\r\n.\nRCPT TO:<e@b.test>\r\n.\r\n", SMTP_DATA_DEC_END,
	  "a\r\n.\r\nRCPT TO:<e@b.test>\r\n", 0, 0, false },
	{ "a\n.\r\nDATA\r\n.\r\n", SMTP_DATA_DEC_END, "a\r\n.\r\nDATA\r\n", 0, 0, false },
	{ "a\r.\r\nQUIT\r\n.\r\n", SMTP_DATA_DEC_END, "a\r\n.\r\nQUIT\r\n", 0, 0, false },
	/* A "." line ended by a bare CR, then one reached through it. */
	{ "a\r\n.\r.\r\n.\r\n", SMTP_DATA_DEC_END, "a\r\n.\r\n.\r\n", 0, 0, false },
	{ "\n.\n\r\n.\r\n", SMTP_DATA_DEC_END, "\r\n.\r\n\r\n", 0, 0, false },
	{ "\n..\n.\r\n", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	/* Stuffing is removed whatever ended the line before. */
	{ "..x\n..\nb\r\n.\r\n", SMTP_DATA_DEC_END, ".x\r\n.\r\nb\r\n", 0, 0, false },
	{ "a\nb\r\n.\r\nQUIT\r\n", SMTP_DATA_DEC_END, "a\r\nb\r\n", 8, 0, false },
	{ "\r\r\n.\r\n", SMTP_DATA_DEC_END, "\r\n\r\n", 0, 0, false },
	{ "ab\rc\r\n.\r\n", SMTP_DATA_DEC_END, "ab\r\nc\r\n", 0, 0, false },
	{ "a\r\r\r\n.\r\n", SMTP_DATA_DEC_END, "a\r\n\r\n\r\n", 0, 0, false },
	{ ".\r\n", SMTP_DATA_DEC_END, "", 3, 0, false },
	/* The header ends at an empty line however it ends. */
	{ "Received: x\nSubject: s\n\nReceived: body\n.\r\n\r\n.\r\n", SMTP_DATA_DEC_END,
	  "Received: x\r\nSubject: s\r\n\r\nReceived: body\r\n.\r\n\r\n", 0, 1, false },
	{ "Subject: s\r\r\nReceived: x\r\n.\r\n", SMTP_DATA_DEC_END,
	  "Subject: s\r\n\r\nReceived: x\r\n", 0, 0, false },
	{ "caf\xc3\xa9\n.\r\n\r\n.\r\n", SMTP_DATA_DEC_END, "caf\xc3\xa9\r\n.\r\n\r\n", 0, 0,
	  true },
	/* Not the end. */
	{ "\n", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	{ ".\n", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	{ "a\n.\n", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	{ "a\r", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
	{ ".\r.\r\n", SMTP_DATA_DEC_MORE, NULL, 0, 0, false },
};

static const char *dec_name(enum smtp_data_dec_status s)
{
	return s == SMTP_DATA_DEC_MORE ? "MORE" : s == SMTP_DATA_DEC_END ? "END" : "BARE_NL";
}

struct dec_result {
	enum smtp_data_dec_status st;
	size_t consumed;	/* total input taken */
	size_t produced;
	char out[512];
	struct smtp_data_dec d;
};

/* Decode in[0..n) fed in pieces that end at each cut (sorted, < n). */
static void dec_run(const char *in, size_t n, const size_t *cuts, size_t ncuts,
    enum smtp_data_newline newline, struct dec_result *res)
{
	memset(res, 0, sizeof(*res));
	smtp_data_dec_init(&res->d, newline);
	size_t pos = 0;
	res->st = SMTP_DATA_DEC_MORE;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : n;
		size_t c = 0, p = 0;
		size_t room = smtp_data_dec_bound(end - pos);
		char *tmp = malloc(room);	/* only the room the bound asks for */
		assert_non_null(tmp);
		res->st = smtp_data_dec_feed(&res->d, in + pos, end - pos, tmp, &c, &p);
		assert_true(c <= end - pos);
		assert_true(p <= room);
		assert_true(res->produced + p <= sizeof(res->out));
		memcpy(res->out + res->produced, tmp, p);
		free(tmp);
		res->produced += p;
		res->consumed += c;
		if (res->st != SMTP_DATA_DEC_MORE)
			return;
		assert_int_equal(c, end - pos);
		pos = end;
	}
}

/* Compare a split run with the one-shot result. */
static void dec_same(const char *what, size_t row, const struct dec_result *a,
    const struct dec_result *b)
{
	if (a->st != b->st || a->consumed != b->consumed ||
	    a->produced != b->produced || memcmp(a->out, b->out, a->produced) != 0 ||
	    a->d.any_8bit != b->d.any_8bit ||
	    a->d.line_too_long != b->d.line_too_long)
		fail_msg("row %zu %s: got %s consumed %zu produced %zu, want %s %zu %zu",
		    row, what, dec_name(a->st), a->consumed, a->produced, dec_name(b->st),
		    b->consumed, b->produced);
}

/* Run each row whole, split in two everywhere and octet by octet. */
static void dec_check_rows(const struct dec_row *rows, size_t nrows,
    enum smtp_data_newline newline)
{
	for (size_t i = 0; i < nrows; i++) {
		const struct dec_row *row = &rows[i];
		size_t n = strlen(row->in);
		struct dec_result one;
		dec_run(row->in, n, NULL, 0, newline, &one);
		if (one.st != row->want)
			fail_msg("row %zu: got %s, want %s", i, dec_name(one.st), dec_name(row->want));
		size_t want_consumed = row->consumed ? row->consumed : n;
		if (row->want != SMTP_DATA_DEC_MORE && one.consumed != want_consumed)
			fail_msg("row %zu: consumed got %zu, want %zu", i, one.consumed, want_consumed);
		if (row->want == SMTP_DATA_DEC_END) {
			if (one.produced != strlen(row->out) ||
			    memcmp(one.out, row->out, one.produced) != 0)
				fail_msg("row %zu: out got \"%.*s\", want \"%s\"", i,
				    (int)one.produced, one.out, row->out);
			/* The hop count is read from the decoded text, as the server does. */
			struct smtp_hdrscan h;
			smtp_hdrscan_init(&h);
			smtp_hdrscan_feed(&h, one.out, one.produced);
			if (h.received != row->received)
				fail_msg("row %zu: received got %u, want %u", i, h.received,
				    row->received);
			if (one.d.any_8bit != row->any_8bit)
				fail_msg("row %zu: any_8bit got %d, want %d", i, one.d.any_8bit,
				    row->any_8bit);
		}
		for (size_t cut = 1; cut < n; cut++) {
			struct dec_result two;
			dec_run(row->in, n, &cut, 1, newline, &two);
			dec_same("split in two", i, &two, &one);
		}
		size_t cuts[128];
		assert_true(n <= 128);
		for (size_t k = 1; k < n; k++)
			cuts[k - 1] = k;
		struct dec_result bytes;
		dec_run(row->in, n, cuts, n > 0 ? n - 1 : 0, newline, &bytes);
		dec_same("octet by octet", i, &bytes, &one);
	}
}

static void test_data_dec_rows(void **state)
{
	(void)state;
	dec_check_rows(dec_rows, sizeof(dec_rows) / sizeof(dec_rows[0]), SMTP_DATA_NL_REJECT);
}

static void test_data_dec_normalize_rows(void **state)
{
	(void)state;
	dec_check_rows(dec_normalize_rows, sizeof(dec_normalize_rows) / sizeof(dec_normalize_rows[0]),
	    SMTP_DATA_NL_NORMALIZE);
}

struct lines_row {
	const char *in;
	enum smtp_data_newline newline;
	const char *out;	/* after finish; NULL: refused */
};

/* BDAT text: no stuffing, no end, line ends as in DATA. */
static const struct lines_row lines_rows[] = {
	{ "a\r\nb\r\n", SMTP_DATA_NL_NORMALIZE, "a\r\nb\r\n" },
	{ "a\nb\n", SMTP_DATA_NL_NORMALIZE, "a\r\nb\r\n" },
	{ "a\n.\nMAIL FROM:<e@b.test>\n", SMTP_DATA_NL_NORMALIZE, "a\r\n.\r\nMAIL FROM:<e@b.test>\r\n" },
	{ "a\rb\r", SMTP_DATA_NL_NORMALIZE, "a\r\nb\r\n" },
	{ "\r\r\n\n", SMTP_DATA_NL_NORMALIZE, "\r\n\r\n\r\n" },
	{ ".\r\n..\r\n", SMTP_DATA_NL_NORMALIZE, ".\r\n..\r\n" },
	{ "a", SMTP_DATA_NL_NORMALIZE, "a" },
	{ "a\r\nb\r\n", SMTP_DATA_NL_REJECT, "a\r\nb\r\n" },
	{ "a\nb", SMTP_DATA_NL_REJECT, NULL },
	{ "a\rb", SMTP_DATA_NL_REJECT, NULL },
	{ "a\r", SMTP_DATA_NL_REJECT, NULL },
};

static void test_data_lines_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lines_rows) / sizeof(lines_rows[0]); i++) {
		const struct lines_row *row = &lines_rows[i];
		size_t n = strlen(row->in);
		/* cut == n: one piece; else two pieces split at cut. */
		for (size_t cut = 0; cut <= n; cut++) {
			struct smtp_data_lines l;
			char out[128];
			size_t o = 0, p = 0;
			bool ok;
			smtp_data_lines_init(&l, row->newline);
			ok = smtp_data_lines_feed(&l, row->in, cut, out, &p);
			o += p;
			if (ok) {
				ok = smtp_data_lines_feed(&l, row->in + cut, n - cut, out + o, &p);
				o += p;
			}
			if (ok) {
				ok = smtp_data_lines_finish(&l, out + o, &p);
				o += p;
			}
			if (row->out == NULL && ok)
				fail_msg("lines row %zu cut %zu: got \"%.*s\", want refused", i, cut,
				    (int)o, out);
			if (row->out != NULL && (!ok || o != strlen(row->out) ||
			    memcmp(out, row->out, o) != 0))
				fail_msg("lines row %zu cut %zu: got %s \"%.*s\", want \"%s\"", i, cut,
				    ok ? "" : "refused", (int)o, out, row->out);
		}
	}
}

static void test_data_dec_after_end(void **state)
{
	(void)state;
	struct smtp_data_dec d;
	char out[16];
	size_t c, p;
	smtp_data_dec_init(&d, SMTP_DATA_NL_REJECT);
	assert_int_equal(smtp_data_dec_feed(&d, ".\r\n", 3, out, &c, &p), SMTP_DATA_DEC_END);
	assert_int_equal(smtp_data_dec_feed(&d, "x\r\n", 3, out, &c, &p), SMTP_DATA_DEC_END);
	assert_int_equal(c, 0);
	assert_int_equal(p, 0);
	smtp_data_dec_init(&d, SMTP_DATA_NL_REJECT);
	assert_int_equal(smtp_data_dec_feed(&d, "\n", 1, out, &c, &p), SMTP_DATA_DEC_BARE_NL);
	assert_int_equal(smtp_data_dec_feed(&d, ".\r\n", 3, out, &c, &p), SMTP_DATA_DEC_BARE_NL);
	assert_int_equal(c, 0);
}

struct len_row {
	size_t line;	/* octets before CRLF */
	bool too_long;
};

static const struct len_row len_rows[] = {
	{ 0, false }, { 997, false }, { 998, false }, { 999, true }, { 5000, true },
};

static void test_data_dec_line_len(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(len_rows) / sizeof(len_rows[0]); i++) {
		size_t n = len_rows[i].line + 5;
		char *in = malloc(n), *out = malloc(smtp_data_dec_bound(n));
		assert_non_null(in);
		assert_non_null(out);
		memset(in, 'x', len_rows[i].line);
		memcpy(in + len_rows[i].line, "\r\n.\r\n", 5);
		struct smtp_data_dec d;
		smtp_data_dec_init(&d, SMTP_DATA_NL_REJECT);
		size_t c, p;
		assert_int_equal(smtp_data_dec_feed(&d, in, n, out, &c, &p), SMTP_DATA_DEC_END);
		if (d.line_too_long != len_rows[i].too_long)
			fail_msg("line of %zu: too_long got %d, want %d", len_rows[i].line,
			    d.line_too_long, len_rows[i].too_long);
		free(in);
		free(out);
	}
}

struct enc_row {
	const char *in;
	const char *wire;	/* after finish */
	size_t max_line;
	bool any_8bit;
};

static const struct enc_row enc_rows[] = {
	{ "", ".\r\n", 0, false },
	{ "a", "a\r\n.\r\n", 3, false },
	{ "a\r\n", "a\r\n.\r\n", 3, false },
	{ "a\n", "a\r\n.\r\n", 3, false },
	{ "a\r", "a\r\n.\r\n", 3, false },
	{ "a\n\nb", "a\r\n\r\nb\r\n.\r\n", 3, false },
	{ "a\r\rb", "a\r\n\r\nb\r\n.\r\n", 3, false },
	{ "a\n\rb", "a\r\n\r\nb\r\n.\r\n", 3, false },
	{ "a\r\n\r\nb", "a\r\n\r\nb\r\n.\r\n", 3, false },
	{ ".", "..\r\n.\r\n", 3, false },
	{ ".\r\n", "..\r\n.\r\n", 3, false },
	{ "a\n.\nb", "a\r\n..\r\nb\r\n.\r\n", 3, false },
	{ "a\r.b", "a\r\n..b\r\n.\r\n", 4, false },
	{ "a.b\n..", "a.b\r\n...\r\n.\r\n", 5, false },
	{ "\xc3\xa9", "\xc3\xa9\r\n.\r\n", 4, true },
};

/* The canonical text: every CR, LF or CRLF a CRLF, and a CRLF at the end. */
static size_t canon(const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
			out[o++] = '\r';
			out[o++] = '\n';
		} else {
			out[o++] = in[i];
		}
	}
	if (o > 0 && out[o - 1] != '\n') {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

/* Encode in[0..n) fed in pieces ending at cut (0: one piece), then finish. */
static size_t enc_run(const char *in, size_t n, size_t cut, char *out, struct smtp_data_enc *e)
{
	smtp_data_enc_init(e);
	size_t o = 0;
	if (cut > 0) {
		o += smtp_data_enc_feed(e, in, cut, out + o);
		o += smtp_data_enc_feed(e, in + cut, n - cut, out + o);
	} else {
		o += smtp_data_enc_feed(e, in, n, out + o);
	}
	o += smtp_data_enc_finish(e, out + o);
	return o;
}

static void test_data_enc_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(enc_rows) / sizeof(enc_rows[0]); i++) {
		const struct enc_row *row = &enc_rows[i];
		size_t n = strlen(row->in);
		for (size_t cut = 0; cut < (n > 0 ? n : 1); cut++) {
			char out[128];
			struct smtp_data_enc e;
			assert_true(smtp_data_enc_bound(n) + 5 <= sizeof(out));
			size_t o = enc_run(row->in, n, cut, out, &e);
			if (o != strlen(row->wire) || memcmp(out, row->wire, o) != 0)
				fail_msg("enc row %zu cut %zu: got \"%.*s\", want \"%s\"", i, cut,
				    (int)o, out, row->wire);
			if (e.max_line != row->max_line)
				fail_msg("enc row %zu: max_line got %zu, want %zu", i, e.max_line,
				    row->max_line);
			if (e.any_8bit != row->any_8bit)
				fail_msg("enc row %zu: any_8bit got %d, want %d", i, e.any_8bit,
				    row->any_8bit);
			/* What we send, we read back as the canonical text. */
			struct smtp_data_dec d;
			smtp_data_dec_init(&d, SMTP_DATA_NL_REJECT);
			char back[512];
			size_t c, p;
			assert_int_equal(smtp_data_dec_feed(&d, out, o, back, &c, &p),
			    SMTP_DATA_DEC_END);
			assert_int_equal(c, o);
			char want[128];
			size_t wn = canon(row->in, n, want);
			if (p != wn || memcmp(back, want, p) != 0)
				fail_msg("enc row %zu: round trip got \"%.*s\", want \"%.*s\"", i,
				    (int)p, back, (int)wn, want);
		}
	}
}

static void test_data_enc_bound(void **state)
{
	(void)state;
	assert_int_equal(smtp_data_enc_bound(0), 3);
	assert_int_equal(smtp_data_enc_bound(10), 23);
	assert_int_equal(smtp_data_enc_bound(SIZE_MAX), SIZE_MAX);
	/* Every input octet a line feed or a dot after one: the bound holds. */
	const char in[] = "\n.\n.\r.\r\n.";
	char out[64];
	struct smtp_data_enc e;
	smtp_data_enc_init(&e);
	size_t o = smtp_data_enc_feed(&e, in, sizeof(in) - 1, out);
	assert_true(o <= smtp_data_enc_bound(sizeof(in) - 1));
}

/* Lines past 998 octets are broken with CRLF SPACE; no wire line passes 1000. */
static void test_data_enc_fold(void **state)
{
	(void)state;
	static const size_t lens[] = { 997, 998, 999, 1995, 1996, 5000 };
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t n = lens[k];
		char *in = malloc(n + 2), *out = malloc(smtp_data_enc_bound(n + 1) + 5);
		assert_non_null(in);
		assert_non_null(out);
		memset(in, 'x', n);
		in[0] = '.';
		in[n] = '\n';
		struct smtp_data_enc e;
		smtp_data_enc_init(&e);
		/* Fed in two pieces so a fold can fall across a call. */
		size_t o = smtp_data_enc_feed(&e, in, n / 2, out);
		o += smtp_data_enc_feed(&e, in + n / 2, n + 1 - n / 2, out + o);
		assert_true(o <= smtp_data_enc_bound(n + 1));
		size_t line = 0, longest = 0, xs = 0;
		for (size_t i = 0; i < o; i++) {
			if (out[i] == '\n') {
				if (line + 1 > longest)
					longest = line + 1;
				line = 0;
				continue;
			}
			line++;
			if (out[i] == 'x')
				xs++;
		}
		/* The first wire line carries the stuffed dot, which does not count. */
		if (longest > SMTP_DATA_LINE_MAX + 1)
			fail_msg("len %zu: got a wire line of %zu octets, want <= %d and a dot", n,
			    longest, SMTP_DATA_LINE_MAX);
		/* Every text octet arrives; the first line keeps its stuffed dot. */
		assert_int_equal(xs, n - 1);
		assert_memory_equal(out, "..", 2);
		assert_true((e.folds > 0) == (n > SMTP_DATA_FOLD_AT));
		free(in);
		free(out);
	}
}

struct limit_row {
	size_t len;		/* octets of the text line before CRLF */
	bool dot;		/* the line starts with '.' */
	size_t folds;		/* CRLF SPACE breaks wanted */
};

/* RFC 5321 4.5.3.1.6: 998 octets and CRLF, the stuffed dot not counted. */
static const struct limit_row limit_rows[] = {
	{ 997, false, 0 }, { 998, false, 0 }, { 999, false, 1 },
	{ 997, true, 0 }, { 998, true, 0 }, { 999, true, 1 },
	{ 1, true, 0 }, { 2, true, 0 },
};

/*
 * A line at the limit passes unchanged: stuffed on the wire, identical
 * after unstuffing; SIZE (text octets, RFC 1870) is what the decoder
 * gives back.
 */
static void test_data_enc_limit(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(limit_rows) / sizeof(limit_rows[0]); i++) {
		const struct limit_row *row = &limit_rows[i];
		size_t n = row->len + 2;
		char *text = malloc(n), *wire = malloc(smtp_data_enc_bound(n) + 5);
		char *back = malloc(smtp_data_dec_bound(smtp_data_enc_bound(n) + 5));
		assert_non_null(text);
		assert_non_null(wire);
		assert_non_null(back);
		memset(text, 'x', row->len);
		if (row->dot)
			text[0] = '.';
		memcpy(text + row->len, "\r\n", 2);
		struct smtp_data_enc e;
		size_t w = enc_run(text, n, 0, wire, &e);
		if (e.folds != row->folds)
			fail_msg("row %zu (%zu octets, dot %d): folds got %zu, want %zu", i, row->len,
			    row->dot, e.folds, row->folds);
		size_t want_wire = n + (row->dot ? 1 : 0) + 3 * row->folds + 3;
		if (w != want_wire)
			fail_msg("row %zu: wire octets got %zu, want %zu", i, w, want_wire);
		if (row->dot && memcmp(wire, "..", 2) != 0)
			fail_msg("row %zu: got \"%.2s\" on the wire, want the dot stuffed", i, wire);
		struct smtp_data_dec d;
		smtp_data_dec_init(&d, SMTP_DATA_NL_REJECT);
		size_t c, p;
		assert_int_equal(smtp_data_dec_feed(&d, wire, w, back, &c, &p), SMTP_DATA_DEC_END);
		if (row->folds == 0 && (p != n || memcmp(back, text, n) != 0))
			fail_msg("row %zu: got %zu octets back, want the %zu sent unchanged", i, p, n);
		if (row->folds == 0 && d.line_too_long)
			fail_msg("row %zu: decoder got line_too_long, want within the limit", i);
		/* SIZE as mxr_source_scan counts it: wire minus ".\r\n" and the stuffing. */
		if (w - 3 - e.stuffed != p)
			fail_msg("row %zu: SIZE got %zu, want %zu", i, (size_t)(w - 3 - e.stuffed), p);
		free(text);
		free(wire);
		free(back);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_dec_rows),
		cmocka_unit_test(test_data_dec_normalize_rows),
		cmocka_unit_test(test_data_lines_rows),
		cmocka_unit_test(test_data_dec_after_end),
		cmocka_unit_test(test_data_dec_line_len),
		cmocka_unit_test(test_data_enc_rows),
		cmocka_unit_test(test_data_enc_bound),
		cmocka_unit_test(test_data_enc_fold),
		cmocka_unit_test(test_data_enc_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
