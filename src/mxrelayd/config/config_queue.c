/*
 * config_queue: the keys that choose and reach the queue's backend:
 * queue_backend (sqlite or postgresql), queue_dsn (a libpq connection
 * string), node_id and queue_lease_time; the DSN's secret parts masked
 * for printing and logs; the password found in a libpq passfile named by
 * the DSN, read while the process still reads what the configuration
 * names (as root, before the daemon drops privileges).
 *
 * Owns: the DSN's syntax check (libpq's own parser), the password it
 * carries or its passfile yields (cfg->queue_password, wiped when freed),
 * the node id's default (the machine's host name).
 * Never: prints, logs or returns a password unmasked (only the backend
 * gets cfg->queue_password); connects to a database.
 */
#include "config/config.h"
#include "config_parser.h"
#include "config_value.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "util/file.h"
#include "util/xalloc.h"

#define CFG_QUEUE_MASK "*****"
#define CFG_PGPASS_MAX (64 * 1024)

/* queue_backend = sqlite | postgresql */
int cfg_set_queue_backend(struct cfg_parser *p, char *value)
{
	char *v, q[256];
	if (cfg_one_token(p, "queue_backend", value, &v) < 0)
		return -1;
	if (strcmp(v, "sqlite") == 0)
		p->c->queue_backend = CFG_QUEUE_SQLITE;
	else if (strcmp(v, "postgresql") == 0)
		p->c->queue_backend = CFG_QUEUE_POSTGRESQL;
	else
		return cfg_error(p, "queue_backend: '%s' is not sqlite or postgresql",
		    cfg_quote(q, sizeof(q), v));
	return 0;
}

/* The whole value, checked by libpq's parser (URI or keyword=value form). */
int cfg_set_queue_dsn(struct cfg_parser *p, char *value)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(value, &err);
	if (opts == NULL) {
		char why[256];
		snprintf(why, sizeof(why), "%s", err != NULL ? err : "out of memory");
		why[strcspn(why, "\n")] = '\0';
		PQfreemem(err);
		return cfg_error(p, "queue_dsn: not a PostgreSQL connection string: %s", why);
	}
	PQconninfoFree(opts);
	if (strlen(value) >= CFG_LINE_MAX)
		return cfg_error(p, "queue_dsn: too long");
	free(p->c->queue_dsn);
	p->c->queue_dsn = xstrdup(value);
	return 0;
}

/* node_id = NAME: letters, digits, '.', '-', '_' (at most 63). */
int cfg_set_node_id(struct cfg_parser *p, char *value)
{
	char *v, q[256];
	if (cfg_one_token(p, "node_id", value, &v) < 0)
		return -1;
	if (!config_queue_node_id_valid(v))
		return cfg_error(p, "node_id: '%s' is not 1 to 63 letters, digits, '.', '-' or '_'",
		    cfg_quote(q, sizeof(q), v));
	free(p->c->node_id);
	p->c->node_id = xstrdup(v);
	return 0;
}

bool config_queue_node_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CFG_NODE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/* ---- masking ------------------------------------------------------------- */

/* Append n octets of s to out (cap outlen, always terminated); the new length. */
static size_t cfg_mask_put(char *out, size_t outlen, size_t at, const char *s, size_t n)
{
	for (size_t i = 0; i < n && at + 1 < outlen; i++)
		out[at++] = s[i];
	if (outlen > 0)
		out[at < outlen ? at : outlen - 1] = '\0';
	return at;
}

/* Whether the keyword=value form's keyword at s (length n) is "password". */
static bool cfg_mask_is_password(const char *s, size_t n)
{
	return n == 8 && strncmp(s, "password", 8) == 0;
}

/* Mask the URI form: the password after user: in the authority, and password= in the query. */
static void cfg_mask_uri(const char *dsn, char *out, size_t outlen)
{
	const char *auth = strstr(dsn, "://") + 3;
	size_t authlen = strcspn(auth, "/?");
	const char *at = NULL;
	for (size_t i = authlen; i > 0; i--)
		if (auth[i - 1] == '@') {
			at = auth + i - 1;
			break;
		}
	size_t len = 0;
	const char *colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon != NULL) {
		len = cfg_mask_put(out, outlen, len, dsn, (size_t)(colon + 1 - dsn));
		len = cfg_mask_put(out, outlen, len, CFG_QUEUE_MASK, strlen(CFG_QUEUE_MASK));
		len = cfg_mask_put(out, outlen, len, at, (size_t)(auth + authlen - at));
	} else {
		len = cfg_mask_put(out, outlen, len, dsn, (size_t)(auth + authlen - dsn));
	}
	/* The path and query: each password=VALUE parameter masked. */
	const char *s = auth + authlen;
	while (*s != '\0') {
		size_t k = strcspn(s, "?&");
		len = cfg_mask_put(out, outlen, len, s, k);
		s += k;
		if (*s == '\0')
			break;
		len = cfg_mask_put(out, outlen, len, s, 1);
		s++;
		size_t name = strcspn(s, "=&");
		if (cfg_mask_is_password(s, name) && s[name] == '=') {
			len = cfg_mask_put(out, outlen, len, s, name + 1);
			len = cfg_mask_put(out, outlen, len, CFG_QUEUE_MASK, strlen(CFG_QUEUE_MASK));
			s += name + 1;
			s += strcspn(s, "&");
		}
	}
}

/* Mask the keyword=value form: the value of password (quoted or not). */
static void cfg_mask_keywords(const char *dsn, char *out, size_t outlen)
{
	size_t len = cfg_mask_put(out, outlen, 0, "", 0);
	const char *s = dsn;
	while (*s != '\0') {
		size_t sp = strspn(s, " \t\r\n");
		len = cfg_mask_put(out, outlen, len, s, sp);
		s += sp;
		size_t name = strcspn(s, " \t=");
		const char *eq = s + name;
		while (*eq == ' ' || *eq == '\t')
			eq++;
		bool secret = cfg_mask_is_password(s, name) && *eq == '=';
		len = cfg_mask_put(out, outlen, len, s, (size_t)(eq - s) + (*eq == '=' ? 1 : 0));
		s = *eq == '=' ? eq + 1 : eq;
		if (*eq != '=')
			continue;
		sp = strspn(s, " \t");
		len = cfg_mask_put(out, outlen, len, s, sp);
		s += sp;
		/* The value: 'quoted with \' and \\', or up to the next space. */
		const char *v = s;
		if (*s == '\'') {
			s++;
			while (*s != '\0' && *s != '\'')
				s += s[0] == '\\' && s[1] != '\0' ? 2 : 1;
			if (*s == '\'')
				s++;
		} else {
			while (*s != '\0' && *s != ' ' && *s != '\t')
				s += s[0] == '\\' && s[1] != '\0' ? 2 : 1;
		}
		if (secret)
			len = cfg_mask_put(out, outlen, len, CFG_QUEUE_MASK, strlen(CFG_QUEUE_MASK));
		else
			len = cfg_mask_put(out, outlen, len, v, (size_t)(s - v));
	}
}

void config_queue_dsn_mask(const char *dsn, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (dsn == NULL)
		return;
	if (strncmp(dsn, "postgresql://", 13) == 0 || strncmp(dsn, "postgres://", 11) == 0)
		cfg_mask_uri(dsn, out, outlen);
	else
		cfg_mask_keywords(dsn, out, outlen);
}

/* ---- the passfile (libpq's .pgpass format) --------------------------------- */

/*
 * One field of a passfile line at *s (":"-separated, "\:" and "\\"
 * escaped), unescaped into out; *s moves past its ':'. False when the
 * line ends first.
 */
static bool cfg_pgpass_field(const char **s, const char *end, char *out, size_t outlen,
    bool last)
{
	size_t n = 0;
	const char *p = *s;
	while (p < end && (*p != ':' || last)) {
		char c = *p++;
		if (c == '\\' && p < end)
			c = *p++;
		if (n + 1 < outlen)
			out[n++] = c;
	}
	out[n] = '\0';
	if (!last && p >= end)
		return false;
	*s = p + (last ? 0 : 1);
	return true;
}

/* Whether a passfile field matches want ("*" matches anything). */
static bool cfg_pgpass_match(const char *field, const char *want)
{
	return strcmp(field, "*") == 0 || strcmp(field, want) == 0;
}

bool config_queue_pgpass_find(const char *text, size_t len, const char *host, const char *port,
    const char *db, const char *user, char *out, size_t outlen)
{
	const char *s = text, *end = text + len;
	while (s < end) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		const char *le = eol != NULL ? eol : end;
		if (le > s && le[-1] == '\r')
			le--;
		char f[4][256];
		const char *p = s;
		bool ok = *s != '#';
		for (int i = 0; ok && i < 4; i++)
			ok = cfg_pgpass_field(&p, le, f[i], sizeof(f[i]), false);
		if (ok && cfg_pgpass_match(f[0], host) && cfg_pgpass_match(f[1], port) &&
		    cfg_pgpass_match(f[2], db) && cfg_pgpass_match(f[3], user)) {
			(void)cfg_pgpass_field(&p, le, out, outlen, true);
			return true;
		}
		s = eol != NULL ? eol + 1 : end;
	}
	return false;
}

/* The value of keyword in parsed options, or NULL. */
static const char *cfg_dsn_get(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val != NULL && o->val[0] != '\0' ? o->val : NULL;
	return NULL;
}

/*
 * The password of the DSN's passfile for its host, port, database and
 * user (as libpq matches them: a socket directory is "localhost"),
 * read now from the disk or the parser's file set. 0 (none is fine:
 * the server may not ask), or -1 with the error written.
 */
static int cfg_queue_passfile(struct cfg_parser *p, const PQconninfoOption *opts,
    const char *path, unsigned line)
{
	char q[256], ferr[512];
	cfg_quote(q, sizeof(q), path);
	size_t len = 0;
	char *owned = NULL;
	const char *text;
	if (p->files != NULL) {
		text = file_set_get(p->files, path, CFG_PGPASS_MAX, &len, ferr, sizeof(ferr));
	} else {
		owned = file_read_all(path, CFG_PGPASS_MAX, &len, ferr, sizeof(ferr));
		text = owned;
	}
	if (text == NULL)
		return cfg_error_at(p, line, "queue_dsn: passfile: cannot read '%s': %s", q, ferr);
	const char *host = cfg_dsn_get(opts, "host");
	if (host == NULL || host[0] == '/' || host[0] == '@')
		host = "localhost";
	const char *port = cfg_dsn_get(opts, "port");
	const char *user = cfg_dsn_get(opts, "user");
	if (user == NULL)
		user = p->c->user != NULL ? p->c->user : CFG_DEFAULT_USER;
	const char *db = cfg_dsn_get(opts, "dbname");
	char pw[1024];
	bool found = config_queue_pgpass_find(text, len, host, port != NULL ? port : "5432",
	    db != NULL ? db : user, user, pw, sizeof(pw));
	if (owned != NULL) {
		explicit_bzero(owned, len);
		free(owned);
	}
	if (found)
		p->c->queue_password = xstrdup(pw);
	explicit_bzero(pw, sizeof(pw));
	return 0;
}

/* Where a key was set (0: not set). */
static unsigned cfg_queue_line(const struct cfg_parser *p, const char *key)
{
	int i = cfg_key_index(key);
	return i < 0 ? 0 : p->key_line[i];
}

int cfg_finish_queue(struct cfg_parser *p)
{
	struct config *c = p->c;
	unsigned dsn_line = cfg_queue_line(p, "queue_dsn");
	if (c->node_id == NULL) {
		char host[256];
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		host[CFG_NODE_ID_MAX] = '\0';
		for (char *s = host; *s != '\0'; s++)
			if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_')
				*s = '_';
		c->node_id = xstrdup(host[0] != '\0' ? host : "localhost");
	}
	if (c->queue_backend == CFG_QUEUE_SQLITE) {
		if (c->queue_dsn != NULL)
			return cfg_error_at(p, dsn_line, "queue_dsn: only for queue_backend = "
			    "postgresql (the sqlite queue lives in queue_dir)");
		return 0;
	}
	if (c->queue_dsn == NULL)
		return cfg_error_at(p, cfg_queue_line(p, "queue_backend"), "queue_backend: "
		    "postgresql needs queue_dsn (for example queue_dsn = postgresql://mxrelay@db/mxrelay)");
	if (p->submission)
		return 0;
	PQconninfoOption *opts = PQconninfoParse(c->queue_dsn, NULL);
	if (opts == NULL)
		return cfg_error_at(p, dsn_line, "queue_dsn: cannot be parsed");
	int rc = 0;
	const char *passfile = cfg_dsn_get(opts, "passfile");
	if (cfg_dsn_get(opts, "password") == NULL && passfile != NULL)
		rc = cfg_queue_passfile(p, opts, passfile, dsn_line);
	PQconninfoFree(opts);
	return rc;
}

void config_queue_free(struct config *c)
{
	if (c->queue_password != NULL) {
		explicit_bzero(c->queue_password, strlen(c->queue_password));
		free(c->queue_password);
	}
	free(c->queue_dsn);
	free(c->node_id);
}
