/*
 * net_listen: a TCP socket bound to a listening address, for the SMTP and
 * HTTP listeners alike.
 *
 * Owns: the socket options every listener wants (non-blocking,
 * close-on-exec, SO_REUSEADDR so a restart does not wait out TIME_WAIT,
 * IPV6_V6ONLY so [::] and 0.0.0.0 are two listeners) and the bind, which
 * may need root and so happens before the privilege drop.
 * Never: calls listen(); the caller does when it is ready to accept.
 */
#ifndef MXR_NET_LISTEN_H
#define MXR_NET_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* Bound socket for addr (text names it in errors); -1 with err "listen TEXT: cause". */
int net_listen_bind(const struct sockaddr_storage *addr, socklen_t addrlen, const char *text,
    char *err, size_t errlen);

#endif
