/*
 * config_print: a loaded configuration written back as "key = value"
 * lines, every key with its effective value or only those set in the
 * file (`mxrelay check-config --print` and `--print-changed`).
 *
 * Owns: the printed form of each key's value. The keys come from the
 * grammar's own table (config_key_info), so a new key is printed without
 * a change here, unless it has its own syntax: such a key needs a
 * printer below, and a key without one makes config_print fail (the unit
 * test runs it over every key).
 * Never: prints a password (a route's password-file path is printed, its
 * contents never are; queue_dsn is printed masked); changes the configuration.
 */
#include "config/config_print.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "config_value.h"
#include "dkim/dkim_key.h"
#include "util/log.h"

/* The field at off in c, as a pointer to read a value of its type from. */
static const void *config_print_field(const struct config *c, size_t off)
{
	return (const char *)c + off;
}

/* A route's options after its smarthost, as route = and smarthost = take them; no password. */
static void config_print_route_tail(FILE *out, const struct cfg_route *r)
{
	fprintf(out, " tls=%s", mxr_tls_policy_name(r->tls));
	if (r->auth_user != NULL)
		fprintf(out, " auth=%s", r->auth_user);
	if (r->password_file != NULL)
		fprintf(out, " password-file=%s", r->password_file);
	fputc('\n', out);
}

static void config_print_listen(FILE *out, const struct config *c, const char *key)
{
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct cfg_listener *l = &c->listeners[i];
		fprintf(out, "%s = %s %s%s\n", key, l->text, config_listen_mode_name(l->mode),
		    l->auth_plaintext ? " auth-plaintext" : "");
	}
	if (c->nlisteners == 0)
		fprintf(out, "%s =\n", key);
}

static void config_print_log_level(FILE *out, const struct config *c, const char *key)
{
	static const char *const names[] = {
		[LOG_LVL_DEBUG] = "debug", [LOG_LVL_INFO] = "info", [LOG_LVL_WARN] = "warn",
		[LOG_LVL_ERR] = "error",
	};
	unsigned lvl = (unsigned)c->log_level;
	fprintf(out, "%s = %s\n", key, lvl < sizeof(names) / sizeof(names[0]) && names[lvl] != NULL ?
	    names[lvl] : "?");
}

static void config_print_network_list(FILE *out, const char *key, const struct cfg_network *nets,
    size_t n)
{
	char buf[128];
	fprintf(out, "%s =", key);
	if (n == 0)
		fprintf(out, " none");
	for (size_t i = 0; i < n; i++) {
		config_network_format(&nets[i], buf, sizeof(buf));
		fprintf(out, " %s", buf);
	}
	fputc('\n', out);
}

static void config_print_networks(FILE *out, const struct config *c, const char *key)
{
	config_print_network_list(out, key, c->networks, c->nnetworks);
}

static void config_print_http_allow(FILE *out, const struct config *c, const char *key)
{
	config_print_network_list(out, key, c->http_allow, c->nhttp_allow);
}

static void config_print_http_listen(FILE *out, const struct config *c, const char *key)
{
	for (size_t i = 0; i < c->nhttp_listeners; i++)
		fprintf(out, "%s = %s\n", key, c->http_listeners[i].text);
	if (c->nhttp_listeners == 0)
		fprintf(out, "%s = none\n", key);
}

static void config_print_domains(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s =", key);
	if (c->nrelay_domains == 0)
		fprintf(out, " none");
	for (size_t i = 0; i < c->nrelay_domains; i++)
		fprintf(out, " %s", c->relay_domains[i]);
	fputc('\n', out);
}

static void config_print_log(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s = %s\n", key, c->log_syslog ? "syslog" : "stderr");
}

static void config_print_bare_newline(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s = %s\n", key, c->bare_newline == CFG_BARE_NEWLINE_REJECT ? "reject" : "normalize");
}

static void config_print_sender_override(FILE *out, const struct config *c, const char *key)
{
	if (c->local_sender_any) {
		fprintf(out, "%s = *\n", key);
		return;
	}
	if (c->nlocal_sender_override == 0) {
		fprintf(out, "%s = none\n", key);
		return;
	}
	fprintf(out, "%s =", key);
	for (size_t i = 0; i < c->nlocal_sender_override; i++)
		fprintf(out, " %s", c->local_sender_override[i]);
	fputc('\n', out);
}

static void config_print_vrfy(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s = %s\n", key, c->vrfy == CFG_VRFY_DISABLED ? "disabled" : "252");
}

static void config_print_family(FILE *out, const struct config *c, const char *key)
{
	const char *name = "?";
	switch (c->family) {
	case MXR_FAMILY_ANY: name = "any"; break;
	case MXR_FAMILY_PREFER_V4: name = "ipv4"; break;
	case MXR_FAMILY_V4_ONLY: name = "ipv4-only"; break;
	case MXR_FAMILY_V6_ONLY: name = "ipv6-only"; break;
	}
	fprintf(out, "%s = %s\n", key, name);
}

static void config_print_outbound_tls(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s = %s\n", key, mxr_tls_policy_name(c->tls_policy));
}

/* tls_policy = one line per destination with its own policy. */
static void config_print_tls_policies(FILE *out, const struct config *c, const char *key)
{
	for (size_t i = 0; i < c->ntls_policies; i++) {
		const struct cfg_tls_policy *t = &c->tls_policies[i];
		fprintf(out, "%s = %s %s%s%s\n", key, t->domain, mxr_tls_policy_name(t->policy),
		    t->match != NULL ? " match=" : "", t->match != NULL ? t->match : "");
	}
	if (c->ntls_policies == 0)
		fprintf(out, "%s =\n", key);
}

static void config_print_dnssec_anchor(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s = %s\n", key, c->dnssec_trust_anchor != NULL ? c->dnssec_trust_anchor :
	    "none");
}

static void config_print_tlsrpt_organization(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s =%s%s\n", key, c->tlsrpt_organization != NULL ? " " : "",
	    c->tlsrpt_organization != NULL ? c->tlsrpt_organization : "");
}

static void config_print_tlsrpt_contact(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s =%s%s\n", key, c->tlsrpt_contact != NULL ? " " : "",
	    c->tlsrpt_contact != NULL ? c->tlsrpt_contact : "");
}

static void config_print_rate_exempt(FILE *out, const struct config *c, const char *key)
{
	config_print_network_list(out, key, c->rate.exempt, c->rate.nexempt);
}

/* user_rate = one line per user with limits of its own, the parts it gives. */
static void config_print_user_rates(FILE *out, const struct config *c, const char *key)
{
	char buf[64];
	for (size_t i = 0; i < c->rate.nusers; i++) {
		const struct cfg_user_rate *u = &c->rate.users[i];
		fprintf(out, "%s = %s", key, u->user);
		if (u->has_messages) {
			config_rate_format(&u->messages, "unlimited", buf, sizeof(buf));
			fprintf(out, " messages=%s", buf);
		}
		if (u->has_recipients) {
			config_rate_format(&u->recipients, "unlimited", buf, sizeof(buf));
			fprintf(out, " recipients=%s", buf);
		}
		fputc('\n', out);
	}
	if (c->rate.nusers == 0)
		fprintf(out, "%s =\n", key);
}

/* smarthost = the route for all mail ("*"), when there is one. */
static void config_print_smarthost(FILE *out, const struct config *c, const char *key)
{
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct cfg_route *r = &c->routes[i];
		if (strcmp(r->domain, "*") != 0)
			continue;
		/* "smarthost = HOST opts": the host stands first, without "smarthost=". */
		fprintf(out, "%s = %s", key, r->smarthost);
		config_print_route_tail(out, r);
		return;
	}
	fprintf(out, "%s =\n", key);
}

/* route = one line per recipient domain with its own route. */
static void config_print_routes(FILE *out, const struct config *c, const char *key)
{
	bool any = false;
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct cfg_route *r = &c->routes[i];
		if (strcmp(r->domain, "*") == 0)
			continue;
		fprintf(out, "%s = %s smarthost=%s", key, r->domain, r->smarthost);
		config_print_route_tail(out, r);
		any = true;
	}
	if (!any)
		fprintf(out, "%s =\n", key);
}

static void config_print_retry(FILE *out, const struct config *c, const char *key)
{
	char buf[32];
	fprintf(out, "%s =", key);
	for (size_t i = 0; i < c->nretry_intervals; i++) {
		config_value_format_duration(c->retry_intervals[i], buf, sizeof(buf));
		fprintf(out, " %s", buf);
	}
	fputc('\n', out);
}

static void config_print_queue_backend(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s = %s\n", key, c->queue_backend == CFG_QUEUE_POSTGRESQL ? "postgresql" :
	    "sqlite");
}

/* queue_dsn with its password masked: never printed as it is. */
static void config_print_queue_dsn(FILE *out, const struct config *c, const char *key)
{
	char masked[CFG_LINE_MAX];
	config_queue_dsn_mask(c->queue_dsn, masked, sizeof(masked));
	fprintf(out, "%s =%s%s\n", key, c->queue_dsn != NULL ? " " : "", masked);
}

static void config_print_node_id(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s = %s\n", key, c->node_id != NULL ? c->node_id : "");
}

static void config_print_from_check(FILE *out, const struct config *c, const char *key)
{
	fprintf(out, "%s = %s\n", key, c->from_check ? "refuse" : "off");
}

static void config_print_dkim(FILE *out, const struct config *c, const char *key)
{
	if (c->ndkim == 0)
		fprintf(out, "%s =\n", key);
	for (size_t i = 0; i < c->ndkim; i++) {
		const struct cfg_dkim *d = &c->dkim[i];
		fprintf(out, "%s = %s %s %s", key, d->domain, d->selector, d->key_file);
		if (d->alg >= 0)
			fprintf(out, " algorithm=%s", dkim_alg_name((enum dkim_alg)d->alg));
		fputc('\n', out);
	}
}

/* The keys with their own syntax, by name. */
static const struct config_print_special {
	const char *name;
	void (*print)(FILE *out, const struct config *c, const char *key);
} config_print_specials[] = {
	{ "listen", config_print_listen },
	{ "log_level", config_print_log_level },
	{ "log", config_print_log },
	{ "bare_newline", config_print_bare_newline },
	{ "from_check", config_print_from_check },
	{ "dkim_sign", config_print_dkim },
	{ "local_sender_override", config_print_sender_override },
	{ "relay_networks", config_print_networks },
	{ "http_listen", config_print_http_listen },
	{ "http_allow", config_print_http_allow },
	{ "relay_domains", config_print_domains },
	{ "vrfy", config_print_vrfy },
	{ "address_preference", config_print_family },
	{ "outbound_tls", config_print_outbound_tls },
	{ "tls_policy", config_print_tls_policies },
	{ "dnssec_trust_anchor", config_print_dnssec_anchor },
	{ "tlsrpt_organization", config_print_tlsrpt_organization },
	{ "tlsrpt_contact", config_print_tlsrpt_contact },
	{ "smarthost", config_print_smarthost },
	{ "route", config_print_routes },
	{ "retry_intervals", config_print_retry },
	{ "queue_backend", config_print_queue_backend },
	{ "queue_dsn", config_print_queue_dsn },
	{ "node_id", config_print_node_id },
	{ "user_rate", config_print_user_rates },
	{ "rate_limit_exempt", config_print_rate_exempt },
};

/* Print one key of a plain type. */
static void config_print_plain(FILE *out, const struct config *c,
    const struct config_key_info *k)
{
	const void *f = config_print_field(c, k->off);
	char buf[64];
	unsigned u;
	uint64_t u64;
	bool b;
	const char *s;
	struct cfg_rate r;
	switch (k->type) {
	case CONFIG_KEY_STRING:
		memcpy(&s, f, sizeof(s));
		fprintf(out, "%s =%s%s\n", k->name, s != NULL ? " " : "", s != NULL ? s : "");
		return;
	case CONFIG_KEY_UINT:
		memcpy(&u, f, sizeof(u));
		fprintf(out, "%s = %u\n", k->name, u);
		return;
	case CONFIG_KEY_SIZE:
		memcpy(&u64, f, sizeof(u64));
		config_value_format_size(u64, buf, sizeof(buf));
		fprintf(out, "%s = %s\n", k->name, buf);
		return;
	case CONFIG_KEY_DURATION:
		memcpy(&u, f, sizeof(u));
		config_value_format_duration(u, buf, sizeof(buf));
		fprintf(out, "%s = %s\n", k->name, buf);
		return;
	case CONFIG_KEY_BOOL:
		memcpy(&b, f, sizeof(b));
		fprintf(out, "%s = %s\n", k->name, b ? "yes" : "no");
		return;
	case CONFIG_KEY_RATE:
		memcpy(&r, f, sizeof(r));
		config_rate_format(&r, "off", buf, sizeof(buf));
		fprintf(out, "%s = %s\n", k->name, buf);
		return;
	case CONFIG_KEY_SPECIAL:
		break;
	}
}

const char *config_print_unprintable(void)
{
	for (size_t i = 0; i < config_key_count(); i++) {
		struct config_key_info k;
		config_key_info(i, &k);
		if (k.type != CONFIG_KEY_SPECIAL)
			continue;
		bool found = false;
		for (size_t s = 0; s < sizeof(config_print_specials) / sizeof(config_print_specials[0]); s++)
			found = found || strcmp(config_print_specials[s].name, k.name) == 0;
		if (!found)
			return k.name;
	}
	return NULL;
}

int config_print(const struct config *c, bool changed_only, FILE *out, const char **missing)
{
	*missing = NULL;
	for (size_t i = 0; i < config_key_count(); i++) {
		struct config_key_info k;
		config_key_info(i, &k);
		if (changed_only && (c->key_line == NULL || c->key_line[i] == 0))
			continue;
		if (k.type != CONFIG_KEY_SPECIAL) {
			config_print_plain(out, c, &k);
			continue;
		}
		const struct config_print_special *sp = NULL;
		for (size_t s = 0; s < sizeof(config_print_specials) / sizeof(config_print_specials[0]); s++)
			if (strcmp(config_print_specials[s].name, k.name) == 0)
				sp = &config_print_specials[s];
		if (sp == NULL) {
			*missing = k.name;
			return -1;
		}
		sp->print(out, c, k.name);
	}
	return 0;
}
