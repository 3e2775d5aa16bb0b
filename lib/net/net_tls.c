/*
 * net_tls: OpenSSL contexts for the client and server sides of SMTP TLS.
 *
 * Owns: the TLS 1.2 floor, CA loading (a file or the system store), the
 * verification mode, certificate and key loading with a check that they
 * match, and the text of a failure (which file, and OpenSSL's reason).
 * Never: touches a socket; never logs key material.
 */
#include "net/net_tls.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/*
 * The text behind *err. The interface promises a static or thread-local
 * text, so each thread keeps its own last failure; nothing else is kept.
 */
static _Thread_local char net_tls_errbuf[512];

/* Format "<what> <file>: <OpenSSL reason>" into the thread's error text. */
static const char *net_tls_fail(const char *what, const char *file)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	if (reason == NULL)
		reason = "unknown error";
	if (file != NULL)
		snprintf(net_tls_errbuf, sizeof(net_tls_errbuf), "%s %s: %s", what, file, reason);
	else
		snprintf(net_tls_errbuf, sizeof(net_tls_errbuf), "%s: %s", what, reason);
	ERR_clear_error();
	return net_tls_errbuf;
}

/* Settings both directions share: TLS 1.2 floor, no renegotiation, no compression. */
static int net_tls_common(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* The bufferevent filter may hand SSL_write a moved buffer on retry. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return 0;
}

SSL_CTX *net_tls_client_ctx(const char *ca_file, bool verify, const char **err)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		*err = net_tls_fail("cannot create TLS client context", NULL);
		return NULL;
	}
	if (net_tls_common(ctx) != 0) {
		*err = net_tls_fail("cannot set the TLS 1.2 floor", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/*
	 * The CA store is loaded even without verify, so that
	 * net_conn_tls_verified() can still say whether the peer would have
	 * passed.
	 */
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			*err = net_tls_fail("cannot load CA file", ca_file);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		*err = net_tls_fail("cannot load the system CA store", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	return ctx;
}

SSL_CTX *net_tls_server_ctx(const char *cert_file, const char *key_file, const char **err)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*err = net_tls_fail("cannot create TLS server context", NULL);
		return NULL;
	}
	if (net_tls_common(ctx) != 0) {
		*err = net_tls_fail("cannot set the TLS 1.2 floor", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		*err = net_tls_fail("cannot load certificate", cert_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		/* OpenSSL already compares the key with the certificate here. */
		bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
		*err = net_tls_fail(mismatch ? "private key does not match the certificate" :
		    "cannot load private key", key_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*err = net_tls_fail("private key does not match the certificate", key_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* SMTP peers rarely resume; a cache per process is cheap and harmless. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mxrelay", 7);
	return ctx;
}

void net_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
