/*
 * smtp_hdrrcpt: To/Cc/Bcc recipients of a header section, Bcc removed.
 *
 * Owns: the field scan (a field is a line not starting with white space
 * plus the continuation lines after it) and the address-list scanner.
 * Never: does I/O; never writes past the caps of its buffers.
 */
#include "smtp/smtp_hdrrcpt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

/* Longest address kept from a header (RFC 5321 path limit, with room). */
#define CH_ADDR_MAX 512

size_t smtp_hdrrcpt_end(const char *msg, size_t len)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(msg + i, '\n', len - i);
		if (nl == NULL)
			return 0;
		size_t line_end = (size_t)(nl - msg) + 1;
		size_t body = line_end - i;
		if (body == 1 || (body == 2 && msg[i] == '\r'))
			return line_end;
		i = line_end;
	}
	return 0;
}

/* The recipient list being built. */
struct ch_list {
	char **a;
	size_t n, cap;
};

/* Add the address in buf[0..len) (white space outside quotes dropped). */
static void ch_add(struct ch_list *l, const char *buf, size_t len)
{
	char out[CH_ADDR_MAX];
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
	if (o == 0)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->a = xreallocarray(l->a, l->cap, sizeof(*l->a));
	}
	l->a[l->n++] = xstrdup(out);
}

/* Scan one unfolded address-list value and add every mailbox in it. */
static void ch_parse_list(struct ch_list *l, const char *v, size_t len)
{
	char bare[CH_ADDR_MAX];	/* addr-spec text outside <> and comments */
	char angle[CH_ADDR_MAX];	/* the last <...> of the current mailbox */
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
				ch_add(l, angle, na);
			else
				ch_add(l, bare, nb);
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

/* Whether the field starting at f names one of To, Cc, Bcc; sets *bcc. */
static bool ch_field_is_rcpt(const char *f, size_t len, bool *bcc)
{
	const char *colon = memchr(f, ':', len);
	if (colon == NULL)
		return false;
	size_t n = (size_t)(colon - f);
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\t'))
		n--;
	*bcc = n == 3 && strncasecmp(f, "bcc", 3) == 0;
	return *bcc || (n == 2 && (strncasecmp(f, "to", 2) == 0 || strncasecmp(f, "cc", 2) == 0));
}

void smtp_hdrrcpt_parse(const char *hdr, size_t len, struct smtp_hdrrcpt *out)
{
	struct ch_list l = { 0 };
	memset(out, 0, sizeof(*out));
	out->header = xmalloc(len + 1);
	size_t i = 0;
	while (i < len) {
		/* One field: its first line and every continuation line. */
		size_t start = i;
		const char *nl = memchr(hdr + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - hdr) + 1 : len;
		if (end - start == 1 || (end - start == 2 && hdr[start] == '\r')) {
			/* The blank line: copy it and what follows unchanged. */
			memcpy(out->header + out->header_len, hdr + start, len - start);
			out->header_len += len - start;
			break;
		}
		while (end < len && (hdr[end] == ' ' || hdr[end] == '\t')) {
			nl = memchr(hdr + end, '\n', len - end);
			end = nl != NULL ? (size_t)(nl - hdr) + 1 : len;
		}
		bool bcc = false;
		if (ch_field_is_rcpt(hdr + start, end - start, &bcc)) {
			const char *colon = memchr(hdr + start, ':', end - start);
			size_t vs = (size_t)(colon - hdr) + 1;
			/* Unfold: CR and LF go, the white space after them stays. */
			char *val = xmalloc(end - vs + 1);
			size_t vn = 0;
			for (size_t k = vs; k < end; k++)
				if (hdr[k] != '\r' && hdr[k] != '\n')
					val[vn++] = hdr[k];
			ch_parse_list(&l, val, vn);
			free(val);
		}
		if (!bcc) {
			memcpy(out->header + out->header_len, hdr + start, end - start);
			out->header_len += end - start;
		}
		i = end;
	}
	out->header[out->header_len] = '\0';
	out->addrs = l.a;
	out->n = l.n;
}

void smtp_hdrrcpt_free(struct smtp_hdrrcpt *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->addrs[i]);
	free(r->addrs);
	free(r->header);
	memset(r, 0, sizeof(*r));
}
