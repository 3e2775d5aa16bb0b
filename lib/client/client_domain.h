/*
 * client_domain: delivery of one message to the recipients of one domain,
 * walking its MX list (or the smarthost, or an address literal).
 *
 * Owns: the MX lookup for the domain, the copied host and address list,
 * the order of attempts (hosts in the order DNS gives, every address of
 * each in turn), the one session in flight, and the most informative
 * failure seen so far.
 * Never: retries a recipient a session decided (a 5xx is final); leaves a
 * recipient without a status when every host has failed.
 */
#ifndef MXR_CLIENT_DOMAIN_H
#define MXR_CLIENT_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "client_session.h"

struct mxr_context;
struct client_domain;

struct client_domain_hooks {
	void (*progress)(void *arg, const struct client_rcpt *r, const struct client_outcome *o);
	/* A final status; the hook sets r->decided. */
	void (*decide)(void *arg, struct client_rcpt *r, const struct client_outcome *o);
	/* Every recipient is decided; the owner frees d later, not from inside this hook. */
	void (*done)(void *arg, struct client_domain *d);
	void *arg;
};

/*
 * Start delivering msg to rcpts[0..n) of domain (lower case; literal when
 * it is "[...]"). The array is copied; ctx, msg and the recipients must
 * outlive the domain. Results come through hooks, always from the loop.
 */
struct client_domain *client_domain_start(struct mxr_context *ctx, const struct client_msg *msg,
    const char *domain, bool literal, struct client_rcpt *const *rcpts, size_t n,
    const struct client_domain_hooks *hooks);

/* Stop (cancelling a lookup or session in flight) and free. NULL is fine. */
void client_domain_free(struct client_domain *d);

#endif
