/*
 * net_tls: OpenSSL contexts for both directions, and what a client checks
 * the server of one connection against.
 *
 * Owns: protocol floor (TLS 1.2), certificate/key loading, CA loading and
 * the verification settings; SSL_CTX lifetime; DANE (RFC 7672, through
 * OpenSSL's DANE support, enabled on every client context) and PKIX
 * against a list of reference names; the typed verdict of a handshake.
 * Never: does socket I/O, looks up TLSA records, or decides a policy (the
 * caller says what to check; net_conn reports what held).
 */
#ifndef MXR_NET_TLS_H
#define MXR_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ssl_ctx_st SSL_CTX;

/* One TLSA record (RFC 6698): data is borrowed for the call it is passed to. */
struct net_tls_tlsa {
	uint8_t usage, selector, mtype;
	const uint8_t *data;
	size_t len;
};

/*
 * What to check the server of one outbound connection against. Borrowed
 * for the call it is passed to: the connection copies what it keeps.
 *   sni: the server name sent, or NULL (under DANE: tlsa_base).
 *   names: reference identifiers for the name check of PKIX and
 *     DANE-TA(2); a name beginning with "." matches any subdomain of it
 *     (Postfix's ".example.com"); wildcards as RFC 6125, never partial
 *     ("mx*.example.com"). NULL/0: no name check.
 *   tlsa: DANE records. Only DANE-TA(2) and DANE-EE(3) are usable for
 *     SMTP (RFC 7672 3.1.3): PKIX-TA(0) and PKIX-EE(1) are ignored, as is
 *     any record OpenSSL cannot use. NULL/0: no DANE.
 *   tlsa_base: the TLSA base domain (required with tlsa): the default SNI
 *     and the first reference identifier under DANE.
 * Under DANE the CA store is not consulted (only the TLSA records are
 * trust anchors) and DANE-EE(3) skips name and date checks (RFC 7672
 * 3.1.1). When tlsa holds no usable record, the connection is checked as
 * PKIX against tlsa_base and names: RFC 7672 2.2 makes it unauthenticated
 * mandatory TLS, which the caller (who asked net_tls_tlsa_usable) decides.
 */
struct net_tls_peer {
	const char *sni;
	const char *const *names;
	size_t nnames;
	const struct net_tls_tlsa *tlsa;
	size_t ntlsa;
	const char *tlsa_base;
};

/* What authenticated the server, after the handshake. */
enum net_tls_auth {
	NET_TLS_AUTH_NONE,	/* nothing: unauthenticated, or verification failed */
	NET_TLS_AUTH_PKIX,	/* the chain verified to the CA store and a name (if any given) matched */
	NET_TLS_AUTH_DANE_TA,	/* DANE-TA(2): a chain to a TLSA trust anchor, and a name matched */
	NET_TLS_AUTH_DANE_EE,	/* DANE-EE(3): the certificate or key matched a TLSA record */
};

/* Why verification failed; each maps onto an RFC 8460 result type (net_tls_fail_name). */
enum net_tls_fail {
	NET_TLS_FAIL_NONE,
	NET_TLS_FAIL_HOST_MISMATCH,	/* certificate-host-mismatch */
	NET_TLS_FAIL_EXPIRED,		/* certificate-expired (or not yet valid) */
	NET_TLS_FAIL_NOT_TRUSTED,	/* certificate-not-trusted: no chain to the store */
	NET_TLS_FAIL_TLSA_MISMATCH,	/* validation-failure: no TLSA record matched */
	NET_TLS_FAIL_OTHER,		/* validation-failure for another reason */
};

/*
 * How many of rrs OpenSSL's DANE would use for SMTP: usage 2 or 3,
 * selector 0 or 1, matching type 0 (a certificate or key that parses), 1
 * (32 octets) or 2 (64 octets). 0 means "all records unusable" (RFC 7672
 * 2.2). The same test the connection applies, so the engine can decide
 * before connecting.
 */
size_t net_tls_tlsa_usable(const struct net_tls_tlsa *rrs, size_t n);
/* "none", "pkix", "dane-ta", "dane-ee": for logs. */
const char *net_tls_auth_name(enum net_tls_auth a);
/* The RFC 8460 result type of a failure ("certificate-expired", ...); "" for NONE. */
const char *net_tls_fail_name(enum net_tls_fail f);

/*
 * A client context. verify: check the peer chain against ca_file (or the
 * system store when ca_file is NULL) and the host name given at handshake,
 * aborting the handshake when it fails. Without verify, any certificate is
 * accepted (opportunistic TLS), but the outcome is still recorded by
 * net_conn_tls_verified(). DANE is enabled on every client context; a
 * connection started with a struct net_tls_peer always completes the
 * handshake and is judged afterwards, whichever verify says.
 * Returns NULL with *err (a static or thread-local text) on failure.
 */
SSL_CTX *net_tls_client_ctx(const char *ca_file, bool verify, const char **err);
/* Which of the two files a server context failed on. */
enum net_tls_file { NET_TLS_CERT_FILE, NET_TLS_KEY_FILE };
/*
 * A server context from PEM files; returns NULL with *err (names the file
 * and says what the system or OpenSSL said: "Permission denied", "not a
 * PEM certificate", "does not match the certificate") and, when at is not
 * NULL, *at (which file).
 */
SSL_CTX *net_tls_server_load(const char *cert_file, const char *key_file, enum net_tls_file *at,
    const char **err);
/*
 * The same from PEM text in memory (cert_pem: the certificate, then its
 * chain), as read by a process that may open the files; the names only
 * label the errors.
 */
SSL_CTX *net_tls_server_ctx_pem(const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, const char *cert_name, const char *key_name, enum net_tls_file *at,
    const char **err);
SSL_CTX *net_tls_server_ctx(const char *cert_file, const char *key_file, const char **err);
/*
 * Whether the context's certificate is outside its validity period at
 * now: 0 when valid, else 1 with "expired on DATE" or "not valid before
 * DATE" in why.
 */
int net_tls_cert_validity(SSL_CTX *ctx, long long now, char *why, size_t whylen);
void net_tls_ctx_free(SSL_CTX *ctx);

#endif
