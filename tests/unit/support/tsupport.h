/*
 * tsupport: small helpers the unit-test programs share.
 *
 * Owns: building socket addresses from text and opening a loopback
 * listener on a free port. Never: used by the code under test.
 */
#ifndef MXR_TSUPPORT_H
#define MXR_TSUPPORT_H

#include <stdint.h>
#include <sys/socket.h>

/* The socket address of text address a (IPv4 or IPv6, port 0); fails the test otherwise. */
struct sockaddr_storage tsupport_sockaddr(const char *a);
/* A listening TCP socket on 127.0.0.1 at a free port (written to *port); fails the test otherwise. */
int tsupport_listen_loopback(int backlog, uint16_t *port);

#endif
