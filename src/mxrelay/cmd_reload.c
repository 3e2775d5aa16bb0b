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
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "commands.h"
#include "config/config.h"
#include "config/config_path.h"
#include "util/unix_sock.h"
#include "util/log.h"

/* Most octets of an answer: a status line and the errors. */
#define RELOAD_ANSWER_MAX (256u * 1024u)

static const char reload_usage[] =
    "usage: mxrelay reload [-c FILE | -s SOCKET]\n"
    "  -c, --config FILE   the daemon's configuration, to find its control socket\n"
    "                      (default " MXR_CONFIG_FILE ",\n"
    "                      or the embedded default when that file does not exist)\n"
    "  -s, --socket PATH   the control socket itself\n"
    "Exit status: 0 the new configuration was taken, 1 it was refused (the errors are\n"
    "printed; the daemon goes on with the old one), 69 no daemon, 77 not allowed.\n";

/* Send "reload" and read the whole answer into buf; its length, or -1 with errno. */
static ssize_t reload_exchange(const char *path, char *buf, size_t cap)
{
	int fd = unix_sock_connect(path, 0);
	if (fd < 0)
		return -1;
	if (write(fd, "reload\n", 7) != 7) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	size_t used = 0;
	while (used < cap - 1) {
		ssize_t n = read(fd, buf + used, cap - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	return (ssize_t)used;
}

/* Print the body lines (dot-stuffed, ended by "."), each to out. */
static void reload_print_body(const char *p, FILE *out)
{
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n == 1 && p[0] == '.')
			break;
		if (n > 0 && p[0] == '.') {
			p++;
			n--;
		}
		if (n > 0)
			fprintf(out, "%.*s\n", (int)n, p);
		p += n;
		if (*p == '\n')
			p++;
	}
}

int cmd_reload(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *sock = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			fputs(reload_usage, stdout);
			return EX_OK;
		default:
			fputs(reload_usage, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc || (path != NULL && sock != NULL)) {
		fputs(reload_usage, stderr);
		return EX_USAGE;
	}
	struct config *cfg = NULL;
	if (sock == NULL) {
		char err[1024];
		if (config_load(config_path_choose(path), &cfg, err, sizeof(err)) != 0) {
			/* The file the daemon would reload is broken: that is the refusal. */
			fprintf(stderr, "mxrelay reload: %s\n", err);
			fprintf(stderr, "mxrelay reload: the daemon was not asked (give its control "
			    "socket with -s to ask it anyway)\n");
			return 1;
		}
		sock = cfg->control_socket;
	}
	char *buf = malloc(RELOAD_ANSWER_MAX);
	if (buf == NULL) {
		config_free(cfg);
		return EX_OSERR;
	}
	int rc;
	ssize_t n = reload_exchange(sock, buf, RELOAD_ANSWER_MAX);
	if (n < 0) {
		int e = errno;
		fprintf(stderr, "mxrelay reload: %s: %s\n", sock, strerror(e));
		rc = e == EACCES || e == EPERM ? EX_NOPERM : EX_UNAVAILABLE;
	} else if (strncmp(buf, "ok ", 3) == 0) {
		const char *body = strchr(buf, '\n');
		printf("mxrelay reload: %.*s\n", (int)(body != NULL ? body - buf - 3 : n - 3), buf + 3);
		if (body != NULL)
			reload_print_body(body + 1, stdout);
		rc = EX_OK;
	} else if (strncmp(buf, "error config ", 13) == 0) {
		const char *body = strchr(buf, '\n');
		fprintf(stderr, "mxrelay reload: %.*s\n",
		    (int)(body != NULL ? body - buf - 13 : n - 13), buf + 13);
		if (body != NULL)
			reload_print_body(body + 1, stderr);
		rc = 1;
	} else {
		const char *nl = strchr(buf, '\n');
		fprintf(stderr, "mxrelay reload: daemon at %s: %.*s\n", sock,
		    (int)(nl != NULL ? nl - buf : n), n > 0 ? buf : "closed the connection");
		rc = EX_UNAVAILABLE;
	}
	free(buf);
	config_free(cfg);
	return rc;
}
