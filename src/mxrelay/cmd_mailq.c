/*
 * cmd_mailq: mailq and sendmail -bp for any user, through the daemon's
 * listing socket (mailq.sock beside local_socket), which shows envelope
 * data only.
 *
 * Owns: one "list" request and printing its body, undoing the dot
 * stuffing. Exit status: 0 listed; 69 no daemon listens (75 when it
 * failed for now); 76 a reply that makes no sense.
 * Never: reads the configuration's secrets or the queue itself (root
 * falls back to `mxrelay queue list`, which can).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "commands.h"
#include "util/unix_sock.h"
#include "config/config.h"
#include "control/control_public.h"
#include "control/control_reply.h"

/* Seconds the daemon gets for its reply. */
#define MAILQ_TIMEOUT_S 60

/* A line of the listing, to standard output. */
static void mailq_print_line(void *arg, const char *line, size_t len)
{
	fwrite(line, 1, len, arg);
	fputc('\n', arg);
}

/* Send "list" and print the body; the exit status. */
static int mailq_ask(int fd, const char *prog, const char *path)
{
	if (send(fd, "list\n", 5, MSG_NOSIGNAL) != 5) {
		fprintf(stderr, "%s: cannot send to the daemon at %s: %s\n", prog, path, strerror(errno));
		return EX_TEMPFAIL;
	}
	struct control_reply reply;
	const char *why = NULL;
	int status = EX_OK;
	if (control_reply_read(fd, CONTROL_LIST, MAILQ_TIMEOUT_S * 1000u, mailq_print_line, stdout,
	    &reply, &why) != 0) {
		fprintf(stderr, "%s: the daemon at %s: %s\n", prog, path, why);
		status = EX_TEMPFAIL;
	} else if (reply.status != CONTROL_OK) {
		fprintf(stderr, "%s: the daemon at %s says: %s\n", prog, path, reply.text);
		status = EX_TEMPFAIL;
	}
	close(fd);
	return status;
}

int cmd_mailq(const char *prog, const char *config)
{
	struct config *cfg = NULL;
	char err[512], path[256];
	if (config_load_for_submission(config, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return EX_CONFIG;
	}
	bool have = control_public_path(cfg, path, sizeof(path));
	config_free(cfg);
	int fd = have ? unix_sock_connect(path, MAILQ_TIMEOUT_S) : -1;
	if (fd < 0) {
		/* Root may read the store itself when no daemon runs. */
		if (geteuid() == 0) {
			char *qv[5];
			int qc = 0;
			qv[qc++] = (char *)"queue";
			if (config != NULL) {
				qv[qc++] = (char *)"-c";
				qv[qc++] = (char *)config;
			}
			qv[qc++] = (char *)"list";
			qv[qc] = NULL;
			return cmd_queue(qc, qv);
		}
		if (!have)
			fprintf(stderr, "%s: local_socket is none: only root can list the queue\n", prog);
		else
			fprintf(stderr, "%s: cannot reach the mxrelay daemon at %s: %s (is mxrelayd "
			    "running?)\n", prog, path, strerror(errno));
		return EX_UNAVAILABLE;
	}
	return mailq_ask(fd, prog, path);
}
