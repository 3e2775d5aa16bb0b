/*
 * test_client_tlspol: the pure TLS decision for one MX host
 * (client_tlspol_decide), one table row per case: every level crossed
 * with what the TLSA lookup found (usable DANE-EE or DANE-TA records,
 * only records OpenSSL cannot use, none, bogus, failed), whether the MX
 * lookup was secure, MX delivery or a route, the domain's MTA-STS policy
 * (enforce, testing, none; the host inside or outside its patterns),
 * REQUIRETLS and "TLS-Required: No". Then whether a TLSA lookup and an
 * MTA-STS policy are wanted, and which tls_policy rule a domain takes.
 *
 * The TLSA records are real: a SHA-256 digest over 32 octets is a 3 1 1
 * (or 2 0 1) record OpenSSL accepts, as net_tls_tlsa_usable asks it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "client_tlspol.h"
#include "net/net_tls.h"
#include "sts/sts_policy.h"
#include "util/log.h"

#define DOM "example.test"
#define HOST "mx1.example.test"
#define TLSA_TEXT "_25._tcp." HOST ". IN TLSA 3 1 1 ...\n"
#define BOGUS_WHY "validation failure <_25._tcp." HOST ". TLSA IN>: signature expired"

/* ---- the inputs the rows pick from ---- */

/* What the host's TLSA lookup found. */
enum tlsa_in {
	T_NOT,		/* not looked up */
	T_EE,		/* found: one DANE-EE(3) SPKI SHA-256 record */
	T_TA,		/* found: one DANE-TA(2) certificate SHA-256 record */
	T_PKIX,		/* found: PKIX-TA(0) and PKIX-EE(1) only, unusable for SMTP */
	T_BAD,		/* found: malformed records OpenSSL refuses */
	T_MIXED,	/* found: a PKIX-EE record and a DANE-EE one */
	T_NONE,		/* securely none */
	T_BOGUS,	/* validation failed */
	T_FAILED,	/* the lookup failed, nothing said why */
};

/* The domain's MTA-STS policy. */
enum sts_in {
	S_NULL,		/* none */
	S_ENF,		/* enforce, the host among its patterns */
	S_ENF_OUT,	/* enforce, the host outside its patterns */
	S_TEST,		/* testing, the host among its patterns */
	S_TEST_OUT,	/* testing, the host outside its patterns */
	S_MODE_NONE,	/* mode none */
	S_N,
};

static const char *const sts_bodies[S_N] = {
	[S_ENF] = "version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 86400\n",
	[S_ENF_OUT] = "version: STSv1\nmode: enforce\nmx: mail.elsewhere.test\nmax_age: 86400\n",
	[S_TEST] = "version: STSv1\nmode: testing\nmx: mail.elsewhere.test\nmx: " HOST "\n"
	    "max_age: 86400\n",
	[S_TEST_OUT] = "version: STSv1\nmode: testing\nmx: *.elsewhere.test\nmax_age: 86400\n",
	[S_MODE_NONE] = "version: STSv1\nmode: none\nmax_age: 86400\n",
};

/* Filled once by setup_group: the policies and the records. */
static struct sts_policy sts_parsed[S_N];
static uint8_t digest[32];
static struct net_tls_tlsa rr_ee[1], rr_ta[1], rr_pkix[2], rr_bad[4], rr_mixed[2];

/* Input flags of a row. */
#define I_MX 0x01u		/* the host came from the domain's MX lookup */
#define I_SEC 0x02u		/* that lookup was DNSSEC-secure */
#define I_NODNSSEC 0x04u	/* answers are not validated at all */
#define I_REQ 0x08u		/* REQUIRETLS */
#define I_OPT 0x10u		/* "TLS-Required: No" */
#define I_MXS (I_MX | I_SEC)

/* Plan (and refusal) flags a row expects. */
#define P_DANE 0x01u
#define P_PKIX 0x02u		/* check_pkix */
#define P_TEST 0x04u		/* testing */
#define P_RELAX 0x08u		/* relaxed */
#define P_IMPL 0x10u		/* implicit */
#define P_REQ 0x20u		/* requiretls passed on */
#define P_PERM 0x40u		/* refusal: permanent */

/* Which input text the report borrows. */
enum text_in { X_NULL, X_TLSA, X_STS };

struct decide_row {
	const char *name;
	enum mxr_tls_policy level;
	const char *match;
	unsigned in;			/* I_* */
	enum tlsa_in tlsa;
	enum sts_in sts;
	const char *base;		/* the TLSA base domain given, or NULL */
	/* what is wanted */
	bool ok;
	enum mxr_tls_policy applied;
	enum client_tls_need need;	/* ok only */
	unsigned flags;			/* P_* */
	const char *names;		/* ok only: the reference names in order, ':'-joined */
	enum mxr_tls_auth auth;		/* ok only */
	enum mxr_tls_report_policy report;
	enum text_in text;
	const char *esc;		/* refused only */
	const char *result_type;	/* refused only; NULL: nothing reported */
	const char *why;		/* refused only: a part of the text */
};

/* The wanted half of a row: a plan, or a refusal. */
#define OK(ap, need, fl, names, auth, rep, txt) \
	true, ap, need, fl, names, auth, rep, txt, NULL, NULL, NULL
#define NO(ap, fl, esc, rt, rep, txt, why) \
	false, ap, CLIENT_TLS_NONE, fl, NULL, MXR_TLS_AUTH_NONE, rep, txt, esc, rt, why

/* Short names for the enums, so that a row fits a line or two. */
#define L_NONE MXR_TLS_NONE
#define L_MAY MXR_TLS_OPPORTUNISTIC
#define L_ENC MXR_TLS_ENCRYPT
#define L_VER MXR_TLS_REQUIRED
#define L_IMP MXR_TLS_IMPLICIT
#define L_DANE MXR_TLS_DANE
#define L_DONLY MXR_TLS_DANE_ONLY
#define L_STS MXR_TLS_MTA_STS
#define N_NONE CLIENT_TLS_NONE
#define N_MAY CLIENT_TLS_MAY
#define N_ENC CLIENT_TLS_ENCRYPT
#define N_AUTH CLIENT_TLS_AUTH
#define A_NONE MXR_TLS_AUTH_NONE
#define A_PKIX MXR_TLS_AUTH_PKIX
#define A_DANE MXR_TLS_AUTH_DANE
#define A_STS MXR_TLS_AUTH_MTA_STS
#define R_NOPOL MXR_TLSRPT_NO_POLICY
#define R_STS MXR_TLSRPT_STS
#define R_TLSA MXR_TLSRPT_TLSA

/* The plans of a secure DANE host, of an MTA-STS host, and of plain "may". */
#define DANE_OK(ap, fl, names) OK(ap, N_AUTH, P_DANE | (fl), names, A_DANE, R_TLSA, X_TLSA)
#define STS_OK(fl) OK(L_STS, N_AUTH, P_PKIX | (fl), HOST, A_STS, R_STS, X_STS)
#define STS_TESTING OK(L_STS, N_MAY, P_PKIX | P_TEST, HOST, A_STS, R_STS, X_STS)
#define MAY_OK(fl) OK(L_MAY, N_MAY, fl, "", A_NONE, R_NOPOL, X_NULL)
#define VERIFY_OK(fl, names) OK(L_VER, N_AUTH, P_PKIX | (fl), names, A_PKIX, R_NOPOL, X_NULL)
/* REQUIRETLS refused for good under applied level ap. */
#define REQ_NO(ap, why) NO(ap, P_PERM, "5.7.10", NULL, R_NOPOL, X_NULL, why)
#define STS_OUT(ap) NO(ap, 0, "4.7.5", "validation-failure", R_STS, X_STS, \
	"MX host " HOST " is not among the MX hosts of the MTA-STS policy of " DOM)
#define BOGUS_NO(ap) NO(ap, 0, "4.7.5", "dnssec-invalid", R_TLSA, X_NULL, \
	"TLSA lookup for " HOST " failed: " BOGUS_WHY)
#define FAILED_NO(ap) NO(ap, 0, "4.7.5", "dnssec-invalid", R_TLSA, X_NULL, \
	"TLSA lookup for " HOST " failed: no answer")
#define DONLY_NO(why) NO(L_DONLY, 0, "4.7.5", "dane-required", R_TLSA, X_NULL, why)

static const struct decide_row decide_rows[] = {
	/* none: no TLS, whatever is published; REQUIRETLS can never be met. */
	{ "none", L_NONE, NULL, I_MXS, T_EE, S_ENF, NULL,
	  OK(L_NONE, N_NONE, 0, "", A_NONE, R_NOPOL, X_NULL) },
	{ "none, TLS-Required: No", L_NONE, NULL, I_MXS | I_OPT, T_NOT, S_NULL, NULL,
	  OK(L_NONE, N_NONE, 0, "", A_NONE, R_NOPOL, X_NULL) },
	{ "none, REQUIRETLS", L_NONE, NULL, I_MXS | I_REQ, T_NOT, S_NULL, NULL,
	  REQ_NO(L_NONE, "REQUIRETLS: " HOST " cannot be authenticated (policy none)") },

	/* may: an administrator's level stays, published policies are not consulted. */
	{ "may", L_MAY, NULL, I_MXS, T_EE, S_ENF_OUT, NULL, MAY_OK(0) },
	{ "may, TLS-Required: No", L_MAY, NULL, I_MXS | I_OPT, T_NOT, S_NULL, NULL, MAY_OK(0) },
	{ "may, REQUIRETLS", L_MAY, NULL, I_MXS | I_REQ, T_EE, S_ENF, NULL,
	  REQ_NO(L_MAY, "(policy may)") },

	/* encrypt: TLS, any certificate. */
	{ "encrypt", L_ENC, NULL, I_MXS, T_EE, S_ENF, NULL,
	  OK(L_ENC, N_ENC, 0, "", A_NONE, R_NOPOL, X_NULL) },
	{ "encrypt, TLS-Required: No", L_ENC, NULL, I_MXS | I_OPT, T_NOT, S_NULL, NULL,
	  OK(L_ENC, N_ENC, 0, "", A_NONE, R_NOPOL, X_NULL) },
	{ "encrypt, REQUIRETLS", L_ENC, NULL, I_MXS | I_REQ, T_NOT, S_NULL, NULL,
	  REQ_NO(L_ENC, "(policy encrypt)") },

	/* verify: PKIX against the match list, in its order, without duplicates. */
	{ "verify, no match list", L_VER, NULL, I_MXS, T_NOT, S_NULL, NULL, VERIFY_OK(0, HOST) },
	{ "verify, empty match list", L_VER, "", I_MXS, T_NOT, S_NULL, NULL, VERIFY_OK(0, HOST) },
	{ "verify hostname", L_VER, "hostname", I_MXS, T_NOT, S_NULL, NULL, VERIFY_OK(0, HOST) },
	{ "verify nexthop", L_VER, "nexthop", I_MXS, T_NOT, S_NULL, NULL, VERIFY_OK(0, DOM) },
	{ "verify dot-nexthop", L_VER, "dot-nexthop", I_MXS, T_NOT, S_NULL, NULL,
	  VERIFY_OK(0, "." DOM) },
	{ "verify, every kind", L_VER, "hostname:nexthop:dot-nexthop:mx.b.test:.c.test", I_MXS,
	  T_NOT, S_NULL, NULL, VERIFY_OK(0, HOST ":" DOM ":." DOM ":mx.b.test:.c.test") },
	{ "verify, names first", L_VER, ".c.test:mx.b.test:hostname", I_MXS, T_NOT, S_NULL, NULL,
	  VERIFY_OK(0, ".c.test:mx.b.test:" HOST) },
	{ "verify, duplicates in any case", L_VER, "nexthop:EXAMPLE.Test:hostname:" HOST, I_MXS,
	  T_NOT, S_NULL, NULL, VERIFY_OK(0, DOM ":" HOST) },
	{ "verify, empty items", L_VER, "::hostname:", I_MXS, T_NOT, S_NULL, NULL,
	  VERIFY_OK(0, HOST) },
	{ "verify, ten names capped at eight", L_VER,
	  "a.test:b.test:c.test:d.test:e.test:f.test:g.test:h.test:i.test:j.test", I_MXS, T_NOT,
	  S_NULL, NULL, VERIFY_OK(0, "a.test:b.test:c.test:d.test:e.test:f.test:g.test:h.test") },
	{ "verify, over a route", L_VER, "nexthop", 0, T_NOT, S_NULL, NULL, VERIFY_OK(0, DOM) },
	{ "verify, published policies ignored", L_VER, NULL, I_MXS, T_BOGUS, S_ENF_OUT, NULL,
	  VERIFY_OK(0, HOST) },
	{ "verify, TLS-Required: No", L_VER, NULL, I_MXS | I_OPT, T_NOT, S_NULL, NULL,
	  VERIFY_OK(0, HOST) },
	{ "verify, REQUIRETLS", L_VER, NULL, I_MXS | I_REQ, T_NOT, S_NULL, NULL,
	  VERIFY_OK(P_REQ, HOST) },
	{ "verify, REQUIRETLS over a route", L_VER, NULL, I_REQ, T_NOT, S_NULL, NULL,
	  VERIFY_OK(P_REQ, HOST) },
	{ "verify, REQUIRETLS and TLS-Required: No", L_VER, NULL, I_MX | I_REQ | I_OPT, T_NOT,
	  S_NULL, NULL, VERIFY_OK(P_REQ, HOST) },

	/* implicit: verified as verify is, TLS from the first byte. */
	{ "implicit", L_IMP, NULL, 0, T_NOT, S_NULL, NULL,
	  OK(L_IMP, N_AUTH, P_PKIX | P_IMPL, HOST, A_PKIX, R_NOPOL, X_NULL) },
	{ "implicit nexthop", L_IMP, "nexthop:hostname", 0, T_NOT, S_NULL, NULL,
	  OK(L_IMP, N_AUTH, P_PKIX | P_IMPL, DOM ":" HOST, A_PKIX, R_NOPOL, X_NULL) },
	{ "implicit, REQUIRETLS", L_IMP, NULL, I_REQ, T_NOT, S_NULL, NULL,
	  OK(L_IMP, N_AUTH, P_PKIX | P_IMPL | P_REQ, HOST, A_PKIX, R_NOPOL, X_NULL) },

	/* dane: secure TLSA records decide; names are the base, the host, a secure next hop. */
	{ "dane EE", L_DANE, NULL, I_MXS, T_EE, S_NULL, NULL, DANE_OK(L_DANE, 0, HOST ":" DOM) },
	{ "dane TA", L_DANE, NULL, I_MXS, T_TA, S_NULL, NULL, DANE_OK(L_DANE, 0, HOST ":" DOM) },
	{ "dane, base from a CNAME", L_DANE, NULL, I_MXS, T_EE, S_NULL, "mx.hosting.test",
	  DANE_OK(L_DANE, 0, "mx.hosting.test:" HOST ":" DOM) },
	{ "dane, empty base", L_DANE, NULL, I_MXS, T_EE, S_NULL, "",
	  DANE_OK(L_DANE, 0, HOST ":" DOM) },
	{ "dane, insecure MX lookup", L_DANE, NULL, I_MX, T_EE, S_NULL, NULL,
	  DANE_OK(L_DANE, 0, HOST) },
	{ "dane over a route", L_DANE, NULL, 0, T_EE, S_NULL, "mx.hosting.test",
	  DANE_OK(L_DANE, 0, "mx.hosting.test:" HOST) },
	{ "dane, one usable of two", L_DANE, NULL, I_MXS, T_MIXED, S_NULL, NULL,
	  DANE_OK(L_DANE, 0, HOST ":" DOM) },
	{ "dane before an MTA-STS policy that leaves the host out", L_DANE, NULL, I_MXS, T_EE,
	  S_ENF_OUT, NULL, DANE_OK(L_DANE, 0, HOST ":" DOM) },
	/* RFC 7672 2.2: records, none usable: mandatory TLS, nothing to authenticate with. */
	{ "dane, PKIX usages only", L_DANE, NULL, I_MXS, T_PKIX, S_ENF, NULL,
	  OK(L_DANE, N_ENC, 0, "", A_NONE, R_TLSA, X_TLSA) },
	{ "dane, malformed records", L_DANE, NULL, I_MXS, T_BAD, S_NULL, NULL,
	  OK(L_DANE, N_ENC, 0, "", A_NONE, R_TLSA, X_TLSA) },
	{ "dane, bogus", L_DANE, NULL, I_MXS, T_BOGUS, S_NULL, NULL, BOGUS_NO(L_DANE) },
	{ "dane, bogus before MTA-STS", L_DANE, NULL, I_MXS, T_BOGUS, S_ENF, NULL,
	  BOGUS_NO(L_DANE) },
	{ "dane, lookup failed", L_DANE, NULL, I_MXS, T_FAILED, S_NULL, NULL, FAILED_NO(L_DANE) },
	/* No TLSA records: the MTA-STS policy, else may. */
	{ "dane, no TLSA, no policy", L_DANE, NULL, I_MXS, T_NONE, S_NULL, NULL, MAY_OK(0) },
	{ "dane, not looked up, no policy", L_DANE, NULL, I_MX, T_NOT, S_NULL, NULL, MAY_OK(0) },
	{ "dane, no TLSA, enforce", L_DANE, NULL, I_MXS, T_NONE, S_ENF, NULL, STS_OK(0) },
	{ "dane, no DNSSEC, enforce", L_DANE, NULL, I_MX | I_NODNSSEC, T_NOT, S_ENF, NULL,
	  STS_OK(0) },
	{ "dane, no TLSA, enforce, host left out", L_DANE, NULL, I_MXS, T_NONE, S_ENF_OUT, NULL,
	  STS_OUT(L_STS) },
	{ "dane, no TLSA, testing", L_DANE, NULL, I_MXS, T_NONE, S_TEST, NULL, STS_TESTING },
	{ "dane, no TLSA, testing, host left out", L_DANE, NULL, I_MXS, T_NONE, S_TEST_OUT, NULL,
	  STS_TESTING },
	{ "dane, no TLSA, mode none", L_DANE, NULL, I_MXS, T_NONE, S_MODE_NONE, NULL, MAY_OK(0) },
	{ "dane, no TLSA, enforce, over a route", L_DANE, NULL, 0, T_NOT, S_ENF, NULL, MAY_OK(0) },
	/* dane and REQUIRETLS: only what is authenticated, DANE only from a secure MX lookup. */
	{ "dane EE, REQUIRETLS", L_DANE, NULL, I_MXS | I_REQ, T_EE, S_NULL, NULL,
	  DANE_OK(L_DANE, P_REQ, HOST ":" DOM) },
	{ "dane EE, REQUIRETLS, insecure MX", L_DANE, NULL, I_MX | I_REQ, T_EE, S_NULL, NULL,
	  REQ_NO(L_DANE, "REQUIRETLS: " HOST " cannot be authenticated (policy dane)") },
	{ "dane EE, REQUIRETLS over a route", L_DANE, NULL, I_REQ, T_EE, S_NULL, NULL,
	  DANE_OK(L_DANE, P_REQ, HOST) },
	{ "dane PKIX only, REQUIRETLS", L_DANE, NULL, I_MXS | I_REQ, T_PKIX, S_NULL, NULL,
	  REQ_NO(L_DANE, "(policy dane)") },
	{ "dane, enforce, REQUIRETLS", L_DANE, NULL, I_MXS | I_REQ, T_NONE, S_ENF, NULL,
	  STS_OK(P_REQ) },
	{ "dane, testing, REQUIRETLS", L_DANE, NULL, I_MXS | I_REQ, T_NONE, S_TEST, NULL,
	  REQ_NO(L_STS, "(policy mta-sts testing)") },
	{ "dane, no policy, REQUIRETLS", L_DANE, NULL, I_MXS | I_REQ, T_NONE, S_NULL, NULL,
	  REQ_NO(L_MAY, "(policy may)") },
	{ "dane, bogus, REQUIRETLS: the next host", L_DANE, NULL, I_MXS | I_REQ, T_BOGUS, S_NULL,
	  NULL, BOGUS_NO(L_DANE) },
	{ "dane, enforce left out, REQUIRETLS: the next host", L_DANE, NULL, I_MXS | I_REQ, T_NONE,
	  S_ENF_OUT, NULL, STS_OUT(L_STS) },
	/* dane and "TLS-Required: No": what the domain publishes is let go (RFC 8689 5). */
	{ "dane EE, TLS-Required: No", L_DANE, NULL, I_MXS | I_OPT, T_EE, S_NULL, NULL,
	  MAY_OK(P_RELAX) },
	{ "dane bogus, TLS-Required: No", L_DANE, NULL, I_MXS | I_OPT, T_BOGUS, S_NULL, NULL,
	  MAY_OK(P_RELAX) },
	{ "dane, enforce left out, TLS-Required: No", L_DANE, NULL, I_MXS | I_OPT, T_NONE,
	  S_ENF_OUT, NULL, MAY_OK(P_RELAX) },
	{ "dane EE, TLS-Required: No under REQUIRETLS", L_DANE, NULL, I_MXS | I_OPT | I_REQ, T_EE,
	  S_NULL, NULL, DANE_OK(L_DANE, P_REQ, HOST ":" DOM) },
	{ "dane, enforce, TLS-Required: No under REQUIRETLS", L_DANE, NULL, I_MXS | I_OPT | I_REQ,
	  T_NONE, S_ENF, NULL, STS_OK(P_REQ) },

	/* dane-only: DANE or nothing; never relaxed, never MTA-STS. */
	{ "dane-only EE", L_DONLY, NULL, I_MXS, T_EE, S_NULL, NULL,
	  DANE_OK(L_DONLY, 0, HOST ":" DOM) },
	{ "dane-only TA over a route", L_DONLY, NULL, 0, T_TA, S_NULL, NULL,
	  DANE_OK(L_DONLY, 0, HOST) },
	{ "dane-only, PKIX usages only", L_DONLY, NULL, I_MXS, T_PKIX, S_NULL, NULL,
	  OK(L_DONLY, N_ENC, 0, "", A_NONE, R_TLSA, X_TLSA) },
	{ "dane-only, no TLSA", L_DONLY, NULL, I_MXS, T_NONE, S_NULL, NULL,
	  DONLY_NO("dane-only: " HOST " has no DNSSEC-secure TLSA records") },
	{ "dane-only, no TLSA, enforce", L_DONLY, NULL, I_MXS, T_NONE, S_ENF, NULL,
	  DONLY_NO("dane-only: " HOST " has no DNSSEC-secure TLSA records") },
	{ "dane-only, no DNSSEC", L_DONLY, NULL, I_MX | I_NODNSSEC, T_NOT, S_NULL, NULL,
	  DONLY_NO("records (DNSSEC validation is off: dnssec_trust_anchor)") },
	{ "dane-only, bogus", L_DONLY, NULL, I_MXS, T_BOGUS, S_NULL, NULL, BOGUS_NO(L_DONLY) },
	{ "dane-only, lookup failed", L_DONLY, NULL, I_MXS, T_FAILED, S_NULL, NULL,
	  FAILED_NO(L_DONLY) },
	{ "dane-only EE, TLS-Required: No", L_DONLY, NULL, I_MXS | I_OPT, T_EE, S_NULL, NULL,
	  DANE_OK(L_DONLY, 0, HOST ":" DOM) },
	{ "dane-only, no TLSA, TLS-Required: No", L_DONLY, NULL, I_MXS | I_OPT, T_NONE, S_NULL,
	  NULL, DONLY_NO("dane-only: " HOST " has no DNSSEC-secure TLSA records") },
	{ "dane-only EE, REQUIRETLS", L_DONLY, NULL, I_MXS | I_REQ, T_EE, S_NULL, NULL,
	  DANE_OK(L_DONLY, P_REQ, HOST ":" DOM) },
	{ "dane-only EE, REQUIRETLS, insecure MX", L_DONLY, NULL, I_MX | I_REQ, T_EE, S_NULL,
	  NULL, REQ_NO(L_DONLY, "(policy dane-only)") },

	/* mta-sts: the policy alone; TLSA records are not consulted. */
	{ "mta-sts, enforce, TLSA ignored", L_STS, NULL, I_MXS, T_EE, S_ENF, NULL, STS_OK(0) },
	{ "mta-sts, enforce, bogus TLSA ignored", L_STS, NULL, I_MXS, T_BOGUS, S_ENF, NULL,
	  STS_OK(0) },
	{ "mta-sts, enforce, host left out", L_STS, NULL, I_MXS, T_NOT, S_ENF_OUT, NULL,
	  STS_OUT(L_STS) },
	{ "mta-sts, testing", L_STS, NULL, I_MX, T_NOT, S_TEST, NULL, STS_TESTING },
	{ "mta-sts, testing, host left out", L_STS, NULL, I_MX, T_NOT, S_TEST_OUT, NULL,
	  STS_TESTING },
	{ "mta-sts, no policy", L_STS, NULL, I_MXS, T_EE, S_NULL, NULL, MAY_OK(0) },
	{ "mta-sts, mode none", L_STS, NULL, I_MXS, T_NOT, S_MODE_NONE, NULL, MAY_OK(0) },
	{ "mta-sts, enforce, over a route", L_STS, NULL, 0, T_NOT, S_ENF, NULL, MAY_OK(0) },
	{ "mta-sts, enforce, TLS-Required: No", L_STS, NULL, I_MXS | I_OPT, T_NOT, S_ENF, NULL,
	  MAY_OK(P_RELAX) },
	{ "mta-sts, testing, TLS-Required: No", L_STS, NULL, I_MXS | I_OPT, T_NOT, S_TEST, NULL,
	  MAY_OK(P_RELAX) },
	{ "mta-sts, enforce, REQUIRETLS", L_STS, NULL, I_MX | I_REQ, T_NOT, S_ENF, NULL,
	  STS_OK(P_REQ) },
	{ "mta-sts, enforce, REQUIRETLS and TLS-Required: No", L_STS, NULL, I_MX | I_REQ | I_OPT,
	  T_NOT, S_ENF, NULL, STS_OK(P_REQ) },
	{ "mta-sts, testing, REQUIRETLS", L_STS, NULL, I_MX | I_REQ, T_NOT, S_TEST, NULL,
	  REQ_NO(L_STS, "REQUIRETLS: " HOST " cannot be authenticated (policy mta-sts testing)") },
	{ "mta-sts, no policy, REQUIRETLS", L_STS, NULL, I_MX | I_REQ, T_NOT, S_NULL, NULL,
	  REQ_NO(L_MAY, "(policy may)") },
};

/* The inputs of row r (records and policies from setup_group). */
static struct client_tlspol_in row_input(const struct decide_row *r)
{
	struct client_tlspol_in in = {
		.level = r->level,
		.match = r->match,
		.domain = DOM,
		.host = HOST,
		.via_mx = (r->in & I_MX) != 0,
		.mx_secure = (r->in & I_SEC) != 0,
		.dnssec = (r->in & I_NODNSSEC) == 0,
		.tlsa_base = r->base,
		.tlsa_text = TLSA_TEXT,
		.sts = r->sts != S_NULL ? &sts_parsed[r->sts] : NULL,
		.sts_text = r->sts != S_NULL ? sts_bodies[r->sts] : NULL,
		.requiretls = (r->in & I_REQ) != 0,
		.tls_optional = (r->in & I_OPT) != 0,
	};
	in.tlsa = CLIENT_TLSA_FOUND;
	switch (r->tlsa) {
	case T_NOT: in.tlsa = CLIENT_TLSA_NOT_LOOKED_UP; break;
	case T_EE: in.tlsa_rrs = rr_ee; in.ntlsa = 1; break;
	case T_TA: in.tlsa_rrs = rr_ta; in.ntlsa = 1; break;
	case T_PKIX: in.tlsa_rrs = rr_pkix; in.ntlsa = 2; break;
	case T_BAD: in.tlsa_rrs = rr_bad; in.ntlsa = 4; break;
	case T_MIXED: in.tlsa_rrs = rr_mixed; in.ntlsa = 2; break;
	case T_NONE: in.tlsa = CLIENT_TLSA_NONE; break;
	case T_BOGUS: in.tlsa = CLIENT_TLSA_BOGUS; in.tlsa_why = BOGUS_WHY; break;
	case T_FAILED: in.tlsa = CLIENT_TLSA_FAILED; break;
	}
	return in;
}

/* The text a report should borrow. */
static const char *row_text(const struct client_tlspol_in *in, enum text_in t)
{
	return t == X_TLSA ? in->tlsa_text : t == X_STS ? in->sts_text : NULL;
}

static const char *need_name(enum client_tls_need n)
{
	switch (n) {
	case CLIENT_TLS_NONE: return "none";
	case CLIENT_TLS_MAY: return "may";
	case CLIENT_TLS_ENCRYPT: return "encrypt";
	case CLIENT_TLS_AUTH: return "auth";
	}
	return "?";
}

static const char *report_name(enum mxr_tls_report_policy p)
{
	return p == R_TLSA ? "tlsa" : p == R_STS ? "sts" : "no-policy-found";
}

/* Fail unless a flag of the plan is as the row wants it. */
static void check_flag(const struct decide_row *r, const char *what, bool got, unsigned flag)
{
	bool want = (r->flags & flag) != 0;
	if (got != want)
		fail_msg("%s: %s got %d, want %d", r->name, what, got, want);
}

static void check_plan(const struct decide_row *r, const struct client_tlspol_in *in,
    const struct client_tlsplan *p)
{
	if (p->applied != r->applied)
		fail_msg("%s: applied got %s, want %s", r->name, mxr_tls_policy_name(p->applied),
		    mxr_tls_policy_name(r->applied));
	if (p->need != r->need)
		fail_msg("%s: need got %s, want %s", r->name, need_name(p->need), need_name(r->need));
	check_flag(r, "dane", p->dane, P_DANE);
	check_flag(r, "check_pkix", p->check_pkix, P_PKIX);
	check_flag(r, "testing", p->testing, P_TEST);
	check_flag(r, "relaxed", p->relaxed, P_RELAX);
	check_flag(r, "implicit", p->implicit, P_IMPL);
	check_flag(r, "requiretls", p->requiretls, P_REQ);
	char names[CLIENT_TLSPOL_NAMES_MAX * 257] = "";
	size_t used = 0;
	for (size_t i = 0; i < p->nnames && i < CLIENT_TLSPOL_NAMES_MAX; i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i > 0 ? ":" : "",
		    p->names[i]);
	if (strcmp(names, r->names) != 0)
		fail_msg("%s: names got \"%s\", want \"%s\"", r->name, names, r->names);
	if (p->success_auth != r->auth)
		fail_msg("%s: success_auth got %s, want %s", r->name,
		    mxr_tls_auth_name(p->success_auth), mxr_tls_auth_name(r->auth));
	if (p->report != r->report)
		fail_msg("%s: report got %s, want %s", r->name, report_name(p->report),
		    report_name(r->report));
	if (p->report_text != row_text(in, r->text))
		fail_msg("%s: report_text got %s, want %s", r->name,
		    p->report_text != NULL ? p->report_text : "NULL",
		    row_text(in, r->text) != NULL ? row_text(in, r->text) : "NULL");
	/* DANE authenticates with the records as given, all of them, under the base. */
	const struct net_tls_tlsa *want_rrs = p->dane ? in->tlsa_rrs : NULL;
	size_t want_n = p->dane ? in->ntlsa : 0;
	if (p->tlsa != want_rrs || p->ntlsa != want_n)
		fail_msg("%s: tlsa got %p/%zu, want %p/%zu", r->name, (const void *)p->tlsa,
		    p->ntlsa, (const void *)want_rrs, want_n);
	if (r->report == R_TLSA) {
		const char *base = in->tlsa_base != NULL && in->tlsa_base[0] != '\0' ?
		    in->tlsa_base : in->host;
		if (strcmp(p->tlsa_base, base) != 0)
			fail_msg("%s: tlsa_base got \"%s\", want \"%s\"", r->name, p->tlsa_base, base);
	}
}

static void check_refusal(const struct decide_row *r, const struct client_tlspol_in *in,
    const struct client_tlspol_refusal *why)
{
	if (why->applied != r->applied)
		fail_msg("%s: refused under %s, want %s", r->name, mxr_tls_policy_name(why->applied),
		    mxr_tls_policy_name(r->applied));
	if (strcmp(why->esc, r->esc) != 0)
		fail_msg("%s: esc got %s, want %s", r->name, why->esc, r->esc);
	check_flag(r, "permanent", why->permanent, P_PERM);
	const char *rt = why->result_type != NULL ? why->result_type : "NULL";
	const char *want_rt = r->result_type != NULL ? r->result_type : "NULL";
	if (strcmp(rt, want_rt) != 0)
		fail_msg("%s: result_type got %s, want %s", r->name, rt, want_rt);
	/* What is reported is only said where there is something to report. */
	if (r->result_type != NULL && why->report != r->report)
		fail_msg("%s: report got %s, want %s", r->name, report_name(why->report),
		    report_name(r->report));
	if (why->report_text != row_text(in, r->text))
		fail_msg("%s: report_text got %s, want %s", r->name,
		    why->report_text != NULL ? why->report_text : "NULL",
		    row_text(in, r->text) != NULL ? row_text(in, r->text) : "NULL");
	if (strstr(why->text, r->why) == NULL)
		fail_msg("%s: text got \"%s\", want it to hold \"%s\"", r->name, why->text, r->why);
}

static void test_decide(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decide_rows) / sizeof(decide_rows[0]); i++) {
		const struct decide_row *r = &decide_rows[i];
		struct client_tlspol_in in = row_input(r);
		struct client_tlsplan p;
		struct client_tlspol_refusal why;
		/* Whatever was in them before is not read. */
		memset(&p, 0xa5, sizeof(p));
		memset(&why, 0xa5, sizeof(why));
		bool ok = client_tlspol_decide(&in, &p, &why);
		if (ok != r->ok)
			fail_msg("%s: got %s (%s), want %s", r->name, ok ? "a plan" : "a refusal",
			    ok ? mxr_tls_policy_name(p.applied) : why.text,
			    r->ok ? "a plan" : "a refusal");
		if (ok)
			check_plan(r, &in, &p);
		else
			check_refusal(r, &in, &why);
	}
}

/* The fixture's records are what the rows say: usable, or not. */
static void test_fixture_records(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const struct net_tls_tlsa *rrs;
		size_t n, usable;
	} rows[] = {
		{ "3 1 1", rr_ee, 1, 1 },
		{ "2 0 1", rr_ta, 1, 1 },
		{ "0 0 1 and 1 1 1", rr_pkix, 2, 0 },
		{ "malformed", rr_bad, 4, 0 },
		{ "1 1 1 and 3 1 1", rr_mixed, 2, 1 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t got = net_tls_tlsa_usable(rows[i].rrs, rows[i].n);
		if (got != rows[i].usable)
			fail_msg("%s: usable got %zu, want %zu", rows[i].name, got, rows[i].usable);
	}
}

struct wants_tlsa_row {
	enum mxr_tls_policy level;
	bool tls_optional, requiretls, dnssec, host_secure;
	bool want;
};

static const struct wants_tlsa_row wants_tlsa_rows[] = {
	{ L_DANE, false, false, true, true, true },
	{ L_DANE, false, false, false, true, false },
	{ L_DANE, false, false, true, false, false },
	{ L_DANE, true, false, true, true, false },
	{ L_DANE, true, true, true, true, true },
	{ L_DANE, false, true, true, true, true },
	{ L_DONLY, false, false, true, true, true },
	{ L_DONLY, true, false, true, true, true },
	{ L_DONLY, false, false, false, true, false },
	{ L_DONLY, false, false, true, false, false },
	{ L_STS, false, false, true, true, false },
	{ L_NONE, false, false, true, true, false },
	{ L_MAY, false, false, true, true, false },
	{ L_ENC, false, false, true, true, false },
	{ L_VER, false, true, true, true, false },
	{ L_IMP, false, false, true, true, false },
};

static void test_wants_tlsa(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(wants_tlsa_rows) / sizeof(wants_tlsa_rows[0]); i++) {
		const struct wants_tlsa_row *r = &wants_tlsa_rows[i];
		bool got = client_tlspol_wants_tlsa(r->level, r->tls_optional, r->requiretls, r->dnssec,
		    r->host_secure);
		if (got != r->want)
			fail_msg("%s optional=%d requiretls=%d dnssec=%d secure=%d: got %d, want %d",
			    mxr_tls_policy_name(r->level), r->tls_optional, r->requiretls, r->dnssec,
			    r->host_secure, got, r->want);
	}
}

static void test_wants_sts(void **state)
{
	(void)state;
	static const struct {
		enum mxr_tls_policy level;
		bool via_mx, want;
	} rows[] = {
		{ L_DANE, true, true }, { L_DANE, false, false },
		{ L_STS, true, true }, { L_STS, false, false },
		{ L_DONLY, true, false }, { L_NONE, true, false }, { L_MAY, true, false },
		{ L_ENC, true, false }, { L_VER, true, false }, { L_IMP, true, false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = client_tlspol_wants_sts(rows[i].level, rows[i].via_mx);
		if (got != rows[i].want)
			fail_msg("%s via_mx=%d: got %d, want %d", mxr_tls_policy_name(rows[i].level),
			    rows[i].via_mx, got, rows[i].want);
	}
}

/* The same rules in two orders: which one applies never depends on the order. */
static const struct mxr_tls_rule rules_fwd[] = {
	{ ".test", MXR_TLS_NONE, NULL },
	{ ".a.test", MXR_TLS_ENCRYPT, NULL },
	{ ".b.a.test", MXR_TLS_REQUIRED, "nexthop" },
	{ "a.test", MXR_TLS_OPPORTUNISTIC, NULL },
	{ "c.b.a.test", MXR_TLS_DANE_ONLY, NULL },
	{ "Upper.TEST", MXR_TLS_MTA_STS, NULL },
	{ ".Shout.TEST", MXR_TLS_DANE, NULL },
};
#define NRULES (sizeof(rules_fwd) / sizeof(rules_fwd[0]))

static void test_rule(void **state)
{
	(void)state;
	static const struct {
		const char *domain;
		const char *want;	/* the rule's domain, or NULL */
	} rows[] = {
		{ "a.test", "a.test" },			/* exact beats ".test" */
		{ "A.Test.", "a.test" },		/* case and a trailing dot ignored */
		{ "x.a.test", ".a.test" },
		{ "X.A.TEST.", ".a.test" },
		{ "b.a.test", ".a.test" },		/* ".b.a.test" is for names under it */
		{ "y.b.a.test", ".b.a.test" },		/* the nearest parent */
		{ "z.y.b.a.test", ".b.a.test" },
		{ "c.b.a.test", "c.b.a.test" },		/* exact beats every parent */
		{ "d.c.b.a.test", ".b.a.test" },	/* an exact rule is not a parent */
		{ "xa.test", ".test" },			/* a label boundary, not a suffix */
		{ "other.test", ".test" },
		{ "upper.test", "Upper.TEST" },		/* the rule's case ignored too */
		{ "mx.shout.test", ".Shout.TEST" },
		{ "test", NULL },			/* ".test" is not "test" */
		{ "example.org", NULL },
		{ "", NULL },
		{ ".", NULL },
	};
	struct mxr_tls_rule rules_rev[NRULES];
	for (size_t i = 0; i < NRULES; i++)
		rules_rev[i] = rules_fwd[NRULES - 1 - i];
	const struct mxr_tls_rule *sets[2] = { rules_fwd, rules_rev };
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			const struct mxr_tls_rule *got = client_tlspol_rule(sets[s], NRULES,
			    rows[i].domain);
			const char *g = got != NULL ? got->domain : "NULL";
			const char *w = rows[i].want != NULL ? rows[i].want : "NULL";
			if (strcmp(g, w) != 0)
				fail_msg("\"%s\" (%s order): got rule %s, want %s", rows[i].domain,
				    s == 0 ? "given" : "reversed", g, w);
		}
	}
	/* ".a.test" alone does not match "a.test"; no rules match nothing. */
	static const struct mxr_tls_rule only_parent[] = { { ".a.test", MXR_TLS_DANE, NULL } };
	if (client_tlspol_rule(only_parent, 1, "a.test") != NULL)
		fail_msg("\"a.test\" under \".a.test\" only: got a rule, want none");
	if (client_tlspol_rule(only_parent, 1, "b.a.test") != &only_parent[0])
		fail_msg("\"b.a.test\" under \".a.test\" only: got no rule, want .a.test");
	if (client_tlspol_rule(NULL, 0, "a.test") != NULL)
		fail_msg("\"a.test\" with no rules: got a rule, want none");
}

static int setup_group(void **state)
{
	(void)state;
	uint8_t octets[32];
	for (size_t i = 0; i < sizeof(octets); i++)
		octets[i] = (uint8_t)(i * 7 + 1);
	unsigned len = 0;
	if (EVP_Digest(octets, sizeof(octets), digest, &len, EVP_sha256(), NULL) != 1 ||
	    len != sizeof(digest))
		return -1;
	static const uint8_t not_der[] = "not a DER SubjectPublicKeyInfo";
	rr_ee[0] = (struct net_tls_tlsa){ 3, 1, 1, digest, 32 };
	rr_ta[0] = (struct net_tls_tlsa){ 2, 0, 1, digest, 32 };
	rr_pkix[0] = (struct net_tls_tlsa){ 0, 0, 1, digest, 32 };
	rr_pkix[1] = (struct net_tls_tlsa){ 1, 1, 1, digest, 32 };
	rr_bad[0] = (struct net_tls_tlsa){ 3, 1, 1, digest, 20 };	/* short digest */
	rr_bad[1] = (struct net_tls_tlsa){ 3, 1, 0, not_der, sizeof(not_der) - 1 };
	rr_bad[2] = (struct net_tls_tlsa){ 3, 9, 1, digest, 32 };	/* no such selector */
	rr_bad[3] = (struct net_tls_tlsa){ 3, 1, 1, NULL, 0 };
	rr_mixed[0] = (struct net_tls_tlsa){ 1, 1, 1, digest, 32 };
	rr_mixed[1] = (struct net_tls_tlsa){ 3, 1, 1, digest, 32 };
	for (size_t s = 0; s < S_N; s++) {
		if (sts_bodies[s] == NULL)
			continue;
		struct sts_policy_error err;
		if (sts_policy_parse(sts_bodies[s], strlen(sts_bodies[s]), &sts_parsed[s], &err) !=
		    STS_POLICY_OK) {
			fprintf(stderr, "policy %zu: line %zu: %s\n", s, err.line, err.why);
			return -1;
		}
	}
	return 0;
}

int main(void)
{
	log_init("test_client_tlspol", LOG_LVL_WARN, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_records),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_wants_tlsa),
		cmocka_unit_test(test_wants_sts),
		cmocka_unit_test(test_rule),
	};
	return cmocka_run_group_tests(tests, setup_group, NULL);
}
