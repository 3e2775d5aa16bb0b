/*
 * net_tls: OpenSSL contexts for the client and server sides of SMTP TLS,
 * and the checks of one client connection.
 *
 * Owns: the TLS 1.2 floor, CA loading (a file or the system store), the
 * verification mode, DANE on every client context, certificate and key
 * loading with a check that they match, and the text of a failure (which
 * file, and OpenSSL's reason); per connection, the SSL object set up for
 * DANE or PKIX with reference names, and the verdict of its handshake
 * (net_tls_int.h).
 * Never: touches a socket; never logs key material; never lets the
 * certificate's own text reach a message unescaped.
 */
#include "net/net_tls.h"
#include "net_tls_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/file.h"
#include "util/log.h"

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
	/*
	 * DANE on every client context, so one context serves connections
	 * with and without TLSA records; a connection without records never
	 * calls SSL_dane_enable and is checked as before. DANE-EE(3) names
	 * nothing (RFC 7672 3.1.1).
	 */
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		*err = net_tls_fail("cannot enable DANE", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_dane_set_flags(ctx, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
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

const char *net_tls_auth_name(enum net_tls_auth a)
{
	switch (a) {
	case NET_TLS_AUTH_PKIX: return "pkix";
	case NET_TLS_AUTH_DANE_TA: return "dane-ta";
	case NET_TLS_AUTH_DANE_EE: return "dane-ee";
	case NET_TLS_AUTH_NONE: break;
	}
	return "none";
}

const char *net_tls_fail_name(enum net_tls_fail f)
{
	switch (f) {
	case NET_TLS_FAIL_NONE: return "";
	case NET_TLS_FAIL_HOST_MISMATCH: return "certificate-host-mismatch";
	case NET_TLS_FAIL_EXPIRED: return "certificate-expired";
	case NET_TLS_FAIL_NOT_TRUSTED: return "certificate-not-trusted";
	case NET_TLS_FAIL_TLSA_MISMATCH:
	case NET_TLS_FAIL_OTHER: break;
	}
	return "validation-failure";
}

/* TLSA certificate usages (RFC 6698 2.1.1, RFC 7218 names). */
enum { NET_TLS_DANE_TA = 2, NET_TLS_DANE_EE = 3 };

/*
 * Give ssl (DANE enabled) the records of rrs that SMTP may use: DANE-TA(2)
 * and DANE-EE(3) only (RFC 7672 3.1.3). OpenSSL refuses the rest itself
 * (selector, matching type, digest length, data that does not parse).
 * Returns how many it took.
 */
static size_t net_tls_add_tlsa(SSL *ssl, const struct net_tls_tlsa *rrs, size_t n)
{
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		const struct net_tls_tlsa *r = &rrs[i];
		if ((r->usage != NET_TLS_DANE_TA && r->usage != NET_TLS_DANE_EE) || r->data == NULL)
			continue;
		if (SSL_dane_tlsa_add(ssl, r->usage, r->selector, r->mtype, r->data, r->len) > 0)
			used++;
	}
	ERR_clear_error();
	return used;
}

/*
 * OpenSSL itself is asked, on a scratch connection, so that this answer and
 * the connection's are the same test.
 */
size_t net_tls_tlsa_usable(const struct net_tls_tlsa *rrs, size_t n)
{
	if (rrs == NULL || n == 0)
		return 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	if (ctx == NULL || SSL_CTX_dane_enable(ctx) <= 0 || (ssl = SSL_new(ctx)) == NULL ||
	    SSL_dane_enable(ssl, "tlsa.invalid") <= 0)
		fatal("net_tls: cannot set up DANE to check TLSA records");
	size_t used = net_tls_add_tlsa(ssl, rrs, n);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return used;
}

/* Append text[0..len), made printable, to the ", "-separated list in buf (cap size). */
static void net_tls_list_add(char *buf, size_t size, const char *text, size_t len)
{
	size_t used = strlen(buf);
	if (used + 3 >= size)
		return;
	if (used > 0) {
		memcpy(buf + used, ", ", 3);
		used += 2;
	}
	log_printable(buf + used, size - used, text, len);
}

/* An SSL from ctx, or NULL with *err. */
static SSL *net_tls_ssl_new(SSL_CTX *ctx, const char **err)
{
	ERR_clear_error();
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		*err = "cannot create a session";
	}
	return ssl;
}

SSL *net_tls_ssl_sni(SSL_CTX *ctx, const char *sni, bool server, struct net_tls_check *chk,
    const char **err)
{
	memset(chk, 0, sizeof(*chk));
	chk->judge = !server;
	SSL *ssl = net_tls_ssl_new(ctx, err);
	if (ssl == NULL || server || sni == NULL || sni[0] == '\0')
		return ssl;
	if (SSL_set_tlsext_host_name(ssl, sni) != 1 || SSL_set1_host(ssl, sni) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		*err = "bad server name";
		return NULL;
	}
	net_tls_list_add(chk->refs, sizeof(chk->refs), sni, strlen(sni));
	return ssl;
}

/*
 * DANE on ssl: the base domain as default SNI and first reference
 * identifier, the usable records, no names for DANE-EE. 0, or -1 with *err.
 */
static int net_tls_ssl_dane(SSL *ssl, const struct net_tls_peer *p, struct net_tls_check *chk,
    const char **err)
{
	if (SSL_dane_enable(ssl, p->tlsa_base) <= 0) {
		*err = "bad TLSA base domain";
		return -1;
	}
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	chk->ndane = net_tls_add_tlsa(ssl, p->tlsa, p->ntlsa);
	size_t blen = strlen(p->tlsa_base);
	log_printable(chk->base, sizeof(chk->base), p->tlsa_base, blen);
	net_tls_list_add(chk->refs, sizeof(chk->refs), p->tlsa_base, blen);
	return 0;
}

/*
 * Verification is SSL_VERIFY_NONE here whatever the context says: the
 * handshake completes, OpenSSL still verifies the chain (and DANE) and
 * keeps the result, and net_tls_judge reads it, so that the caller can
 * say precisely what failed and close politely.
 */
SSL *net_tls_ssl_peer(SSL_CTX *ctx, const struct net_tls_peer *p, struct net_tls_check *chk,
    const char **err)
{
	memset(chk, 0, sizeof(*chk));
	chk->judge = true;
	bool dane = p->tlsa != NULL && p->ntlsa > 0;
	if (dane && (p->tlsa_base == NULL || p->tlsa_base[0] == '\0')) {
		*err = "TLSA records without a TLSA base domain";
		return NULL;
	}
	SSL *ssl = net_tls_ssl_new(ctx, err);
	if (ssl == NULL)
		return NULL;
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	const char *sni = p->sni != NULL && p->sni[0] != '\0' ? p->sni : dane ? p->tlsa_base : NULL;
	if (sni != NULL && SSL_set_tlsext_host_name(ssl, sni) != 1) {
		*err = "bad server name";
		goto fail;
	}
	if (dane && net_tls_ssl_dane(ssl, p, chk, err) != 0)
		goto fail;
	for (size_t i = 0; i < p->nnames; i++) {
		const char *name = p->names[i];
		if (name == NULL || name[0] == '\0') {
			*err = "empty reference name";
			goto fail;
		}
		if (dane && strcasecmp(name, p->tlsa_base) == 0)
			continue;
		if (SSL_add1_host(ssl, name) != 1) {
			*err = "bad reference name";
			goto fail;
		}
		net_tls_list_add(chk->refs, sizeof(chk->refs), name, strlen(name));
	}
	return ssl;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

/* The failure a verification error stands for. */
static enum net_tls_fail net_tls_fail_of(long vr)
{
	switch (vr) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return NET_TLS_FAIL_HOST_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return NET_TLS_FAIL_EXPIRED;
	case X509_V_ERR_DANE_NO_MATCH:
		return NET_TLS_FAIL_TLSA_MISMATCH;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
		return NET_TLS_FAIL_NOT_TRUSTED;
	default:
		return NET_TLS_FAIL_OTHER;
	}
}

/* The DNS names of x (its common name when it has none), printable, into buf. */
static void net_tls_cert_names(X509 *x, char *buf, size_t size)
{
	buf[0] = '\0';
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			net_tls_list_add(buf, size, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	const X509_NAME *subj = X509_get_subject_name(x);
	int at = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (buf[0] == '\0' && at >= 0) {
		const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, at));
		net_tls_list_add(buf, size, (const char *)ASN1_STRING_get0_data(cn),
		    (size_t)ASN1_STRING_length(cn));
	}
	ERR_clear_error();
}

/* What authenticated a server whose verification passed. */
static void net_tls_judge_ok(SSL *ssl, const struct net_tls_check *chk, struct net_tls_verdict *v)
{
	uint8_t usage = 0;
	if (chk->ndane == 0) {
		v->auth = NET_TLS_AUTH_PKIX;
	} else if (SSL_get0_dane_authority(ssl, NULL, NULL) >= 0 &&
	    SSL_get0_dane_tlsa(ssl, &usage, NULL, NULL, NULL, NULL) >= 0) {
		v->auth = usage == NET_TLS_DANE_EE ? NET_TLS_AUTH_DANE_EE : NET_TLS_AUTH_DANE_TA;
	} else {
		/* Cannot happen with DANE records only; never report it as authenticated. */
		v->fail = NET_TLS_FAIL_OTHER;
		snprintf(v->text, sizeof(v->text), "no TLSA record authenticated the certificate");
	}
}

void net_tls_judge(SSL *ssl, const struct net_tls_check *chk, unsigned port,
    struct net_tls_verdict *v)
{
	memset(v, 0, sizeof(*v));
	long vr = SSL_get_verify_result(ssl);
	X509 *peer = SSL_get0_peer_certificate(ssl);
	if (vr == X509_V_OK && peer == NULL) {
		v->fail = NET_TLS_FAIL_OTHER;
		snprintf(v->text, sizeof(v->text), "the server sent no certificate");
		return;
	}
	if (vr == X509_V_OK) {
		net_tls_judge_ok(ssl, chk, v);
		return;
	}
	v->fail = net_tls_fail_of(vr);
	char names[128] = "";
	if (v->fail == NET_TLS_FAIL_TLSA_MISMATCH) {
		snprintf(v->text, sizeof(v->text),
		    "certificate does not match any TLSA record of _%u._tcp.%s", port, chk->base);
	} else if (v->fail == NET_TLS_FAIL_HOST_MISMATCH) {
		if (peer != NULL)
			net_tls_cert_names(peer, names, sizeof(names));
		snprintf(v->text, sizeof(v->text), "certificate name does not match %s%s%s%s",
		    chk->refs, names[0] != '\0' ? " (certificate for " : "", names,
		    names[0] != '\0' ? ")" : "");
	} else {
		snprintf(v->text, sizeof(v->text), "%s", X509_verify_cert_error_string(vr));
	}
}

void net_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
