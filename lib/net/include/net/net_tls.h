/*
 * net_tls: OpenSSL contexts for both directions.
 *
 * Owns: protocol floor (TLS 1.2), certificate/key loading, CA loading and
 * the verification settings; SSL_CTX lifetime. Never: does socket I/O.
 */
#ifndef MXR_NET_TLS_H
#define MXR_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

/*
 * A client context. verify: check the peer chain against ca_file (or the
 * system store when ca_file is NULL) and the host name given at handshake.
 * Without verify, any certificate is accepted (opportunistic TLS), but the
 * outcome is still recorded by net_conn_tls_verified().
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
