/*
 * mxrelay: the command line. Dispatches to a subcommand (send,
 * check-config) and answers --help and --version.
 *
 * Owns: the subcommand table and the top-level usage text.
 * Never: does a subcommand's work itself.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "mxrelay/commands.h"
#include "util/log.h"

struct main_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* "mxrelay sendmail ARGS": the sendmail mode under its subcommand name. */
static int main_sendmail(int argc, char **argv)
{
	return cmd_sendmail(argc, argv, "mxrelay sendmail");
}

static const struct main_cmd main_cmds[] = {
	{ "send", cmd_send, "deliver one message now, straight to the MX hosts" },
	{ "check-config", cmd_check_config, "check a configuration file" },
	{ "queue", cmd_queue, "list, show, flush, hold, release, delete or bounce queued mail" },
	{ "reload", cmd_reload, "make the running daemon take its configuration again" },
	{ "sendmail", main_sendmail, "take a message on stdin the way sendmail(1) does" },
};

/* The top-level usage, to out. */
static void main_usage(FILE *out)
{
	fprintf(out, "usage: mxrelay COMMAND [ARGS...]\n"
	    "       mxrelay --help | --version\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
		fprintf(out, "  %-14s %s\n", main_cmds[i].name, main_cmds[i].summary);
	fprintf(out, "\n\"mxrelay COMMAND --help\" describes a command; see mxrelay(1).\n");
}

int main(int argc, char **argv)
{
	log_init("mxrelay", LOG_LVL_WARN, 2);
	/* Invoked through a link named sendmail or mailq: the compatibility mode. */
	const char *slash = strrchr(argv[0], '/');
	const char *base = slash != NULL ? slash + 1 : argv[0];
	if (strcmp(base, "sendmail") == 0 || strcmp(base, "mailq") == 0)
		return cmd_sendmail(argc, argv, base);
	if (argc < 2) {
		main_usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[1];
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
			return main_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "mxrelay: unknown command \"%s\"\n", cmd);
	main_usage(stderr);
	return EX_USAGE;
}
