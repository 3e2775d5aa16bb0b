/*
 * client_context: mxr_context_new/free, the shared and frozen part of
 * every delivery.
 *
 * Owns: validating the options once (DNS server, source address, CA
 * file, smarthost), the copies of the option strings, the resolver, the
 * TLS contexts and the idle-session cache (closed on free). Never: logs
 * the AUTH password; keeps it only as long as the context lives and wipes
 * it on free.
 */
#include "client_context.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_tlspol.h"
#include "dns/dns_rr.h"
#include "net/net_tls.h"
#include "util/hostname.h"
#include "util/xalloc.h"

/* strdup that keeps NULL. */
static char *cc_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

int client_context_parse_relay(const char *s, char *host, size_t hostlen, bool *no_mx,
    uint16_t *port, const char **err)
{
	const char *end;
	*no_mx = false;
	*port = 0;
	if (s == NULL || *s == '\0') {
		*err = "empty smarthost";
		return -1;
	}
	if (*s == '[') {
		end = strchr(s, ']');
		if (end == NULL || end == s + 1) {
			*err = "smarthost: unbalanced [ ]";
			return -1;
		}
		size_t len = (size_t)(end - s - 1);
		if (len >= hostlen) {
			*err = "smarthost: name too long";
			return -1;
		}
		memcpy(host, s + 1, len);
		host[len] = '\0';
		*no_mx = true;
		end++;
	} else {
		end = strchr(s, ':');
		if (end == NULL)
			end = s + strlen(s);
		size_t len = (size_t)(end - s);
		if (len >= hostlen) {
			*err = "smarthost: name too long";
			return -1;
		}
		memcpy(host, s, len);
		host[len] = '\0';
	}
	if (*end == ':') {
		char *stop = NULL;
		unsigned long p = strtoul(end + 1, &stop, 10);
		if (end[1] == '\0' || *stop != '\0' || p == 0 || p > 65535) {
			*err = "smarthost: bad port";
			return -1;
		}
		*port = (uint16_t)p;
	} else if (*end != '\0') {
		*err = "smarthost: junk after the host";
		return -1;
	}
	for (const char *p = host; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != ':' && *p != '_') {
			*err = "smarthost: bad character in the host";
			return -1;
		}
	}
	if (host[0] == '\0') {
		*err = "smarthost: empty host";
		return -1;
	}
	return 0;
}


/* Copy the TLS rules (strings too); a rule without a domain is refused. */
static int cc_copy_rules(struct mxr_context *c, const struct mxr_options *opt, char *err,
    size_t errlen)
{
	c->opt.tls_rules = NULL;
	c->opt.ntls_rules = 0;
	if (opt->ntls_rules == 0)
		return 0;
	c->rules = xcalloc(opt->ntls_rules, sizeof(*c->rules));
	for (size_t i = 0; i < opt->ntls_rules; i++) {
		const struct mxr_tls_rule *r = &opt->tls_rules[i];
		if (r->domain == NULL || r->domain[0] == '\0') {
			snprintf(err, errlen, "TLS rule %zu has no domain", i + 1);
			return -1;
		}
		/* The one form a domain is compared in (".parent" keeps its dot). */
		char key[DNS_RR_NAME_MAX + 1];
		bool parent = r->domain[0] == '.';
		key[0] = '.';
		if (dns_rr_name_key(r->domain + parent, strlen(r->domain + parent), key + parent,
		    sizeof(key) - parent) == 0) {
			snprintf(err, errlen, "TLS rule %zu: bad domain", i + 1);
			return -1;
		}
		c->rules[i].domain = xstrdup(key);
		c->rules[i].policy = r->policy;
		c->rules[i].match = r->match != NULL ? xstrdup(r->match) : NULL;
		c->opt.ntls_rules = i + 1;
	}
	c->opt.tls_rules = c->rules;
	return 0;
}

/* Whether any level of the context may look for MTA-STS policies (not through a smarthost). */
static bool cc_wants_sts(const struct mxr_context *c)
{
	if (c->has_relay)
		return false;
	if (client_tlspol_wants_sts(c->opt.tls, true))
		return true;
	for (size_t i = 0; i < c->opt.ntls_rules; i++)
		if (client_tlspol_wants_sts(c->rules[i].policy, true))
			return true;
	return false;
}

/* Whether an EHLO name is one token of printable ASCII. */
static bool cc_helo_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 255)
		return false;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

struct mxr_context *mxr_context_new(struct event_base *base, const struct mxr_options *opt,
    char *err, size_t errlen)
{
	struct mxr_options z = { 0 };
	if (opt == NULL)
		opt = &z;
	if (errlen > 0)
		err[0] = '\0';
	struct mxr_context *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->opt = *opt;
	c->helo_name = opt->helo_name != NULL ? xstrdup(opt->helo_name) : hostname_fqdn();
	c->dns_server = cc_dup(opt->dns_server);
	c->ca_file = cc_dup(opt->ca_file);
	c->auth_user = cc_dup(opt->auth_user);
	c->auth_pass = cc_dup(opt->auth_pass);
	c->opt.helo_name = c->helo_name;
	c->opt.dns_server = c->dns_server;
	c->opt.ca_file = c->ca_file;
	c->opt.auth_user = c->auth_user;
	c->opt.auth_pass = c->auth_pass;
	c->opt.source_addr = NULL;
	c->opt.smarthost = NULL;
	if (opt->observer != NULL) {
		c->observer = *opt->observer;
		c->opt.observer = &c->observer;
	}
	if (c->opt.max_parallel == 0)
		c->opt.max_parallel = 16;
	client_session_timeouts(&opt->timeouts, &c->to);
	switch (opt->family) {
	case MXR_FAMILY_PREFER_V4: c->family = DNS_FAMILY_PREFER_V4; break;
	case MXR_FAMILY_V4_ONLY: c->family = DNS_FAMILY_V4_ONLY; break;
	case MXR_FAMILY_V6_ONLY: c->family = DNS_FAMILY_V6_ONLY; break;
	default: c->family = DNS_FAMILY_ANY; break;
	}
	c->port = opt->port != 0 ? opt->port : (opt->tls == MXR_TLS_IMPLICIT ? 465 : 25);

	const char *e = NULL;
	if (!cc_helo_ok(c->helo_name)) {
		snprintf(err, errlen, "bad EHLO name \"%s\"", c->helo_name);
		goto fail;
	}
	if (opt->source_addr != NULL) {
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM };
		struct addrinfo *ai = NULL;
		if (getaddrinfo(opt->source_addr, NULL, &hints, &ai) != 0 || ai == NULL ||
		    ai->ai_addrlen > sizeof(c->src)) {
			if (ai != NULL)
				freeaddrinfo(ai);
			snprintf(err, errlen, "bad source address \"%s\"", opt->source_addr);
			goto fail;
		}
		memcpy(&c->src, ai->ai_addr, ai->ai_addrlen);
		c->srclen = (socklen_t)ai->ai_addrlen;
		c->has_src = true;
		freeaddrinfo(ai);
	}
	if (opt->smarthost != NULL) {
		if (client_context_parse_relay(opt->smarthost, c->relay_host, sizeof(c->relay_host),
		    &c->relay_no_mx, &c->relay_port, &e) != 0) {
			snprintf(err, errlen, "%s", e);
			goto fail;
		}
		c->has_relay = true;
	}
	/* One context judges every connection afterwards, against each host's plan. */
	c->tls_ctx = net_tls_client_ctx(c->ca_file, false, &e);
	if (c->tls_ctx == NULL) {
		snprintf(err, errlen, "TLS: %s", e != NULL ? e : "cannot create a context");
		goto fail;
	}
	if (cc_copy_rules(c, opt, err, errlen) != 0)
		goto fail;
	if (opt->reuse_idle_ms > 0)
		c->pool = client_pool_new();
	c->dns = dns_resolver_new(base, c->dns_server, opt->dnssec_anchors, &e);
	if (c->dns == NULL) {
		snprintf(err, errlen, "DNS: %s", e != NULL ? e : "cannot create a resolver");
		goto fail;
	}
	c->dnssec = opt->dnssec_anchors != NULL;
	/* The resolver keeps what it needs of the anchors; the caller's text may go. */
	c->opt.dnssec_anchors = NULL;
	if (cc_wants_sts(c)) {
		struct client_sts_cfg sc = {
			.base = base,
			.dns = c->dns,
			.family = c->family,
			.ca_file = c->ca_file,
			.timeout_ms = (opt->sts_fetch_timeout != 0 ? opt->sts_fetch_timeout : 30) * 1000u,
			.store = opt->sts_store,
			.user_agent = "mxrelay/" MXR_VERSION,
		};
		c->sts = client_sts_new(&sc);
	}
	c->opt.sts_store = NULL;	/* client_sts keeps its own copy */
	return c;
fail:
	mxr_context_free(c);
	return NULL;
}

void mxr_context_free(struct mxr_context *c)
{
	if (c == NULL)
		return;
	client_pool_free(c->pool);
	/* Before the resolver: its lookups in flight are the resolver's to cancel. */
	client_sts_free(c->sts);
	dns_resolver_free(c->dns);
	net_tls_ctx_free(c->tls_ctx);
	for (size_t i = 0; i < c->opt.ntls_rules; i++) {
		free((char *)c->rules[i].domain);
		free((char *)c->rules[i].match);
	}
	free(c->rules);
	if (c->auth_pass != NULL)
		explicit_bzero(c->auth_pass, strlen(c->auth_pass));
	free(c->auth_pass);
	free(c->auth_user);
	free(c->helo_name);
	free(c->dns_server);
	free(c->ca_file);
	free(c);
}

void mxr_context_close_idle(struct mxr_context *c)
{
	if (c != NULL)
		client_pool_close_all(c->pool);
}

size_t mxr_context_idle_count(const struct mxr_context *c)
{
	return c != NULL ? client_pool_count(c->pool) : 0;
}
