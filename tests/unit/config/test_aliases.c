/*
 * test_aliases: the aliases(5) parser (one row per input: the entries it
 * gives, or the error with file and line), the expansion of local names
 * (nesting, fallback, loops, duplicates), and the keys of local delivery
 * in the configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/aliases.h"
#include "config/config.h"

struct parse_row {
	const char *name;
	const char *text;
	const char *want;	/* "name=t1,t2;name=t3" in sorted order, or NULL on error */
	const char *err;	/* the error's start, "aliases:LINE: ..." */
};

static const struct parse_row parse_rows[] = {
	{ "empty", "", "", NULL },
	{ "comments and blanks", "# c\n\n   # indented comment\n", "", NULL },
	{ "one", "root: admin@example.test\n", "root=admin@example.test", NULL },
	{ "list", "staff: a@x.test, b@x.test ,c@x.test\n", "staff=a@x.test,b@x.test,c@x.test", NULL },
	{ "name lower-cased", "Root: a@x.test\n", "root=a@x.test", NULL },
	{ "angle brackets", "root: <a@x.test>\n", "root=a@x.test", NULL },
	{ "bare local target", "postmaster: root\nroot: a@x.test\n",
	  "postmaster=root;root=a@x.test", NULL },
	{ "continuation", "staff: a@x.test,\n  b@x.test,\n\tc@x.test\n",
	  "staff=a@x.test,b@x.test,c@x.test", NULL },
	{ "comment inside continuation", "staff: a@x.test,\n# note\n  b@x.test\n",
	  "staff=a@x.test,b@x.test", NULL },
	{ "CRLF and no last LF", "a: b@x.test\r\nc: d@x.test", "a=b@x.test;c=d@x.test", NULL },
	{ "sorted", "zed: z@x.test\nabe: a@x.test\n", "abe=a@x.test;zed=z@x.test", NULL },
	{ "no colon", "root admin@x.test\n", NULL, "aliases:1: expected 'name: address" },
	{ "no name", ": a@x.test\n", NULL, "aliases:1: an alias without a name" },
	{ "no address", "root:\nother: a@x.test\n", NULL, "aliases:1: alias 'root' has no address" },
	{ "no address at end", "a: b@x.test\nroot:   \n", NULL, "aliases:2: alias 'root' has no address" },
	{ "empty piece", "root: a@x.test,,b@x.test\n", NULL, "aliases:1: alias 'root': empty address" },
	{ "program", "x: a@x.test\nroot: |/usr/bin/procmail\n", NULL,
	  "aliases:2: alias 'root': '|/usr/bin/procmail' is a program" },
	{ "quoted program", "root: \"|/bin/sh -c 'a, b'\"\n", NULL,
	  "aliases:1: alias 'root': '\\\"|/bin/sh -c 'a, b'\\\"' is a program" },
	{ "file", "root: /var/mail/root\n", NULL, "aliases:1: alias 'root': '/var/mail/root' is a file" },
	{ "include", "staff: :include:/etc/staff\n", NULL, "aliases:1: alias 'staff': ':include:' is not supported" },
	{ "include on a continuation", "staff: a@x.test,\n  :include:/etc/staff\n", NULL,
	  "aliases:2: alias 'staff': ':include:'" },
	{ "bad address", "root: a@@x.test\n", NULL, "aliases:1: alias 'root': 'a@@x.test' is not an address" },
	{ "duplicate", "root: a@x.test\nROOT: b@x.test\n", NULL,
	  "aliases:2: duplicate alias 'ROOT' (first on line 1)" },
	{ "continuation first", "  a@x.test\n", NULL, "aliases:1: a continuation line without an alias" },
	{ "control character", "root: a@x.test\x01\n", NULL, "aliases:1: control character 0x01" },
	{ "NUL", "root: a\0@x.test\n", NULL, "aliases:1: NUL byte in line" },
	{ "unbalanced quote", "root: \"a@x.test\n", NULL,
	  "aliases:1: alias 'root': '\\\"a@x.test' is not an address" },
};

/* The table as "name=t1,t2;name=t3". */
static void dump(const struct aliases *a, const char *const *names, char *buf, size_t len)
{
	size_t k = 0;
	buf[0] = '\0';
	for (size_t i = 0; names[i] != NULL; i++) {
		const struct aliases_entry *e = aliases_find(a, names[i]);
		if (e == NULL)
			continue;
		k += (size_t)snprintf(buf + k, len - k, "%s%s=", k > 0 ? ";" : "", e->name);
		for (size_t t = 0; t < e->ntargets; t++)
			k += (size_t)snprintf(buf + k, len - k, "%s%s", t > 0 ? "," : "", e->targets[t]);
	}
}

static void test_parse_table(void **state)
{
	static const char *const names[] = { "abe", "a", "c", "postmaster", "root", "staff",
		"zed", NULL };
	(void)state;
	for (size_t i = 0; i < sizeof(parse_rows) / sizeof(parse_rows[0]); i++) {
		const struct parse_row *r = &parse_rows[i];
		char err[512], got[1024];
		size_t len = strlen(r->text);
		if (strcmp(r->name, "NUL") == 0)
			len = sizeof("root: a\0@x.test\n") - 1;
		struct aliases *a = aliases_parse("aliases", r->text, len, err, sizeof(err));
		if (r->want == NULL) {
			if (a != NULL)
				fail_msg("%s: got a table, want error \"%s\"", r->name, r->err);
			if (strncmp(err, r->err, strlen(r->err)) != 0)
				fail_msg("%s: got error \"%s\", want \"%s...\"", r->name, err, r->err);
			continue;
		}
		if (a == NULL)
			fail_msg("%s: got error \"%s\", want a table", r->name, err);
		dump(a, names, got, sizeof(got));
		if (strcmp(got, r->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", r->name, got, r->want);
		aliases_free(a);
	}
}

struct expand_row {
	const char *name;
	const char *fallback;
	enum aliases_result want;
	const char *addrs;	/* "a,b" for ALIASES_OK; the missing target for ALIASES_UNKNOWN */
};

static const char expand_text[] =
	"root: admin@elsewhere.test\n"
	"postmaster: root\n"
	"abuse: postmaster, root@mx.test, Root@LOCALHOST\n"
	"staff: root, bob@elsewhere.test, ghost\n"
	"loop1: loop2\n"
	"loop2: loop1@mx.test\n"
	"self: self\n"
	"deep0: deep1\ndeep1: deep2\ndeep2: deep3\ndeep3: deep4\ndeep4: deep5\n"
	"deep5: deep6\ndeep6: deep7\ndeep7: deep8\ndeep8: deep9\ndeep9: end@elsewhere.test\n"
	"deeper: deep0\n";

static const struct expand_row expand_rows[] = {
	{ "root", NULL, ALIASES_OK, "admin@elsewhere.test" },
	{ "ROOT", NULL, ALIASES_OK, "admin@elsewhere.test" },
	{ "postmaster", NULL, ALIASES_OK, "admin@elsewhere.test" },
	{ "abuse", NULL, ALIASES_OK, "admin@elsewhere.test" },
	{ "staff", NULL, ALIASES_UNKNOWN, "ghost" },
	{ "staff", "admin@mx2.test", ALIASES_OK, "admin@elsewhere.test,bob@elsewhere.test,admin@mx2.test" },
	{ "nobody", NULL, ALIASES_NONE, NULL },
	{ "loop1", NULL, ALIASES_LOOP, NULL },
	{ "self", NULL, ALIASES_LOOP, NULL },
	{ "deep0", NULL, ALIASES_OK, "end@elsewhere.test" },
	{ "deeper", NULL, ALIASES_LOOP, NULL },
};

static void test_expand_table(void **state)
{
	static const char *const locals[] = { "mx.test", "localhost" };
	(void)state;
	char err[512];
	struct aliases *a = aliases_parse("aliases", expand_text, sizeof(expand_text) - 1, err,
	    sizeof(err));
	if (a == NULL)
		fail_msg("parse: %s", err);
	for (size_t i = 0; i < sizeof(expand_rows) / sizeof(expand_rows[0]); i++) {
		const struct expand_row *r = &expand_rows[i];
		char **list = NULL, got[1024] = "";
		size_t n = 0, k = 0;
		const char *missing = NULL;
		enum aliases_result res = aliases_expand(a, r->name, locals, 2, r->fallback, &list, &n,
		    &missing);
		if (res != r->want)
			fail_msg("%s: got result %d, want %d", r->name, (int)res, (int)r->want);
		for (size_t j = 0; j < n; j++)
			k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%s", j > 0 ? "," : "", list[j]);
		if (res == ALIASES_OK && strcmp(got, r->addrs) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", r->name, got, r->addrs);
		if (res == ALIASES_UNKNOWN && (missing == NULL || strcmp(missing, r->addrs) != 0))
			fail_msg("%s: got missing \"%s\", want \"%s\"", r->name,
			    missing != NULL ? missing : "(null)", r->addrs);
		aliases_list_free(list, n);
	}
	aliases_free(a);
}

static void test_too_many(void **state)
{
	(void)state;
	size_t cap = 64 * 1024;
	char *text = malloc(cap);
	size_t k = (size_t)snprintf(text, cap, "big: a0@x.test");
	for (int i = 1; i < ALIASES_EXPAND_MAX; i++)
		k += (size_t)snprintf(text + k, cap - k, "%s  a%d@x.test", i % 50 == 0 ? ",\n" : ",", i);
	k += (size_t)snprintf(text + k, cap - k, "\nbigger: big, extra@x.test\n");
	char err[512];
	struct aliases *a = aliases_parse("aliases", text, k, err, sizeof(err));
	if (a == NULL)
		fail_msg("parse: %s", err);
	char **list = NULL;
	size_t n = 0;
	assert_int_equal(aliases_expand(a, "big", NULL, 0, NULL, &list, &n, NULL), ALIASES_OK);
	assert_int_equal(n, ALIASES_EXPAND_MAX);
	aliases_list_free(list, n);
	assert_int_equal(aliases_expand(a, "bigger", NULL, 0, NULL, &list, &n, NULL),
	    ALIASES_TOO_MANY);
	assert_null(list);
	aliases_free(a);
	free(text);
}

static void test_load_errors_name_the_file(void **state)
{
	(void)state;
	char path[] = "/tmp/test_aliases.XXXXXX", err[512];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "root: a@x.test\nmail: /var/mail/x\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	assert_null(aliases_load(path, err, sizeof(err)));
	char want[600];
	snprintf(want, sizeof(want), "%s:2: alias 'mail': '/var/mail/x' is a file", path);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got \"%s\", want \"%s...\"", err, want);
	unlink(path);
	assert_null(aliases_load("/nonexistent/aliases", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/aliases"));
}

static void test_config_keys(void **state)
{
	(void)state;
	static const struct {
		const char *conf;
		const char *err;	/* NULL: loads */
	} rows[] = {
		{ "admin_address = admin@example.test\n", NULL },
		{ "admin_address = admin\n", "t.conf:3: admin_address: 'admin' is not an address" },
		{ "local_sender_override = bad/name\n", "t.conf:3: local_sender_override: 'bad/name'" },
		{ "aliases_file = /nonexistent/aliases\n", "t.conf:3: aliases_file: /nonexistent/aliases" },
		{ "local_socket = none\n", NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[512], err[512];
		snprintf(text, sizeof(text), "listen = 127.0.0.1:2525 relay\nqueue_dir = /var/q\n%s",
		    rows[i].conf);
		struct config *c = NULL;
		int rc = config_load_text("t.conf", text, strlen(text), &c, err, sizeof(err));
		if (rows[i].err == NULL && rc != 0)
			fail_msg("row %zu: got \"%s\", want ok", i, err);
		if (rows[i].err != NULL && (rc == 0 || strncmp(err, rows[i].err, strlen(rows[i].err)) != 0))
			fail_msg("row %zu: got \"%s\", want \"%s...\"", i, rc == 0 ? "ok" : err, rows[i].err);
		config_free(c);
	}
	/* The default socket lies beside the queue directory, which stays private. */
	const char text[] = "listen = 127.0.0.1:2525 relay\nqueue_dir = /var/q\n";
	struct config *c = NULL;
	char err[512];
	assert_int_equal(config_load_text("t.conf", text, sizeof(text) - 1, &c, err, sizeof(err)), 0);
	assert_string_equal(c->local_socket, "/var/q-public/submit.sock");
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_expand_table),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_load_errors_name_the_file),
		cmocka_unit_test(test_config_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
