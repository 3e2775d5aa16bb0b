/*
 * smtp_hdrfield: header fields one at a time, and address lists (see
 * smtp_hdrfield.h).
 */
#include "smtp/smtp_hdrfield.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

bool smtp_hdrfield_next(const char *hdr, size_t len, size_t *pos, struct smtp_hdrfield *f)
{
	size_t start = *pos;
	if (start >= len)
		return false;
	const char *nl = memchr(hdr + start, '\n', len - start);
	size_t end = nl != NULL ? (size_t)(nl - hdr) + 1 : len;
	if (end - start == 1 || (end - start == 2 && hdr[start] == '\r') ||
	    (nl == NULL && end - start == 1 && hdr[start] == '\r'))
		return false;
	while (end < len && (hdr[end] == ' ' || hdr[end] == '\t')) {
		nl = memchr(hdr + end, '\n', len - end);
		end = nl != NULL ? (size_t)(nl - hdr) + 1 : len;
	}
	memset(f, 0, sizeof(*f));
	f->start = hdr + start;
	f->len = end - start;
	/* The name: the octets before a colon on the first line. */
	const char *colon = memchr(f->start, ':', f->len);
	const char *eol = memchr(f->start, '\n', f->len);
	if (colon != NULL && (eol == NULL || colon < eol)) {
		size_t n = (size_t)(colon - f->start);
		while (n > 0 && (f->start[n - 1] == ' ' || f->start[n - 1] == '\t'))
			n--;
		f->name_len = n;
		f->value = colon + 1;
		f->value_len = end - (size_t)(colon + 1 - hdr);
	}
	*pos = end;
	return true;
}

bool smtp_hdrfield_is(const struct smtp_hdrfield *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && strncasecmp(f->start, name, n) == 0;
}

char *smtp_hdrfield_unfold(const struct smtp_hdrfield *f, size_t *len)
{
	char *v = xmalloc(f->value_len + 1);
	size_t n = 0;
	for (size_t k = 0; k < f->value_len; k++)
		if (f->value[k] != '\r' && f->value[k] != '\n')
			v[n++] = f->value[k];
	v[n] = '\0';
	if (len != NULL)
		*len = n;
	return v;
}

/* Add the address in buf[0..len) (white space outside quotes dropped). */
static void shf_add(struct smtp_hdrfield_addrs *l, const char *buf, size_t len)
{
	char out[SMTP_HDRFIELD_ADDR_MAX];
	size_t o = 0;
	bool q = false;
	for (size_t i = 0; i < len && o + 1 < sizeof(out); i++) {
		char c = buf[i];
		if (c == '"')
			q = !q;
		if (!q && (c == ' ' || c == '\t'))
			continue;
		out[o++] = c;
	}
	out[o] = '\0';
	/* Nothing, or a NUL inside (no address holds one): no address. */
	if (o == 0 || memchr(out, '\0', o) != NULL)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->a = xreallocarray(l->a, l->cap, sizeof(*l->a));
	}
	l->a[l->n++] = xstrdup(out);
}

void smtp_hdrfield_addrs_parse(struct smtp_hdrfield_addrs *l, const char *v, size_t len)
{
	char bare[SMTP_HDRFIELD_ADDR_MAX];	/* addr-spec text outside <> and comments */
	char angle[SMTP_HDRFIELD_ADDR_MAX];	/* the last <...> of the current mailbox */
	size_t nb = 0, na = 0;
	bool have_angle = false;
	size_t i = 0;
	while (i <= len) {
		char c = i < len ? v[i] : ',';
		if (c == '(') {
			/* Comments nest; a backslash quotes the next character. */
			int depth = 0;
			for (; i < len; i++) {
				if (v[i] == '\\' && i + 1 < len) {
					i++;
					continue;
				}
				if (v[i] == '(')
					depth++;
				else if (v[i] == ')' && --depth == 0)
					break;
			}
			i++;
			continue;
		}
		if (c == '"') {
			size_t j = i + 1;
			for (; j < len && v[j] != '"'; j++)
				if (v[j] == '\\' && j + 1 < len)
					j++;
			size_t end = j < len ? j + 1 : len;
			for (size_t k = i; k < end && nb + 1 < sizeof(bare); k++)
				bare[nb++] = v[k];
			i = end;
			continue;
		}
		if (c == '[') {
			/* A domain literal may hold ':' (IPv6); keep it whole. */
			const char *close = memchr(v + i, ']', len - i);
			size_t end = close != NULL ? (size_t)(close - v) + 1 : len;
			for (size_t k = i; k < end && nb + 1 < sizeof(bare); k++)
				bare[nb++] = v[k];
			i = end;
			continue;
		}
		if (c == '<') {
			const char *close = memchr(v + i, '>', len - i);
			size_t end = close != NULL ? (size_t)(close - v) : len;
			const char *a = v + i + 1;
			size_t alen = end - (i + 1);
			/* An obsolete route "@a,@b:" before the mailbox is dropped. */
			if (alen > 0 && *a == '@') {
				const char *colon = memchr(a, ':', alen);
				if (colon != NULL) {
					alen -= (size_t)(colon + 1 - a);
					a = colon + 1;
				}
			}
			na = alen < sizeof(angle) ? alen : sizeof(angle) - 1;
			memcpy(angle, a, na);
			have_angle = true;
			i = end < len ? end + 1 : len;
			continue;
		}
		if (c == ':') {
			/* A group: what came before was its name. */
			nb = 0;
			have_angle = false;
			i++;
			continue;
		}
		if (c == ',' || c == ';') {
			if (have_angle)
				shf_add(l, angle, na);
			else
				shf_add(l, bare, nb);
			nb = 0;
			na = 0;
			have_angle = false;
			i++;
			continue;
		}
		if (nb + 1 < sizeof(bare))
			bare[nb++] = c;
		i++;
	}
}

void smtp_hdrfield_addrs_free(struct smtp_hdrfield_addrs *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->a[i]);
	free(l->a);
	memset(l, 0, sizeof(*l));
}
