/*
 * sched_engines: the delivery engine contexts of the scheduler, one for
 * direct MX delivery and one per route, built from the configuration
 * (outbound settings, TLS policy rules, trust anchors, the MTA-STS
 * policy store and the observer), replaced whole at reload while the
 * deliveries under way finish on the old ones, and freed once their last
 * job ended.
 *
 * Owns: struct mxr_options from struct config, and the life of each set
 * of contexts. Never: starts or judges a delivery (sched.c does).
 */
#include "sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Engine options shared by every route: the outbound settings of the configuration. */
static void sched_options(const struct sched *s, const struct config *cfg,
    struct mxr_options *o)
{
	memset(o, 0, sizeof(*o));
	o->observer = &s->observer;
	o->dnssec_anchors = cfg->dnssec_anchors;
	o->sts_store = &s->sts_store;
	o->helo_name = cfg->helo_name != NULL ? cfg->helo_name : cfg->hostname;
	o->dns_server = cfg->dns_server;
	o->source_addr = cfg->source_addr;
	o->family = cfg->family;
	o->tls = cfg->tls_policy;
	o->ca_file = cfg->ca_file;
	o->max_parallel = 1;
	/* Queued mail comes in runs to the same destinations: keep the session for the next one. */
	o->reuse_idle_ms = cfg->reuse_time * 1000;
	o->reuse_max_msgs = cfg->reuse_limit;
}

/* Free engine contexts (those of a failed build or of a retired set). */
void sched_engines_free_contexts(struct mxr_context *direct, struct sched_route *routes,
    size_t nroutes)
{
	for (size_t i = 0; i < nroutes; i++)
		mxr_context_free(routes[i].ctx);
	free(routes);
	mxr_context_free(direct);
}

/* The engine contexts of cfg: direct MX and one per route; 0, or -1 with err. */
int sched_engines_build(const struct sched *s, const struct config *cfg,
    struct mxr_context **direct, struct sched_route **routes, size_t *nroutes, char *err,
    size_t errlen)
{
	struct mxr_options o;
	sched_options(s, cfg, &o);
	/* The tls_policy lines, for direct delivery (the engine copies them). */
	struct mxr_tls_rule *rules = xcalloc(cfg->ntls_policies ? cfg->ntls_policies : 1,
	    sizeof(*rules));
	for (size_t i = 0; i < cfg->ntls_policies; i++)
		rules[i] = (struct mxr_tls_rule){ .domain = cfg->tls_policies[i].domain,
		    .policy = cfg->tls_policies[i].policy, .match = cfg->tls_policies[i].match };
	o.tls_rules = rules;
	o.ntls_rules = cfg->ntls_policies;
	char cerr[256];
	*nroutes = 0;
	*routes = xcalloc(cfg->nroutes ? cfg->nroutes : 1, sizeof(**routes));
	*direct = mxr_context_new(s->base, &o, cerr, sizeof(cerr));
	free(rules);
	if (*direct == NULL) {
		snprintf(err, errlen, "delivery: %s", cerr);
		return -1;
	}
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct cfg_route *r = &cfg->routes[i];
		sched_options(s, cfg, &o);
		o.smarthost = r->smarthost;
		o.tls = r->tls;
		o.auth_user = r->auth_user;
		o.auth_pass = r->auth_pass;
		(*routes)[i].route = r;
		(*routes)[i].ctx = mxr_context_new(s->base, &o, cerr, sizeof(cerr));
		*nroutes = i + 1;
		if ((*routes)[i].ctx == NULL) {
			snprintf(err, errlen, "route %s via %s: %s", r->domain, r->smarthost, cerr);
			return -1;
		}
	}
	return 0;
}

/* Free the retired engine sets whose last job ended (from the tick). */
void sched_engines_reap(struct sched *s)
{
	struct sched_engines **pp = &s->retired;
	while (*pp != NULL) {
		struct sched_engines *e = *pp;
		if (e->jobs == 0) {
			*pp = e->next;
			sched_engines_free_contexts(e->direct, e->routes, e->nroutes);
			free(e);
		} else {
			pp = &e->next;
		}
	}
}

int sched_reconfigure(struct sched *s, const struct config *cfg, char *err, size_t errlen)
{
	struct mxr_context *direct = NULL;
	struct sched_route *routes = NULL;
	size_t nroutes = 0;
	if (sched_engines_build(s, cfg, &direct, &routes, &nroutes, err, errlen) != 0) {
		sched_engines_free_contexts(direct, routes, nroutes);
		return -1;
	}
	/* Deliveries under way finish on the old contexts; parked connections say QUIT. */
	struct sched_engines *old = s->eng;
	old->direct = s->direct;
	old->routes = s->routes;
	old->nroutes = s->nroutes;
	mxr_context_close_idle(old->direct);
	for (size_t i = 0; i < old->nroutes; i++)
		mxr_context_close_idle(old->routes[i].ctx);
	old->next = s->retired;
	s->retired = old;
	s->eng = xcalloc(1, sizeof(*s->eng));
	s->direct = direct;
	s->routes = routes;
	s->nroutes = nroutes;
	s->cfg = cfg;
	tls_reports_set_config(s->reports, cfg);
	dnssec_check_set_config(s->dnssec, cfg);
	log_msg(LOG_LVL_INFO, "event=scheduler-reconfigured routes=%zu max_deliveries=%u "
	    "max_per_destination=%u retries=%zu max_queue_age=%us running_on_old=%u",
	    cfg->nroutes, cfg->max_deliveries, cfg->max_per_destination, cfg->nretry_intervals,
	    cfg->max_queue_age, old->jobs);
	sched_kick(s);
	return 0;
}

