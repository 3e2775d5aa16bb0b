/*
 * smtpd_ctx: what every SMTP server session of the daemon shares.
 *
 * Owns: nothing by itself; it is the one place that names the shared
 * pieces (loop, frozen configuration, queue store, TLS server context,
 * credentials, resolver, connection limits, live sessions, counters) and
 * the typed reply that every server-side decision is turned into.
 * Never: holds per-session state; never changes the configuration.
 * One struct per configuration generation (reload.c makes them from
 * main.c's first one): a session keeps the pointer it got at accept, so
 * it ends under the configuration, TLS context and users it started
 * with; limit, authfail and queue are the same objects in every one.
 */
#ifndef MXR_SMTPD_CTX_H
#define MXR_SMTPD_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include "mxrelayd/config.h"

struct event_base;
struct event;
struct queue_store;
struct auth_db;
struct dns_resolver;
struct smtpd_limit;
struct smtpd_authfail;
struct smtpd_listener;
struct smtpd_session;
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

struct smtpd_ctx {
	struct event_base *base;	/* borrowed */
	const struct config *cfg;	/* frozen; borrowed */
	struct queue_store *queue;	/* borrowed */
	SSL_CTX *tls;			/* server context, or NULL without tls_cert; borrowed */
	struct auth_db *auth;		/* or NULL without auth_file; borrowed */
	struct dns_resolver *dns;	/* or NULL unless check_rcpt_domain; borrowed */
	struct smtpd_limit *limit;	/* owned by main.c */
	struct smtpd_authfail *authfail;/* AUTH failures per client; owned by main.c */
	struct smtpd_listener *listeners;/* owned by main.c */
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

#endif
