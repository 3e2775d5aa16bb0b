/*
 * smtp_addr: the RFC 5321 4.1.2 path and mailbox grammar, with RFC 6531
 * UTF-8 extensions.
 *
 * Owns: Reverse-path / Forward-path parsing, source-route stripping
 * (RFC 5321 4.1.1.3), local-part forms (dot-string, quoted-string),
 * domain forms (names, address literals), and the text form of an address.
 * Never: does I/O or DNS; never decides policy (that is the server's).
 */
#ifndef MXR_SMTP_ADDR_H
#define MXR_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 4.5.3.1: 64-octet local part, 255-octet domain, 256-octet path. */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
/* Accept local parts up to this long: real mail exceeds 64 now and then. */
#define SMTP_LOCAL_ACCEPT_MAX 256

enum smtp_addr_flag {
	SMTP_ADDR_NULL_OK = 1 << 0,	/* "<>" is allowed (reverse-path) */
	SMTP_ADDR_UTF8_OK = 1 << 1,	/* non-ASCII UTF-8 allowed (RFC 6531) */
	SMTP_ADDR_NO_DOMAIN_OK = 1 << 2,/* "<Postmaster>" without domain allowed */
	SMTP_ADDR_BARE_OK = 1 << 3,	/* a path without <> is accepted (lenient clients, CLI) */
	/*
	 * A server's RCPT: also take the forms that policy, not syntax, should
	 * judge: any local part without a domain (kind LOCALONLY, with
	 * SMTP_ADDR_NO_DOMAIN_OK) and a domain name with one trailing dot
	 * (stripped: "a@b.test." is "a@b.test", as DNS reads it).
	 */
	SMTP_ADDR_POLICY_FORMS = 1 << 4,
};

enum smtp_addr_kind {
	SMTP_ADDR_MAILBOX,	/* local@domain */
	SMTP_ADDR_NULLPATH,	/* <> */
	SMTP_ADDR_LOCALONLY,	/* local part only (postmaster form) */
};

struct smtp_addr {
	enum smtp_addr_kind kind;
	char local[SMTP_LOCAL_ACCEPT_MAX + 1];	/* as written, quotes included */
	char domain[SMTP_DOMAIN_MAX + 1];	/* name without trailing dot, or literal with brackets */
	bool domain_is_literal;			/* "[192.0.2.1]" or "[IPv6:...]" */
	bool local_is_quoted;			/* local part is a quoted-string */
	bool utf8;				/* non-ASCII octets in local or domain */
	bool had_route;				/* an "@a,@b:" source route was stripped */
};

/*
 * Parse a path at s[0..len): "<" [A-d-l ":"] Mailbox ">" or "<>".
 * On success returns 0 and sets *consumed to the octets used (up to and
 * including '>'); the rest of the line (ESMTP parameters) follows. On
 * failure returns -1 and sets *err to a static reason for a 501 reply.
 */
int smtp_addr_parse_path(const char *s, size_t len, unsigned flags,
    struct smtp_addr *out, size_t *consumed, const char **err);

/* Which part of a path a failed parse blames. */
enum smtp_addr_fault {
	SMTP_ADDR_FAULT_NONE,
	SMTP_ADDR_FAULT_SYNTAX,		/* the path around the mailbox: <>, route, junk (501) */
	SMTP_ADDR_FAULT_MAILBOX,	/* the mailbox itself: local part, domain, length (553) */
};

/* smtp_addr_parse_path that also says, on failure, which part was at fault. */
int smtp_addr_parse_path_ex(const char *s, size_t len, unsigned flags,
    struct smtp_addr *out, size_t *consumed, const char **err,
    enum smtp_addr_fault *fault);

/*
 * Parse a whole string as a mailbox "local@domain" (no <>, no route).
 * The empty string is the null path when flags has SMTP_ADDR_NULL_OK.
 */
int smtp_addr_parse_mailbox(const char *s, size_t len, unsigned flags,
    struct smtp_addr *out, const char **err);

/*
 * Write "local@domain" (or "" for the null path, "local" for local-only),
 * NUL-terminated. Returns its length, or 0 (and "" when buflen > 0) when
 * buf is too small.
 */
size_t smtp_addr_format(const struct smtp_addr *a, char *buf, size_t buflen);

/*
 * Whether a local part as written (dot-string, or quoted-string with its
 * quoted-pairs) is "postmaster" in any case (RFC 5321 4.5.1): postmaster,
 * PostMaster, "postmaster" and "post\master" all are.
 */
bool smtp_addr_local_is_postmaster(const char *local);

/* Whether the address is postmaster, with or without a domain (smtp_addr_local_is_postmaster). */
bool smtp_addr_is_postmaster(const struct smtp_addr *a);

/*
 * Whether s[0..len) is a valid domain name for mail: letters, digits,
 * hyphens (and UTF-8 U-labels when utf8_ok), labels of 1..63 octets, total
 * at most 255, no leading/trailing hyphen. A single trailing dot is NOT
 * allowed here (callers that strip it must do so on purpose).
 */
bool smtp_addr_domain_valid(const char *s, size_t len, bool utf8_ok);

/*
 * Parse an address literal "[1.2.3.4]" or "[IPv6:...]" into a socket
 * address (port left 0). Returns 0 or -1.
 */
struct sockaddr_storage;
int smtp_addr_literal_to_sockaddr(const char *lit, struct sockaddr_storage *ss);

#endif
