/*
 * client_group: sort recipients by destination domain.
 *
 * Owns: the grouping rules (domain compared without case, local part
 * compared exactly, as RFC 5321 2.4 wants). Never: does I/O.
 */
#include "client_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dns_rr.h"
#include "smtp/smtp_addr.h"
#include "util/xalloc.h"

/* Whether a and b name the same mailbox: local part exact, domain without case. */
static bool client_group_same(const char *a, const char *b)
{
	const char *at_a = strrchr(a, '@');
	const char *at_b = strrchr(b, '@');
	if (at_a == NULL || at_b == NULL)
		return strcmp(a, b) == 0;
	size_t la = (size_t)(at_a - a);
	size_t lb = (size_t)(at_b - b);
	return la == lb && memcmp(a, b, la) == 0 && strcasecmp(at_a + 1, at_b + 1) == 0;
}

void client_group_build(const struct mxr_rcpt *rcpts, size_t n, struct client_grouping *out)
{
	memset(out, 0, sizeof(*out));
	out->nrcpts = n;
	out->dup_of = xcalloc(n ? n : 1, sizeof(*out->dup_of));
	out->bad = xcalloc(n ? n : 1, sizeof(*out->bad));
	out->domains = xcalloc(n ? n : 1, sizeof(*out->domains));
	out->groups = xcalloc(n ? n : 1, sizeof(*out->groups));

	for (size_t i = 0; i < n; i++) {
		out->dup_of[i] = i;
		const char *a = rcpts[i].address;
		struct smtp_addr pa;
		const char *err = NULL;
		if (a == NULL || *a == '\0') {
			out->bad[i] = "empty recipient address";
			continue;
		}
		if (smtp_addr_parse_mailbox(a, strlen(a), SMTP_ADDR_UTF8_OK, &pa, &err) != 0) {
			out->bad[i] = err != NULL ? err : "bad recipient address";
			continue;
		}
		if (pa.kind != SMTP_ADDR_MAILBOX || pa.domain[0] == '\0') {
			out->bad[i] = "recipient address has no domain";
			continue;
		}
		/* A literal keeps its spelling: its tag ("IPv6:") is for the parser to judge. */
		if (pa.domain_is_literal)
			snprintf(out->domains[i], sizeof(out->domains[i]), "%s", pa.domain);
		else
			(void)dns_rr_name_key(pa.domain, strlen(pa.domain), out->domains[i],
			    sizeof(out->domains[i]));

		size_t first = i;
		for (size_t j = 0; j < i; j++) {
			if (out->bad[j] == NULL && out->dup_of[j] == j &&
			    client_group_same(rcpts[j].address, a)) {
				first = j;
				break;
			}
		}
		out->dup_of[i] = first;
		if (first != i)
			continue;

		struct client_group *g = NULL;
		for (size_t k = 0; k < out->ngroups; k++) {
			if (strcasecmp(out->groups[k].domain, out->domains[i]) == 0) {
				g = &out->groups[k];
				break;
			}
		}
		if (g == NULL) {
			g = &out->groups[out->ngroups++];
			memcpy(g->domain, out->domains[i], sizeof(g->domain));
			g->literal = pa.domain_is_literal;
			g->members = xcalloc(n, sizeof(*g->members));
		}
		g->members[g->n++] = i;
	}
}

void client_group_merge(struct client_grouping *g)
{
	size_t first = g->ngroups;
	for (size_t k = 0; k < g->ngroups && first == g->ngroups; k++)
		if (!g->groups[k].literal)
			first = k;
	if (first == g->ngroups)
		return;
	/* Rebuild the first domain group from every domain member, in the caller's order. */
	struct client_group *into = &g->groups[first];
	into->n = 0;
	for (size_t i = 0; i < g->nrcpts; i++) {
		if (g->bad[i] != NULL || g->dup_of[i] != i || g->domains[i][0] == '[')
			continue;
		into->members[into->n++] = i;
	}
	size_t out = 0;
	for (size_t k = 0; k < g->ngroups; k++) {
		if (k != first && !g->groups[k].literal) {
			free(g->groups[k].members);
			continue;
		}
		g->groups[out++] = g->groups[k];
	}
	g->ngroups = out;
}

void client_group_free(struct client_grouping *g)
{
	if (g == NULL)
		return;
	for (size_t k = 0; k < g->ngroups; k++)
		free(g->groups[k].members);
	free(g->groups);
	free(g->dup_of);
	free(g->bad);
	free(g->domains);
	memset(g, 0, sizeof(*g));
}
