/*
 * config_rate: the rate limit keys of the SMTP server: the value
 * "N/PERIOD" of client_connection_rate, client_message_rate,
 * client_recipient_rate, user_message_rate and user_recipient_rate (set
 * through the key table as CFG_K_RATE), the per-user user_rate lines, and
 * the lookup of a user's limits on the frozen result.
 *
 * Owns: the rate grammar (a count of 1..CFG_RATE_N_MAX, a duration of
 * 1s..7d; "0", "off" or "unlimited" for none) and its printed form; the
 * user_rate grammar ("USER [messages=RATE] [recipients=RATE]" or "USER
 * unlimited"), one line per user (a second names the first's line), the
 * lines sorted by user so that a session's lookup is a binary search.
 * Never: counts anything (policy/ratelimit.c does) or decides a reply
 * (server/smtpd_rate.c does).
 */
#include "config/config.h"
#include "config_parser.h"
#include "config_value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* Most user_rate lines (the file itself is at most CFG_FILE_MAX octets). */
#define CFG_USER_RATES_MAX 100000
/* Longest user name of a user_rate line (auth_file allows as much). */
#define CFG_USER_RATE_NAME_MAX 255

int config_rate_parse(const char *s, struct cfg_rate *out, const char **why)
{
	*out = (struct cfg_rate){ 0, 0 };
	if (strcmp(s, "0") == 0 || strcmp(s, "off") == 0 || strcmp(s, "unlimited") == 0)
		return 0;
	const char *slash = strchr(s, '/');
	uint64_t n, period;
	if (slash == NULL) {
		*why = "is not N/PERIOD (as 100/1h), 0, off or unlimited";
		return -1;
	}
	if (config_value_u64(s, (size_t)(slash - s), &n) < 0 || n < 1 || n > CFG_RATE_N_MAX) {
		*why = "does not start with a count of 1..1000000 (0 alone means no limit)";
		return -1;
	}
	if (config_value_duration(slash + 1, &period) < 0) {
		*why = "has a period that is not a duration (60s, 1m, 1h, 1d)";
		return -1;
	}
	if (period < 1 || period > CFG_RATE_PERIOD_MAX) {
		*why = "has a period out of range (1s..7d)";
		return -1;
	}
	*out = (struct cfg_rate){ (unsigned)n, (unsigned)period };
	return 0;
}

void config_rate_format(const struct cfg_rate *r, const char *none, char *buf, size_t len)
{
	char period[32];
	if (r->n == 0) {
		snprintf(buf, len, "%s", none);
		return;
	}
	config_value_format_duration(r->period, period, sizeof(period));
	snprintf(buf, len, "%u/%s", r->n, period);
}

/* Whether name can be a user of a user_rate line: no control octets, no '='. */
static bool cfg_rate_user_ok(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > CFG_USER_RATE_NAME_MAX)
		return false;
	for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++)
		if (*c <= 0x20 || *c == 0x7f || *c == '=')
			return false;
	return true;
}

/* One "messages=RATE" or "recipients=RATE" of a user_rate line into u. */
static int cfg_rate_user_part(struct cfg_parser *p, char *tok, struct cfg_user_rate *u)
{
	char q[256];
	const char *why;
	bool *has;
	struct cfg_rate *rate;
	const char *value;
	if (strncmp(tok, "messages=", 9) == 0) {
		has = &u->has_messages;
		rate = &u->messages;
		value = tok + 9;
	} else if (strncmp(tok, "recipients=", 11) == 0) {
		has = &u->has_recipients;
		rate = &u->recipients;
		value = tok + 11;
	} else {
		return cfg_error(p, "user_rate: '%s' is not messages=RATE, recipients=RATE or "
		    "unlimited", cfg_quote(q, sizeof(q), tok));
	}
	if (*has)
		return cfg_error(p, "user_rate: %.*s given twice", (int)(value - tok - 1), tok);
	if (config_rate_parse(value, rate, &why) < 0)
		return cfg_error(p, "user_rate: '%s' %s", cfg_quote(q, sizeof(q), value), why);
	*has = true;
	return 0;
}

/* user_rate = USER [messages=RATE] [recipients=RATE] | USER unlimited */
int cfg_set_user_rate(struct cfg_parser *p, char *value)
{
	char *tok[4];
	struct cfg_rate_limits *rl = &p->c->rate;
	size_t n = config_value_split(value, tok, 3);
	if (n < 2 || n > 3)
		return cfg_error(p, "user_rate: expected 'USER [messages=N/PERIOD] "
		    "[recipients=N/PERIOD]' or 'USER unlimited'");
	if (!cfg_rate_user_ok(tok[0])) {
		char q[256];
		return cfg_error(p, "user_rate: '%s' is not a user name (1 to %d octets, no '=')",
		    cfg_quote(q, sizeof(q), tok[0]), CFG_USER_RATE_NAME_MAX);
	}
	if (rl->nusers >= CFG_USER_RATES_MAX)
		return cfg_error(p, "user_rate: more than %d lines", CFG_USER_RATES_MAX);
	struct cfg_user_rate u = { .line = p->line };
	if (n == 2 && (strcmp(tok[1], "unlimited") == 0 || strcmp(tok[1], "off") == 0)) {
		/* Both parts given as no limit: a service account, a mailing list. */
		u.has_messages = u.has_recipients = true;
	} else {
		for (size_t i = 1; i < n; i++)
			if (cfg_rate_user_part(p, tok[i], &u) < 0)
				return -1;
	}
	u.user = xstrdup(tok[0]);
	rl->users = xreallocarray(rl->users, rl->nusers + 1, sizeof(*rl->users));
	rl->users[rl->nusers++] = u;
	return 0;
}

/* qsort order: by user, then by line (so the first of two lines for a user comes first). */
static int cfg_rate_user_cmp(const void *a, const void *b)
{
	const struct cfg_user_rate *x = a, *y = b;
	int c = strcmp(x->user, y->user);
	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

int cfg_finish_rate(struct cfg_parser *p)
{
	struct cfg_rate_limits *rl = &p->c->rate;
	if (rl->nusers > 1)
		qsort(rl->users, rl->nusers, sizeof(*rl->users), cfg_rate_user_cmp);
	for (size_t i = 1; i < rl->nusers; i++) {
		if (strcmp(rl->users[i - 1].user, rl->users[i].user) == 0) {
			char q[256];
			return cfg_error_at(p, rl->users[i].line, "user_rate: %s has a line already "
			    "(line %u)", cfg_quote(q, sizeof(q), rl->users[i].user),
			    rl->users[i - 1].line);
		}
	}
	return 0;
}

/* bsearch's comparison of a user name with a line. */
static int cfg_rate_user_find(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cfg_user_rate *)elem)->user);
}

void config_rate_user(const struct config *c, const char *user, struct cfg_rate *messages,
    struct cfg_rate *recipients)
{
	const struct cfg_rate_limits *rl = &c->rate;
	*messages = rl->user_message;
	*recipients = rl->user_recipient;
	if (user == NULL || rl->nusers == 0)
		return;
	const struct cfg_user_rate *u = bsearch(user, rl->users, rl->nusers, sizeof(*rl->users),
	    cfg_rate_user_find);
	if (u == NULL)
		return;
	if (u->has_messages)
		*messages = u->messages;
	if (u->has_recipients)
		*recipients = u->recipients;
}

void config_rate_free(struct config *c)
{
	struct cfg_rate_limits *rl = &c->rate;
	for (size_t i = 0; i < rl->nusers; i++)
		free(rl->users[i].user);
	free(rl->users);
	free(rl->exempt);
	rl->users = NULL;
	rl->exempt = NULL;
	rl->nusers = rl->nexempt = 0;
}
