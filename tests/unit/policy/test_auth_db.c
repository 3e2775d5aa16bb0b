/*
 * test_auth_db: the AUTH credentials file: loading, errors with file and
 * line, and verification for every accepted hash type (hashes are made at
 * test time with crypt_gensalt_rn and crypt_rn, at the lowest cost).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/auth_db.h"

/* Hash pass with a fresh salt of the given prefix and lowest cost. */
static char *make_hash(const char *prefix, unsigned long count, const char *pass)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	if (crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof(setting)) == NULL)
		fail_msg("crypt_gensalt_rn(%s) failed", prefix);
	memset(&cd, 0, sizeof(cd));
	const char *h = crypt_rn(pass, setting, &cd, (int)sizeof(cd));
	if (h == NULL || h[0] == '*')
		fail_msg("crypt_rn(%s) failed", prefix);
	return strdup(h);
}

/* Write text to a fresh temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/test_auth_db.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_hash_types(void **state)
{
	(void)state;
	static const struct { const char *prefix; unsigned long count; } types[] = {
		{ "$y$", 1 }, { "$2b$", 4 }, { "$2y$", 4 }, { "$6$", 1000 }, { "$5$", 1000 },
	};
	char text[4096] = "# users\n\n";
	char *hashes[5];
	for (size_t i = 0; i < 5; i++) {
		char line[512], pass[32];
		snprintf(pass, sizeof(pass), "pass-%zu", i);
		hashes[i] = make_hash(types[i].prefix, types[i].count, pass);
		snprintf(line, sizeof(line), "user%zu:%s\n", i, hashes[i]);
		strncat(text, line, sizeof(text) - strlen(text) - 1);
	}
	const char *path = temp_file(text);
	char err[512];
	struct auth_db *db = auth_db_load(path, err, sizeof(err));
	unlink(path);
	if (db == NULL)
		fail_msg("got error \"%s\"", err);
	assert_int_equal(auth_db_count(db), 5);
	for (size_t i = 0; i < 5; i++) {
		char user[16], pass[32], other[32];
		snprintf(user, sizeof(user), "user%zu", i);
		snprintf(pass, sizeof(pass), "pass-%zu", i);
		snprintf(other, sizeof(other), "pass-%zu", (i + 1) % 5);
		if (!auth_db_check(db, user, pass))
			fail_msg("%s (%s): right password refused", user, types[i].prefix);
		if (auth_db_check(db, user, other))
			fail_msg("%s (%s): wrong password accepted", user, types[i].prefix);
		assert_false(auth_db_check(db, user, ""));
		free(hashes[i]);
	}
	assert_false(auth_db_check(db, "nobody", "pass-0"));
	assert_false(auth_db_check(db, "USER0", "pass-0"));
	assert_false(auth_db_check(db, "", ""));
	assert_false(auth_db_check(db, NULL, "x"));
	assert_false(auth_db_check(NULL, "user0", "pass-0"));
	auth_db_free(db);
	auth_db_free(NULL);
}

struct bad_case {
	const char *text;
	const char *want;	/* substring after "PATH:" */
};

static void test_errors(void **state)
{
	(void)state;
	char *y = make_hash("$y$", 1, "pw");
	char *md5 = make_hash("$1$", 0, "pw");
	char dup[512], okline[512], md5line[512], trailing[512];
	snprintf(okline, sizeof(okline), "# c\nalice:%s\n", y);
	snprintf(dup, sizeof(dup), "alice:%s\nbob:%s\nalice:%s\n", y, y, y);
	snprintf(md5line, sizeof(md5line), "\nbob:%s\n", md5);
	snprintf(trailing, sizeof(trailing), "bob:%s:1000:0\n", y);
	const struct bad_case cases[] = {
		{ "alice\n", ":1: expected 'user:hash'" },
		{ ":$y$abc\n", ":1: expected 'user:hash'" },
		{ "# x\nalice:\n", ":2: user 'alice' has an empty hash" },
		{ md5line, ":2: user 'bob': not a yescrypt" },
		{ "carol:plaintext-password\n", ":1: user 'carol': not a yescrypt" },
		{ "dave:*\n", ":1: user 'dave': not a yescrypt" },
		{ trailing, ":1: user 'bob': not a yescrypt" },
		{ dup, ": user 'alice' is listed twice" },
		{ "a b:$y$x\n", ":1: user name 'a b' is too long or holds white space" },
		{ "eve:$y$j9T$\x01\n", ":1: control character" },
		{ "$y$garbage-with-prefix-only\n", ":1: expected 'user:hash'" },
		{ "frank:$y$not!valid\n", ":1: user 'frank': not a yescrypt" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = temp_file(cases[i].text);
		char err[512] = "", want[256];
		struct auth_db *db = auth_db_load(path, err, sizeof(err));
		snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
		unlink(path);
		if (db != NULL) {
			auth_db_free(db);
			fail_msg("case %zu: got success, want \"%s\"", i, want);
		}
		if (strstr(err, want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, want);
		if (strstr(err, "$y$j9T") != NULL || strstr(err, "$1$") != NULL)
			fail_msg("case %zu: error shows a hash: %s", i, err);
	}
	/* Comments, blank lines and CRLF are fine. */
	const char *path = temp_file(okline);
	char err[512];
	struct auth_db *db = auth_db_load(path, err, sizeof(err));
	unlink(path);
	assert_non_null(db);
	assert_true(auth_db_check(db, "alice", "pw"));
	auth_db_free(db);
	assert_null(auth_db_load("/nonexistent/users", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/users: cannot open"));
	free(y);
	free(md5);
}

static void test_empty_and_nul(void **state)
{
	(void)state;
	char err[512];
	const char *path = temp_file("# no users yet\n\n");
	struct auth_db *db = auth_db_load(path, err, sizeof(err));
	unlink(path);
	assert_non_null(db);
	assert_int_equal(auth_db_count(db), 0);
	assert_false(auth_db_check(db, "anyone", "anything"));
	auth_db_free(db);

	char nul_path[64];
	snprintf(nul_path, sizeof(nul_path), "/tmp/test_auth_db.XXXXXX");
	int fd = mkstemp(nul_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a:$y$\0x\n", 8), 8);
	close(fd);
	assert_null(auth_db_load(nul_path, err, sizeof(err)));
	unlink(nul_path);
	assert_non_null(strstr(err, ":1: NUL byte"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_types),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_empty_and_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
