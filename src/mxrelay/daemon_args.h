/*
 * daemon_args: the arguments of the commands that ask the running daemon
 * (reload, status, tlsrpt): which control socket, named with -s or found
 * in the configuration file (-c, or the one config_path_choose picks),
 * --json for those that print it, and --day for those about a day.
 * Never: connects; each command speaks its own request.
 */
#ifndef MXR_DAEMON_ARGS_H
#define MXR_DAEMON_ARGS_H

#include <stdbool.h>
#include <stddef.h>

struct config;

struct daemon_args {
	const char *config;	/* -c FILE, or NULL */
	const char *socket;	/* -s SOCKET, or NULL */
	bool json;		/* --json (only when the command takes it) */
	const char *day;	/* --day YYYY-MM-DD|today|yesterday, or NULL */
};

/* The options a command takes beside -c and -s. */
enum daemon_args_takes {
	DAEMON_ARGS_JSON = 1 << 0,	/* --json (-j) */
	DAEMON_ARGS_DAY = 1 << 1,	/* --day (-d) */
};

/*
 * Parse argv into a; takes: enum daemon_args_takes bits. -1 to go on, or
 * the exit status: 0 after --help (usage on standard output), EX_USAGE
 * after a usage error (usage on standard error), -c and -s together
 * included.
 */
int daemon_args_parse(int argc, char **argv, const char *usage, unsigned takes,
    struct daemon_args *a);

/*
 * The control socket: -s as given, or that of the configuration file,
 * loaded into *cfg (the caller frees it; NULL with -s). NULL with err when
 * the file does not load.
 */
const char *daemon_args_socket(const struct daemon_args *a, struct config **cfg, char *err,
    size_t errlen);

#endif
