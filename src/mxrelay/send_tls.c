/*
 * send_tls: the TLS policy options of `mxrelay send` (see send_tls.h).
 * A --tls-policy value is parsed by the configuration's own parser of a
 * tls_policy line, and the trust anchor file by its reader, so the
 * command and the daemon accept and refuse the same things.
 */
#include "send_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "smtp/smtp_hdrscan.h"
#include "util/xalloc.h"

/* Most --tls-policy options. */
#define SEND_TLS_RULES_MAX 1000

int send_tls_level(struct send_tls *t, const char *arg)
{
	if (!mxr_tls_policy_parse(arg, &t->level)) {
		fprintf(stderr, "mxrelay send: --tls wants none, may, encrypt, verify, dane, dane-only, "
		    "mta-sts or implicit, not \"%s\"\n", arg);
		return EX_USAGE;
	}
	t->level_set = true;
	return EX_OK;
}

int send_tls_policy(struct send_tls *t, const char *arg)
{
	char err[512];
	struct cfg_tls_policy p;
	if (t->n >= SEND_TLS_RULES_MAX) {
		fprintf(stderr, "mxrelay send: more than %d --tls-policy options\n", SEND_TLS_RULES_MAX);
		return EX_USAGE;
	}
	if (config_tls_policy_parse(arg, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxrelay send: --tls-policy \"%s\": %s\n", arg, err);
		return EX_USAGE;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->policies[i].domain, p.domain) == 0) {
			fprintf(stderr, "mxrelay send: --tls-policy: %s has a policy already\n", p.domain);
			free(p.match);
			return EX_USAGE;
		}
	}
	t->policies = xreallocarray(t->policies, t->n + 1, sizeof(*t->policies));
	t->policies[t->n++] = p;
	return EX_OK;
}

int send_tls_apply(struct send_tls *t, struct mxr_options *o)
{
	o->tls = t->level_set ? t->level : MXR_TLS_DANE;
	t->rules = xcalloc(t->n ? t->n : 1, sizeof(*t->rules));
	for (size_t i = 0; i < t->n; i++)
		t->rules[i] = (struct mxr_tls_rule){ .domain = t->policies[i].domain,
		    .policy = t->policies[i].policy, .match = t->policies[i].match };
	o->tls_rules = t->rules;
	o->ntls_rules = t->n;
	const char *file = t->anchor_file;
	if (file != NULL && strcmp(file, "none") == 0)
		return EX_OK;
	if (file == NULL) {
		/* As the daemon: Debian's root key when installed, no DNSSEC otherwise. */
		if (access(CFG_DEFAULT_TRUST_ANCHOR, R_OK) != 0)
			return EX_OK;
		file = CFG_DEFAULT_TRUST_ANCHOR;
	}
	char err[700];
	t->anchors = config_trust_anchor_read(file, err, sizeof(err));
	if (t->anchors == NULL) {
		fprintf(stderr, "mxrelay send: --dnssec-trust-anchor: %s\n", err);
		return EX_NOINPUT;
	}
	o->dnssec_anchors = t->anchors;
	return EX_OK;
}

void send_tls_free(struct send_tls *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->policies[i].match);
	free(t->policies);
	free(t->rules);
	free(t->anchors);
	memset(t, 0, sizeof(*t));
}

bool send_tls_header_optional(const struct mxr_source *src)
{
	struct smtp_hdrscan h;
	char buf[8192];
	uint64_t off = 0;
	smtp_hdrscan_init(&h);
	/* The header section only: the scanner stops at its end; a read error finds nothing more. */
	while (!h.done && off < src->size) {
		ssize_t n = src->read_at(src->arg, off, buf, sizeof(buf));
		if (n <= 0)
			break;
		smtp_hdrscan_feed(&h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return smtp_hdrscan_tls_optional(&h);
}

const char *send_tls_applied(enum mxr_tls_policy p, bool testing)
{
	return testing ? "mta-sts-testing" : mxr_tls_policy_name(p);
}
