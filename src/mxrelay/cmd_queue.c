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
#include <getopt.h>
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

#include "commands.h"
#include "term.h"
#include "config/config.h"
#include "config/config_path.h"
#include "control/control.h"
#include "control/control_reply.h"
#include "queue/queue_store.h"
#include "util/unix_sock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define QUEUE_DEFAULT_CONFIG MXR_CONFIG_FILE
/* How long to wait for each part of the daemon's reply. */
#define QUEUE_REPLY_TIMEOUT_MS 60000

static const char queue_usage_text[] =
    "usage: mxrelay queue [-c CONFIG] COMMAND [ARGS] (options may also follow COMMAND)\n"
    "  list [--json]              every message: id, size, age, sender, recipients\n"
    "  show [--json] ID           one message: envelope, recipient history, headers\n"
    "  flush [TARGET]             try now: everything (no TARGET, or ALL); with --domain\n"
    "                             only the recipients at that domain; otherwise every\n"
    "                             waiting recipient of the messages chosen\n"
    "  hold TARGET                keep messages from delivery\n"
    "  release TARGET             let held messages go again\n"
    "  delete TARGET              remove messages without a bounce\n"
    "  bounce TARGET              fail every waiting recipient and bounce to the sender now\n"
    "  requeue TARGET             due now without counting a try; the expiry stays, the\n"
    "                             destinations' backoff is lifted\n"
    "  migrate                    create the queue's schema or upgrade it to this\n"
    "                             program's version (PostgreSQL: before the fleet's nodes)\n"
    "TARGET: one or more queue ids, ALL, - (ids on standard input, one a line),\n"
    "  --domain D (messages with a recipient at D), --sender S (messages from S,\n"
    "  <> for the null sender); --domain and --sender together choose both.\n"
    "  -c, --config CONFIG        configuration (default " QUEUE_DEFAULT_CONFIG
    " when it\n"
    "                             exists, else the embedded default)\n"
    "Each message acted on gets a line, then a count; when standard error is a\n"
    "terminal, it also says there how many there are and counts them in place.\n"
    "Talks to the running mxrelayd through its control socket; when none listens,\n"
    "reads and changes the queue itself (a bounce is then sent when the daemon\n"
    "starts). See mxrelay(1).\n";

/* Print a usage error and return EX_USAGE. */
static int queue_bad(const char *what, const char *arg)
{
	fprintf(stderr, "mxrelay queue: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
	fputs(queue_usage_text, stderr);
	return EX_USAGE;
}

/* What a queue command acts on: the command line, taken apart. */
struct queue_args {
	const char *config;	/* -c, or NULL */
	const char *cmd;	/* the subcommand */
	bool json;
	const char *domain;	/* --domain, or NULL */
	const char *sender;	/* --sender, or NULL */
	bool all;		/* ALL */
	bool stdin_ids;		/* - */
	char **ids;		/* the ids given as arguments (pointers into argv) */
	size_t nids;
	bool help;
};

/* One subcommand: its request verb, what it takes, and how its count reads. */
struct queue_cmd_def {
	const char *name;
	const char *verb;	/* the per-message request */
	const char *done;	/* past tense for the count */
	const char *doing;	/* for the count on a terminal: "flushing 3,412 messages" */
	bool json;		/* --json allowed */
	bool targets;		/* takes ids, ALL, -, --domain, --sender */
	bool needs_target;	/* and must have one */
};

static const struct queue_cmd_def queue_cmds[] = {
	{ "list", "list", NULL, NULL, true, false, false },
	{ "show", "show", NULL, NULL, true, false, false },
	{ "flush", "flush", "flushed", "flushing", false, true, false },
	{ "hold", "hold", "held", "holding", false, true, true },
	{ "release", "release", "released", "releasing", false, true, true },
	{ "delete", "delete", "deleted", "deleting", false, true, true },
	{ "bounce", "bounce", "bounced", "bouncing", false, true, true },
	{ "requeue", "requeue", "requeued", "requeueing", false, true, true },
	{ "migrate", NULL, NULL, NULL, false, false, false },
};

/* The subcommand named name, or NULL. */
static const struct queue_cmd_def *queue_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(queue_cmds) / sizeof(queue_cmds[0]); i++)
		if (strcmp(queue_cmds[i].name, name) == 0)
			return &queue_cmds[i];
	return NULL;
}

enum { QUEUE_OPT_JSON = 256, QUEUE_OPT_DOMAIN, QUEUE_OPT_SENDER };

static const struct option queue_longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, QUEUE_OPT_JSON },
	{ "domain", required_argument, NULL, QUEUE_OPT_DOMAIN },
	{ "sender", required_argument, NULL, QUEUE_OPT_SENDER },
	{ NULL, 0, NULL, 0 },
};

/*
 * Take the command line apart: options anywhere (before or after the
 * subcommand), then the subcommand and its arguments. Returns EX_OK, or
 * EX_USAGE after saying what is wrong.
 */
static int queue_parse_args(int argc, char **argv, struct queue_args *a)
{
	memset(a, 0, sizeof(*a));
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:h", queue_longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'h': a->help = true; return EX_OK;
		case QUEUE_OPT_JSON: a->json = true; break;
		case QUEUE_OPT_DOMAIN:
			if (a->domain != NULL)
				return queue_bad("--domain given twice", optarg);
			a->domain = optarg;
			break;
		case QUEUE_OPT_SENDER:
			if (a->sender != NULL)
				return queue_bad("--sender given twice", optarg);
			a->sender = optarg;
			break;
		case ':':
		default: {
			/* optopt names a bad short option; a long one is the argument just passed. */
			char shopt[3] = { '-', (char)optopt, '\0' };
			const char *bad = optopt > 0 && optopt < 128 ? shopt : argv[optind - 1];
			return queue_bad(c == ':' ? "this option needs a value" : "unknown option", bad);
		}
		}
	}
	if (optind >= argc)
		return queue_bad("no command given", NULL);
	a->cmd = argv[optind++];
	const struct queue_cmd_def *d = queue_cmd_find(a->cmd);
	if (d == NULL)
		return queue_bad("unknown command", a->cmd);
	if (a->json && !d->json)
		return queue_bad("--json goes with list and show", a->cmd);
	if ((a->domain != NULL || a->sender != NULL) && !d->targets)
		return queue_bad("--domain and --sender go with flush, hold, release, delete, bounce "
		    "and requeue", a->cmd);
	a->ids = argv + optind;
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "ALL") == 0)
			a->all = true;
		else if (strcmp(argv[i], "-") == 0)
			a->stdin_ids = true;
		else
			a->ids[a->nids++] = argv[i];
	}
	if (strcmp(a->cmd, "list") == 0 || strcmp(a->cmd, "migrate") == 0) {
		if (argc > optind)
			return queue_bad(a->cmd[0] == 'l' ? "list takes no argument" :
			    "migrate takes no argument", argv[optind]);
		return EX_OK;
	}
	if (strcmp(a->cmd, "show") == 0) {
		if (argc - optind != 1 || a->all || a->stdin_ids)
			return queue_bad(argc == optind ? "a queue id is needed" : "show takes one queue id",
			    a->cmd);
	}
	bool select = a->domain != NULL || a->sender != NULL;
	int kinds = (a->nids > 0 || a->stdin_ids) + a->all + select;
	if (kinds > 1)
		return queue_bad("choose the messages one way: ids (or -), ALL, or --domain/--sender",
		    a->cmd);
	if (d->needs_target && kinds == 0)
		return queue_bad("which messages? give ids, -, ALL, --domain or --sender", a->cmd);
	for (size_t i = 0; i < a->nids; i++)
		if (!queue_id_valid(a->ids[i]))
			return queue_bad("not a queue id", a->ids[i]);
	/* Check here what the daemon would refuse, to say it before connecting. */
	struct control_req req;
	const char *why = NULL;
	char line[CONTROL_LINE_MAX + 1];
	if (a->domain != NULL) {
		snprintf(line, sizeof(line), "select-domain %s", a->domain);
		if (strlen(a->domain) > CONTROL_ARG_MAX || control_parse(line, strlen(line), &req, &why) != 0)
			return queue_bad(why != NULL ? why : "domain too long", a->domain);
	}
	if (a->sender != NULL) {
		snprintf(line, sizeof(line), "select-sender %s", a->sender);
		if (strlen(a->sender) > CONTROL_ARG_MAX + 2 ||
		    control_parse(line, strlen(line), &req, &why) != 0)
			return queue_bad(why != NULL ? why : "sender too long", a->sender);
	}
	return EX_OK;
}

/* Load -c CONFIG, else the installed file when it exists, else the embedded default. */
static int queue_config(const char *path, struct config **cfg)
{
	char err[512];
	if (config_load(config_path_choose(path), cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxrelay queue: %s\n", err);
		return EX_CONFIG;
	}
	return EX_OK;
}

/* The exit status for a request's typed result. */
static int queue_status_exit(enum control_status st)
{
	switch (st) {
	case CONTROL_OK: return EX_OK;
	case CONTROL_E_USAGE: return EX_USAGE;
	case CONTROL_E_NOTFOUND: return EX_NOINPUT;
	case CONTROL_E_STORE: return EX_TEMPFAIL;
	case CONTROL_E_TOOLARGE: return EX_SOFTWARE;
	case CONTROL_E_CONFIG: return EX_CONFIG;
	case CONTROL_E_PARTIAL: return EX_TEMPFAIL;
	}
	return EX_PROTOCOL;
}

/* A body line of the daemon's reply, into the body buffer. */
static void queue_body_line(void *arg, const char *line, size_t len)
{
	evbuffer_add(arg, line, len);
	evbuffer_add(arg, "\n", 1);
}

/*
 * Where requests go: the running daemon (one connection per request), or,
 * when none listens, the store itself (opened once, at the first request).
 */
struct queue_link {
	const struct config *cfg;
	bool direct;		/* no daemon listens */
	struct queue_store *q;	/* direct: the store, owned */
};

/* Send req to the daemon and take its reply. Returns EX_OK (with *st) or a failure status. */
static int queue_link_ask(struct queue_link *l, const char *req, struct evbuffer *body,
    char *msg, size_t msglen, enum control_status *st)
{
	const char *sock = l->cfg->control_socket;
	int fd = unix_sock_connect(sock, 0);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot reach the daemon at %s: %s", sock, strerror(errno));
		return EX_TEMPFAIL;
	}
	char out[CONTROL_LINE_MAX + 2];
	int n = snprintf(out, sizeof(out), "%s\n", req);
	/* A daemon that closed first (too many connections) is an error here, not SIGPIPE. */
	if (send(fd, out, (size_t)n, MSG_NOSIGNAL) != n) {
		snprintf(msg, msglen, "cannot send to the daemon at %s: %s", sock, strerror(errno));
		close(fd);
		return EX_TEMPFAIL;
	}
	struct control_req r;
	const char *why = NULL;
	(void)control_parse(req, strlen(req), &r, &why);
	struct control_reply reply;
	int rc = EX_OK;
	if (control_reply_read(fd, r.verb, QUEUE_REPLY_TIMEOUT_MS, queue_body_line, body, &reply,
	    &why) != 0) {
		snprintf(msg, msglen, "daemon at %s: %s", sock, why);
		rc = EX_TEMPFAIL;
	} else {
		*st = reply.status;
		snprintf(msg, msglen, "%s", reply.text);
	}
	close(fd);
	return rc;
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

/* No daemon: open the store itself. Returns EX_OK or an exit status after saying why. */
static int queue_link_open_store(struct queue_link *l)
{
	const struct config *cfg = l->cfg;
	if (cfg->queue_backend == CFG_QUEUE_POSTGRESQL) {
		/* The fleet's queue, whichever node runs: straight to the database. */
		char err[1024];
		l->q = control_store_open(NULL, cfg, err, sizeof(err));
		if (l->q == NULL) {
			fprintf(stderr, "mxrelay queue: cannot open the queue: %s\n", err);
			return EX_TEMPFAIL;
		}
		return EX_OK;
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
	l->q = control_store_open(NULL, cfg, err, sizeof(err));
	if (l->q == NULL) {
		fprintf(stderr, "mxrelay queue: cannot open %s: %s\n", cfg->queue_dir, err);
		return EX_TEMPFAIL;
	}
	return EX_OK;
}

/* Find out where requests go: the daemon, or the store. Returns EX_OK or an exit status. */
static int queue_link_open(struct queue_link *l, const struct config *cfg)
{
	memset(l, 0, sizeof(*l));
	l->cfg = cfg;
	/*
	 * Only a probe: the daemon gives a connection 10 s for its request, and
	 * ids may still have to come from standard input, so each request has
	 * its own connection.
	 */
	int fd = unix_sock_connect(cfg->control_socket, 0);
	if (fd >= 0) {
		close(fd);
		return EX_OK;
	}
	if (errno == ENOENT || errno == ECONNREFUSED || errno == EACCES || errno == ENOTDIR) {
		l->direct = true;
		return queue_link_open_store(l);
	}
	fprintf(stderr, "mxrelay queue: cannot reach the daemon at %s: %s\n", cfg->control_socket,
	    strerror(errno));
	return EX_UNAVAILABLE;
}

static void queue_link_close(struct queue_link *l)
{
	queue_store_close(l->q);
	l->q = NULL;
}

/*
 * Run one request line: its typed result in *st, the reply text in msg,
 * a body (list, show, select) appended to body. Returns EX_OK when there
 * is a result, or the exit status of a failure to get one (msg says it).
 */
static int queue_call(struct queue_link *l, const char *req, struct evbuffer *body, char *msg,
    size_t msglen, enum control_status *st)
{
	if (!l->direct)
		return queue_link_ask(l, req, body, msg, msglen, st);
	struct control_req r;
	const char *why = NULL;
	if (control_parse(req, strlen(req), &r, &why) != 0) {
		snprintf(msg, msglen, "%s", why);
		*st = CONTROL_E_USAGE;
		return EX_OK;
	}
	*st = control_run(l->q, &r, time(NULL), body, CONTROL_BODY_MAX, msg, msglen);
	if (*st != CONTROL_OK)
		return EX_OK;
	size_t n = strlen(msg);
	if (r.verb == CONTROL_FLUSH || r.verb == CONTROL_FLUSH_ALL ||
	    r.verb == CONTROL_FLUSH_DOMAIN || r.verb == CONTROL_REQUEUE)
		snprintf(msg + n, msglen - n, " (the daemon is not running: they are tried when it "
		    "starts)");
	else if (r.verb == CONTROL_BOUNCE)
		snprintf(msg + n, msglen - n, " (the daemon is not running: the bounce is sent when it "
		    "starts)");
	return EX_OK;
}

/* Say what went wrong with a request (to stderr); returns its exit status. */
static int queue_report(const struct queue_link *l, enum control_status st, const char *msg)
{
	if (st == CONTROL_E_NOTFOUND)
		fprintf(stderr, "mxrelay queue: %s in %s\n", msg, l->cfg->queue_dir);
	else if (l->direct)
		fprintf(stderr, "mxrelay queue: %s\n", msg);
	else
		fprintf(stderr, "mxrelay queue: the daemon says: %s\n", msg);
	return queue_status_exit(st);
}

/* list and show: one request, its body to standard output. */
static int queue_run_listing(struct queue_link *l, const struct queue_args *a)
{
	char req[CONTROL_LINE_MAX + 1], msg[1024];
	if (strcmp(a->cmd, "list") == 0)
		snprintf(req, sizeof(req), "%s", a->json ? "list-json" : "list");
	else
		snprintf(req, sizeof(req), "show%s %s", a->json ? "-json" : "", a->ids[0]);
	struct evbuffer *body = evbuffer_new();
	enum control_status st = CONTROL_OK;
	int rc = queue_call(l, req, body, msg, sizeof(msg), &st);
	if (rc != EX_OK)
		fprintf(stderr, "mxrelay queue: %s\n", msg);
	else if (st != CONTROL_OK)
		rc = queue_report(l, st, msg);
	else
		while (evbuffer_get_length(body) > 0)
			if (evbuffer_write(body, STDOUT_FILENO) < 0)
				break;
	evbuffer_free(body);
	return rc;
}

/* Queue ids, gathered from the arguments, standard input or a selection. */
struct queue_ids {
	char **v;		/* owned, each owned */
	size_t n, cap;
};

static void queue_ids_add(struct queue_ids *ids, const char *id, size_t len)
{
	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? ids->cap * 2 : 64;
		ids->v = xreallocarray(ids->v, ids->cap, sizeof(*ids->v));
	}
	ids->v[ids->n++] = xmemdup0(id, len);
}

static void queue_ids_free(struct queue_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		free(ids->v[i]);
	free(ids->v);
	memset(ids, 0, sizeof(*ids));
}

/* Ids on standard input, one a line (blank lines skipped). Returns EX_OK or EX_USAGE/EX_IOERR. */
static int queue_ids_stdin(struct queue_ids *ids)
{
	char line[256];
	unsigned long lineno = 0;
	while (fgets(line, sizeof(line), stdin) != NULL) {
		lineno++;
		size_t n = strlen(line);
		bool whole = n > 0 && line[n - 1] == '\n';
		if (!whole && !feof(stdin)) {
			fprintf(stderr, "mxrelay queue: standard input line %lu is too long for a queue "
			    "id\n", lineno);
			return EX_USAGE;
		}
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		n = strlen(p);
		while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' ||
		    p[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		char id[QUEUE_ID_LEN + 1];
		if (n != QUEUE_ID_LEN || (memcpy(id, p, n), id[n] = '\0', !queue_id_valid(id))) {
			char safe[80];
			log_printable(safe, sizeof(safe), p, n);
			fprintf(stderr, "mxrelay queue: standard input line %lu: not a queue id: %s\n",
			    lineno, safe);
			return EX_USAGE;
		}
		queue_ids_add(ids, p, n);
	}
	if (ferror(stdin)) {
		fprintf(stderr, "mxrelay queue: cannot read standard input: %s\n", strerror(errno));
		return EX_IOERR;
	}
	return EX_OK;
}

/* The ids a select request answers into ids. Returns EX_OK or an exit status after saying why. */
static int queue_ids_select(struct queue_link *l, const char *req, struct queue_ids *ids)
{
	char msg[1024];
	struct evbuffer *body = evbuffer_new();
	enum control_status st = CONTROL_OK;
	int rc = queue_call(l, req, body, msg, sizeof(msg), &st);
	if (rc != EX_OK)
		fprintf(stderr, "mxrelay queue: %s\n", msg);
	else if (st != CONTROL_OK)
		rc = queue_report(l, st, msg);
	char *line;
	size_t n;
	while (rc == EX_OK && (line = evbuffer_readln(body, &n, EVBUFFER_EOL_LF)) != NULL) {
		if (n == QUEUE_ID_LEN && queue_id_valid(line)) {
			queue_ids_add(ids, line, n);
		} else {
			fprintf(stderr, "mxrelay queue: the selection holds \"%.40s\", not a queue id\n",
			    line);
			rc = EX_PROTOCOL;
		}
		free(line);
	}
	evbuffer_free(body);
	return rc;
}

/* Keep only the ids of a that are also in b (both in arrival order, as select gives them). */
static void queue_ids_intersect(struct queue_ids *a, const struct queue_ids *b)
{
	size_t k = 0, j = 0;
	for (size_t i = 0; i < a->n; i++) {
		while (j < b->n && strcmp(b->v[j], a->v[i]) < 0)
			j++;
		if (j < b->n && strcmp(b->v[j], a->v[i]) == 0)
			a->v[k++] = a->v[i];
		else
			free(a->v[i]);
	}
	a->n = k;
}

/* The messages a command acts on. Returns EX_OK or an exit status after saying why. */
static int queue_targets(struct queue_link *l, const struct queue_args *a, struct queue_ids *ids)
{
	char req[CONTROL_LINE_MAX + 1];
	int rc = EX_OK;
	if (a->all)
		return queue_ids_select(l, "select", ids);
	if (a->domain != NULL) {
		snprintf(req, sizeof(req), "select-domain %s", a->domain);
		if ((rc = queue_ids_select(l, req, ids)) != EX_OK)
			return rc;
	}
	if (a->sender != NULL) {
		struct queue_ids by_sender = { 0 };
		snprintf(req, sizeof(req), "select-sender %s", a->sender);
		if ((rc = queue_ids_select(l, req, &by_sender)) == EX_OK) {
			if (a->domain != NULL) {
				queue_ids_intersect(ids, &by_sender);
				queue_ids_free(&by_sender);
			} else {
				*ids = by_sender;
			}
		} else {
			queue_ids_free(&by_sender);
		}
		return rc;
	}
	for (size_t i = 0; i < a->nids; i++)
		queue_ids_add(ids, a->ids[i], strlen(a->ids[i]));
	if (a->stdin_ids)
		rc = queue_ids_stdin(ids);
	return rc;
}

/*
 * What a command acting on many messages shows on a terminal (standard
 * error): how many it acts on, then a counter redrawn in place at most
 * ten times a second, erased before the count at the end. Nothing of it
 * when standard error is not a terminal.
 */
struct queue_progress {
	bool on;		/* standard error is a terminal */
	bool shared;		/* standard output is that terminal too */
	bool drawn;		/* the counter is on the screen */
	size_t total;
	struct timespec last;	/* when it was drawn */
};

/* Say how many messages d acts on, when standard error is a terminal. */
static void queue_progress_start(struct queue_progress *p, const struct queue_cmd_def *d,
    size_t total)
{
	memset(p, 0, sizeof(*p));
	p->on = term_progress_wanted();
	if (!p->on)
		return;
	p->shared = term_stdout_shares_stderr();
	p->total = total;
	char n[32];
	fprintf(stderr, "%s %s message%s\n", d->doing, term_group_digits(n, sizeof(n), total),
	    total == 1 ? "" : "s");
}

/* Erase the counter before a line goes to its terminal (to_stderr, or stdout sharing it). */
static void queue_progress_clear(struct queue_progress *p, bool to_stderr)
{
	if (!p->drawn || (!to_stderr && !p->shared))
		return;
	fputs("\r\033[K", stderr);
	p->drawn = false;
}

/* done of total messages are through: redraw when a tenth of a second has passed. */
static void queue_progress_step(struct queue_progress *p, size_t done)
{
	if (!p->on)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (long)(now.tv_sec - p->last.tv_sec) * 1000 +
	    (now.tv_nsec - p->last.tv_nsec) / 1000000;
	if (ms < 100)
		return;
	p->last = now;
	if (p->shared)
		fflush(stdout);
	char a[32], b[32];
	fprintf(stderr, "\r\033[K%s of %s (%u%%)", term_group_digits(a, sizeof(a), done),
	    term_group_digits(b, sizeof(b), p->total),
	    p->total > 0 ? (unsigned)((double)done * 100.0 / (double)p->total) : 100u);
	p->drawn = true;
}

/*
 * flush, hold, release, delete, bounce, requeue: one request per message
 * chosen, a line for each, then the count. A message that is not there is
 * reported and the rest still done; a failure to reach the daemon or the
 * store stops.
 */
static int queue_run_each(struct queue_link *l, const struct queue_args *a,
    const struct queue_cmd_def *d)
{
	char req[CONTROL_LINE_MAX + 1], msg[1024];
	enum control_status st = CONTROL_OK;
	int rc;
	bool whole_queue = strcmp(d->name, "flush") == 0 && (a->all || (a->nids == 0 &&
	    !a->stdin_ids && a->sender == NULL));
	if (whole_queue) {
		/* Everything, or every recipient at one domain: one request. */
		if (a->domain != NULL)
			snprintf(req, sizeof(req), "flush-domain %s", a->domain);
		else
			snprintf(req, sizeof(req), "flush");
		struct evbuffer *none = evbuffer_new();
		rc = queue_call(l, req, none, msg, sizeof(msg), &st);
		evbuffer_free(none);
		if (rc != EX_OK) {
			fprintf(stderr, "mxrelay queue: %s\n", msg);
			return rc;
		}
		if (st != CONTROL_OK)
			return queue_report(l, st, msg);
		printf("%s\n", msg);
		return EX_OK;
	}
	struct queue_ids ids = { 0 };
	if ((rc = queue_targets(l, a, &ids)) != EX_OK) {
		queue_ids_free(&ids);
		return rc;
	}
	size_t done = 0, notfound = 0, failed = 0;
	int fail_rc = EX_OK;
	struct queue_progress prog;
	queue_progress_start(&prog, d, ids.n);
	for (size_t i = 0; i < ids.n; i++) {
		snprintf(req, sizeof(req), "%s %s", d->verb, ids.v[i]);
		struct evbuffer *none = evbuffer_new();
		rc = queue_call(l, req, none, msg, sizeof(msg), &st);
		evbuffer_free(none);
		queue_progress_clear(&prog, st != CONTROL_OK || rc != EX_OK);
		if (rc != EX_OK) {
			fprintf(stderr, "mxrelay queue: %s (stopped at %s)\n", msg, ids.v[i]);
			fail_rc = rc;
			failed += ids.n - i;
			break;
		}
		if (st == CONTROL_OK) {
			printf("%s\n", msg);
			done++;
		} else if (st == CONTROL_E_NOTFOUND) {
			queue_report(l, st, msg);
			notfound++;
		} else {
			int e = queue_report(l, st, msg);
			if (fail_rc == EX_OK)
				fail_rc = e;
			failed++;
		}
		queue_progress_step(&prog, i + 1);
	}
	queue_progress_clear(&prog, true);
	printf("-- %s %zu message%s", d->done, done, done == 1 ? "" : "s");
	if (notfound > 0)
		printf(", %zu not found", notfound);
	if (failed > 0)
		printf(", %zu failed", failed);
	printf("\n");
	queue_ids_free(&ids);
	if (fail_rc != EX_OK)
		return fail_rc;
	return notfound > 0 ? EX_NOINPUT : EX_OK;
}

int cmd_queue(int argc, char **argv)
{
	struct queue_args a;
	int rc = queue_parse_args(argc, argv, &a);
	if (rc != EX_OK)
		return rc;
	if (a.help) {
		fputs(queue_usage_text, stdout);
		return EX_OK;
	}
	struct config *cfg = NULL;
	if ((rc = queue_config(a.config, &cfg)) != EX_OK)
		return rc;
	struct queue_link l;
	if (strcmp(a.cmd, "migrate") == 0) {
		/* The store itself, never the daemon: opening it makes or upgrades the schema. */
		memset(&l, 0, sizeof(l));
		l.cfg = cfg;
		l.direct = true;
		rc = queue_link_open_store(&l);
		if (rc == EX_OK)
			rc = cmd_queue_migrate(l.q);
		queue_link_close(&l);
		config_free(cfg);
		return rc;
	}
	rc = queue_link_open(&l, cfg);
	if (rc == EX_OK) {
		const struct queue_cmd_def *d = queue_cmd_find(a.cmd);
		if (d->targets)
			rc = queue_run_each(&l, &a, d);
		else
			rc = queue_run_listing(&l, &a);
	}
	queue_link_close(&l);
	fflush(stdout);
	config_free(cfg);
	return rc;
}
