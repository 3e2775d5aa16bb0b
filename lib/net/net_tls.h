/*
 * net_tls: OpenSSL contexts for both directions.
 *
 * Owns: protocol floor (TLS 1.2), certificate/key loading, CA loading and
 * the verification settings; SSL_CTX lifetime. Never: does socket I/O.
 */
#ifndef MXR_NET_TLS_H
#define MXR_NET_TLS_H

#include <stdbool.h>

typedef struct ssl_ctx_st SSL_CTX;

/*
 * A client context. verify: check the peer chain against ca_file (or the
 * system store when ca_file is NULL) and the host name given at handshake.
 * Without verify, any certificate is accepted (opportunistic TLS), but the
 * outcome is still recorded by net_conn_tls_verified().
 * Returns NULL with *err (a static or thread-local text) on failure.
 */
SSL_CTX *net_tls_client_ctx(const char *ca_file, bool verify, const char **err);
/* A server context from PEM files; returns NULL with *err (names the file). */
SSL_CTX *net_tls_server_ctx(const char *cert_file, const char *key_file, const char **err);
void net_tls_ctx_free(SSL_CTX *ctx);

#endif
