/*
 * control_public: the read-only queue listing for every local user, as
 * Postfix's mailq shows the queue to anyone.
 *
 * Owns: the socket "mailq.sock" beside local_socket (mode 0666, in the
 * public directory), speaking the control protocol of control.h but
 * taking only "list" and "list-json": envelope data (id, size, age,
 * sender, recipients and their state), never a header or a body.
 * Never: changes the queue; anything else gets "error usage"; changing
 * the queue stays with the control socket (root and the daemon's user).
 */
#ifndef MXR_CONTROL_PUBLIC_H
#define MXR_CONTROL_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct event_base;
struct queue_store;
struct control_public;

/* The listing socket's path for cfg into buf; false without local_socket. */
bool control_public_path(const struct config *cfg, char *buf, size_t len);
/*
 * Listen on the listing socket (none without local_socket: an object that
 * does nothing). NULL with err on failure.
 */
struct control_public *control_public_new(struct event_base *base, const struct config *cfg,
    struct queue_store *q, char *err, size_t errlen);
/* Close every connection and remove the socket. NULL is fine. */
void control_public_free(struct control_public *c);

#endif
