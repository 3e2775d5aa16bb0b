/*
 * libmxrelay: deliver one message straight to each recipient domain's MX
 * hosts (or through a smarthost), with a status for every recipient, live
 * and at the end.
 *
 * A delivery runs on the caller's libevent loop, so one program can drive
 * many at once; mxr_deliver() is the blocking convenience for one message.
 *
 * Delivery rules (RFC 5321 section 5, RFC 7505): recipients are grouped by
 * domain (case-insensitively), one transaction per domain, split at the
 * server's recipient limit; through a smarthost every domain shares one
 * transaction (one next hop), split the same way; MX hosts are tried in preference order with
 * equal preferences shuffled, every address of every host in turn;
 * implicit MX only when the domain has no MX; null MX fails 5.1.10. A
 * server that names itself helo_name in its greeting or EHLO reply is this
 * host (RFC 5321 6.3): on direct delivery its recipients fail 5.4.6 and no
 * backup MX is tried. An 8-bit message goes only to a server offering
 * 8BITMIME (RFC 6152), else to the next host; when none offers it, 5.6.3. A 5xx
 * is final and never retried at a backup MX; a 4xx on RCPT defers that
 * recipient only; the reply after the final dot decides every recipient of
 * its transaction.
 */
#ifndef MXRELAY_MXRELAY_H
#define MXRELAY_MXRELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

enum mxr_status {
	MXR_PENDING,		/* not decided yet (progress events) */
	MXR_DELIVERED,		/* the next hop took responsibility (2xx after the dot) */
	MXR_TEMPFAIL,		/* deferred: try again later */
	MXR_PERMFAIL,		/* failed for good: bounce */
};

enum mxr_stage {
	MXR_STAGE_RESOLVE,	/* MX / address lookup */
	MXR_STAGE_CONNECT,	/* TCP connect and greeting */
	MXR_STAGE_HELO,		/* EHLO / HELO */
	MXR_STAGE_TLS,		/* STARTTLS or implicit TLS handshake */
	MXR_STAGE_AUTH,		/* AUTH at a smarthost */
	MXR_STAGE_MAIL,
	MXR_STAGE_RCPT,
	MXR_STAGE_DATA,		/* DATA, the message and the reply after the dot */
	MXR_STAGE_DONE,		/* final status of a recipient */
};

/*
 * How a destination's connections are protected: the levels of Postfix's
 * smtp_tls_policy_maps, named by mxr_tls_policy_name() and read back by
 * mxr_tls_policy_parse(). Under every level that requires TLS, a failure
 * is temporary (4.7.5) and the next MX host is tried.
 */
enum mxr_tls_policy {
	MXR_TLS_OPPORTUNISTIC,	/* "may": STARTTLS when offered; plain otherwise; any certificate;
				   a handshake that fails after 220 is followed by one
				   more try of that address in clear text, unless the
				   route authenticates */
	MXR_TLS_NONE,		/* "none": never */
	MXR_TLS_REQUIRED,	/* "verify": STARTTLS required, certificate verified (chain,
				   and a name of the rule's match list; the MX host name
				   by default) */
	MXR_TLS_IMPLICIT,	/* "implicit": TLS from the first byte (port 465), certificate verified */
	MXR_TLS_DANE,		/* "dane": per MX host, DANE where its TLSA records are
				   DNSSEC-secure (RFC 7672), else the domain's MTA-STS
				   policy where it publishes one (RFC 8461), else "may" */
	MXR_TLS_ENCRYPT,	/* "encrypt": STARTTLS required, any certificate */
	MXR_TLS_DANE_ONLY,	/* "dane-only": DANE required: a host without secure TLSA
				   records is not used (4.7.5) */
	MXR_TLS_MTA_STS,	/* "mta-sts": the domain's MTA-STS policy (never DANE);
				   a domain without one is delivered as "may" */
};

/* How the server of a connection was authenticated. */
enum mxr_tls_auth {
	MXR_TLS_AUTH_NONE,	/* not at all (no TLS, or any certificate accepted) */
	MXR_TLS_AUTH_PKIX,	/* certificate chain to the CA store and a name matched */
	MXR_TLS_AUTH_DANE,	/* certificate matched the host's DNSSEC-secure TLSA records */
	MXR_TLS_AUTH_MTA_STS,	/* PKIX, with the host matching the domain's MTA-STS policy */
};

/*
 * A TLS policy for one destination domain, overriding the context's
 * (mxr_options.tls) for direct delivery to it.
 */
struct mxr_tls_rule {
	const char *domain;	/* "example.org"; ".example.org" for every domain under it */
	enum mxr_tls_policy policy;
	/*
	 * MXR_TLS_REQUIRED: the names the certificate may carry, separated by
	 * ':' : "hostname" (the MX host), "nexthop" (the domain),
	 * "dot-nexthop" (any name under the domain), a name, or ".suffix";
	 * NULL: "hostname". Ignored by the other levels.
	 */
	const char *match;
};

enum mxr_family {
	MXR_FAMILY_ANY,		/* IPv6 and IPv4, IPv6 first within a host */
	MXR_FAMILY_PREFER_V4,	/* both, IPv4 first */
	MXR_FAMILY_V4_ONLY,
	MXR_FAMILY_V6_ONLY,
};

/* DSN NOTIFY (RFC 3461 4.1); 0 means the parameter was not given. */
enum mxr_notify {
	MXR_NOTIFY_NEVER = 1 << 0,
	MXR_NOTIFY_SUCCESS = 1 << 1,
	MXR_NOTIFY_FAILURE = 1 << 2,
	MXR_NOTIFY_DELAY = 1 << 3,
};

enum mxr_ret { MXR_RET_UNSET, MXR_RET_FULL, MXR_RET_HDRS };

/* Timeouts in seconds; 0 takes the default (RFC 5321 4.5.3.2). */
struct mxr_timeouts {
	unsigned connect;	/* default 30 */
	unsigned greeting;	/* 300 */
	unsigned helo;		/* 300 */
	unsigned tls;		/* 60 */
	unsigned mail;		/* 300 */
	unsigned rcpt;		/* 300 */
	unsigned data_init;	/* 120 */
	unsigned data_block;	/* 180 */
	unsigned data_term;	/* 600 */
};

/* The policy types of RFC 8460 4.4. */
enum mxr_tls_report_policy {
	MXR_TLSRPT_NO_POLICY,	/* "no-policy-found" */
	MXR_TLSRPT_STS,		/* "sts" */
	MXR_TLSRPT_TLSA,	/* "tlsa" */
};

/*
 * One attempt under a domain's TLS policy as TLS reporting counts it: a
 * session that reached TLS as the policy wanted (result_type NULL), or
 * one that failed it, or a policy that could not be fetched (no host).
 * Strings are valid during the call only.
 */
struct mxr_tls_report {
	const char *policy_domain;	/* the recipient domain, lower case */
	enum mxr_tls_report_policy policy;
	const char *policy_text;	/* STS: the policy, one field a line; TLSA: the records
					   in presentation form, one a line; NULL otherwise */
	const char *mx_host;		/* the receiving MX host, or NULL */
	const char *mx_ip;		/* its address, or NULL */
	const char *mx_helo;		/* the name it greeted with, or NULL */
	const char *source_ip;		/* our address on the connection, or NULL */
	const char *result_type;	/* NULL: success; else an RFC 8460 result type
					   ("starttls-not-supported", "validation-failure", ...) */
	const char *detail;		/* what happened, printable, or NULL */
};

/*
 * Who watches the engine's network events (for counters): every member
 * may be NULL. Called from the loop, from inside the engine (so a
 * callback must not call back into it), never after mxr_context_free.
 */
struct mxr_observer {
	/* A TCP connection to a server was made (a reused one is not made again). */
	void (*connected)(void *arg);
	/* A TLS handshake finished (implicit or after STARTTLS); version as "TLSv1.3", or NULL. */
	void (*tls)(void *arg, const char *version);
	/* A lookup of the destination (MX and addresses, or a smarthost's) ended, well or not. */
	void (*resolved)(void *arg, double seconds);
	/* What a TLS policy met on one attempt, for TLS reporting (RFC 8460). */
	void (*tls_report)(void *arg, const struct mxr_tls_report *r);
	void *arg;
};

/* A cached MTA-STS policy (RFC 8461 5.1). */
struct mxr_sts_cached {
	char id[33];		/* the id of the TXT record it was fetched for */
	char text[8192];	/* the policy, one field a line, as the engine wrote it */
	int64_t fetched;	/* Unix time of the fetch */
	int64_t expires;	/* fetched + max_age */
};

/*
 * Where a context keeps MTA-STS policies beyond its own life (the daemon:
 * its queue store, so they survive restarts). Both run on the loop and
 * must not block for long; the engine keeps its own copy in memory too.
 */
struct mxr_sts_store {
	/* The cached policy of domain (lower case) into *out; false when there is none. */
	bool (*load)(void *arg, const char *domain, struct mxr_sts_cached *out);
	/* Keep p as the policy of domain, replacing any other. */
	void (*save)(void *arg, const char *domain, const struct mxr_sts_cached *p);
	void *arg;
};

struct mxr_options {
	const char *helo_name;	/* EHLO name, also our own name for loops; default: the host's name */
	const char *dns_server;	/* "address[:port]"; NULL: system resolver */
	uint16_t port;		/* destination port; 0: 25 (465 with MXR_TLS_IMPLICIT) */
	const char *source_addr;/* local address to connect from, or NULL */
	enum mxr_family family;
	struct mxr_timeouts timeouts;
	enum mxr_tls_policy tls;
	const char *ca_file;	/* CA bundle for verification; NULL: system store */
	/*
	 * Smarthost "host[:port]" (MX lookup of host) or "[host][:port]"
	 * (no MX lookup), or NULL for direct MX delivery.
	 */
	const char *smarthost;
	const char *auth_user;	/* AUTH PLAIN/LOGIN at the smarthost (never logged) */
	const char *auth_pass;
	unsigned max_parallel;	/* domains delivered at once; 0: 16 */
	/*
	 * Connection reuse (RFC 5321 allows many transactions per session):
	 * a session whose last transaction ended well (2xx, no error) is kept
	 * open this long for the next delivery of the same context to the
	 * same destination (the domain, or the smarthost), which then skips
	 * DNS and connect and sends MAIL at once. 0: off, QUIT after each.
	 */
	unsigned reuse_idle_ms;
	unsigned reuse_max_msgs;	/* messages per connection with reuse; 0: no limit */
	const struct mxr_observer *observer;	/* copied; NULL: nobody watches */
	/*
	 * DNSSEC trust anchors: DS or DNSKEY records in zone-file form, one a
	 * line (the text of a file such as /usr/share/dns/root.key); copied.
	 * NULL: answers are not validated, and DANE never applies.
	 */
	const char *dnssec_anchors;
	/*
	 * Per-domain policies (copied): a rule for the domain itself first,
	 * else the nearest ".parent" rule; names compare without case or a
	 * trailing dot.
	 */
	const struct mxr_tls_rule *tls_rules;
	size_t ntls_rules;
	const struct mxr_sts_store *sts_store;	/* copied; NULL: policies kept in memory only */
	unsigned sts_fetch_timeout;	/* seconds for one MTA-STS policy fetch; 0: 30 */
};

/*
 * The message text, read by offset so that several transactions (one per
 * domain) can read it at once. read_at returns the octets read, 0 at the
 * end, -1 on error. The text may use CRLF or LF line ends; the engine
 * sends CRLF always, dot-stuffed.
 */
struct mxr_source {
	ssize_t (*read_at)(void *arg, uint64_t off, char *buf, size_t n);
	void *arg;
	uint64_t size;		/* total octets */
};

struct mxr_rcpt {
	const char *address;	/* "local@domain", no angle brackets */
	unsigned notify;	/* enum mxr_notify bits, 0 if not given */
	const char *orcpt;	/* ORCPT "addr-type;address" (decoded), or NULL */
};

struct mxr_message {
	const char *sender;	/* envelope sender; "" is the null path <> */
	const struct mxr_rcpt *rcpts;
	size_t nrcpts;
	struct mxr_source src;
	bool body_8bit;		/* send BODY=8BITMIME (the text has octets >= 0x80) */
	bool smtputf8;		/* needs SMTPUTF8 (UTF-8 in the envelope or headers) */
	enum mxr_ret ret;	/* DSN RET, passed on when the next hop offers DSN */
	const char *envid;	/* DSN ENVID (decoded), or NULL */
	const char *log_id;	/* shown as queue=<id> in the engine's log lines of this
				   delivery (the caller's queue id), or NULL */
	uint64_t wire_size;	/* SIZE (RFC 1870): the octets sent, from mxr_source_scan;
				   0 declares src.size */
	/*
	 * REQUIRETLS (RFC 8689): relayed only over TLS that DANE, MTA-STS or a
	 * verified route authenticated, to a server that offers REQUIRETLS
	 * (it is passed on); else the recipients fail 5.7.10. With the null
	 * sender (a bounce) the parameter is passed on where offered, and the
	 * message goes on without it.
	 */
	bool requiretls;
	/*
	 * "TLS-Required: No" (RFC 8689 5): DANE and MTA-STS failures do not
	 * stop the delivery (opportunistic TLS instead); administrator rules
	 * still hold. Ignored with requiretls.
	 */
	bool tls_optional;
};

/*
 * Read src once: *wire_size gets the octets the engine will send for it as
 * RFC 1870 counts them (CR LF line ends, lines past 998 octets broken,
 * without dot-stuffing and the final dot), *any_8bit whether an octet is
 * >= 0x80. -1 when a read fails (errno set).
 */
int mxr_source_scan(const struct mxr_source *src, uint64_t *wire_size, bool *any_8bit);

/* A source over a buffer the caller keeps alive for the delivery. */
struct mxr_source mxr_source_mem(const void *data, size_t len);
/* A source over an open file descriptor (pread); size from fstat. -1 on error. */
int mxr_source_fd(int fd, struct mxr_source *src);

/*
 * What an event tells. A caller that knows only steps may ignore any other
 * kind: every kind but MXR_EVENT_STEP repeats what the last step said and
 * adds a measurement. Kinds may be added; the zero value stays a step.
 */
enum mxr_event_kind {
	MXR_EVENT_STEP,		/* a stage begun, a reply read, a final status */
	MXR_EVENT_DATA_SENT,	/* during DATA: bytes_sent of bytes_total went out;
				   stage MXR_STAGE_DATA, status MXR_PENDING, code 0 */
};

struct mxr_event {
	const char *rcpt;	/* the recipient */
	const char *domain;	/* its domain, lower case */
	enum mxr_stage stage;
	enum mxr_status status;	/* MXR_PENDING for progress; final when stage is DONE */
	const char *mx_host;	/* or NULL */
	const char *mx_ip;	/* or NULL */
	int code;		/* SMTP reply code, or 0 */
	const char *esc;	/* enhanced status code, "" if none */
	const char *text;	/* reply text or what happened, printable */
	enum mxr_event_kind kind;
	/*
	 * MXR_EVENT_DATA_SENT: octets of the message the connection has sent
	 * (handed to the kernel; queued ones not counted), and the octets it
	 * takes as SIZE counts them (RFC 1870: CR LF line ends, without the
	 * dot-stuffing and the final dot); sent never exceeds total and
	 * equals it once the whole message, final dot included, went out.
	 * 0 for other kinds.
	 */
	uint64_t bytes_sent;
	uint64_t bytes_total;
	/* The TLS policy that applied to the host, and what authenticated it (TLS stage and later). */
	enum mxr_tls_policy tls_policy;
	bool tls_testing;	/* MTA-STS in testing mode */
	enum mxr_tls_auth tls_auth;
};

typedef void mxr_event_cb(const struct mxr_event *ev, void *arg);

/* The final status of one recipient. */
struct mxr_result {
	char rcpt[320];
	char domain[256];
	enum mxr_status status;
	enum mxr_stage stage;	/* where it was decided */
	int code;		/* reply that decided it, or 0 (DNS, connection) */
	char esc[16];
	char text[512];
	char mx_host[256];
	char mx_ip[64];
	bool tls;		/* the deciding session was encrypted */
	bool dsn_passed;	/* the next hop offered DSN and got our parameters */
	enum mxr_tls_policy tls_policy;	/* the policy that applied to the deciding host */
	bool tls_testing;	/* it was MTA-STS in testing mode */
	enum mxr_tls_auth tls_auth;	/* what authenticated that host */
};

typedef void mxr_done_cb(const struct mxr_result *results, size_t n, void *arg);

struct mxr_context;
struct mxr_delivery;

/*
 * A context holds what deliveries share: the loop, the resolver, TLS
 * contexts, the options (copied) and, with reuse_idle_ms, the idle
 * connections. Returns NULL and fills err on bad options (unparsable DNS
 * server or source address, unreadable CA file).
 */
struct mxr_context *mxr_context_new(struct event_base *base, const struct mxr_options *opt,
    char *err, size_t errlen);
/* Free ctx; idle connections are closed at once (the loop may not run again to QUIT). */
void mxr_context_free(struct mxr_context *ctx);
/* Idle connections the context keeps now (0 without reuse). */
size_t mxr_context_idle_count(const struct mxr_context *ctx);
/*
 * Say QUIT on every idle connection now, for an orderly stop: each closes
 * on the loop when its 221 arrives (at most 10 s), and the idle count falls
 * to 0 as they go. Connections parked afterwards are kept as usual.
 */
void mxr_context_close_idle(struct mxr_context *ctx);

/*
 * Start delivering msg (copied: the caller's strings may go after the
 * call, but the source must stay readable until done runs). ev may be
 * NULL. done runs once from the loop with one result per recipient, in the
 * order given; the delivery frees itself after done returns.
 */
struct mxr_delivery *mxr_delivery_start(struct mxr_context *ctx, const struct mxr_message *msg,
    mxr_event_cb *ev, mxr_done_cb *done, void *arg);

/*
 * Abandon a delivery that has not called done yet: its lookups are
 * cancelled, its connections closed at once (a message in flight is not
 * completed, so the next hop must not take it), everything it owns is
 * freed, and neither ev nor done runs for it again. The source may go
 * after the call. Not from inside the delivery's own ev or done callback.
 * NULL is fine.
 */
void mxr_delivery_cancel(struct mxr_delivery *d);

/* Blocking: deliver on a private loop; *results (malloc'ed, one per rcpt) is the caller's. */
int mxr_deliver(const struct mxr_options *opt, const struct mxr_message *msg,
    mxr_event_cb *ev, void *arg, struct mxr_result **results, char *err, size_t errlen);

const char *mxr_status_name(enum mxr_status s);	/* "delivered", "deferred", "failed", "pending" */
/* "may", "none", "verify", "implicit", "dane", "encrypt", "dane-only", "mta-sts". */
const char *mxr_tls_policy_name(enum mxr_tls_policy p);
/*
 * A policy by its name, or by the older names "opportunistic" (may) and
 * "required" (verify); false when the name is none of them.
 */
bool mxr_tls_policy_parse(const char *name, enum mxr_tls_policy *out);
/* "none", "pkix", "dane", "mta-sts". */
const char *mxr_tls_auth_name(enum mxr_tls_auth a);
const char *mxr_stage_name(enum mxr_stage s);	/* "resolving", "connecting", ... */

#ifdef __cplusplus
}
#endif
#endif
