/*
 * sender_login: the users' and networks' senders (see sender_login.h).
 *
 * Owns: the entries (users sorted for lookups, networks in file order),
 * each target normalised once (lower case, the address as
 * smtp_addr_format writes it), and the errors at file and line.
 * Never: opens any file but the one it is given.
 */
#include "config/sender_login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "table_lines.h"
#include "smtp/smtp_addr.h"
#include "util/file.h"
#include "util/log.h"
#include "util/xalloc.h"

struct sender_login_entry {
	char *key;			/* owned: as written; users lower-cased */
	bool network;
	struct cfg_network net;		/* when network */
	bool any;			/* "*" */
	char **addrs;			/* owned, each owned: lower case */
	size_t naddrs;
	char **domains;			/* owned, each owned: lower case, without '@' */
	size_t ndomains;
	unsigned line;
};

struct sender_login {
	struct sender_login_entry *users;	/* owned; sorted by key */
	size_t nusers;
	struct sender_login_entry *nets;	/* owned; in file order */
	size_t nnets;
};

struct sl_parser {
	struct table_lines t;		/* file, line, error */
	struct sender_login *m;
	struct sender_login_entry *cur;	/* the entry continuation lines add to, or NULL */
};

static void sl_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void sl_push(char ***v, size_t *n, char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = s;
}

/* Check one target s[0..n) and add it to the current entry. */
static int sl_add_target(struct sl_parser *p, const char *s, size_t n)
{
	char q[300], buf[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 16];
	struct sender_login_entry *e = p->cur;
	if (n == 1 && s[0] == '*') {
		e->any = true;
		return 0;
	}
	bool domain = s[0] == '@';
	/* "@domain" is checked as the address postmaster@domain would be. */
	int k = snprintf(buf, sizeof(buf), "%s%.*s", domain ? "postmaster" : "", (int)n, s);
	struct smtp_addr a;
	const char *why = NULL;
	if (k < 0 || (size_t)k >= sizeof(buf) || smtp_addr_parse_mailbox(buf, (size_t)k,
	    SMTP_ADDR_UTF8_OK, &a, &why) != 0 || a.kind != SMTP_ADDR_MAILBOX)
		return table_lines_error(&p->t, "'%s' is not an address, @domain or *%s%s", table_lines_quote(q, sizeof(q),
		    s, n), why != NULL ? ": " : "", why != NULL ? why : "");
	if (domain) {
		char *d = xstrdup(a.domain);
		sl_lower(d);
		sl_push(&e->domains, &e->ndomains, d);
	} else {
		if (smtp_addr_format(&a, buf, sizeof(buf)) == 0)
			return table_lines_error(&p->t, "'%s' is too long", table_lines_quote(q, sizeof(q), s, n));
		char *d = xstrdup(buf);
		sl_lower(d);
		sl_push(&e->addrs, &e->naddrs, d);
	}
	return 0;
}

/* The targets in s[0..n): separated by commas and white space. */
static int sl_targets(struct sl_parser *p, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
			i++;
		size_t j = i;
		while (j < n && s[j] != ',' && s[j] != ' ' && s[j] != '\t')
			j++;
		if (j > i && sl_add_target(p, s + i, j - i) < 0)
			return -1;
		i = j;
	}
	return 0;
}

/* A new entry for the key s[0..n) (a user or "[network]"). */
static int sl_new_entry(struct sl_parser *p, const char *s, size_t n)
{
	char q[300], net[128];
	struct sender_login *m = p->m;
	struct sender_login_entry e;
	memset(&e, 0, sizeof(e));
	e.line = p->t.line;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(net))
			return table_lines_error(&p->t, "'%s' is not a [network]", table_lines_quote(q, sizeof(q), s, n));
		memcpy(net, s + 1, n - 2);
		net[n - 2] = '\0';
		if (config_parse_network(net, &e.net) != 0)
			return table_lines_error(&p->t, "'%s' is not a network (address or address/prefix)",
			    table_lines_quote(q, sizeof(q), s, n));
		e.network = true;
		e.key = xmemdup0(s, n);
		for (size_t i = 0; i < m->nnets; i++)
			if (m->nets[i].net.family == e.net.family && m->nets[i].net.prefix ==
			    e.net.prefix && memcmp(m->nets[i].net.addr, e.net.addr, 16) == 0) {
				free(e.key);
				return table_lines_error(&p->t, "%s is also at line %u", table_lines_quote(q, sizeof(q), s, n),
				    m->nets[i].line);
			}
		m->nets = xreallocarray(m->nets, m->nnets + 1, sizeof(*m->nets));
		m->nets[m->nnets] = e;
		p->cur = &m->nets[m->nnets++];
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return table_lines_error(&p->t, "user '%s' holds white space or a control character",
			    table_lines_quote(q, sizeof(q), s, n));
	e.key = xmemdup0(s, n);
	sl_lower(e.key);
	for (size_t i = 0; i < m->nusers; i++)
		if (strcmp(m->users[i].key, e.key) == 0) {
			unsigned at = m->users[i].line;
			free(e.key);
			return table_lines_error(&p->t, "user %s is also at line %u", table_lines_quote(q, sizeof(q), s, n), at);
		}
	m->users = xreallocarray(m->users, m->nusers + 1, sizeof(*m->users));
	m->users[m->nusers] = e;
	p->cur = &m->users[m->nusers++];
	return 0;
}

/* One physical line s[0..n), its line end removed. */
static int sl_line(void *arg, const char *s, size_t n)
{
	struct sl_parser *p = arg;
	char q[300];
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	if (i > 0) {
		/* A continuation: more targets of the entry above. */
		if (p->cur == NULL)
			return table_lines_error(&p->t, "a continuation line without an entry above it");
		return sl_targets(p, s + i, n - i);
	}
	/* "key: targets"; a network key may hold colons inside its brackets. */
	size_t colon;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL || (size_t)(close - s) + 1 >= n || close[1] != ':')
			return table_lines_error(&p->t, "'%s': a [network] is followed by ':'", table_lines_quote(q,
			    sizeof(q), s, n));
		colon = (size_t)(close - s) + 1;
	} else {
		const char *c = memchr(s, ':', n);
		if (c == NULL)
			return table_lines_error(&p->t, "'%s' is not \"user: senders\"", table_lines_quote(q, sizeof(q), s, n));
		colon = (size_t)(c - s);
	}
	size_t klen = colon;
	while (klen > 0 && (s[klen - 1] == ' ' || s[klen - 1] == '\t'))
		klen--;
	if (klen == 0)
		return table_lines_error(&p->t, "an entry without a user");
	p->cur = NULL;
	if (sl_new_entry(p, s, klen) < 0)
		return -1;
	return sl_targets(p, s + colon + 1, n - colon - 1);
}

static int sl_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sender_login_entry *)a)->key,
	    ((const struct sender_login_entry *)b)->key);
}

struct sender_login *sender_login_parse(const char *name, const char *text, size_t len,
    char *err, size_t errlen)
{
	struct sender_login *m = xcalloc(1, sizeof(*m));
	struct sl_parser p = { .t = { .name = name, .err = err, .errlen = errlen }, .m = m };
	if (table_lines_each(&p.t, text, len, SENDER_LOGIN_LINE_MAX, sl_line, &p) < 0) {
		sender_login_free(m);
		return NULL;
	}
	if (m->nusers > 1)
		qsort(m->users, m->nusers, sizeof(*m->users), sl_cmp);
	return m;
}

struct sender_login *sender_login_load(const char *path, char *err, size_t errlen)
{
	char ferr[512];
	size_t len = 0;
	char *text = file_read_all(path, SENDER_LOGIN_FILE_MAX, &len, ferr, sizeof(ferr));
	if (text == NULL) {
		snprintf(err, errlen, "cannot read %s", ferr);
		return NULL;
	}
	struct sender_login *m = sender_login_parse(path, text, len, err, errlen);
	free(text);
	return m;
}

static void sl_entry_clear(struct sender_login_entry *e)
{
	free(e->key);
	for (size_t i = 0; i < e->naddrs; i++)
		free(e->addrs[i]);
	free(e->addrs);
	for (size_t i = 0; i < e->ndomains; i++)
		free(e->domains[i]);
	free(e->domains);
}

void sender_login_free(struct sender_login *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nusers; i++)
		sl_entry_clear(&m->users[i]);
	for (size_t i = 0; i < m->nnets; i++)
		sl_entry_clear(&m->nets[i]);
	free(m->users);
	free(m->nets);
	free(m);
}

size_t sender_login_count(const struct sender_login *m)
{
	return m != NULL ? m->nusers + m->nnets : 0;
}

const struct sender_login_entry *sender_login_user(const struct sender_login *m,
    const char *user)
{
	if (m == NULL || user == NULL || m->nusers == 0)
		return NULL;
	char key[512];
	if (snprintf(key, sizeof(key), "%s", user) >= (int)sizeof(key))
		return NULL;
	sl_lower(key);
	struct sender_login_entry probe = { .key = key };
	return bsearch(&probe, m->users, m->nusers, sizeof(*m->users), sl_cmp);
}

const struct sender_login_entry *sender_login_client(const struct sender_login *m,
    const struct sockaddr *addr)
{
	const struct sender_login_entry *best = NULL;
	for (size_t i = 0; m != NULL && i < m->nnets; i++)
		if (config_networks_match(&m->nets[i].net, 1, addr) &&
		    (best == NULL || m->nets[i].net.prefix > best->net.prefix))
			best = &m->nets[i];
	return best;
}

bool sender_login_owns(const struct sender_login_entry *e, const char *address)
{
	if (address[0] == '\0')
		return true;
	if (e == NULL)
		return false;
	if (e->any)
		return true;
	for (size_t i = 0; i < e->naddrs; i++)
		if (strcasecmp(e->addrs[i], address) == 0)
			return true;
	const char *at = strrchr(address, '@');
	for (size_t i = 0; at != NULL && i < e->ndomains; i++)
		if (strcasecmp(e->domains[i], at + 1) == 0)
			return true;
	return false;
}

const char *sender_login_key(const struct sender_login_entry *e)
{
	return e != NULL ? e->key : "";
}
