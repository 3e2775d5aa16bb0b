/*
 * test_config_print: `check-config --print` and `--print-changed`: every
 * key of the grammar is printed, a printed configuration loads back to
 * the same print, only the keys set are printed as changed, and a route's
 * password never appears (its password-file path does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/config_print.h"
#include "util/log.h"

#define SECRET "s3cret-Pw-never-printed"

/* Print c into a new string (freed by the caller). */
static char *print_to_string(const struct config *c, bool changed_only)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	const char *missing = NULL;
	int rc = config_print(c, changed_only, f, &missing);
	fclose(f);
	if (rc != 0)
		fail_msg("config_print: no printer for %s", missing ? missing : "(null)");
	return buf;
}

/* Load text, failing the test with the loader's error. */
static struct config *load(const char *text)
{
	struct config *c = NULL;
	char err[512];
	if (config_load_text("t.conf", text, strlen(text), &c, err, sizeof(err)) != 0)
		fail_msg("config_load_text: %s\n%s", err, text);
	return c;
}

/* Whether out has a line starting "key =". */
static bool has_key(const char *out, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = out; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, n) == 0 && strncmp(p + n, " =", 2) == 0)
			return true;
	return false;
}

/* A password file holding SECRET; its path into path. */
static void make_password_file(char *path, size_t len)
{
	snprintf(path, len, "/tmp/test_config_print.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, SECRET "\n", strlen(SECRET) + 1), (ssize_t)strlen(SECRET) + 1);
	close(fd);
}

/* The configuration most keys are set in, with a route that has a password. */
static char *rich_text(const char *pwfile)
{
	static const char fmt[] =
	    "listen = 127.0.0.1:2525 relay\n"
	    "listen = [::1]:2587 submission auth-plaintext\n"
	    "hostname = mx.example.test\n"
	    "queue_dir = /var/spool/mxrelay\n"
	    "log_level = debug\n"
	    "relay_networks = 10.0.0.0/8, 192.0.2.1\n"
	    "relay_domains = example.test other.test\n"
	    "max_message_size = 10M\n"
	    "command_timeout = 2m\n"
	    "client_message_rate = 30/90s\n"
	    "user_recipient_rate = 1000/1d\n"
	    "user_rate = zed recipients=unlimited\n"
	    "user_rate = svc unlimited\n"
	    "user_rate = alice@example.test messages=5/1h recipients=50/3600\n"
	    "rate_limit_exempt = 192.0.2.0/24, 2001:db8::/32\n"
	    "vrfy = disabled\n"
	    "check_recipient_domain = yes\n"
	    "dns_server = 127.0.0.53\n"
	    "address_preference = ipv4\n"
	    "outbound_tls = required\n"
	    "tls_policy = b.test verify match=hostname:.b.test\n"
	    "tls_policy = .c.test dane-only\n"
	    "tlsrpt_organization = Example Org Mail\n"
	    "smarthost = relay.example.test:587 tls=required auth=mxuser password-file=%s\n"
	    "route = special.test smarthost=[192.0.2.9]:25 tls=none\n"
	    "retry_intervals = 1m 90m 1d\n"
	    "max_queue_age = 3d\n"
	    "auth_file = %s\n";
	size_t n = sizeof(fmt) + 2 * strlen(pwfile);
	char *s = malloc(n);
	assert_non_null(s);
	snprintf(s, n, fmt, pwfile, pwfile);
	return s;
}

static void test_every_key_has_a_printer(void **state)
{
	(void)state;
	const char *k = config_print_unprintable();
	if (k != NULL)
		fail_msg("the key %s has its own syntax and no printer in config_print.c", k);
}

/* The embedded default and a rich file: every key of the table is printed. */
static void test_print_names_every_key(void **state)
{
	(void)state;
	char pw[64];
	make_password_file(pw, sizeof(pw));
	char *text = rich_text(pw);
	const char *texts[] = { config_default_text(), text };
	for (size_t t = 0; t < 2; t++) {
		struct config *c = load(texts[t]);
		char *out = print_to_string(c, false);
		for (size_t i = 0; i < config_key_count(); i++) {
			struct config_key_info k;
			config_key_info(i, &k);
			if (!has_key(out, k.name))
				fail_msg("config %zu: no line for key %s in:\n%s", t, k.name, out);
		}
		free(out);
		config_free(c);
	}
	free(text);
	unlink(pw);
}

/* What --print says loads back and prints the same; the password is never there. */
static void test_print_round_trip_without_the_password(void **state)
{
	(void)state;
	char pw[64];
	make_password_file(pw, sizeof(pw));
	char *text = rich_text(pw);
	struct config *c = load(text);
	char *out = print_to_string(c, false);
	if (strstr(out, SECRET) != NULL)
		fail_msg("the password was printed:\n%s", out);
	char want[200];
	snprintf(want, sizeof(want), "smarthost = relay.example.test:587 tls=verify auth=mxuser "
	    "password-file=%s\n", pw);
	if (strstr(out, want) == NULL)
		fail_msg("got:\n%s\nwant a line: %s", out, want);
	static const char *const lines[] = {
		"listen = 127.0.0.1:2525 relay\n", "listen = [::1]:2587 submission auth-plaintext\n",
		"log_level = debug\n", "relay_networks = 10.0.0.0/8 192.0.2.1/32\n",
		"relay_domains = example.test other.test\n", "max_message_size = 10M\n",
		"command_timeout = 2m\n", "vrfy = disabled\n", "check_recipient_domain = yes\n",
		"address_preference = ipv4\n", "outbound_tls = verify\n",
		"tls_policy = b.test verify match=hostname:.b.test\n", "tls_policy = .c.test dane-only\n",
		"tlsrpt_organization = Example Org Mail\n",
		"route = special.test smarthost=[192.0.2.9]:25 tls=none\n",
		"retry_intervals = 1m 90m 1d\n", "max_queue_age = 3d\n", "max_recipients = 1000\n",
		"client_message_rate = 30/90s\n", "user_recipient_rate = 1000/1d\n",
		"client_connection_rate = off\n",
		/* One line per user, sorted, each part it gives. */
		"user_rate = alice@example.test messages=5/1h recipients=50/1h\n"
		"user_rate = svc messages=unlimited recipients=unlimited\n"
		"user_rate = zed recipients=unlimited\n",
		"rate_limit_exempt = 192.0.2.0/24 2001:db8::/32\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (strstr(out, lines[i]) == NULL)
			fail_msg("got:\n%s\nwant a line: %s", out, lines[i]);

	/* Back in, without the "key =" lines of unset keys: the same print. */
	char *again = calloc(1, strlen(out) + 1);
	assert_non_null(again);
	for (char *p = out, *nl; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		if (nl - p < 2 || strncmp(nl - 2, " =", 2) != 0)
			strncat(again, p, (size_t)(nl - p + 1));
	}
	struct config *c2 = load(again);
	char *out2 = print_to_string(c2, false);
	if (strcmp(out, out2) != 0)
		fail_msg("printed, loaded and printed again:\n%s\nwant:\n%s", out2, out);
	free(out2);
	config_free(c2);
	free(again);
	free(out);
	config_free(c);
	free(text);
	unlink(pw);
}

/* --print-changed: the keys the file sets, each with every line it has, nothing else. */
static void test_print_changed(void **state)
{
	(void)state;
	struct config *c = load("# a comment\nqueue_dir = /q\nlisten = 127.0.0.1:25 relay\n"
	    "listen = 127.0.0.1:2526 relay\nmax_errors = 5\n");
	char *out = print_to_string(c, true);
	const char *want = "listen = 127.0.0.1:25 relay\nlisten = 127.0.0.1:2526 relay\n"
	    "queue_dir = /q\nmax_errors = 5\n";
	if (strcmp(out, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", out, want);
	free(out);
	config_free(c);
	c = load("# only a listener\nlisten = 127.0.0.1:25 relay\n");
	out = print_to_string(c, true);
	if (strcmp(out, "listen = 127.0.0.1:25 relay\n") != 0)
		fail_msg("a file setting one key: got:\n%s\nwant only that key", out);
	free(out);
	config_free(c);
}

int main(void)
{
	log_init("test_config_print", LOG_LVL_ERR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_has_a_printer),
		cmocka_unit_test(test_print_names_every_key),
		cmocka_unit_test(test_print_round_trip_without_the_password),
		cmocka_unit_test(test_print_changed),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
