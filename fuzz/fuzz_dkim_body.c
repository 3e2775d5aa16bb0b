/*
 * fuzz_dkim_body: hostile bytes as a message body for the relaxed body
 * hash (lib/dkim/dkim_body.c). The first two octets choose where to cut,
 * the rest is the body.
 *
 * The split must never change the hash: the body fed whole, in two
 * pieces at the chosen point, in three, and one octet at a time all hash
 * the same, and the same as a plain, line-by-line reading of RFC 6376
 * 3.4.4 written here (no streaming, no run scanning) hashes.
 * Never: touches the network or a file.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dkim/dkim_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define FUZZ_MAX 4096

/*
 * The relaxed body, plainly: lines split at CRLF, each with WSP runs made
 * one SP and WSP at its end dropped, every line ending CRLF, the empty
 * lines at the end dropped. Returns the length written to out (room for
 * n + 2 octets).
 */
static size_t reference(const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0, kept = 0, i = 0;
	while (i < n) {
		size_t e = i;
		while (e < n && !(in[e] == '\r' && e + 1 < n && in[e + 1] == '\n'))
			e++;
		size_t start = o;
		bool sp = false;
		for (size_t k = i; k < e; k++) {
			if (in[k] == ' ' || in[k] == '\t') {
				sp = true;
				continue;
			}
			if (sp)
				out[o++] = ' ';
			sp = false;
			out[o++] = in[k];
		}
		bool empty = o == start;
		out[o++] = '\r';
		out[o++] = '\n';
		if (!empty)
			kept = o;
		i = e < n ? e + 2 : e;
	}
	return kept;
}

/* The hash of body fed in pieces ending at the cuts (ascending, each <= n). */
static void pieces(const uint8_t *body, size_t n, const size_t *cuts, size_t ncuts,
    unsigned char bh[DKIM_BH_LEN])
{
	struct dkim_body *b = dkim_body_new();
	size_t at = 0;
	for (size_t i = 0; i < ncuts; i++) {
		dkim_body_feed(b, body + at, cuts[i] - at);
		at = cuts[i];
	}
	dkim_body_feed(b, body + at, n - at);
	dkim_body_final(b, bh);
	dkim_body_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t canon[FUZZ_MAX + 2];
	if (size < 2 || size - 2 > FUZZ_MAX)
		return 0;
	const uint8_t *body = data + 2;
	size_t n = size - 2;
	size_t cut1 = n > 0 ? data[0] % (n + 1) : 0;
	size_t cut2 = n > 0 ? (cut1 + data[1] % (n + 1)) % (n + 1) : 0;
	unsigned char want[DKIM_BH_LEN], got[DKIM_BH_LEN];
	size_t clen = reference(body, n, canon);
	FUZZ_CHECK(EVP_Digest(canon, clen, want, NULL, EVP_sha256(), NULL) == 1);

	pieces(body, n, NULL, 0, got);
	FUZZ_CHECK(memcmp(got, want, DKIM_BH_LEN) == 0);
	pieces(body, n, &cut1, 1, got);
	FUZZ_CHECK(memcmp(got, want, DKIM_BH_LEN) == 0);
	size_t two[2] = { cut1 < cut2 ? cut1 : cut2, cut1 < cut2 ? cut2 : cut1 };
	pieces(body, n, two, 2, got);
	FUZZ_CHECK(memcmp(got, want, DKIM_BH_LEN) == 0);

	struct dkim_body *b = dkim_body_new();
	for (size_t i = 0; i < n; i++)
		dkim_body_feed(b, body + i, 1);
	dkim_body_final(b, got);
	dkim_body_free(b);
	FUZZ_CHECK(memcmp(got, want, DKIM_BH_LEN) == 0);
	return 0;
}
