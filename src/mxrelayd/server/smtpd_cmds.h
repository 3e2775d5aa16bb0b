/*
 * smtpd_cmds: the server's command table and the handlers of every
 * command except the message text (smtpd_data) and AUTH (smtpd_auth).
 *
 * Owns: the one place that says which command is allowed in which state,
 * which may run before TLS on a listener that wants TLS first, which take
 * no argument, how long each command line may be, and what each does.
 * Never: reads input or touches the connection except through the
 * session's reply functions.
 */
#ifndef MXR_SMTPD_CMDS_H
#define MXR_SMTPD_CMDS_H

#include <stdbool.h>
#include <stddef.h>

#include "server/server.h"
#include "smtpd_session.h"
#include "smtp/smtp_cmd.h"

enum smtpd_cmd_flag {
	SMTPD_CMD_PRE_TLS = 1 << 0,	/* allowed before STARTTLS where TLS comes first */
	SMTPD_CMD_NO_ARG = 1 << 1,	/* takes no argument (501 otherwise) */
	SMTPD_CMD_NEED_ARG = 1 << 2,	/* needs an argument (501 otherwise) */
};

typedef void smtpd_cmd_fn(struct smtpd_session *s, const struct smtp_cmd *cmd);

struct smtpd_cmd_def {
	enum smtp_verb verb;
	unsigned states;		/* bits (1u << enum smtpd_state) where it may run */
	unsigned flags;			/* enum smtpd_cmd_flag */
	size_t line_max;		/* octets including CRLF */
	smtpd_cmd_fn *fn;
};

/* The table entry of verb, or NULL (unknown or unimplemented verb). */
const struct smtpd_cmd_def *smtpd_cmds_find(enum smtp_verb v);
/* The 503 reply for a command given in the wrong state. */
struct smtpd_reply smtpd_cmds_state_reply(enum smtp_verb v, enum smtpd_state st);
/* Handle one command line (CRLF removed). */
void smtpd_cmds_dispatch(struct smtpd_session *s, const char *line, size_t len);

#endif
