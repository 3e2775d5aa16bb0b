/*
 * mxrelay: the command line. Dispatches to a subcommand (send,
 * check-config, queue, reload, status, tlsrpt, dkim, sendmail) and answers
 * --help and --version.
 *
 * Owns: the subcommand table, the top-level usage text, and the options
 * that may stand before the subcommand (-c CONFIG, handed on to it).
 * Never: does a subcommand's work itself.
 */
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "commands.h"
#include "util/log.h"
#include "util/xalloc.h"

struct main_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	bool takes_config;	/* accepts -c CONFIG */
};

/* "mxrelay sendmail ARGS": the sendmail mode under its subcommand name. */
static int main_sendmail(int argc, char **argv)
{
	return cmd_sendmail(argc, argv, "mxrelay sendmail");
}

static const struct main_cmd main_cmds[] = {
	{ "send", cmd_send, "deliver one message now, straight to the MX hosts", false },
	{ "check-config", cmd_check_config, "check a configuration file, or print its settings",
	  true },
	{ "queue", cmd_queue, "list, show, flush, hold, release, delete, bounce or requeue mail",
	  true },
	{ "reload", cmd_reload, "make the running daemon take its configuration again", true },
	{ "status", cmd_status, "print the running daemon's summary (exit 1: not running)", true },
	{ "tlsrpt", cmd_tlsrpt, "list the day's TLS results, or send the TLS reports now", true },
	{ "dkim", cmd_dkim, "make a DKIM signing key and the DNS record to publish for it", false },
	{ "sendmail", main_sendmail, "take a message on stdin the way sendmail(1) does", false },
};

/* Most arguments handed to a subcommand (its own, plus -c CONFIG from before it). */
#define MAIN_ARGS_MAX 4096

/* The top-level usage, to out. */
static void main_usage(FILE *out)
{
	fprintf(out, "usage: mxrelay [-c CONFIG] COMMAND [ARGS...]\n"
	    "       mxrelay --help | --version\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		fprintf(out, "  %-14s %s\n", main_cmds[i].name, main_cmds[i].summary);
	fprintf(out, "\n-c CONFIG (--config) before COMMAND is handed to check-config, queue, reload,\n"
	    "status and tlsrpt.\n"
	    "\"mxrelay COMMAND --help\" describes a command; see mxrelay(1).\n");
}

/*
 * "mxrelay -c CONFIG COMMAND ARGS": run COMMAND as "COMMAND -c CONFIG ARGS".
 * config is the value of the -c before it; argv[0] is COMMAND.
 */
static int main_run(const struct main_cmd *cmd, const char *config, int argc, char **argv)
{
	if (config == NULL)
		return cmd->run(argc, argv);
	if (!cmd->takes_config) {
		fprintf(stderr, "mxrelay: -c CONFIG goes with check-config, queue, reload, status and "
		    "tlsrpt, not %s\n",
		    cmd->name);
		return EX_USAGE;
	}
	if (argc > MAIN_ARGS_MAX - 3) {
		fprintf(stderr, "mxrelay: too many arguments (at most %d)\n", MAIN_ARGS_MAX - 3);
		return EX_USAGE;
	}
	char *args[MAIN_ARGS_MAX];
	char copt[] = "-c";
	int n = 0;
	args[n++] = argv[0];
	args[n++] = copt;
	args[n++] = (char *)config;
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	return cmd->run(n, args);
}

int main(int argc, char **argv)
{
	/* Before any other libevent call: its allocations abort like ours (lib/net/net_conn.c). */
	event_set_mem_functions(xmalloc, xrealloc, free);
	log_init("mxrelay", LOG_LVL_WARN, 2);
	/* Invoked through a link named sendmail or mailq: the compatibility mode. */
	const char *slash = strrchr(argv[0], '/');
	const char *base = slash != NULL ? slash + 1 : argv[0];
	if (strcmp(base, "sendmail") == 0 || strcmp(base, "mailq") == 0)
		return cmd_sendmail(argc, argv, base);
	/* Options before the command: -c CONFIG, for the command to use. */
	const char *config = NULL;
	int first = 1;
	while (first < argc && argv[first][0] == '-') {
		const char *o = argv[first];
		if (strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) {
			if (first + 1 >= argc) {
				fprintf(stderr, "mxrelay: %s needs a configuration file\n", o);
				return EX_USAGE;
			}
			config = argv[first + 1];
			first += 2;
		} else if (strncmp(o, "--config=", 9) == 0) {
			config = o + 9;
			first++;
		} else {
			break;
		}
	}
	if (first >= argc) {
		main_usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[first];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		main_usage(stdout);
		return EX_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("mxrelay %s\n", MXR_VERSION);
		return EX_OK;
	}
	for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		if (strcmp(cmd, main_cmds[i].name) == 0)
			return main_run(&main_cmds[i], config, argc - first, argv + first);
	fprintf(stderr, "mxrelay: unknown command \"%s\"\n", cmd);
	main_usage(stderr);
	return EX_USAGE;
}
