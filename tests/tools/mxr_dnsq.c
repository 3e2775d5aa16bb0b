/*
 * mxr_dnsq: a test-only program that runs one lib/dns lookup on a
 * libevent loop and prints everything its result holds as JSON.
 *
 *   mxr_dnsq [--server ADDR] [--anchors FILE]... [--timeout MS] [--port N]
 *            [--family any|prefer-v4|v4|v6] [--debug] mx|host|tlsa|txt NAME...
 *
 * mx, host and txt: one lookup per NAME, one JSON object per line in
 * the order the answers come, each with the NAME asked as "query".
 * tlsa: one lookup over NAME... in order (the TLSA base domains), one
 * object. --anchors files are joined into the trust-anchor text; without
 * any the resolver does not validate. Exit 0 when every lookup was
 * delivered, 1 when the resolver cannot be made, 2 on bad usage.
 * Never: built outside test builds; used by the integration tests only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns/dns_mx.h"
#include "dns/dns_resolver.h"
#include "dns/dns_tlsa.h"
#include "dns/dns_txt.h"
#include "util/file.h"
#include "util/log.h"
#include "util/xalloc.h"

#define DNSQ_ANCHORS_MAX (256 * 1024)

struct dnsq {
	struct event_base *base;
	unsigned pending;	/* lookups not delivered yet */
};

/* One lookup: the name asked for goes into its output, as answers come in any order. */
struct dnsq_one {
	struct dnsq *d;
	const char *name;
};

/* s as a JSON string, escaped. */
static void dnsq_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static const char *dnsq_bool(bool b)
{
	return b ? "true" : "false";
}

static const char *dnsq_status(enum dns_status st)
{
	return st == DNS_OK ? "ok" : st == DNS_TEMPFAIL ? "tempfail" : "permfail";
}

/* Lookup finished: stop the loop after the last. */
static void dnsq_done(struct dnsq *d)
{
	fflush(stdout);
	if (--d->pending == 0)
		event_base_loopbreak(d->base);
}

static void dnsq_addr(const struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, sizeof(buf));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, sizeof(buf));
	dnsq_str(buf);
}

static void dnsq_mx_cb(const struct dns_mx_result *res, void *arg)
{
	const struct dnsq_one *one = arg;
	printf("{\"query\":");
	dnsq_str(one->name);
	printf(",\"status\":\"%s\",\"esc\":", dnsq_status(res->status));
	dnsq_str(res->esc);
	printf(",\"reason\":");
	dnsq_str(res->reason);
	printf(",\"dnssec\":%s,\"secure\":%s,\"bogus\":%s,\"implicit\":%s,\"null_mx\":%s,\"hosts\":[",
	    dnsq_bool(res->dnssec), dnsq_bool(res->secure), dnsq_bool(res->bogus),
	    dnsq_bool(res->implicit), dnsq_bool(res->null_mx));
	for (size_t i = 0; i < res->nhosts; i++) {
		const struct dns_mx_host *h = &res->hosts[i];
		printf("%s{\"name\":", i > 0 ? "," : "");
		dnsq_str(h->name);
		printf(",\"pref\":%u,\"secure\":%s,\"canon\":", h->pref, dnsq_bool(h->secure));
		dnsq_str(h->canon);
		printf(",\"addr_tempfail\":%s,\"addr_bogus\":%s,\"addrs\":[", dnsq_bool(h->addr_tempfail),
		    dnsq_bool(h->addr_bogus));
		for (size_t k = 0; k < h->naddrs; k++) {
			if (k > 0)
				putchar(',');
			dnsq_addr(&h->addrs[k]);
		}
		printf("]}");
	}
	printf("]}\n");
	dnsq_done(one->d);
}

static void dnsq_tlsa_cb(const struct dns_tlsa_result *res, void *arg)
{
	printf("{\"status\":\"%s\",\"base\":", dns_tlsa_status_name(res->status));
	dnsq_str(res->base);
	printf(",\"reason\":");
	dnsq_str(res->reason);
	printf(",\"records\":[");
	for (size_t i = 0; i < res->n; i++) {
		const struct dns_tlsa_rr *rr = &res->rrs[i];
		printf("%s{\"usage\":%u,\"selector\":%u,\"mtype\":%u,\"data\":\"", i > 0 ? "," : "",
		    rr->usage, rr->selector, rr->mtype);
		for (size_t k = 0; k < rr->len; k++)
			printf("%02x", rr->data[k]);
		printf("\"}");
	}
	printf("]}\n");
	dnsq_done(arg);
}

static void dnsq_txt_cb(const struct dns_txt_result *res, void *arg)
{
	const struct dnsq_one *one = arg;
	printf("{\"query\":");
	dnsq_str(one->name);
	printf(",\"status\":\"%s\",\"secure\":%s,\"bogus\":%s,\"nxdomain\":%s,\"dropped\":%zu,\"reason\":",
	    dnsq_status(res->status), dnsq_bool(res->secure), dnsq_bool(res->bogus),
	    dnsq_bool(res->nxdomain), res->dropped);
	dnsq_str(res->reason);
	printf(",\"texts\":[");
	for (size_t i = 0; i < res->n; i++) {
		if (i > 0)
			putchar(',');
		dnsq_str(res->texts[i]);
	}
	printf("]}\n");
	dnsq_done(one->d);
}

static int dnsq_usage(void)
{
	fprintf(stderr, "usage: mxr_dnsq [--server ADDR] [--anchors FILE]... [--timeout MS] [--port N]\n"
	    "                [--family any|prefer-v4|v4|v6] [--debug] mx|host|tlsa|txt NAME...\n");
	return 2;
}

/* Append the file at path to the anchor text in *buf. */
static bool dnsq_add_anchors(char **buf, size_t *len, const char *path)
{
	char err[256];
	size_t n;
	char *text = file_read_all(path, DNSQ_ANCHORS_MAX, &n, err, sizeof(err));
	if (text == NULL) {
		fprintf(stderr, "mxr_dnsq: %s\n", err);
		return false;
	}
	*buf = xrealloc(*buf, *len + n + 2);
	memcpy(*buf + *len, text, n);
	*len += n;
	(*buf)[(*len)++] = '\n';
	(*buf)[*len] = '\0';
	free(text);
	return true;
}

static bool dnsq_family(const char *s, enum dns_family *fam)
{
	static const struct { const char *name; enum dns_family fam; } names[] = {
		{ "any", DNS_FAMILY_ANY }, { "prefer-v4", DNS_FAMILY_PREFER_V4 },
		{ "v4", DNS_FAMILY_V4_ONLY }, { "v6", DNS_FAMILY_V6_ONLY },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*fam = names[i].fam;
			return true;
		}
	}
	return false;
}

/* Start the lookups of the command over names (one[] has n slots); false on an unknown command. */
static bool dnsq_start(struct dnsq *d, struct dns_resolver *r, const char *cmd, char **names,
    size_t n, enum dns_family fam, unsigned port, struct dnsq_one *one)
{
	if (strcmp(cmd, "tlsa") == 0) {
		d->pending = 1;
		(void)dns_tlsa_resolve(r, (uint16_t)port, (const char *const *)names, n, dnsq_tlsa_cb, d);
		return true;
	}
	bool mx = strcmp(cmd, "mx") == 0, host = strcmp(cmd, "host") == 0, txt = strcmp(cmd, "txt") == 0;
	if (!mx && !host && !txt)
		return false;
	d->pending = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		one[i].d = d;
		one[i].name = names[i];
		if (mx)
			(void)dns_mx_resolve(r, names[i], fam, dnsq_mx_cb, &one[i]);
		else if (host)
			(void)dns_host_resolve(r, names[i], fam, dnsq_mx_cb, &one[i]);
		else
			(void)dns_txt_resolve(r, names[i], dnsq_txt_cb, &one[i]);
	}
	return true;
}

int main(int argc, char **argv)
{
	const char *server = NULL;
	char *anchors = NULL;
	size_t alen = 0;
	unsigned timeout = 0, port = 25;
	enum dns_family fam = DNS_FAMILY_ANY;
	enum log_level lvl = LOG_LVL_WARN;
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--debug") == 0) {
			lvl = LOG_LVL_DEBUG;
			continue;
		}
		if (i + 1 >= argc)
			return dnsq_usage();
		const char *v = argv[++i];
		if (strcmp(argv[i - 1], "--server") == 0)
			server = v;
		else if (strcmp(argv[i - 1], "--anchors") == 0) {
			if (!dnsq_add_anchors(&anchors, &alen, v))
				return 1;
		} else if (strcmp(argv[i - 1], "--timeout") == 0)
			timeout = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i - 1], "--port") == 0)
			port = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i - 1], "--family") != 0 || !dnsq_family(v, &fam))
			return dnsq_usage();
	}
	if (argc - i < 2)
		return dnsq_usage();
	log_init("mxr_dnsq", lvl, STDERR_FILENO);
	struct dnsq d = { .base = event_base_new(), .pending = 0 };
	const char *err = NULL;
	struct dns_resolver *r = dns_resolver_new(d.base, server, anchors, &err);
	free(anchors);
	if (r == NULL) {
		printf("{\"error\":");
		dnsq_str(err != NULL ? err : "?");
		printf("}\n");
		event_base_free(d.base);
		return 1;
	}
	dns_resolver_set_timeout(r, timeout);
	struct dnsq_one *one = xcalloc((size_t)(argc - i - 1), sizeof(*one));
	if (!dnsq_start(&d, r, argv[i], argv + i + 1, (size_t)(argc - i - 1), fam, port, one)) {
		free(one);
		dns_resolver_free(r);
		event_base_free(d.base);
		return dnsq_usage();
	}
	event_base_dispatch(d.base);
	free(one);
	dns_resolver_free(r);
	event_base_free(d.base);
	return 0;
}
