/*
 * client_txn: the transaction half of an outbound session: MAIL, RCPT
 * (pipelined when offered), DATA and the streaming of the message
 * through the dot-stuffing encoder, RSET between transactions, and the
 * split of a recipient list at the server's limit (452 4.5.3) into as
 * many transactions as it takes.
 *
 * Owns: the recipients a session carries for one message (borrowed
 * pointers, their per-session state), the batch in flight, the streaming
 * buffers.
 * Never: connects, greets, negotiates TLS or AUTH, or closes the
 * connection itself: it asks client_session for that; never sends the
 * message without an accepted recipient, nor twice to a recipient whose
 * message was sent.
 */
#ifndef MXR_CLIENT_TXN_H
#define MXR_CLIENT_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client_session.h"
#include "smtp/smtp_data.h"

/* What to do once the replies being drained are in. */
enum client_txn_after_drain { CLIENT_TXN_AFTER_QUIT, CLIENT_TXN_AFTER_NOTHING_ACCEPTED };

/* The message and recipients one session carries now. */
struct client_txn {
	const struct client_msg *msg;	/* borrowed from the delivery; NULL while idle */
	struct client_rcpt **r;		/* owned array; the recipients are borrowed */
	unsigned char *rst;		/* owned: per recipient, where it stands here */
	size_t n;

	size_t *batch;			/* owned: indices into r of the transaction */
	size_t nbatch;
	size_t rcpt_replied;		/* RCPT replies read */
	size_t naccepted;
	bool pipelined;			/* MAIL, RCPTs and DATA went in one write */
	bool dsn;			/* DSN parameters went with this transaction */
	bool need_rset;			/* a MAIL was sent and its transaction not completed */
	bool have_overflow;
	struct client_outcome overflow;	/* the 452 that split the transaction */
	size_t drain;
	enum client_txn_after_drain after_drain;

	char *inbuf;			/* owned, while streaming */
	char *outbuf;			/* owned, encoder bound, while streaming */
	uint64_t off;
	uint64_t wire_out;		/* encoded octets of the message written to the connection */
	uint64_t reported;		/* octets sent as the last DATA progress step said */
	struct smtp_data_enc enc;
	bool dot_sent;			/* the final dot went out and is not answered yet */
};

/* Take msg and rcpts[0..n) (the array is copied, the recipients borrowed). */
void client_txn_init(struct client_txn *t, const struct client_msg *msg,
    struct client_rcpt *const *rcpts, size_t n);
/* Release what t owns and forget the recipients. */
void client_txn_clear(struct client_txn *t);

/* Whether a recipient of the session still waits for its final status. */
bool client_txn_undecided(const struct client_session *s);
/* A progress step for every recipient of the session still undecided. */
void client_txn_progress_all(struct client_session *s, const struct client_outcome *o);
/* The connection is gone: recipients whose message was sent are decided with o. */
void client_txn_conn_lost(struct client_session *s, const struct client_outcome *o);
/* A problem of the message itself: every undecided recipient gets o. */
void client_txn_decide_all(struct client_session *s, const struct client_outcome *o);

/* Begin the next transaction with the recipients not yet tried, or end the transactions. */
void client_txn_begin(struct client_session *s);
/* A complete reply in one of the transaction states (MAIL to RSET). */
void client_txn_on_reply(struct client_session *s);
/*
 * The output drained below the low-water mark while streaming, or, after
 * the final dot, drained entirely.
 */
void client_txn_on_drained(struct client_session *s);

#endif
