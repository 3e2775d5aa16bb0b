/*
 * sts_cache: MTA-STS policies in memory, kept in the queue store (see
 * sts_cache.h).
 */
#include "sts_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/queue_side.h"
#include "queue/queue_store.h"
#include "util/log.h"
#include "util/xalloc.h"

#define STS_CACHE_BUCKETS 4096
/* Most policies held: past it a new one is only written to the store (logged once). */
#define STS_CACHE_MAX 100000

/* One domain's policy. */
struct sts_cache_entry {
	struct sts_cache_entry *next;	/* the bucket's chain */
	char *domain;			/* owned, lower case */
	char id[33];
	char *text;			/* owned */
	int64_t fetched, expires;
};

struct sts_cache {
	struct queue_store *q;		/* borrowed */
	struct queue_side *side;	/* borrowed, or NULL */
	struct sts_cache_entry *buckets[STS_CACHE_BUCKETS];
	size_t n;
	bool full_said;
};

/* FNV-1a of a domain, for its bucket. */
static size_t sts_cache_bucket(const char *domain)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)domain; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h % STS_CACHE_BUCKETS;
}

static struct sts_cache_entry *sts_cache_find(const struct sts_cache *c, const char *domain)
{
	struct sts_cache_entry *e = c->buckets[sts_cache_bucket(domain)];
	while (e != NULL && strcmp(e->domain, domain) != 0)
		e = e->next;
	return e;
}

/* Keep a policy in memory, replacing the domain's earlier one. */
static void sts_cache_put(struct sts_cache *c, const char *domain, const char *id,
    const char *text, int64_t fetched, int64_t expires)
{
	struct sts_cache_entry *e = sts_cache_find(c, domain);
	if (e == NULL && c->n >= STS_CACHE_MAX) {
		if (!c->full_said)
			log_msg(LOG_LVL_WARN, "event=mta-sts-cache-full policies=%zu note=\"further "
			    "policies are kept in the store only until a restart\"", c->n);
		c->full_said = true;
		return;
	}
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->domain = xstrdup(domain);
		size_t b = sts_cache_bucket(domain);
		e->next = c->buckets[b];
		c->buckets[b] = e;
		c->n++;
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	free(e->text);
	e->text = xstrdup(text);
	e->fetched = fetched;
	e->expires = expires;
}

/* queue_sts_fn: a stored policy into memory. */
static bool sts_cache_take(void *arg, const struct queue_sts_policy *p)
{
	sts_cache_put(arg, p->domain, p->id, p->policy, p->fetched, p->expires);
	return true;
}

static bool sts_cache_load(void *arg, const char *domain, struct mxr_sts_cached *out)
{
	const struct sts_cache_entry *e = sts_cache_find(arg, domain);
	if (e == NULL)
		return false;
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", e->id);
	snprintf(out->text, sizeof(out->text), "%s", e->text);
	out->fetched = e->fetched;
	out->expires = e->expires;
	return true;
}

/* On the side thread: one policy written. Not fatal: memory holds it; only a restart forgets. */
static void sts_cache_write(struct queue_store *q, void *arg)
{
	struct queue_sts_policy *p = arg;
	char err[256];
	if (queue_sts_save(q, p, err, sizeof(err)) != 0)
		log_msg(LOG_LVL_WARN, "domain=%s event=mta-sts-cache-write-failed reason=\"%s\"",
		    p->domain, err);
}

static void sts_cache_written(void *arg)
{
	free(arg);
}

static void sts_cache_save(void *arg, const char *domain, const struct mxr_sts_cached *cached)
{
	struct sts_cache *c = arg;
	sts_cache_put(c, domain, cached->id, cached->text, cached->fetched, cached->expires);
	struct queue_sts_policy *p = xcalloc(1, sizeof(*p));
	snprintf(p->domain, sizeof(p->domain), "%s", domain);
	snprintf(p->id, sizeof(p->id), "%s", cached->id);
	snprintf(p->policy, sizeof(p->policy), "%s", cached->text);
	p->fetched = cached->fetched;
	p->expires = cached->expires;
	if (c->side != NULL) {
		queue_side_run(c->side, sts_cache_write, sts_cache_written, p);
		return;
	}
	sts_cache_write(c->q, p);
	free(p);
}

struct sts_cache *sts_cache_new(struct queue_store *q, struct queue_side *side)
{
	struct sts_cache *c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->side = side;
	char err[256];
	if (queue_sts_list(q, (int64_t)time(NULL), sts_cache_take, c, err, sizeof(err)) < 0)
		log_msg(LOG_LVL_WARN, "event=mta-sts-cache-read-failed reason=\"%s\" "
		    "note=\"policies are fetched again as they are needed\"", err);
	return c;
}

void sts_cache_store(struct sts_cache *c, struct mxr_sts_store *out)
{
	*out = (struct mxr_sts_store){ .load = sts_cache_load, .save = sts_cache_save, .arg = c };
}

size_t sts_cache_count(const struct sts_cache *c)
{
	return c != NULL ? c->n : 0;
}

void sts_cache_free(struct sts_cache *c)
{
	if (c == NULL)
		return;
	for (size_t b = 0; b < STS_CACHE_BUCKETS; b++) {
		for (struct sts_cache_entry *e = c->buckets[b]; e != NULL;) {
			struct sts_cache_entry *next = e->next;
			free(e->domain);
			free(e->text);
			free(e);
			e = next;
		}
	}
	free(c);
}
