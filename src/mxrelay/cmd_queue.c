/*
 * cmd_queue: "mxrelay queue", see and steer the queue: list, show, flush,
 * hold, release, delete, bounce.
 *
 * Owns: the queue subcommand's arguments, talking to the running daemon
 * over its control socket (one request, one reply), the fallback to the
 * store itself when no daemon listens, and the exit status (sysexits.h):
 *   0 done; 64 bad arguments; 66 no such message; 69 no daemon where one
 *   is needed, or no queue at all; 75 the daemon or the store failed for
 *   now (busy, timeout, I/O); 76 the daemon's reply made no sense;
 *   77 permission denied; 78 the configuration does not load.
 * Never: changes the queue except through the daemon or the queue_store
 * functions; never creates a queue where there is none.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "mxrelay/commands.h"
#include "mxrelayd/config.h"
#include "mxrelayd/control.h"
#include "mxrelayd/queue_store.h"
#include "util/log.h"

#define QUEUE_DEFAULT_CONFIG MXR_CONFIG_FILE
/* How long to wait for each part of the daemon's reply. */
#define QUEUE_REPLY_TIMEOUT_MS 60000
/* Longest reply line taken from the daemon (a JSON line of a large message). */
#define QUEUE_REPLY_LINE_MAX (16u * 1024u * 1024u)

static const char queue_usage_text[] =
    "usage: mxrelay queue [-c CONFIG] COMMAND\n"
    "  list [--json]              every message: id, size, age, sender, recipients\n"
    "  show [--json] ID           one message: envelope, recipient history, headers\n"
    "  flush [ID | --domain D]    try now (everything, one message or one domain)\n"
    "  hold ID | release ID       keep a message from delivery, or let it go again\n"
    "  delete ID                  remove a message without a bounce\n"
    "  bounce ID                  fail every waiting recipient and bounce to the sender\n"
    "  -c, --config CONFIG        configuration (default " QUEUE_DEFAULT_CONFIG
    " when it\n"
    "                             exists, else the embedded default)\n"
    "Talks to the running mxrelayd through its control socket; when none listens,\n"
    "reads and changes the queue itself (bounce needs the daemon). See mxrelay(1).\n";

/* Print a usage error and return EX_USAGE. */
static int queue_bad(const char *what, const char *arg)
{
	fprintf(stderr, "mxrelay queue: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
	fputs(queue_usage_text, stderr);
	return EX_USAGE;
}

/*
 * Turn the arguments after the options into one request line; returns
 * EX_OK, or EX_USAGE after saying what is wrong.
 */
static int queue_request(int argc, char **argv, char *line, size_t linelen)
{
	if (argc < 1)
		return queue_bad("no command given", NULL);
	const char *cmd = argv[0];
	bool json = false;
	const char *arg = NULL, *domain = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && (strcmp(cmd, "list") == 0 ||
		    strcmp(cmd, "show") == 0)) {
			json = true;
		} else if (strcmp(argv[i], "--domain") == 0 && strcmp(cmd, "flush") == 0) {
			if (++i >= argc)
				return queue_bad("--domain needs a domain", NULL);
			domain = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return queue_bad("unknown option", argv[i]);
		} else if (arg == NULL) {
			arg = argv[i];
		} else {
			return queue_bad("too many arguments", argv[i]);
		}
	}
	if (strcmp(cmd, "list") == 0) {
		if (arg != NULL)
			return queue_bad("list takes no argument", arg);
		snprintf(line, linelen, "%s", json ? "list-json" : "list");
	} else if (strcmp(cmd, "flush") == 0) {
		if (arg != NULL && domain != NULL)
			return queue_bad("flush takes an ID or --domain, not both", NULL);
		if (domain != NULL)
			snprintf(line, linelen, "flush-domain %s", domain);
		else
			snprintf(line, linelen, "flush%s%s", arg ? " " : "", arg ? arg : "");
	} else if (strcmp(cmd, "show") == 0 || strcmp(cmd, "hold") == 0 ||
	    strcmp(cmd, "release") == 0 || strcmp(cmd, "delete") == 0 ||
	    strcmp(cmd, "bounce") == 0) {
		if (arg == NULL)
			return queue_bad("a queue id is needed", cmd);
		snprintf(line, linelen, "%s%s %s", cmd, json ? "-json" : "", arg);
	} else {
		return queue_bad("unknown command", cmd);
	}
	/* Check here what the daemon would refuse, to say it before connecting. */
	struct control_req req;
	const char *why = NULL;
	if (strlen(line) >= linelen - 1 || control_parse(line, strlen(line), &req, &why) != 0)
		return queue_bad(why != NULL ? why : "argument too long",
		    domain != NULL ? domain : arg);
	return EX_OK;
}

/* Load -c CONFIG, else the default file when it exists, else the embedded default. */
static int queue_config(const char *path, struct config **cfg)
{
	char err[512];
	if (path == NULL && access(QUEUE_DEFAULT_CONFIG, F_OK) == 0)
		path = QUEUE_DEFAULT_CONFIG;
	if (config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxrelay queue: %s\n", err);
		return EX_CONFIG;
	}
	return EX_OK;
}

/* Connect to the control socket: the fd, or -1 with errno set. */
static int queue_connect(const char *path)
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
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The exit status for an error KIND of the protocol. */
static int queue_kind_status(const char *kind, size_t n)
{
	static const struct { const char *kind; int status; } map[] = {
		{ "usage", EX_USAGE }, { "notfound", EX_NOINPUT },
		{ "store", EX_TEMPFAIL }, { "toolarge", EX_SOFTWARE },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].kind) == n && memcmp(map[i].kind, kind, n) == 0)
			return map[i].status;
	return EX_PROTOCOL;
}

/* Read one LF-ended line of the reply into *line (freed by the caller); -1 on EOF or error. */
static int queue_read_line(int fd, struct evbuffer *in, char **line, size_t *len, const char **why)
{
	for (;;) {
		*line = evbuffer_readln(in, len, EVBUFFER_EOL_LF);
		if (*line != NULL)
			return 0;
		if (evbuffer_get_length(in) > QUEUE_REPLY_LINE_MAX) {
			*why = "a reply line is too long";
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc = poll(&p, 1, QUEUE_REPLY_TIMEOUT_MS);
		if (rc == 0) {
			*why = "no reply in time";
			return -1;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		int n = rc < 0 ? -1 : evbuffer_read(in, fd, 65536);
		if (n <= 0) {
			*why = n == 0 ? "the daemon closed the connection" : strerror(errno);
			return -1;
		}
	}
}

/* Ask the daemon over fd; print the reply. Returns the exit status. */
static int queue_ask(int fd, const char *req, const struct config *cfg)
{
	char out[CONTROL_LINE_MAX + 2];
	int n = snprintf(out, sizeof(out), "%s\n", req);
	if (write(fd, out, (size_t)n) != n) {
		fprintf(stderr, "mxrelay queue: cannot send to the daemon at %s: %s\n",
		    cfg->control_socket, strerror(errno));
		return EX_TEMPFAIL;
	}
	struct control_req r;
	const char *why = NULL;
	(void)control_parse(req, strlen(req), &r, &why);
	struct evbuffer *in = evbuffer_new();
	char *line = NULL;
	size_t len = 0;
	int status = EX_OK;
	if (queue_read_line(fd, in, &line, &len, &why) != 0) {
		fprintf(stderr, "mxrelay queue: daemon at %s: %s\n", cfg->control_socket, why);
		status = EX_TEMPFAIL;
	} else if (len >= 3 && memcmp(line, "ok ", 3) == 0) {
		if (!control_verb_has_body(r.verb)) {
			printf("%s\n", line + 3);
		} else {
			char *b;
			size_t blen;
			while ((status = queue_read_line(fd, in, &b, &blen, &why)) == 0) {
				if (blen == 1 && b[0] == '.') {
					free(b);
					break;
				}
				size_t skip = b[0] == '.' ? 1 : 0;
				fwrite(b + skip, 1, blen - skip, stdout);
				fputc('\n', stdout);
				free(b);
			}
			if (status != 0) {
				fprintf(stderr, "mxrelay queue: daemon at %s: %s (the listing is cut)\n",
				    cfg->control_socket, why);
				status = EX_TEMPFAIL;
			}
		}
	} else if (len >= 6 && memcmp(line, "error ", 6) == 0) {
		const char *kind = line + 6;
		const char *sp = strchr(kind, ' ');
		size_t klen = sp != NULL ? (size_t)(sp - kind) : strlen(kind);
		status = queue_kind_status(kind, klen);
		const char *text = sp != NULL ? sp + 1 : kind;
		if (status == EX_NOINPUT)
			fprintf(stderr, "mxrelay queue: %s in %s\n", text, cfg->queue_dir);
		else
			fprintf(stderr, "mxrelay queue: the daemon says: %s\n", text);
	} else {
		char safe[200];
		log_printable(safe, sizeof(safe), line, len);
		fprintf(stderr, "mxrelay queue: daemon at %s: unexpected reply \"%s\"\n",
		    cfg->control_socket, safe);
		status = EX_PROTOCOL;
	}
	free(line);
	evbuffer_free(in);
	return status;
}

/*
 * Run as root beside a queue owned by another user (the daemon's): become
 * that user first, so any file SQLite makes there (-wal, -shm) stays the
 * daemon's. Returns EX_OK or an exit status after saying why.
 */
static int queue_become_owner(const char *dir, const struct stat *st)
{
	if (geteuid() != 0 || st->st_uid == 0)
		return EX_OK;
	if (setgid(st->st_gid) != 0 || setuid(st->st_uid) != 0) {
		fprintf(stderr, "mxrelay queue: cannot become the owner of %s: %s\n", dir,
		    strerror(errno));
		return EX_NOPERM;
	}
	return EX_OK;
}

/* No daemon: run the request against the store itself. Returns the exit status. */
static int queue_direct(const char *req, const struct config *cfg)
{
	struct control_req r;
	const char *why = NULL;
	(void)control_parse(req, strlen(req), &r, &why);
	if (r.verb == CONTROL_BOUNCE) {
		fprintf(stderr, "mxrelay queue: bounce needs the running daemon, and none listens on "
		    "%s\n", cfg->control_socket);
		return EX_UNAVAILABLE;
	}
	char db[4096];
	struct stat st;
	snprintf(db, sizeof(db), "%s/queue.db", cfg->queue_dir);
	if (stat(cfg->queue_dir, &st) != 0 || access(db, F_OK) != 0) {
		if (errno == EACCES) {
			fprintf(stderr, "mxrelay queue: cannot open %s: %s\n", cfg->queue_dir,
			    strerror(errno));
			return EX_NOPERM;
		}
		fprintf(stderr, "mxrelay queue: no queue in %s (%s), and no daemon listens on %s\n",
		    cfg->queue_dir, strerror(errno), cfg->control_socket);
		return EX_UNAVAILABLE;
	}
	int rc = queue_become_owner(cfg->queue_dir, &st);
	if (rc != EX_OK)
		return rc;
	if (access(db, R_OK | W_OK) != 0) {
		fprintf(stderr, "mxrelay queue: cannot open %s: %s\n", db, strerror(errno));
		return errno == EACCES ? EX_NOPERM : EX_IOERR;
	}
	char err[512];
	struct queue_store *q = queue_store_open(NULL, cfg->queue_dir, err, sizeof(err));
	if (q == NULL) {
		fprintf(stderr, "mxrelay queue: cannot open %s: %s\n", cfg->queue_dir, err);
		return EX_TEMPFAIL;
	}
	struct evbuffer *body = evbuffer_new();
	char msg[512];
	enum control_status cs = control_run(q, &r, time(NULL), body, CONTROL_BODY_MAX,
	    msg, sizeof(msg));
	queue_store_close(q);
	switch (cs) {
	case CONTROL_OK:
		if (control_verb_has_body(r.verb)) {
			while (evbuffer_get_length(body) > 0)
				if (evbuffer_write(body, STDOUT_FILENO) < 0)
					break;
		} else {
			printf("%s", msg);
			if (r.verb == CONTROL_FLUSH || r.verb == CONTROL_FLUSH_ALL ||
			    r.verb == CONTROL_FLUSH_DOMAIN)
				printf(" (the daemon is not running: they are tried when it starts)");
			printf("\n");
		}
		rc = EX_OK;
		break;
	case CONTROL_E_NOTFOUND:
		fprintf(stderr, "mxrelay queue: %s in %s\n", msg, cfg->queue_dir);
		rc = EX_NOINPUT;
		break;
	case CONTROL_E_USAGE:
		fprintf(stderr, "mxrelay queue: %s\n", msg);
		rc = EX_USAGE;
		break;
	default:
		fprintf(stderr, "mxrelay queue: %s\n", msg);
		rc = cs == CONTROL_E_TOOLARGE ? EX_SOFTWARE : EX_TEMPFAIL;
		break;
	}
	evbuffer_free(body);
	return rc;
}

int cmd_queue(int argc, char **argv)
{
	const char *path = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(queue_usage_text, stdout);
			return EX_OK;
		}
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (++i >= argc)
				return queue_bad("-c needs a file", NULL);
			path = argv[i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			path = argv[i] + 9;
		} else {
			return queue_bad("unknown option", argv[i]);
		}
	}
	char req[CONTROL_LINE_MAX + 1];
	int rc = queue_request(argc - i, argv + i, req, sizeof(req));
	if (rc != EX_OK)
		return rc;
	struct config *cfg = NULL;
	if ((rc = queue_config(path, &cfg)) != EX_OK)
		return rc;
	int fd = queue_connect(cfg->control_socket);
	if (fd >= 0) {
		rc = queue_ask(fd, req, cfg);
		close(fd);
	} else if (errno == ENOENT || errno == ECONNREFUSED || errno == EACCES ||
	    errno == ENOTDIR) {
		rc = queue_direct(req, cfg);
	} else {
		fprintf(stderr, "mxrelay queue: cannot reach the daemon at %s: %s\n",
		    cfg->control_socket, strerror(errno));
		rc = EX_UNAVAILABLE;
	}
	fflush(stdout);
	config_free(cfg);
	return rc;
}
