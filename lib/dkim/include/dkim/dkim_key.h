/*
 * dkim_key: a DKIM signing key (RFC 6376, RFC 8301, RFC 8463) and what is
 * published for it.
 *
 * Owns: the private key and its algorithm (rsa-sha256 or ed25519-sha256);
 * reading a PEM key from memory with the RFC 8301 size rule; making a new
 * key; writing it back as PKCS#8 PEM; the TXT record data that publishes
 * its public half; the names of the algorithms.
 * Never: reads or writes files, prints or logs key material, or asks for a
 * passphrase (an encrypted key is refused). A key's private octets live
 * only in OpenSSL's object and in the PEM buffers this module hands out,
 * which the caller gives back to dkim_key_pem_free (cleansed).
 *
 * Sizes: an RSA key of 2048 to 4096 bits. Under 2048 is refused (RFC 8301
 * 3.2: signers MUST use at least 1024 and SHOULD use 2048; we hold to the
 * SHOULD). Over 4096 is refused too: RFC 8301 3.2 only asks verifiers to
 * handle up to 4096, so a larger key would fail at some receivers.
 */
#ifndef MXR_DKIM_KEY_H
#define MXR_DKIM_KEY_H

#include <stdbool.h>
#include <stddef.h>

enum dkim_alg {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
};

/* RSA sizes accepted, in bits (see above). */
#define DKIM_KEY_RSA_MIN_BITS 2048u
#define DKIM_KEY_RSA_MAX_BITS 4096u
/* Largest PEM text dkim_key_parse reads (a 4096-bit RSA key is about 3.3 KB). */
#define DKIM_KEY_PEM_MAX (64u * 1024u)

/* Opaque: the private key and its algorithm. */
struct dkim_key;

/*
 * Parse a PEM private key (PKCS#8 "PRIVATE KEY", or traditional
 * "RSA PRIVATE KEY") from pem[0..len). An RSA key outside 2048..4096
 * bits, any other key type, an encrypted key, or anything that is not a
 * private key gives NULL, with why in err (never key material).
 */
struct dkim_key *dkim_key_parse(const char *pem, size_t len, char *err, size_t errlen);

enum dkim_alg dkim_key_alg(const struct dkim_key *k);
/* The key's size: the RSA modulus in bits, 256 for Ed25519. */
unsigned dkim_key_bits(const struct dkim_key *k);

/* "rsa-sha256" or "ed25519-sha256", the a= tag's values. */
const char *dkim_alg_name(enum dkim_alg a);
/* The algorithm named s (exactly as dkim_alg_name writes it); false otherwise, *out untouched. */
bool dkim_alg_parse(const char *s, enum dkim_alg *out);

/* Free a key; NULL is fine. OpenSSL cleanses the private octets. */
void dkim_key_free(struct dkim_key *k);

/*
 * A new key: RSA of rsa_bits (DKIM_KEY_RSA_MIN_BITS..DKIM_KEY_RSA_MAX_BITS),
 * or Ed25519 (rsa_bits is then ignored). NULL with why in err.
 */
struct dkim_key *dkim_key_generate(enum dkim_alg a, unsigned rsa_bits, char *err, size_t errlen);

/*
 * The private key as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), malloc'd
 * and NUL-terminated, *len octets (the NUL not counted). Give it back to
 * dkim_key_pem_free, which cleanses it.
 */
char *dkim_key_private_pem(const struct dkim_key *k, size_t *len);

/* Cleanse pem[0..len) and free it; NULL is fine. */
void dkim_key_pem_free(char *pem, size_t len);

/*
 * The TXT record data to publish at SELECTOR._domainkey.DOMAIN:
 * "v=DKIM1; k=rsa; p=<base64 of the SubjectPublicKeyInfo DER>" or
 * "v=DKIM1; k=ed25519; p=<base64 of the raw 32-octet key>" (RFC 8463 4.2),
 * malloc'd. A DNS TXT string holds 255 octets at most, so the caller
 * splits it when it writes a zone file.
 */
char *dkim_key_dns_record(const struct dkim_key *k);

#endif
