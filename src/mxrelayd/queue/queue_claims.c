/*
 * queue_claims: a set of recipient ids, open addressing with linear
 * probing (see queue_claims.h).
 *
 * Owns: the slots. Never: touches a store.
 */
#include "queue_claims.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static size_t queue_claims_slot(int64_t id, size_t cap)
{
	uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15u;
	return (size_t)(h >> 17) & (cap - 1);
}

bool queue_claims_has(const struct queue_claims *c, int64_t id)
{
	if (c->cap == 0)
		return false;
	for (size_t i = queue_claims_slot(id, c->cap);; i = (i + 1) & (c->cap - 1)) {
		if (c->slots[i] == id)
			return true;
		if (c->slots[i] == 0)
			return false;
	}
}

/* Rebuild the table with room for twice the live entries. */
static void queue_claims_grow(struct queue_claims *c)
{
	struct queue_claims old = *c;
	size_t cap = 64;
	while (cap < (old.used + 1) * 4)
		cap *= 2;
	c->slots = xcalloc(cap, sizeof(*c->slots));
	c->cap = cap;
	c->used = c->filled = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i] > 0)
			queue_claims_add(c, old.slots[i]);
	free(old.slots);
}

void queue_claims_add(struct queue_claims *c, int64_t id)
{
	if (queue_claims_has(c, id))
		return;
	if ((c->filled + 1) * 2 > c->cap)
		queue_claims_grow(c);
	size_t i = queue_claims_slot(id, c->cap);
	while (c->slots[i] > 0)
		i = (i + 1) & (c->cap - 1);
	if (c->slots[i] == 0)
		c->filled++;
	c->slots[i] = id;
	c->used++;
}

void queue_claims_release(struct queue_claims *c, int64_t id)
{
	if (c->cap == 0)
		return;
	for (size_t i = queue_claims_slot(id, c->cap);; i = (i + 1) & (c->cap - 1)) {
		if (c->slots[i] == id) {
			c->slots[i] = -1;
			c->used--;
			return;
		}
		if (c->slots[i] == 0)
			return;
	}
}

void queue_claims_free(struct queue_claims *c)
{
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

void queue_claims_each(const struct queue_claims *c, void (*fn)(void *arg, int64_t id), void *arg)
{
	for (size_t i = 0; i < c->cap; i++)
		if (c->slots[i] > 0)
			fn(arg, c->slots[i]);
}
