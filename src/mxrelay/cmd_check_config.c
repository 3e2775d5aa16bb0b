/*
 * cmd_check_config: `mxrelay check-config [--default] [FILE]`.
 *
 * Owns: loading a configuration the way the daemon does (plus the AUTH
 * credentials file it names), printing "FILE: configuration ok" and a
 * summary, or the first error, and the exit status (0 or EX_CONFIG).
 * Never: prints a password or a password hash; never changes anything.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "mxrelay/commands.h"
#include "mxrelayd/auth_db.h"
#include "mxrelayd/config.h"

#define CHECK_CONFIG_DEFAULT_PATH "/etc/mxrelay/mxrelay.conf"

/* Print the usage line to f. */
static void check_config_usage(FILE *f)
{
	fprintf(f, "usage: mxrelay check-config [--default] [FILE]\n"
	    "  FILE       configuration to check (default " CHECK_CONFIG_DEFAULT_PATH
	    ",\n             or the embedded default when that file does not exist)\n"
	    "  --default  print the embedded default configuration\n");
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
	if (c->nroutes == 0)
		printf("routes: direct MX delivery\n");
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct cfg_route *r = &c->routes[i];
		printf("route: %s via %s tls=%s%s%s\n", strcmp(r->domain, "*") == 0 ? "all mail" :
		    r->domain, r->smarthost, config_tls_policy_name(r->tls),
		    r->auth_user ? " auth=" : "", r->auth_user ? r->auth_user : "");
	}
}

int cmd_check_config(int argc, char **argv)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--default") == 0) {
			fputs(config_default_text(), stdout);
			return EX_OK;
		}
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			check_config_usage(stdout);
			return EX_OK;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "mxrelay check-config: unknown option %s\n", argv[i]);
			check_config_usage(stderr);
			return EX_USAGE;
		}
		if (path != NULL) {
			check_config_usage(stderr);
			return EX_USAGE;
		}
		path = argv[i];
	}
	if (path == NULL && access(CHECK_CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = CHECK_CONFIG_DEFAULT_PATH;

	char err[1024];
	struct config *c = NULL;
	if (config_load(path, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
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
	printf("%s: configuration ok\n", c->path);
	check_config_summary(c, nusers);
	config_free(c);
	return EX_OK;
}
