/*
 * dkim_sign: the DKIM-Signature field of a message: which fields are
 * signed, the header hash input, the signature, the folded field.
 *
 * Owns: the table of signed names with their over-signing rule, the
 * bottom-up choice of instances (RFC 6376 5.4.2), the tag order and
 * folding, and the two signing rules: RSASSA-PKCS1-v1_5 with SHA-256 over
 * the hash input (RFC 6376 3.3.1), and Ed25519 over the SHA-256 digest of
 * the hash input (RFC 8463 3).
 * Never: reads a clock or a file; keeps anything between calls; signs a
 * field it did not find in the header as given (an over-signed name that
 * is absent hashes as nothing, as a verifier treats it).
 */
#include "dkim/dkim_sign.h"
#include "dkim_key_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "dkim_buf.h"
#include "dkim_hdr.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A DNS label: 63 octets. */
#define SIGN_LABEL_MAX 63
/* The signature field, without the header: h= at its longest, and b= of a 4096-bit key. */
#define SIGN_FIELD_MAX (32u * 1024u)
/* A signature: 512 octets for a 4096-bit RSA key, 64 for Ed25519. */
#define SIGN_SIG_MAX 512
/* Octets kept after "b=" on its line, so the tag does not end a line alone. */
#define SIGN_B_FOLLOW 16

/* How often a name is listed beyond its occurrences. */
enum sign_over {
	SIGN_OVER_NONE,		/* as often as it occurs */
	SIGN_OVER_PRESENT,	/* once more when it occurs (RFC 5322 3.6: at most once) */
	SIGN_OVER_ALWAYS,	/* once more, present or not (From) */
};

struct sign_name {
	const char *name;	/* lower case, as listed in h= */
	enum sign_over over;
};

/* RFC 6376 5.4.1's fields, List-Unsubscribe-Post (RFC 8058) and Sender; h= follows this order. */
static const struct sign_name sign_names[] = {
	{ "from", SIGN_OVER_ALWAYS },
	{ "reply-to", SIGN_OVER_PRESENT },
	{ "subject", SIGN_OVER_PRESENT },
	{ "date", SIGN_OVER_PRESENT },
	{ "to", SIGN_OVER_PRESENT },
	{ "cc", SIGN_OVER_PRESENT },
	{ "sender", SIGN_OVER_PRESENT },
	{ "resent-date", SIGN_OVER_NONE },
	{ "resent-from", SIGN_OVER_NONE },
	{ "resent-to", SIGN_OVER_NONE },
	{ "resent-cc", SIGN_OVER_NONE },
	{ "in-reply-to", SIGN_OVER_PRESENT },
	{ "references", SIGN_OVER_PRESENT },
	{ "list-id", SIGN_OVER_NONE },
	{ "list-help", SIGN_OVER_NONE },
	{ "list-unsubscribe", SIGN_OVER_NONE },
	{ "list-unsubscribe-post", SIGN_OVER_NONE },
	{ "list-subscribe", SIGN_OVER_NONE },
	{ "list-post", SIGN_OVER_NONE },
	{ "list-owner", SIGN_OVER_NONE },
	{ "list-archive", SIGN_OVER_NONE },
	{ "message-id", SIGN_OVER_PRESENT },
	{ "mime-version", SIGN_OVER_NONE },
	{ "content-type", SIGN_OVER_NONE },
	{ "content-transfer-encoding", SIGN_OVER_NONE },
	{ "content-id", SIGN_OVER_NONE },
	{ "content-description", SIGN_OVER_NONE },
};

#define SIGN_NNAMES (sizeof(sign_names) / sizeof(sign_names[0]))

/* The fields to sign, found in the header, and how often each name is listed. */
struct sign_plan {
	struct dkim_hdr_field fields[DKIM_SIGN_NAMES_MAX];	/* in header order */
	unsigned char which[DKIM_SIGN_NAMES_MAX];		/* each one's index in sign_names */
	size_t nfields;
	size_t count[SIGN_NNAMES];	/* occurrences per name */
	size_t listed[SIGN_NNAMES];	/* times in h= per name */
};

bool dkim_sign_name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n > DKIM_SIGN_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > SIGN_LABEL_MAX || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (c != '-' || label == 0))
			return false;
		label++;
	}
	return true;
}

/* The header's fields to sign, and how often each name is listed; false with why. */
static bool sign_plan_make(struct sign_plan *pl, const char *h, size_t hlen, char *err,
    size_t errlen)
{
	memset(pl->count, 0, sizeof(pl->count));
	pl->nfields = 0;
	struct dkim_hdr_field f;
	size_t pos = 0;
	while (dkim_hdr_next(h, hlen, &pos, &f)) {
		for (size_t i = 0; i < SIGN_NNAMES; i++) {
			if (!dkim_hdr_is(&f, sign_names[i].name))
				continue;
			if (pl->nfields == DKIM_SIGN_NAMES_MAX) {
				dkim_fail(err, errlen, "more than %d header fields to sign",
				    DKIM_SIGN_NAMES_MAX);
				return false;
			}
			pl->fields[pl->nfields] = f;
			pl->which[pl->nfields++] = (unsigned char)i;
			pl->count[i]++;
			break;
		}
	}
	if (pl->count[0] == 0) {
		dkim_fail(err, errlen, "the header has no From field (RFC 6376 5.4: From is signed)");
		return false;
	}
	size_t total = 0;
	for (size_t i = 0; i < SIGN_NNAMES; i++) {
		enum sign_over o = sign_names[i].over;
		bool more = o == SIGN_OVER_ALWAYS || (o == SIGN_OVER_PRESENT && pl->count[i] > 0);
		pl->listed[i] = pl->count[i] + (more ? 1 : 0);
		total += pl->listed[i];
	}
	if (total > DKIM_SIGN_NAMES_MAX) {
		dkim_fail(err, errlen, "%zu names to list in h=, more than %d", total,
		    DKIM_SIGN_NAMES_MAX);
		return false;
	}
	return true;
}

/* The field being written, and the column its last line has reached. */
struct sign_fold {
	struct dkim_buf *b;
	size_t col;
};

/*
 * Append tok[0..n) to the field: after one SP when space is set, on a new
 * line (CRLF HTAB) instead when the line would pass DKIM_SIGN_LINE_MAX
 * with keep more octets after it. A token longer than a line gets its own.
 */
static void fold_add(struct sign_fold *f, const char *tok, size_t n, bool space, size_t keep)
{
	size_t need = n + keep + (space ? 1 : 0);
	if (f->col > 1 && f->col + need > DKIM_SIGN_LINE_MAX) {
		dkim_buf_add(f->b, "\r\n\t", 3);
		f->col = 1;
	} else if (space) {
		dkim_buf_add(f->b, " ", 1);
		f->col++;
	}
	dkim_buf_add(f->b, tok, n);
	f->col += n;
}

/* A tag from a format, appended after a space (or a fold). */
static void fold_tag(struct sign_fold *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fold_tag(struct sign_fold *f, const char *fmt, ...)
{
	char tok[DKIM_SIGN_NAME_MAX + 16];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tok, sizeof(tok), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tok))
		panic("dkim_sign: a tag of %d octets", n);
	fold_add(f, tok, (size_t)n, true, 0);
}

/* The field up to and including "b=" (what is hashed), into f. */
static void sign_field_head(struct sign_fold *f, const struct dkim_sign_in *in,
    const struct sign_plan *pl)
{
	dkim_buf_adds(f->b, "DKIM-Signature:");
	f->col = strlen("DKIM-Signature:");
	fold_tag(f, "v=1;");
	fold_tag(f, "a=%s;", dkim_alg_name(dkim_key_alg(in->key)));
	fold_tag(f, "c=relaxed/relaxed;");
	fold_tag(f, "d=%s;", in->domain);
	fold_tag(f, "s=%s;", in->selector);
	fold_tag(f, "t=%" PRId64 ";", in->now);
	/* h=: the names joined by colons, folded after a colon when needed. */
	bool first = true;
	for (size_t i = 0; i < SIGN_NNAMES; i++) {
		for (size_t k = 0; k < pl->listed[i]; k++) {
			char tok[40];
			int n = snprintf(tok, sizeof(tok), "%s%s:", first ? "h=" : "", sign_names[i].name);
			fold_add(f, tok, (size_t)n, first, 0);
			first = false;
		}
	}
	/* The last name ends the tag: its colon becomes the semicolon. */
	f->b->p[f->b->len - 1] = ';';
	struct dkim_buf bh;
	dkim_buf_init(&bh, 64);
	dkim_buf_adds(&bh, "bh=");
	dkim_buf_add_b64(&bh, in->bh, DKIM_BH_LEN);
	dkim_buf_adds(&bh, ";");
	fold_add(f, bh.p, bh.len, true, 0);
	dkim_buf_free(&bh);
	fold_add(f, "b=", 2, true, SIGN_B_FOLLOW);
}

/* The k-th instance of sign_names[i] counted from the bottom (0: the last one), or NULL. */
static const struct dkim_hdr_field *sign_instance(const struct sign_plan *pl, size_t i, size_t k)
{
	for (size_t j = pl->nfields; j-- > 0;)
		if (pl->which[j] == i && k-- == 0)
			return &pl->fields[j];
	return NULL;
}

/*
 * The header hash input (RFC 6376 3.7): for each name listed in h=, the
 * next instance up from the bottom, relaxed and ending CRLF (none left:
 * nothing); then the signature field up to "b=", relaxed, without CRLF.
 */
static void sign_hash_input(struct dkim_buf *out, const struct sign_plan *pl, const char *head,
    size_t head_len)
{
	for (size_t i = 0; i < SIGN_NNAMES; i++) {
		for (size_t k = 0; k < pl->listed[i]; k++) {
			const struct dkim_hdr_field *fl = sign_instance(pl, i, k);
			if (fl == NULL)
				continue;
			char *at = dkim_buf_room(out, fl->len + 2);
			if (at == NULL)
				return;
			size_t n = dkim_hdr_relaxed(fl->field, fl->len, at);
			memcpy(at + n, "\r\n", 2);
			dkim_buf_commit(out, n + 2);
		}
	}
	char *at = dkim_buf_room(out, head_len);
	if (at == NULL)
		return;
	dkim_buf_commit(out, dkim_hdr_relaxed(head, head_len, at));
}

/*
 * Sign data[0..n) with k into sig (SIGN_SIG_MAX octets): RSASSA-PKCS1-v1_5
 * with SHA-256 over the data, or Ed25519 over the data's SHA-256 digest
 * (RFC 8463 3: the hash first, then PureEdDSA of those 32 octets).
 * The signature's length, or 0 with why.
 */
static size_t sign_data(const struct dkim_key *k, const char *data, size_t n,
    unsigned char sig[SIGN_SIG_MAX], char *err, size_t errlen)
{
	EVP_PKEY *pkey = dkim_key_pkey(k);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	if (m == NULL)
		panic("dkim_sign: OpenSSL could not allocate a digest context");
	size_t siglen = SIGN_SIG_MAX;
	int ok;
	if (dkim_key_alg(k) == DKIM_ALG_RSA_SHA256) {
		ok = EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		    EVP_DigestSign(m, sig, &siglen, (const unsigned char *)data, n) == 1;
	} else {
		unsigned char digest[EVP_MAX_MD_SIZE];
		unsigned int dlen = 0;
		ok = EVP_Digest(data, n, digest, &dlen, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestSignInit(m, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestSign(m, sig, &siglen, digest, dlen) == 1;
	}
	EVP_MD_CTX_free(m);
	if (!ok) {
		unsigned long e = ERR_peek_last_error();
		const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
		dkim_fail(err, errlen, "OpenSSL could not sign: %s", why != NULL ? why : "unknown error");
		return 0;
	}
	return siglen;
}

/* Append b='s value, folded anywhere in the base64 to fill each line. */
static void sign_field_b(struct sign_fold *f, const unsigned char *sig, size_t siglen)
{
	struct dkim_buf b64;
	dkim_buf_init(&b64, SIGN_SIG_MAX * 2);
	dkim_buf_add_b64(&b64, sig, siglen);
	for (size_t pos = 0; pos < b64.len;) {
		if (f->col >= DKIM_SIGN_LINE_MAX) {
			dkim_buf_add(f->b, "\r\n\t", 3);
			f->col = 1;
		}
		size_t n = DKIM_SIGN_LINE_MAX - f->col;
		if (n > b64.len - pos)
			n = b64.len - pos;
		dkim_buf_add(f->b, b64.p + pos, n);
		f->col += n;
		pos += n;
	}
	dkim_buf_free(&b64);
	dkim_buf_add(f->b, "\r\n", 2);
}

/* Whether in can be signed as it is; false with why. */
static bool sign_check(const struct dkim_sign_in *in, char *err, size_t errlen)
{
	if (in->key == NULL || in->bh == NULL || (in->header == NULL && in->header_len > 0)) {
		dkim_fail(err, errlen, "no key, body hash or header given");
		return false;
	}
	if (!dkim_sign_name_ok(in->domain)) {
		dkim_fail(err, errlen, "d=: the domain is no DNS name of letters, digits and "
		    "hyphens (A-labels)");
		return false;
	}
	if (!dkim_sign_name_ok(in->selector)) {
		dkim_fail(err, errlen, "s=: the selector is no DNS name of letters, digits and "
		    "hyphens");
		return false;
	}
	if (strlen(in->selector) + strlen("._domainkey.") + strlen(in->domain) > DKIM_SIGN_NAME_MAX) {
		dkim_fail(err, errlen, "the key's name SELECTOR._domainkey.DOMAIN passes %d octets",
		    DKIM_SIGN_NAME_MAX);
		return false;
	}
	if (in->now < 0) {
		dkim_fail(err, errlen, "t=: a time before 1970");
		return false;
	}
	if (in->header_len > DKIM_SIGN_HEADER_MAX) {
		dkim_fail(err, errlen, "a header section of %zu octets: at most %u are signed",
		    in->header_len, DKIM_SIGN_HEADER_MAX);
		return false;
	}
	return true;
}

char *dkim_sign_field(const struct dkim_sign_in *in, size_t *len, char *err, size_t errlen)
{
	if (!sign_check(in, err, errlen))
		return NULL;
	struct sign_plan *pl = xmalloc(sizeof(*pl));
	char *out = NULL;
	struct dkim_buf field, input;
	dkim_buf_init(&field, SIGN_FIELD_MAX);
	dkim_buf_init(&input, DKIM_SIGN_HEADER_MAX + 2 * DKIM_SIGN_NAMES_MAX + SIGN_FIELD_MAX);
	if (!sign_plan_make(pl, in->header != NULL ? in->header : "", in->header_len, err, errlen))
		goto done;
	struct sign_fold f = { .b = &field, .col = 0 };
	sign_field_head(&f, in, pl);
	sign_hash_input(&input, pl, field.p, field.len);
	if (field.over || input.over)
		panic("dkim_sign: a field or hash input passed the caps computed for it");
	unsigned char sig[SIGN_SIG_MAX];
	size_t siglen = sign_data(in->key, input.p, input.len, sig, err, errlen);
	if (siglen == 0)
		goto done;
	sign_field_b(&f, sig, siglen);
	if (field.over)
		panic("dkim_sign: the field passed %u octets", SIGN_FIELD_MAX);
	out = dkim_buf_take(&field, len);
done:
	dkim_buf_free(&field);
	dkim_buf_free(&input);
	free(pl);
	return out;
}
