/*
 * queue_store: the durable queue (SQLite in WAL mode, synchronous=FULL).
 *
 * Owns: the on-disk layout (messages, recipients with per-recipient state,
 * message bodies, delivery history), queue ids, and group commit: writes
 * of messages that finish at the same moment share one transaction and so
 * one fsync, done on a writer thread so the event loop never waits on disk.
 * Never: speaks SMTP, decides policy, or reports success before the data
 * is on stable storage.
 */
#ifndef MXR_QUEUE_STORE_H
#define MXR_QUEUE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mxrelay/mxrelay.h"

#define QUEUE_ID_LEN 20		/* printable queue id length */

struct event_base;
struct queue_store;
struct queue_writer;

struct queue_rcpt_in {
	const char *address;	/* "local@domain" after source-route stripping */
	unsigned notify;	/* enum mxr_notify bits, 0 if not given */
	const char *orcpt;	/* decoded "type;addr", or NULL */
};

struct queue_envelope {
	const char *sender;	/* "" for the null path */
	const char *envid;	/* decoded, or NULL */
	enum mxr_ret ret;
	bool smtputf8;
	bool body_8bit;
	const char *client_ip;
	const char *client_helo;
	const char *auth_user;	/* or NULL */
	const char *protocol;	/* "ESMTPSA" etc. */
	time_t received_at;
	const struct queue_rcpt_in *rcpts;
	size_t nrcpts;
};

/*
 * Open (creating when needed) the queue under dir. base is the loop on
 * which commit callbacks run. Returns NULL and fills err on failure.
 */
struct queue_store *queue_store_open(struct event_base *base, const char *dir,
    char *err, size_t errlen);
/* Finish pending commits (their callbacks run) and close. NULL is fine. */
void queue_store_close(struct queue_store *q);

/* Start a new message; the writer has its queue id at once (for Received). */
struct queue_writer *queue_writer_new(struct queue_store *q);
const char *queue_writer_id(const struct queue_writer *w);
/*
 * Append message octets (wire form, CRLF line ends, unstuffed). Small
 * messages stay in memory; large ones spill to a file, so memory does not
 * grow with message size. Returns 0, or -1 on a write error (disk full).
 */
int queue_writer_append(struct queue_writer *w, const void *data, size_t len);
uint64_t queue_writer_size(const struct queue_writer *w);

typedef void queue_commit_cb(void *arg, bool ok, const char *err);
/*
 * Make the message and its envelope durable, then call cb from the loop:
 * ok true means it is on stable storage (the 250 may be sent). Takes
 * ownership of w in every case. env is copied before this returns.
 */
void queue_writer_commit(struct queue_writer *w, const struct queue_envelope *env,
    queue_commit_cb *cb, void *arg);
/* Drop a message that will not be accepted. NULL is fine. */
void queue_writer_abort(struct queue_writer *w);

#endif
