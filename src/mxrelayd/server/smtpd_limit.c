/*
 * smtpd_limit: live connection counts, overall and per client address.
 *
 * Owns: the per-address hash table (chained, entries freed when their
 * count falls to zero, so it holds only addresses with open connections),
 * and the key that says which addresses are one client: an IPv4 address,
 * or an IPv6 address cut to its network prefix (one host usually has a
 * whole /64 to choose addresses from).
 * Never: does I/O; never lets a count wrap.
 */
#include "smtpd_limit.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

#define SMTPD_LIMIT_BUCKETS 4096	/* power of two */

struct smtpd_limit_ent {
	struct smtpd_limit_ent *next;	/* owned chain */
	struct smtpd_limit_key key;
	unsigned count;
};

struct smtpd_limit {
	unsigned max_total;
	unsigned max_per_ip;
	unsigned v6_prefix;			/* IPv6 bits that name a client */
	unsigned total;
	struct smtpd_limit_ent **buckets;	/* owned, SMTPD_LIMIT_BUCKETS */
};

void smtpd_limit_set_max(struct smtpd_limit *l, unsigned max_total, unsigned max_per_ip)
{
	l->max_total = max_total;
	l->max_per_ip = max_per_ip;
}

bool smtpd_limit_key_of(const struct sockaddr *sa, unsigned v6_prefix, struct smtpd_limit_key *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		k->b[0] = 4;
		memcpy(k->b + 1, &sin->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			k->b[0] = 4;
			memcpy(k->b + 1, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			unsigned bits = v6_prefix > 128 ? 128 : v6_prefix;
			k->b[0] = 6;
			memcpy(k->b + 1, sin6->sin6_addr.s6_addr, bits / 8);
			if (bits % 8 != 0)
				k->b[1 + bits / 8] = (uint8_t)(sin6->sin6_addr.s6_addr[bits / 8] &
				    (0xff00u >> (bits % 8)));
		}
		return true;
	}
	return false;
}

/* FNV-1a over the key: spreading is all that is needed here. */
uint32_t smtpd_limit_key_hash(const struct smtpd_limit_key *k)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(k->b); i++) {
		h ^= k->b[i];
		h *= 16777619u;
	}
	return h;
}

static size_t smtpd_limit_hash(const struct smtpd_limit_key *k)
{
	return smtpd_limit_key_hash(k) & (SMTPD_LIMIT_BUCKETS - 1);
}

struct smtpd_limit *smtpd_limit_new(unsigned max_total, unsigned max_per_ip, unsigned v6_prefix)
{
	struct smtpd_limit *l = xcalloc(1, sizeof(*l));
	l->max_total = max_total;
	l->max_per_ip = max_per_ip;
	l->v6_prefix = v6_prefix;
	l->buckets = xcalloc(SMTPD_LIMIT_BUCKETS, sizeof(*l->buckets));
	return l;
}

void smtpd_limit_free(struct smtpd_limit *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < SMTPD_LIMIT_BUCKETS; i++) {
		struct smtpd_limit_ent *e = l->buckets[i];
		while (e != NULL) {
			struct smtpd_limit_ent *next = e->next;
			free(e);
			e = next;
		}
	}
	free(l->buckets);
	free(l);
}

/* The entry for k, or NULL; *slot is where a new one would be linked. */
static struct smtpd_limit_ent *smtpd_limit_find(struct smtpd_limit *l,
    const struct smtpd_limit_key *k, struct smtpd_limit_ent ***slot)
{
	struct smtpd_limit_ent **p = &l->buckets[smtpd_limit_hash(k)];
	while (*p != NULL && memcmp((*p)->key.b, k->b, sizeof(k->b)) != 0)
		p = &(*p)->next;
	*slot = p;
	return *p;
}

enum smtpd_limit_verdict smtpd_limit_acquire(struct smtpd_limit *l, const struct sockaddr *sa)
{
	struct smtpd_limit_key k;
	struct smtpd_limit_ent **slot;
	if (l->max_total != 0 && l->total >= l->max_total)
		return SMTPD_LIMIT_TOTAL;
	if (!smtpd_limit_key_of(sa, l->v6_prefix, &k)) {
		l->total++;
		return SMTPD_LIMIT_OK;
	}
	struct smtpd_limit_ent *e = smtpd_limit_find(l, &k, &slot);
	if (e != NULL && l->max_per_ip != 0 && e->count >= l->max_per_ip)
		return SMTPD_LIMIT_PER_IP;
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->key = k;
		*slot = e;
	}
	e->count++;
	l->total++;
	return SMTPD_LIMIT_OK;
}

void smtpd_limit_release(struct smtpd_limit *l, const struct sockaddr *sa)
{
	struct smtpd_limit_key k;
	struct smtpd_limit_ent **slot;
	if (l->total == 0)
		panic("smtpd_limit: release without acquire");
	l->total--;
	if (!smtpd_limit_key_of(sa, l->v6_prefix, &k))
		return;
	struct smtpd_limit_ent *e = smtpd_limit_find(l, &k, &slot);
	if (e == NULL || e->count == 0)
		panic("smtpd_limit: release of an address never counted");
	if (--e->count == 0) {
		*slot = e->next;
		free(e);
	}
}

unsigned smtpd_limit_total(const struct smtpd_limit *l)
{
	return l->total;
}

unsigned smtpd_limit_count(const struct smtpd_limit *l, const struct sockaddr *sa)
{
	struct smtpd_limit_key k;
	struct smtpd_limit_ent **slot;
	if (!smtpd_limit_key_of(sa, l->v6_prefix, &k))
		return 0;
	struct smtpd_limit_ent *e = smtpd_limit_find((struct smtpd_limit *)l, &k, &slot);
	return e != NULL ? e->count : 0;
}
