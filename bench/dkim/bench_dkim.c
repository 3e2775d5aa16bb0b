/*
 * bench_dkim: lib/dkim against libopendkim on the same machine, same
 * input, same keys (docs/dkim.md has the figures and why they matter).
 *
 *   bench_dkim [--mib N] [--rounds N] [--messages N] RSAKEY ED25519KEY
 *
 * 1. Body: relaxed canonicalisation + SHA-256 of an N MiB body (default
 *    50), fed in 64 KiB pieces, two kinds: "text" (words, single spaces
 *    mostly, some double spaces, tabs, trailing blanks, empty lines) and
 *    "base64" (76-octet lines, what attachments are). MB/s, best of
 *    --rounds. Both libraries' bh= must agree, or the run fails.
 * 2. Per message: the whole signature of a 2 KiB message with 10 header
 *    fields (body hash, header hash, signature, the field text), for
 *    RSA-2048 and Ed25519, in microseconds per message.
 * 3. Parsing a PEM key, which libopendkim's API does on every message.
 *
 * Built only with -DMXR_DKIM_BENCH=ON (it links libopendkim, which
 * nothing else does). Never: part of the daemon or the tests.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include <opendkim/dkim.h>

#include "dkim/dkim_body.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_sign.h"
#include "util/file.h"
#include "util/xalloc.h"

#define BENCH_PIECE (64 * 1024)
#define BENCH_MIB (1024 * 1024)

/* A small deterministic generator (xorshift64*), so runs compare. */
struct bench_rng {
	uint64_t s;
};

static uint32_t bench_rand(struct bench_rng *r, uint32_t n)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (uint32_t)((r->s * 2685821657736338717ull) >> 32) % n;
}

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A body of about len octets of text: words, with the whitespace oddities mail has. */
static char *bench_text(size_t len, size_t *outlen)
{
	struct bench_rng r = { 0x9e3779b97f4a7c15ull };
	char *b = xmalloc(len + 256);
	size_t o = 0;
	while (o < len) {
		if (bench_rand(&r, 100) < 5) {
			memcpy(b + o, "\r\n", 2);
			o += 2;
			continue;
		}
		size_t col = 0, width = 60 + bench_rand(&r, 16);
		while (col < width) {
			size_t w = 2 + bench_rand(&r, 9);
			for (size_t i = 0; i < w; i++)
				b[o + col++] = (char)('a' + bench_rand(&r, 26));
			uint32_t sp = bench_rand(&r, 100);
			const char *gap = sp < 4 ? "  " : sp < 6 ? "\t" : " ";
			size_t gl = strlen(gap);
			memcpy(b + o + col, gap, gl);
			col += gl;
		}
		/* Most lines end with their last space removed; some keep trailing blanks. */
		if (bench_rand(&r, 100) >= 3)
			col--;
		o += col;
		memcpy(b + o, "\r\n", 2);
		o += 2;
	}
	*outlen = o;
	return b;
}

/* A body of about len octets of base64 lines, 76 octets each. */
static char *bench_base64(size_t len, size_t *outlen)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct bench_rng r = { 0x2545f4914f6cdd1dull };
	char *b = xmalloc(len + 80);
	size_t o = 0;
	while (o < len) {
		for (int i = 0; i < 76; i++)
			b[o++] = alphabet[bench_rand(&r, 64)];
		b[o++] = '\r';
		b[o++] = '\n';
	}
	*outlen = o;
	return b;
}

/* The body hash of ours, in base64, and the seconds it took. */
static double bench_ours_body(const char *body, size_t len, char bh64[64])
{
	double t0 = bench_now();
	struct dkim_body *b = dkim_body_new();
	for (size_t o = 0; o < len; o += BENCH_PIECE)
		dkim_body_feed(b, body + o, len - o < BENCH_PIECE ? len - o : BENCH_PIECE);
	unsigned char bh[DKIM_BH_LEN];
	dkim_body_final(b, bh);
	double t = bench_now() - t0;
	dkim_body_free(b);
	EVP_EncodeBlock((unsigned char *)bh64, bh, DKIM_BH_LEN);
	return t;
}

/* The bh= value out of a signature field ("bh=...;"), into out. */
static void bench_bh_of(const char *field, char out[64])
{
	out[0] = '\0';
	const char *p = strstr(field, "bh=");
	if (p == NULL)
		return;
	p += 3;
	size_t n = 0;
	while (*p != '\0' && *p != ';' && n < 63) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			out[n++] = *p;
		p++;
	}
	out[n] = '\0';
}

/* The fields of the per-message test, each without its CRLF. */
static const char *const bench_fields[] = {
	"Received: from client.example.net (client.example.net [192.0.2.1])\r\n"
	"\tby mx.example.com with ESMTPS id 4Xy2; Tue, 14 Jan 2025 10:00:01 +0000",
	"From: Alice Example <alice@example.com>",
	"To: Bob Example <bob@example.net>",
	"Cc: carol@example.org",
	"Subject: Quarterly figures, and the meeting on Thursday",
	"Date: Tue, 14 Jan 2025 10:00:00 +0000",
	"Message-ID: <20250114100000.12345@example.com>",
	"MIME-Version: 1.0",
	"Content-Type: text/plain; charset=utf-8",
	"Content-Transfer-Encoding: 8bit",
};
#define BENCH_NFIELDS (sizeof(bench_fields) / sizeof(bench_fields[0]))

/* libopendkim's signing handle over pem, relaxed/relaxed, or NULL. */
static DKIM *bench_odkim_handle(DKIM_LIB *lib, const char *pem, enum dkim_alg alg)
{
	DKIM_STAT st;
	DKIM *d = dkim_sign(lib, (const unsigned char *)"bench", NULL, (dkim_sigkey_t)pem,
	    (const unsigned char *)"sel", (const unsigned char *)"example.com", DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, alg == DKIM_ALG_RSA_SHA256 ? DKIM_SIGN_RSASHA256 :
	    DKIM_SIGN_ED25519SHA256, -1, &st);
	if (d == NULL)
		fprintf(stderr, "bench_dkim: libopendkim dkim_sign: status %d\n", st);
	return d;
}

/* Sign one message with libopendkim: header fields, body in pieces; the field in *out. */
static bool bench_odkim_message(DKIM_LIB *lib, const char *pem, enum dkim_alg alg,
    const char *body, size_t len, char **out)
{
	DKIM *d = bench_odkim_handle(lib, pem, alg);
	if (d == NULL)
		return false;
	bool ok = true;
	/* Its API takes non-const buffers: each field is copied for it. */
	char hbuf[512];
	for (size_t i = 0; ok && i < BENCH_NFIELDS; i++) {
		size_t n = strlen(bench_fields[i]);
		memcpy(hbuf, bench_fields[i], n);
		ok = dkim_header(d, (u_char *)hbuf, n) == DKIM_STAT_OK;
	}
	ok = ok && dkim_eoh(d) == DKIM_STAT_OK;
	for (size_t o = 0; ok && o < len; o += BENCH_PIECE)
		ok = dkim_body(d, (u_char *)body + o, len - o < BENCH_PIECE ? len - o : BENCH_PIECE) ==
		    DKIM_STAT_OK;
	ok = ok && dkim_eom(d, NULL) == DKIM_STAT_OK;
	u_char *sig = NULL;
	size_t slen = 0;
	ok = ok && dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &sig, &slen) == DKIM_STAT_OK;
	if (ok && out != NULL)
		*out = xmemdup0(sig, slen);
	dkim_free(d);
	return ok;
}

/* The header section of the per-message test, as lib/dkim takes it. */
static char *bench_header(size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; i < BENCH_NFIELDS; i++)
		n += strlen(bench_fields[i]) + 2;
	char *h = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < BENCH_NFIELDS; i++) {
		size_t l = strlen(bench_fields[i]);
		memcpy(h + o, bench_fields[i], l);
		memcpy(h + o + l, "\r\n", 2);
		o += l + 2;
	}
	h[o] = '\0';
	*len = o;
	return h;
}

/* Sign one message with lib/dkim, as the daemon will; the field is freed unless out. */
static bool bench_ours_message(const struct dkim_key *k, const char *hdr, size_t hlen,
    const char *body, size_t len, char **out)
{
	struct dkim_body *b = dkim_body_new();
	for (size_t o = 0; o < len; o += BENCH_PIECE)
		dkim_body_feed(b, body + o, len - o < BENCH_PIECE ? len - o : BENCH_PIECE);
	unsigned char bh[DKIM_BH_LEN];
	dkim_body_final(b, bh);
	dkim_body_free(b);
	struct dkim_sign_in in = { .key = k, .domain = "example.com", .selector = "sel", .bh = bh,
		.header = hdr, .header_len = hlen, .now = 1736848800 };
	char err[128];
	size_t flen;
	char *f = dkim_sign_field(&in, &flen, err, sizeof(err));
	if (f == NULL) {
		fprintf(stderr, "bench_dkim: %s\n", err);
		return false;
	}
	if (out != NULL)
		*out = f;
	else
		free(f);
	return true;
}

/* The keys, in both libraries' forms. */
struct bench_keys {
	char *pem[2];			/* indexed by enum dkim_alg */
	struct dkim_key *key[2];
};

/* Body throughput of both libraries over one body; false when their bh= differ. */
static bool bench_body_kind(const char *kind, const char *body, size_t len, int rounds,
    DKIM_LIB *lib, const struct bench_keys *ks, const char *hdr, size_t hlen)
{
	double best_ours = 1e9, best_odkim = 1e9;
	char *fo = NULL, *fd = NULL;
	for (int r = 0; r < rounds; r++) {
		free(fo);
		free(fd);
		fo = fd = NULL;
		double t0 = bench_now();
		if (!bench_ours_message(ks->key[DKIM_ALG_ED25519_SHA256], hdr, hlen, body, len, &fo))
			return false;
		double t1 = bench_now();
		if (!bench_odkim_message(lib, ks->pem[DKIM_ALG_ED25519_SHA256],
		    DKIM_ALG_ED25519_SHA256, body, len, &fd))
			return false;
		double t2 = bench_now();
		if (t1 - t0 < best_ours)
			best_ours = t1 - t0;
		if (t2 - t1 < best_odkim)
			best_odkim = t2 - t1;
	}
	char bo[64], bd[64], bsha[64];
	bench_bh_of(fo, bo);
	bench_bh_of(fd, bd);
	double t_hash = bench_ours_body(body, len, bsha);
	printf("body %-6s %6.1f MiB  lib/dkim %7.1f MB/s  libopendkim %7.1f MB/s  (x%.1f)  "
	    "bh %s %s\n", kind, (double)len / BENCH_MIB, (double)len / best_ours / 1e6,
	    (double)len / best_odkim / 1e6, best_odkim / best_ours,
	    strcmp(bo, bd) == 0 ? "agree" : "DIFFER", bo);
	(void)t_hash;
	bool same = strcmp(bo, bd) == 0 && strcmp(bo, bsha) == 0;
	if (!same)
		fprintf(stderr, "bench_dkim: bh= lib/dkim %s, libopendkim %s\n", bo, bd);
	free(fo);
	free(fd);
	return same;
}

/* SHA-256 alone over the same octets: the floor under any canonicalisation. */
static void bench_sha256(const char *body, size_t len, int rounds)
{
	double best = 1e9;
	for (int r = 0; r < rounds; r++) {
		unsigned char md[EVP_MAX_MD_SIZE];
		double t0 = bench_now();
		EVP_Digest(body, len, md, NULL, EVP_sha256(), NULL);
		double t = bench_now() - t0;
		if (t < best)
			best = t;
	}
	printf("sha256 alone (OpenSSL EVP) %7.1f MB/s\n", (double)len / best / 1e6);
}

/* Per-message signing cost of both libraries for one algorithm. */
static bool bench_messages(enum dkim_alg alg, int count, DKIM_LIB *lib,
    const struct bench_keys *ks, const char *hdr, size_t hlen)
{
	size_t blen;
	char *body = bench_text(2048, &blen);
	bool ok = true;
	double t0 = bench_now();
	for (int i = 0; ok && i < count; i++)
		ok = bench_ours_message(ks->key[alg], hdr, hlen, body, blen, NULL);
	double t1 = bench_now();
	for (int i = 0; ok && i < count; i++)
		ok = bench_odkim_message(lib, ks->pem[alg], alg, body, blen, NULL);
	double t2 = bench_now();
	if (ok)
		printf("message %-14s x%-6d lib/dkim %8.1f us/msg  libopendkim %8.1f us/msg\n",
		    dkim_alg_name(alg), count, (t1 - t0) / count * 1e6, (t2 - t1) / count * 1e6);
	free(body);
	return ok;
}

/*
 * Parsing the PEM key alone, per call: what libopendkim's API pays on
 * every message (it takes the key text with each dkim_sign), and what
 * lib/dkim pays once, when the configuration is loaded.
 */
static void bench_key_parse(const struct bench_keys *ks, int count)
{
	for (int alg = 0; alg < 2; alg++) {
		size_t len = strlen(ks->pem[alg]);
		double t0 = bench_now();
		for (int i = 0; i < count; i++)
			dkim_key_free(dkim_key_parse(ks->pem[alg], len, NULL, 0));
		double t = bench_now() - t0;
		printf("key parse %-14s x%-6d %8.1f us each (PEM decode and the self-test signature)\n",
		    dkim_alg_name((enum dkim_alg)alg), count, t / count * 1e6);
	}
}

/* Read a key file into both forms; false after saying why. */
static bool bench_key(const char *path, enum dkim_alg want, struct bench_keys *ks)
{
	char err[256];
	size_t len;
	ks->pem[want] = file_read_all(path, DKIM_KEY_PEM_MAX, &len, err, sizeof(err));
	if (ks->pem[want] == NULL) {
		fprintf(stderr, "bench_dkim: %s\n", err);
		return false;
	}
	ks->key[want] = dkim_key_parse(ks->pem[want], len, err, sizeof(err));
	if (ks->key[want] == NULL || dkim_key_alg(ks->key[want]) != want) {
		fprintf(stderr, "bench_dkim: %s: %s\n", path,
		    ks->key[want] == NULL ? err : "not the algorithm expected here");
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	size_t mib = 50;
	int rounds = 3, messages = 2000;
	int a = 1;
	for (; a + 1 < argc && argv[a][0] == '-'; a += 2) {
		if (strcmp(argv[a], "--mib") == 0)
			mib = strtoul(argv[a + 1], NULL, 10);
		else if (strcmp(argv[a], "--rounds") == 0)
			rounds = atoi(argv[a + 1]);
		else if (strcmp(argv[a], "--messages") == 0)
			messages = atoi(argv[a + 1]);
		else
			break;
	}
	if (argc - a != 2 || mib == 0 || rounds <= 0 || messages <= 0) {
		fprintf(stderr, "usage: bench_dkim [--mib N] [--rounds N] [--messages N] "
		    "RSAKEY ED25519KEY\n");
		return 2;
	}
	struct bench_keys ks = { 0 };
	if (!bench_key(argv[a], DKIM_ALG_RSA_SHA256, &ks) ||
	    !bench_key(argv[a + 1], DKIM_ALG_ED25519_SHA256, &ks))
		return 1;
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	if (lib == NULL || !dkim_libfeature(lib, DKIM_FEATURE_ED25519)) {
		fprintf(stderr, "bench_dkim: libopendkim %s\n", lib == NULL ? "does not start" :
		    "has no Ed25519");
		return 1;
	}
	size_t hlen;
	char *hdr = bench_header(&hlen);
	size_t tlen, blen;
	char *text = bench_text(mib * BENCH_MIB, &tlen);
	char *b64 = bench_base64(mib * BENCH_MIB, &blen);
	bool ok = bench_body_kind("text", text, tlen, rounds, lib, &ks, hdr, hlen) &&
	    bench_body_kind("base64", b64, blen, rounds, lib, &ks, hdr, hlen);
	bench_sha256(text, tlen, rounds);
	ok = ok && bench_messages(DKIM_ALG_RSA_SHA256, messages, lib, &ks, hdr, hlen) &&
	    bench_messages(DKIM_ALG_ED25519_SHA256, messages * 10, lib, &ks, hdr, hlen);
	bench_key_parse(&ks, messages / 4 > 0 ? messages / 4 : 1);
	free(text);
	free(b64);
	free(hdr);
	for (int i = 0; i < 2; i++) {
		dkim_key_free(ks.key[i]);
		free(ks.pem[i]);
	}
	dkim_close(lib);
	return ok ? 0 : 1;
}
