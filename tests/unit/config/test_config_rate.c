/*
 * test_config_rate: the rate limit keys: every form of a rate and each
 * wrong one with its file and line, user_rate lines (parts, unlimited,
 * one line per user), rate_limit_exempt, the defaults (no limit at all),
 * and the lookup of a user's limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tsupport.h"

#include "config/config.h"
#include "util/file.h"
#include "util/log.h"

#define BASE "listen = 127.0.0.1:2525 relay\nqueue_dir = /tmp\n"

/* Load BASE + text as "t.conf": the configuration, or NULL with err. */
static struct config *load(const char *text, char *err, size_t errlen)
{
	char all[4096];
	snprintf(all, sizeof(all), "%s%s", BASE, text);
	struct config *c = NULL;
	if (config_load_text("t.conf", all, strlen(all), &c, err, errlen) != 0)
		return NULL;
	return c;
}

/* One rate value: what it parses to, or the start of why not. */
static const struct {
	const char *text;
	unsigned n, period;
	const char *why;
} rates[] = {
	{ "10/1m", 10, 60, NULL },
	{ "100/60s", 100, 60, NULL },
	{ "100/60", 100, 60, NULL },
	{ "500/1d", 500, 86400, NULL },
	{ "3/2h", 3, 7200, NULL },
	{ "1/1s", 1, 1, NULL },
	{ "1000000/7d", 1000000, 604800, NULL },
	{ "0", 0, 0, NULL },
	{ "off", 0, 0, NULL },
	{ "unlimited", 0, 0, NULL },
	{ "10", 0, 0, "is not N/PERIOD" },
	{ "ten/1m", 0, 0, "does not start with a count" },
	{ "0/1m", 0, 0, "does not start with a count" },
	{ "/1m", 0, 0, "does not start with a count" },
	{ "-1/1m", 0, 0, "does not start with a count" },
	{ "1000001/1m", 0, 0, "does not start with a count" },
	{ "10/1w", 0, 0, "has a period that is not a duration" },
	{ "10/m", 0, 0, "has a period that is not a duration" },
	{ "10/", 0, 0, "has a period that is not a duration" },
	{ "10/1m/2", 0, 0, "has a period that is not a duration" },
	{ "10/0s", 0, 0, "has a period out of range" },
	{ "10/8d", 0, 0, "has a period out of range" },
	{ "Off", 0, 0, "is not N/PERIOD" },
};

static void test_rate_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct cfg_rate r = { 99, 99 };
		const char *why = NULL;
		int rc = config_rate_parse(rates[i].text, &r, &why);
		if (rates[i].why == NULL) {
			if (rc != 0 || r.n != rates[i].n || r.period != rates[i].period)
				fail_msg("'%s': got rc %d %u/%us (%s), want %u/%us", rates[i].text, rc, r.n,
				    r.period, why != NULL ? why : "-", rates[i].n, rates[i].period);
		} else if (rc == 0 || why == NULL || strncmp(why, rates[i].why, strlen(rates[i].why)) != 0) {
			fail_msg("'%s': got rc %d (%s), want an error starting '%s'", rates[i].text, rc,
			    why != NULL ? why : "-", rates[i].why);
		}
	}
}

/* Formatting: the largest whole unit, and the word for no limit. */
static void test_rate_format(void **state)
{
	(void)state;
	static const struct { struct cfg_rate r; const char *none; const char *want; } rows[] = {
		{ { 10, 60 }, "off", "10/1m" },
		{ { 30, 90 }, "off", "30/90s" },
		{ { 1, 86400 }, "off", "1/1d" },
		{ { 7, 7200 }, "off", "7/2h" },
		{ { 0, 0 }, "off", "off" },
		{ { 0, 0 }, "unlimited", "unlimited" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[32];
		config_rate_format(&rows[i].r, rows[i].none, buf, sizeof(buf));
		if (strcmp(buf, rows[i].want) != 0)
			fail_msg("%u/%us: got '%s', want '%s'", rows[i].r.n, rows[i].r.period, buf,
			    rows[i].want);
	}
}

/* Lines that must be refused, with the error the administrator reads. */
static const struct { const char *text; const char *want; } bad[] = {
	{ "client_message_rate = 10\n", "t.conf:3: client_message_rate: '10' is not N/PERIOD" },
	{ "client_connection_rate = 0/1m\n", "t.conf:3: client_connection_rate: '0/1m' does not "
	  "start with a count of 1..1000000 (0 alone means no limit)" },
	{ "user_message_rate = 5/1w\n", "t.conf:3: user_message_rate: '5/1w' has a period that is "
	  "not a duration (60s, 1m, 1h, 1d)" },
	{ "user_recipient_rate = 5/8d\n", "t.conf:3: user_recipient_rate: '5/8d' has a period out "
	  "of range (1s..7d)" },
	{ "client_recipient_rate = 10/1m 20/1h\n", "t.conf:3: client_recipient_rate: expected one "
	  "value" },
	{ "client_message_rate = 10/1m\nclient_message_rate = 20/1m\n", "t.conf:4: duplicate key "
	  "'client_message_rate' (first set on line 3)" },
	{ "user_rate = alice\n", "t.conf:3: user_rate: expected 'USER [messages=N/PERIOD] "
	  "[recipients=N/PERIOD]' or 'USER unlimited'" },
	{ "user_rate = alice messages=1/1s recipients=1/1s messages=2/1s\n", "t.conf:3: user_rate: "
	  "expected 'USER" },
	{ "user_rate = alice messages=1/1s messages=2/1s\n", "t.conf:3: user_rate: messages given "
	  "twice" },
	{ "user_rate = alice bogus=1\n", "t.conf:3: user_rate: 'bogus=1' is not messages=RATE, "
	  "recipients=RATE or unlimited" },
	{ "user_rate = alice messages=5\n", "t.conf:3: user_rate: '5' is not N/PERIOD" },
	{ "user_rate = messages=10/1m recipients=1/1s\n", "t.conf:3: user_rate: 'messages=10/1m' "
	  "is not a user name (1 to 255 octets, no '=')" },
	{ "user_rate = bob unlimited\n# a comment\nuser_rate = carol unlimited\n"
	  "user_rate = bob messages=1/1s\n", "t.conf:6: user_rate: bob has a line already "
	  "(line 3)" },
	{ "rate_limit_exempt = 10.0.0.0/33\n", "t.conf:3: rate_limit_exempt: '10.0.0.0/33' is not "
	  "an address/prefix" },
	{ "rate_limit_exempt = 10.0.0.0/8\nrate_limit_exempt = ::1\n", "t.conf:4: duplicate key "
	  "'rate_limit_exempt' (first set on line 3)" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[512] = "";
		struct config *c = load(bad[i].text, err, sizeof(err));
		if (c != NULL) {
			config_free(c);
			fail_msg("row %zu: loaded, want the error %s", i, bad[i].want);
		}
		if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
			fail_msg("row %zu: got '%s', want '%s'", i, err, bad[i].want);
	}
}

/* Nothing set: no limit at all, no user line, nobody exempt (an upgrade refuses nothing new). */
static void test_defaults(void **state)
{
	(void)state;
	char err[512];
	struct config *c = load("", err, sizeof(err));
	if (c == NULL)
		fail_msg("load: %s", err);
	const struct cfg_rate *all[] = { &c->rate.client_connection, &c->rate.client_message,
		&c->rate.client_recipient, &c->rate.user_message, &c->rate.user_recipient };
	for (size_t i = 0; i < 5; i++)
		if (all[i]->n != 0)
			fail_msg("rate %zu: got %u/%us by default, want no limit", i, all[i]->n,
			    all[i]->period);
	assert_int_equal(c->rate.nusers, 0);
	assert_int_equal(c->rate.nexempt, 0);
	struct cfg_rate m, r;
	config_rate_user(c, "anyone", &m, &r);
	assert_int_equal(m.n, 0);
	assert_int_equal(r.n, 0);
	config_free(c);
}

/* Each user's limits: its own line's parts, the defaults for the rest; names compared exactly. */
static void test_user_lookup(void **state)
{
	(void)state;
	char err[512];
	struct config *c = load("user_message_rate = 100/1h\nuser_recipient_rate = 1000/1h\n"
	    "user_rate = zoe messages=5/1m\n"
	    "user_rate = bob recipients=20/1d\n"
	    "user_rate = svc unlimited\n"
	    "user_rate = alice@example.test messages=off, recipients=7/1s\n"
	    "user_rate = mia off\n"
	    "rate_limit_exempt = 192.0.2.0/24 ::ffff:198.51.100.0/120 2001:db8::/48\n",
	    err, sizeof(err));
	if (c == NULL)
		fail_msg("load: %s", err);
	static const struct { const char *user; unsigned mn, mp, rn, rp; } rows[] = {
		{ "zoe", 5, 60, 1000, 3600 },
		{ "bob", 100, 3600, 20, 86400 },
		{ "svc", 0, 0, 0, 0 },
		{ "mia", 0, 0, 0, 0 },
		{ "alice@example.test", 0, 0, 7, 1 },
		{ "Alice@example.test", 100, 3600, 1000, 3600 },
		{ "zo", 100, 3600, 1000, 3600 },
		{ "zoey", 100, 3600, 1000, 3600 },
		{ "", 100, 3600, 1000, 3600 },
		{ NULL, 100, 3600, 1000, 3600 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cfg_rate m = { 99, 99 }, r = { 99, 99 };
		config_rate_user(c, rows[i].user, &m, &r);
		if (m.n != rows[i].mn || m.period != rows[i].mp || r.n != rows[i].rn ||
		    r.period != rows[i].rp)
			fail_msg("%s: got messages %u/%us recipients %u/%us, want %u/%us and %u/%us",
			    rows[i].user != NULL ? rows[i].user : "(none)", m.n, m.period, r.n, r.period,
			    rows[i].mn, rows[i].mp, rows[i].rn, rows[i].rp);
	}
	/* Sorted by name, for the binary search. */
	assert_int_equal(c->rate.nusers, 5);
	for (size_t i = 1; i < c->rate.nusers; i++)
		assert_true(strcmp(c->rate.users[i - 1].user, c->rate.users[i].user) < 0);
	/* The exempt networks, an IPv4-mapped one taken as IPv4. */
	static const struct { const char *ip; bool exempt; } nets[] = {
		{ "192.0.2.77", true }, { "192.0.3.1", false }, { "198.51.100.9", true },
		{ "::ffff:192.0.2.1", true }, { "2001:db8:0:ffff::1", true }, { "2001:db8:1::1", false },
	};
	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		struct sockaddr_storage ss = tsupport_sockaddr(nets[i].ip);
		bool got = config_networks_match(c->rate.exempt, c->rate.nexempt,
		    (const struct sockaddr *)&ss);
		if (got != nets[i].exempt)
			fail_msg("%s: got exempt %d, want %d", nets[i].ip, got, nets[i].exempt);
	}
	config_free(c);
}

/* A reload gathers every bad line: the rate errors among them, each at its line. */
static void test_reload_lists_every_bad_line(void **state)
{
	(void)state;
	const char *text = BASE "client_message_rate = 5\nuser_rate = x\nuser_message_rate = 1/1m\n";
	struct file_set *fs = file_set_new(true);
	struct config *c = NULL;
	char err[1024];
	assert_int_equal(config_load_text_files("t.conf", text, strlen(text), fs, &c, err,
	    sizeof(err)), -1);
	if (strstr(err, "t.conf:3: client_message_rate") == NULL ||
	    strstr(err, "t.conf:4: user_rate") == NULL)
		fail_msg("got '%s', want the errors of lines 3 and 4", err);
	file_set_free(fs);
}

int main(void)
{
	log_init("test_config_rate", LOG_LVL_ERR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_values),
		cmocka_unit_test(test_rate_format),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_user_lookup),
		cmocka_unit_test(test_reload_lists_every_bad_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
