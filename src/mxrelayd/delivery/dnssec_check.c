/*
 * dnssec_check: the DNS server's DNSSEC, checked (see dnssec_check.h).
 */
#include "dnssec_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "config/config.h"
#include "dns/dns_anchor.h"
#include "dns/dns_resolver.h"
#include "dns/dns_rr.h"
#include "dns/dns_txt.h"
#include "util/log.h"
#include "util/xalloc.h"

/* How often the check runs, and how often a failure that lasts is said again. */
#define DNSSEC_CHECK_SECONDS 600
#define DNSSEC_CHECK_REPEAT_SECONDS 3600
/* The first check waits this long after start or reload (the loop is running by then). */
#define DNSSEC_CHECK_FIRST_MS 1000

enum dnssec_check_state { DNSSEC_CHECK_UNKNOWN, DNSSEC_CHECK_SECURE, DNSSEC_CHECK_FAILING };

struct dnssec_check {
	struct event_base *base;
	struct dns_resolver *dns;	/* owned; NULL when validation is off */
	struct dns_query *q;		/* the check in flight */
	struct event *timer;		/* owned */
	char zone[DNS_RR_NAME_MAX];	/* the anchor's apex, e.g. "." */
	enum dnssec_check_state state;
	time_t said;			/* when a failure was last logged */
};

/* dns_anchor_fn: keep the owner of the first record. */
static const char *dnssec_check_owner(void *arg, const char *rr, unsigned line)
{
	struct dnssec_check *c = arg;
	(void)line;
	if (c->zone[0] == '\0') {
		size_t n = strcspn(rr, " \t");
		if (n > 0 && n < sizeof(c->zone))
			snprintf(c->zone, sizeof(c->zone), "%.*s", (int)n, rr);
	}
	return NULL;
}

/* The answer came: secure, bogus (the server strips what validation needs), or no word. */
static void dnssec_check_done(const struct dns_txt_result *res, void *arg)
{
	struct dnssec_check *c = arg;
	c->q = NULL;
	time_t now = time(NULL);
	char pr[sizeof(res->reason) * 2];
	log_printable(pr, sizeof(pr), res->reason, strlen(res->reason));
	if (res->bogus || (res->status == DNS_OK && !res->secure)) {
		if (c->state != DNSSEC_CHECK_FAILING || now - c->said >= DNSSEC_CHECK_REPEAT_SECONDS) {
			log_msg(LOG_LVL_ERR, "event=dnssec-check status=failing zone=%s reason=\"%s\" "
			    "note=\"the DNS server does not give answers that validate under "
			    "dnssec_trust_anchor (it may strip DNSSEC records): mail to signed "
			    "domains waits with 4.7.5; use a validating resolver or set "
			    "dnssec_trust_anchor = none\"", c->zone, res->bogus ? pr : "not secure");
			c->said = now;
		}
		c->state = DNSSEC_CHECK_FAILING;
	} else if (res->status == DNS_OK) {
		if (c->state != DNSSEC_CHECK_SECURE)
			log_msg(LOG_LVL_INFO, "event=dnssec-check status=secure zone=%s", c->zone);
		c->state = DNSSEC_CHECK_SECURE;
	} else {
		/* A timeout or SERVFAIL says nothing of DNSSEC: the state stands. */
		log_msg(LOG_LVL_DEBUG, "event=dnssec-check status=unknown zone=%s reason=\"%s\"",
		    c->zone, pr);
	}
}

static void dnssec_check_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct dnssec_check *c = arg;
	/*
	 * A name that does not exist under the anchor's zone: its denial is
	 * signed by that zone (NSEC or NSEC3), so it is secure only when the
	 * server passes DNSSEC records. One query every ten minutes; a
	 * resolver answers it from its cache of the zone's denials.
	 */
	char name[DNS_RR_NAME_MAX + 32];
	snprintf(name, sizeof(name), "mxrelay-dnssec-check%s%s", strcmp(c->zone, ".") == 0 ? "" :
	    ".", strcmp(c->zone, ".") == 0 ? "" : c->zone);
	if (c->dns != NULL && c->q == NULL)
		c->q = dns_txt_resolve(c->dns, name, dnssec_check_done, c);
	struct timeval tv = { DNSSEC_CHECK_SECONDS, 0 };
	event_add(c->timer, &tv);
}

void dnssec_check_set_config(struct dnssec_check *c, const struct config *cfg)
{
	dns_query_cancel(c->q);
	c->q = NULL;
	dns_resolver_free(c->dns);
	c->dns = NULL;
	c->zone[0] = '\0';
	c->state = DNSSEC_CHECK_UNKNOWN;
	c->said = 0;
	event_del(c->timer);
	const char *a = cfg->dnssec_anchors;
	unsigned bad = 0;
	char why[128];
	if (a == NULL || dns_anchor_parse(a, strlen(a), dnssec_check_owner, c, &bad, why,
	    sizeof(why)) < 1 || c->zone[0] == '\0')
		return;
	const char *err = NULL;
	c->dns = dns_resolver_new(c->base, cfg->dns_server, a, &err);
	if (c->dns == NULL) {
		log_msg(LOG_LVL_WARN, "event=dnssec-check status=unknown reason=\"%s\"",
		    err != NULL ? err : "no resolver");
		return;
	}
	struct timeval tv = { 0, DNSSEC_CHECK_FIRST_MS * 1000 };
	event_add(c->timer, &tv);
}

struct dnssec_check *dnssec_check_new(struct event_base *base, const struct config *cfg)
{
	struct dnssec_check *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->timer = evtimer_new(base, dnssec_check_timer, c);
	if (c->timer == NULL)
		fatal("event=dnssec_check_new error=\"cannot create a timer\"");
	dnssec_check_set_config(c, cfg);
	return c;
}

bool dnssec_check_failing(const struct dnssec_check *c)
{
	return c != NULL && c->state == DNSSEC_CHECK_FAILING;
}

void dnssec_check_free(struct dnssec_check *c)
{
	if (c == NULL)
		return;
	dns_query_cancel(c->q);
	dns_resolver_free(c->dns);
	event_free(c->timer);
	free(c);
}
