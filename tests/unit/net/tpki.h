/*
 * tpki: a small certificate factory for the lib/net tests (DANE, PKIX
 * names, HTTPS): roots, intermediates and server certificates made in
 * memory with OpenSSL, their PEM, and TLSA record data.
 *
 * Owns: the keys and certificates it makes (tpki_free).
 * Never: used by the code under test; writes files other than those the
 * test names.
 */
#ifndef MXR_TPKI_H
#define MXR_TPKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct ssl_ctx_st SSL_CTX;

struct tpki {
	X509 *x;
	EVP_PKEY *k;
};

/*
 * A certificate for cn with the DNS names in dns (a NULL-terminated list,
 * or NULL for none), signed by issuer (NULL: self-signed), a CA when ca,
 * valid from now + not_before_s to now + not_after_s. Fails the test on
 * error.
 */
struct tpki *tpki_issue(const char *cn, const char *const *dns, const struct tpki *issuer,
    bool ca, long not_before_s, long not_after_s);
/* One DNS name of raw octets (control characters, quotes: hostile names). */
struct tpki *tpki_issue_raw_dns(const char *cn, const char *dns, size_t dnslen,
    const struct tpki *issuer);
void tpki_free(struct tpki *p);

/*
 * A server context (net_tls_server_ctx_pem) presenting leaf and then the
 * n certificates of chain.
 */
SSL_CTX *tpki_server_ctx(const struct tpki *leaf, const struct tpki *const *chain, size_t n);
/* Write the certificates (PEM) to path, for a CA file. */
void tpki_write_certs(const char *path, const struct tpki *const *certs, size_t n);
/*
 * TLSA record data of p: selector 0 (certificate) or 1 (SPKI), matching
 * type 0 (full), 1 (SHA-256) or 2 (SHA-512), into out (cap octets).
 * Returns the length.
 */
size_t tpki_tlsa_data(const struct tpki *p, uint8_t selector, uint8_t mtype, uint8_t *out,
    size_t cap);

#endif
