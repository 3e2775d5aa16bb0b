/*
 * daemon_args: -c, -s and --json of the commands that ask the running
 * daemon (see daemon_args.h).
 */
#include "daemon_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_path.h"
#include "util/unix_sock.h"

int daemon_args_parse(int argc, char **argv, const char *usage, unsigned takes,
    struct daemon_args *a)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "day", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*a = (struct daemon_args){ NULL, NULL, false, NULL };
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:s:jd:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->config = optarg;
			break;
		case 's':
			a->socket = optarg;
			break;
		case 'j':
			if ((takes & DAEMON_ARGS_JSON) == 0) {
				fputs(usage, stderr);
				return EX_USAGE;
			}
			a->json = true;
			break;
		case 'd':
			if ((takes & DAEMON_ARGS_DAY) == 0) {
				fputs(usage, stderr);
				return EX_USAGE;
			}
			a->day = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return EX_OK;
		default:
			fputs(usage, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc || (a->config != NULL && a->socket != NULL)) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	return -1;
}

const char *daemon_args_socket(const struct daemon_args *a, struct config **cfg, char *err,
    size_t errlen)
{
	*cfg = NULL;
	if (a->socket != NULL)
		return a->socket;
	if (config_load(config_path_choose(a->config), cfg, err, errlen) != 0)
		return NULL;
	return (*cfg)->control_socket;
}

int daemon_args_ask(const char *path, const char *req, enum control_verb verb,
    unsigned timeout_ms, struct control_reply *r, char **body, size_t *blen, int *sys_errno,
    const char **why)
{
	*body = NULL;
	*blen = 0;
	size_t len = strlen(req);
	int fd = unix_sock_connect(path, 0);
	if (fd < 0 || send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		*sys_errno = errno;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int got = control_reply_read_all(fd, verb, timeout_ms, r, body, blen, why);
	close(fd);
	return got != 0 ? 1 : 0;
}
