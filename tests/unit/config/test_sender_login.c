/*
 * test_sender_login: the sender_login file. One row per file: the error
 * (file, line and a word of the reason) or, when it parses, rows of
 * lookups: who (a user, or "[ADDRESS]" for a client) may use which sender.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config/sender_login.h"

struct owns_row {
	const char *who;	/* a user, or "[ADDRESS]": the client at that address */
	const char *sender;
	bool want;
};

struct file_row {
	const char *name;
	const char *text;
	const char *err;	/* the error's start ("f:LINE: ..."), or NULL when it parses */
	struct owns_row owns[12];
};

#define LOGINS "# senders\n" \
    "alice:   alice@example.org, @Example.NET\n" \
    "         A.Smith@example.org\n" \
    "billing: *\n" \
    "carol@example.org: carol@example.org\n" \
    "empty:\n" \
    "[192.0.2.0/24]: @app.example.org\n" \
    "[192.0.2.10]: noreply@example.org\n" \
    "[2001:db8::/64]: v6@example.org\r\n"

static const struct file_row rows[] = {
	{ "every kind of entry", LOGINS, NULL, {
		{ "alice", "alice@example.org", true },
		{ "ALICE", "ALICE@EXAMPLE.ORG", true },
		{ "alice", "anyone@example.net", true },
		{ "alice", "a.smith@example.org", true },
		{ "alice", "anyone@sub.example.net", false },
		{ "alice", "ceo@bigbank.test", false },
		{ "alice", "", true },
		{ "billing", "whoever@wherever.test", true },
		{ "Carol@Example.ORG", "carol@example.org", true },
		{ "empty", "empty@example.org", false },
		{ "nobody", "nobody@example.org", false },
		{ "nobody", "", true },
	} },
	{ "networks: the longest prefix", LOGINS, NULL, {
		{ "[192.0.2.7]", "x@app.example.org", true },
		{ "[192.0.2.7]", "noreply@example.org", false },
		{ "[192.0.2.10]", "noreply@example.org", true },
		{ "[192.0.2.10]", "x@app.example.org", false },
		{ "[198.51.100.1]", "x@app.example.org", false },
		{ "[2001:db8::5]", "v6@example.org", true },
		{ "[2001:db8:0:1::5]", "v6@example.org", false },
	} },
	{ "empty file", "", NULL, { { "alice", "alice@example.org", false } } },
	{ "not an address", "a: alice@example.org\nb: not-an-address\n", "f:2: 'not-an-address' is",
	  { { 0 } } },
	{ "no colon", "alice alice@example.org\n", "f:1: 'alice alice@example.org' is not", { { 0 } } },
	{ "continuation first", "  a@b.test\n", "f:1: a continuation line", { { 0 } } },
	{ "same user twice", "Alice: a@b.test\nalice: c@d.test\n", "f:2: user alice is also at line 1",
	  { { 0 } } },
	{ "same network twice", "[192.0.2.1]: a@b.test\n[192.0.2.1/32]: c@d.test\n",
	  "f:2: [192.0.2.1/32] is also at line 1", { { 0 } } },
	{ "bad network", "[192.0.2.300]: a@b.test\n", "f:1: '[192.0.2.300]' is not a network",
	  { { 0 } } },
	{ "network without colon", "[192.0.2.1] a@b.test\n", "f:1: '[192.0.2.1] a@b.test': a",
	  { { 0 } } },
	{ "control character", "al\x01ice: a@b.test\n", "f:1: user 'al", { { 0 } } },
	{ "NUL octet", "alice: a@b.test\n\0\n", "f:2: NUL byte in line", { { 0 } } },
	{ "no user", ": a@b.test\n", "f:1: an entry without a user", { { 0 } } },
};

/* The entry "who" is bound to: a user's, or a client's by its address. */
static const struct sender_login_entry *who_entry(const struct sender_login *m, const char *who)
{
	if (who[0] != '[')
		return sender_login_user(m, who);
	char addr[64];
	snprintf(addr, sizeof(addr), "%.*s", (int)strlen(who) - 2, who + 1);
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1)
		return sender_login_client(m, (const struct sockaddr *)&a4);
	assert_int_equal(inet_pton(AF_INET6, addr, &a6.sin6_addr), 1);
	return sender_login_client(m, (const struct sockaddr *)&a6);
}

static void test_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct file_row *r = &rows[i];
		char err[700] = "";
		size_t len = strlen(r->text) + (strcmp(r->name, "NUL octet") == 0 ? 3 : 0);
		struct sender_login *m = sender_login_parse("f", r->text, len, err, sizeof(err));
		if (r->err != NULL) {
			if (m != NULL || strncmp(err, r->err, strlen(r->err)) != 0)
				fail_msg("%s: got \"%s\", want an error starting \"%s\"", r->name, err,
				    r->err);
			continue;
		}
		if (m == NULL)
			fail_msg("%s: got \"%s\", want it parsed", r->name, err);
		for (size_t k = 0; k < 12 && r->owns[k].who != NULL; k++) {
			const struct owns_row *o = &r->owns[k];
			bool got = sender_login_owns(who_entry(m, o->who), o->sender);
			if (got != o->want)
				fail_msg("%s: %s owns <%s>: got %d, want %d", r->name, o->who, o->sender,
				    got, o->want);
		}
		sender_login_free(m);
	}
}

static void test_count_and_keys(void **state)
{
	(void)state;
	char err[700];
	struct sender_login *m = sender_login_parse("f", LOGINS, strlen(LOGINS), err, sizeof(err));
	assert_non_null(m);
	assert_int_equal(sender_login_count(m), 7);
	assert_string_equal(sender_login_key(sender_login_user(m, "Carol@example.org")),
	    "carol@example.org");
	assert_string_equal(sender_login_key(NULL), "");
	sender_login_free(m);
	sender_login_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_count_and_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
