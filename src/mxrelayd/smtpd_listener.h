/*
 * smtpd_listener: the daemon's listening sockets.
 *
 * Owns: binding every configured listener (before root is dropped), the
 * accept loop on the event loop, the connection limits (answered with
 * "421 4.7.0 Too many connections"), and handing accepted sockets to new
 * sessions. Never: speaks SMTP beyond that one refusal line.
 */
#ifndef MXR_SMTPD_LISTENER_H
#define MXR_SMTPD_LISTENER_H

#include <stddef.h>

#include "mxrelayd/config.h"
#include "mxrelayd/smtpd_ctx.h"

/* Listen queue length: a small one drops connections under load. */
#define SMTPD_LISTEN_BACKLOG 4096

struct smtpd_listener;

/* Bind every listener of cfg (while still root); NULL with err on failure. */
struct smtpd_listener *smtpd_listener_bind(const struct config *cfg, char *err, size_t errlen);
/* Listen and start accepting on ctx->base into sessions of ctx (once ready). */
void smtpd_listener_start(struct smtpd_listener *l, struct smtpd_ctx *ctx);
/* Stop accepting and close the sockets (sessions go on). */
void smtpd_listener_stop(struct smtpd_listener *l);
void smtpd_listener_free(struct smtpd_listener *l);

#endif
