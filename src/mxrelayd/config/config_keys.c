/*
 * config_keys: the table of mxrelay.conf(5) keys, each with its type, the
 * field it sets in struct config, its range or check, and whether it may
 * repeat; and the setting of a key of a plain type (string, path, number,
 * size, duration, yes/no, rate) from its value.
 *
 * Owns: cfg_keys[], the one list of keys: the parser, config_key_info()
 * and so the printer (config_print.c) all read it.
 * Never: reads files; a key with its own syntax is set by its function
 * (config_setters.c, config_routes.c).
 */
#include "config/config.h"
#include "config_parser.h"
#include "config_value.h"

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/log.h"
#include "util/xalloc.h"

enum cfg_kind {
	CFG_K_STRING,	/* one token, checked by a cfg_check */
	CFG_K_FILE,	/* a path that must be readable */
	CFG_K_UINT,
	CFG_K_SIZE,	/* octets, K/M/G suffixes */
	CFG_K_DURATION,	/* seconds, s/m/h/d suffixes */
	CFG_K_BOOL,
	CFG_K_RATE,	/* N/PERIOD, or 0/off: struct cfg_rate (config_rate.c) */
	CFG_K_FUNC,	/* its own setter */
};

enum cfg_check {
	CFG_C_ANY,
	CFG_C_HOSTNAME,
	CFG_C_PATH,
	CFG_C_USER,
	CFG_C_DNS_SERVER,
	CFG_C_IP,
};

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	size_t off;		/* offset of the field in struct config */
	uint64_t min, max;	/* for numbers */
	enum cfg_check check;	/* for strings */
	cfg_setter *set;	/* for CFG_K_FUNC */
	bool repeat;		/* may appear on several lines */
};

#define CFG_OFF(f) offsetof(struct config, f)

static const struct cfg_key cfg_keys[] = {
	{ "listen", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_listen, true },
	{ "hostname", CFG_K_STRING, CFG_OFF(hostname), 0, 0, CFG_C_HOSTNAME, NULL, false },
	{ "queue_dir", CFG_K_STRING, CFG_OFF(queue_dir), 0, 0, CFG_C_PATH, NULL, false },
	{ "queue_reserve", CFG_K_SIZE, CFG_OFF(queue_reserve), 0, 1024ULL * 1024 * 1024, CFG_C_ANY,
	  NULL, false },
	{ "queue_backend", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_queue_backend, false },
	{ "queue_dsn", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_queue_dsn, false },
	{ "node_id", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_node_id, false },
	{ "queue_lease_time", CFG_K_DURATION, CFG_OFF(queue_lease_time), 5, 3600, CFG_C_ANY, NULL,
	  false },
	{ "user", CFG_K_STRING, CFG_OFF(user), 0, 0, CFG_C_USER, NULL, false },
	{ "control_socket", CFG_K_STRING, CFG_OFF(control_socket), 0, 0, CFG_C_PATH, NULL, false },
	{ "local_socket", CFG_K_STRING, CFG_OFF(local_socket), 0, 0, CFG_C_PATH, NULL, false },
	{ "local_sender_override", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_sender_override, false },
	{ "masquerade_domain", CFG_K_STRING, CFG_OFF(masquerade_domain), 0, 0, CFG_C_HOSTNAME,
	  NULL, false },
	{ "aliases_file", CFG_K_FILE, CFG_OFF(aliases_file), 0, 0, CFG_C_PATH, NULL, false },
	{ "admin_address", CFG_K_STRING, CFG_OFF(admin_address), 0, 0, CFG_C_ANY, NULL, false },
	{ "log_level", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_log_level, false },
	{ "log", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_log, false },
	{ "syslog_socket", CFG_K_STRING, CFG_OFF(syslog_socket), 0, 0, CFG_C_PATH, NULL, false },
	{ "relay_networks", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_networks, false },
	{ "relay_domains", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_domains, false },
	{ "http_listen", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_http_listen, true },
	{ "http_allow", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_http_allow, false },
	{ "metrics_destinations", CFG_K_UINT, CFG_OFF(metrics_destinations), 0, 1000, CFG_C_ANY,
	  NULL, false },
	{ "max_message_size", CFG_K_SIZE, CFG_OFF(max_message_size), 1024,
	  4ULL * 1024 * 1024 * 1024, CFG_C_ANY, NULL, false },
	{ "max_recipients", CFG_K_UINT, CFG_OFF(max_recipients), 100, 1000000, CFG_C_ANY, NULL, false },
	{ "hop_limit", CFG_K_UINT, CFG_OFF(hop_limit), 10, 1000, CFG_C_ANY, NULL, false },
	{ "max_errors", CFG_K_UINT, CFG_OFF(max_errors), 1, 1000, CFG_C_ANY, NULL, false },
	{ "max_connections", CFG_K_UINT, CFG_OFF(max_connections), 1, 1000000, CFG_C_ANY, NULL, false },
	{ "max_connections_per_ip", CFG_K_UINT, CFG_OFF(max_connections_per_ip), 1, 1000000,
	  CFG_C_ANY, NULL, false },
	{ "client_ipv6_prefix", CFG_K_UINT, CFG_OFF(client_ipv6_prefix), 32, 128, CFG_C_ANY,
	  NULL, false },
	{ "client_connection_rate", CFG_K_RATE, CFG_OFF(rate.client_connection), 0, 0, CFG_C_ANY,
	  NULL, false },
	{ "client_message_rate", CFG_K_RATE, CFG_OFF(rate.client_message), 0, 0, CFG_C_ANY, NULL,
	  false },
	{ "client_recipient_rate", CFG_K_RATE, CFG_OFF(rate.client_recipient), 0, 0, CFG_C_ANY,
	  NULL, false },
	{ "user_message_rate", CFG_K_RATE, CFG_OFF(rate.user_message), 0, 0, CFG_C_ANY, NULL, false },
	{ "user_recipient_rate", CFG_K_RATE, CFG_OFF(rate.user_recipient), 0, 0, CFG_C_ANY, NULL,
	  false },
	{ "user_rate", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_user_rate, true },
	{ "rate_limit_exempt", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_rate_exempt, false },
	{ "command_timeout", CFG_K_DURATION, CFG_OFF(cmd_timeout), 10, 3600, CFG_C_ANY, NULL, false },
	{ "data_timeout", CFG_K_DURATION, CFG_OFF(data_timeout), 10, 3600, CFG_C_ANY, NULL, false },
	{ "min_data_rate", CFG_K_UINT, CFG_OFF(min_data_rate), 0, 1000000000, CFG_C_ANY, NULL, false },
	{ "vrfy", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_vrfy, false },
	{ "check_recipient_domain", CFG_K_BOOL, CFG_OFF(check_rcpt_domain), 0, 0, CFG_C_ANY, NULL, false },
	{ "bare_newline", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_bare_newline, false },
	{ "strict_envelopes", CFG_K_BOOL, CFG_OFF(strict_envelopes), 0, 0, CFG_C_ANY, NULL, false },
	{ "tls_cert", CFG_K_FILE, CFG_OFF(tls_cert), 0, 0, CFG_C_PATH, NULL, false },
	{ "tls_key", CFG_K_FILE, CFG_OFF(tls_key), 0, 0, CFG_C_PATH, NULL, false },
	{ "auth_file", CFG_K_FILE, CFG_OFF(auth_file), 0, 0, CFG_C_PATH, NULL, false },
	{ "auth_failure_limit", CFG_K_UINT, CFG_OFF(auth_failure_limit), 0, 1000000, CFG_C_ANY,
	  NULL, false },
	{ "auth_failure_window", CFG_K_DURATION, CFG_OFF(auth_failure_window), 1, CFG_DAY,
	  CFG_C_ANY, NULL, false },
	{ "sender_login", CFG_K_FILE, CFG_OFF(sender_login_file), 0, 0, CFG_C_PATH, NULL, false },
	{ "from_check", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_from_check, false },
	{ "dkim_sign", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_dkim_sign, true },
	{ "helo_name", CFG_K_STRING, CFG_OFF(helo_name), 0, 0, CFG_C_HOSTNAME, NULL, false },
	{ "dns_server", CFG_K_STRING, CFG_OFF(dns_server), 0, 0, CFG_C_DNS_SERVER, NULL, false },
	{ "source_address", CFG_K_STRING, CFG_OFF(source_addr), 0, 0, CFG_C_IP, NULL, false },
	{ "address_preference", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_family, false },
	{ "outbound_tls", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_outbound_tls, false },
	{ "tls_policy", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_tls_policy, true },
	{ "dnssec_trust_anchor", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_dnssec_anchor, false },
	{ "ca_file", CFG_K_FILE, CFG_OFF(ca_file), 0, 0, CFG_C_PATH, NULL, false },
	{ "tlsrpt_organization", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_tlsrpt_organization, false },
	{ "tlsrpt_contact", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_tlsrpt_contact, false },
	{ "tlsrpt_sender", CFG_K_STRING, CFG_OFF(tlsrpt_sender), 0, 0, CFG_C_ANY, NULL, false },
	{ "tlsrpt_submitter", CFG_K_STRING, CFG_OFF(tlsrpt_submitter), 0, 0, CFG_C_HOSTNAME, NULL,
	  false },
	{ "smarthost", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_smarthost, false },
	{ "route", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_route, true },
	{ "max_deliveries", CFG_K_UINT, CFG_OFF(max_deliveries), 1, 10000, CFG_C_ANY, NULL, false },
	{ "max_per_destination", CFG_K_UINT, CFG_OFF(max_per_destination), 1, 10000, CFG_C_ANY,
	  NULL, false },
	{ "connection_reuse_time", CFG_K_DURATION, CFG_OFF(reuse_time), 0, 3600, CFG_C_ANY,
	  NULL, false },
	{ "connection_reuse_limit", CFG_K_UINT, CFG_OFF(reuse_limit), 0, 1000000, CFG_C_ANY,
	  NULL, false },
	{ "retry_intervals", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_retry, false },
	{ "max_queue_age", CFG_K_DURATION, CFG_OFF(max_queue_age), 60, 90 * CFG_DAY, CFG_C_ANY,
	  NULL, false },
	{ "delay_warning", CFG_K_DURATION, CFG_OFF(delay_warning), 0, 90 * CFG_DAY, CFG_C_ANY,
	  NULL, false },
};

#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* The table index of key name, or -1. */
int cfg_key_index(const char *name)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Check a single-token string value against its key's rule. */
static int cfg_check_string(struct cfg_parser *p, const struct cfg_key *k, char *v)
{
	char q[256];
	cfg_quote(q, sizeof(q), v);
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *why;
	switch (k->check) {
	case CFG_C_ANY:
		return 0;
	case CFG_C_HOSTNAME:
		if (!config_value_domain_normalise(v))
			return cfg_error(p, "%s: '%s' is not a domain name", k->name, q);
		return 0;
	case CFG_C_PATH:
		if (strlen(v) >= PATH_MAX)
			return cfg_error(p, "%s: path is too long", k->name);
		return 0;
	case CFG_C_USER:
		if (strlen(v) > 32 || getpwnam(v) == NULL)
			return cfg_error(p, "%s: no such user '%s'", k->name, q);
		return 0;
	case CFG_C_DNS_SERVER:
		if (config_value_hostport(v, true, &ss, &sl, &why) < 0)
			return cfg_error(p, "%s: '%s' %s", k->name, q, why);
		return 0;
	case CFG_C_IP:
		if (config_value_ip(v, &ss, &sl) < 0)
			return cfg_error(p, "%s: '%s' is not an IP address", k->name, q);
		return 0;
	}
	return 0;
}

/* Set a number-typed key (uint, size or duration) after its range check. */
static int cfg_set_number(struct cfg_parser *p, const struct cfg_key *k, const char *v)
{
	char q[256], lo[32], hi[32];
	uint64_t n;
	int rc;
	const char *what;
	if (k->kind == CFG_K_SIZE) {
		rc = config_value_size(v, &n);
		what = "a size (number with optional K, M or G)";
		config_value_format_size(k->min, lo, sizeof(lo));
		config_value_format_size(k->max, hi, sizeof(hi));
	} else if (k->kind == CFG_K_DURATION) {
		rc = config_value_duration(v, &n);
		what = "a duration (number with optional s, m, h or d)";
		config_value_format_duration(k->min, lo, sizeof(lo));
		config_value_format_duration(k->max, hi, sizeof(hi));
	} else {
		rc = config_value_u64(v, strlen(v), &n);
		what = "a number";
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
	}
	cfg_quote(q, sizeof(q), v);
	if (rc < 0)
		return cfg_error(p, "%s: '%s' is not %s", k->name, q, what);
	if (n < k->min || n > k->max)
		return cfg_error(p, "%s: '%s' is out of range (%s..%s)", k->name, q, lo, hi);
	char *field = (char *)p->c + k->off;
	if (k->kind == CFG_K_SIZE)
		memcpy(field, &n, sizeof(uint64_t));
	else {
		unsigned u = (unsigned)n;
		memcpy(field, &u, sizeof(unsigned));
	}
	return 0;
}

/* Apply one "key = value" setting. */
int cfg_apply(struct cfg_parser *p, const char *key, char *value)
{
	char q[256];
	int idx = cfg_key_index(key);
	if (idx < 0)
		return cfg_error(p, "unknown key '%s'", cfg_quote(q, sizeof(q), key));
	const struct cfg_key *k = &cfg_keys[idx];
	if (p->key_line[idx] != 0 && !k->repeat)
		return cfg_error(p, "duplicate key '%s' (first set on line %u)", key,
		    p->key_line[idx]);
	if (p->key_line[idx] == 0)
		p->key_line[idx] = p->line;
	char *v;
	switch (k->kind) {
	case CFG_K_FUNC:
		return k->set(p, value);
	case CFG_K_STRING:
	case CFG_K_FILE: {
		if (cfg_one_token(p, key, value, &v) < 0)
			return -1;
		if (cfg_check_string(p, k, v) < 0)
			return -1;
		char **field = (char **)(void *)((char *)p->c + k->off);
		free(*field);
		*field = xstrdup(v);
		return 0;
	}
	case CFG_K_UINT:
	case CFG_K_SIZE:
	case CFG_K_DURATION:
		if (cfg_one_token(p, key, value, &v) < 0)
			return -1;
		return cfg_set_number(p, k, v);
	case CFG_K_RATE: {
		struct cfg_rate r;
		const char *why;
		if (cfg_one_token(p, key, value, &v) < 0)
			return -1;
		if (config_rate_parse(v, &r, &why) < 0)
			return cfg_error(p, "%s: '%s' %s", key, cfg_quote(q, sizeof(q), v), why);
		memcpy((char *)p->c + k->off, &r, sizeof(r));
		return 0;
	}
	case CFG_K_BOOL: {
		if (cfg_one_token(p, key, value, &v) < 0)
			return -1;
		bool b;
		if (strcmp(v, "yes") == 0)
			b = true;
		else if (strcmp(v, "no") == 0)
			b = false;
		else
			return cfg_error(p, "%s: '%s' is not yes or no", key, cfg_quote(q, sizeof(q), v));
		memcpy((char *)p->c + k->off, &b, sizeof(bool));
		return 0;
	}
	}
	return 0;
}

size_t config_key_count(void)
{
	return CFG_NKEYS;
}

void config_key_info(size_t i, struct config_key_info *out)
{
	if (i >= CFG_NKEYS)
		panic("config_key_info: key %zu of %zu", i, CFG_NKEYS);
	const struct cfg_key *k = &cfg_keys[i];
	static const enum config_key_type types[] = {
		[CFG_K_STRING] = CONFIG_KEY_STRING, [CFG_K_FILE] = CONFIG_KEY_STRING,
		[CFG_K_UINT] = CONFIG_KEY_UINT, [CFG_K_SIZE] = CONFIG_KEY_SIZE,
		[CFG_K_DURATION] = CONFIG_KEY_DURATION, [CFG_K_BOOL] = CONFIG_KEY_BOOL,
		[CFG_K_RATE] = CONFIG_KEY_RATE,
		[CFG_K_FUNC] = CONFIG_KEY_SPECIAL,
	};
	*out = (struct config_key_info){ .name = k->name, .type = types[k->kind], .off = k->off,
		.repeat = k->repeat };
}
