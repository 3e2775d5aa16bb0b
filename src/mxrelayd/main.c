/*
 * mxrelayd: the mxrelay daemon's entry point.
 *
 * Owns: the command line, the start-up order (configuration, listeners
 * bound and TLS key and credentials read while still root, the
 * privileged reload helper forked, privilege drop, the queue directory's
 * lock, queue store, resolver, then the loop), signal handling (SIGHUP
 * reloads, see reload.h) and the orderly stop: on SIGTERM or SIGINT no
 * new connection is taken, messages being received are finished and
 * committed, the store is closed, and the exit is 0.
 * Never: keeps mutable state outside main's own frame; never runs the
 * loop as root.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "dns/dns_mx.h"
#include "policy/auth_db.h"
#include "policy/ratelimit.h"
#include "config/config.h"
#include "config/config_path.h"
#include "control/control.h"
#include "control/control_public.h"
#include "pidlock.h"
#include "privdrop.h"
#include "queue/queue_side.h"
#include "queue/queue_store.h"
#include "reload.h"
#include "reload_helper.h"
#include "status.h"
#include "delivery/sched.h"
#include "http/http.h"
#include "metrics/metrics_mail.h"
#include "server/server.h"
#include "net/net_tls.h"
#include "util/log.h"
#include "util/workq.h"
#include "util/xalloc.h"

/* Threads making DKIM signatures: the work of a busy relay on a small machine. */
#define MXRD_SIGNER_THREADS 2
/* How long a stopping daemon lets messages in progress finish. */
#define MXRD_STOP_GRACE_S 30
/* How often a stopping daemon looks whether the last session ended. */
#define MXRD_STOP_POLL_MS 50
/* How long closing connections get to flush their last reply before exit. */
#define MXRD_LINGER_MS 300

static const char mxrd_usage[] =
    "usage: mxrelayd [-c FILE] [-t|--check] [-d|--debug] [-h|--help] [-V|--version]\n"
    "  -c, --config FILE  read FILE instead of %s\n"
    "                     (the embedded default configuration when that does not exist)\n"
    "  -t, --check        check the configuration, print the result and exit\n"
    "  -d, --debug        log debug events (state changes, every reply code)\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "Runs in the foreground and logs one key=value line per event to standard error.\n"
    "SIGTERM or SIGINT: stop taking connections, finish messages being received, exit 0.\n"
    "SIGHUP: reload the configuration, its certificate, key and users file.\n";

/* What the signal and stop callbacks need. */
struct mxrd_run {
	struct reload *reload;
	struct event *stop_poll;	/* owned */
	struct sched *sched;		/* owned */
	struct smtpd_local *local;	/* owned by main */
	bool sched_stopped;		/* sched_stop's callback ran */
	time_t stop_started;
	bool dropped;
};

/* While stopping: leave the loop once no session or password check remains. */
static void mxrd_stop_poll(evutil_socket_t fd, short what, void *arg)
{
	struct mxrd_run *run = arg;
	struct smtpd_ctx *ctx = reload_ctx(run->reload);
	(void)fd;
	(void)what;
	if (!run->dropped && time(NULL) - run->stop_started >= MXRD_STOP_GRACE_S) {
		log_msg(LOG_LVL_WARN, "event=stop-grace-over sessions=%u", ctx->nsessions);
		reload_drop_sessions(run->reload);
		run->dropped = true;
	}
	if (!reload_busy(run->reload) && (run->sched_stopped || run->dropped)) {
		event_base_loopexit(ctx->base, NULL);
		return;
	}
	struct timeval tv = { 0, MXRD_STOP_POLL_MS * 1000 };
	evtimer_add(run->stop_poll, &tv);
}

/*
 * Raise the descriptor limit to the hard limit: every connection, in or
 * out, is a descriptor, and distributions start services with a soft limit
 * of 1024, far below max_connections. Warn when even the hard limit is short.
 */
static void mxrd_raise_nofile(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_msg(LOG_LVL_WARN, "event=nofile reason=\"getrlimit failed\"");
		return;
	}
	rlim_t was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	log_msg(LOG_LVL_INFO, "event=nofile soft=%llu hard=%llu was=%llu",
	    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, (unsigned long long)was);
	/* Each session may hold an inbound and an outbound descriptor; keep room for the rest. */
	uint64_t want = (uint64_t)cfg->max_connections + cfg->max_deliveries + 64;
	if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)rl.rlim_cur < want)
		log_msg(LOG_LVL_WARN, "event=nofile-low soft=%llu want=%llu note=\"raise the hard limit "
		    "(LimitNOFILE=, ulimit -Hn) or lower max_connections\"",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

/* The loop's waiting log lines: written once the callbacks of this loop pass have run. */
static void mxrd_log_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_flush();
}

/* A first log line waits: flush when the loop gets to this event. */
static void mxrd_log_arm(void *arg)
{
	event_active(arg, 0, 0);
}

/* The scheduler has no delivery or store update left in flight. */
static void mxrd_sched_stopped(void *arg)
{
	struct mxrd_run *run = arg;
	run->sched_stopped = true;
}

/* New mail: let the scheduler look at the queue now. */
static void mxrd_kick(void *arg)
{
	sched_kick(arg);
}

/* The control socket changed the queue: the scheduler acts on it now. */
static void mxrd_control_notify(void *arg, enum control_event ev, const char *what)
{
	switch (ev) {
	case CONTROL_EV_FLUSH_ALL:
		sched_flush(arg);
		break;
	case CONTROL_EV_FLUSH_DOMAIN:
		sched_flush_domain(arg, what);
		break;
	case CONTROL_EV_FLUSH_MSG:
		sched_flush_message(arg, what);
		break;
	case CONTROL_EV_BOUNCED:
		sched_bounce_now(arg, what);
		break;
	case CONTROL_EV_DUE:
		sched_kick(arg);
		break;
	}
}

/* SIGTERM/SIGINT: the first starts an orderly stop, a second drops every session. */
static void mxrd_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct mxrd_run *run = arg;
	struct smtpd_ctx *ctx = reload_ctx(run->reload);
	(void)what;
	if (ctx->stopping) {
		log_msg(LOG_LVL_WARN, "event=stop-now signal=%d sessions=%u", (int)sig, ctx->nsessions);
		reload_drop_sessions(run->reload);
		run->dropped = true;
		return;
	}
	log_msg(LOG_LVL_INFO, "event=stopping signal=%d sessions=%u", (int)sig, ctx->nsessions);
	run->stop_started = time(NULL);
	reload_stop_sessions(run->reload);
	smtpd_local_stop(run->local);
	sched_stop(run->sched, mxrd_sched_stopped, run);
	mxrd_stop_poll(-1, 0, run);
}

/* The generation of the configuration in force, for the local socket's new sessions. */
static struct smtpd_ctx *mxrd_ctx_now(void *arg)
{
	return reload_ctx(arg);
}

/* SIGHUP: ask the privileged helper for the configuration file again. */
static void mxrd_on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct mxrd_run *run = arg;
	(void)sig;
	(void)what;
	reload_request(run->reload, "sighup", NULL, NULL);
}

/* `mxrelay reload` over the control socket: the same, with an answer. */
/* The control socket's TLS reporting requests, answered by the scheduler. */
static void mxrd_tlsrpt_flush(void *arg)
{
	sched_tls_results_flush(arg);
}

static bool mxrd_tlsrpt_send(void *arg, int64_t day,
    void (*done)(void *darg, bool ok, const char *text), void *darg)
{
	return sched_tls_reports_send(arg, day, done, darg);
}

static void mxrd_control_reload(void *arg, void (*done)(void *darg, bool ok, const char *text),
    void *darg)
{
	reload_request(arg, "control", done, darg);
}

/* A random start for session ids. */
static uint64_t mxrd_seed(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	return v;
}

/* A random key for the rate limit table's hash, so that no client can choose colliding keys. */
static struct ratelimit *mxrd_rate_table(void)
{
	uint8_t seed[16];
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		uint64_t a = mxrd_seed(), b = mxrd_seed() ^ (uint64_t)clock();
		memcpy(seed, &a, 8);
		memcpy(seed + 8, &b, 8);
	}
	return ratelimit_new(RATELIMIT_MAX_ENTRIES, seed);
}

/* The daemon's parts, in the order start-up makes them (main's frame holds the one instance). */
struct mxrd {
	const char *path;		/* -c FILE, or NULL for the default */
	bool check, debug;
	struct config *cfg;		/* the first generation; owned by the reload module once serving */
	/* Made while still root. */
	struct smtpd_listener *listeners;
	SSL_CTX *tls;
	struct auth_db *auth;
	pid_t helper_pid;
	int helper_fd;
	bool started_as_root;
	/* Made after the drop. */
	struct event_base *base;
	struct event *log_ev;
	int lockfd;
	struct queue_store *queue;
	struct sched *sched;
	struct control *control;
	struct smtpd_local *local;
	struct control_public *mailq;
	struct dns_resolver *dns;
	struct metrics_mail *metrics;	/* counters from start to exit, across reloads */
	struct workq *signer;		/* DKIM signatures off the loop, across reloads */
	struct queue_side *side;	/* the store's synchronous work off the loop */
	int *http_fds;			/* bound while root, until the HTTP server takes them */
	struct http_server *http;
	struct status_sources status;
	struct smtpd_ctx ctx;
	struct reload *reload;
	struct mxrd_run run;
	struct event *ev_term, *ev_int, *ev_hup;
};

/* The command line into d. -1 to go on, or the exit status (help, version, usage error). */
static int mxrd_parse_args(int argc, char **argv, struct mxrd *d)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "c:tdhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d->path = optarg;
			break;
		case 't':
			d->check = true;
			break;
		case 'd':
			d->debug = true;
			break;
		case 'h':
			printf(mxrd_usage, config_installed_path());
			return 0;
		case 'V':
			printf("mxrelayd %s\n", MXR_VERSION);
			return 0;
		default:
			fprintf(stderr, mxrd_usage, config_installed_path());
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, mxrd_usage, config_installed_path());
		return 2;
	}
	/* The same file the commands read (config_path.h); the reload helper re-reads it. */
	d->path = config_path_choose(d->path);
	return -1;
}

/* -t: the configuration and the queue directory checked, the verdict printed. The exit status. */
static int mxrd_check_only(struct config *cfg)
{
	char err[512];
	int rc = 0;
	if (config_check_queue_dir(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxrelayd: %s\n", err);
		rc = 1;
	} else {
		if (cfg->tls_warning != NULL)
			printf("mxrelayd: warning: %s\n", cfg->tls_warning);
		printf("mxrelayd: %s: configuration ok\n", cfg->path);
	}
	config_free(cfg);
	return rc;
}

/*
 * Everything that needs root, then the drop: listeners bound, secrets
 * read (as Postfix and OpenSMTPD do, so that a key and a users file only
 * root can read, mode 0600, work), the privileged reload helper forked
 * (before any thread or loop exists: it re-reads the file at this path,
 * and what it names, for each reload, and binds new listeners), the queue
 * directory made private.
 */
static void mxrd_start_privileged(struct mxrd *d)
{
	const struct config *cfg = d->cfg;
	char err[512];
	d->listeners = smtpd_listener_bind(cfg, err, sizeof(err));
	if (d->listeners == NULL)
		fatal("event=start-failed reason=\"%s\"", err);
	if (cfg->tls_cert != NULL) {
		const char *terr = NULL;
		d->tls = net_tls_server_ctx(cfg->tls_cert, cfg->tls_key != NULL ? cfg->tls_key :
		    cfg->tls_cert, &terr);
		if (d->tls == NULL)
			fatal("event=start-failed reason=\"%s\"", terr);
		if (cfg->tls_warning != NULL)
			log_msg(LOG_LVL_WARN, "event=tls-certificate reason=\"%s\"", cfg->tls_warning);
	}
	if (cfg->auth_file != NULL && (d->auth = auth_db_load(cfg->auth_file, err, sizeof(err))) == NULL)
		fatal("event=start-failed reason=\"%s\"", err);
	if (http_bind(cfg, &d->http_fds, err, sizeof(err)) != 0)
		fatal("event=start-failed reason=\"%s\"", err);
	d->helper_fd = reload_helper_start(d->path, &d->helper_pid, err, sizeof(err));
	if (d->helper_fd < 0)
		fatal("event=start-failed reason=\"%s\"", err);
	/* Files the daemon makes (the store, its WAL, spool files) are its own only. */
	umask(077);
	unsigned fixed = 0;
	if (privdrop_prepare_dir(cfg->user, cfg->queue_dir, &fixed, err, sizeof(err)) != 0)
		fatal("event=start-failed reason=\"queue %s: %s\"", cfg->queue_dir, err);
	if (fixed > 0)
		log_msg(LOG_LVL_WARN, "event=queue-permissions queue=\"%s\" fixed=%u "
		    "note=\"queue directory made 0700 and its files 0600\"", cfg->queue_dir, fixed);
	/*
	 * As root the socket's directory is made and handed over now; otherwise
	 * after the queue opened, so that a queue the daemon cannot use is the
	 * error it reports.
	 */
	d->started_as_root = geteuid() == 0;
	if (d->started_as_root && smtpd_local_prepare(cfg, err, sizeof(err)) != 0)
		fatal("event=start-failed reason=\"%s\"", err);
	if (privdrop_drop(cfg->user, err, sizeof(err)) != 0)
		fatal("event=start-failed reason=\"%s\"", err);
}

/* The event loop, with threads (password checks finish on workers) and batched log lines. */
static void mxrd_open_loop(struct mxrd *d)
{
	if (evthread_use_pthreads() != 0)
		fatal("event=start-failed reason=\"libevent threads unavailable\"");
	d->base = event_base_new();
	if (d->base == NULL)
		fatal("event=start-failed reason=\"cannot create the event loop\"");
	/*
	 * The loop's lines are written together at the end of each pass: a
	 * relayed message logs about ten lines, and a write(2) for each was a
	 * twentieth of the daemon's CPU. Warnings and errors go out at once.
	 */
	d->log_ev = event_new(d->base, -1, 0, mxrd_log_flush, NULL);
	if (d->log_ev == NULL)
		fatal("event=start-failed reason=\"cannot create the log event\"");
	log_batch_start(mxrd_log_arm, d->log_ev);
}

/* The queue directory's lock, then the store (a second daemon touches nothing of the first's). */
static void mxrd_open_queue(struct mxrd *d)
{
	const struct config *cfg = d->cfg;
	char err[512];
	d->lockfd = pidlock_take(cfg->queue_dir, err, sizeof(err));
	if (d->lockfd < 0)
		fatal("event=start-failed reason=\"%s\"", err);
	d->queue = control_store_open(d->base, cfg, err, sizeof(err));
	if (d->queue == NULL)
		fatal("event=start-failed reason=\"queue %s: %s\"", cfg->queue_dir, err);
	queue_store_set_reserve(d->queue, cfg->queue_reserve);
	queue_store_set_metrics(d->queue, d->metrics);
	/*
	 * A second handle, opened as the command line opens one, for the
	 * control socket's requests and the TLS policy tables: run on a thread
	 * of their own, they never hold up the loop.
	 */
	struct queue_store *side = control_store_open(NULL, cfg, err, sizeof(err));
	if (side == NULL)
		fatal("event=start-failed reason=\"queue %s: %s\"", cfg->queue_dir, err);
	d->side = queue_side_new(d->base, side);
	if (!d->started_as_root && smtpd_local_prepare(cfg, err, sizeof(err)) != 0)
		fatal("event=start-failed reason=\"%s\"", err);
}

/*
 * The scheduler, the control, local submission and mailq sockets (after
 * the drop, so the daemon's user owns the sockets it removes at exit) and
 * the resolver the server asks about recipient domains.
 */
static void mxrd_open_services(struct mxrd *d)
{
	const struct config *cfg = d->cfg;
	char err[512];
	d->sched = sched_new(d->base, cfg, d->queue, d->side, err, sizeof(err));
	if (d->sched == NULL)
		fatal("event=start-failed reason=\"%s\"", err);
	sched_set_metrics(d->sched, d->metrics);
	/* Mail committed by the fleet's other nodes (a shared store): look at once. */
	queue_store_set_wakeup(d->queue, mxrd_kick, d->sched);
	d->control = control_new(d->base, cfg, d->queue, mxrd_control_notify, d->sched, err,
	    sizeof(err));
	if (d->control == NULL)
		fatal("event=start-failed reason=\"control socket: %s\"", err);
	control_set_side(d->control, d->side);
	d->local = smtpd_local_new(cfg, err, sizeof(err));
	if (d->local == NULL)
		fatal("event=start-failed reason=\"local socket: %s\"", err);
	d->mailq = control_public_new(d->base, cfg, d->queue, err, sizeof(err));
	if (d->mailq == NULL)
		fatal("event=start-failed reason=\"mailq socket: %s\"", err);
	if (cfg->check_rcpt_domain) {
		const char *derr = NULL;
		if ((d->dns = dns_resolver_new(d->base, cfg->dns_server, cfg->dnssec_anchors, &derr)) == NULL)
			fatal("event=start-failed reason=\"resolver: %s\"", derr);
	}
}

/* The summary for /status.json and the page. */
static char *mxrd_status_json(void *arg, size_t *len)
{
	struct mxrd *d = arg;
	struct evbuffer *b = evbuffer_new();
	if (b == NULL)
		return NULL;
	status_write(&d->status, time(NULL), true, b);
	*len = evbuffer_get_length(b);
	char *out = xmalloc(*len + 1);
	evbuffer_remove(b, out, *len);
	out[*len] = '\0';
	evbuffer_free(b);
	return out;
}

/* "status" and "status-json" on the control socket. */
static void mxrd_control_status(void *arg, bool json, struct evbuffer *b)
{
	struct mxrd *d = arg;
	status_write(&d->status, time(NULL), json, b);
}

/* A reload is in force: what lives outside the generations follows it. */
static void mxrd_applied(void *arg, const struct config *cfg)
{
	struct mxrd *d = arg;
	http_server_set_config(d->http, cfg);
	metrics_mail_set_dest_slots(d->metrics, cfg->metrics_destinations);
}

/* The HTTP listener on the descriptors bound while root, with the status of this daemon. */
static void mxrd_start_http(struct mxrd *d)
{
	char err[512];
	d->status = (struct status_sources){ .started = time(NULL), .reload = d->reload,
	    .sched = d->sched, .queue = d->queue, .metrics = d->metrics };
	status_register_gauges(&d->status);
	control_set_status(d->control, mxrd_control_status, d);
	reload_set_applied(d->reload, mxrd_applied, d);
	d->http = http_server_new(d->base, d->http_fds, d->cfg->nhttp_listeners, d->cfg,
	    metrics_mail_registry(d->metrics), mxrd_status_json, d, err, sizeof(err));
	d->http_fds = NULL;
	if (d->http == NULL)
		fatal("event=start-failed reason=\"%s\"", err);
}

/* The server's first generation, the reload module that owns it from here, and the signals. */
static void mxrd_start_serving(struct mxrd *d)
{
	const struct config *cfg = d->cfg;
	d->signer = workq_new(d->base, MXRD_SIGNER_THREADS);
	d->ctx = (struct smtpd_ctx){
		.base = d->base,
		.cfg = cfg,
		.queue = d->queue,
		.tls = d->tls,
		.auth = d->auth,
		.dns = d->dns,
		.limit = smtpd_limit_new(cfg->max_connections, cfg->max_connections_per_ip,
		    cfg->client_ipv6_prefix),
		.authfail = smtpd_authfail_new(cfg->auth_failure_limit,
		    (uint64_t)cfg->auth_failure_window * 1000u, SMTPD_AUTHFAIL_MAX_CLIENTS,
		    cfg->client_ipv6_prefix),
		.rate = mxrd_rate_table(),
		.listeners = d->listeners,
		.metrics = d->metrics,
		.signer = d->signer,
		.queued = mxrd_kick,
		.queued_arg = d->sched,
		.id_seed = mxrd_seed(),
	};
	/* From here the generation in force is the reload module's (ctx is copied). */
	d->reload = reload_new(&d->ctx, d->cfg, d->helper_fd, d->helper_pid, d->sched, d->debug);
	control_set_reload(d->control, mxrd_control_reload, d->reload);
	control_set_tlsrpt(d->control, &(struct control_tlsrpt){ .flush = mxrd_tlsrpt_flush,
	    .send = mxrd_tlsrpt_send, .arg = d->sched });
	d->run = (struct mxrd_run){ .reload = d->reload, .sched = d->sched, .local = d->local };
	d->run.stop_poll = evtimer_new(d->base, mxrd_stop_poll, &d->run);
	d->ev_term = evsignal_new(d->base, SIGTERM, mxrd_on_signal, &d->run);
	d->ev_int = evsignal_new(d->base, SIGINT, mxrd_on_signal, &d->run);
	d->ev_hup = evsignal_new(d->base, SIGHUP, mxrd_on_hup, &d->run);
	if (d->run.stop_poll == NULL || d->ev_term == NULL || d->ev_int == NULL || d->ev_hup == NULL)
		fatal("event=start-failed reason=\"cannot create signal events\"");
	event_add(d->ev_term, NULL);
	event_add(d->ev_int, NULL);
	event_add(d->ev_hup, NULL);

	mxrd_start_http(d);
	smtpd_listener_start(d->listeners, reload_ctx(d->reload));
	smtpd_local_start(d->local, mxrd_ctx_now, d->reload);
	log_msg(LOG_LVL_INFO, "event=started version=%s config=\"%s\" hostname=%s queue=\"%s\" tls=%s auth=%s",
	    MXR_VERSION, cfg->path, cfg->hostname, cfg->queue_dir, d->tls != NULL ? "yes" : "no",
	    d->auth != NULL ? "yes" : "no");
}

/*
 * After the loop: sessions closed and their last replies flushed, the
 * sockets removed, deliveries dropped (due again at start), pending
 * commits finished, the store closed, the lock released, the summary logged.
 */
static void mxrd_shut_down(struct mxrd *d)
{
	reload_stop_sessions(d->reload);
	smtpd_local_stop(d->local);
	reload_drop_sessions(d->reload);
	/* Last replies (221, 421) still being flushed belong to their connections: let them go out. */
	struct timeval linger = { 0, MXRD_LINGER_MS * 1000 };
	event_base_loopexit(d->base, &linger);
	event_base_dispatch(d->base);
	/* No loop pass from here on: lines are written as they come. */
	log_batch_stop();
	event_free(d->log_ev);
	/* Signatures still being made: their messages are committed before the store closes. */
	workq_free(d->signer);
	/* The store's side work ends before what it calls back (control, scheduler) goes. */
	queue_side_free(d->side);
	/* A reload still waited for is answered no while its control client may hear it. */
	reload_close_helper(d->reload);
	http_server_free(d->http);
	control_free(d->control);
	control_public_free(d->mailq);
	smtpd_local_free(d->local);
	sched_free(d->sched);
	queue_store_close(d->queue);
	pidlock_release(d->lockfd);
	struct smtpd_stats st = reload_stats(d->reload);
	log_msg(LOG_LVL_INFO, "event=stopped connections=%llu refused=%llu messages=%llu recipients=%llu",
	    (unsigned long long)st.connections, (unsigned long long)st.refused,
	    (unsigned long long)st.messages, (unsigned long long)st.recipients);
	event_free(d->ev_term);
	event_free(d->ev_int);
	event_free(d->ev_hup);
	event_free(d->run.stop_poll);
	/* Every generation: configurations, TLS contexts, users, resolvers, the listeners. */
	reload_free(d->reload);
	smtpd_limit_free(d->ctx.limit);
	smtpd_authfail_free(d->ctx.authfail);
	ratelimit_free(d->ctx.rate);
	status_sources_free(&d->status);
	metrics_mail_free(d->metrics);
	event_base_free(d->base);
}

int main(int argc, char **argv)
{
	/* Before any other libevent call: its allocations abort like ours (lib/net/net_conn.c). */
	event_set_mem_functions(xmalloc, xrealloc, free);
	struct mxrd d = { .helper_fd = -1, .lockfd = -1 };
	int rc = mxrd_parse_args(argc, argv, &d);
	if (rc >= 0)
		return rc;
	log_init("mxrelayd", d.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO, 2);
	char err[512];
	if (config_load(d.path, &d.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxrelayd: %s\n", err);
		return 1;
	}
	if (d.check)
		return mxrd_check_only(d.cfg);
	if (!d.debug)
		log_init("mxrelayd", (enum log_level)d.cfg->log_level, 2);
	if (d.cfg->log_syslog && log_use_syslog(d.cfg->syslog_socket, err, sizeof(err)) != 0)
		fatal("event=start-failed reason=\"%s\"", err);
	signal(SIGPIPE, SIG_IGN);
	mxrd_raise_nofile(d.cfg);
	d.metrics = metrics_mail_new(d.cfg->metrics_destinations);

	mxrd_start_privileged(&d);
	mxrd_open_loop(&d);
	mxrd_open_queue(&d);
	mxrd_open_services(&d);
	mxrd_start_serving(&d);
	event_base_dispatch(d.base);
	mxrd_shut_down(&d);
	return 0;
}
