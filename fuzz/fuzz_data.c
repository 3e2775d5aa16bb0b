/*
 * fuzz_data: the DATA codec. The decoder must give the same result however
 * the input is split; the encoder followed by the decoder must give back
 * the canonical text (every line end CRLF, a CRLF at the end, long lines
 * broken) and stop
 * exactly at the end of what the encoder wrote.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_dec {
	enum smtp_data_dec_status st;
	size_t consumed, produced;
	struct smtp_data_dec d;
};

/* Decode in[0..n) in pieces whose sizes come from the seed; out holds n. */
static void fuzz_decode(const char *in, size_t n, uint32_t seed, char *out, struct fuzz_dec *r)
{
	memset(r, 0, sizeof(*r));
	smtp_data_dec_init(&r->d);
	r->st = SMTP_DATA_DEC_MORE;
	size_t pos = 0;
	while (pos < n || pos == 0) {
		size_t piece = seed == 0 ? n - pos : 1 + (seed % 7);
		seed = seed * 1103515245u + 12345u;
		if (piece > n - pos)
			piece = n - pos;
		size_t c = 0, p = 0;
		r->st = smtp_data_dec_feed(&r->d, in + pos, piece, out + r->produced, &c, &p);
		if (c > piece || p > piece)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t seed;
	memcpy(&seed, data, 4);
	const char *in = (const char *)data + 4;
	size_t n = size - 4;

	char *o1 = malloc(n + 1), *o2 = malloc(n + 1);
	struct fuzz_dec a, b;
	fuzz_decode(in, n, 0, o1, &a);
	fuzz_decode(in, n, seed | 1, o2, &b);
	if (a.st != b.st || a.consumed != b.consumed || a.produced != b.produced ||
	    memcmp(o1, o2, a.produced) != 0 || a.d.received_count != b.d.received_count ||
	    a.d.any_8bit != b.d.any_8bit || a.d.line_too_long != b.d.line_too_long)
		abort();
	if (a.st == SMTP_DATA_DEC_END &&
	    (a.consumed < 3 || memcmp(in + a.consumed - 3, ".\r\n", 3) != 0))
		abort();
	free(o1);
	free(o2);

	/* Encode in two pieces split where the seed says, then decode. */
	size_t cap = smtp_data_enc_bound(n) + 5;
	char *wire = malloc(cap), *back = malloc(cap), *canon = malloc(3 * n + 2);
	struct smtp_data_enc e;
	smtp_data_enc_init(&e);
	size_t cut = n > 0 ? seed % (n + 1) : 0;
	size_t w = smtp_data_enc_feed(&e, in, cut, wire);
	w += smtp_data_enc_feed(&e, in + cut, n - cut, wire + w);
	w += smtp_data_enc_finish(&e, wire + w);
	if (w > cap)
		abort();
	struct smtp_data_dec d;
	smtp_data_dec_init(&d);
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
