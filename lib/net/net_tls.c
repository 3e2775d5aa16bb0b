/*
 * net_tls: OpenSSL contexts for the client and server sides of SMTP TLS.
 *
 * Owns: the TLS 1.2 floor, CA loading (a file or the system store), the
 * verification mode, certificate and key loading with a check that they
 * match, and the text of a failure (which file, and OpenSSL's reason).
 * Never: touches a socket; never logs key material.
 */
#include "net/net_tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util/file.h"

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
	char ebuf[128];
	/* OpenSSL 3 packs errno into system errors; "system lib" names no cause. */
	if (e != 0 && ERR_SYSTEM_ERROR(e))
		reason = strerror_r(ERR_GET_REASON(e), ebuf, sizeof(ebuf));
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

/* Most octets of a certificate chain or key file read. */
#define NET_TLS_PEM_MAX (1024 * 1024)

/* A failure text that OpenSSL's reason would not improve. */
static const char *net_tls_plain(const char *fmt, const char *file)
{
	ERR_clear_error();
	snprintf(net_tls_errbuf, sizeof(net_tls_errbuf), fmt, file);
	return net_tls_errbuf;
}

/*
 * The files are read whole here, as the caller, and parsed from memory:
 * OpenSSL's own file loading reports an unreadable file as "system lib",
 * which names no cause, and one parser serves files and memory alike.
 */
SSL_CTX *net_tls_server_load(const char *cert_file, const char *key_file, enum net_tls_file *at,
    const char **err)
{
	enum net_tls_file dummy;
	if (at == NULL)
		at = &dummy;
	char ferr[400];
	size_t clen = 0, klen = 0;
	*at = NET_TLS_CERT_FILE;
	char *cert = file_read_all(cert_file, NET_TLS_PEM_MAX, &clen, ferr, sizeof(ferr));
	if (cert == NULL) {
		snprintf(net_tls_errbuf, sizeof(net_tls_errbuf), "certificate %s", ferr);
		*err = net_tls_errbuf;
		return NULL;
	}
	*at = NET_TLS_KEY_FILE;
	char *key = file_read_all(key_file, NET_TLS_PEM_MAX, &klen, ferr, sizeof(ferr));
	if (key == NULL) {
		free(cert);
		snprintf(net_tls_errbuf, sizeof(net_tls_errbuf), "private key %s", ferr);
		*err = net_tls_errbuf;
		return NULL;
	}
	SSL_CTX *ctx = net_tls_server_ctx_pem(cert, clen, key, klen, cert_file, key_file, at, err);
	free(cert);
	explicit_bzero(key, klen);
	free(key);
	return ctx;
}

/*
 * Whether pem[0..len) holds no PEM armour at all: OpenSSL's decoders bury
 * that under generic reasons ("PEM lib", "unsupported").
 */
static bool net_tls_mem_not_pem(const char *pem, size_t len)
{
	return memchr(pem, '\0', len) != NULL || memmem(pem, len, "-----BEGIN ", 11) == NULL;
}

SSL_CTX *net_tls_server_ctx_pem(const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, const char *cert_name, const char *key_name, enum net_tls_file *at,
    const char **err)
{
	enum net_tls_file dummy;
	if (at == NULL)
		at = &dummy;
	*at = NET_TLS_CERT_FILE;
	if (cert_len > INT_MAX || key_len > INT_MAX) {
		*err = net_tls_plain("%s is too large", cert_len > INT_MAX ? cert_name : key_name);
		return NULL;
	}
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
	/* As SSL_CTX_use_certificate_chain_file: the first certificate, then its chain. */
	BIO *b = BIO_new_mem_buf(cert_pem, (int)cert_len);
	X509 *leaf = b != NULL ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
	if (leaf == NULL || SSL_CTX_use_certificate(ctx, leaf) != 1) {
		*err = net_tls_mem_not_pem(cert_pem, cert_len) ?
		    net_tls_plain("%s is not a PEM certificate", cert_name) :
		    net_tls_fail("cannot load certificate", cert_name);
		X509_free(leaf);
		BIO_free(b);
		SSL_CTX_free(ctx);
		return NULL;
	}
	X509_free(leaf);
	X509 *ca;
	while ((ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			*err = net_tls_fail("cannot load the certificate chain of", cert_name);
			BIO_free(b);
			SSL_CTX_free(ctx);
			return NULL;
		}
	}
	/* The end of the chain shows as "no start line": not an error. */
	ERR_clear_error();
	BIO_free(b);
	*at = NET_TLS_KEY_FILE;
	b = BIO_new_mem_buf(key_pem, (int)key_len);
	EVP_PKEY *key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (key == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		bool mismatch = key != NULL &&
		    ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
		*err = mismatch ? net_tls_plain("private key %s does not match the certificate", key_name) :
		    net_tls_mem_not_pem(key_pem, key_len) ?
		    net_tls_plain("%s is not a PEM private key", key_name) :
		    net_tls_fail("cannot load private key", key_name);
		EVP_PKEY_free(key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	EVP_PKEY_free(key);
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*err = net_tls_plain("private key %s does not match the certificate", key_name);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mxrelay", 7);
	return ctx;
}

SSL_CTX *net_tls_server_ctx(const char *cert_file, const char *key_file, const char **err)
{
	return net_tls_server_load(cert_file, key_file, NULL, err);
}

/* t as "Jan  1 00:00:00 2030 GMT". */
static void net_tls_time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	snprintf(buf, len, "?");
	BIO *b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	if (ASN1_TIME_print(b, t) == 1) {
		int n = BIO_read(b, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

int net_tls_cert_validity(SSL_CTX *ctx, long long now, char *why, size_t whylen)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	if (x == NULL)
		return 0;
	time_t t = (time_t)now;
	char when[64];
	if (X509_cmp_time(X509_get0_notAfter(x), &t) < 0) {
		net_tls_time_text(X509_get0_notAfter(x), when, sizeof(when));
		snprintf(why, whylen, "expired on %s", when);
		return 1;
	}
	if (X509_cmp_time(X509_get0_notBefore(x), &t) > 0) {
		net_tls_time_text(X509_get0_notBefore(x), when, sizeof(when));
		snprintf(why, whylen, "not valid before %s", when);
		return 1;
	}
	return 0;
}

void net_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
