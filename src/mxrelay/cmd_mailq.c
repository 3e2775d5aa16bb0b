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

#include "mxrelay/commands.h"
#include "mxrelayd/config.h"
#include "mxrelayd/control_public.h"

/* Seconds the daemon gets for its reply. */
#define MAILQ_TIMEOUT_S 60

/* Connect to the listing socket; the descriptor, or -1 with errno. */
static int mailq_connect(const char *path)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = { MAILQ_TIMEOUT_S, 0 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Send "list" and print the body; the exit status. */
static int mailq_ask(int fd, const char *prog, const char *path)
{
	if (send(fd, "list\n", 5, MSG_NOSIGNAL) != 5) {
		fprintf(stderr, "%s: cannot send to the daemon at %s: %s\n", prog, path, strerror(errno));
		return EX_TEMPFAIL;
	}
	FILE *in = fdopen(fd, "r");
	if (in == NULL) {
		close(fd);
		return EX_OSERR;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, in);
	int status = EX_OK;
	if (n <= 0) {
		fprintf(stderr, "%s: no reply from the daemon at %s\n", prog, path);
		status = EX_TEMPFAIL;
	} else if (strncmp(line, "ok ", 3) != 0) {
		fprintf(stderr, "%s: the daemon at %s says: %s", prog, path, line);
		status = strncmp(line, "error ", 6) == 0 ? EX_TEMPFAIL : EX_PROTOCOL;
	} else {
		bool ended = false;
		while ((n = getline(&line, &cap, in)) > 0) {
			if (strcmp(line, ".\n") == 0) {
				ended = true;
				break;
			}
			fputs(line[0] == '.' ? line + 1 : line, stdout);
		}
		if (!ended) {
			fprintf(stderr, "%s: the listing from %s ended early\n", prog, path);
			status = EX_TEMPFAIL;
		}
	}
	free(line);
	fclose(in);
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
	int fd = have ? mailq_connect(path) : -1;
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
