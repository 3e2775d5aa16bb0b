/*
 * config: the mxrelay.conf(5) file, loaded, checked, then frozen.
 *
 * Owns: the file grammar ("key = value" lines, '#' comments, one
 * "listen =" line per listener), the embedded default, every check that
 * can be made before the daemon starts (each error names file and line),
 * and the lookups made on the frozen result (relay networks, domains).
 * Never: opens sockets or changes process state. After config_load()
 * returns, nothing changes the struct; sessions get a const pointer.
 */
#ifndef MXR_CONFIG_H
#define MXR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mxrelay/mxrelay.h"

struct file_set;
struct aliases;

enum cfg_listen_mode {
	CFG_LISTEN_RELAY,	/* port 25: relay for networks or authenticated users */
	CFG_LISTEN_SUBMISSION,	/* port 587: AUTH required (RFC 6409), STARTTLS */
	CFG_LISTEN_SMTPS,	/* port 465: implicit TLS (RFC 8314), AUTH required */
};

struct cfg_listener {
	char text[128];			/* as written, for logs */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum cfg_listen_mode mode;
	bool auth_plaintext;		/* offer AUTH without TLS (only allowed on loopback) */
	bool require_auth;		/* AUTH needed to relay (set for submission and smtps) */
	unsigned line;			/* where it was written; 0 in the embedded default */
};

/* An HTTP listener (http_listen). */
struct cfg_http_listener {
	char text[128];			/* as written, for logs */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct cfg_network {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];		/* network bytes, host bits zero */
	unsigned prefix;
};

struct dkim_key;

/* A dkim_sign line: mail From this domain (or below it) is signed with this key. */
struct cfg_dkim {
	char *domain;			/* owned: A-labels, lower case (d=) */
	char *selector;			/* owned (s=) */
	char *key_file;			/* owned */
	int alg;			/* enum dkim_alg the line asked for, or -1: the key's own */
	struct dkim_key *key;		/* owned: read at load (as root), or NULL in submission mode */
	unsigned line;
};

enum cfg_vrfy {
	CFG_VRFY_252,			/* "252 2.5.0 Cannot VRFY user, but will accept message" */
	CFG_VRFY_DISABLED,		/* "502 5.5.1 VRFY command is disabled" */
};

/* A bare CR or LF in message text (DATA and BDAT). */
enum cfg_bare_newline {
	CFG_BARE_NEWLINE_NORMALIZE,	/* a line end, stored and sent on as CRLF */
	CFG_BARE_NEWLINE_REJECT,	/* "521 5.5.2" and the connection closed */
};

/* A smarthost for all mail ("*") or for one recipient domain. */
struct cfg_route {
	char domain[256];		/* lower case; "*" for the default route */
	char smarthost[300];		/* "host[:port]" or "[host][:port]" */
	enum mxr_tls_policy tls;
	char *auth_user;		/* owned; may be NULL */
	char *auth_pass;		/* owned; never logged */
	char *password_file;		/* owned; where auth_pass came from, or NULL */
};

/* A TLS policy for one destination domain (tls_policy). */
struct cfg_tls_policy {
	char domain[256];		/* lower case; ".example.org" for every domain under it */
	enum mxr_tls_policy policy;
	char *match;			/* owned: verify's match= names, or NULL */
};

/*
 * Parse one tls_policy value, "DOMAIN POLICY [match=NAMES]" (also what
 * `mxrelay send --tls-policy` takes): 0, or -1 with what is wrong in err.
 * out->match is the caller's to free.
 */
int config_tls_policy_parse(const char *line, struct cfg_tls_policy *out, char *err,
    size_t errlen);

/*
 * Read and check a DNSSEC trust-anchor file (DS or DNSKEY records): its
 * text (the caller frees it), or NULL with "PATH:LINE: why" or "cannot
 * read ..." in err.
 */
char *config_trust_anchor_read(const char *path, char *err, size_t errlen);

/*
 * A rate limit, "N/PERIOD" (config_rate.c): a token bucket that holds n
 * and refills n every period, so n may come at once, then one more each
 * period/n. n 0 is no limit.
 */
struct cfg_rate {
	unsigned n;			/* 1..CFG_RATE_N_MAX; 0: no limit */
	unsigned period;		/* seconds, 1..CFG_RATE_PERIOD_MAX; 0 when n is 0 */
};
#define CFG_RATE_N_MAX 1000000u
#define CFG_RATE_PERIOD_MAX (7u * 86400u)

/* One user_rate line: a user's own limits instead of user_message_rate/user_recipient_rate. */
struct cfg_user_rate {
	char *user;			/* owned; an AUTH or local login name, compared exactly */
	bool has_messages;		/* messages= given; otherwise user_message_rate applies */
	bool has_recipients;		/* recipients= given; otherwise user_recipient_rate applies */
	struct cfg_rate messages;	/* n 0: unlimited */
	struct cfg_rate recipients;
	unsigned line;			/* where it was written */
};

/* The SMTP server's rate limits (config_rate.c); all off by default. */
struct cfg_rate_limits {
	struct cfg_rate client_connection;	/* per client address: connections */
	struct cfg_rate client_message;		/* MAIL accepted */
	struct cfg_rate client_recipient;	/* RCPT accepted */
	struct cfg_rate user_message;		/* per user, unless its user_rate says otherwise */
	struct cfg_rate user_recipient;
	struct cfg_user_rate *users;		/* owned; sorted by user once loaded */
	size_t nusers;
	struct cfg_network *exempt;		/* owned; rate_limit_exempt: no client limit applies */
	size_t nexempt;
};

/* Debian's copy of the DNS root zone's trust anchor (package dns-root-data). */
#define CFG_DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key"

/* Where the queue lives (queue_backend). */
enum cfg_queue_backend {
	CFG_QUEUE_SQLITE,	/* queue.db in queue_dir: one node (the default) */
	CFG_QUEUE_POSTGRESQL,	/* the database queue_dsn names, shared by a fleet */
};

/* Longest node_id. */
#define CFG_NODE_ID_MAX 63

struct config {
	char *path;			/* file it came from, or "(embedded default)" */
	unsigned *key_line;		/* owned: per key (config_key_info order), the line it was first set on, 0 if not */
	char *hostname;			/* our name in the greeting, Received and EHLO */
	char *queue_dir;
	unsigned queue_dir_line;	/* where queue_dir was set, 0 for the default */
	uint64_t queue_reserve;		/* octets kept back for a full disk, default 8 MiB; 0 none */
	enum cfg_queue_backend queue_backend;
	char *queue_dsn;		/* postgresql: libpq connection string; may hold a
					   password: print and log only config_queue_dsn_mask's form */
	char *queue_password;		/* owned, secret: from the DSN's passfile, read at load
					   (as root); NULL when none; wiped when freed */
	char *node_id;			/* this node in a fleet (claims, logs); default: host name */
	unsigned queue_lease_time;	/* postgresql: seconds a claim lasts unrenewed, default 60 */
	char *user;			/* drop to this user after binding (when started as root); NULL: CFG_DEFAULT_USER */
	char *control_socket;		/* queue control socket path */
	char *local_socket;		/* local submission socket (sendmail), its directory 0755
					   also holding mailq.sock; NULL for "none" */
	char **local_sender_override;	/* user names and "@group"s that may set any -f */
	size_t nlocal_sender_override;
	bool local_sender_any;		/* "*": every local user may (the default) */
	char *masquerade_domain;	/* restricted local senders get login@this; default hostname */
	char *aliases_file;
	struct aliases *aliases;	/* owned; aliases_file parsed, or NULL */
	char *admin_address;		/* local names without an alias go here; NULL: refused */
	int log_level;			/* enum log_level */
	bool log_syslog;		/* log = syslog: lines go to syslog_socket, facility mail */
	char *syslog_socket;		/* default /dev/log */

	struct cfg_listener *listeners;
	size_t nlisteners;

	struct cfg_network *networks;	/* relay_networks */
	size_t nnetworks;

	/* the HTTP listener: metrics and the status page (read-only) */
	struct cfg_http_listener *http_listeners;	/* http_listen; none by default */
	size_t nhttp_listeners;
	struct cfg_network *http_allow;	/* clients it answers; default loopback */
	size_t nhttp_allow;
	unsigned metrics_destinations;	/* destinations with series of their own, default 20 */
	char **relay_domains;		/* lower case, without trailing dot */
	size_t nrelay_domains;

	uint64_t max_message_size;	/* octets, default 35 MiB */
	unsigned max_recipients;	/* per message, default 1000 */
	unsigned hop_limit;		/* Received headers, default 100 */
	unsigned max_errors;		/* bad commands before 421, default 20 */
	unsigned max_connections;	/* overall, default 10000 */
	unsigned max_connections_per_ip;/* default 100 */
	unsigned client_ipv6_prefix;	/* IPv6 bits that are one client for the limits, default 64 */
	struct cfg_rate_limits rate;	/* rate limits per client address and per user */
	unsigned cmd_timeout;		/* seconds, default 300 */
	unsigned data_timeout;		/* seconds, default 600 */
	unsigned min_data_rate;		/* octets per second of message text; 0: no minimum; default 500 */
	enum cfg_vrfy vrfy;
	bool check_rcpt_domain;		/* reject recipient domains that cannot receive mail */
	enum cfg_bare_newline bare_newline;
	bool strict_envelopes;		/* MAIL FROM and RCPT TO need the <> around the address */

	char *tls_cert;			/* PEM; STARTTLS offered when set */
	char *tls_key;
	char *tls_warning;		/* owned; "FILE:LINE: ..." when the certificate is
					   outside its validity period, else NULL */
	char *auth_file;		/* "user:crypt-hash" lines; AUTH offered when set */
	unsigned auth_failure_limit;	/* AUTH failures per client in a window; 0: no limit; default 10 */
	unsigned auth_failure_window;	/* seconds, default 600 */
	/* submission: which senders a client the relay serves may use (config_submission.c) */
	char *sender_login_file;
	struct sender_login *sender_login;	/* owned; the file parsed, or NULL: senders not bound */
	bool from_check;		/* a bound client's From header must be its own; default yes */
	struct cfg_dkim *dkim;		/* dkim_sign lines, in file order */
	size_t ndkim;

	/* outbound */
	char *helo_name;		/* default: hostname */
	char *dns_server;		/* NULL: system resolver */
	char *source_addr;
	enum mxr_family family;
	enum mxr_tls_policy tls_policy;	/* outbound_tls, default dane */
	struct cfg_tls_policy *tls_policies;	/* tls_policy lines, in file order */
	size_t ntls_policies;
	char *dnssec_trust_anchor;	/* the anchor file, or NULL for none */
	char *dnssec_anchors;		/* owned: its text, NULL when validation is off */
	/* TLS reporting (RFC 8460): on when tlsrpt_organization is set */
	char *tlsrpt_organization;	/* "organization-name" of the reports */
	char *tlsrpt_contact;		/* "contact-info"; default postmaster@hostname */
	char *tlsrpt_sender;		/* From of mailed reports; default noreply-smtp-tls-reporting@hostname */
	char *tlsrpt_submitter;		/* TLS-Report-Submitter; default hostname */
	char *ca_file;
	struct cfg_route *routes;
	size_t nroutes;
	unsigned max_deliveries;	/* global concurrency, default 100 */
	unsigned max_per_destination;	/* per domain, default 20 (as Postfix) */
	unsigned reuse_time;		/* seconds a delivered-to connection waits for more; 0: off; default 5 */
	unsigned reuse_limit;		/* messages per reused connection; 0: no limit; default 100 */

	/* retries and bounces (seconds) */
	unsigned *retry_intervals;	/* growing intervals; the last repeats */
	size_t nretry_intervals;
	unsigned max_queue_age;		/* default 5 days */
	unsigned delay_warning;		/* 0: no delay warnings; default 4 hours */
};

/* Longest line of a configuration file, without its line end. */
#define CFG_LINE_MAX 4096
/* Largest configuration file read (octets). */
#define CFG_FILE_MAX (1024 * 1024)
/* Largest file a configuration names (certificate chain, key, users, CA bundle; octets). */
#define CFG_NAMED_FILE_MAX (16 * 1024 * 1024)
/* Most bad lines a reload reports at once. */
#define CFG_RELOAD_ERRORS_MAX 20
/* Most retry intervals. */
#define CFG_RETRY_MAX 32
/* The account the daemon becomes when started as root with no `user` set. */
#define CFG_DEFAULT_USER "mxrelay"

/*
 * Load path, or the embedded default when path is NULL. On error returns
 * -1 and writes "FILE:LINE: what is wrong" into err.
 */
int config_load(const char *path, struct config **out, char *err, size_t errlen);
/*
 * Load the configuration text[0..len) (need not be NUL-terminated), naming
 * it name in errors. Files the text names are checked as config_load does.
 */
int config_load_text(const char *name, const char *text, size_t len,
    struct config **out, char *err, size_t errlen);
/*
 * The same, with every file the text names (tls_cert, tls_key, auth_file,
 * ca_file, route password files, aliases_file) read through files: from the disk and
 * kept there (a set made with from_disk: afterwards it holds them all),
 * or only from what it holds (a process that may not open them).
 */
int config_load_text_files(const char *name, const char *text, size_t len,
    struct file_set *files, struct config **out, char *err, size_t errlen);
/*
 * Load path for local submission (sendmail, mailq run by any user): the
 * same grammar and checks, but no file the configuration names is opened
 * (TLS key, users file, route passwords, aliases), so nothing secret is
 * read and a user who may not read them still gets where to submit.
 */
int config_load_for_submission(const char *path, struct config **out, char *err,
    size_t errlen);
void config_free(struct config *c);
/*
 * What the daemon will need of queue_dir at start: an existing directory
 * (not a symbolic link), or a missing one whose parent exists. 0, or -1
 * with "FILE:LINE: queue_dir: ..." in err.
 */
int config_check_queue_dir(const struct config *c, char *err, size_t errlen);
/*
 * dsn with its password (URI user:password@, password= in the query or
 * in the keyword=value form) replaced by "*****", into out (always
 * terminated): what may be printed or logged.
 */
void config_queue_dsn_mask(const char *dsn, char *out, size_t outlen);
/* Whether s is a node_id: 1 to CFG_NODE_ID_MAX letters, digits, '.', '-', '_'. */
bool config_queue_node_id_valid(const char *s);
/* The embedded default, as text (for `mxrelay check-config --default`). */
const char *config_default_text(void);

/*
 * The dkim_sign lines that sign mail From domain (A-labels, lower case):
 * those of the domain itself, else of its nearest parent that has any;
 * *n of them, or NULL and 0.
 */
const struct cfg_dkim *config_dkim_for(const struct config *c, const char *domain, size_t *n);
/* Whether sa is inside one of the n networks. */
bool config_networks_match(const struct cfg_network *nets, size_t n, const struct sockaddr *sa);
/* Whether sa is inside relay_networks. */
bool config_network_match(const struct config *c, const struct sockaddr *sa);
/* Whether domain (any case, optional trailing dot) is one of relay_domains. */
bool config_relay_domain(const struct config *c, const char *domain);
/* The route for a recipient domain: its own, else "*", else NULL (direct MX). */
const struct cfg_route *config_route(const struct config *c, const char *domain);
/* Parse "CIDR" (a.b.c.d/n, x::y/n, or a bare address) into net; 0 or -1. */
int config_parse_network(const char *s, struct cfg_network *net);
/* Write net as "a.b.c.d/n" or "x::y/n" into buf; returns the length. */
size_t config_network_format(const struct cfg_network *net, char *buf, size_t buflen);
/*
 * Parse a rate: "N/PERIOD" (PERIOD a duration: 60s, 1m, 1h, 1d), or "0",
 * "off" or "unlimited" for no limit. 0, or -1 with what is wrong in *why.
 */
int config_rate_parse(const char *s, struct cfg_rate *out, const char **why);
/* A rate as the file would say it: "10/1m", or none (no limit) as the word none ("off"). */
void config_rate_format(const struct cfg_rate *r, const char *none, char *buf, size_t len);
/*
 * The message and recipient limits of user: its user_rate line's, each
 * part it does not give from user_message_rate and user_recipient_rate.
 * A binary search of the sorted lines.
 */
void config_rate_user(const struct config *c, const char *user, struct cfg_rate *messages,
    struct cfg_rate *recipients);

/* "relay", "submission" or "smtps". */
const char *config_listen_mode_name(enum cfg_listen_mode mode);

/* How a key's value is stored in struct config, for printing it (config_print.c). */
enum config_key_type {
	CONFIG_KEY_STRING,	/* char *, NULL when unset */
	CONFIG_KEY_UINT,	/* unsigned */
	CONFIG_KEY_SIZE,	/* uint64_t octets */
	CONFIG_KEY_DURATION,	/* unsigned seconds */
	CONFIG_KEY_BOOL,	/* bool */
	CONFIG_KEY_RATE,	/* struct cfg_rate */
	CONFIG_KEY_SPECIAL,	/* its own syntax: printed by name */
};
struct config_key_info {
	const char *name;
	enum config_key_type type;
	size_t off;		/* of the field in struct config (not for SPECIAL) */
	bool repeat;		/* may be set on several lines */
};
/* The number of keys of the grammar, and key i of its table (table order). */
size_t config_key_count(void);
void config_key_info(size_t i, struct config_key_info *out);

#endif
