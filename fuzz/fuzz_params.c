/*
 * fuzz_params: arbitrary bytes as the ESMTP parameters of MAIL and RCPT,
 * through the server's checks. Accepted values must respect the caps
 * (ENVID, ORCPT) and NOTIFY must be NEVER alone or a set without it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxrelay/mxrelay.h"
#include "smtpd_params.h"
#include "smtp/smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_param p[SMTP_PARAMS_MAX];
	const char *err = NULL;
	int n = smtp_params_parse((const char *)data, size, size > 0 && data[0] & 1, p,
	    SMTP_PARAMS_MAX, &err);
	if (n < 0)
		return 0;
	struct smtpd_reply reply;
	struct smtpd_mail_params mp;
	memset(&mp, 0, sizeof(mp));
	if (smtpd_params_mail(p, (size_t)n, 1000, &mp, &reply)) {
		if (mp.size > 1000 || strnlen(mp.envid, sizeof(mp.envid)) > SMTPD_ENVID_MAX)
			abort();
	} else if (reply.code < 400 || reply.code > 599 || reply.esc == NULL) {
		abort();
	}
	struct smtpd_rcpt_params rp;
	memset(&rp, 0, sizeof(rp));
	if (smtpd_params_rcpt(p, (size_t)n, &rp, &reply)) {
		if (strnlen(rp.orcpt, sizeof(rp.orcpt)) > SMTPD_ORCPT_MAX)
			abort();
		if ((rp.notify & MXR_NOTIFY_NEVER) && rp.notify != MXR_NOTIFY_NEVER)
			abort();
	} else if (reply.code < 400 || reply.code > 599 || reply.esc == NULL) {
		abort();
	}
	return 0;
}
