/*
 * config_check: the checks that need the whole file read: keys that go
 * together or limit each other, listeners that need TLS or auth_file,
 * the files the configuration names (readable, the TLS pair loadable, the
 * aliases file parsed), the defaults derived from other keys (hostname,
 * helo_name, the socket paths, each route's TLS policy), and the queue
 * directory before the daemon starts.
 *
 * Owns: errors at the line of the key to fix, or with no line when a key
 * is missing.
 * Never: opens a named file when loading for submission; writes anything.
 */
#include "config/config.h"
#include "config_parser.h"
#include "config_value.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/aliases.h"
#include "net/net_tls.h"
#include "smtp/smtp_addr.h"
#include "util/file.h"
#include "util/hostname.h"
#include "util/xalloc.h"

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
int cfg_finish(struct cfg_parser *p)
{
	struct config *c = p->c;
	if (c->nlisteners == 0)
		return cfg_error_at(p, 0, "no listen line: the daemon would accept no mail");
	for (size_t h = 0; h < c->nhttp_listeners; h++)
		for (size_t i = 0; i < c->nlisteners; i++)
			if (c->listeners[i].addrlen == c->http_listeners[h].addrlen &&
			    memcmp(&c->listeners[i].addr, &c->http_listeners[h].addr,
			    c->listeners[i].addrlen) == 0)
				return cfg_error_at(p, cfg_line_of(p, "http_listen"), "http_listen: %s is "
				    "also an SMTP listener (%s)", c->http_listeners[h].text,
				    c->listeners[i].text);
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
	if (cfg_finish_local(p) < 0 || cfg_finish_submission(p) < 0)
		return -1;
	if (cfg_finish_rate(p) < 0)
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
	if (cfg_finish_queue(p) < 0)
		return -1;
	if (cfg_finish_tls(p, cfg_line_of(p, "dnssec_trust_anchor"), cfg_line_of(p, "tlsrpt_sender")) < 0)
		return -1;
	if (c->control_socket == NULL) {
		size_t n = strlen(c->queue_dir) + sizeof("/control.sock");
		c->control_socket = xmalloc(n);
		snprintf(c->control_socket, n, "%s/control.sock", c->queue_dir);
	}
	return 0;
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
