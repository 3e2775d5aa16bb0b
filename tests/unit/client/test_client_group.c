/*
 * test_client_group: recipients grouped by domain without case, address
 * literals apart, duplicates folded, bad addresses marked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "client_group.h"

/* Describe a grouping as "dom:i,j dom:k" for comparison. */
static void describe(const struct client_grouping *g, char *buf, size_t cap)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t k = 0; k < g->ngroups; k++) {
		used += (size_t)snprintf(buf + used, cap - used, "%s%s%s:", k ? " " : "",
		    g->groups[k].literal ? "L" : "", g->groups[k].domain);
		for (size_t m = 0; m < g->groups[k].n; m++)
			used += (size_t)snprintf(buf + used, cap - used, "%s%zu", m ? "," : "",
			    g->groups[k].members[m]);
	}
}

struct group_case {
	const char *name;
	const char *rcpts[6];
	const char *want;
	const char *want_bad;	/* indices with a bad address, as "i,j" */
	const char *want_dups;	/* dup_of for every index, as "0,1,0" */
};

static const struct group_case group_cases[] = {
	{ "one domain", { "a@x.test", "b@x.test" }, "x.test:0,1", "", "0,1" },
	{ "case folded", { "bob@a.test", "carol@A.Test", "d@b.test" }, "a.test:0,1 b.test:2", "", "0,1,2" },
	{ "duplicate folded, local part kept exact", { "a@x.test", "A@x.test", "a@X.TEST" },
	  "x.test:0,1", "", "0,1,0" },
	{ "literals", { "u@[127.0.0.1]", "v@[127.0.0.1]", "w@[IPv6:::1]" },
	  "L[127.0.0.1]:0,1 L[IPv6:::1]:2", "", "0,1,2" },
	{ "bad ones marked", { "nodomain", "", "ok@x.test", "two@@x.test" }, "x.test:2", "0,1,3", "0,1,2,3" },
	{ "utf8", { "jos\xc3\xa9@a.test", "b@a.test" }, "a.test:0,1", "", "0,1" },
};

static void test_group_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(group_cases) / sizeof(group_cases[0]); i++) {
		const struct group_case *c = &group_cases[i];
		struct mxr_rcpt r[6];
		size_t n = 0;
		memset(r, 0, sizeof(r));
		while (n < 6 && c->rcpts[n] != NULL)
			r[n].address = c->rcpts[n], n++;
		struct client_grouping g;
		client_group_build(r, n, &g);
		char got[512];
		describe(&g, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: groups got \"%s\", want \"%s\"", c->name, got, c->want);
		char bad[64] = "", dups[64] = "";
		size_t ub = 0, ud = 0;
		for (size_t k = 0; k < n; k++) {
			if (g.bad[k] != NULL)
				ub += (size_t)snprintf(bad + ub, sizeof(bad) - ub, "%s%zu", ub ? "," : "", k);
			ud += (size_t)snprintf(dups + ud, sizeof(dups) - ud, "%s%zu", k ? "," : "", g.dup_of[k]);
		}
		if (strcmp(bad, c->want_bad) != 0)
			fail_msg("%s: bad got \"%s\", want \"%s\"", c->name, bad, c->want_bad);
		if (strcmp(dups, c->want_dups) != 0)
			fail_msg("%s: dup_of got \"%s\", want \"%s\"", c->name, dups, c->want_dups);
		client_group_free(&g);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
