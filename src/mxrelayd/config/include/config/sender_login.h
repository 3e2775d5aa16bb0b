/*
 * sender_login: which envelope senders (and From header addresses) each
 * authenticated user may use: the sender_login file of mxrelay.conf(5),
 * in the aliases format, one entry per user:
 *
 *     alice:           alice@example.org, @example.net
 *     billing-app:     *
 *     [192.0.2.0/24]:  @app.example.org
 *
 * A target is an address (local@domain), "@domain" (any address at that
 * domain), or "*" (any address: trusted service accounts). A key in
 * brackets is a client network: clients of relay_networks that connect
 * from it without authenticating are bound to its targets; other such
 * clients are not bound.
 *
 * Owns: the grammar (lines starting with white space continue the entry
 * above, '#' comment lines, targets separated by commas or white space),
 * each error naming file and line, and the lookups: a user (any case),
 * the longest network holding a client address, and whether an entry
 * owns an address (any case).
 * Never: does I/O beyond reading the one file, or logs. The table is
 * frozen after parsing.
 */
#ifndef MXR_SENDER_LOGIN_H
#define MXR_SENDER_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Largest file read (octets), longest line. */
#define SENDER_LOGIN_FILE_MAX (4u * 1024u * 1024u)
#define SENDER_LOGIN_LINE_MAX 4096

struct sender_login;
struct sender_login_entry;

/*
 * Parse text[0..len), naming it name in errors: the table, or NULL with
 * "NAME:LINE: what is wrong" in err. Pure: no I/O.
 */
struct sender_login *sender_login_parse(const char *name, const char *text, size_t len,
    char *err, size_t errlen);
/* Read and parse path; NULL with "PATH:LINE: ..." (or "PATH: ...") in err. */
struct sender_login *sender_login_load(const char *path, char *err, size_t errlen);
void sender_login_free(struct sender_login *m);
/* Entries (users and networks). */
size_t sender_login_count(const struct sender_login *m);

/* The entry of an authenticated user (any case), or NULL: the user owns no address. */
const struct sender_login_entry *sender_login_user(const struct sender_login *m,
    const char *user);
/* The entry of the longest network holding addr, or NULL: the client is not bound. */
const struct sender_login_entry *sender_login_client(const struct sender_login *m,
    const struct sockaddr *addr);
/*
 * Whether e may use address ("local@domain"; "" is the null sender, which
 * anyone may use). A NULL entry owns nothing.
 */
bool sender_login_owns(const struct sender_login_entry *e, const char *address);
/* The entry's key as written ("alice", "[192.0.2.0/24]"), for logs. */
const char *sender_login_key(const struct sender_login_entry *e);

#endif
