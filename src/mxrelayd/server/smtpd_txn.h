/*
 * smtpd_txn: one mail transaction of a server session (RFC 5321 3.3),
 * from MAIL to the reply after the message.
 *
 * Owns: the envelope as taken (sender, parameters, recipients), the queue
 * writer until it is committed or aborted, and the state of the message
 * text being received (DATA decoder or BDAT chunk bookkeeping).
 * Never: does I/O or replies; the session and smtpd_data drive it.
 * A session holds no transaction between messages, so idle sessions stay small.
 */
#ifndef MXR_SMTPD_TXN_H
#define MXR_SMTPD_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "queue/queue_store.h"
#include "smtpd_params.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_hdrscan.h"

struct smtpd_submit;

struct smtpd_rcpt {
	char *address;		/* owned; "local@domain" after route stripping */
	unsigned notify;	/* enum mxr_notify bits */
	char *orcpt;		/* owned, decoded; or NULL */
};

struct smtpd_txn {
	char *sender;			/* owned; "" for the null path */
	struct smtpd_mail_params mail;	/* parameters of MAIL */
	struct smtpd_rcpt *rcpts;	/* owned array */
	size_t nrcpts;
	size_t rcpt_cap;
	unsigned refusals;		/* RCPTs refused by the limit or relay policy */
	time_t started;

	struct queue_writer *writer;	/* owned until commit/abort */
	char queue_id[QUEUE_ID_LEN + 1];
	uint64_t data_size;		/* message octets taken (Received excluded) */
	bool any_8bit;
	bool too_big;			/* over max_message_size: read on, then 552 */
	bool write_error;		/* the queue refused octets: 452 at the end */
	bool too_many_hops;		/* more Received fields than hop_limit */

	struct smtp_data_dec dec;	/* DATA; set up when DATA starts */

	bool bdat;			/* a BDAT chunk was taken: DATA is no longer allowed */
	struct smtp_data_lines bdat_lines;/* line ends across BDAT chunks; set up at the first */
	struct smtp_hdrscan hdr;	/* Received count and Message-ID of the decoded text */
	struct smtpd_submit *submit;	/* owned: the header section of a submission, or NULL */
};

struct smtpd_txn *smtpd_txn_new(const char *sender, const struct smtpd_mail_params *mp);
/* Free the transaction, aborting the queue writer if it still has one. NULL is fine. */
void smtpd_txn_free(struct smtpd_txn *t);
void smtpd_txn_add_rcpt(struct smtpd_txn *t, const char *address, unsigned notify,
    const char *orcpt);

#endif
