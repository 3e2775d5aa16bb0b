/*
 * daemon_args: the arguments of the commands that ask the running daemon
 * (reload, status, tlsrpt): which control socket, named with -s or found
 * in the configuration file (-c, or the one config_path_choose picks),
 * --json for those that print it, and --day for those about a day; and
 * the asking itself: one request, its whole reply.
 * Never: prints; each command says what the answer means.
 */
#ifndef MXR_DAEMON_ARGS_H
#define MXR_DAEMON_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "control/control_reply.h"

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

/*
 * Send req (one line with its "\n") to the control socket at path and read
 * the whole reply (control_reply_read_all; timeout_ms 0: none). 0 with *r
 * and *body; -1 when the socket cannot be reached or written (*sys_errno
 * says why: EACCES or EPERM is a caller the socket refuses; a daemon that
 * closed first is an error, never SIGPIPE); 1 when the reply is cut short
 * or malformed (*why). *body (or NULL) is the caller's to free in every case.
 */
int daemon_args_ask(const char *path, const char *req, enum control_verb verb,
    unsigned timeout_ms, struct control_reply *r, char **body, size_t *blen, int *sys_errno,
    const char **why);

#endif
