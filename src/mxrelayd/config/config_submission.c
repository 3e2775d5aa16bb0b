/*
 * config_submission: the keys of mail the relay's own users submit:
 * sender_login (the file of the senders each user may use) and dkim_sign
 * (the keys mail From a domain is signed with), whose files are read and
 * checked here so that their errors are the configuration's.
 *
 * Owns: the dkim_sign syntax (DOMAIN SELECTOR KEYFILE
 * [algorithm=rsa-sha256|ed25519-sha256]), reading the sender_login file
 * and the keys through the parser's file set on a reload (the privileged
 * helper read them as root) or from the disk at start (still root), the
 * refusal of a key file other users may read, and what these keys add to
 * struct config.
 * Never: reads a file in submission mode (sendmail needs none of them);
 * writes key material anywhere, errors included.
 */
#include "config/config.h"
#include "config/sender_login.h"
#include "config_parser.h"
#include "config_value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dkim/dkim_key.h"
#include "dkim/dkim_sign.h"
#include "dns/dns_idna.h"
#include "util/file.h"
#include "util/xalloc.h"

/* Most dkim_sign lines. */
#define CFG_DKIM_MAX 1000

static void cfg_dkim_clear(struct cfg_dkim *d)
{
	free(d->domain);
	free(d->selector);
	free(d->key_file);
	dkim_key_free(d->key);
}

/* dkim_sign = DOMAIN SELECTOR KEYFILE [algorithm=rsa-sha256|ed25519-sha256] */
int cfg_set_dkim_sign(struct cfg_parser *p, char *value)
{
	struct config *c = p->c;
	char q[256], ascii[DKIM_SIGN_NAME_MAX + 2];
	char *tok[5];
	const char *why = NULL;
	if (c->ndkim >= CFG_DKIM_MAX)
		return cfg_error(p, "dkim_sign: more than %u lines", CFG_DKIM_MAX);
	size_t n = config_value_split(value, tok, 5);
	if (n < 3 || n > 4)
		return cfg_error(p, "dkim_sign: expected 'DOMAIN SELECTOR KEYFILE "
		    "[algorithm=rsa-sha256|ed25519-sha256]'");
	const char *domain = tok[0];
	size_t dl = strlen(domain);
	if (dl > 0 && domain[dl - 1] == '.')
		tok[0][--dl] = '\0';
	if (dns_idna_needed(domain)) {
		if (!dns_idna_to_ascii(domain, ascii, sizeof(ascii), &why))
			return cfg_error(p, "dkim_sign: '%s' is not a domain name: %s",
			    cfg_quote(q, sizeof(q), tok[0]), why != NULL ? why : "bad IDNA");
		domain = ascii;
	}
	char *d = xstrdup(domain);
	for (char *s = d; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	if (!dkim_sign_name_ok(d)) {
		free(d);
		return cfg_error(p, "dkim_sign: '%s' is not a domain name", cfg_quote(q, sizeof(q),
		    tok[0]));
	}
	char name[2 * DKIM_SIGN_NAME_MAX + 16];
	snprintf(name, sizeof(name), "%s._domainkey.%s", tok[1], d);
	if (!dkim_sign_name_ok(tok[1]) || strlen(name) > DKIM_SIGN_NAME_MAX) {
		free(d);
		return cfg_error(p, "dkim_sign: selector '%s' is not labels of letters, digits and "
		    "hyphens (with ._domainkey.DOMAIN at most 253 octets)", cfg_quote(q, sizeof(q),
		    tok[1]));
	}
	int alg = -1;
	if (n == 4) {
		enum dkim_alg a;
		if (strncmp(tok[3], "algorithm=", 10) != 0 || !dkim_alg_parse(tok[3] + 10, &a)) {
			free(d);
			return cfg_error(p, "dkim_sign: '%s' is not algorithm=rsa-sha256 or "
			    "algorithm=ed25519-sha256", cfg_quote(q, sizeof(q), tok[3]));
		}
		alg = (int)a;
	}
	for (size_t i = 0; i < c->ndkim; i++)
		if (strcmp(c->dkim[i].domain, d) == 0 && strcmp(c->dkim[i].selector, tok[1]) == 0) {
			unsigned at = c->dkim[i].line;
			free(d);
			return cfg_error(p, "dkim_sign: %s with selector %s is also at line %u",
			    c->dkim[i].domain, c->dkim[i].selector, at);
		}
	c->dkim = xreallocarray(c->dkim, c->ndkim + 1, sizeof(*c->dkim));
	c->dkim[c->ndkim++] = (struct cfg_dkim){
		.domain = d, .selector = xstrdup(tok[1]), .key_file = xstrdup(tok[2]), .alg = alg,
		.line = p->line,
	};
	return 0;
}

/* Read and check the key of one dkim_sign line. */
static int cfg_dkim_load(struct cfg_parser *p, struct cfg_dkim *d)
{
	char ferr[512], kerr[256], q[300];
	size_t len = 0;
	char *own = NULL;
	const char *pem;
	/*
	 * A key other users can read is refused, as OpenDKIM refuses it: the
	 * daemon reads it as root, nobody else needs to. (A stat the daemon
	 * may not make, on the unprivileged side of a reload, leaves this to
	 * the helper that read the file.)
	 */
	struct stat st;
	if (stat(d->key_file, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)) != 0)
		return cfg_error_at(p, d->line, "dkim_sign: %s can be %s by every user (mode %04o): "
		    "make it 0600 or 0640", cfg_quote(q, sizeof(q), d->key_file),
		    (st.st_mode & S_IWOTH) != 0 ? "written" : "read", (unsigned)(st.st_mode & 07777));
	if (p->files != NULL) {
		pem = file_set_get(p->files, d->key_file, DKIM_KEY_PEM_MAX, &len, ferr, sizeof(ferr));
	} else {
		own = file_read_all(d->key_file, DKIM_KEY_PEM_MAX, &len, ferr, sizeof(ferr));
		pem = own;
	}
	if (pem == NULL)
		return cfg_error_at(p, d->line, "dkim_sign: cannot read %s", ferr);
	d->key = dkim_key_parse(pem, len, kerr, sizeof(kerr));
	if (own != NULL) {
		explicit_bzero(own, len);
		free(own);
	}
	if (d->key == NULL)
		return cfg_error_at(p, d->line, "dkim_sign: %s: %s", cfg_quote(q, sizeof(q),
		    d->key_file), kerr);
	if (d->alg >= 0 && (int)dkim_key_alg(d->key) != d->alg)
		return cfg_error_at(p, d->line, "dkim_sign: algorithm=%s, but %s holds an %s key",
		    dkim_alg_name((enum dkim_alg)d->alg), cfg_quote(q, sizeof(q), d->key_file),
		    dkim_key_alg(d->key) == DKIM_ALG_RSA_SHA256 ? "RSA" : "Ed25519");
	return 0;
}

/* By domain, then in file order: the lines of one domain side by side for config_dkim_for. */
static int cfg_dkim_cmp(const void *a, const void *b)
{
	const struct cfg_dkim *x = a, *y = b;
	int r = strcmp(x->domain, y->domain);
	return r != 0 ? r : (x->line > y->line) - (x->line < y->line);
}

int cfg_finish_submission(struct cfg_parser *p)
{
	struct config *c = p->c;
	if (c->ndkim > 1)
		qsort(c->dkim, c->ndkim, sizeof(*c->dkim), cfg_dkim_cmp);
	if (p->submission)
		return 0;
	for (size_t i = 0; i < c->ndkim; i++)
		if (cfg_dkim_load(p, &c->dkim[i]) < 0)
			return -1;
	if (c->sender_login_file == NULL)
		return 0;
	char err[700];
	if (p->files != NULL) {
		char ferr[512];
		size_t len = 0;
		const char *text = file_set_get(p->files, c->sender_login_file, SENDER_LOGIN_FILE_MAX,
		    &len, ferr, sizeof(ferr));
		if (text == NULL)
			snprintf(err, sizeof(err), "cannot read %s", ferr);
		c->sender_login = text != NULL ? sender_login_parse(c->sender_login_file, text, len,
		    err, sizeof(err)) : NULL;
	} else {
		c->sender_login = sender_login_load(c->sender_login_file, err, sizeof(err));
	}
	if (c->sender_login == NULL)
		return cfg_error_at(p, p->key_line[cfg_key_index("sender_login")], "sender_login: %s",
		    err);
	return 0;
}

const struct cfg_dkim *config_dkim_for(const struct config *c, const char *domain, size_t *n)
{
	/* The From domain, then each parent: the first with keys signs. */
	*n = 0;
	for (const char *d = domain; d != NULL && *d != '\0'; d = strchr(d, '.'), d = d != NULL ?
	    d + 1 : NULL) {
		for (size_t i = 0; i < c->ndkim; i++) {
			if (strcmp(c->dkim[i].domain, d) != 0)
				continue;
			/* The lines of one domain are side by side (sorted at load). */
			size_t k = i;
			while (k < c->ndkim && strcmp(c->dkim[k].domain, d) == 0)
				k++;
			*n = k - i;
			return &c->dkim[i];
		}
	}
	return NULL;
}

void config_submission_free(struct config *c)
{
	free(c->sender_login_file);
	sender_login_free(c->sender_login);
	for (size_t i = 0; i < c->ndkim; i++)
		cfg_dkim_clear(&c->dkim[i]);
	free(c->dkim);
}
