/*
 * dkim_key: DKIM signing keys over OpenSSL's EVP_PKEY.
 *
 * Owns: the EVP_PKEY of each key and the checks that make it a DKIM key
 * (RSA of 2048..4096 bits, or Ed25519; a signature it makes verifies with
 * its public half); PEM in and out; the public key's TXT record data.
 * Never: prompts for a passphrase; puts key octets into an error text;
 * leaves private PEM in memory it frees without cleansing it; leaves
 * OpenSSL's error queue filled for the next caller.
 */
#include "dkim/dkim_key.h"
#include "dkim_key_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim_buf.h"
#include "util/log.h"
#include "util/xalloc.h"

/* The raw Ed25519 public key of RFC 8463 4.2. */
#define DKIM_KEY_ED25519_RAW 32
/* A record's text: "v=DKIM1; k=rsa; p=" and the base64 of a 4096-bit key's SPKI. */
#define DKIM_KEY_RECORD_MAX 1024

struct dkim_key {
	EVP_PKEY *pkey;		/* owned: EVP_PKEY_free */
	enum dkim_alg alg;
	unsigned bits;
};

void dkim_fail(char *err, size_t errlen, const char *fmt, ...)
{
	ERR_clear_error();
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* PEM's passphrase callback: there is none to give, so an encrypted key fails to read. */
static int key_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Whether s[0..len) holds word (not NUL-terminated text: a bounded search). */
static bool key_has(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (memcmp(s + i, word, n) == 0)
			return true;
	return false;
}

/*
 * Whether pkey signs what its own public half verifies: a signature over
 * a fixed text, checked. A damaged private key would otherwise sign mail
 * nobody can verify against the published record. (OpenSSL's
 * EVP_PKEY_pairwise_check does more for RSA, primality tests of p and q,
 * and takes some 25 ms for a 2048-bit key: too long for a reload with
 * many keys; this takes one signature and one verification.)
 */
static bool key_selftest(EVP_PKEY *pkey, enum dkim_alg alg)
{
	static const unsigned char text[] = "mxrelay dkim_key self-test";
	unsigned char sig[DKIM_KEY_RSA_MAX_BITS / 8];
	size_t siglen = sizeof(sig);
	const EVP_MD *md = alg == DKIM_ALG_RSA_SHA256 ? EVP_sha256() : NULL;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	if (m == NULL)
		panic("dkim_key: OpenSSL could not allocate a digest context");
	bool ok = EVP_DigestSignInit(m, NULL, md, NULL, pkey) == 1 &&
	    EVP_DigestSign(m, sig, &siglen, text, sizeof(text)) == 1;
	EVP_MD_CTX_free(m);
	if (!ok)
		return false;
	m = EVP_MD_CTX_new();
	if (m == NULL)
		panic("dkim_key: OpenSSL could not allocate a digest context");
	ok = EVP_DigestVerifyInit(m, NULL, md, NULL, pkey) == 1 &&
	    EVP_DigestVerify(m, sig, siglen, text, sizeof(text)) == 1;
	EVP_MD_CTX_free(m);
	return ok;
}

/*
 * Take pkey into a new key when it is one DKIM signs with; else free it
 * and NULL with why. Also checks that the private and public halves agree.
 */
static struct dkim_key *key_adopt(EVP_PKEY *pkey, char *err, size_t errlen)
{
	enum dkim_alg alg;
	int id = EVP_PKEY_get_base_id(pkey);
	unsigned bits = (unsigned)EVP_PKEY_get_bits(pkey);
	if (id == EVP_PKEY_RSA) {
		alg = DKIM_ALG_RSA_SHA256;
		if (bits < DKIM_KEY_RSA_MIN_BITS || bits > DKIM_KEY_RSA_MAX_BITS) {
			dkim_fail(err, errlen, "an RSA key of %u bits: DKIM keys here are %u to %u bits "
			    "(RFC 8301 3.2)", bits, DKIM_KEY_RSA_MIN_BITS, DKIM_KEY_RSA_MAX_BITS);
			EVP_PKEY_free(pkey);
			return NULL;
		}
	} else if (id == EVP_PKEY_ED25519) {
		alg = DKIM_ALG_ED25519_SHA256;
	} else {
		const char *type = EVP_PKEY_get0_type_name(pkey);
		dkim_fail(err, errlen, "key type %s: DKIM signs with RSA (rsa-sha256) or Ed25519 "
		    "(ed25519-sha256) only", type != NULL ? type : "unknown");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	if (!key_selftest(pkey, alg)) {
		dkim_fail(err, errlen, "the key's private and public halves do not agree");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	ERR_clear_error();
	struct dkim_key *k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	k->alg = alg;
	k->bits = bits;
	return k;
}

struct dkim_key *dkim_key_parse(const char *pem, size_t len, char *err, size_t errlen)
{
	if (len > DKIM_KEY_PEM_MAX) {
		dkim_fail(err, errlen, "%zu octets: a key file holds at most %u", len, DKIM_KEY_PEM_MAX);
		return NULL;
	}
	if (!key_has(pem, len, "-----BEGIN ")) {
		dkim_fail(err, errlen, "no PEM block (\"-----BEGIN ...\")");
		return NULL;
	}
	/* "BEGIN ENCRYPTED PRIVATE KEY" (PKCS#8) or "Proc-Type: 4,ENCRYPTED" (traditional). */
	if (key_has(pem, len, "ENCRYPTED")) {
		dkim_fail(err, errlen, "an encrypted key: the key must be stored unencrypted "
		    "(and readable by root only)");
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		panic("dkim_key: OpenSSL could not allocate a memory BIO");
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, key_no_passphrase, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		dkim_fail(err, errlen, key_has(pem, len, "PUBLIC KEY") ?
		    "a public key: the private key is needed to sign" :
		    "no private key in PEM (PKCS#8 \"PRIVATE KEY\" or \"RSA PRIVATE KEY\") could be read");
		return NULL;
	}
	return key_adopt(pkey, err, errlen);
}

EVP_PKEY *dkim_key_pkey(const struct dkim_key *k)
{
	return k->pkey;
}

enum dkim_alg dkim_key_alg(const struct dkim_key *k)
{
	return k->alg;
}

unsigned dkim_key_bits(const struct dkim_key *k)
{
	return k->bits;
}

const char *dkim_alg_name(enum dkim_alg a)
{
	switch (a) {
	case DKIM_ALG_RSA_SHA256: return "rsa-sha256";
	case DKIM_ALG_ED25519_SHA256: return "ed25519-sha256";
	}
	return "unknown";
}

bool dkim_alg_parse(const char *s, enum dkim_alg *out)
{
	if (s == NULL)
		return false;
	if (strcmp(s, "rsa-sha256") == 0)
		*out = DKIM_ALG_RSA_SHA256;
	else if (strcmp(s, "ed25519-sha256") == 0)
		*out = DKIM_ALG_ED25519_SHA256;
	else
		return false;
	return true;
}

void dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

struct dkim_key *dkim_key_generate(enum dkim_alg a, unsigned rsa_bits, char *err, size_t errlen)
{
	EVP_PKEY *pkey;
	if (a == DKIM_ALG_RSA_SHA256) {
		if (rsa_bits < DKIM_KEY_RSA_MIN_BITS || rsa_bits > DKIM_KEY_RSA_MAX_BITS) {
			dkim_fail(err, errlen, "%u bits: an RSA key for DKIM has %u to %u (RFC 8301 3.2)",
			    rsa_bits, DKIM_KEY_RSA_MIN_BITS, DKIM_KEY_RSA_MAX_BITS);
			return NULL;
		}
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
	} else if (a == DKIM_ALG_ED25519_SHA256) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	} else {
		dkim_fail(err, errlen, "unknown algorithm %d", (int)a);
		return NULL;
	}
	if (pkey == NULL) {
		unsigned long e = ERR_peek_last_error();
		const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
		dkim_fail(err, errlen, "OpenSSL could not make the key: %s",
		    why != NULL ? why : "unknown error");
		return NULL;
	}
	return key_adopt(pkey, err, errlen);
}

char *dkim_key_private_pem(const struct dkim_key *k, size_t *len)
{
	/* A secure-memory BIO: OpenSSL cleanses its buffer when it grows and when freed. */
	BIO *bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		panic("dkim_key: OpenSSL could not allocate a memory BIO");
	if (PEM_write_bio_PKCS8PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1)
		panic("dkim_key: OpenSSL could not write a key it holds as PKCS#8");
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		panic("dkim_key: OpenSSL wrote an empty PKCS#8 key");
	char *out = xmalloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	*len = (size_t)n;
	return out;
}

void dkim_key_pem_free(char *pem, size_t len)
{
	if (pem == NULL)
		return;
	OPENSSL_cleanse(pem, len);
	free(pem);
}

char *dkim_key_dns_record(const struct dkim_key *k)
{
	struct dkim_buf b;
	dkim_buf_init(&b, DKIM_KEY_RECORD_MAX);
	if (k->alg == DKIM_ALG_RSA_SHA256) {
		/* p= of an RSA key is its SubjectPublicKeyInfo in DER (RFC 6376 3.6.1). */
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(k->pkey, &der);
		if (n <= 0)
			panic("dkim_key: OpenSSL could not write the public key");
		dkim_buf_adds(&b, "v=DKIM1; k=rsa; p=");
		dkim_buf_add_b64(&b, der, (size_t)n);
		OPENSSL_free(der);
	} else {
		/* p= of an Ed25519 key is the raw key alone (RFC 8463 4.2). */
		unsigned char raw[DKIM_KEY_ED25519_RAW];
		size_t n = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1 || n != sizeof(raw))
			panic("dkim_key: OpenSSL could not give the raw Ed25519 public key");
		dkim_buf_adds(&b, "v=DKIM1; k=ed25519; p=");
		dkim_buf_add_b64(&b, raw, n);
	}
	if (b.over)
		panic("dkim_key: the record of a %u-bit key passed %u octets", k->bits,
		    DKIM_KEY_RECORD_MAX);
	return dkim_buf_take(&b, NULL);
}
