/*
 * test_config_queue: the queue keys' pure pieces: a DSN's password masked
 * in both of libpq's forms, a libpq passfile's line chosen as libpq
 * chooses it, the node id's alphabet, and a DSN's passfile read at load
 * (the password kept for the backend, never printed).
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

#include "config/config.h"
#include "config/config_print.h"
#include "config_parser.h"

struct mask_case {
	const char *dsn;
	const char *want;
};

static const struct mask_case mask_cases[] = {
	{ "postgresql://mx:s3cret@db.test:5432/mxrelay", "postgresql://mx:*****@db.test:5432/mxrelay" },
	{ "postgres://mx:s3cret@db.test/mxrelay", "postgres://mx:*****@db.test/mxrelay" },
	{ "postgresql://mx@db.test/mxrelay", "postgresql://mx@db.test/mxrelay" },
	{ "postgresql://db.test/mxrelay", "postgresql://db.test/mxrelay" },
	{ "postgresql:///mxrelay?host=/run/postgresql", "postgresql:///mxrelay?host=/run/postgresql" },
	{ "postgresql://mx:p%40ss@db/x?password=two&sslmode=require",
	  "postgresql://mx:*****@db/x?password=*****&sslmode=require" },
	{ "postgresql://db/x?sslmode=require&password=two", "postgresql://db/x?sslmode=require&password=*****" },
	{ "postgresql://mx:pw@h1:5432,h2:5433/x", "postgresql://mx:*****@h1:5432,h2:5433/x" },
	{ "host=db dbname=mx password=s3cret", "host=db dbname=mx password=*****" },
	{ "host=db password = 's3 cr\\'et' dbname=mx", "host=db password = ***** dbname=mx" },
	{ "password=x", "password=*****" },
	{ "host=db passfile=/etc/mxrelay/pgpass", "host=db passfile=/etc/mxrelay/pgpass" },
	{ "host=db dbname=password", "host=db dbname=password" },
	{ "", "" },
};

static void test_dsn_mask(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mask_cases) / sizeof(mask_cases[0]); i++) {
		char out[256];
		config_queue_dsn_mask(mask_cases[i].dsn, out, sizeof(out));
		if (strcmp(out, mask_cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, mask_cases[i].want);
		if (strstr(out, "s3cret") != NULL || strstr(out, "two") != NULL)
			fail_msg("case %zu: the password shows in \"%s\"", i, out);
	}
	/* A short buffer is cut, never overrun, and always terminated. */
	char small[12];
	config_queue_dsn_mask("postgresql://mx:s3cret@db.test/mxrelay", small, sizeof(small));
	assert_string_equal(small, "postgresql:");
}

struct pgpass_case {
	const char *text;
	const char *host, *port, *db, *user;
	const char *want;		/* NULL: no line matches */
};

static const struct pgpass_case pgpass_cases[] = {
	{ "db.test:5432:mxrelay:mx:pw1\n", "db.test", "5432", "mxrelay", "mx", "pw1" },
	{ "db.test:5432:mxrelay:mx:pw1", "db.test", "5432", "mxrelay", "mx", "pw1" },
	{ "db.test:5432:mxrelay:mx:pw1\r\n", "db.test", "5432", "mxrelay", "mx", "pw1" },
	{ "other:5432:mxrelay:mx:no\n*:*:*:mx:yes\n", "db.test", "5432", "mxrelay", "mx", "yes" },
	{ "*:*:*:mx:first\n*:*:*:*:second\n", "db.test", "5432", "mxrelay", "mx", "first" },
	{ "# comment:*:*:*:no\n*:*:*:*:yes\n", "h", "1", "d", "u", "yes" },
	{ "db.test:5433:mxrelay:mx:no\n", "db.test", "5432", "mxrelay", "mx", NULL },
	{ "db.test:5432:mxrelay:other:no\n", "db.test", "5432", "mxrelay", "mx", NULL },
	{ "localhost:*:mxrelay:mx:sock\n", "localhost", "5432", "mxrelay", "mx", "sock" },
	{ "h\\:x:*:*:*:escaped\n", "h:x", "5432", "d", "u", "escaped" },
	{ "*:*:*:*:pa\\:ss:word\n", "h", "5432", "d", "u", "pa:ss:word" },
	{ "*:*:*:*:back\\\\slash\n", "h", "5432", "d", "u", "back\\slash" },
	{ "too:few:fields\n", "too", "few", "fields", "u", NULL },
	{ "", "h", "5432", "d", "u", NULL },
};

static void test_pgpass(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pgpass_cases) / sizeof(pgpass_cases[0]); i++) {
		const struct pgpass_case *tc = &pgpass_cases[i];
		char out[64] = "unchanged";
		bool got = config_queue_pgpass_find(tc->text, strlen(tc->text), tc->host, tc->port,
		    tc->db, tc->user, out, sizeof(out));
		if (got != (tc->want != NULL))
			fail_msg("case %zu: got found=%d, want %d", i, got, tc->want != NULL);
		if (tc->want != NULL && strcmp(out, tc->want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, tc->want);
	}
}

static void test_node_id(void **state)
{
	(void)state;
	static const struct {
		const char *id;
		bool ok;
	} cases[] = {
		{ "relay1", true }, { "mx-1.example.test", true }, { "a_b", true },
		{ "", false }, { "a b", false }, { "a/b", false }, { "é", false },
		{ "123456789012345678901234567890123456789012345678901234567890123", true },
		{ "1234567890123456789012345678901234567890123456789012345678901234", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (config_queue_node_id_valid(cases[i].id) != cases[i].ok)
			fail_msg("case %zu (%s): got %d, want %d", i, cases[i].id, !cases[i].ok,
			    cases[i].ok);
}

/* A passfile named by the DSN is read at load; the password is the backend's, never printed. */
static void test_passfile_read_and_never_printed(void **state)
{
	(void)state;
	char pw[] = "/tmp/test_config_queue.XXXXXX";
	int fd = mkstemp(pw);
	assert_true(fd >= 0);
	const char *lines = "db.test:5432:other:mx:wrong\ndb.test:*:mxrelay:mx:Pg-secret-42\n";
	assert_int_equal(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
	close(fd);
	char text[512], err[512] = "";
	snprintf(text, sizeof(text), "listen = 127.0.0.1:2525 relay\nqueue_backend = postgresql\n"
	    "queue_dsn = postgresql://mx@db.test/mxrelay?passfile=%s\nnode_id = n1\n", pw);
	struct config *c = NULL;
	if (config_load_text("t.conf", text, strlen(text), &c, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	assert_non_null(c->queue_password);
	assert_string_equal(c->queue_password, "Pg-secret-42");
	assert_string_equal(c->node_id, "n1");
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	const char *missing = NULL;
	assert_int_equal(config_print(c, false, f, &missing), 0);
	fclose(f);
	assert_null(strstr(out, "Pg-secret-42"));
	assert_non_null(strstr(out, "queue_backend = postgresql\n"));
	free(out);
	config_free(c);
	/* A password in the DSN itself is printed masked. */
	const char *inline_pw = "listen = 127.0.0.1:2525 relay\nqueue_backend = postgresql\n"
	    "queue_dsn = postgresql://mx:Inline-9@db.test/mxrelay\n";
	assert_int_equal(config_load_text("t.conf", inline_pw, strlen(inline_pw), &c, err,
	    sizeof(err)), 0);
	f = open_memstream(&out, &outlen);
	assert_int_equal(config_print(c, false, f, &missing), 0);
	fclose(f);
	assert_null(strstr(out, "Inline-9"));
	assert_non_null(strstr(out, "queue_dsn = postgresql://mx:*****@db.test/mxrelay\n"));
	free(out);
	config_free(c);
	unlink(pw);
}

/* Without node_id, the host name (what a fleet's nodes differ by). */
static void test_node_id_default(void **state)
{
	(void)state;
	char err[256], host[256];
	struct config *c = NULL;
	const char *text = "listen = 127.0.0.1:2525 relay\n";
	assert_int_equal(config_load_text("t.conf", text, strlen(text), &c, err, sizeof(err)), 0);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[CFG_NODE_ID_MAX] = '\0';
	assert_true(config_queue_node_id_valid(c->node_id));
	if (config_queue_node_id_valid(host))
		assert_string_equal(c->node_id, host);
	assert_int_equal(c->queue_backend, CFG_QUEUE_SQLITE);
	assert_int_equal(c->queue_lease_time, 60);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_mask),
		cmocka_unit_test(test_pgpass),
		cmocka_unit_test(test_node_id),
		cmocka_unit_test(test_passfile_read_and_never_printed),
		cmocka_unit_test(test_node_id_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
