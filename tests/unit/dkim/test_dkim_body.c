/*
 * test_dkim_body: the relaxed body canonicalisation (RFC 6376 3.4.4) and
 * its SHA-256, one row per body: the canonical text it must hash as. Each
 * row is fed whole, one octet at a time, and in two pieces split at every
 * offset; all must give the SHA-256 of the row's canonical text. RFC 6376
 * 3.4.6 and RFC 8463 A.3 give the vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "dkim/dkim_body.h"

struct body_row {
	const char *name;
	const char *in;		/* the body as fed */
	size_t in_len;		/* 0: strlen(in) */
	const char *want;	/* the canonical body it hashes as */
};

static const struct body_row body_rows[] = {
	/* RFC 6376 3.4.6, the relaxed body of its example. */
	{ "rfc6376 3.4.6", " C \r\nD \t E\r\n\r\n\r\n", 0, " C\r\nD E\r\n" },
	/* RFC 8463 A.3's body (its bh= is checked on its own below). */
	{ "rfc8463", "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n", 0,
	  "Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n" },
	{ "empty", "", 0, "" },
	{ "one CRLF", "\r\n", 0, "" },
	{ "only CRLFs", "\r\n\r\n\r\n\r\n", 0, "" },
	{ "only white lines", "  \r\n\t\r\n \t \r\n", 0, "" },
	{ "only WSP, no CRLF", " \t ", 0, "" },
	{ "plain", "abc\r\n", 0, "abc\r\n" },
	{ "no final CRLF", "abc", 0, "abc\r\n" },
	{ "no final CRLF, trailing WSP", "abc \t ", 0, "abc\r\n" },
	{ "trailing WSP", "a \r\nb\t\r\n", 0, "a\r\nb\r\n" },
	{ "trailing empty lines", "a\r\n\r\n\r\n", 0, "a\r\n" },
	{ "trailing white lines", "a\r\n \r\n\t\r\n", 0, "a\r\n" },
	{ "leading empty lines kept", "\r\n\r\na\r\n", 0, "\r\n\r\na\r\n" },
	{ "inner empty lines kept", "a\r\n\r\n\r\nb\r\n", 0, "a\r\n\r\n\r\nb\r\n" },
	{ "inner white line emptied", "a\r\n  \r\nb\r\n", 0, "a\r\n\r\nb\r\n" },
	{ "WSP runs", "a  b\t\tc \t d\r\n", 0, "a b c d\r\n" },
	{ "tab alone", "a\tb\r\n", 0, "a b\r\n" },
	{ "leading WSP kept as one SP", "  a\r\n\tb\r\n", 0, " a\r\n b\r\n" },
	{ "single SPs unchanged", "one two three four five six seven\r\n", 0,
	  "one two three four five six seven\r\n" },
	/* A CR or LF alone is an ordinary octet. */
	{ "lone LF", "a\nb\r\n", 0, "a\nb\r\n" },
	{ "lone CR", "a\rb\r\n", 0, "a\rb\r\n" },
	{ "CR CR LF", "a\r\r\n", 0, "a\r\r\n" },
	{ "WSP before lone CR", "a \r\r\n", 0, "a \r\r\n" },
	{ "WSP before lone LF", "a \nb\r\n", 0, "a \nb\r\n" },
	{ "LF CR", "a\n\rb\r\n", 0, "a\n\rb\r\n" },
	{ "last octet CR", "a\r", 0, "a\r\r\n" },
	{ "only CR", "\r", 0, "\r\r\n" },
	{ "only LF", "\n", 0, "\n\r\n" },
	{ "LF CRLF at end", "a\n\r\n", 0, "a\n\r\n" },
	{ "CRLF then lone CR", "a\r\n\r", 0, "a\r\n\r\r\n" },
	/* 8-bit octets and NUL are content. */
	{ "8-bit", "caf\xc3\xa9 \xe9t\xe9\r\n", 0, "caf\xc3\xa9 \xe9t\xe9\r\n" },
	{ "NUL", "a\0 \0b\r\n", 7, "a\0 \0b\r\n" },
	{ "dot line", ".\r\n..\r\n", 0, ".\r\n..\r\n" },
	/* Runs of eight and more octets, around the eight-at-a-time scan. */
	{ "long words", "abcdefghijklmnop qrstuvwxyz0123456789 ABCDEFGH  IJKLMNOP\tQ\r\n", 0,
	  "abcdefghijklmnop qrstuvwxyz0123456789 ABCDEFGH IJKLMNOP Q\r\n" },
	{ "SP at eighth", "abcdefg hijklmn opqrstu  v\r\n", 0, "abcdefg hijklmn opqrstu v\r\n" },
	{ "SP before CR at ninth", "abcdefgh \r\nabcdefgh\t\r\n", 0, "abcdefgh\r\nabcdefgh\r\n" },
};

/* The length of a row's input. */
static size_t row_len(const struct body_row *row)
{
	return row->in_len != 0 ? row->in_len : strlen(row->in);
}

/* The expected canonical text's length (rows with NUL give it through the input's). */
static size_t want_len(const struct body_row *row)
{
	if (row->in_len == 0)
		return strlen(row->want);
	/* "NUL": the same octets as the input. */
	return row->in_len;
}

static void sha256(const void *p, size_t n, unsigned char out[DKIM_BH_LEN])
{
	assert_int_equal(EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL), 1);
}

/* The hash of in[0..n) fed in pieces at the cut offsets (ncuts of them, ascending). */
static void hash_pieces(const char *in, size_t n, const size_t *cuts, size_t ncuts,
    unsigned char out[DKIM_BH_LEN])
{
	struct dkim_body *b = dkim_body_new();
	size_t at = 0;
	for (size_t i = 0; i < ncuts; i++) {
		dkim_body_feed(b, in + at, cuts[i] - at);
		at = cuts[i];
	}
	dkim_body_feed(b, in + at, n - at);
	dkim_body_final(b, out);
	dkim_body_free(b);
}

static void hex(const unsigned char *p, char out[2 * DKIM_BH_LEN + 1])
{
	for (size_t i = 0; i < DKIM_BH_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void expect_hash(const struct body_row *row, const char *how, const unsigned char *got,
    const unsigned char *want)
{
	if (memcmp(got, want, DKIM_BH_LEN) != 0) {
		char g[2 * DKIM_BH_LEN + 1], w[2 * DKIM_BH_LEN + 1];
		hex(got, g);
		hex(want, w);
		fail_msg("%s (%s): got %s, want %s (the hash of the canonical body)", row->name, how,
		    g, w);
	}
}

/* Every row: whole, one octet at a time, and split in two at every offset. */
static void test_body_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(body_rows) / sizeof(body_rows[0]); r++) {
		const struct body_row *row = &body_rows[r];
		size_t n = row_len(row);
		unsigned char want[DKIM_BH_LEN], got[DKIM_BH_LEN];
		sha256(row->want, want_len(row), want);
		hash_pieces(row->in, n, NULL, 0, got);
		expect_hash(row, "whole", got, want);
		size_t *each = calloc(n + 1, sizeof(size_t));
		for (size_t i = 0; i < n; i++)
			each[i] = i + 1;
		hash_pieces(row->in, n, each, n > 0 ? n - 1 : 0, got);
		expect_hash(row, "one octet at a time", got, want);
		free(each);
		for (size_t cut = 0; cut <= n; cut++) {
			hash_pieces(row->in, n, &cut, 1, got);
			char how[48];
			snprintf(how, sizeof(how), "split at %zu", cut);
			expect_hash(row, how, got, want);
		}
	}
}

/* RFC 8463 A.3: the body hash its example signatures carry. */
static void test_body_rfc8463_bh(void **state)
{
	(void)state;
	static const char body[] = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
	unsigned char bh[DKIM_BH_LEN];
	hash_pieces(body, strlen(body), NULL, 0, bh);
	char b64[64];
	EVP_EncodeBlock((unsigned char *)b64, bh, DKIM_BH_LEN);
	if (strcmp(b64, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=") != 0)
		fail_msg("RFC 8463 bh: got %s, want 2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=", b64);
}

/* The empty body's hash is SHA-256 of nothing (RFC 6376 3.4.4, its erratum 1384). */
static void test_body_empty_is_sha256_of_nothing(void **state)
{
	(void)state;
	unsigned char bh[DKIM_BH_LEN];
	hash_pieces("", 0, NULL, 0, bh);
	char b64[64];
	EVP_EncodeBlock((unsigned char *)b64, bh, DKIM_BH_LEN);
	if (strcmp(b64, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") != 0)
		fail_msg("empty body: got %s, want 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", b64);
}

/*
 * Bodies bigger than the 64 KiB output buffer: 40,000 empty lines then
 * content (80,000 withheld octets written at once), 40,000 at the end
 * (dropped), and a 200 KiB line without WSP (hashed where it lies).
 */
static void test_body_bigger_than_buffer(void **state)
{
	(void)state;
	const size_t lines = 40000, big = 200 * 1024;
	size_t n = 2 * lines + 3 + 2 * lines + big + 2;
	char *in = malloc(n), *want = malloc(n);
	size_t o = 0;
	for (size_t i = 0; i < lines; i++, o += 2)
		memcpy(in + o, "\r\n", 2);
	memcpy(in + o, "x\r\n", 3);
	o += 3;
	size_t wlen = o;
	memcpy(want, in, wlen);
	for (size_t i = 0; i < big; i++)
		in[o + i] = want[wlen + i] = (char)('a' + i % 26);
	o += big;
	wlen += big;
	memcpy(want + wlen, "\r\n", 2);
	wlen += 2;
	for (size_t i = 0; i < lines; i++, o += 2)
		memcpy(in + o, "\r\n", 2);
	unsigned char w[DKIM_BH_LEN], got[DKIM_BH_LEN];
	sha256(want, wlen, w);
	const struct body_row row = { "bigger than the buffer", NULL, 0, NULL };
	hash_pieces(in, o, NULL, 0, got);
	expect_hash(&row, "whole", got, w);
	size_t cuts[] = { 1, 79999, 80001, 80002, 65536 + 80003, o - 1 };
	hash_pieces(in, o, cuts, sizeof(cuts) / sizeof(cuts[0]), got);
	expect_hash(&row, "in pieces", got, w);
	free(in);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_rows),
		cmocka_unit_test(test_body_rfc8463_bh),
		cmocka_unit_test(test_body_empty_is_sha256_of_nothing),
		cmocka_unit_test(test_body_bigger_than_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
