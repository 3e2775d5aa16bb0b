/*
 * sts_cache: MTA-STS policies in the queue store (see sts_cache.h).
 * Both calls are small synchronous statements on the store's read
 * connection, made from the loop: a load when a domain is first asked
 * about, a save after each fetch.
 */
#include "sts_cache.h"

#include <stdio.h>
#include <string.h>

#include "queue/queue_store.h"
#include "util/log.h"

static bool sts_cache_load(void *arg, const char *domain, struct mxr_sts_cached *out)
{
	struct queue_sts_policy p;
	char err[256];
	int rc = queue_sts_load(arg, domain, &p, err, sizeof(err));
	if (rc < 0)
		log_msg(LOG_LVL_WARN, "domain=%s event=mta-sts-cache-read-failed reason=\"%s\"", domain,
		    err);
	if (rc != 1)
		return false;
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", p.id);
	snprintf(out->text, sizeof(out->text), "%s", p.policy);
	out->fetched = p.fetched;
	out->expires = p.expires;
	return true;
}

static void sts_cache_save(void *arg, const char *domain, const struct mxr_sts_cached *c)
{
	struct queue_sts_policy p;
	memset(&p, 0, sizeof(p));
	snprintf(p.domain, sizeof(p.domain), "%s", domain);
	snprintf(p.id, sizeof(p.id), "%s", c->id);
	snprintf(p.policy, sizeof(p.policy), "%s", c->text);
	p.fetched = c->fetched;
	p.expires = c->expires;
	char err[256];
	/* Not fatal: the engine keeps the policy in memory; only a restart forgets it. */
	if (queue_sts_save(arg, &p, err, sizeof(err)) != 0)
		log_msg(LOG_LVL_WARN, "domain=%s event=mta-sts-cache-write-failed reason=\"%s\"",
		    domain, err);
}

void sts_cache_store(struct queue_store *q, struct mxr_sts_store *out)
{
	*out = (struct mxr_sts_store){ .load = sts_cache_load, .save = sts_cache_save, .arg = q };
}
