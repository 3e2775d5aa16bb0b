/*
 * cmd_status: `mxrelay status`, the running daemon's summary (docs/status.md)
 * as text, or with --json as the one JSON object the daemon writes.
 *
 * Owns: the request over the control socket and the exit status monitoring
 * scripts test: 0 the summary was printed, 1 no daemon answers (it is not
 * running), 64 a usage error, 77 the socket refuses us, 78 a named file
 * that does not load, 69 a daemon that answers without a summary.
 * Never: reads the queue or any state itself (a stopped daemon has no
 * status); changes anything.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "commands.h"
#include "daemon_args.h"
#include "config/config.h"
#include "control/control_reply.h"

/* No daemon answers: the status monitoring scripts take as "not running". */
#define STATUS_NOT_RUNNING 1
/* The summary is made from memory at once; a daemon this slow is not answering. */
#define STATUS_TIMEOUT_MS 10000

static const char status_usage[] =
    "usage: mxrelay status [-c FILE | -s SOCKET] [--json]\n"
    "  -c, --config FILE   the daemon's configuration, to find its control socket\n"
    "                      (default " MXR_CONFIG_FILE ",\n"
    "                      or the embedded default when that file does not exist)\n"
    "  -s, --socket PATH   the control socket itself\n"
    "  -j, --json          the summary as one JSON object (see docs/status.md)\n"
    "Exit status: 0 the summary was printed, 1 no daemon answers (not running),\n"
    "64 bad arguments, 77 not allowed to use the control socket, 78 the file does\n"
    "not load, 69 the daemon gave no summary.\n";

/*
 * Ask the control socket at path for the summary and print it whole, or
 * nothing when the reply is cut short. The exit status.
 */
static int status_ask(const char *path, bool json)
{
	const char *req = json ? "status-json\n" : "status\n";
	char *body;
	size_t blen;
	struct control_reply reply;
	const char *why = NULL;
	int e = 0;
	int got = daemon_args_ask(path, req, json ? CONTROL_STATUS_JSON : CONTROL_STATUS,
	    STATUS_TIMEOUT_MS, &reply, &body, &blen, &e, &why);
	if (got < 0) {
		if (e == EACCES || e == EPERM) {
			fprintf(stderr, "mxrelay status: not allowed to use the control socket %s (%s): "
			    "only root, the daemon's user and its group may ask the daemon\n", path,
			    strerror(e));
			return EX_NOPERM;
		}
		fprintf(stderr, "mxrelay status: mxrelayd is not running: no daemon answers on %s "
		    "(%s)\n", path, strerror(e));
		return STATUS_NOT_RUNNING;
	}
	int rc;
	if (got != 0) {
		fprintf(stderr, "mxrelay status: mxrelayd is not answering on %s: %s\n", path, why);
		rc = STATUS_NOT_RUNNING;
	} else if (reply.status != CONTROL_OK) {
		fprintf(stderr, "mxrelay status: the daemon at %s gave no summary: %s\n", path,
		    reply.text);
		rc = EX_UNAVAILABLE;
	} else {
		fwrite(body, 1, blen, stdout);
		rc = fflush(stdout) == 0 ? EX_OK : EX_IOERR;
	}
	free(body);
	return rc;
}

int cmd_status(int argc, char **argv)
{
	struct daemon_args a;
	int rc = daemon_args_parse(argc, argv, status_usage, DAEMON_ARGS_JSON, &a);
	if (rc >= 0)
		return rc;
	struct config *cfg = NULL;
	char err[1024];
	const char *sock = daemon_args_socket(&a, &cfg, err, sizeof(err));
	if (sock == NULL) {
		fprintf(stderr, "mxrelay status: %s\n", err);
		fprintf(stderr, "mxrelay status: the control socket is not known (give it with -s)\n");
		return EX_CONFIG;
	}
	rc = status_ask(sock, a.json);
	config_free(cfg);
	return rc;
}
