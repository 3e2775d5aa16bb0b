/*
 * fuzz_dkim_hdr: hostile bytes as a header section, for the field
 * splitter and relaxed header form (lib/dkim/dkim_hdr.c) and the
 * signature field built over them (dkim_sign.c, with an Ed25519 key made
 * once).
 *
 * Each field found lies inside the input, opens a line, has a name of
 * printable octets before WSP and a colon, and comes after the one
 * before; its relaxed form is no longer than it, holds no CRLF, no HTAB
 * and no two SPs running, no SP at the end, a lower-case name, and is
 * its own relaxed form. A signature is made exactly when a From field
 * was found (or refused for too many names); a field made ends in CRLF
 * with lines of at most 78 octets.
 * Never: touches the network or a file.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim_sign.h"
#include "dkim_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define FUZZ_MAX 4096

/* The field's relaxed form and its checks. */
static void check_relaxed(const struct dkim_hdr_field *f)
{
	static char out[FUZZ_MAX], again[FUZZ_MAX];
	size_t n = dkim_hdr_relaxed(f->field, f->len, out);
	FUZZ_CHECK(n <= f->len);
	const char *colon = memchr(out, ':', n);
	FUZZ_CHECK(colon != NULL && (size_t)(colon - out) == f->name_len);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(out[i] != '\t');
		FUZZ_CHECK(!(out[i] == '\r' && i + 1 < n && out[i + 1] == '\n'));
		FUZZ_CHECK(!(out[i] == ' ' && i + 1 < n && out[i + 1] == ' '));
		if (out + i < colon)
			FUZZ_CHECK(!(out[i] >= 'A' && out[i] <= 'Z'));
	}
	FUZZ_CHECK(n == 0 || out[n - 1] != ' ');
	FUZZ_CHECK(colon + 1 == out + n || colon[1] != ' ');
	size_t m = dkim_hdr_relaxed(out, n, again);
	FUZZ_CHECK(m == n && memcmp(out, again, n) == 0);
}

/* Sign h[0..n) with a key made on the first call; check the outcome against from. */
static void check_sign(const char *h, size_t n, bool from)
{
	static struct dkim_key *key;
	if (key == NULL)
		key = dkim_key_generate(DKIM_ALG_ED25519_SHA256, 0, NULL, 0);
	FUZZ_CHECK(key != NULL);
	static const unsigned char bh[DKIM_BH_LEN];
	struct dkim_sign_in in = { .key = key, .domain = "example.com", .selector = "sel",
		.bh = bh, .header = h, .header_len = n, .now = 1700000000 };
	char err[256] = "";
	size_t len = 0;
	char *field = dkim_sign_field(&in, &len, err, sizeof(err));
	if (field == NULL) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(!from || strstr(err, "more than") != NULL);
		return;
	}
	FUZZ_CHECK(from);
	FUZZ_CHECK(len >= 2 && strlen(field) == len && memcmp(field + len - 2, "\r\n", 2) == 0);
	FUZZ_CHECK(strncmp(field, "DKIM-Signature: v=1; a=ed25519-sha256;", 38) == 0);
	for (const char *p = field; p < field + len;) {
		const char *e = strstr(p, "\r\n");
		FUZZ_CHECK(e != NULL && e - p <= DKIM_SIGN_LINE_MAX);
		p = e + 2;
	}
	free(field);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX)
		return 0;
	const char *h = (const char *)data;
	size_t pos = 0, last_end = 0;
	bool from = false;
	struct dkim_hdr_field f;
	while (dkim_hdr_next(h, size, &pos, &f)) {
		FUZZ_CHECK(f.field >= h + last_end && f.field + f.len <= h + size);
		FUZZ_CHECK(pos > (size_t)(f.field - h) && pos <= size);
		/* A field opens a line: the input's start, or after a CRLF. */
		size_t at = (size_t)(f.field - h);
		FUZZ_CHECK(at == 0 || (at >= 2 && h[at - 2] == '\r' && h[at - 1] == '\n'));
		FUZZ_CHECK(f.name_len >= 1 && f.name_len < f.len);
		for (size_t i = 0; i < f.name_len; i++)
			FUZZ_CHECK((unsigned char)f.field[i] > 0x20 && (unsigned char)f.field[i] < 0x7f &&
			    f.field[i] != ':');
		size_t i = f.name_len;
		while (f.field[i] == ' ' || f.field[i] == '\t')
			i++;
		FUZZ_CHECK(f.field[i] == ':');
		check_relaxed(&f);
		from = from || dkim_hdr_is(&f, "from");
		last_end = pos;
	}
	FUZZ_CHECK(pos <= size);
	check_sign(h, size, from);
	return 0;
}
