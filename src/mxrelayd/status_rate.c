/*
 * status_rate: the rate limits in the status summary (see status_rate.h).
 */
#include "status_rate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "config/config.h"
#include "control/control.h"
#include "metrics/metrics_mail.h"
#include "policy/ratelimit.h"
#include "reload.h"
#include "server/server.h"

static uint64_t status_rate_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The configured rate of each limit, in ratelimit_kind order. */
static void status_rate_limits(const struct config *cfg, struct cfg_rate out[RATELIMIT_NKINDS])
{
	out[RATELIMIT_CLIENT_CONNECTION] = cfg->rate.client_connection;
	out[RATELIMIT_CLIENT_MESSAGE] = cfg->rate.client_message;
	out[RATELIMIT_CLIENT_RECIPIENT] = cfg->rate.client_recipient;
	out[RATELIMIT_USER_MESSAGE] = cfg->rate.user_message;
	out[RATELIMIT_USER_RECIPIENT] = cfg->rate.user_recipient;
}

/* Whole seconds until ms have passed, rounded up. */
static uint64_t status_rate_seconds(uint64_t ms)
{
	return (ms + 999) / 1000;
}

void status_rate_json(struct evbuffer *b, const struct config *cfg, struct ratelimit *t)
{
	struct cfg_rate rates[RATELIMIT_NKINDS];
	char buf[300];
	uint64_t now = status_rate_now_ms();
	status_rate_limits(cfg, rates);
	evbuffer_add(b, "{\"limits\":{", 11);
	for (int k = 0; k < RATELIMIT_NKINDS; k++) {
		evbuffer_add_printf(b, "%s\"%s\":", k > 0 ? "," : "",
		    ratelimit_kind_name((enum ratelimit_kind)k));
		config_rate_format(&rates[k], "", buf, sizeof(buf));
		control_json_str(b, rates[k].n != 0 ? buf : NULL);
	}
	evbuffer_add_printf(b, "},\"user_rates\":%zu,\"exempt\":[", cfg->rate.nusers);
	for (size_t i = 0; i < cfg->rate.nexempt; i++) {
		config_network_format(&cfg->rate.exempt[i], buf, sizeof(buf));
		if (i > 0)
			evbuffer_add(b, ",", 1);
		control_json_str(b, buf);
	}
	evbuffer_add_printf(b, "],\"entries\":%zu,\"max_entries\":%zu,\"evictions\":%" PRIu64
	    ",\"refused\":{", t != NULL ? ratelimit_count(t, now) : 0,
	    t != NULL ? ratelimit_max_entries(t) : 0, t != NULL ? ratelimit_evictions(t) : 0);
	for (int k = 0; k < RATELIMIT_NKINDS; k++)
		evbuffer_add_printf(b, "%s\"%s\":%" PRIu64, k > 0 ? "," : "",
		    ratelimit_kind_name((enum ratelimit_kind)k),
		    t != NULL ? ratelimit_refusals(t, (enum ratelimit_kind)k) : 0);
	evbuffer_add(b, "},\"limited\":[", 13);
	struct ratelimit_limited lim[STATUS_RATE_LIMITED];
	size_t n = t != NULL ? ratelimit_limited(t, now, lim, STATUS_RATE_LIMITED) : 0;
	for (size_t i = 0; i < n; i++) {
		smtpd_rate_key_text(cfg, (int)lim[i].kind, lim[i].key, lim[i].keylen, buf, sizeof(buf));
		evbuffer_add_printf(b, "%s{\"limit\":\"%s\",\"key\":", i > 0 ? "," : "",
		    ratelimit_kind_name(lim[i].kind));
		control_json_str(b, buf);
		evbuffer_add_printf(b, ",\"retry_in\":%" PRIu64 ",\"refusals\":%u}",
		    status_rate_seconds(lim[i].retry_ms), lim[i].refusals);
	}
	evbuffer_add(b, "]}", 2);
}

void status_rate_text(struct evbuffer *b, const struct config *cfg, struct ratelimit *t)
{
	struct cfg_rate rates[RATELIMIT_NKINDS];
	char buf[300];
	uint64_t now = status_rate_now_ms();
	status_rate_limits(cfg, rates);
	evbuffer_add(b, "rate limits:", 12);
	for (int k = 0; k < RATELIMIT_NKINDS; k++) {
		config_rate_format(&rates[k], "off", buf, sizeof(buf));
		evbuffer_add_printf(b, "%s %s %s", k > 0 ? "," : "",
		    ratelimit_kind_name((enum ratelimit_kind)k), buf);
	}
	evbuffer_add_printf(b, "; %zu user_rate line%s; exempt:", cfg->rate.nusers,
	    cfg->rate.nusers == 1 ? "" : "s");
	for (size_t i = 0; i < cfg->rate.nexempt; i++) {
		config_network_format(&cfg->rate.exempt[i], buf, sizeof(buf));
		evbuffer_add_printf(b, " %s", buf);
	}
	if (cfg->rate.nexempt == 0)
		evbuffer_add(b, " none", 5);
	evbuffer_add_printf(b, "\nrate limit buckets: %zu held of %zu, %" PRIu64 " dropped when "
	    "full; refused since start:", t != NULL ? ratelimit_count(t, now) : 0,
	    t != NULL ? ratelimit_max_entries(t) : 0, t != NULL ? ratelimit_evictions(t) : 0);
	for (int k = 0; k < RATELIMIT_NKINDS; k++)
		evbuffer_add_printf(b, "%s %s %" PRIu64, k > 0 ? "," : "",
		    ratelimit_kind_name((enum ratelimit_kind)k),
		    t != NULL ? ratelimit_refusals(t, (enum ratelimit_kind)k) : 0);
	struct ratelimit_limited lim[STATUS_RATE_LIMITED];
	size_t n = t != NULL ? ratelimit_limited(t, now, lim, STATUS_RATE_LIMITED) : 0;
	evbuffer_add_printf(b, "\nrate limited now (the latest refused first):%s\n",
	    n == 0 ? " none" : "");
	for (size_t i = 0; i < n; i++) {
		smtpd_rate_key_text(cfg, (int)lim[i].kind, lim[i].key, lim[i].keylen, buf, sizeof(buf));
		evbuffer_add_printf(b, "  %s %s: room again in %" PRIu64 "s, %u refused\n",
		    ratelimit_kind_name(lim[i].kind), buf, status_rate_seconds(lim[i].retry_ms),
		    lim[i].refusals);
	}
}

static void status_rate_gauge_entries(struct metrics_text *mt, const struct metrics_family *f,
    void *arg)
{
	struct ratelimit *t = reload_ctx(arg)->rate;
	(void)f;
	metrics_text_value(mt, NULL, t != NULL ? (double)ratelimit_count(t, status_rate_now_ms()) : 0);
}

static void status_rate_counter_evictions(struct metrics_text *mt, const struct metrics_family *f,
    void *arg)
{
	struct ratelimit *t = reload_ctx(arg)->rate;
	(void)f;
	metrics_text_value(mt, NULL, t != NULL ? (double)ratelimit_evictions(t) : 0);
}

void status_rate_register_gauges(struct metrics_mail *mm, struct reload *r)
{
	metrics_mail_set_rate_collect(mm, status_rate_gauge_entries, status_rate_counter_evictions, r);
}
