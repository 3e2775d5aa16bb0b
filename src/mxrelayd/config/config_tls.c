/*
 * config_tls: the keys of outbound TLS policy beyond outbound_tls: the
 * per-destination tls_policy lines and the DNSSEC trust anchor that DANE
 * rests on.
 *
 * Owns: the tls_policy grammar (DOMAIN POLICY [match=NAMES]) and its
 * checks (one line per domain, match= only where it means something);
 * dnssec_trust_anchor (a file or none; by default Debian's root key when
 * it is installed), the anchor file read through the parser's file set
 * and checked record by record, naming its line; the TLS reporting keys
 * (tlsrpt_*) and their defaults from the hostname.
 * Never: resolves anything; decides a policy (the engine does, from the
 * frozen result).
 */
#include "config/config.h"
#include "config_parser.h"
#include "config_value.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dns/dns_anchor.h"
#include "dns/dns_rr.h"
#include "smtp/smtp_addr.h"
#include "util/file.h"
#include "util/xalloc.h"

/* Most tls_policy lines. */
#define CFG_TLS_POLICIES_MAX 10000
/* Largest trust anchor file read. */
#define CFG_ANCHOR_FILE_MAX (256 * 1024)

/* Whether one match= name is a keyword, a domain name or ".domain". */
static bool cfg_tls_match_name_ok(const char *name, size_t len)
{
	static const char *const words[] = { "hostname", "nexthop", "dot-nexthop" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == len && memcmp(words[i], name, len) == 0)
			return true;
	char buf[256], out[256];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, name, len);
	buf[len] = '\0';
	const char *d = buf[0] == '.' ? buf + 1 : buf;
	return dns_rr_name_normalize(d, out, sizeof(out)) == DNS_RR_OK && out[0] != '\0';
}

/* Check a match= value: names separated by ':'. */
static bool cfg_tls_match_ok(const char *v)
{
	if (*v == '\0')
		return false;
	for (;;) {
		const char *colon = strchr(v, ':');
		size_t len = colon != NULL ? (size_t)(colon - v) : strlen(v);
		if (!cfg_tls_match_name_ok(v, len))
			return false;
		if (colon == NULL)
			return true;
		v = colon + 1;
	}
}

int config_tls_policy_parse(const char *line, struct cfg_tls_policy *out, char *err,
    size_t errlen)
{
	char q[256], buf[CFG_LINE_MAX + 1];
	char *tok[4];
	memset(out, 0, sizeof(*out));
	snprintf(buf, sizeof(buf), "%s", line);
	size_t n = config_value_split(buf, tok, 4);
	if (n < 2 || n > 3) {
		snprintf(err, errlen, "expected 'DOMAIN POLICY [match=NAMES]'");
		return -1;
	}
	char key[DNS_RR_NAME_MAX];
	bool subdomains = tok[0][0] == '.';
	if (dns_rr_name_normalize(tok[0] + (subdomains ? 1 : 0), key, sizeof(key)) != DNS_RR_OK ||
	    key[0] == '\0') {
		snprintf(err, errlen, "'%s' is not a domain name (or .domain)",
		    cfg_quote(q, sizeof(q), tok[0]));
		return -1;
	}
	snprintf(out->domain, sizeof(out->domain), "%s%s", subdomains ? "." : "", key);
	/* Implicit TLS belongs to a smarthost's port 465, never to an MX host. */
	if (!mxr_tls_policy_parse(tok[1], &out->policy) || out->policy == MXR_TLS_IMPLICIT) {
		snprintf(err, errlen, "'%s' is not none, may, encrypt, verify, dane, dane-only or "
		    "mta-sts", cfg_quote(q, sizeof(q), tok[1]));
		return -1;
	}
	if (n < 3)
		return 0;
	if (strncmp(tok[2], "match=", 6) != 0) {
		snprintf(err, errlen, "expected match=NAMES, not '%s'", cfg_quote(q, sizeof(q), tok[2]));
		return -1;
	}
	if (out->policy != MXR_TLS_REQUIRED) {
		snprintf(err, errlen, "match= is for verify only (the names a verified certificate "
		    "may carry)");
		return -1;
	}
	if (!cfg_tls_match_ok(tok[2] + 6)) {
		snprintf(err, errlen, "match '%s' is not a list of hostname, nexthop, dot-nexthop, "
		    "names and .domains separated by ':'", cfg_quote(q, sizeof(q), tok[2] + 6));
		return -1;
	}
	out->match = xstrdup(tok[2] + 6);
	return 0;
}

/* tls_policy = DOMAIN POLICY [match=NAME[:NAME...]] */
int cfg_set_tls_policy(struct cfg_parser *p, char *value)
{
	struct config *c = p->c;
	if (c->ntls_policies >= CFG_TLS_POLICIES_MAX)
		return cfg_error(p, "tls_policy: more than %u lines", CFG_TLS_POLICIES_MAX);
	struct cfg_tls_policy tp;
	char why[512];
	if (config_tls_policy_parse(value, &tp, why, sizeof(why)) != 0)
		return cfg_error(p, "tls_policy: %s", why);
	for (size_t i = 0; i < c->ntls_policies; i++) {
		if (strcmp(c->tls_policies[i].domain, tp.domain) == 0) {
			free(tp.match);
			return cfg_error(p, "tls_policy: %s has a policy already", tp.domain);
		}
	}
	c->tls_policies = xreallocarray(c->tls_policies, c->ntls_policies + 1,
	    sizeof(*c->tls_policies));
	c->tls_policies[c->ntls_policies++] = tp;
	return 0;
}

/* dnssec_trust_anchor = FILE | none */
int cfg_set_dnssec_anchor(struct cfg_parser *p, char *value)
{
	char *v;
	if (cfg_one_token(p, "dnssec_trust_anchor", value, &v) < 0)
		return -1;
	free(p->c->dnssec_trust_anchor);
	p->c->dnssec_trust_anchor = xstrdup(v);
	return 0;
}

/* A free-text value (the rest of the line): printable, at most 200 octets. */
static int cfg_set_text(struct cfg_parser *p, const char *key, char *value, char **field)
{
	size_t n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		value[--n] = '\0';
	while (*value == ' ' || *value == '\t') {
		value++;
		n--;
	}
	if (n == 0 || n > 200)
		return cfg_error(p, "%s: expected a text of 1 to 200 octets", key);
	for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f || *c == '"' || *c == '\\')
			return cfg_error(p, "%s: control characters, quotes and backslashes are not "
			    "allowed", key);
	free(*field);
	*field = xstrdup(value);
	return 0;
}

int cfg_set_tlsrpt_organization(struct cfg_parser *p, char *value)
{
	return cfg_set_text(p, "tlsrpt_organization", value, &p->c->tlsrpt_organization);
}

int cfg_set_tlsrpt_contact(struct cfg_parser *p, char *value)
{
	return cfg_set_text(p, "tlsrpt_contact", value, &p->c->tlsrpt_contact);
}

/* The reporting addresses and names, with their defaults from the hostname. */
static int cfg_finish_tlsrpt(struct cfg_parser *p, unsigned sender_line)
{
	struct config *c = p->c;
	char buf[512];
	if (c->tlsrpt_submitter == NULL)
		c->tlsrpt_submitter = xstrdup(c->hostname);
	if (c->tlsrpt_contact == NULL) {
		snprintf(buf, sizeof(buf), "postmaster@%s", c->hostname);
		c->tlsrpt_contact = xstrdup(buf);
	}
	if (c->tlsrpt_sender == NULL) {
		snprintf(buf, sizeof(buf), "noreply-smtp-tls-reporting@%s", c->hostname);
		c->tlsrpt_sender = xstrdup(buf);
	}
	struct smtp_addr a;
	const char *why = NULL;
	if (smtp_addr_parse_mailbox(c->tlsrpt_sender, strlen(c->tlsrpt_sender), 0, &a, &why) != 0 ||
	    a.kind != SMTP_ADDR_MAILBOX)
		return cfg_error_at(p, sender_line, "tlsrpt_sender: '%s' is not an address "
		    "(local@domain)", c->tlsrpt_sender);
	return 0;
}

/* Check anchor text read from path; a copy of it, or NULL with "PATH:LINE: why" in err. */
static char *cfg_tls_check_anchors(const char *path, const char *text, size_t len, char *err,
    size_t errlen)
{
	char why[256];
	unsigned bad = 0;
	if (dns_anchor_parse(text, len, NULL, NULL, &bad, why, sizeof(why)) < 0) {
		if (bad > 0)
			snprintf(err, errlen, "%s:%u: %s", path, bad, why);
		else
			snprintf(err, errlen, "%s: %s", path, why);
		return NULL;
	}
	char *copy = xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

char *config_trust_anchor_read(const char *path, char *err, size_t errlen)
{
	char ferr[512];
	size_t len = 0;
	char *text = file_read_all(path, CFG_ANCHOR_FILE_MAX, &len, ferr, sizeof(ferr));
	if (text == NULL) {
		snprintf(err, errlen, "cannot read %s", ferr);
		return NULL;
	}
	char *out = cfg_tls_check_anchors(path, text, len, err, errlen);
	free(text);
	return out;
}

/* Read the anchor file through the parser's file set (or the disk) and check it. */
static int cfg_tls_read_anchors(struct cfg_parser *p, unsigned line)
{
	struct config *c = p->c;
	char err[700];
	if (p->files == NULL) {
		c->dnssec_anchors = config_trust_anchor_read(c->dnssec_trust_anchor, err, sizeof(err));
	} else {
		char ferr[512];
		size_t len = 0;
		const char *text = file_set_get(p->files, c->dnssec_trust_anchor, CFG_ANCHOR_FILE_MAX,
		    &len, ferr, sizeof(ferr));
		if (text == NULL)
			snprintf(err, sizeof(err), "cannot read %s", ferr);
		else
			c->dnssec_anchors = cfg_tls_check_anchors(c->dnssec_trust_anchor, text, len, err,
			    sizeof(err));
	}
	if (c->dnssec_anchors == NULL)
		return cfg_error_at(p, line, "dnssec_trust_anchor: %s", err);
	return 0;
}

/*
 * The trust anchor once the whole file is read: "none" turns validation
 * off; unset, Debian's root key is used when the package that brings it
 * is installed, and validation is off (DANE never applies) otherwise. A
 * file the administrator named must be there. Sendmail reads none.
 */
int cfg_finish_tls(struct cfg_parser *p, unsigned anchor_line, unsigned sender_line)
{
	struct config *c = p->c;
	if (cfg_finish_tlsrpt(p, sender_line) < 0)
		return -1;
	if (c->dnssec_trust_anchor != NULL && strcmp(c->dnssec_trust_anchor, "none") == 0) {
		free(c->dnssec_trust_anchor);
		c->dnssec_trust_anchor = NULL;
		return 0;
	}
	if (c->dnssec_trust_anchor == NULL) {
		struct stat st;
		if (stat(CFG_DEFAULT_TRUST_ANCHOR, &st) != 0)
			return 0;
		c->dnssec_trust_anchor = xstrdup(CFG_DEFAULT_TRUST_ANCHOR);
	}
	if (p->submission)
		return 0;
	return cfg_tls_read_anchors(p, anchor_line);
}

void config_tls_free(struct config *c)
{
	for (size_t i = 0; i < c->ntls_policies; i++)
		free(c->tls_policies[i].match);
	free(c->tls_policies);
	free(c->dnssec_trust_anchor);
	free(c->dnssec_anchors);
	free(c->tlsrpt_organization);
	free(c->tlsrpt_contact);
	free(c->tlsrpt_sender);
	free(c->tlsrpt_submitter);
}
