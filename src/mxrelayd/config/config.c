/*
 * config: loading mxrelay.conf(5): the line grammar, the defaults before
 * the file is read, the embedded default, the entry points and
 * config_free. The keys are set by config_keys.c (the key table),
 * config_setters.c and config_routes.c; config_check.c checks them
 * against each other. Value lexers live in config_value.c, the lookups on
 * the frozen result in config_lookup.c.
 *
 * Owns: the line grammar ("key = value", '#' comments, lists separated by
 * commas or white space), the default of every key, the embedded default,
 * and error messages that name file and line.
 * Never: opens sockets, changes process state, or prints a password; the
 * only files it opens are the configuration itself, and the files it names
 * (to check they can be read, and to load route password files).
 */
#include "config/config.h"
#include "config_parser.h"
#include "config_value.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/aliases.h"
#include "util/file.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CFG_EMBEDDED_NAME "(embedded default)"

static const char cfg_default_text[] =
	"# mxrelay embedded default configuration (see mxrelay.conf(5)).\n"
	"# Relay for this machine only, on a port that needs no privileges,\n"
	"# delivering straight to each recipient domain's MX hosts.\n"
	"listen = 127.0.0.1:2525 relay\n"
	"relay_networks = 127.0.0.0/8 ::1\n"
	"queue_dir = ./var\n"
	"# Metrics (/metrics) and the status page (/) for this machine.\n"
	"http_listen = 127.0.0.1:9425\n";

const char *config_default_text(void)
{
	return cfg_default_text;
}

/* Write "NAME:LINE: message" into the parser's error buffer; returns -1. */
__attribute__((format(printf, 3, 4)))
int cfg_error_at(struct cfg_parser *p, unsigned line, const char *fmt, ...)
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

/* Quote text from the file for an error message, printable and capped. */
const char *cfg_quote(char *buf, size_t buflen, const char *s)
{
	size_t n = strlen(s);
	if (n > 200)
		n = 200;
	return log_printable(buf, buflen, s, n);
}

/* ---- the line grammar --------------------------------------------------- */

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

/* ---- defaults ----------------------------------------------------------- */

/* Fill in every default before the file is read. */
static void cfg_set_defaults(struct config *c)
{
	static const unsigned retry[] = { 300, 600, 1200, 1800, 3600, 7200, 14400 };
	c->queue_dir = xstrdup("/var/spool/mxrelay");
	c->queue_reserve = 8ULL * 1024 * 1024;
	c->queue_lease_time = 60;
	c->log_level = LOG_LVL_INFO;
	c->syslog_socket = xstrdup("/dev/log");
	c->local_sender_any = true;
	c->networks = xcalloc(2, sizeof(*c->networks));
	config_parse_network("127.0.0.0/8", &c->networks[0]);
	config_parse_network("::1", &c->networks[1]);
	c->nnetworks = 2;
	c->http_allow = xcalloc(2, sizeof(*c->http_allow));
	config_parse_network("127.0.0.0/8", &c->http_allow[0]);
	config_parse_network("::1", &c->http_allow[1]);
	c->nhttp_allow = 2;
	c->metrics_destinations = 20;
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
	c->from_check = true;
	c->strict_envelopes = false;
	c->family = MXR_FAMILY_ANY;
	c->tls_policy = MXR_TLS_DANE;
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
		.key_line = xcalloc(config_key_count(), sizeof(unsigned)),
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
	free(c->http_listeners);
	free(c->http_allow);
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
	config_tls_free(c);
	config_queue_free(c);
	config_submission_free(c);
	config_rate_free(c);
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
