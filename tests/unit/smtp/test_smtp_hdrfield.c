/*
 * test_smtp_hdrfield: header fields one at a time and the addresses of
 * address-list values. One row per header section: its fields as
 * "name|unfolded value" (the name empty for a line that is no field) and
 * where the walk stops; one row per value: the addresses found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_hdrfield.h"

struct walk_row {
	const char *name;
	const char *hdr;
	size_t len;		/* 0: strlen */
	const char *want;	/* fields joined by ";" */
	size_t stop;		/* where the walk stops */
};

static const struct walk_row walk_rows[] = {
	{ "two fields, then the body", "A: 1\r\nB:2\r\n\r\nbody\r\n", 0, "A| 1;B|2", 11 },
	{ "folded", "Subject: a\r\n b\r\n\tc\r\nX: y\r\n", 0, "Subject| a b\tc;X| y", 26 },
	{ "white space before the colon", "From \t: a@b\r\n", 0, "From| a@b", 13 },
	{ "a line without a colon", "nocolon\r\nA: b\r\n", 0, "|;A| b", 15 },
	{ "a colon on a continuation line only", "A\r\n b: c\r\n", 0, "|", 10 },
	{ "no empty line", "A: 1\r\nB: 2", 0, "A| 1;B| 2", 10 },
	{ "empty header", "\r\nbody", 0, "", 0 },
	{ "LF line ends", "A: 1\nB: 2\n\nbody", 0, "A| 1;B| 2", 10 },
	{ "a lone CR ends the section", "A: 1\r\n\r", 0, "A| 1", 6 },
	{ "NUL in a value", "A: x\0y\r\n", 8, "A| x", 8 },
};

/* The fields of row r as "name|value;..." into out. */
static size_t walk(const struct walk_row *r, char *out, size_t cap)
{
	size_t len = r->len != 0 ? r->len : strlen(r->hdr), pos = 0, o = 0;
	struct smtp_hdrfield f;
	out[0] = '\0';
	while (smtp_hdrfield_next(r->hdr, len, &pos, &f)) {
		size_t vn = 0;
		char *v = f.name_len > 0 ? smtp_hdrfield_unfold(&f, &vn) : NULL;
		o += (size_t)snprintf(out + o, cap - o, "%s%.*s|%s", o > 0 ? ";" : "", (int)f.name_len,
		    f.start, v != NULL ? v : "");
		free(v);
	}
	return pos;
}

static void test_walk(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(walk_rows) / sizeof(walk_rows[0]); i++) {
		char got[512];
		size_t stop = walk(&walk_rows[i], got, sizeof(got));
		if (strcmp(got, walk_rows[i].want) != 0 || stop != walk_rows[i].stop)
			fail_msg("%s: got \"%s\" stopping at %zu, want \"%s\" at %zu", walk_rows[i].name,
			    got, stop, walk_rows[i].want, walk_rows[i].stop);
	}
	struct smtp_hdrfield f;
	size_t pos = 0;
	assert_true(smtp_hdrfield_next("fRoM: x\r\n", 9, &pos, &f));
	assert_true(smtp_hdrfield_is(&f, "from"));
	assert_false(smtp_hdrfield_is(&f, "fro"));
}

struct addrs_row {
	const char *value;
	size_t len;		/* 0: strlen */
	const char *want;	/* addresses joined by " " */
};

static const struct addrs_row addrs_rows[] = {
	{ " a@b.test", 0, "a@b.test" },
	{ " \"Smith, Alice\" (work) <alice@example.org>, bob@example.org", 0,
	  "alice@example.org bob@example.org" },
	{ " Alice <alice@example.org> (a comment, with <x@y> inside)", 0, "alice@example.org" },
	{ " team: a@b.test, c@d.test;, e@f.test", 0, "a@b.test c@d.test e@f.test" },
	{ " <@relay.test,@other.test:x@y.test>", 0, "x@y.test" },
	{ " \"quoted local\"@b.test", 0, "\"quoted local\"@b.test" },
	{ " u@[IPv6:2001:db8::1]", 0, "u@[IPv6:2001:db8::1]" },
	{ " undisclosed-recipients:;", 0, "" },
	{ " ,,, ,", 0, "" },
	/* A NUL is in no address: it is dropped, the rest stays (found by fuzz_hdrfield). */
	{ " a\0b@c.test, d@e.test", 21, "d@e.test" },
};

static void test_addrs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addrs_rows) / sizeof(addrs_rows[0]); i++) {
		const struct addrs_row *r = &addrs_rows[i];
		struct smtp_hdrfield_addrs l = { 0 };
		smtp_hdrfield_addrs_parse(&l, r->value, r->len != 0 ? r->len : strlen(r->value));
		char got[512];
		size_t o = 0;
		got[0] = '\0';
		for (size_t k = 0; k < l.n; k++)
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s", k > 0 ? " " : "", l.a[k]);
		if (strcmp(got, r->want) != 0)
			fail_msg("row %zu: got \"%s\", want \"%s\"", i, got, r->want);
		smtp_hdrfield_addrs_free(&l);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_addrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
