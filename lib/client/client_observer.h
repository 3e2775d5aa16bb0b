/*
 * client_observer: telling the caller's struct mxr_observer of the
 * engine's network events (connections, TLS handshakes, lookups).
 *
 * Owns: the NULL checks (no observer, or a member left NULL) and the
 * clock a lookup is timed with. Never: keeps state or decides anything.
 */
#ifndef MXR_CLIENT_OBSERVER_H
#define MXR_CLIENT_OBSERVER_H

#include "mxrelay/mxrelay.h"

/* Seconds on the monotonic clock (past 0): when a lookup starts. */
double client_observer_clock(void);
void client_observer_connected(const struct mxr_observer *ob);
void client_observer_tls(const struct mxr_observer *ob, const char *version);
/* A lookup that began at started (client_observer_clock) ended now. */
void client_observer_resolved(const struct mxr_observer *ob, double started);
/* What a TLS policy met on one attempt (RFC 8460). */
void client_observer_tls_report(const struct mxr_observer *ob, const struct mxr_tls_report *r);

#endif
