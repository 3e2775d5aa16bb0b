/*
 * tpki: certificates for the lib/net tests (see tpki.h).
 */
#include "tpki.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/net_tls.h"

/* A random serial number, so that no two test certificates look alike to a store. */
static void tpki_serial(X509 *x)
{
	uint32_t r = 0;
	assert_int_equal(RAND_bytes((unsigned char *)&r, sizeof(r)), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(r >> 1) + 1);
}

/* Add extension nid with value (config syntax) to x, issued by issuer. */
static void tpki_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for cn with a fresh key, everything but the names and the signature. */
static struct tpki *tpki_start(const char *cn, const struct tpki *issuer, bool ca,
    long not_before_s, long not_after_s)
{
	struct tpki *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->k = EVP_EC_gen("P-256");
	p->x = X509_new();
	assert_non_null(p->k);
	assert_non_null(p->x);
	X509_set_version(p->x, 2);
	tpki_serial(p->x);
	X509_gmtime_adj(X509_getm_notBefore(p->x), not_before_s);
	X509_gmtime_adj(X509_getm_notAfter(p->x), not_after_s);
	X509_NAME *n = X509_get_subject_name(p->x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(p->x, issuer != NULL ? X509_get_subject_name(issuer->x) : n);
	X509_set_pubkey(p->x, p->k);
	X509 *ix = issuer != NULL ? issuer->x : p->x;
	tpki_ext(p->x, ix, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	tpki_ext(p->x, ix, NID_key_usage,
	    ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	tpki_ext(p->x, ix, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		tpki_ext(p->x, ix, NID_authority_key_identifier, "keyid:always");
	return p;
}

/* Sign p with issuer's key (its own when issuer is NULL). */
static void tpki_sign(struct tpki *p, const struct tpki *issuer)
{
	EVP_PKEY *k = issuer != NULL ? issuer->k : p->k;
	assert_true(X509_sign(p->x, k, EVP_sha256()) > 0);
}

struct tpki *tpki_issue(const char *cn, const char *const *dns, const struct tpki *issuer,
    bool ca, long not_before_s, long not_after_s)
{
	struct tpki *p = tpki_start(cn, issuer, ca, not_before_s, not_after_s);
	if (dns != NULL && dns[0] != NULL) {
		char san[512] = "";
		size_t used = 0;
		for (size_t i = 0; dns[i] != NULL; i++) {
			int n = snprintf(san + used, sizeof(san) - used, "%sDNS:%s", i > 0 ? "," : "", dns[i]);
			assert_true(n > 0 && (size_t)n < sizeof(san) - used);
			used += (size_t)n;
		}
		tpki_ext(p->x, issuer != NULL ? issuer->x : p->x, NID_subject_alt_name, san);
	}
	tpki_sign(p, issuer);
	return p;
}

struct tpki *tpki_issue_raw_dns(const char *cn, const char *dns, size_t dnslen,
    const struct tpki *issuer)
{
	struct tpki *p = tpki_start(cn, issuer, false, -3600, 86400);
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	assert_true(gens != NULL && g != NULL && s != NULL);
	assert_int_equal(ASN1_STRING_set(s, dns, (int)dnslen), 1);
	GENERAL_NAME_set0_value(g, GEN_DNS, s);
	assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
	assert_int_equal(X509_add1_ext_i2d(p->x, NID_subject_alt_name, gens, 0, 0), 1);
	GENERAL_NAMES_free(gens);
	tpki_sign(p, issuer);
	return p;
}

void tpki_free(struct tpki *p)
{
	if (p == NULL)
		return;
	X509_free(p->x);
	EVP_PKEY_free(p->k);
	free(p);
}

/* Append the PEM of x to b. */
static void tpki_pem_x509(BIO *b, X509 *x)
{
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
}

SSL_CTX *tpki_server_ctx(const struct tpki *leaf, const struct tpki *const *chain, size_t n)
{
	BIO *cb = BIO_new(BIO_s_mem());
	BIO *kb = BIO_new(BIO_s_mem());
	assert_true(cb != NULL && kb != NULL);
	tpki_pem_x509(cb, leaf->x);
	for (size_t i = 0; i < n; i++)
		tpki_pem_x509(cb, chain[i]->x);
	assert_int_equal(PEM_write_bio_PrivateKey(kb, leaf->k, NULL, NULL, 0, NULL, NULL), 1);
	char *cp = NULL, *kp = NULL;
	long clen = BIO_get_mem_data(cb, &cp);
	long klen = BIO_get_mem_data(kb, &kp);
	const char *err = NULL;
	SSL_CTX *ctx = net_tls_server_ctx_pem(cp, (size_t)clen, kp, (size_t)klen, "cert", "key", NULL,
	    &err);
	if (ctx == NULL)
		fail_msg("server context: %s", err);
	BIO_free(cb);
	BIO_free(kb);
	return ctx;
}

void tpki_write_certs(const char *path, const struct tpki *const *certs, size_t n)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(PEM_write_X509(f, certs[i]->x), 1);
	assert_int_equal(fclose(f), 0);
}

size_t tpki_tlsa_data(const struct tpki *p, uint8_t selector, uint8_t mtype, uint8_t *out,
    size_t cap)
{
	unsigned char *der = NULL;
	int len = selector == 0 ? i2d_X509(p->x, &der) : i2d_PUBKEY(p->k, &der);
	assert_true(len > 0);
	size_t n = 0;
	if (mtype == 0) {
		assert_true((size_t)len <= cap);
		memcpy(out, der, (size_t)len);
		n = (size_t)len;
	} else {
		unsigned int mdlen = 0;
		assert_true(cap >= 64);
		assert_int_equal(EVP_Digest(der, (size_t)len, out, &mdlen,
		    mtype == 1 ? EVP_sha256() : EVP_sha512(), NULL), 1);
		n = mdlen;
	}
	OPENSSL_free(der);
	return n;
}
