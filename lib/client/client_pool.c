/*
 * client_pool: parked outbound sessions of one context, by destination.
 *
 * Owns: a fixed table of at most CLIENT_POOL_MAX entries (key, session,
 * park order). A parked session watches its own connection and idle
 * timer; when it closes, its done hook lands here and the entry goes.
 * Never: frees a session inside that session's own callback other than
 * through the done hook (which allows it), or keeps one past its close.
 */
#include "client_pool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

struct cp_entry {
	char key[CLIENT_POOL_KEY_MAX];
	struct client_session *s;	/* owned; NULL: free slot */
	uint64_t seq;			/* park order: larger is newer */
};

struct client_pool {
	struct cp_entry e[CLIENT_POOL_MAX];
	size_t n;			/* slots in use */
	uint64_t seq;
};

struct client_pool *client_pool_new(void)
{
	return xcalloc(1, sizeof(struct client_pool));
}

/* Forget slot i (the session is the caller's again, or already freed). */
static void cp_clear(struct client_pool *p, size_t i)
{
	p->e[i].s = NULL;
	p->e[i].key[0] = '\0';
	p->n--;
}

/* The slot holding s, or CLIENT_POOL_MAX. */
static size_t cp_find(const struct client_pool *p, const struct client_session *s)
{
	for (size_t i = 0; i < CLIENT_POOL_MAX; i++)
		if (p->e[i].s == s)
			return i;
	return CLIENT_POOL_MAX;
}

/* Parked sessions are never progressing or deciding: they carry no recipient. */
static void cp_no_progress(void *arg, const struct client_rcpt *r, const struct client_outcome *o)
{
	(void)arg;
	(void)r;
	(void)o;
}

static void cp_no_decide(void *arg, struct client_rcpt *r, const struct client_outcome *o)
{
	(void)arg;
	(void)r;
	(void)o;
}

/* A parked session closed (peer gone, idle time up, QUIT done): drop it. */
static void cp_done(void *arg, struct client_session *s, enum client_session_end end,
    const struct client_outcome *fail)
{
	(void)end;
	(void)fail;
	struct client_pool *p = arg;
	size_t i = cp_find(p, s);
	if (i < CLIENT_POOL_MAX) {
		log_msg(LOG_LVL_DEBUG, "pool=%s mx=%s ip=%s event=closed parked=%zu", p->e[i].key,
		    client_session_host(s), client_session_ip(s), p->n - 1);
		cp_clear(p, i);
	}
	client_session_free(s);
}

void client_pool_park(struct client_pool *p, const char *key, struct client_session *s,
    unsigned idle_ms)
{
	size_t slot = CLIENT_POOL_MAX;
	for (size_t i = 0; i < CLIENT_POOL_MAX && slot == CLIENT_POOL_MAX; i++)
		if (p->e[i].s == NULL)
			slot = i;
	if (slot == CLIENT_POOL_MAX) {
		/* Full: the oldest goes (closed at once; it was idle). */
		slot = 0;
		for (size_t i = 1; i < CLIENT_POOL_MAX; i++)
			if (p->e[i].seq < p->e[slot].seq)
				slot = i;
		log_msg(LOG_LVL_INFO, "pool=%s mx=%s ip=%s event=evicted", p->e[slot].key,
		    client_session_host(p->e[slot].s), client_session_ip(p->e[slot].s));
		client_session_free(p->e[slot].s);
		cp_clear(p, slot);
	}
	struct cp_entry *e = &p->e[slot];
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->s = s;
	e->seq = ++p->seq;
	p->n++;
	struct client_session_hooks h = {
		.progress = cp_no_progress,
		.decide = cp_no_decide,
		.done = cp_done,
		.arg = p,
	};
	client_session_park(s, idle_ms, &h);
	log_msg(LOG_LVL_DEBUG, "pool=%s mx=%s ip=%s event=parked parked=%zu", e->key,
	    client_session_host(s), client_session_ip(s), p->n);
}

struct client_session *client_pool_take(struct client_pool *p, const char *key,
    const struct client_msg *msg)
{
	size_t best = CLIENT_POOL_MAX;
	for (size_t i = 0; i < CLIENT_POOL_MAX; i++) {
		const struct cp_entry *e = &p->e[i];
		if (e->s == NULL || strcmp(e->key, key) != 0 || !client_session_idle(e->s))
			continue;
		if (!client_session_may_carry(e->s, msg))
			continue;
		if (best == CLIENT_POOL_MAX || e->seq > p->e[best].seq)
			best = i;
	}
	if (best == CLIENT_POOL_MAX)
		return NULL;
	struct client_session *s = p->e[best].s;
	cp_clear(p, best);
	return s;
}

void client_pool_close_all(struct client_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < CLIENT_POOL_MAX; i++) {
		if (p->e[i].s == NULL)
			continue;
		log_msg(LOG_LVL_DEBUG, "pool=%s mx=%s ip=%s event=close", p->e[i].key,
		    client_session_host(p->e[i].s), client_session_ip(p->e[i].s));
		client_session_close_idle(p->e[i].s);
	}
}

size_t client_pool_count(const struct client_pool *p)
{
	return p != NULL ? p->n : 0;
}

void client_pool_free(struct client_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < CLIENT_POOL_MAX; i++)
		client_session_free(p->e[i].s);
	free(p);
}
