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

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "mxrelayd/config.h"
#include "mxrelayd/smtpd_ctx.h"

/* Listen queue length: a small one drops connections under load. */
#define SMTPD_LISTEN_BACKLOG 4096

struct smtpd_listener;

/* Bind every listener of cfg (while still root); NULL with err on failure. */
struct smtpd_listener *smtpd_listener_bind(const struct config *cfg, char *err, size_t errlen);
/* Bind one listener (while root): a non-blocking socket, not yet listening; -1 with err. */
int smtpd_listener_bind_one(const struct cfg_listener *lc, char *err, size_t errlen);
/* Whether a and b are the same address and port (what one bound socket serves). */
bool smtpd_listener_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* The sockets held, and the listener each serves. */
size_t smtpd_listener_count(const struct smtpd_listener *l);
const struct cfg_listener *smtpd_listener_at(const struct smtpd_listener *l, size_t i);
/*
 * The listeners of a new configuration, accepting into ctx: a socket of
 * old bound to the same address goes on (never closed, so no connection
 * is refused), fds[i] (bound by the privileged helper, or -1) serves
 * cfg->listeners[i] otherwise, and the sockets of old that cfg no longer
 * names are closed. Takes every fds[i] (set to -1) and frees old.
 */
struct smtpd_listener *smtpd_listener_replace(struct smtpd_listener *old, const struct config *cfg,
    int *fds, struct smtpd_ctx *ctx);
/* Listen and start accepting on ctx->base into sessions of ctx (once ready). */
void smtpd_listener_start(struct smtpd_listener *l, struct smtpd_ctx *ctx);
/* Stop accepting and close the sockets (sessions go on). */
void smtpd_listener_stop(struct smtpd_listener *l);
void smtpd_listener_free(struct smtpd_listener *l);

#endif
