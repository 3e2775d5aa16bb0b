/*
 * server: the SMTP server side of the daemon, as start-up and reload see it.
 *
 * Owns: the shared context of the sessions (struct smtpd_ctx: loop,
 * frozen configuration, queue, TLS, credentials, limits, live sessions,
 * counters), the typed reply every server decision becomes, and the life
 * of the listening sockets (TCP listeners, the local submission socket),
 * the connection limits and the AUTH failure table.
 * Never: decides relaying (policy/ does), stores mail (queue/ does) or
 * delivers it; a message committed is announced through ctx->queued.
 * Everything else of the module (sessions, commands, DATA/BDAT, AUTH,
 * local submission) is private to src/mxrelayd/server/.
 */
#ifndef MXR_SERVER_H
#define MXR_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

struct event_base;
struct event;
struct queue_store;
struct auth_db;
struct dns_resolver;
struct smtpd_limit;
struct smtpd_authfail;
struct ratelimit;
struct smtpd_listener;
struct smtpd_session;
struct smtpd_local;
struct metrics_mail;
typedef struct ssl_ctx_st SSL_CTX;

/* The class of an answer: the first digit of its reply code. */
enum smtpd_outcome {
	SMTPD_OK,		/* 2xx / 3xx */
	SMTPD_TEMPFAIL,		/* 4xx: try again later */
	SMTPD_PERMFAIL,		/* 5xx: do not try again */
};

/* One reply: code, enhanced status code (RFC 3463) and static text. */
struct smtpd_reply {
	int code;
	const char *esc;
	const char *text;
};

/* Counters for logs and the shutdown summary (loop thread only). */
struct smtpd_stats {
	uint64_t connections;	/* accepted */
	uint64_t refused;	/* turned away by a connection limit */
	uint64_t messages;	/* committed to the queue */
	uint64_t recipients;	/* recipients of committed messages */
	uint64_t rejected;	/* 4xx/5xx replies sent */
};

/*
 * struct smtpd_ctx: what every SMTP server session of the daemon shares.
 *
 * Owns: nothing by itself; it is the one place that names the shared
 * pieces (loop, frozen configuration, queue store, TLS server context,
 * credentials, resolver, connection limits, live sessions, counters) and
 * the typed reply that every server-side decision is turned into.
 * Never: holds per-session state; never changes the configuration.
 * One struct per configuration generation (reload.c makes them from
 * main.c's first one): a session keeps the pointer it got at accept, so
 * it ends under the configuration, TLS context and users it started
 * with; limit, authfail, rate, queue and metrics are the same objects in
 * every one.
 */
struct smtpd_ctx {
	struct event_base *base;	/* borrowed */
	const struct config *cfg;	/* frozen; borrowed */
	struct queue_store *queue;	/* borrowed */
	SSL_CTX *tls;			/* server context, or NULL without tls_cert; borrowed */
	struct auth_db *auth;		/* or NULL without auth_file; borrowed */
	struct dns_resolver *dns;	/* or NULL unless check_rcpt_domain; borrowed */
	struct smtpd_limit *limit;	/* owned by main.c */
	struct smtpd_authfail *authfail;/* AUTH failures per client; owned by main.c */
	struct ratelimit *rate;		/* rate limit buckets, or NULL for none; owned by main.c */
	struct smtpd_listener *listeners;/* owned by main.c */
	struct metrics_mail *metrics;	/* counts sessions and transactions, or NULL; borrowed */
	struct workq *signer;		/* DKIM signatures off the loop, or NULL: none made; borrowed */
	void (*queued)(void *arg);	/* a message was committed: delivery may start; or NULL */
	void *queued_arg;

	struct smtpd_session *sessions;	/* live sessions, linked through the session */
	unsigned nsessions;
	unsigned nalive;		/* sessions not yet freed: live, or closed but held by a callback */
	unsigned auth_jobs;		/* password checks running on worker threads */
	uint64_t id_seed;		/* random at start: session ids do not repeat across runs */
	uint64_t id_next;
	bool stopping;			/* SIGTERM seen: finish messages, take no new ones */
	struct smtpd_stats stats;
};

/* The outcome class of a reply code. */
static inline enum smtpd_outcome smtpd_outcome_of(int code)
{
	return code >= 500 ? SMTPD_PERMFAIL : code >= 400 ? SMTPD_TEMPFAIL : SMTPD_OK;
}


/* Connections: limits overall and per client (smtpd_limit.c). */
/*
 * A limiter; 0 for either maximum means no limit of that kind. IPv6
 * addresses that share their first v6_prefix bits count as one client.
 */
struct smtpd_limit *smtpd_limit_new(unsigned max_total, unsigned max_per_ip, unsigned v6_prefix);
void smtpd_limit_free(struct smtpd_limit *l);
/*
 * New maxima (a reloaded configuration): connections already counted stay
 * counted; a client over a lowered maximum keeps its sessions, new ones wait.
 */
void smtpd_limit_set_max(struct smtpd_limit *l, unsigned max_total, unsigned max_per_ip);

/* AUTH failures per client, across sessions (smtpd_authfail.c). */
/* Clients held at most; past it the one whose window started first is forgotten. */
#define SMTPD_AUTHFAIL_MAX_CLIENTS 16384
/*
 * A table allowing limit failures per client in a window of window_ms
 * from its first failure, holding at most max_clients clients; IPv6
 * clients are their first v6_prefix bits.
 */
struct smtpd_authfail *smtpd_authfail_new(unsigned limit, uint64_t window_ms, size_t max_clients,
    unsigned v6_prefix);
void smtpd_authfail_free(struct smtpd_authfail *t);
/* A new limit and window (a reloaded configuration): the failures counted so far stay. */
void smtpd_authfail_set_limit(struct smtpd_authfail *t, unsigned limit, uint64_t window_ms);

/* Rate limits (smtpd_rate.c; the buckets are policy/ratelimit.h's, kept across reloads). */
/*
 * The client or user a bucket of kind counts, for the status summary:
 * "192.0.2.1", "2001:db8:1:2::/64" (client_ipv6_prefix of cfg), or the
 * user name made printable. key and keylen as policy/ratelimit.h gives them.
 */
void smtpd_rate_key_text(const struct config *cfg, int kind, const uint8_t *key, size_t keylen,
    char *buf, size_t len);

/* TCP listeners (smtpd_listener.c). */
/* Bind every listener of cfg (while still root); NULL with err on failure. */
struct smtpd_listener *smtpd_listener_bind(const struct config *cfg, char *err, size_t errlen);
/* Bind one listener (while root): a non-blocking socket, not yet listening; -1 with err. */
int smtpd_listener_bind_one(const struct cfg_listener *lc, char *err, size_t errlen);
/* Whether a and b are the same address and port (what one bound socket serves). */
bool smtpd_listener_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* The sockets held, and the listener each serves. */
size_t smtpd_listener_count(const struct smtpd_listener *l);
const struct cfg_listener *smtpd_listener_at(const struct smtpd_listener *l, size_t i);
/*
 * The listeners of a new configuration, accepting into ctx: a socket of
 * old bound to the same address goes on (never closed, so no connection
 * is refused), fds[i] (bound by the privileged helper, or -1) serves
 * cfg->listeners[i] otherwise, and the sockets of old that cfg no longer
 * names are closed. Takes every fds[i] (set to -1) and frees old.
 */
struct smtpd_listener *smtpd_listener_replace(struct smtpd_listener *old, const struct config *cfg,
    int *fds, struct smtpd_ctx *ctx);
/* Listen and start accepting on ctx->base into sessions of ctx (once ready). */
void smtpd_listener_start(struct smtpd_listener *l, struct smtpd_ctx *ctx);
/* Stop accepting and close the sockets (sessions go on). */
void smtpd_listener_stop(struct smtpd_listener *l);
void smtpd_listener_free(struct smtpd_listener *l);

/* The local submission socket (smtpd_local.c). */
/* The public directory: made (0755, the daemon user's) while still root. 0 or -1 with err. */
int smtpd_local_prepare(const struct config *cfg, char *err, size_t errlen);
/*
 * Bind the submission socket (after the drop, so it is the daemon user's)
 * on base; an object without a socket when local_socket is "none". NULL
 * with err on failure.
 */
struct smtpd_local *smtpd_local_new(const struct config *cfg, char *err, size_t errlen);
/*
 * Listen and start taking connections into sessions of the context
 * ctx_now(arg) answers at each accept: the configuration then in force.
 */
void smtpd_local_start(struct smtpd_local *l, struct smtpd_ctx *(*ctx_now)(void *arg), void *arg);
/* Stop taking connections (sessions go on). */
void smtpd_local_stop(struct smtpd_local *l);
/* Close and remove the socket. NULL is fine. */
void smtpd_local_free(struct smtpd_local *l);

/* Sessions (smtpd_session.c). */
/* The daemon is stopping: idle sessions get 421; messages in progress finish. */
void smtpd_session_stop_all(struct smtpd_ctx *ctx);
/* Close every session now (end of the grace period). */
void smtpd_session_drop_all(struct smtpd_ctx *ctx);

#endif
