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

#include "config/config.h"
#include "server/server.h"

/* Listen queue length: a small one drops connections under load. */
#define SMTPD_LISTEN_BACKLOG 4096

struct smtpd_listener;


#endif
