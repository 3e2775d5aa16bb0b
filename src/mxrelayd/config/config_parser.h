/*
 * config_parser: the state the mxrelay.conf(5) parser shares between its
 * files, private to src/mxrelayd/config.
 *
 * config.c reads the text line by line (the line grammar, defaults,
 * loading and freeing); config_keys.c holds the key table and sets the
 * keys of a plain type; config_setters.c and config_routes.c set the keys
 * with a syntax of their own; config_check.c checks the keys against each
 * other once the whole file is read.
 * Never: seen outside this folder (the result is struct config, in
 * config/config.h).
 */
#ifndef MXR_CONFIG_PARSER_H
#define MXR_CONFIG_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CFG_DAY 86400u

/* One parse: where errors go, what is filled in, on which line each key was set. */
struct cfg_parser {
	const char *name;	/* file name for errors */
	unsigned line;		/* current line */
	char *err;
	size_t errlen;
	struct config *c;
	unsigned *key_line;	/* line of each key of cfg_keys, 0 if not seen */
	unsigned *listener_line;/* per listener */
	unsigned *route_line;	/* per route */
	bool *route_tls_set;	/* per route: tls= was given */
	struct file_set *files;	/* where named files are read; NULL: straight from the disk */
	bool submission;	/* config_load_for_submission: open no file the text names */
};

/* Set a key with its own syntax from its value; 0, or -1 with the error written. */
typedef int cfg_setter(struct cfg_parser *p, char *value);

/* ---- errors (config.c) -------------------------------------------------- */

/* Write "NAME:LINE: message" into the parser's error buffer; returns -1. */
__attribute__((format(printf, 3, 4)))
int cfg_error_at(struct cfg_parser *p, unsigned line, const char *fmt, ...);

/* cfg_error_at at the line being parsed. */
#define cfg_error(p, ...) cfg_error_at((p), (p)->line, __VA_ARGS__)

/* Quote text from the file for an error message, printable and capped. */
const char *cfg_quote(char *buf, size_t buflen, const char *s);

/* ---- the key table (config_keys.c) -------------------------------------- */

/* The table index of key name (config_key_info order), or -1. */
int cfg_key_index(const char *name);

/* Apply one "key = value" setting. */
int cfg_apply(struct cfg_parser *p, const char *key, char *value);

/* ---- keys with their own syntax (config_setters.c, config_routes.c) ----- */

/* Take exactly one token from value; -1 with an error otherwise. */
int cfg_one_token(struct cfg_parser *p, const char *key, char *value, char **out);

cfg_setter cfg_set_listen;		/* listen */
cfg_setter cfg_set_networks;		/* relay_networks */
cfg_setter cfg_set_http_listen;		/* http_listen */
cfg_setter cfg_set_http_allow;		/* http_allow */
cfg_setter cfg_set_domains;		/* relay_domains */
cfg_setter cfg_set_retry;		/* retry_intervals */
cfg_setter cfg_set_log_level;		/* log_level */
cfg_setter cfg_set_log;			/* log */
cfg_setter cfg_set_vrfy;		/* vrfy */
cfg_setter cfg_set_family;		/* address_preference */
cfg_setter cfg_set_outbound_tls;	/* outbound_tls */
cfg_setter cfg_set_bare_newline;	/* bare_newline */
cfg_setter cfg_set_sender_override;	/* local_sender_override */
cfg_setter cfg_set_route;		/* route (config_routes.c) */
cfg_setter cfg_set_tls_policy;		/* tls_policy (config_tls.c) */
cfg_setter cfg_set_dnssec_anchor;	/* dnssec_trust_anchor (config_tls.c) */
cfg_setter cfg_set_tlsrpt_organization;	/* tlsrpt_organization (config_tls.c) */
cfg_setter cfg_set_tlsrpt_contact;	/* tlsrpt_contact (config_tls.c) */

/*
 * The TLS keys once the file is read (config_tls.c): the trust anchor
 * ("none", the default, or the named file read and checked) and the TLS
 * reporting defaults; anchor_line and sender_line are where those keys
 * were set (0 if not). 0, or -1 with the error written.
 */
int cfg_finish_tls(struct cfg_parser *p, unsigned anchor_line, unsigned sender_line);
/* Free what config_tls.c added to c. */
void config_tls_free(struct config *c);
cfg_setter cfg_set_smarthost;		/* smarthost (config_routes.c) */
cfg_setter cfg_set_queue_backend;	/* queue_backend (config_queue.c) */
cfg_setter cfg_set_queue_dsn;		/* queue_dsn (config_queue.c) */
cfg_setter cfg_set_node_id;		/* node_id (config_queue.c) */

/*
 * The queue keys once the file is read (config_queue.c): postgresql
 * needs queue_dsn and sqlite takes none; a passfile the DSN names is
 * read for its password; node_id defaults to the host name. 0, or -1.
 */
int cfg_finish_queue(struct cfg_parser *p);
/* Free what config_queue.c added to c. */
void config_queue_free(struct config *c);
/*
 * The password of the first line of a libpq passfile (text[0..len),
 * "host:port:database:user:password", "*" a wildcard, "\:" and "\\"
 * escaped) matching host, port, db and user, into out: true when one did.
 */
bool config_queue_pgpass_find(const char *text, size_t len, const char *host, const char *port,
    const char *db, const char *user, char *out, size_t outlen);

cfg_setter cfg_set_from_check;		/* from_check */
cfg_setter cfg_set_dkim_sign;		/* dkim_sign (config_submission.c) */

/*
 * The submission keys once the file is read (config_submission.c): the
 * sender_login file parsed and the DKIM keys read (not for sendmail,
 * which reads none of the files). 0, or -1 with the error written.
 */
int cfg_finish_submission(struct cfg_parser *p);
/* Free what config_submission.c added to c. */
void config_submission_free(struct config *c);

/* ---- rate limits (config_rate.c) ---------------------------------------- */

cfg_setter cfg_set_user_rate;		/* user_rate */
cfg_setter cfg_set_rate_exempt;		/* rate_limit_exempt (config_setters.c, with the lists) */
/* The user_rate lines once the file is read: sorted, one per user. 0, or -1 with the error. */
int cfg_finish_rate(struct cfg_parser *p);
/* Free what config_rate.c added to c. */
void config_rate_free(struct config *c);

/* ---- checks of the whole (config_check.c) ------------------------------- */

/* The checks that involve more than one key, and the derived defaults. */
int cfg_finish(struct cfg_parser *p);

#endif
