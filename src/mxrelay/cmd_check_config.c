/*
 * cmd_check_config: `mxrelay check-config [--default | --print |
 * --print-changed] [-c FILE | FILE]`.
 *
 * Owns: loading a configuration the way the daemon does (plus the AUTH
 * credentials file it names), printing "FILE: configuration ok" and a
 * summary, or every key with its value (config_print), or the first
 * error, and the exit status (0, EX_USAGE or EX_CONFIG).
 * Never: prints a password or a password hash; never changes anything.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "commands.h"
#include "policy/auth_db.h"
#include "config/config.h"
#include "config/sender_login.h"
#include "dkim/dkim_key.h"
#include "config/config_path.h"
#include "config/config_print.h"

#define CHECK_CONFIG_DEFAULT_PATH MXR_CONFIG_FILE

/* Print the usage line to f. */
static void check_config_usage(FILE *f)
{
	fprintf(f, "usage: mxrelay check-config [--print | --print-changed | --default] "
	    "[-c FILE | FILE]\n"
	    "  FILE, -c FILE    configuration to check (default " CHECK_CONFIG_DEFAULT_PATH
	    ",\n                   or the embedded default when that file does not exist)\n"
	    "  --print          every setting with its effective value, as key = value\n"
	    "  --print-changed  only the settings the file sets\n"
	    "  --default        print the embedded default configuration\n"
	    "Passwords are never printed.\n");
}

/* The rate limits that are on, the user_rate lines and the exempt networks; "off" when none is. */
static void check_config_rates(const struct config *c)
{
	static const char *const names[] = { "client_connection_rate", "client_message_rate",
		"client_recipient_rate", "user_message_rate", "user_recipient_rate" };
	const struct cfg_rate *rates[] = { &c->rate.client_connection, &c->rate.client_message,
		&c->rate.client_recipient, &c->rate.user_message, &c->rate.user_recipient };
	char buf[128];
	size_t on = 0;
	printf("rate limits:");
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		if (rates[i]->n == 0)
			continue;
		config_rate_format(rates[i], "off", buf, sizeof(buf));
		printf("%s %s %s", on++ > 0 ? "," : "", names[i], buf);
	}
	if (on == 0 && c->rate.nusers == 0)
		printf(" off");
	if (c->rate.nusers > 0)
		printf("%s %zu user_rate line%s", on > 0 ? ";" : "", c->rate.nusers,
		    c->rate.nusers == 1 ? "" : "s");
	if (c->rate.nexempt > 0) {
		printf("; exempt:");
		for (size_t i = 0; i < c->rate.nexempt; i++) {
			config_network_format(&c->rate.exempt[i], buf, sizeof(buf));
			printf(" %s", buf);
		}
	}
	printf("\n");
}

/* Print the summary of a configuration that loaded. */
static void check_config_summary(const struct config *c, size_t nusers)
{
	char buf[128];
	printf("listeners:");
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct cfg_listener *l = &c->listeners[i];
		printf("%s %s %s%s", i ? "," : "", l->text, config_listen_mode_name(l->mode),
		    l->auth_plaintext ? " auth-plaintext" : "");
	}
	printf("\nrelay_networks:");
	if (c->nnetworks == 0)
		printf(" none");
	for (size_t i = 0; i < c->nnetworks; i++) {
		config_network_format(&c->networks[i], buf, sizeof(buf));
		printf(" %s", buf);
	}
	printf("\nrelay_domains:");
	if (c->nrelay_domains == 0)
		printf(" none");
	for (size_t i = 0; i < c->nrelay_domains; i++)
		printf(" %s", c->relay_domains[i]);
	printf("\nqueue_dir: %s\n", c->queue_dir);
	printf("hostname: %s\n", c->hostname);
	printf("bare_newline: %s\n",
	    c->bare_newline == CFG_BARE_NEWLINE_REJECT ? "reject" : "normalize");
	printf("strict_envelopes: %s\n", c->strict_envelopes ? "yes" : "no");
	printf("tls: %s\n", c->tls_cert ? c->tls_cert : "no certificate (no STARTTLS)");
	if (c->auth_file != NULL)
		printf("auth_file: %s (%zu user%s)\n", c->auth_file, nusers, nusers == 1 ? "" : "s");
	else
		printf("auth_file: none (no AUTH)\n");
	if (c->sender_login != NULL) {
		size_t n = sender_login_count(c->sender_login);
		printf("sender_login: %s (%zu entr%s), from_check %s\n", c->sender_login_file, n,
		    n == 1 ? "y" : "ies", c->from_check ? "refuse" : "off");
	} else {
		printf("sender_login: none (senders not bound)\n");
	}
	for (size_t i = 0; i < c->ndkim; i++)
		printf("dkim_sign: %s selector %s, %s %u bits (%s)\n", c->dkim[i].domain,
		    c->dkim[i].selector, dkim_alg_name(dkim_key_alg(c->dkim[i].key)),
		    dkim_key_bits(c->dkim[i].key), c->dkim[i].key_file);
	if (c->nroutes == 0)
		printf("routes: direct MX delivery\n");
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct cfg_route *r = &c->routes[i];
		printf("route: %s via %s tls=%s%s%s\n", strcmp(r->domain, "*") == 0 ? "all mail" :
		    r->domain, r->smarthost, mxr_tls_policy_name(r->tls),
		    r->auth_user ? " auth=" : "", r->auth_user ? r->auth_user : "");
	}
	check_config_rates(c);
}

/* What check-config prints once the configuration loaded. */
enum check_config_output { CHECK_CONFIG_SUMMARY, CHECK_CONFIG_PRINT, CHECK_CONFIG_PRINT_CHANGED };

int cmd_check_config(int argc, char **argv)
{
	const char *path = NULL;
	enum check_config_output output = CHECK_CONFIG_SUMMARY;
	for (int i = 1; i < argc; i++) {
		const char *file = NULL;
		if (strcmp(argv[i], "--default") == 0) {
			fputs(config_default_text(), stdout);
			return EX_OK;
		}
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			check_config_usage(stdout);
			return EX_OK;
		}
		if (strcmp(argv[i], "--print") == 0) {
			output = CHECK_CONFIG_PRINT;
			continue;
		}
		if (strcmp(argv[i], "--print-changed") == 0) {
			output = CHECK_CONFIG_PRINT_CHANGED;
			continue;
		}
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (++i >= argc) {
				fprintf(stderr, "mxrelay check-config: %s needs a file\n", argv[i - 1]);
				check_config_usage(stderr);
				return EX_USAGE;
			}
			file = argv[i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			file = argv[i] + 9;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "mxrelay check-config: unknown option %s\n", argv[i]);
			check_config_usage(stderr);
			return EX_USAGE;
		} else {
			file = argv[i];
		}
		if (path != NULL) {
			fprintf(stderr, "mxrelay check-config: one configuration at a time (%s and %s)\n",
			    path, file);
			check_config_usage(stderr);
			return EX_USAGE;
		}
		path = file;
	}
	path = config_path_choose(path);

	char err[1024];
	struct config *c = NULL;
	if (config_load(path, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return EX_CONFIG;
	}
	/* What would stop the daemon at start, and a certificate out of date, are errors here. */
	const char *problem = NULL;
	if (config_check_queue_dir(c, err, sizeof(err)) != 0)
		problem = err;
	else if (c->tls_warning != NULL)
		problem = c->tls_warning;
	if (problem != NULL) {
		fprintf(stderr, "%s\n", problem);
		config_free(c);
		return EX_CONFIG;
	}
	size_t nusers = 0;
	if (c->auth_file != NULL) {
		struct auth_db *db = auth_db_load(c->auth_file, err, sizeof(err));
		if (db == NULL) {
			fprintf(stderr, "%s\n", err);
			config_free(c);
			return EX_CONFIG;
		}
		nusers = auth_db_count(db);
		auth_db_free(db);
	}
	int rc = EX_OK;
	if (output == CHECK_CONFIG_SUMMARY) {
		printf("%s: configuration ok\n", c->path);
		check_config_summary(c, nusers);
	} else {
		const char *missing = NULL;
		if (config_print(c, output == CHECK_CONFIG_PRINT_CHANGED, stdout, &missing) != 0) {
			fprintf(stderr, "mxrelay check-config: no printer for the key %s\n", missing);
			rc = EX_SOFTWARE;
		}
	}
	config_free(c);
	return rc;
}
