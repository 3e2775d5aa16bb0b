/*
 * config_routes: the route and smarthost keys, where mail for a domain
 * (or for all mail) goes instead of the domain's MX hosts: the smarthost,
 * its TLS policy and the credentials to authenticate with.
 *
 * Owns: the route options (smarthost=, tls=, auth=, password-file=), the
 * refusal of a password sent in clear or to any certificate, and reading
 * a route's password file (its first line; the buffer wiped afterwards).
 * Never: logs or prints a password; reads a password file when loading
 * for submission (sendmail needs none).
 */
#include "config/config.h"
#include "config_parser.h"
#include "config_value.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"
#include "util/xalloc.h"

#define CFG_PASSWORD_MAX 1024

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
	char q[256], tls_text[32] = "";
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
			if (!mxr_tls_policy_parse(val, &r->tls))
				return cfg_error(p, "%s: tls '%s' is not none, may, encrypt, verify, dane, "
				    "dane-only, mta-sts or implicit", key, q);
			snprintf(tls_text, sizeof(tls_text), "%s", val);
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
	/*
	 * The password goes only to a server that proved who it is: a level
	 * that may end in any certificate (or none) would give it to whoever
	 * answers.
	 */
	if (*tls_set && r->auth_user != NULL && r->tls != MXR_TLS_REQUIRED &&
	    r->tls != MXR_TLS_IMPLICIT && r->tls != MXR_TLS_DANE_ONLY)
		return cfg_error(p, "%s: auth with tls=%s would send the password to any "
		    "certificate: use tls=verify, tls=implicit or tls=dane-only", key, tls_text);
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
int cfg_set_route(struct cfg_parser *p, char *value)
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
int cfg_set_smarthost(struct cfg_parser *p, char *value)
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
