/*
 * test_dkim_sign: the DKIM-Signature field. One row per header section:
 * the h= it must list (over-signing and bottom-up order included) and,
 * where given, the header hash input written out by hand (the listed
 * instances, relaxed, bottom-up). Each row is signed with RSA-2048 and
 * with Ed25519, and the b= value is verified with OpenSSL against that
 * hand-written input and the public key taken from the key's own TXT
 * record: RSASSA-PKCS1-v1_5 over the input, Ed25519 over its SHA-256.
 * Then the field's shape (tag order, no l=, folding at 78), the refusals,
 * and RFC 8463 A.3's own signatures rebuilt from its message.
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
#include <openssl/x509.h>

#include "dkim/dkim_sign.h"
#include "dkim_hdr.h"

#define NOW 1700000000

struct keys {
	struct dkim_key *k[2];	/* by enum dkim_alg */
};

static int keys_setup(void **state)
{
	struct keys *ks = calloc(1, sizeof(*ks));
	ks->k[DKIM_ALG_RSA_SHA256] = dkim_key_generate(DKIM_ALG_RSA_SHA256, 2048, NULL, 0);
	ks->k[DKIM_ALG_ED25519_SHA256] = dkim_key_generate(DKIM_ALG_ED25519_SHA256, 0, NULL, 0);
	assert_non_null(ks->k[0]);
	assert_non_null(ks->k[1]);
	*state = ks;
	return 0;
}

static int keys_teardown(void **state)
{
	struct keys *ks = *state;
	dkim_key_free(ks->k[0]);
	dkim_key_free(ks->k[1]);
	free(ks);
	return 0;
}

/* A fixed body hash: what it is does not matter here, only that bh= carries it. */
static const unsigned char test_bh[DKIM_BH_LEN] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

struct sign_row {
	const char *name;
	const char *header;
	const char *h;		/* the h= value wanted */
	const char *input;	/* the listed instances, relaxed, bottom-up; NULL: not checked */
};

static const struct sign_row sign_rows[] = {
	{ "basic", "From: Joe <joe@example.com>\r\nTo: a@b.example\r\nSubject: hello\r\n",
	  "from:from:subject:subject:to:to",
	  "from:Joe <joe@example.com>\r\nsubject:hello\r\nto:a@b.example\r\n" },
	{ "folded and spaced",
	  "From:  Joe\r\n <joe@example.com>  \r\nSUBJECT : a \t b\r\n\tc\r\n"
	  "Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n",
	  "from:from:subject:subject:date:date",
	  "from:Joe <joe@example.com>\r\nsubject:a b c\r\ndate:Fri, 11 Jul 2003 21:00:37 -0700\r\n" },
	{ "bottom-up", "From: a@x\r\nResent-To: r1\r\nSubject: one\r\nResent-To: r2\r\nSubject: two\r\n",
	  "from:from:subject:subject:subject:resent-to:resent-to",
	  "from:a@x\r\nsubject:two\r\nsubject:one\r\nresent-to:r2\r\nresent-to:r1\r\n" },
	{ "two From", "From: a@x\r\nFrom: b@y\r\n", "from:from:from", "from:b@y\r\nfrom:a@x\r\n" },
	{ "never signed", "Received: from x by y\r\nReturn-Path: <a@x>\r\nFrom: a@x\r\n"
	  "Bcc: b@y\r\nDKIM-Signature: v=1; old\r\nX-Mailer: m\r\nComments: c\r\n",
	  "from:from", "from:a@x\r\n" },
	{ "non-field lines ignored", "no colon here\r\n continued\r\nFrom: a@x\r\n\x01" "bad: x\r\n"
	  "To: b@y\r\n", "from:from:to:to", "from:a@x\r\nto:b@y\r\n" },
	{ "continuation first", " stray\r\nFrom: a@x\r\n", "from:from", "from:a@x\r\n" },
	{ "empty line ends the section", "From: a@x\r\n\r\nTo: b@y\r\n", "from:from", "from:a@x\r\n" },
	{ "case of names", "FROM: a@x\r\nsUbJeCt: s\r\nmessage-id: <1@x>\r\n",
	  "from:from:subject:subject:message-id:message-id",
	  "from:a@x\r\nsubject:s\r\nmessage-id:<1@x>\r\n" },
	{ "once-only fields over-signed",
	  "From: a@x\r\nSender: s@x\r\nReply-To: r@x\r\nTo: t@y\r\nCc: c@y\r\nDate: d\r\n"
	  "Message-ID: <m@x>\r\nIn-Reply-To: <i@x>\r\nReferences: <i@x>\r\nSubject: s\r\n",
	  "from:from:reply-to:reply-to:subject:subject:date:date:to:to:cc:cc:sender:sender:"
	  "in-reply-to:in-reply-to:references:references:message-id:message-id",
	  "from:a@x\r\nreply-to:r@x\r\nsubject:s\r\ndate:d\r\nto:t@y\r\ncc:c@y\r\nsender:s@x\r\n"
	  "in-reply-to:<i@x>\r\nreferences:<i@x>\r\nmessage-id:<m@x>\r\n" },
	{ "lists and MIME, not over-signed",
	  "From: a@x\r\nList-Id: <l.x>\r\nList-Help: <h>\r\nList-Unsubscribe: <u>\r\n"
	  "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nList-Subscribe: <s>\r\n"
	  "List-Post: <p>\r\nList-Owner: <o>\r\nList-Archive: <a>\r\nMIME-Version: 1.0\r\n"
	  "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\nContent-ID: <c>\r\n"
	  "Content-Description: d\r\nResent-Date: rd\r\nResent-From: rf\r\nResent-Cc: rc\r\n",
	  "from:from:resent-date:resent-from:resent-cc:list-id:list-help:list-unsubscribe:"
	  "list-unsubscribe-post:list-subscribe:list-post:list-owner:list-archive:mime-version:"
	  "content-type:content-transfer-encoding:content-id:content-description",
	  NULL },
	{ "8-bit and lone octets", "From: J\xc3\xb6rg <j@x>\r\nSubject: caf\xe9\r\n",
	  "from:from:subject:subject", "from:J\xc3\xb6rg <j@x>\r\nsubject:caf\xe9\r\n" },
	{ "no CRLF at the end", "To: b@y\r\nFrom: a@x", "from:from:to:to", "from:a@x\r\nto:b@y\r\n" },
};

/* The field unfolded ("\r\n\t" gone) and without its CRLF: its tags, as one line. */
static char *unfold(const char *field)
{
	size_t n = strlen(field);
	char *out = calloc(1, n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (field[i] == '\r' && field[i + 1] == '\n') {
			i++;
			continue;
		}
		out[o++] = field[i];
	}
	return out;
}

/* The value of tag name in the unfolded field, WSP removed, into out. */
static void tag(const char *unfolded, const char *name, char *out, size_t cap)
{
	const char *p = strchr(unfolded, ':') + 1;
	size_t nl = strlen(name);
	out[0] = '\0';
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t o = 0;
			for (const char *q = p + nl + 1; q < end && o + 1 < cap; q++)
				if (*q != ' ' && *q != '\t')
					out[o++] = *q;
			out[o] = '\0';
			return;
		}
		p = *end == ';' ? end + 1 : end;
	}
}

/*
 * The field as it is hashed, computed here without lib/dkim: up to "b=",
 * unfolded (each CRLF HTAB one SP), the name lower-cased, no SP after
 * the colon. Our field has single SPs only, so that is its relaxed form.
 */
static char *field_as_hashed(const char *field)
{
	const char *b = NULL;
	for (const char *p = field; (p = strstr(p, "b=")) != NULL; p++)
		if (p[-1] == ' ' || p[-1] == '\t')
			b = p;
	assert_non_null(b);
	size_t n = (size_t)(b + 2 - field);
	char *out = calloc(1, n + 1);
	size_t o = 0;
	assert_int_equal(strncmp(field, "DKIM-Signature: ", 16), 0);
	memcpy(out, "dkim-signature:", 15);
	o = 15;
	for (size_t i = 16; i < n; i++) {
		if (field[i] == '\r' && field[i + 1] == '\n' && field[i + 2] == '\t') {
			out[o++] = ' ';
			i += 2;
			continue;
		}
		out[o++] = field[i];
	}
	out[o] = '\0';
	return out;
}

/* The public key in k's TXT record. */
static EVP_PKEY *record_key(const struct dkim_key *k)
{
	char *rec = dkim_key_dns_record(k);
	const char *p = strstr(rec, "; p=") + 4;
	unsigned char raw[1024];
	int n = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)strlen(p));
	assert_true(n > 0);
	size_t len = (size_t)n - (p[strlen(p) - 1] == '=') - (p[strlen(p) - 2] == '=');
	EVP_PKEY *pub;
	if (dkim_key_alg(k) == DKIM_ALG_RSA_SHA256) {
		const unsigned char *d = raw;
		pub = d2i_PUBKEY(NULL, &d, (long)len);
	} else {
		assert_int_equal(len, 32);
		pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
	}
	assert_non_null(pub);
	free(rec);
	return pub;
}

/* Whether sig (base64) signs data with pub under alg's rule. */
static bool verify(EVP_PKEY *pub, enum dkim_alg alg, const char *data, size_t n, const char *b64)
{
	unsigned char sig[1024];
	size_t blen = strlen(b64);
	int got = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)blen);
	assert_true(got > 0);
	size_t siglen = (size_t)got - (b64[blen - 1] == '=') - (b64[blen - 2] == '=');
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok;
	if (alg == DKIM_ALG_RSA_SHA256) {
		ok = EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pub) == 1 &&
		    EVP_DigestVerify(m, sig, siglen, (const unsigned char *)data, n) == 1;
	} else {
		unsigned char d[32];
		ok = EVP_Digest(data, n, d, NULL, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestVerifyInit(m, NULL, NULL, NULL, pub) == 1 &&
		    EVP_DigestVerify(m, sig, siglen, d, sizeof(d)) == 1;
	}
	EVP_MD_CTX_free(m);
	return ok;
}

/* Lines end CRLF, none is over 78 octets or ends in WSP, continuations open with HTAB. */
static void check_shape(const char *what, const char *field, size_t len)
{
	assert_int_equal(strlen(field), len);
	if (len < 2 || strcmp(field + len - 2, "\r\n") != 0)
		fail_msg("%s: the field does not end in CRLF", what);
	size_t line = 0;
	for (const char *p = field; p < field + len; line++) {
		const char *e = strstr(p, "\r\n");
		size_t n = (size_t)(e - p);
		if (n > DKIM_SIGN_LINE_MAX)
			fail_msg("%s: line %zu: %zu octets, want at most %d: \"%.*s\"", what, line, n,
			    DKIM_SIGN_LINE_MAX, (int)n, p);
		if (line > 0 && p[0] != '\t')
			fail_msg("%s: line %zu does not open with HTAB", what, line);
		if (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			fail_msg("%s: line %zu ends in WSP", what, line);
		for (size_t i = 0; i < n; i++)
			if (p[i] == '\r' || p[i] == '\n')
				fail_msg("%s: line %zu holds a bare CR or LF", what, line);
		p = e + 2;
	}
}

/* The tags in order, each exactly once: v a c d s t h bh b (and so never l=). */
static void check_tags(const char *what, const char *unfolded, enum dkim_alg alg)
{
	static const char *const order[] = { "v", "a", "c", "d", "s", "t", "h", "bh", "b" };
	const char *p = strchr(unfolded, ':') + 1;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strlen(order[i]);
		if (strncmp(p, order[i], n) != 0 || p[n] != '=')
			fail_msg("%s: tag %zu: got \"%.10s\", want \"%s=\"", what, i, p, order[i]);
		const char *end = strchr(p, ';');
		if (end == NULL) {
			if (i + 1 != sizeof(order) / sizeof(order[0]))
				fail_msg("%s: the tags end after \"%s\"", what, order[i]);
			break;
		}
		p = end + 1;
	}
	char v[64];
	tag(unfolded, "v", v, sizeof(v));
	assert_string_equal(v, "1");
	tag(unfolded, "a", v, sizeof(v));
	assert_string_equal(v, dkim_alg_name(alg));
	tag(unfolded, "c", v, sizeof(v));
	assert_string_equal(v, "relaxed/relaxed");
	tag(unfolded, "t", v, sizeof(v));
	assert_string_equal(v, "1700000000");
	tag(unfolded, "bh", v, sizeof(v));
	assert_string_equal(v, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=");
}

static void test_sign_rows(void **state)
{
	struct keys *ks = *state;
	for (int alg = 0; alg < 2; alg++) {
		EVP_PKEY *pub = record_key(ks->k[alg]);
		for (size_t r = 0; r < sizeof(sign_rows) / sizeof(sign_rows[0]); r++) {
			const struct sign_row *row = &sign_rows[r];
			char what[96];
			snprintf(what, sizeof(what), "%s (%s)", row->name,
			    dkim_alg_name((enum dkim_alg)alg));
			struct dkim_sign_in in = { .key = ks->k[alg], .domain = "example.com",
				.selector = "sel", .bh = test_bh, .header = row->header,
				.header_len = strlen(row->header), .now = NOW };
			char err[256] = "";
			size_t len;
			char *field = dkim_sign_field(&in, &len, err, sizeof(err));
			if (field == NULL)
				fail_msg("%s: refused: %s", what, err);
			check_shape(what, field, len);
			char *u = unfold(field);
			check_tags(what, u, (enum dkim_alg)alg);
			char h[2048], b[1024];
			tag(u, "h", h, sizeof(h));
			if (strcmp(h, row->h) != 0)
				fail_msg("%s: h= got \"%s\", want \"%s\"", what, h, row->h);
			if (row->input != NULL) {
				char *head = field_as_hashed(field);
				size_t n = strlen(row->input) + strlen(head);
				char *data = calloc(1, n + 1);
				snprintf(data, n + 1, "%s%s", row->input, head);
				tag(u, "b", b, sizeof(b));
				if (!verify(pub, (enum dkim_alg)alg, data, n, b))
					fail_msg("%s: b= does not verify over \"%s\"", what, data);
				free(data);
				free(head);
			}
			free(u);
			free(field);
		}
		EVP_PKEY_free(pub);
	}
}

struct refuse_row {
	const char *name;
	const char *domain;
	const char *selector;
	const char *header;
	int64_t now;
	const char *why;
};

static const struct refuse_row refuse_rows[] = {
	{ "no From", "example.com", "sel", "To: a@x\r\nSubject: s\r\n", NOW, "no From" },
	{ "From after the empty line", "example.com", "sel", "To: a@x\r\n\r\nFrom: b@y\r\n", NOW,
	  "no From" },
	{ "From only as garbage", "example.com", "sel", "From a@x\r\n", NOW, "no From" },
	{ "empty header", "example.com", "sel", "", NOW, "no From" },
	{ "domain with a space", "exa mple.com", "sel", "From: a@x\r\n", NOW, "d=" },
	{ "domain not in A-labels", "b\xc3\xbc" "cher.example", "sel", "From: a@x\r\n", NOW, "d=" },
	{ "domain label opens with -", "-a.example", "sel", "From: a@x\r\n", NOW, "d=" },
	{ "domain label ends with -", "a-.example", "sel", "From: a@x\r\n", NOW, "d=" },
	{ "domain empty label", "a..example", "sel", "From: a@x\r\n", NOW, "d=" },
	{ "domain trailing dot", "example.", "sel", "From: a@x\r\n", NOW, "d=" },
	{ "domain empty", "", "sel", "From: a@x\r\n", NOW, "d=" },
	{ "domain underscore", "a_b.example", "sel", "From: a@x\r\n", NOW, "d=" },
	{ "domain label of 64", "a123456789012345678901234567890123456789012345678901234567890123.x",
	  "sel", "From: a@x\r\n", NOW, "d=" },
	{ "selector adding a tag", "example.com", "s;x=1", "From: a@x\r\n", NOW, "s=" },
	{ "selector with a space", "example.com", "a b", "From: a@x\r\n", NOW, "s=" },
	{ "selector empty", "example.com", "", "From: a@x\r\n", NOW, "s=" },
	{ "time before 1970", "example.com", "sel", "From: a@x\r\n", -1, "1970" },
};

static void test_refuse_rows(void **state)
{
	struct keys *ks = *state;
	for (size_t r = 0; r < sizeof(refuse_rows) / sizeof(refuse_rows[0]); r++) {
		const struct refuse_row *row = &refuse_rows[r];
		struct dkim_sign_in in = { .key = ks->k[1], .domain = row->domain,
			.selector = row->selector, .bh = test_bh, .header = row->header,
			.header_len = strlen(row->header), .now = row->now };
		char err[256] = "";
		size_t len = 99;
		char *field = dkim_sign_field(&in, &len, err, sizeof(err));
		if (field != NULL)
			fail_msg("%s: got a field, want a refusal holding \"%s\"", row->name, row->why);
		if (strstr(err, row->why) == NULL)
			fail_msg("%s: why got \"%s\", want it to hold \"%s\"", row->name, err, row->why);
	}
}

/* A header of n fields "NAME: v", after one From; malloc'd. */
static char *many(const char *name, size_t n, size_t *len)
{
	size_t one = strlen(name) + 5;
	char *h = malloc(12 + n * one + 1);
	size_t o = (size_t)snprintf(h, 12, "From: a@x\r\n");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(h + o, one + 1, "%s: v\r\n", name);
	*len = o;
	return h;
}

/* The caps: the names listed, the header's size, the key's name. */
static void test_caps(void **state)
{
	struct keys *ks = *state;
	struct dkim_sign_in in = { .key = ks->k[1], .domain = "example.com", .selector = "sel",
		.bh = test_bh, .now = NOW };
	char err[256];
	size_t len;
	/* From over-signed and 254 Resent-Cc: 256 names, the most; folded within 78. */
	char *h = many("Resent-Cc", 254, &in.header_len);
	in.header = h;
	char *f = dkim_sign_field(&in, &len, err, sizeof(err));
	if (f == NULL)
		fail_msg("256 names: refused: %s", err);
	check_shape("256 names", f, len);
	free(f);
	free(h);
	/* One more is refused. */
	h = many("Resent-Cc", 255, &in.header_len);
	in.header = h;
	assert_null(dkim_sign_field(&in, &len, err, sizeof(err)));
	if (strstr(err, "257 names") == NULL)
		fail_msg("257 names: why got \"%s\", want \"257 names\"", err);
	free(h);
	/* More fields to sign than names allowed: refused while reading. */
	h = many("To", 300, &in.header_len);
	in.header = h;
	assert_null(dkim_sign_field(&in, &len, err, sizeof(err)));
	if (strstr(err, "more than 256 header fields") == NULL)
		fail_msg("300 To: why got \"%s\", want \"more than 256 header fields\"", err);
	free(h);
	/* Unsigned fields do not count, but the size does. */
	h = many("X-Filler", DKIM_SIGN_HEADER_MAX / 13, &in.header_len);
	in.header = h;
	f = dkim_sign_field(&in, &len, err, sizeof(err));
	if (in.header_len <= DKIM_SIGN_HEADER_MAX && f == NULL)
		fail_msg("a header of %zu octets: refused: %s", in.header_len, err);
	free(f);
	free(h);
	h = many("X-Filler", DKIM_SIGN_HEADER_MAX / 12, &in.header_len);
	in.header = h;
	assert_true(in.header_len > DKIM_SIGN_HEADER_MAX);
	assert_null(dkim_sign_field(&in, &len, err, sizeof(err)));
	if (strstr(err, "at most") == NULL)
		fail_msg("a header over the cap: why got \"%s\", want \"at most\"", err);
	free(h);
	/* SELECTOR._domainkey.DOMAIN is a DNS name of at most 253 octets. */
	char sel[64], dom[200];
	memset(sel, 'a', 63);
	sel[63] = '\0';
	memset(dom, 'b', sizeof(dom));
	for (size_t i = 63; i < sizeof(dom); i += 64)
		dom[i] = '.';
	dom[sizeof(dom) - 1] = '\0';
	in.header = "From: a@x\r\n";
	in.header_len = strlen(in.header);
	in.selector = sel;
	in.domain = dom;
	assert_null(dkim_sign_field(&in, &len, err, sizeof(err)));
	if (strstr(err, "253") == NULL)
		fail_msg("a long key name: why got \"%s\", want \"253\"", err);
	/* No key, no body hash. */
	in.selector = "sel";
	in.domain = "example.com";
	in.key = NULL;
	assert_null(dkim_sign_field(&in, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "no key"));
	in.key = ks->k[1];
	in.bh = NULL;
	assert_null(dkim_sign_field(&in, &len, NULL, 0));
}

/* Long names: d= and s= near their limits still give a field a verifier can read. */
static void test_long_names(void **state)
{
	struct keys *ks = *state;
	char dom[128];
	memset(dom, 'd', sizeof(dom));
	dom[63] = '.';
	dom[sizeof(dom) - 1] = '\0';
	struct dkim_sign_in in = { .key = ks->k[0], .domain = dom, .selector = "s2025-01.mail",
		.bh = test_bh, .header = "From: a@x\r\n", .header_len = 11, .now = NOW };
	size_t len;
	char err[128];
	char *f = dkim_sign_field(&in, &len, err, sizeof(err));
	assert_non_null(f);
	/* Its d= line alone is longer than 78 (a tag is never split), and within SMTP's 998. */
	size_t longer = 0;
	for (const char *p = f; *p != '\0';) {
		const char *e = strstr(p, "\r\n");
		size_t n = (size_t)(e - p);
		if (n > DKIM_SIGN_LINE_MAX) {
			longer++;
			if (strncmp(p, "\td=", 3) != 0 || n > 998)
				fail_msg("a line of %zu octets that is not d=: \"%.*s\"", n, (int)n, p);
		}
		p = e + 2;
	}
	if (longer != 1)
		fail_msg("lines over 78: got %zu, want 1 (d=)", longer);
	char *u = unfold(f);
	char d[256];
	tag(u, "d", d, sizeof(d));
	assert_string_equal(d, dom);
	free(u);
	free(f);
}

/*
 * RFC 8463 A.3: its message and both signatures. The header hash input
 * is rebuilt here from its fields with dkim_hdr (bottom-up, relaxed):
 * signing that input as dkim_sign does (Ed25519 over its SHA-256) with
 * the RFC's key gives the RFC's b= octet for octet, and the RFC's RSA b=
 * verifies over it with the RFC's RSA key.
 */
static const char rfc8463_header[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n";
#define RFC8463_ED_SEED "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
#define RFC8463_RSA_PUB "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5q" \
    "hdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG" \
    "4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"

/* The hash input of the RFC's signature number which (0 Ed25519, 1 RSA), and its b=. */
static size_t rfc8463_input(int which, char *out, char *b, size_t bcap)
{
	static const char *const names[] = { "from", "to", "subject", "date", "message-id", "from",
		"subject", "date" };
	struct dkim_hdr_field f[16];
	size_t nf = 0, pos = 0, len = strlen(rfc8463_header), o = 0;
	while (dkim_hdr_next(rfc8463_header, len, &pos, &f[nf]))
		nf++;
	assert_int_equal(nf, 7);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		/* The next instance up of names[i]: how many times it was taken before. */
		size_t taken = 0;
		for (size_t k = 0; k < i; k++)
			taken += strcmp(names[k], names[i]) == 0;
		for (size_t j = nf; j-- > 0;) {
			if (dkim_hdr_is(&f[j], names[i]) && taken-- == 0) {
				o += dkim_hdr_relaxed(f[j].field, f[j].len, out + o);
				memcpy(out + o, "\r\n", 2);
				o += 2;
				break;
			}
		}
	}
	/* The signature with b='s value (and the FWS in it) taken out. */
	const struct dkim_hdr_field *sig = &f[which];
	const char *bt = strstr(sig->field, " b=") + 1;
	size_t head = (size_t)(bt + 2 - sig->field), n = 0;
	for (const char *p = bt + 2; p < sig->field + sig->len && n + 1 < bcap; p++)
		if (*p != ' ' && *p != '\r' && *p != '\n')
			b[n++] = *p;
	b[n] = '\0';
	o += dkim_hdr_relaxed(sig->field, head, out + o);
	return o;
}

static void test_rfc8463_signatures(void **state)
{
	(void)state;
	char input[2048], b[512];
	/* Ed25519: sign as dkim_sign does and get the RFC's b=. */
	size_t n = rfc8463_input(0, input, b, sizeof(b));
	unsigned char seed[48];
	assert_int_equal(EVP_DecodeBlock(seed, (const unsigned char *)RFC8463_ED_SEED, 44), 33);
	EVP_PKEY *ed = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	unsigned char d[32], sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	assert_int_equal(EVP_Digest(input, n, d, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestSignInit(m, NULL, NULL, NULL, ed), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &siglen, d, sizeof(d)), 1);
	EVP_MD_CTX_free(m);
	char got[128];
	EVP_EncodeBlock((unsigned char *)got, sig, (int)siglen);
	if (strcmp(got, b) != 0)
		fail_msg("RFC 8463 Ed25519: got b=%s, want b=%s (input \"%.*s\")", got, b, (int)n, input);
	EVP_PKEY_free(ed);
	/* RSA: the RFC's signature verifies over the same input. */
	n = rfc8463_input(1, input, b, sizeof(b));
	unsigned char der[256];
	int dn = EVP_DecodeBlock(der, (const unsigned char *)RFC8463_RSA_PUB,
	    (int)strlen(RFC8463_RSA_PUB));
	const unsigned char *dp = der;
	EVP_PKEY *rsa = d2i_PUBKEY(NULL, &dp, dn);
	assert_non_null(rsa);
	if (!verify(rsa, DKIM_ALG_RSA_SHA256, input, n, b))
		fail_msg("RFC 8463 RSA: b=%s does not verify over \"%.*s\"", b, (int)n, input);
	EVP_PKEY_free(rsa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_rows),
		cmocka_unit_test(test_refuse_rows),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_rfc8463_signatures),
	};
	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
