/*
 * smtpd_params: the ESMTP parameters a MAIL or RCPT command may carry,
 * checked and decoded for the server (RFC 1870 SIZE, RFC 6152 BODY,
 * RFC 3461 RET/ENVID/NOTIFY/ORCPT, RFC 6531 SMTPUTF8, RFC 4954 AUTH,
 * RFC 8689 REQUIRETLS).
 *
 * Owns: which parameters the server takes, their value grammar and the
 * reply for each fault. Never: does I/O or keeps state between commands.
 */
#ifndef MXR_SMTPD_PARAMS_H
#define MXR_SMTPD_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mxrelay/mxrelay.h"
#include "server/server.h"
#include "smtp/smtp_cmd.h"

#define SMTPD_ENVID_MAX 100	/* RFC 3461 4.4: ENVID at most 100 characters */
#define SMTPD_ORCPT_MAX 500	/* RFC 3461 4.2: ORCPT at most 500 characters */

struct smtpd_mail_params {
	uint64_t size;			/* SIZE=, 0 when not given */
	bool body_8bitmime;		/* BODY=8BITMIME */
	enum mxr_ret ret;
	bool has_envid;
	char envid[SMTPD_ENVID_MAX + 1];/* decoded */
	bool smtputf8;
	bool requiretls;		/* REQUIRETLS (RFC 8689): only taken over TLS */
};

struct smtpd_rcpt_params {
	unsigned notify;		/* enum mxr_notify bits, 0 when not given */
	bool has_orcpt;
	char orcpt[SMTPD_ORCPT_MAX + 1];/* decoded "type;address" */
};

/*
 * Check the parameters of a MAIL command against max_size (0: no limit).
 * Returns true, or false with *reply set (552 5.3.4 too big, 555 5.5.4
 * unknown or unsupported, 501 5.5.4 bad value or duplicate).
 */
bool smtpd_params_mail(const struct smtp_param *p, size_t n, uint64_t max_size,
    struct smtpd_mail_params *out, struct smtpd_reply *reply);

/* Check the parameters of a RCPT command; false with *reply on a fault. */
bool smtpd_params_rcpt(const struct smtp_param *p, size_t n,
    struct smtpd_rcpt_params *out, struct smtpd_reply *reply);

#endif
