/*
 * client_esmtp: MAIL and RCPT parameters from the server's capabilities.
 *
 * Owns: the parameter text. Never: does I/O.
 */
#include "client_esmtp.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "smtp/smtp_cmd.h"
#include "smtp/smtp_dsn.h"

/* The engine's NOTIFY and RET values are the DSN codec's, so bits pass between them as they are. */
_Static_assert((int)MXR_NOTIFY_NEVER == (int)SMTP_DSN_NOTIFY_NEVER &&
    (int)MXR_NOTIFY_SUCCESS == (int)SMTP_DSN_NOTIFY_SUCCESS &&
    (int)MXR_NOTIFY_FAILURE == (int)SMTP_DSN_NOTIFY_FAILURE &&
    (int)MXR_NOTIFY_DELAY == (int)SMTP_DSN_NOTIFY_DELAY, "enum mxr_notify and enum smtp_dsn_notify differ");
_Static_assert((int)MXR_RET_UNSET == (int)SMTP_DSN_RET_UNSET && (int)MXR_RET_FULL == (int)SMTP_DSN_RET_FULL &&
    (int)MXR_RET_HDRS == (int)SMTP_DSN_RET_HDRS, "enum mxr_ret and enum smtp_dsn_ret differ");

void client_esmtp_mail_params(const struct smtp_caps *caps, const struct client_msg *m,
    char *p, size_t cap)
{
	size_t used = 0;
	p[0] = '\0';
#define CS_ADD(...) do { \
		int k_ = snprintf(p + used, cap - used, __VA_ARGS__); \
		if (k_ > 0 && (size_t)k_ < cap - used) used += (size_t)k_; \
	} while (0)
	if (caps->size)
		CS_ADD(" SIZE=%" PRIu64, m->size);
	if (m->body_8bit && caps->eightbitmime)
		CS_ADD(" BODY=8BITMIME");
	if (m->smtputf8 && caps->smtputf8)
		CS_ADD(" SMTPUTF8");
	/* RFC 8689 4.2.1: the requirement travels on wherever the server takes it. */
	if (m->requiretls && caps->requiretls)
		CS_ADD(" REQUIRETLS");
	if (caps->dsn) {
		if (m->ret == MXR_RET_FULL)
			CS_ADD(" RET=FULL");
		else if (m->ret == MXR_RET_HDRS)
			CS_ADD(" RET=HDRS");
		if (m->envid != NULL && *m->envid != '\0') {
			char x[512];
			if (smtp_xtext_encode(m->envid, strlen(m->envid), x, sizeof(x)) >= 0)
				CS_ADD(" ENVID=%s", x);
		}
	}
#undef CS_ADD
}

void client_esmtp_rcpt_params(const struct smtp_caps *caps, const struct client_rcpt *r,
    char *p, size_t cap)
{
	p[0] = '\0';
	if (!caps->dsn)
		return;
	size_t used = 0;
	if (r->notify != 0) {
		char nb[64];
		smtp_dsn_notify_format(r->notify, nb, sizeof(nb));
		int k = snprintf(p, cap, " NOTIFY=%s", nb);
		if (k > 0 && (size_t)k < cap)
			used = (size_t)k;
	}
	/* The original recipient: the caller's, else the address itself (as Postfix does). */
	char own[400];
	const char *orcpt = r->orcpt;
	if (orcpt == NULL || *orcpt == '\0') {
		bool ascii = true;
		for (const char *c = r->address; *c != '\0'; c++)
			if ((unsigned char)*c >= 0x80)
				ascii = false;
		orcpt = NULL;
		if (ascii && snprintf(own, sizeof(own), "rfc822;%s", r->address) < (int)sizeof(own))
			orcpt = own;
	}
	if (orcpt != NULL) {
		char x[1024];
		const char *semi = strchr(orcpt, ';');
		if (semi != NULL && semi > orcpt &&
		    smtp_xtext_encode(semi + 1, strlen(semi + 1), x, sizeof(x)) >= 0)
			snprintf(p + used, cap - used, " ORCPT=%.*s;%s", (int)(semi - orcpt), orcpt, x);
	}
}

