/*
 * config_setters: the keys with a syntax of their own (CFG_K_FUNC in the
 * key table), other than route and smarthost (config_routes.c) and
 * user_rate (config_rate.c): listen, relay_networks, http_allow,
 * rate_limit_exempt, relay_domains, retry_intervals, the keys that name one
 * of a set of words (log_level, log, vrfy, address_preference,
 * outbound_tls, bare_newline, from_check), and local_sender_override.
 *
 * Owns: each such key's syntax and its error messages; refusing a
 * relay_networks entry that would make an open relay.
 * Never: reads files; checks one key against another (config_check.c).
 */
#include "config/config.h"
#include "config_parser.h"
#include "config_value.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/log.h"
#include "util/xalloc.h"

/* ---- listen and the lists ----------------------------------------------- */

/* listen = ADDRESS:PORT MODE [auth-plaintext] */
int cfg_set_listen(struct cfg_parser *p, char *value)
{
	char q[256];
	char *tok[8];
	size_t n = config_value_split(value, tok, 8);
	if (n < 2 || n > 3)
		return cfg_error(p, "listen: expected 'ADDRESS:PORT MODE [auth-plaintext]'");
	struct cfg_listener l;
	memset(&l, 0, sizeof(l));
	const char *why;
	if (strlen(tok[0]) >= sizeof(l.text))
		return cfg_error(p, "listen: '%s' is too long", cfg_quote(q, sizeof(q), tok[0]));
	if (config_value_hostport(tok[0], false, &l.addr, &l.addrlen, &why) < 0)
		return cfg_error(p, "listen: '%s' %s", cfg_quote(q, sizeof(q), tok[0]), why);
	snprintf(l.text, sizeof(l.text), "%s", tok[0]);
	if (strcmp(tok[1], "relay") == 0)
		l.mode = CFG_LISTEN_RELAY;
	else if (strcmp(tok[1], "submission") == 0)
		l.mode = CFG_LISTEN_SUBMISSION;
	else if (strcmp(tok[1], "smtps") == 0)
		l.mode = CFG_LISTEN_SMTPS;
	else
		return cfg_error(p, "listen: mode '%s' is not relay, submission or smtps",
		    cfg_quote(q, sizeof(q), tok[1]));
	l.require_auth = l.mode != CFG_LISTEN_RELAY;
	if (n == 3) {
		if (strcmp(tok[2], "auth-plaintext") != 0)
			return cfg_error(p, "listen: unknown option '%s' (only auth-plaintext)",
			    cfg_quote(q, sizeof(q), tok[2]));
		if (!config_value_is_loopback(&l.addr))
			return cfg_error(p, "listen: auth-plaintext is only allowed on a loopback "
			    "address, not %s", l.text);
		l.auth_plaintext = true;
	}
	struct config *c = p->c;
	for (size_t i = 0; i < c->nlisteners; i++) {
		if (c->listeners[i].addrlen == l.addrlen &&
		    memcmp(&c->listeners[i].addr, &l.addr, l.addrlen) == 0)
			return cfg_error(p, "listen: %s is already a listener (line %u)",
			    l.text, p->listener_line[i]);
	}
	c->listeners = xreallocarray(c->listeners, c->nlisteners + 1, sizeof(*c->listeners));
	p->listener_line = xreallocarray(p->listener_line, c->nlisteners + 1, sizeof(unsigned));
	p->listener_line[c->nlisteners] = p->line;
	c->listeners[c->nlisteners++] = l;
	return 0;
}

/*
 * Whether net takes in a large part of the Internet: shorter than an IPv4
 * /8 or an IPv6 /16 (IPv4-mapped IPv6 counted as IPv4). Listing it would
 * make an open relay, the worst fault a mail server can have.
 */
static bool cfg_network_too_wide(const struct cfg_network *net)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (net->family == AF_INET)
		return net->prefix < 8;
	if (net->prefix >= 96 && memcmp(net->addr, v4mapped, sizeof(v4mapped)) == 0)
		return net->prefix < 96 + 8;
	return net->prefix < 16;
}

/* relay_networks = CIDR ..., or "none" */
/*
 * KEY = NETWORK ..., or "none": the list into *nets (replacing what it
 * held). wide_ok: a network that takes in most of the Internet is allowed
 * (http_allow may; relay_networks must not, that is an open relay).
 */
static int cfg_set_network_list(struct cfg_parser *p, const char *key, char *value,
    struct cfg_network **nets, size_t *nnets, bool wide_ok)
{
	char q[256];
	char *tok[1024];
	size_t n = config_value_split(value, tok, 1024);
	if (n > 1024)
		return cfg_error(p, "%s: more than 1024 networks", key);
	free(*nets);
	*nets = NULL;
	*nnets = 0;
	if (n == 1 && strcmp(tok[0], "none") == 0)
		return 0;
	*nets = xcalloc(n, sizeof(**nets));
	for (size_t i = 0; i < n; i++) {
		const char *why;
		if (config_value_network(tok[i], &(*nets)[i], &why) < 0)
			return cfg_error(p, "%s: '%s' %s", key, cfg_quote(q, sizeof(q), tok[i]), why);
		if (!wide_ok && cfg_network_too_wide(&(*nets)[i]))
			return cfg_error(p, "%s: '%s' would let most of the Internet relay "
			    "(an open relay); list only your own networks, and let other clients "
			    "authenticate", key, cfg_quote(q, sizeof(q), tok[i]));
		(*nnets)++;
	}
	return 0;
}

/* relay_networks = NETWORK ..., or "none" */
int cfg_set_networks(struct cfg_parser *p, char *value)
{
	return cfg_set_network_list(p, "relay_networks", value, &p->c->networks,
	    &p->c->nnetworks, false);
}

/* http_allow = NETWORK ..., or "none" (the HTTP listener then answers nobody) */
int cfg_set_http_allow(struct cfg_parser *p, char *value)
{
	return cfg_set_network_list(p, "http_allow", value, &p->c->http_allow,
	    &p->c->nhttp_allow, true);
}

/* rate_limit_exempt = NETWORK ..., or "none": clients no client rate limit applies to */
int cfg_set_rate_exempt(struct cfg_parser *p, char *value)
{
	return cfg_set_network_list(p, "rate_limit_exempt", value, &p->c->rate.exempt,
	    &p->c->rate.nexempt, true);
}

/* http_listen = ADDRESS:PORT, on as many lines as wanted, or "none" */
int cfg_set_http_listen(struct cfg_parser *p, char *value)
{
	char q[256];
	struct config *c = p->c;
	if (strcmp(value, "none") == 0) {
		free(c->http_listeners);
		c->http_listeners = NULL;
		c->nhttp_listeners = 0;
		return 0;
	}
	struct cfg_http_listener l;
	memset(&l, 0, sizeof(l));
	const char *why;
	if (strlen(value) >= sizeof(l.text) || strpbrk(value, " \t,") != NULL)
		return cfg_error(p, "http_listen: expected one 'ADDRESS:PORT', not '%s'",
		    cfg_quote(q, sizeof(q), value));
	if (config_value_hostport(value, false, &l.addr, &l.addrlen, &why) < 0)
		return cfg_error(p, "http_listen: '%s' %s", cfg_quote(q, sizeof(q), value), why);
	snprintf(l.text, sizeof(l.text), "%s", value);
	for (size_t i = 0; i < c->nhttp_listeners; i++)
		if (c->http_listeners[i].addrlen == l.addrlen &&
		    memcmp(&c->http_listeners[i].addr, &l.addr, l.addrlen) == 0)
			return cfg_error(p, "http_listen: %s is given twice", l.text);
	c->http_listeners = xreallocarray(c->http_listeners, c->nhttp_listeners + 1,
	    sizeof(*c->http_listeners));
	c->http_listeners[c->nhttp_listeners++] = l;
	return 0;
}

/* relay_domains = DOMAIN ..., or "none" */
int cfg_set_domains(struct cfg_parser *p, char *value)
{
	char q[256];
	char *tok[1024];
	size_t n = config_value_split(value, tok, 1024);
	if (n > 1024)
		return cfg_error(p, "relay_domains: more than 1024 domains");
	if (n == 1 && strcmp(tok[0], "none") == 0)
		return 0;
	struct config *c = p->c;
	c->relay_domains = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		cfg_quote(q, sizeof(q), tok[i]);
		if (!config_value_domain_normalise(tok[i]))
			return cfg_error(p, "relay_domains: '%s' is not a domain name", q);
		c->relay_domains[c->nrelay_domains++] = xstrdup(tok[i]);
	}
	return 0;
}

/* retry_intervals = DURATION ... (the last one repeats) */
int cfg_set_retry(struct cfg_parser *p, char *value)
{
	char q[256];
	char *tok[CFG_RETRY_MAX + 1];
	size_t n = config_value_split(value, tok, CFG_RETRY_MAX);
	if (n > CFG_RETRY_MAX)
		return cfg_error(p, "retry_intervals: more than %d intervals", CFG_RETRY_MAX);
	struct config *c = p->c;
	unsigned *iv = xcalloc(n, sizeof(unsigned));
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		if (config_value_duration(tok[i], &v) < 0) {
			free(iv);
			return cfg_error(p, "retry_intervals: '%s' is not a duration",
			    cfg_quote(q, sizeof(q), tok[i]));
		}
		if (v < 1 || v > 7 * 86400) {
			free(iv);
			return cfg_error(p, "retry_intervals: '%s' is out of range (1s..7d)",
			    cfg_quote(q, sizeof(q), tok[i]));
		}
		iv[i] = (unsigned)v;
	}
	free(c->retry_intervals);
	c->retry_intervals = iv;
	c->nretry_intervals = n;
	return 0;
}

/* ---- keys that name one of a set of words -------------------------------- */

/* Set an enum field from a table of names; -1 with an error if none fits. */
static int cfg_set_enum(struct cfg_parser *p, const char *key, const char *value,
    const char *const *names, const int *values, size_t n, int *out, const char *expect)
{
	char q[256];
	for (size_t i = 0; i < n; i++) {
		if (strcmp(value, names[i]) == 0) {
			*out = values[i];
			return 0;
		}
	}
	return cfg_error(p, "%s: '%s' is not %s", key, cfg_quote(q, sizeof(q), value), expect);
}

/* Take exactly one token from value; -1 with an error otherwise. */
int cfg_one_token(struct cfg_parser *p, const char *key, char *value, char **out)
{
	char *tok[2];
	*out = NULL;
	size_t n = config_value_split(value, tok, 1);
	if (n != 1)
		return cfg_error(p, "%s: expected one value", key);
	*out = tok[0];
	return 0;
}

int cfg_set_log_level(struct cfg_parser *p, char *value)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	static const int values[] = { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };
	char *v;
	if (cfg_one_token(p, "log_level", value, &v) < 0)
		return -1;
	return cfg_set_enum(p, "log_level", v, names, values, 4, &p->c->log_level,
	    "debug, info, warn or error");
}

int cfg_set_log(struct cfg_parser *p, char *value)
{
	static const char *const names[] = { "stderr", "syslog" };
	static const int values[] = { 0, 1 };
	char *v;
	int out;
	if (cfg_one_token(p, "log", value, &v) < 0 ||
	    cfg_set_enum(p, "log", v, names, values, 2, &out, "stderr or syslog") < 0)
		return -1;
	p->c->log_syslog = out == 1;
	return 0;
}

int cfg_set_vrfy(struct cfg_parser *p, char *value)
{
	static const char *const names[] = { "252", "disabled" };
	static const int values[] = { CFG_VRFY_252, CFG_VRFY_DISABLED };
	char *v;
	int out;
	if (cfg_one_token(p, "vrfy", value, &v) < 0 ||
	    cfg_set_enum(p, "vrfy", v, names, values, 2, &out, "252 or disabled") < 0)
		return -1;
	p->c->vrfy = (enum cfg_vrfy)out;
	return 0;
}

int cfg_set_family(struct cfg_parser *p, char *value)
{
	static const char *const names[] = { "any", "ipv4", "ipv4-only", "ipv6-only" };
	static const int values[] = { MXR_FAMILY_ANY, MXR_FAMILY_PREFER_V4, MXR_FAMILY_V4_ONLY,
		MXR_FAMILY_V6_ONLY };
	char *v;
	int out;
	if (cfg_one_token(p, "address_preference", value, &v) < 0 ||
	    cfg_set_enum(p, "address_preference", v, names, values, 4, &out,
	    "any, ipv4, ipv4-only or ipv6-only") < 0)
		return -1;
	p->c->family = (enum mxr_family)out;
	return 0;
}

int cfg_set_outbound_tls(struct cfg_parser *p, char *value)
{
	char *v, q[256];
	enum mxr_tls_policy tls;
	if (cfg_one_token(p, "outbound_tls", value, &v) < 0)
		return -1;
	/* Implicit TLS is a smarthost's port 465, never an MX host's 25. */
	if (!mxr_tls_policy_parse(v, &tls) || tls == MXR_TLS_IMPLICIT)
		return cfg_error(p, "outbound_tls: '%s' is not none, may, encrypt, verify, dane, "
		    "dane-only or mta-sts", cfg_quote(q, sizeof(q), v));
	p->c->tls_policy = tls;
	return 0;
}

int cfg_set_bare_newline(struct cfg_parser *p, char *value)
{
	static const char *const names[] = { "normalize", "reject" };
	static const int values[] = { CFG_BARE_NEWLINE_NORMALIZE, CFG_BARE_NEWLINE_REJECT };
	char *v;
	int out;
	if (cfg_one_token(p, "bare_newline", value, &v) < 0 ||
	    cfg_set_enum(p, "bare_newline", v, names, values, 2, &out, "normalize or reject") < 0)
		return -1;
	p->c->bare_newline = (enum cfg_bare_newline)out;
	return 0;
}

/* from_check = refuse | off */
int cfg_set_from_check(struct cfg_parser *p, char *value)
{
	static const char *const names[] = { "refuse", "off" };
	static const int values[] = { 1, 0 };
	char *v;
	int out;
	if (cfg_one_token(p, "from_check", value, &v) < 0 ||
	    cfg_set_enum(p, "from_check", v, names, values, 2, &out, "refuse or off") < 0)
		return -1;
	p->c->from_check = out != 0;
	return 0;
}

/* local_sender_override = * | none | USER|@GROUP ... */
int cfg_set_sender_override(struct cfg_parser *p, char *value)
{
	char q[256];
	char *tok[1024];
	size_t n = config_value_split(value, tok, 1024);
	if (n > 1024)
		return cfg_error(p, "local_sender_override: more than 1024 names");
	struct config *c = p->c;
	c->local_sender_any = false;
	if (n == 1 && strcmp(tok[0], "*") == 0) {
		c->local_sender_any = true;
		return 0;
	}
	if (n == 1 && strcmp(tok[0], "none") == 0)
		return 0;
	c->local_sender_override = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *name = tok[i][0] == '@' ? tok[i] + 1 : tok[i];
		size_t len = strlen(name);
		bool ok = len > 0 && len <= 32;
		for (size_t k = 0; k < len && ok; k++)
			ok = isalnum((unsigned char)name[k]) || strchr("._-$", name[k]) != NULL;
		if (!ok)
			return cfg_error(p, "local_sender_override: '%s' is not a user name, @group, "
			    "* or none", cfg_quote(q, sizeof(q), tok[i]));
		c->local_sender_override[c->nlocal_sender_override++] = xstrdup(tok[i]);
	}
	return 0;
}
