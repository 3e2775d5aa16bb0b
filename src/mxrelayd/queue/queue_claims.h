/*
 * queue_claims: a set of recipient ids (ids are > 0), the in-memory claims
 * of a backend: the recipients this process handed to its scheduler and
 * has not heard the end of. Open addressing, loop thread only.
 *
 * Owns: its slots. Never: stores anything (a backend that shares its
 * claims with other nodes stores them itself, as leases).
 */
#ifndef MXR_QUEUE_CLAIMS_H
#define MXR_QUEUE_CLAIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct queue_claims {
	int64_t *slots;			/* 0 = empty, -1 = deleted; owned */
	size_t cap;			/* power of two */
	size_t used;			/* live entries */
	size_t filled;			/* live + deleted */
};

bool queue_claims_has(const struct queue_claims *c, int64_t id);
void queue_claims_add(struct queue_claims *c, int64_t id);
void queue_claims_release(struct queue_claims *c, int64_t id);
/* Call fn for every id claimed (none may be added or released meanwhile). */
void queue_claims_each(const struct queue_claims *c, void (*fn)(void *arg, int64_t id), void *arg);
void queue_claims_free(struct queue_claims *c);

#endif
