/*
 * cmd_reload: `mxrelay reload`, ask the running daemon to take its
 * configuration file again.
 *
 * Owns: the request over the control socket and turning the answer into
 * output and an exit status: 0 when the new configuration was taken, 1
 * when it was refused or the file given with -c does not load (each
 * error printed, FILE:LINE first), 69 when no
 * daemon answers, 77 when the socket refuses us.
 * Never: reads or checks the configuration the daemon will load (its
 * privileged helper does, as root); keeps no state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "commands.h"
#include "daemon_args.h"
#include "config/config.h"
#include "control/control_reply.h"
#include "util/log.h"

static const char reload_usage[] =
    "usage: mxrelay reload [-c FILE | -s SOCKET]\n"
    "  -c, --config FILE   the daemon's configuration, to find its control socket\n"
    "                      (default " MXR_CONFIG_FILE ",\n"
    "                      or the embedded default when that file does not exist)\n"
    "  -s, --socket PATH   the control socket itself\n"
    "Exit status: 0 the new configuration was taken, 1 it was refused (the errors are\n"
    "printed; the daemon goes on with the old one), 69 no daemon, 77 not allowed.\n";

/*
 * Send "reload" to the control socket at path and print the answer: the
 * status line and its body to standard output when the configuration was
 * taken, to standard error otherwise. The exit status.
 */
static int reload_ask(const char *path)
{
	/*
	 * The body goes where the status line goes, known only once that is
	 * read: gather it, then print. A reload takes as long as the helper
	 * needs, so there is no deadline here.
	 */
	char *body;
	size_t blen;
	struct control_reply reply;
	const char *why = NULL;
	int e = 0;
	int got = daemon_args_ask(path, "reload\n", CONTROL_RELOAD, 0, &reply, &body, &blen, &e,
	    &why);
	if (got < 0) {
		fprintf(stderr, "mxrelay reload: %s: %s\n", path, strerror(e));
		return e == EACCES || e == EPERM ? EX_NOPERM : EX_UNAVAILABLE;
	}
	int rc;
	if (got != 0) {
		fprintf(stderr, "mxrelay reload: daemon at %s: %s\n", path, why);
		rc = EX_UNAVAILABLE;
	} else if (reply.status == CONTROL_OK) {
		printf("mxrelay reload: %s\n%s", reply.text, body);
		rc = EX_OK;
	} else {
		fprintf(stderr, "mxrelay reload: %s\n%s", reply.text, body);
		rc = reply.status == CONTROL_E_CONFIG ? 1 : EX_UNAVAILABLE;
	}
	free(body);
	return rc;
}

int cmd_reload(int argc, char **argv)
{
	struct daemon_args a;
	int rc = daemon_args_parse(argc, argv, reload_usage, 0, &a);
	if (rc >= 0)
		return rc;
	struct config *cfg = NULL;
	char err[1024];
	const char *sock = daemon_args_socket(&a, &cfg, err, sizeof(err));
	if (sock == NULL) {
		/* The file the daemon would reload is broken: that is the refusal. */
		fprintf(stderr, "mxrelay reload: %s\n", err);
		fprintf(stderr, "mxrelay reload: the daemon was not asked (give its control "
		    "socket with -s to ask it anyway)\n");
		return 1;
	}
	rc = reload_ask(sock);
	config_free(cfg);
	return rc;
}
