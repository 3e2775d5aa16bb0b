/*
 * test_policy: the relay decision, one row per recipient trick, for
 * trusted and untrusted clients over IPv4, IPv6 and IPv4-mapped IPv6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsupport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

static const char policy_conf[] =
	"listen = 127.0.0.1:2525 relay\n"
	"relay_networks = 127.0.0.0/8 ::1 192.0.2.0/24 2001:db8::/32\n"
	"relay_domains = ours.test, Second.TEST.\n";

enum who {
	NET4,		/* 192.0.2.7 on a relay listener: trusted */
	NET6,		/* 2001:db8::7: trusted */
	MAPPED,		/* ::ffff:192.0.2.7: trusted */
	OUT4,		/* 198.51.100.7: untrusted */
	OUT6,		/* 2001:db9::7: untrusted */
	OUTMAPPED,	/* ::ffff:198.51.100.7: untrusted */
	NET_SUBMIT,	/* 192.0.2.7 on a submission listener without AUTH: untrusted */
	AUTHED,		/* 198.51.100.7 after AUTH: trusted */
	NWHO,
};

static const char *const who_addr[NWHO] = {
	"192.0.2.7", "2001:db8::7", "::ffff:192.0.2.7", "198.51.100.7", "2001:db9::7",
	"::ffff:198.51.100.7", "192.0.2.7", "198.51.100.7",
};
static const char *const who_name[NWHO] = {
	"net4", "net6", "mapped", "out4", "out6", "outmapped", "net-submission", "authed",
};

struct row {
	const char *name;
	enum smtp_addr_kind kind;
	const char *local;
	const char *domain;
	bool literal;
	int trusted_code;	/* want for NET4, NET6, MAPPED, AUTHED */
	int untrusted_code;	/* want for OUT4, OUT6, OUTMAPPED, NET_SUBMIT */
};

static const struct row rows[] = {
	{ "our domain", SMTP_ADDR_MAILBOX, "alice", "ours.test", false, 250, 250 },
	{ "our second domain", SMTP_ADDR_MAILBOX, "bob", "second.test", false, 250, 250 },
	{ "mixed case domain", SMTP_ADDR_MAILBOX, "alice", "OuRs.TeSt", false, 250, 250 },
	{ "trailing dot", SMTP_ADDR_MAILBOX, "alice", "ours.test.", false, 250, 250 },
	{ "second domain, case and dot", SMTP_ADDR_MAILBOX, "bob", "SECOND.Test.", false, 250, 250 },
	{ "two trailing dots", SMTP_ADDR_MAILBOX, "alice", "ours.test..", false, 250, 550 },
	{ "foreign domain", SMTP_ADDR_MAILBOX, "carol", "elsewhere.test", false, 250, 550 },
	{ "subdomain of ours", SMTP_ADDR_MAILBOX, "carol", "sub.ours.test", false, 250, 550 },
	{ "ours as a suffix", SMTP_ADDR_MAILBOX, "carol", "notours.test", false, 250, 550 },
	{ "percent hack", SMTP_ADDR_MAILBOX, "carol%elsewhere.test", "ours.test", false, 250, 550 },
	{ "bang path", SMTP_ADDR_MAILBOX, "elsewhere.test!carol", "ours.test", false, 250, 550 },
	{ "quoted at", SMTP_ADDR_MAILBOX, "\"carol@elsewhere.test\"", "ours.test", false, 250, 550 },
	{ "quoted percent", SMTP_ADDR_MAILBOX, "\"carol%elsewhere.test\"", "ours.test", false, 250, 550 },
	{ "quoted-pair at", SMTP_ADDR_MAILBOX, "\"carol\\@elsewhere.test\"", "ours.test", false, 250, 550 },
	{ "quoted plain", SMTP_ADDR_MAILBOX, "\"alice smith\"", "ours.test", false, 250, 250 },
	{ "address literal v4", SMTP_ADDR_MAILBOX, "alice", "[192.0.2.1]", true, 250, 550 },
	{ "address literal v6", SMTP_ADDR_MAILBOX, "alice", "[IPv6:2001:db8::1]", true, 250, 550 },
	{ "postmaster of ours", SMTP_ADDR_MAILBOX, "PostMaster", "ours.test", false, 250, 250 },
	{ "quoted postmaster of ours", SMTP_ADDR_MAILBOX, "\"postmaster\"", "OURS.test.", false, 250, 250 },
	{ "postmaster elsewhere", SMTP_ADDR_MAILBOX, "postmaster", "elsewhere.test", false, 250, 550 },
	{ "bare postmaster", SMTP_ADDR_LOCALONLY, "Postmaster", "", false, 250, 250 },
	{ "bare quoted-pair postmaster", SMTP_ADDR_LOCALONLY, "\"Post\\master\"", "", false, 250, 250 },
	{ "bare other user", SMTP_ADDR_LOCALONLY, "alice", "", false, 550, 550 },
	{ "bare bang path", SMTP_ADDR_LOCALONLY, "elsewhere.test!alice", "", false, 550, 550 },
	{ "bare percent", SMTP_ADDR_LOCALONLY, "alice%elsewhere.test", "", false, 550, 550 },
	{ "mailbox without domain", SMTP_ADDR_MAILBOX, "alice", "", false, 550, 550 },
	{ "null path", SMTP_ADDR_NULLPATH, "", "", false, 550, 550 },
};

static void test_table(void **state)
{
	(void)state;
	char err[256];
	struct config *c = NULL;
	if (config_load_text("t.conf", policy_conf, strlen(policy_conf), &c, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const struct row *row = &rows[r];
		struct smtp_addr a;
		memset(&a, 0, sizeof(a));
		a.kind = row->kind;
		snprintf(a.local, sizeof(a.local), "%s", row->local);
		snprintf(a.domain, sizeof(a.domain), "%s", row->domain);
		a.domain_is_literal = row->literal;
		a.local_is_quoted = row->local[0] == '"';
		for (int w = 0; w < NWHO; w++) {
			struct sockaddr_storage ss = tsupport_sockaddr(who_addr[w]);
			struct policy_client client = {
				.addr = (struct sockaddr *)&ss,
				.authenticated = w == AUTHED,
				.listener_requires_auth = w == NET_SUBMIT,
			};
			bool trusted = w == NET4 || w == NET6 || w == MAPPED || w == AUTHED;
			int want = trusted ? row->trusted_code : row->untrusted_code;
			struct policy_reply rep = { 0, NULL, NULL };
			bool ok = policy_check_rcpt(c, &client, &a, &rep);
			if (rep.code != want || ok != (want == 250))
				fail_msg("%s <%s@%s> from %s: got %d %s %s, want %d", row->name, row->local,
				    row->domain, who_name[w], rep.code, rep.esc, rep.text, want);
			assert_non_null(rep.esc);
			assert_non_null(rep.text);
			if (want == 250)
				assert_string_equal(rep.esc, "2.1.5");
			/* Untrusted clients hear "Relaying denied" for every refused form. */
			if (want == 550 && row->kind != SMTP_ADDR_NULLPATH &&
			    (!trusted || row->domain[0] != '\0'))
				assert_string_equal(rep.esc, "5.7.1");
		}
	}
	config_free(c);
}

/* With no relay_networks nobody but authenticated clients relays. */
static void test_no_networks(void **state)
{
	(void)state;
	static const char conf[] = "listen = 127.0.0.1:25 relay\nrelay_networks = none\n";
	char err[256];
	struct config *c = NULL;
	assert_int_equal(config_load_text("t.conf", conf, strlen(conf), &c, err, sizeof(err)), 0);
	struct smtp_addr a;
	memset(&a, 0, sizeof(a));
	a.kind = SMTP_ADDR_MAILBOX;
	snprintf(a.local, sizeof(a.local), "x");
	snprintf(a.domain, sizeof(a.domain), "elsewhere.test");
	struct sockaddr_storage ss = tsupport_sockaddr("127.0.0.1");
	struct policy_client client = { .addr = (struct sockaddr *)&ss };
	struct policy_reply rep;
	assert_false(policy_check_rcpt(c, &client, &a, &rep));
	assert_int_equal(rep.code, 550);
	assert_string_equal(rep.text, "Relaying denied");
	client.addr = NULL;
	assert_false(policy_check_rcpt(c, &client, &a, &rep));
	client.authenticated = true;
	assert_true(policy_check_rcpt(c, &client, &a, &rep));
	config_free(c);
}

static void test_domain_verdict(void **state)
{
	(void)state;
	static const char conf[] = "listen = 127.0.0.1:25 relay\ncheck_recipient_domain = yes\n";
	char err[256];
	struct config *c = NULL;
	assert_int_equal(config_load_text("t.conf", conf, strlen(conf), &c, err, sizeof(err)), 0);
	struct dns_mx_result res;
	memset(&res, 0, sizeof(res));
	struct policy_reply rep;
	static const struct { enum dns_status st; bool null_mx; int code; const char *esc; } rows2[] = {
		{ DNS_OK, false, 250, "2.1.5" },
		{ DNS_TEMPFAIL, false, 450, "4.4.3" },
		{ DNS_PERMFAIL, false, 550, "5.1.2" },
		{ DNS_PERMFAIL, true, 556, "5.1.10" },
	};
	for (size_t i = 0; i < sizeof(rows2) / sizeof(rows2[0]); i++) {
		res.status = rows2[i].st;
		res.null_mx = rows2[i].null_mx;
		bool ok = policy_domain_verdict(c, &res, &rep);
		if (rep.code != rows2[i].code || strcmp(rep.esc, rows2[i].esc) != 0 ||
		    ok != (rows2[i].code == 250))
			fail_msg("row %zu: got %d %s, want %d %s", i, rep.code, rep.esc, rows2[i].code,
			    rows2[i].esc);
	}
	assert_false(policy_domain_verdict(c, NULL, &rep));
	assert_int_equal(rep.code, 450);
	config_free(c);
	/* Off by default: every outcome is accepted. */
	assert_int_equal(config_load(NULL, &c, err, sizeof(err)), 0);
	res.status = DNS_PERMFAIL;
	assert_true(policy_domain_verdict(c, &res, &rep));
	assert_int_equal(rep.code, 250);
	config_free(c);
}

static void test_local_has_route(void **state)
{
	(void)state;
	static const struct { const char *local; bool want; } r[] = {
		{ "alice", false }, { "a.b-c+d", false }, { "a%b", true }, { "a!b", true },
		{ "\"a@b\"", true }, { "\"a\\@b\"", true }, { "\"a b\"", false }, { "\"\"", false },
		{ "\"", false }, { "\"a\\\"", false },
	};
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (policy_local_has_route(r[i].local) != r[i].want)
			fail_msg("%s: got %d, want %d", r[i].local, !r[i].want, r[i].want);
	assert_true(policy_local_has_route(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_no_networks),
		cmocka_unit_test(test_domain_verdict),
		cmocka_unit_test(test_local_has_route),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
