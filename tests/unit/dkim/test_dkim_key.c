/*
 * test_dkim_key: DKIM keys. One row per PEM text (made here with OpenSSL:
 * RSA of 1024 and 2048 bits in PKCS#8 and traditional form, Ed25519, EC,
 * encrypted, public, garbage): taken with its algorithm and size, or
 * refused with a reason. Then the TXT record's shape (RSA: the key's own
 * SubjectPublicKeyInfo; Ed25519: RFC 8463's example key), the PKCS#8
 * round trip, key generation and the algorithm names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/params.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim/dkim_key.h"

/* RFC 8463 A.2 (RFC 8032 7.1 test 1): the Ed25519 seed and its published key. */
#define RFC8463_SEED "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
#define RFC8463_RECORD "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

/* The keys the rows are made of, made once. */
struct keys {
	EVP_PKEY *rsa1024, *rsa2048, *ed25519, *ec;
};

enum form { PKCS8, TRADITIONAL, ENCRYPTED, PUBLIC };

static EVP_PKEY *keygen(const char *type, size_t bits)
{
	EVP_PKEY *k = bits > 0 ? EVP_PKEY_Q_keygen(NULL, NULL, type, bits) :
	    strcmp(type, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") :
	    EVP_PKEY_Q_keygen(NULL, NULL, type);
	assert_non_null(k);
	return k;
}

static int keys_setup(void **state)
{
	struct keys *ks = calloc(1, sizeof(*ks));
	ks->rsa1024 = keygen("RSA", 1024);
	ks->rsa2048 = keygen("RSA", 2048);
	ks->ed25519 = keygen("ED25519", 0);
	ks->ec = keygen("EC", 0);
	*state = ks;
	return 0;
}

static int keys_teardown(void **state)
{
	struct keys *ks = *state;
	EVP_PKEY_free(ks->rsa1024);
	EVP_PKEY_free(ks->rsa2048);
	EVP_PKEY_free(ks->ed25519);
	EVP_PKEY_free(ks->ec);
	free(ks);
	return 0;
}

/* k as PEM text in the form asked for (malloc'd, NUL-terminated). */
static char *pem_of(EVP_PKEY *k, enum form form)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = 0;
	if (form == PKCS8) {
		ok = PEM_write_bio_PKCS8PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
	} else if (form == ENCRYPTED) {
		ok = PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(), NULL, 0, NULL,
		    (void *)"secret");
	} else if (form == PUBLIC) {
		ok = PEM_write_bio_PUBKEY(bio, k);
	} else {
		/* "RSA PRIVATE KEY": the traditional, type-specific form. */
		OSSL_ENCODER_CTX *e = OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_KEYPAIR, "PEM",
		    "type-specific", NULL);
		ok = e != NULL && OSSL_ENCODER_to_bio(e, bio);
		OSSL_ENCODER_CTX_free(e);
	}
	assert_int_equal(ok, 1);
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *out = calloc(1, (size_t)n + 1);
	memcpy(out, data, (size_t)n);
	BIO_free(bio);
	return out;
}

struct parse_row {
	const char *name;
	int key;		/* 0 rsa1024, 1 rsa2048, 2 ed25519, 3 ec, -1 the text below */
	enum form form;
	const char *text;	/* for key -1 */
	bool ok;
	enum dkim_alg alg;
	unsigned bits;
	const char *why;	/* part of the refusal */
	const char *begin;	/* part of the PEM text itself, checked to be sure of the form */
};

static const struct parse_row parse_rows[] = {
	{ "RSA 2048 PKCS#8", 1, PKCS8, NULL, true, DKIM_ALG_RSA_SHA256, 2048, NULL,
	  "BEGIN PRIVATE KEY" },
	{ "RSA 2048 traditional", 1, TRADITIONAL, NULL, true, DKIM_ALG_RSA_SHA256, 2048, NULL,
	  "BEGIN RSA PRIVATE KEY" },
	{ "Ed25519 PKCS#8", 2, PKCS8, NULL, true, DKIM_ALG_ED25519_SHA256, 256, NULL,
	  "BEGIN PRIVATE KEY" },
	{ "RSA 1024 (RFC 8301)", 0, PKCS8, NULL, false, 0, 0, "1024 bits", NULL },
	{ "RSA 1024 traditional", 0, TRADITIONAL, NULL, false, 0, 0, "1024 bits", NULL },
	{ "EC P-256", 3, PKCS8, NULL, false, 0, 0, "key type EC", NULL },
	{ "EC traditional", 3, TRADITIONAL, NULL, false, 0, 0, "key type EC",
	  "BEGIN EC PRIVATE KEY" },
	{ "encrypted", 1, ENCRYPTED, NULL, false, 0, 0, "encrypted", "BEGIN ENCRYPTED" },
	{ "public key", 1, PUBLIC, NULL, false, 0, 0, "public key", "BEGIN PUBLIC KEY" },
	{ "garbage", -1, PKCS8, "not a key at all", false, 0, 0, "no PEM block", NULL },
	{ "empty", -1, PKCS8, "", false, 0, 0, "no PEM block", NULL },
	{ "bad base64", -1, PKCS8, "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
	  false, 0, 0, "no private key", NULL },
	{ "truncated", -1, PKCS8, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1h\n"
	  "-----END PRIVATE KEY-----\n", false, 0, 0, "no private key", NULL },
	{ "certificate", -1, PKCS8, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
	  false, 0, 0, "no private key", NULL },
};

static void test_parse_rows(void **state)
{
	struct keys *ks = *state;
	EVP_PKEY *by[] = { ks->rsa1024, ks->rsa2048, ks->ed25519, ks->ec };
	for (size_t r = 0; r < sizeof(parse_rows) / sizeof(parse_rows[0]); r++) {
		const struct parse_row *row = &parse_rows[r];
		char *pem = row->key >= 0 ? pem_of(by[row->key], row->form) : strdup(row->text);
		if (row->begin != NULL && strstr(pem, row->begin) == NULL)
			fail_msg("%s: the test's PEM has no \"%s\"", row->name, row->begin);
		char err[256] = "";
		struct dkim_key *k = dkim_key_parse(pem, strlen(pem), err, sizeof(err));
		if ((k != NULL) != row->ok)
			fail_msg("%s: got %s (\"%s\"), want %s", row->name, k ? "a key" : "a refusal",
			    err, row->ok ? "a key" : "a refusal");
		if (k != NULL) {
			if (dkim_key_alg(k) != row->alg || dkim_key_bits(k) != row->bits)
				fail_msg("%s: got %s of %u bits, want %s of %u", row->name,
				    dkim_alg_name(dkim_key_alg(k)), dkim_key_bits(k),
				    dkim_alg_name(row->alg), row->bits);
		} else if (strstr(err, row->why) == NULL) {
			fail_msg("%s: why got \"%s\", want it to hold \"%s\"", row->name, err, row->why);
		}
		/* A refusal never repeats the key's text. */
		if (k == NULL && strstr(err, "MII") != NULL)
			fail_msg("%s: the reason \"%s\" holds key text", row->name, err);
		dkim_key_free(k);
		free(pem);
	}
	/* A larger buffer than any key file is refused before OpenSSL sees it. */
	size_t big = DKIM_KEY_PEM_MAX + 1;
	char *pem = malloc(big);
	memset(pem, 'A', big);
	char err[128];
	assert_null(dkim_key_parse(pem, big, err, sizeof(err)));
	assert_non_null(strstr(err, "at most"));
	free(pem);
	/* No room for a reason is fine. */
	assert_null(dkim_key_parse("x", 1, NULL, 0));
}

/*
 * A damaged key: its private exponents changed (d, and the CRT exponent
 * OpenSSL would otherwise fall back from) so that what it signs does not
 * verify with its public half. It must be refused, not used to sign mail
 * nobody can verify.
 */
static void test_damaged_key_refused(void **state)
{
	struct keys *ks = *state;
	BIGNUM *d = NULL, *dp = NULL;
	assert_int_equal(EVP_PKEY_get_bn_param(ks->rsa2048, "d", &d), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(ks->rsa2048, "rsa-exponent1", &dp), 1);
	BN_add_word(d, 2);
	BN_add_word(dp, 2);
	OSSL_PARAM *params = NULL;
	assert_int_equal(EVP_PKEY_todata(ks->rsa2048, EVP_PKEY_KEYPAIR, &params), 1);
	for (OSSL_PARAM *p = params; p->key != NULL; p++) {
		if (strcmp(p->key, "d") == 0)
			assert_int_equal(OSSL_PARAM_set_BN(p, d), 1);
		else if (strcmp(p->key, "rsa-exponent1") == 0)
			assert_int_equal(OSSL_PARAM_set_BN(p, dp), 1);
	}
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *bad = NULL;
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &bad, EVP_PKEY_KEYPAIR, params), 1);
	char *pem = pem_of(bad, PKCS8);
	char err[256] = "";
	struct dkim_key *k = dkim_key_parse(pem, strlen(pem), err, sizeof(err));
	if (k != NULL)
		fail_msg("a damaged RSA key: got a key, want a refusal");
	if (strstr(err, "do not agree") == NULL)
		fail_msg("a damaged RSA key: why got \"%s\", want \"do not agree\"", err);
	free(pem);
	EVP_PKEY_free(bad);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	BN_free(d);
	BN_free(dp);
}

/* The base64 after "p=" in a record, decoded into out; its length. */
static size_t record_p(const char *rec, unsigned char *out, size_t cap)
{
	const char *p = strstr(rec, "; p=");
	assert_non_null(p);
	p += 4;
	size_t n = strlen(p);
	assert_true(n % 4 == 0 && n / 4 * 3 <= cap);
	int got = EVP_DecodeBlock(out, (const unsigned char *)p, (int)n);
	assert_true(got > 0);
	return (size_t)got - (n >= 1 && p[n - 1] == '=') - (n >= 2 && p[n - 2] == '=');
}

/* RSA: "v=DKIM1; k=rsa; p=" and the key's own SubjectPublicKeyInfo. */
static void test_record_rsa(void **state)
{
	struct keys *ks = *state;
	char *pem = pem_of(ks->rsa2048, PKCS8);
	struct dkim_key *k = dkim_key_parse(pem, strlen(pem), NULL, 0);
	assert_non_null(k);
	char *rec = dkim_key_dns_record(k);
	if (strncmp(rec, "v=DKIM1; k=rsa; p=MII", 21) != 0)
		fail_msg("RSA record: got \"%.30s...\", want \"v=DKIM1; k=rsa; p=MII...\"", rec);
	unsigned char der[1024];
	size_t n = record_p(rec, der, sizeof(der));
	const unsigned char *d = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &d, (long)n);
	assert_non_null(pub);
	assert_int_equal(EVP_PKEY_eq(pub, ks->rsa2048), 1);
	EVP_PKEY_free(pub);
	free(rec);
	dkim_key_free(k);
	free(pem);
}

/* Ed25519: RFC 8463 A.2's key gives RFC 8463's record, the raw key in base64. */
static void test_record_ed25519_rfc8463(void **state)
{
	(void)state;
	unsigned char seed[48];
	assert_int_equal(EVP_DecodeBlock(seed, (const unsigned char *)RFC8463_SEED, 44), 33);
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	assert_non_null(pk);
	char *pem = pem_of(pk, PKCS8);
	struct dkim_key *k = dkim_key_parse(pem, strlen(pem), NULL, 0);
	assert_non_null(k);
	char *rec = dkim_key_dns_record(k);
	if (strcmp(rec, RFC8463_RECORD) != 0)
		fail_msg("Ed25519 record: got \"%s\", want \"%s\"", rec, RFC8463_RECORD);
	free(rec);
	dkim_key_free(k);
	free(pem);
	EVP_PKEY_free(pk);
}

/* The PKCS#8 PEM written reads back as the same key. */
static void test_private_pem_round_trip(void **state)
{
	struct keys *ks = *state;
	/* Ed25519 has no traditional form. */
	EVP_PKEY *by[] = { ks->rsa2048, ks->ed25519 };
	enum form forms[] = { TRADITIONAL, PKCS8 };
	for (size_t i = 0; i < 2; i++) {
		char *pem = pem_of(by[i], forms[i]);
		struct dkim_key *k = dkim_key_parse(pem, strlen(pem), NULL, 0);
		assert_non_null(k);
		size_t len;
		char *out = dkim_key_private_pem(k, &len);
		assert_int_equal(strlen(out), len);
		if (strncmp(out, "-----BEGIN PRIVATE KEY-----\n", 28) != 0)
			fail_msg("key %zu: got \"%.28s\", want a PKCS#8 PEM", i, out);
		struct dkim_key *again = dkim_key_parse(out, len, NULL, 0);
		assert_non_null(again);
		char *r1 = dkim_key_dns_record(k), *r2 = dkim_key_dns_record(again);
		if (strcmp(r1, r2) != 0)
			fail_msg("key %zu: record got \"%s\" after the round trip, want \"%s\"", i, r2, r1);
		free(r1);
		free(r2);
		dkim_key_pem_free(out, len);
		dkim_key_free(again);
		dkim_key_free(k);
		free(pem);
	}
	dkim_key_pem_free(NULL, 0);
	dkim_key_free(NULL);
}

struct gen_row {
	enum dkim_alg alg;
	unsigned bits;
	bool ok;
	unsigned want_bits;
	const char *why;
};

static const struct gen_row gen_rows[] = {
	{ DKIM_ALG_RSA_SHA256, 2048, true, 2048, NULL },
	{ DKIM_ALG_ED25519_SHA256, 0, true, 256, NULL },
	{ DKIM_ALG_ED25519_SHA256, 1024, true, 256, NULL },
	{ DKIM_ALG_RSA_SHA256, 1024, false, 0, "1024 bits" },
	{ DKIM_ALG_RSA_SHA256, 2047, false, 0, "2048 to 4096" },
	{ DKIM_ALG_RSA_SHA256, 4097, false, 0, "2048 to 4096" },
	{ DKIM_ALG_RSA_SHA256, 0, false, 0, "0 bits" },
	{ (enum dkim_alg)7, 2048, false, 0, "unknown algorithm" },
};

static void test_generate_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(gen_rows) / sizeof(gen_rows[0]); r++) {
		const struct gen_row *row = &gen_rows[r];
		char err[128] = "";
		struct dkim_key *k = dkim_key_generate(row->alg, row->bits, err, sizeof(err));
		if ((k != NULL) != row->ok)
			fail_msg("row %zu: got %s (\"%s\"), want %s", r, k ? "a key" : "a refusal", err,
			    row->ok ? "a key" : "a refusal");
		if (k != NULL && (dkim_key_alg(k) != row->alg || dkim_key_bits(k) != row->want_bits))
			fail_msg("row %zu: got %s of %u bits, want %s of %u", r,
			    dkim_alg_name(dkim_key_alg(k)), dkim_key_bits(k), dkim_alg_name(row->alg),
			    row->want_bits);
		if (k == NULL && strstr(err, row->why) == NULL)
			fail_msg("row %zu: why got \"%s\", want it to hold \"%s\"", r, err, row->why);
		dkim_key_free(k);
	}
}

static void test_alg_names(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool ok;
		enum dkim_alg alg;
	} rows[] = {
		{ "rsa-sha256", true, DKIM_ALG_RSA_SHA256 },
		{ "ed25519-sha256", true, DKIM_ALG_ED25519_SHA256 },
		{ "rsa-sha1", false, 0 },
		{ "RSA-SHA256", false, 0 },
		{ "ed25519", false, 0 },
		{ "", false, 0 },
		{ NULL, false, 0 },
	};
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		enum dkim_alg got = (enum dkim_alg)99;
		bool ok = dkim_alg_parse(rows[r].text, &got);
		if (ok != rows[r].ok || (ok && got != rows[r].alg))
			fail_msg("\"%s\": got %d/%d, want %d/%d", rows[r].text ? rows[r].text : "(null)",
			    ok, (int)got, rows[r].ok, (int)rows[r].alg);
		if (!ok && got != (enum dkim_alg)99)
			fail_msg("\"%s\": refused but the output was written", rows[r].text);
		if (ok && strcmp(dkim_alg_name(got), rows[r].text) != 0)
			fail_msg("name of %d: got \"%s\", want \"%s\"", (int)got, dkim_alg_name(got),
			    rows[r].text);
	}
	assert_string_equal(dkim_alg_name((enum dkim_alg)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rows),
		cmocka_unit_test(test_damaged_key_refused),
		cmocka_unit_test(test_record_rsa),
		cmocka_unit_test(test_record_ed25519_rfc8463),
		cmocka_unit_test(test_private_pem_round_trip),
		cmocka_unit_test(test_generate_rows),
		cmocka_unit_test(test_alg_names),
	};
	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
