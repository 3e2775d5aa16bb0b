/*
 * config: the mxrelay.conf(5) parser and its checks. Value lexers live in
 * config_value.c, the lookups on the frozen result in config_lookup.c.
 *
 * Owns: the line grammar ("key = value", '#' comments, lists separated by
 * commas or white space), the key table with each key's type, default and
 * range, the listener and route syntax, the checks between keys, and the
 * embedded default. Every error names file and line.
 * Never: opens sockets, changes process state, or prints a password; the
 * only files it opens are the configuration itself, and the files it names
 * (to check they can be read, and to load route password files).
 */
#include "config/config.h"
#include "config_value.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "config/aliases.h"
#include "net/net_tls.h"
#include "smtp/smtp_addr.h"
#include "util/file.h"
#include "util/hostname.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CFG_EMBEDDED_NAME "(embedded default)"
#define CFG_PASSWORD_MAX 1024

static const char cfg_default_text[] =
	"# mxrelay embedded default configuration (see mxrelay.conf(5)).\n"
	"# Relay for this machine only, on a port that needs no privileges,\n"
	"# delivering straight to each recipient domain's MX hosts.\n"
	"listen = 127.0.0.1:2525 relay\n"
	"relay_networks = 127.0.0.0/8 ::1\n"
	"queue_dir = ./var\n";

const char *config_default_text(void)
{
	return cfg_default_text;
}

/* ---- the parser's state ------------------------------------------------ */

enum cfg_kind {
	CFG_K_STRING,	/* one token, checked by a cfg_check */
	CFG_K_FILE,	/* a path that must be readable */
	CFG_K_UINT,
	CFG_K_SIZE,	/* octets, K/M/G suffixes */
	CFG_K_DURATION,	/* seconds, s/m/h/d suffixes */
	CFG_K_BOOL,
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

struct cfg_parser;
typedef int cfg_setter(struct cfg_parser *p, char *value);

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	size_t off;		/* offset of the field in struct config */
	uint64_t min, max;	/* for numbers */
	enum cfg_check check;	/* for strings */
	cfg_setter *set;	/* for CFG_K_FUNC */
	bool repeat;		/* may appear on several lines */
};

struct cfg_parser {
	const char *name;	/* file name for errors */
	unsigned line;		/* current line */
	char *err;
	size_t errlen;
	struct config *c;
	unsigned *key_line;	/* line of each key of cfg_keys, 0 if not seen */
	unsigned *listener_line;/* per listener */
	unsigned *route_line;	/* per route */
	bool *route_tls_set;	/* per route: tls= was given */
	struct file_set *files;	/* where named files are read; NULL: straight from the disk */
	bool submission;	/* config_load_for_submission: open no file the text names */
};

/* Write "NAME:LINE: message" into the parser's error buffer; returns -1. */
__attribute__((format(printf, 3, 4)))
static int cfg_error_at(struct cfg_parser *p, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%u: %s", p->name, line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->name, msg);
	return -1;
}

#define cfg_error(p, ...) cfg_error_at((p), (p)->line, __VA_ARGS__)

/* Quote text from the file for an error message, printable and capped. */
static const char *cfg_quote(char *buf, size_t buflen, const char *s)
{
	size_t n = strlen(s);
	if (n > 200)
		n = 200;
	return log_printable(buf, buflen, s, n);
}

/* ---- setters for keys with their own syntax ----------------------------- */

/* listen = ADDRESS:PORT MODE [auth-plaintext] */
static int cfg_set_listen(struct cfg_parser *p, char *value)
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
static int cfg_set_networks(struct cfg_parser *p, char *value)
{
	char q[256];
	char *tok[1024];
	size_t n = config_value_split(value, tok, 1024);
	if (n > 1024)
		return cfg_error(p, "relay_networks: more than 1024 networks");
	struct config *c = p->c;
	free(c->networks);
	c->networks = NULL;
	c->nnetworks = 0;
	if (n == 1 && strcmp(tok[0], "none") == 0)
		return 0;
	c->networks = xcalloc(n, sizeof(*c->networks));
	for (size_t i = 0; i < n; i++) {
		const char *why;
		if (config_value_network(tok[i], &c->networks[i], &why) < 0)
			return cfg_error(p, "relay_networks: '%s' %s", cfg_quote(q, sizeof(q), tok[i]), why);
		if (cfg_network_too_wide(&c->networks[i]))
			return cfg_error(p, "relay_networks: '%s' would let most of the Internet relay "
			    "(an open relay); list only your own networks, and let other clients "
			    "authenticate", cfg_quote(q, sizeof(q), tok[i]));
		c->nnetworks++;
	}
	return 0;
}

/* relay_domains = DOMAIN ..., or "none" */
static int cfg_set_domains(struct cfg_parser *p, char *value)
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
static int cfg_set_retry(struct cfg_parser *p, char *value)
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

static int cfg_password_first_line(struct cfg_parser *p, const char *q, char *buf, size_t buflen,
    size_t used, char **out);

/* The first line of a password file from the parser's file set. */
static int cfg_password_from_set(struct cfg_parser *p, const char *path, const char *q, char **out)
{
	char buf[CFG_PASSWORD_MAX + 2], ferr[512];
	size_t len = 0;
	const char *data = file_set_get(p->files, path, CFG_NAMED_FILE_MAX, &len, ferr, sizeof(ferr));
	if (data == NULL)
		return cfg_error(p, "password-file: cannot read '%s': %s", q, ferr);
	size_t used = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
	memcpy(buf, data, used);
	return cfg_password_first_line(p, q, buf, sizeof(buf), used, out);
}

/* Read the first line of a password file; 0 or -1 with an error. */
static int cfg_read_password(struct cfg_parser *p, const char *path, char **out)
{
	char q[256], buf[CFG_PASSWORD_MAX + 2];
	cfg_quote(q, sizeof(q), path);
	if (p->files != NULL)
		return cfg_password_from_set(p, path, q, out);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cfg_error(p, "password-file: cannot read '%s': %s", q, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cfg_error(p, "password-file: '%s' is not a regular file", q);
	}
	size_t used = 0;
	while (used < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return cfg_error(p, "password-file: cannot read '%s': %s", q, strerror(e));
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	close(fd);
	return cfg_password_first_line(p, q, buf, sizeof(buf), used, out);
}

/* The password on the first of used octets of buf (wiped afterwards); 0 or -1. */
static int cfg_password_first_line(struct cfg_parser *p, const char *q, char *buf, size_t buflen,
    size_t used, char **out)
{
	size_t len = 0;
	while (len < used && buf[len] != '\n' && buf[len] != '\r')
		len++;
	int rc = 0;
	if (len == 0)
		rc = cfg_error(p, "password-file: '%s' holds no password on its first line", q);
	else if (len > CFG_PASSWORD_MAX)
		rc = cfg_error(p, "password-file: '%s': password longer than %d octets", q,
		    CFG_PASSWORD_MAX);
	else if (memchr(buf, '\0', len) != NULL)
		rc = cfg_error(p, "password-file: '%s': NUL byte in password", q);
	else
		*out = xmemdup0(buf, len);
	explicit_bzero(buf, buflen);
	return rc;
}

/* Check "host[:port]" or "[host][:port]" for a smarthost. */
static bool cfg_smarthost_valid(const char *s)
{
	char host[256];
	const char *port = NULL;
	size_t hlen;
	bool bracket = s[0] == '[';
	if (bracket) {
		const char *end = strchr(s, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return false;
		hlen = (size_t)(end - s - 1);
		s++;
		if (end[1] == ':')
			port = end + 2;
	} else {
		const char *colon = strchr(s, ':');
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	uint64_t pv;
	if (port != NULL && (config_value_u64(port, strlen(port), &pv) < 0 || pv == 0 || pv > 65535))
		return false;
	struct sockaddr_storage ss;
	socklen_t sl;
	/* An IP address has no MX records: it must be written in brackets. */
	if (config_value_ip(host, &ss, &sl) == 0)
		return bracket;
	return config_value_domain_valid(host);
}

/* Parse the smarthost/tls/auth/password-file options of one route. */
static int cfg_route_options(struct cfg_parser *p, const char *key, struct cfg_route *r,
    char **tok, size_t n, bool *tls_set)
{
	char q[256];
	const char *pwfile = NULL;
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(tok[i], '=');
		if (eq == NULL || eq == tok[i] || eq[1] == '\0')
			return cfg_error(p, "%s: expected OPTION=VALUE, not '%s'", key,
			    cfg_quote(q, sizeof(q), tok[i]));
		*eq = '\0';
		const char *opt = tok[i], *val = eq + 1;
		cfg_quote(q, sizeof(q), val);
		if (strcmp(opt, "smarthost") == 0) {
			if (r->smarthost[0] != '\0')
				return cfg_error(p, "%s: smarthost given twice", key);
			if (strlen(val) >= sizeof(r->smarthost) || !cfg_smarthost_valid(val))
				return cfg_error(p, "%s: smarthost '%s' is not host[:port] or "
				    "[host][:port]", key, q);
			snprintf(r->smarthost, sizeof(r->smarthost), "%s", val);
		} else if (strcmp(opt, "tls") == 0) {
			if (*tls_set)
				return cfg_error(p, "%s: tls given twice", key);
			if (strcmp(val, "none") == 0)
				r->tls = MXR_TLS_NONE;
			else if (strcmp(val, "opportunistic") == 0)
				r->tls = MXR_TLS_OPPORTUNISTIC;
			else if (strcmp(val, "required") == 0)
				r->tls = MXR_TLS_REQUIRED;
			else if (strcmp(val, "implicit") == 0)
				r->tls = MXR_TLS_IMPLICIT;
			else
				return cfg_error(p, "%s: tls '%s' is not none, opportunistic, required "
				    "or implicit", key, q);
			*tls_set = true;
		} else if (strcmp(opt, "auth") == 0) {
			if (r->auth_user != NULL)
				return cfg_error(p, "%s: auth given twice", key);
			if (strlen(val) > 255)
				return cfg_error(p, "%s: auth user name longer than 255 octets", key);
			r->auth_user = xstrdup(val);
		} else if (strcmp(opt, "password-file") == 0) {
			if (pwfile != NULL)
				return cfg_error(p, "%s: password-file given twice", key);
			pwfile = val;
		} else {
			return cfg_error(p, "%s: unknown option '%s' (smarthost, tls, auth, "
			    "password-file)", key, cfg_quote(q, sizeof(q), opt));
		}
	}
	if (r->smarthost[0] == '\0')
		return cfg_error(p, "%s: smarthost=HOST missing", key);
	if ((r->auth_user == NULL) != (pwfile == NULL))
		return cfg_error(p, "%s: auth=USER and password-file=PATH go together", key);
	if (*tls_set && r->tls == MXR_TLS_NONE && r->auth_user != NULL)
		return cfg_error(p, "%s: auth with tls=none would send the password in clear", key);
	/* Opportunistic TLS takes any certificate: the password would go to whoever answers. */
	if (*tls_set && r->tls == MXR_TLS_OPPORTUNISTIC && r->auth_user != NULL)
		return cfg_error(p, "%s: auth with tls=opportunistic would send the password to "
		    "any certificate: use tls=required or tls=implicit", key);
	if (pwfile != NULL) {
		r->password_file = xstrdup(pwfile);
		if (!p->submission)
			return cfg_read_password(p, pwfile, &r->auth_pass);
	}
	return 0;
}

/* Add one route (domain "*" for all mail) from its option tokens. */
static int cfg_add_route(struct cfg_parser *p, const char *key, const char *domain,
    char **tok, size_t n)
{
	struct config *c = p->c;
	for (size_t i = 0; i < c->nroutes; i++) {
		if (strcmp(c->routes[i].domain, domain) == 0) {
			if (strcmp(domain, "*") == 0)
				return cfg_error(p, "%s: a route for all mail is already set (line %u)",
				    key, p->route_line[i]);
			return cfg_error(p, "%s: domain %s already has a route (line %u)", key,
			    domain, p->route_line[i]);
		}
	}
	c->routes = xreallocarray(c->routes, c->nroutes + 1, sizeof(*c->routes));
	p->route_line = xreallocarray(p->route_line, c->nroutes + 1, sizeof(unsigned));
	p->route_tls_set = xreallocarray(p->route_tls_set, c->nroutes + 1, sizeof(bool));
	struct cfg_route *r = &c->routes[c->nroutes];
	memset(r, 0, sizeof(*r));
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	p->route_line[c->nroutes] = p->line;
	p->route_tls_set[c->nroutes] = false;
	c->nroutes++;	/* counted now so config_free releases what is set below */
	return cfg_route_options(p, key, r, tok, n, &p->route_tls_set[c->nroutes - 1]);
}

/* route = DOMAIN smarthost=HOST[:PORT] [tls=..] [auth=USER password-file=PATH] */
static int cfg_set_route(struct cfg_parser *p, char *value)
{
	char q[256];
	char *tok[8];
	size_t n = config_value_split(value, tok, 6);
	if (n < 2 || n > 6)
		return cfg_error(p, "route: expected 'DOMAIN smarthost=HOST[:PORT] [tls=POLICY] "
		    "[auth=USER password-file=PATH]'");
	cfg_quote(q, sizeof(q), tok[0]);
	if (strcmp(tok[0], "*") != 0 && !config_value_domain_normalise(tok[0]))
		return cfg_error(p, "route: '%s' is not a domain name", q);
	return cfg_add_route(p, "route", tok[0], tok + 1, n - 1);
}

/* smarthost = HOST[:PORT] [tls=..] [auth=USER password-file=PATH] */
static int cfg_set_smarthost(struct cfg_parser *p, char *value)
{
	char *tok[8];
	char opt[320];
	size_t n = config_value_split(value, tok, 5);
	if (n < 1 || n > 5)
		return cfg_error(p, "smarthost: expected 'HOST[:PORT] [tls=POLICY] "
		    "[auth=USER password-file=PATH]'");
	if (snprintf(opt, sizeof(opt), "smarthost=%s", tok[0]) >= (int)sizeof(opt))
		return cfg_error(p, "smarthost: host is too long");
	tok[0] = opt;
	return cfg_add_route(p, "smarthost", "*", tok, n);
}

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
static int cfg_one_token(struct cfg_parser *p, const char *key, char *value, char **out)
{
	char *tok[2];
	*out = NULL;
	size_t n = config_value_split(value, tok, 1);
	if (n != 1)
		return cfg_error(p, "%s: expected one value", key);
	*out = tok[0];
	return 0;
}

static int cfg_set_log_level(struct cfg_parser *p, char *value)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	static const int values[] = { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };
	char *v;
	if (cfg_one_token(p, "log_level", value, &v) < 0)
		return -1;
	return cfg_set_enum(p, "log_level", v, names, values, 4, &p->c->log_level,
	    "debug, info, warn or error");
}

static int cfg_set_log(struct cfg_parser *p, char *value)
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

static int cfg_set_vrfy(struct cfg_parser *p, char *value)
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

static int cfg_set_family(struct cfg_parser *p, char *value)
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

static int cfg_set_outbound_tls(struct cfg_parser *p, char *value)
{
	static const char *const names[] = { "none", "opportunistic", "required" };
	static const int values[] = { MXR_TLS_NONE, MXR_TLS_OPPORTUNISTIC, MXR_TLS_REQUIRED };
	char *v;
	int out;
	if (cfg_one_token(p, "outbound_tls", value, &v) < 0 ||
	    cfg_set_enum(p, "outbound_tls", v, names, values, 3, &out,
	    "none, opportunistic or required") < 0)
		return -1;
	p->c->tls_policy = (enum mxr_tls_policy)out;
	return 0;
}

static int cfg_set_bare_newline(struct cfg_parser *p, char *value)
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

/* local_sender_override = * | none | USER|@GROUP ... */
static int cfg_set_sender_override(struct cfg_parser *p, char *value)
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

/* ---- the key table ------------------------------------------------------ */

#define CFG_OFF(f) offsetof(struct config, f)
#define CFG_DAY 86400u

static const struct cfg_key cfg_keys[] = {
	{ "listen", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_listen, true },
	{ "hostname", CFG_K_STRING, CFG_OFF(hostname), 0, 0, CFG_C_HOSTNAME, NULL, false },
	{ "queue_dir", CFG_K_STRING, CFG_OFF(queue_dir), 0, 0, CFG_C_PATH, NULL, false },
	{ "queue_reserve", CFG_K_SIZE, CFG_OFF(queue_reserve), 0, 1024ULL * 1024 * 1024, CFG_C_ANY,
	  NULL, false },
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
	{ "helo_name", CFG_K_STRING, CFG_OFF(helo_name), 0, 0, CFG_C_HOSTNAME, NULL, false },
	{ "dns_server", CFG_K_STRING, CFG_OFF(dns_server), 0, 0, CFG_C_DNS_SERVER, NULL, false },
	{ "source_address", CFG_K_STRING, CFG_OFF(source_addr), 0, 0, CFG_C_IP, NULL, false },
	{ "address_preference", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_family, false },
	{ "outbound_tls", CFG_K_FUNC, 0, 0, 0, CFG_C_ANY, cfg_set_outbound_tls, false },
	{ "ca_file", CFG_K_FILE, CFG_OFF(ca_file), 0, 0, CFG_C_PATH, NULL, false },
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
static int cfg_key_index(const char *name)
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
static int cfg_apply(struct cfg_parser *p, const char *key, char *value)
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

/* Parse one line (NUL-terminated, no line end). */
static int cfg_parse_line(struct cfg_parser *p, char *s)
{
	char q[256];
	for (char *t = s; *t != '\0'; t++) {
		unsigned char ch = (unsigned char)*t;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return cfg_error(p, "control character 0x%02x in line", ch);
	}
	char *hash = strchr(s, '#');
	if (hash != NULL)
		*hash = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	if (len == 0)
		return 0;
	char *key = s;
	while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '=')
		s++;
	char *key_end = s;
	while (*s == ' ' || *s == '\t')
		s++;
	bool has_eq = *s == '=';
	*key_end = '\0';
	if (key[0] == '\0')
		return cfg_error(p, "expected 'key = value'");
	if (cfg_key_index(key) < 0)
		return cfg_error(p, "unknown key '%s'", cfg_quote(q, sizeof(q), key));
	if (!has_eq)
		return cfg_error(p, "%s: expected 'key = value'", key);
	s++;	/* past '=' (which key_end may have overwritten) */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return cfg_error(p, "%s: missing value", key);
	return cfg_apply(p, key, s);
}

/* ---- defaults and checks between keys ----------------------------------- */

/* The machine's name, fully qualified when the resolver knows it. */
static char *cfg_default_hostname(void)
{
	char *name = hostname_fqdn();
	if (!config_value_domain_normalise(name)) {
		free(name);
		return xstrdup("localhost");
	}
	return name;
}

/* Fill in every default before the file is read. */
static void cfg_set_defaults(struct config *c)
{
	static const unsigned retry[] = { 300, 600, 1200, 1800, 3600, 7200, 14400 };
	c->queue_dir = xstrdup("/var/spool/mxrelay");
	c->queue_reserve = 8ULL * 1024 * 1024;
	c->log_level = LOG_LVL_INFO;
	c->syslog_socket = xstrdup("/dev/log");
	c->local_sender_any = true;
	c->networks = xcalloc(2, sizeof(*c->networks));
	config_parse_network("127.0.0.0/8", &c->networks[0]);
	config_parse_network("::1", &c->networks[1]);
	c->nnetworks = 2;
	c->max_message_size = 35ULL * 1024 * 1024;
	c->max_recipients = 1000;
	c->hop_limit = 100;
	c->max_errors = 20;
	c->max_connections = 10000;
	c->max_connections_per_ip = 100;
	c->client_ipv6_prefix = 64;
	c->auth_failure_limit = 10;
	c->auth_failure_window = 600;
	c->cmd_timeout = 300;
	c->data_timeout = 600;
	c->min_data_rate = 500;
	c->vrfy = CFG_VRFY_252;
	c->check_rcpt_domain = false;
	c->bare_newline = CFG_BARE_NEWLINE_NORMALIZE;
	c->strict_envelopes = false;
	c->family = MXR_FAMILY_ANY;
	c->tls_policy = MXR_TLS_OPPORTUNISTIC;
	c->max_deliveries = 100;
	c->max_per_destination = 20;
	c->reuse_time = 5;
	c->reuse_limit = 100;
	c->nretry_intervals = sizeof(retry) / sizeof(retry[0]);
	c->retry_intervals = xcalloc(c->nretry_intervals, sizeof(unsigned));
	memcpy(c->retry_intervals, retry, sizeof(retry));
	c->max_queue_age = 5 * CFG_DAY;
	c->delay_warning = 4 * 3600;
}

/* The line a key was set on, or 0. */
static unsigned cfg_line_of(const struct cfg_parser *p, const char *key)
{
	int idx = cfg_key_index(key);
	return idx < 0 ? 0 : p->key_line[idx];
}

/* Check that path can be opened for reading. */
static int cfg_check_readable(struct cfg_parser *p, const char *key, const char *path)
{
	char q[256];
	if (path == NULL)
		return 0;
	if (p->files != NULL) {
		/* Read whole: the set then carries the file to whoever builds from it. */
		char ferr[512];
		size_t len = 0;
		if (file_set_get(p->files, path, CFG_NAMED_FILE_MAX, &len, ferr, sizeof(ferr)) == NULL)
			return cfg_error_at(p, cfg_line_of(p, key), "%s: %s", key, ferr);
		return 0;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cfg_error_at(p, cfg_line_of(p, key), "%s: cannot read '%s': %s", key,
		    cfg_quote(q, sizeof(q), path), strerror(errno));
	struct stat st;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	if (!regular)
		return cfg_error_at(p, cfg_line_of(p, key), "%s: '%s' is not a regular file", key,
		    cfg_quote(q, sizeof(q), path));
	return 0;
}

/*
 * Load the certificate and key as the daemon will, so that a pair that
 * does not match, a file that is not PEM or one the daemon cannot read is
 * an error at its line now rather than at start. A certificate outside its
 * validity period is not fatal (STARTTLS peers at the opportunistic level
 * still encrypt) and is kept as a warning for the caller to show.
 */
static int cfg_check_tls_pair(struct cfg_parser *p)
{
	struct config *c = p->c;
	enum net_tls_file at;
	const char *terr = NULL;
	SSL_CTX *ctx;
	if (p->files != NULL) {
		size_t clen = 0, klen = 0;
		char ferr[512];
		/* Both are in the set: cfg_check_readable read them. */
		const char *cert = file_set_get(p->files, c->tls_cert, CFG_NAMED_FILE_MAX, &clen, ferr,
		    sizeof(ferr));
		const char *key = file_set_get(p->files, c->tls_key, CFG_NAMED_FILE_MAX, &klen, ferr,
		    sizeof(ferr));
		if (cert == NULL || key == NULL)
			return cfg_error_at(p, cfg_line_of(p, cert == NULL ? "tls_cert" : "tls_key"), "%s: %s",
			    cert == NULL ? "tls_cert" : "tls_key", ferr);
		ctx = net_tls_server_ctx_pem(cert, clen, key, klen, c->tls_cert, c->tls_key, &at, &terr);
	} else {
		ctx = net_tls_server_load(c->tls_cert, c->tls_key, &at, &terr);
	}
	if (ctx == NULL) {
		const char *key = at == NET_TLS_KEY_FILE ? "tls_key" : "tls_cert";
		return cfg_error_at(p, cfg_line_of(p, key), "%s: %s", key, terr);
	}
	char why[128];
	if (net_tls_cert_validity(ctx, (long long)time(NULL), why, sizeof(why)) != 0) {
		unsigned line = cfg_line_of(p, "tls_cert");
		char msg[640];
		if (line > 0)
			snprintf(msg, sizeof(msg), "%s:%u: tls_cert: certificate %s", p->name, line, why);
		else
			snprintf(msg, sizeof(msg), "%s: tls_cert: certificate %s", p->name, why);
		c->tls_warning = xstrdup(msg);
	}
	net_tls_ctx_free(ctx);
	return 0;
}

/*
 * Local submission and local names: the socket's default (beside the
 * queue directory, which stays 0700: "QUEUE_DIR-public/submit.sock"),
 * admin_address, and the aliases file parsed now so that its errors are
 * the configuration's (never in submission mode: sendmail needs none).
 */
static int cfg_finish_local(struct cfg_parser *p)
{
	struct config *c = p->c;
	char q[256];
	if (c->local_socket != NULL && strcmp(c->local_socket, "none") == 0) {
		free(c->local_socket);
		c->local_socket = NULL;
	} else if (c->local_socket == NULL) {
		size_t n = strlen(c->queue_dir) + sizeof("-public/submit.sock");
		c->local_socket = xmalloc(n);
		snprintf(c->local_socket, n, "%s-public/submit.sock", c->queue_dir);
	}
	/* sun_path is 108 octets; mailq.sock beside it must fit too. */
	if (c->local_socket != NULL && (strlen(c->local_socket) >= 100 ||
	    strrchr(c->local_socket, '/') == NULL))
		return cfg_error_at(p, cfg_line_of(p, "local_socket"), "local_socket: '%s' must be "
		    "a path with a directory, shorter than 100 octets (a shorter queue_dir or "
		    "local_socket)", cfg_quote(q, sizeof(q), c->local_socket));
	if (c->admin_address != NULL) {
		struct smtp_addr a;
		const char *why = NULL;
		if (smtp_addr_parse_mailbox(c->admin_address, strlen(c->admin_address),
		    SMTP_ADDR_UTF8_OK, &a, &why) != 0 || a.kind != SMTP_ADDR_MAILBOX)
			return cfg_error_at(p, cfg_line_of(p, "admin_address"), "admin_address: '%s' is "
			    "not an address (local@domain): %s", cfg_quote(q, sizeof(q),
			    c->admin_address), why != NULL ? why : "no domain");
	}
	if (c->aliases_file != NULL && !p->submission) {
		char aerr[700];
		if (p->files != NULL) {
			/* A reload: the privileged helper read it with the rest. */
			size_t len = 0;
			const char *text = file_set_get(p->files, c->aliases_file, ALIASES_FILE_MAX, &len,
			    aerr, sizeof(aerr));
			c->aliases = text != NULL ? aliases_parse(c->aliases_file, text, len, aerr,
			    sizeof(aerr)) : NULL;
		} else {
			c->aliases = aliases_load(c->aliases_file, aerr, sizeof(aerr));
		}
		if (c->aliases == NULL)
			return cfg_error_at(p, cfg_line_of(p, "aliases_file"), "aliases_file: %s", aerr);
	}
	return 0;
}

/* The checks that involve more than one key, and the derived defaults. */
static int cfg_finish(struct cfg_parser *p)
{
	struct config *c = p->c;
	if (c->nlisteners == 0)
		return cfg_error_at(p, 0, "no listen line: the daemon would accept no mail");
	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		if (c->tls_cert != NULL)
			return cfg_error_at(p, cfg_line_of(p, "tls_cert"), "tls_cert without tls_key");
		return cfg_error_at(p, cfg_line_of(p, "tls_key"), "tls_key without tls_cert");
	}
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct cfg_listener *l = &c->listeners[i];
		const char *mode = config_listen_mode_name(l->mode);
		if (l->require_auth && c->auth_file == NULL)
			return cfg_error_at(p, p->listener_line[i], "listen: %s listener %s needs "
			    "auth_file (its clients must authenticate to relay)", mode, l->text);
		if (l->mode == CFG_LISTEN_SMTPS && c->tls_cert == NULL)
			return cfg_error_at(p, p->listener_line[i], "listen: smtps listener %s needs "
			    "tls_cert and tls_key", l->text);
		if (l->mode == CFG_LISTEN_SUBMISSION && c->tls_cert == NULL && !l->auth_plaintext)
			return cfg_error_at(p, p->listener_line[i], "listen: submission listener %s "
			    "could never offer AUTH: set tls_cert and tls_key (or auth-plaintext on "
			    "loopback)", l->text);
		if (l->auth_plaintext && c->auth_file == NULL)
			return cfg_error_at(p, p->listener_line[i], "listen: auth-plaintext on %s "
			    "without auth_file", l->text);
	}
	if (c->max_connections_per_ip > c->max_connections)
		return cfg_error_at(p, cfg_line_of(p, "max_connections_per_ip"),
		    "max_connections_per_ip (%u) is more than max_connections (%u)",
		    c->max_connections_per_ip, c->max_connections);
	if (c->max_per_destination > c->max_deliveries)
		return cfg_error_at(p, cfg_line_of(p, "max_per_destination"),
		    "max_per_destination (%u) is more than max_deliveries (%u)",
		    c->max_per_destination, c->max_deliveries);
	if (c->delay_warning != 0 && c->delay_warning >= c->max_queue_age)
		return cfg_error_at(p, cfg_line_of(p, "delay_warning"),
		    "delay_warning must be shorter than max_queue_age (or 0 for none)");
	if (c->queue_dir[0] == '\0')
		return cfg_error_at(p, cfg_line_of(p, "queue_dir"), "queue_dir: empty path");
	c->queue_dir_line = cfg_line_of(p, "queue_dir");
	for (size_t i = 0; i < c->nlisteners; i++)
		c->listeners[i].line = p->name[0] == '(' ? 0 : p->listener_line[i];
	static const char *const files[] = { "tls_cert", "tls_key", "auth_file", "ca_file" };
	const char *paths[] = { c->tls_cert, c->tls_key, c->auth_file, c->ca_file };
	for (size_t i = 0; i < 4 && !p->submission; i++)
		if (cfg_check_readable(p, files[i], paths[i]) < 0)
			return -1;
	if (c->tls_cert != NULL && !p->submission && cfg_check_tls_pair(p) < 0)
		return -1;
	if (cfg_finish_local(p) < 0)
		return -1;
	for (size_t i = 0; i < c->nroutes; i++) {
		struct cfg_route *r = &c->routes[i];
		if (!p->route_tls_set[i])
			r->tls = r->auth_user != NULL ? MXR_TLS_REQUIRED : c->tls_policy;
	}
	if (c->hostname == NULL)
		c->hostname = cfg_default_hostname();
	if (c->helo_name == NULL)
		c->helo_name = xstrdup(c->hostname);
	if (c->control_socket == NULL) {
		size_t n = strlen(c->queue_dir) + sizeof("/control.sock");
		c->control_socket = xmalloc(n);
		snprintf(c->control_socket, n, "%s/control.sock", c->queue_dir);
	}
	return 0;
}

/* ---- entry points ------------------------------------------------------- */

/*
 * Parse text: the named files through files (NULL: the disk), or, for
 * submission, none of them opened at all.
 */
static int cfg_load_text_mode(const char *name, const char *text, size_t len,
    struct file_set *files, bool submission, struct config **out, char *err, size_t errlen)
{
	char dummy[1];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	*out = NULL;
	struct config *c = xcalloc(1, sizeof(*c));
	struct cfg_parser p = {
		.name = name, .err = err, .errlen = errlen, .c = c,
		.key_line = xcalloc(CFG_NKEYS, sizeof(unsigned)),
		.files = files,
		.submission = submission,
	};
	c->path = xstrdup(name);
	cfg_set_defaults(c);
	char *line = xmalloc(CFG_LINE_MAX + 1);
	int rc = 0;
	size_t pos = 0;
	/*
	 * A reload (files given) reports every bad line, one per line of err,
	 * so the administrator fixes them in one go; the first error alone
	 * otherwise, as check-config has always printed.
	 */
	char *all = files != NULL ? xcalloc(1, errlen) : NULL;
	unsigned nerrors = 0;
	while (pos < len && rc == 0) {
		p.line++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (n > CFG_LINE_MAX)
			rc = cfg_error(&p, "line longer than %d octets", CFG_LINE_MAX);
		else if (memchr(text + pos, '\0', n) != NULL)
			rc = cfg_error(&p, "NUL byte in line");
		else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			rc = cfg_parse_line(&p, line);
		}
		pos = end + 1;
		if (rc < 0 && all != NULL && ++nerrors < CFG_RELOAD_ERRORS_MAX) {
			size_t used = strlen(all);
			snprintf(all + used, errlen - used, "%s%s", used > 0 ? "\n" : "", err);
			rc = 0;
		}
	}
	if (rc == 0 && nerrors > 0) {
		snprintf(err, errlen, "%s", all);
		rc = -1;
	} else if (rc < 0 && all != NULL && all[0] != '\0') {
		char *last = xstrdup(err);
		snprintf(err, errlen, "%s\n%s", all, last);
		free(last);
	}
	free(all);
	if (rc == 0)
		rc = cfg_finish(&p);
	explicit_bzero(line, CFG_LINE_MAX + 1);
	free(line);
	c->key_line = p.key_line;	/* the printer's "set in the file" */
	free(p.listener_line);
	free(p.route_line);
	free(p.route_tls_set);
	if (rc < 0) {
		config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int config_load_text_files(const char *name, const char *text, size_t len,
    struct file_set *files, struct config **out, char *err, size_t errlen)
{
	return cfg_load_text_mode(name, text, len, files, false, out, err, errlen);
}

int config_load_text(const char *name, const char *text, size_t len,
    struct config **out, char *err, size_t errlen)
{
	return cfg_load_text_mode(name, text, len, NULL, false, out, err, errlen);
}

/* Read path (or take the embedded default) and parse it in the given mode. */
static int cfg_load_mode(const char *path, bool submission, struct config **out, char *err,
    size_t errlen)
{
	char dummy[1];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if (path == NULL)
		return cfg_load_text_mode(CFG_EMBEDDED_NAME, cfg_default_text,
		    sizeof(cfg_default_text) - 1, NULL, submission, out, err, errlen);
	*out = NULL;
	size_t len = 0;
	char *text = file_read_all(path, CFG_FILE_MAX, &len, err, errlen);
	if (text == NULL)
		return -1;
	int rc = cfg_load_text_mode(path, text, len, NULL, submission, out, err, errlen);
	free(text);
	return rc;
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	return cfg_load_mode(path, false, out, err, errlen);
}

int config_load_for_submission(const char *path, struct config **out, char *err,
    size_t errlen)
{
	return cfg_load_mode(path, true, out, err, errlen);
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->key_line);
	free(c->hostname);
	free(c->queue_dir);
	free(c->user);
	free(c->control_socket);
	free(c->local_socket);
	for (size_t i = 0; i < c->nlocal_sender_override; i++)
		free(c->local_sender_override[i]);
	free(c->local_sender_override);
	free(c->masquerade_domain);
	free(c->aliases_file);
	aliases_free(c->aliases);
	free(c->admin_address);
	free(c->listeners);
	free(c->networks);
	for (size_t i = 0; i < c->nrelay_domains; i++)
		free(c->relay_domains[i]);
	free(c->relay_domains);
	free(c->tls_cert);
	free(c->tls_warning);
	free(c->syslog_socket);
	free(c->tls_key);
	free(c->auth_file);
	free(c->helo_name);
	free(c->dns_server);
	free(c->source_addr);
	free(c->ca_file);
	for (size_t i = 0; i < c->nroutes; i++) {
		free(c->routes[i].auth_user);
		free(c->routes[i].password_file);
		if (c->routes[i].auth_pass != NULL) {
			explicit_bzero(c->routes[i].auth_pass, strlen(c->routes[i].auth_pass));
			free(c->routes[i].auth_pass);
		}
	}
	free(c->routes);
	free(c->retry_intervals);
	free(c);
}

int config_check_queue_dir(const struct config *c, char *err, size_t errlen)
{
	char where[512];
	if (c->queue_dir_line > 0)
		snprintf(where, sizeof(where), "%s:%u: queue_dir", c->path, c->queue_dir_line);
	else
		snprintf(where, sizeof(where), "%s: queue_dir", c->path);
	struct stat st;
	if (lstat(c->queue_dir, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			snprintf(err, errlen, "%s: '%s' is a symbolic link, which the daemon does not "
			    "follow: name the directory itself", where, c->queue_dir);
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: '%s' is not a directory", where, c->queue_dir);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: '%s': %s", where, c->queue_dir, strerror(errno));
		return -1;
	}
	/* The daemon makes the last component itself (mode 0700); its parent must be there. */
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", c->queue_dir);
	char *slash = strrchr(parent, '/');
	while (slash != NULL && slash > parent && slash[1] == '\0') {
		*slash = '\0';
		slash = strrchr(parent, '/');
	}
	if (slash == NULL)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: '%s' does not exist and neither does its parent '%s' "
		    "(the daemon creates only the last component)", where, c->queue_dir, parent);
		return -1;
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
		[CFG_K_FUNC] = CONFIG_KEY_SPECIAL,
	};
	*out = (struct config_key_info){ .name = k->name, .type = types[k->kind], .off = k->off,
		.repeat = k->repeat };
}
