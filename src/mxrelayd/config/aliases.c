/*
 * aliases: the aliases(5) parser and the expansion of local names.
 *
 * Owns: the table (entries sorted by name for lookups), the grammar and
 * its errors at file and line, the refusal of local delivery targets, and
 * the depth-capped expansion.
 * Never: opens any file but the one it is given, or follows ":include:".
 */
#include "config/aliases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_addr.h"
#include "util/file.h"
#include "util/log.h"
#include "util/xalloc.h"

#include "table_lines.h"

struct aliases {
	struct aliases_entry *entries;	/* owned; sorted by name once parsed */
	size_t n;
};

struct aliases_parser {
	struct table_lines t;		/* file, line, error */
	struct aliases *a;
	struct aliases_entry *cur;	/* the entry continuation lines add to, or NULL */
};

static bool aliases_name_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && strchr("<>()[],;:\\\"@", c) == NULL;
}

/* Trim blanks at both ends of s[0..*n); returns the new start. */
static const char *aliases_trim(const char *s, size_t *n)
{
	while (*n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return s;
}

/* Check one target s[0..n) and add it to the current entry. */
static int aliases_add_target(struct aliases_parser *p, const char *s, size_t n)
{
	char q[512];
	s = aliases_trim(s, &n);
	if (n == 0)
		return table_lines_error(&p->t, "alias '%s': empty address in the list", p->cur->name);
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
		s = aliases_trim(s, &n);
	}
	const char *t = s;
	size_t tn = n;
	if (tn > 0 && t[0] == '"') {
		t++;
		tn--;
	}
	table_lines_quote(q, sizeof(q), s, n);
	if (tn > 0 && t[0] == '|')
		return table_lines_error(&p->t, "alias '%s': '%s' is a program; a relay does not deliver "
		    "locally: name an address", p->cur->name, q);
	if (tn > 0 && t[0] == '/')
		return table_lines_error(&p->t, "alias '%s': '%s' is a file; a relay does not deliver "
		    "locally: name an address", p->cur->name, q);
	if (tn >= 9 && strncasecmp(t, ":include:", 9) == 0)
		return table_lines_error(&p->t, "alias '%s': ':include:' is not supported: list the "
		    "addresses here", p->cur->name);
	if (n == 0)
		return table_lines_error(&p->t, "alias '%s': empty address in the list", p->cur->name);
	if (memchr(s, '@', n) != NULL) {
		struct smtp_addr addr;
		const char *why = NULL;
		if (smtp_addr_parse_mailbox(s, n, SMTP_ADDR_UTF8_OK, &addr, &why) != 0 ||
		    addr.kind != SMTP_ADDR_MAILBOX)
			return table_lines_error(&p->t, "alias '%s': '%s' is not an address: %s",
			    p->cur->name, q, why != NULL ? why : "syntax");
	} else {
		for (size_t i = 0; i < n; i++)
			if (!aliases_name_char((unsigned char)s[i]))
				return table_lines_error(&p->t, "alias '%s': '%s' is not an address or a "
				    "local name", p->cur->name, q);
		if (n > SMTP_LOCAL_MAX)
			return table_lines_error(&p->t, "alias '%s': local name '%s' is longer than %d "
			    "octets", p->cur->name, q, SMTP_LOCAL_MAX);
	}
	struct aliases_entry *e = p->cur;
	if (e->ntargets >= ALIASES_EXPAND_MAX)
		return table_lines_error(&p->t, "alias '%s': more than %u addresses", e->name,
		    ALIASES_EXPAND_MAX);
	e->targets = xreallocarray(e->targets, e->ntargets + 1, sizeof(*e->targets));
	e->targets[e->ntargets++] = xstrndup(s, n);
	return 0;
}

/* Split s[0..n) at commas outside double quotes and add each target. */
static int aliases_add_list(struct aliases_parser *p, const char *s, size_t n)
{
	size_t start = 0;
	bool quoted = false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] == '"')
			quoted = !quoted;
		if (i == n || (s[i] == ',' && !quoted)) {
			size_t len = i - start;
			const char *piece = aliases_trim(s + start, &len);
			/* A trailing comma before a continuation line leaves an empty last piece. */
			if (len > 0 || i < n)
				if (aliases_add_target(p, piece, len) < 0)
					return -1;
			start = i + 1;
		}
	}
	if (quoted)
		return table_lines_error(&p->t, "alias '%s': unbalanced '\"'", p->cur->name);
	return 0;
}

/* Start an entry "name: list" from s[0..n). */
static int aliases_start_entry(struct aliases_parser *p, const char *s, size_t n)
{
	char q[512];
	const char *colon = memchr(s, ':', n);
	if (colon == NULL)
		return table_lines_error(&p->t, "expected 'name: address, ...', not '%s'",
		    table_lines_quote(q, sizeof(q), s, n));
	size_t nl = (size_t)(colon - s);
	const char *name = aliases_trim(s, &nl);
	table_lines_quote(q, sizeof(q), name, nl);
	if (nl == 0)
		return table_lines_error(&p->t, "an alias without a name");
	for (size_t i = 0; i < nl; i++)
		if (!aliases_name_char((unsigned char)name[i]))
			return table_lines_error(&p->t, "'%s' is not a local name", q);
	if (nl > SMTP_LOCAL_MAX)
		return table_lines_error(&p->t, "name '%s' is longer than %d octets", q, SMTP_LOCAL_MAX);
	char *lower = xstrndup(name, nl);
	for (char *c = lower; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	struct aliases *a = p->a;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->entries[i].name, lower) == 0) {
			unsigned first = a->entries[i].line;
			free(lower);
			return table_lines_error(&p->t, "duplicate alias '%s' (first on line %u)", q, first);
		}
	}
	a->entries = xreallocarray(a->entries, a->n + 1, sizeof(*a->entries));
	p->cur = &a->entries[a->n++];
	memset(p->cur, 0, sizeof(*p->cur));
	p->cur->name = lower;
	p->cur->line = p->t.line;
	size_t rest = n - (size_t)(colon - s) - 1;
	return aliases_add_list(p, colon + 1, rest);
}

/* One physical line s[0..n), without its line end. */
/* A finished entry must name someone. */
static int aliases_check_entry(struct aliases_parser *p)
{
	if (p->cur != NULL && p->cur->ntargets == 0) {
		p->t.line = p->cur->line;
		return table_lines_error(&p->t, "alias '%s' has no address", p->cur->name);
	}
	return 0;
}

static int aliases_line(void *arg, const char *s, size_t n)
{
	struct aliases_parser *p = arg;
	/* A line that starts an entry ends the one before, which must name someone. */
	if (n > 0 && s[0] != ' ' && s[0] != '\t' && s[0] != '#' && aliases_check_entry(p) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return table_lines_error(&p->t, "control character 0x%02x in line", c);
	}
	size_t tn = n;
	const char *t = aliases_trim(s, &tn);
	if (tn == 0 || t[0] == '#')
		return 0;	/* blank and comment lines do not end an entry */
	if (s[0] == ' ' || s[0] == '\t') {
		if (p->cur == NULL)
			return table_lines_error(&p->t, "a continuation line without an alias above it");
		return aliases_add_list(p, t, tn);
	}
	return aliases_start_entry(p, s, n);
}

static int aliases_cmp(const void *x, const void *y)
{
	const struct aliases_entry *a = x, *b = y;
	return strcmp(a->name, b->name);
}

struct aliases *aliases_parse(const char *name, const char *text, size_t len, char *err,
    size_t errlen)
{
	char dummy[1];
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	struct aliases *a = xcalloc(1, sizeof(*a));
	struct aliases_parser p = { .t = { .name = name, .err = err, .errlen = errlen }, .a = a };
	int rc = table_lines_each(&p.t, text, len, ALIASES_LINE_MAX, aliases_line, &p);
	if (rc == 0)
		rc = aliases_check_entry(&p);
	if (rc != 0) {
		aliases_free(a);
		return NULL;
	}
	if (a->n > 1)
		qsort(a->entries, a->n, sizeof(*a->entries), aliases_cmp);
	return a;
}

struct aliases *aliases_load(const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = file_read_all(path, ALIASES_FILE_MAX, &len, err, errlen);
	if (text == NULL)
		return NULL;
	struct aliases *a = aliases_parse(path, text, len, err, errlen);
	free(text);
	return a;
}

void aliases_free(struct aliases *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->entries[i].name);
		aliases_list_free(a->entries[i].targets, a->entries[i].ntargets);
	}
	free(a->entries);
	free(a);
}

size_t aliases_count(const struct aliases *a)
{
	return a != NULL ? a->n : 0;
}

const struct aliases_entry *aliases_find(const struct aliases *a, const char *name)
{
	char lower[SMTP_LOCAL_MAX + 1];
	size_t n = strlen(name);
	if (a == NULL || a->n == 0 || n == 0 || n > SMTP_LOCAL_MAX)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
	struct aliases_entry key = { .name = lower };
	return bsearch(&key, a->entries, a->n, sizeof(*a->entries), aliases_cmp);
}

void aliases_list_free(char **list, size_t n)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* The expansion being built. */
struct aliases_out {
	char **list;
	size_t n;
	const char *const *locals;
	size_t nlocals;
	const char *fallback;
	const char **missing;
};

/* Add addr unless it is there already; false past the cap. */
static bool aliases_out_add(struct aliases_out *o, const char *addr)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcasecmp(o->list[i], addr) == 0)
			return true;
	if (o->n >= ALIASES_EXPAND_MAX)
		return false;
	o->list = xreallocarray(o->list, o->n + 1, sizeof(*o->list));
	o->list[o->n++] = xstrdup(addr);
	return true;
}

/* Whether domain is one of the local domains. */
static bool aliases_is_local(const struct aliases_out *o, const char *domain)
{
	for (size_t i = 0; i < o->nlocals; i++)
		if (strcasecmp(o->locals[i], domain) == 0)
			return true;
	return false;
}

/* Expand entry e at depth into o. */
static enum aliases_result aliases_expand_entry(const struct aliases *a,
    const struct aliases_entry *e, unsigned depth, struct aliases_out *o)
{
	if (depth >= ALIASES_DEPTH_MAX)
		return ALIASES_LOOP;
	for (size_t i = 0; i < e->ntargets; i++) {
		const char *t = e->targets[i];
		const char *at = strrchr(t, '@');
		char local[SMTP_LOCAL_ACCEPT_MAX + 1];
		if (at != NULL && !aliases_is_local(o, at + 1)) {
			if (!aliases_out_add(o, t))
				return ALIASES_TOO_MANY;
			continue;
		}
		size_t ln = at != NULL ? (size_t)(at - t) : strlen(t);
		if (ln >= sizeof(local))
			ln = sizeof(local) - 1;
		memcpy(local, t, ln);
		local[ln] = '\0';
		const struct aliases_entry *sub = aliases_find(a, local);
		enum aliases_result r;
		if (sub != NULL) {
			if ((r = aliases_expand_entry(a, sub, depth + 1, o)) != ALIASES_OK)
				return r;
		} else if (o->fallback != NULL) {
			if (!aliases_out_add(o, o->fallback))
				return ALIASES_TOO_MANY;
		} else {
			*o->missing = t;
			return ALIASES_UNKNOWN;
		}
	}
	return ALIASES_OK;
}

enum aliases_result aliases_expand(const struct aliases *a, const char *name,
    const char *const *locals, size_t nlocals, const char *fallback, char ***out, size_t *n,
    const char **missing)
{
	const char *dummy = NULL;
	*out = NULL;
	*n = 0;
	struct aliases_out o = { .locals = locals, .nlocals = nlocals, .fallback = fallback,
		.missing = missing != NULL ? missing : &dummy };
	const struct aliases_entry *e = aliases_find(a, name);
	if (e == NULL)
		return ALIASES_NONE;
	enum aliases_result r = aliases_expand_entry(a, e, 0, &o);
	if (r != ALIASES_OK) {
		aliases_list_free(o.list, o.n);
		return r;
	}
	*out = o.list;
	*n = o.n;
	return ALIASES_OK;
}
