/*
 * smtpd_data: the message text of a server transaction, by DATA
 * (RFC 5321 4.1.1.4) or BDAT chunks (RFC 3030), into the durable queue.
 *
 * Owns: the 354 and the Received trace field put in front of the text,
 * streaming decoded octets to the queue writer as they arrive, the size
 * and hop limits, the bare CR/LF guard, the commit and the reply that
 * only follows it.
 * Never: changes a message octet besides adding the Received field;
 * never answers 250 before the queue says the message is on stable storage.
 */
#ifndef MXR_SMTPD_DATA_H
#define MXR_SMTPD_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "smtpd_session.h"
#include "smtp/smtp_cmd.h"

/* DATA was accepted by the command table: start taking the text. */
void smtpd_data_start(struct smtpd_session *s);
/* BDAT size [LAST]: read one chunk (refused chunks are read and dropped). */
void smtpd_data_bdat(struct smtpd_session *s, const struct smtp_cmd *cmd);
/*
 * Take buffered message octets (session in DATA or BDAT state). Returns
 * true when it made progress and the caller should go on, false when it
 * needs more input or the session stopped reading.
 */
bool smtpd_data_feed(struct smtpd_session *s);
/* Parse a BDAT argument "size [LAST]"; -1 on bad syntax. */
int smtpd_data_bdat_arg(const char *arg, size_t len, uint64_t *size, bool *last);

#endif
