/*
 * test_dns_resolver: the resolver and query machinery without a network:
 * trust-anchor text refused with its line or taken, and TLSA and TXT
 * lookups decided at once (no name, a bad name) still delivered from the
 * loop and never from inside the call, once, and not at all when
 * cancelled.
 * Never: sends a query (every lookup here is decided before any is sent).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "dns/dns_resolver.h"
#include "dns/dns_tlsa.h"
#include "dns/dns_txt.h"

#define DIG2 "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"

struct anchor_row {
	const char *what;
	const char *anchors;
	const char *err;	/* NULL: the resolver is made */
};

static void test_anchors(void **state)
{
	(void)state;
	static const struct anchor_row rows[] = {
		{ "none", NULL, NULL },
		{ "one DS", "test. IN DS 1 13 2 " DIG2 "\n", NULL },
		{ "bad second line", "; c\ntest. IN NS x.\n", "trust anchor line 2: not a DS or DNSKEY record" },
		{ "empty", "", "trust anchor: no trust anchor" },
	};
	struct event_base *base = event_base_new();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *err = NULL;
		struct dns_resolver *r = dns_resolver_new(base, "127.0.0.1:1", rows[i].anchors, &err);
		if (rows[i].err == NULL && r == NULL)
			fail_msg("%s: got error \"%s\", want a resolver", rows[i].what, err);
		if (rows[i].err != NULL && (r != NULL || err == NULL || strcmp(err, rows[i].err) != 0))
			fail_msg("%s: got \"%s\", want \"%s\"", rows[i].what, r != NULL ? "a resolver" : err,
			    rows[i].err);
		dns_resolver_free(r);
	}
	event_base_free(base);
}

struct seen {
	int calls;
	bool in_call;		/* set while the starting call runs */
	bool from_inside;
	enum dns_tlsa_status tlsa;
	enum dns_status txt;
	char reason[256];
};

static void on_tlsa(const struct dns_tlsa_result *res, void *arg)
{
	struct seen *s = arg;
	s->calls++;
	s->from_inside = s->from_inside || s->in_call;
	s->tlsa = res->status;
	snprintf(s->reason, sizeof(s->reason), "%s", res->reason);
}

static void on_txt(const struct dns_txt_result *res, void *arg)
{
	struct seen *s = arg;
	s->calls++;
	s->from_inside = s->from_inside || s->in_call;
	s->txt = res->status;
	snprintf(s->reason, sizeof(s->reason), "%s", res->reason);
}

/* Lookups decided before any query: TEMPFAIL, delivered once, from the loop. */
static void test_decided_at_once(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	const char *err = NULL;
	struct dns_resolver *r = dns_resolver_new(base, "127.0.0.1:1", NULL, &err);
	assert_non_null(r);
	struct seen none = { .in_call = true }, bad = { .in_call = true }, txt = { .in_call = true };
	const char *names[] = { "ok.test", "bad name.test" };
	(void)dns_tlsa_resolve(r, 25, names, 0, on_tlsa, &none);
	none.in_call = false;
	(void)dns_tlsa_resolve(r, 25, names, 2, on_tlsa, &bad);
	bad.in_call = false;
	(void)dns_txt_resolve(r, "_mta-sts..test", on_txt, &txt);
	txt.in_call = false;
	assert_int_equal(none.calls + bad.calls + txt.calls, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	const struct seen *all[] = { &none, &bad, &txt };
	for (size_t i = 0; i < 3; i++) {
		if (all[i]->calls != 1 || all[i]->from_inside)
			fail_msg("lookup %zu: got %d calls (inside: %d), want 1 from the loop", i, all[i]->calls,
			    all[i]->from_inside);
	}
	assert_int_equal(none.tlsa, DNS_TLSA_TEMPFAIL);
	assert_string_equal(none.reason, "no TLSA base name");
	assert_int_equal(bad.tlsa, DNS_TLSA_TEMPFAIL);
	assert_string_equal(bad.reason, "bad TLSA base name");
	assert_int_equal(txt.txt, DNS_TEMPFAIL);
	assert_string_equal(txt.reason, "bad domain name");
	dns_resolver_free(r);
	event_base_free(base);
}

/* A cancelled query, and one still pending when the resolver goes, never call back. */
static void test_cancel(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	const char *err = NULL;
	struct dns_resolver *r = dns_resolver_new(base, "127.0.0.1:1", NULL, &err);
	assert_non_null(r);
	struct seen a = { 0 }, b = { 0 };
	const char *names[] = { "a.test" };
	dns_query_cancel(dns_tlsa_resolve(r, 25, names, 0, on_tlsa, &a));
	(void)dns_txt_resolve(r, "bad..name", on_txt, &b);
	dns_resolver_free(r);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 0);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchors),
		cmocka_unit_test(test_decided_at_once),
		cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
