/*
 * client_pool: the connection cache of a context: idle sessions kept open
 * between deliveries, keyed by destination (a domain, an address literal
 * or the smarthost), for the next delivery there to take.
 *
 * Owns: the parked sessions (at most CLIENT_POOL_MAX; parking past it
 * closes the oldest), their removal when the peer closes or the idle time
 * passes, and closing all of them when the pool is freed.
 * Never: hands out a session that is closing, or one that may not carry
 * the message (client_session_may_carry: REQUIRETLS, TLS-Required).
 */
#ifndef MXR_CLIENT_POOL_H
#define MXR_CLIENT_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "client_session.h"

#define CLIENT_POOL_MAX 64
#define CLIENT_POOL_KEY_MAX 300

struct client_pool;

struct client_pool *client_pool_new(void);
/* Close every parked session and free. NULL is fine. */
void client_pool_free(struct client_pool *p);

/* Keep the idle session s under key for idle_ms; the pool owns it from now on. */
void client_pool_park(struct client_pool *p, const char *key, struct client_session *s,
    unsigned idle_ms);

/*
 * The most recently parked live session under key that may carry msg, or
 * NULL; the caller owns it.
 */
struct client_session *client_pool_take(struct client_pool *p, const char *key,
    const struct client_msg *msg);

/* Every parked session says QUIT now; each leaves the pool when it has closed. */
void client_pool_close_all(struct client_pool *p);

/* Sessions parked now. */
size_t client_pool_count(const struct client_pool *p);

#endif
