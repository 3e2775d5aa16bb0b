/*
 * fuzz_data: the DATA codec. The decoder must give the same result however
 * the input is split, in both bare_newline modes; normalize must never
 * refuse, never write a bare CR or LF, and agree with reject wherever
 * reject accepts. The BDAT line-end codec likewise. The encoder followed
 * by the decoder must give back the canonical text (every line end CRLF,
 * a CRLF at the end, long lines broken) and stop exactly at the end of
 * what the encoder wrote.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"
#include "smtp/smtp_hdrscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_dec {
	enum smtp_data_dec_status st;
	size_t consumed, produced;
	struct smtp_data_dec d;
};

/* Decode in[0..n) in pieces whose sizes come from the seed; out holds smtp_data_dec_bound(n). */
static void fuzz_decode(const char *in, size_t n, uint32_t seed, enum smtp_data_newline newline,
    char *out, struct fuzz_dec *r)
{
	memset(r, 0, sizeof(*r));
	smtp_data_dec_init(&r->d, newline);
	r->st = SMTP_DATA_DEC_MORE;
	size_t pos = 0;
	while (pos < n || pos == 0) {
		size_t piece = seed == 0 ? n - pos : 1 + (seed % 7);
		seed = seed * 1103515245u + 12345u;
		if (piece > n - pos)
			piece = n - pos;
		size_t c = 0, p = 0;
		r->st = smtp_data_dec_feed(&r->d, in + pos, piece, out + r->produced, &c, &p);
		if (c > piece || p > smtp_data_dec_bound(piece) ||
		    r->produced + p > smtp_data_dec_bound(n))
			abort();
		r->consumed += c;
		r->produced += p;
		if (r->st != SMTP_DATA_DEC_MORE || n == 0)
			return;
		if (c != piece)
			abort();
		pos += piece;
	}
}

/*
 * The canonical form of message text as it arrives after the trip: CRLF
 * line ends, and a line that reaches SMTP_DATA_FOLD_AT octets (a stuffed
 * dot not counted, RFC 5321 4.5.3.1.6) broken with CRLF SPACE.
 * out holds 3 * n + 2.
 */
static size_t fuzz_canon(const char *in, size_t n, char *out)
{
	size_t o = 0, line_len = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
			out[o++] = '\r';
			out[o++] = '\n';
			line_len = 0;
			continue;
		}
		if (line_len >= SMTP_DATA_FOLD_AT) {
			out[o++] = '\r';
			out[o++] = '\n';
			out[o++] = ' ';
			line_len = 1;
		}
		line_len++;
		out[o++] = in[i];
	}
	if (o > 0 && out[o - 1] != '\n') {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

/* Whether every CR in p[0..n) is followed by LF and every LF follows a CR. */
static bool fuzz_crlf_only(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

/* The two decoders over one input, whole and in pieces. */
static void fuzz_decoders(const char *in, size_t n, uint32_t seed)
{
	size_t room = smtp_data_dec_bound(n);
	char *o1 = malloc(room), *o2 = malloc(room), *on = malloc(room);
	struct fuzz_dec a, b, nm, nm2;
	fuzz_decode(in, n, 0, SMTP_DATA_NL_REJECT, o1, &a);
	fuzz_decode(in, n, seed | 1, SMTP_DATA_NL_REJECT, o2, &b);
	if (a.st != b.st || a.consumed != b.consumed || a.produced != b.produced ||
	    memcmp(o1, o2, a.produced) != 0 ||
	    a.d.any_8bit != b.d.any_8bit || a.d.line_too_long != b.d.line_too_long)
		abort();
	if (a.st == SMTP_DATA_DEC_END &&
	    (a.consumed < 3 || memcmp(in + a.consumed - 3, ".\r\n", 3) != 0))
		abort();
	fuzz_decode(in, n, 0, SMTP_DATA_NL_NORMALIZE, on, &nm);
	fuzz_decode(in, n, seed | 1, SMTP_DATA_NL_NORMALIZE, o2, &nm2);
	if (nm.st == SMTP_DATA_DEC_BARE_NL || nm.st != nm2.st || nm.consumed != nm2.consumed ||
	    nm.produced != nm2.produced || memcmp(on, o2, nm.produced) != 0 ||
	    nm.d.any_8bit != nm2.d.any_8bit ||
	    nm.d.line_too_long != nm2.d.line_too_long)
		abort();
	/* Only CRLF "." CRLF ends it, or "." CRLF as the very first line. */
	if (nm.st == SMTP_DATA_DEC_END &&
	    (nm.consumed < 5 ? nm.consumed != 3 || memcmp(in, ".\r\n", 3) != 0 :
	    memcmp(in + nm.consumed - 5, "\r\n.\r\n", 5) != 0))
		abort();
	if (nm.st == SMTP_DATA_DEC_END && !fuzz_crlf_only(on, nm.produced))
		abort();
	/* The header scanner reads the decoded text the same in any pieces. */
	struct smtp_hdrscan h1, h2;
	smtp_hdrscan_init(&h1);
	smtp_hdrscan_init(&h2);
	smtp_hdrscan_feed(&h1, on, nm.produced);
	size_t cut = nm.produced > 0 ? seed % nm.produced : 0;
	smtp_hdrscan_feed(&h2, on, cut);
	smtp_hdrscan_feed(&h2, on + cut, nm.produced - cut);
	const char *m1 = smtp_hdrscan_msgid(&h1), *m2 = smtp_hdrscan_msgid(&h2);
	if (h1.received != h2.received || (m1 == NULL) != (m2 == NULL) ||
	    (m1 != NULL && (strcmp(m1, m2) != 0 || strlen(m1) > SMTP_HDRSCAN_MSGID_MAX)))
		abort();
	/* Where reject ends the data, no bare line end came before: both agree. */
	if (a.st == SMTP_DATA_DEC_END &&
	    (nm.st != a.st || nm.consumed != a.consumed || nm.produced != a.produced ||
	    memcmp(on, o1, a.produced) != 0))
		abort();
	free(o1);
	free(o2);
	free(on);
}

/* The BDAT line-end codec: normalize gives CRLF only; reject refuses exactly the bare ones. */
static void fuzz_lines(const char *in, size_t n, uint32_t seed)
{
	char *out = malloc(smtp_data_dec_bound(n) + 1);
	size_t cut = n > 0 ? seed % (n + 1) : 0, o = 0, p = 0;
	struct smtp_data_lines l;
	smtp_data_lines_init(&l, SMTP_DATA_NL_NORMALIZE);
	if (!smtp_data_lines_feed(&l, in, cut, out, &p))
		abort();
	o += p;
	if (!smtp_data_lines_feed(&l, in + cut, n - cut, out + o, &p))
		abort();
	o += p;
	if (!smtp_data_lines_finish(&l, out + o, &p))
		abort();
	o += p;
	if (o > smtp_data_dec_bound(n) || !fuzz_crlf_only(out, o))
		abort();
	smtp_data_lines_init(&l, SMTP_DATA_NL_REJECT);
	bool ok = smtp_data_lines_feed(&l, in, n, out, &p) && smtp_data_lines_finish(&l, out + p, &o);
	if (ok != fuzz_crlf_only(in, n))
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t seed;
	memcpy(&seed, data, 4);
	const char *in = (const char *)data + 4;
	size_t n = size - 4;

	fuzz_decoders(in, n, seed);
	fuzz_lines(in, n, seed);

	/* Encode in two pieces split where the seed says, then decode. */
	size_t cap = smtp_data_enc_bound(n) + 5;
	char *wire = malloc(cap), *back = malloc(smtp_data_dec_bound(cap)), *canon = malloc(3 * n + 2);
	struct smtp_data_enc e;
	smtp_data_enc_init(&e);
	size_t cut = n > 0 ? seed % (n + 1) : 0;
	size_t w = smtp_data_enc_feed(&e, in, cut, wire);
	w += smtp_data_enc_feed(&e, in + cut, n - cut, wire + w);
	w += smtp_data_enc_finish(&e, wire + w);
	if (w > cap)
		abort();
	struct smtp_data_dec d;
	smtp_data_dec_init(&d, seed & 2 ? SMTP_DATA_NL_NORMALIZE : SMTP_DATA_NL_REJECT);
	size_t c = 0, p = 0;
	if (smtp_data_dec_feed(&d, wire, w, back, &c, &p) != SMTP_DATA_DEC_END || c != w)
		abort();
	size_t cn = fuzz_canon(in, n, canon);
	if (p != cn || memcmp(back, canon, cn) != 0)
		abort();
	if (e.any_8bit != d.any_8bit)
		abort();
	free(wire);
	free(back);
	free(canon);
	return 0;
}
