/*
 * fuzz_sts_policy: hostile bytes as an MTA-STS policy body (RFC 8461 3.2).
 *
 * A refused policy must leave the struct cleared with a printable reason;
 * an accepted one must keep every rule the parser promises (mode and mx
 * together, caps, patterns in their stored form), match each of its own
 * patterns, and write a canonical text that parses back equal. The same
 * bytes (to the first NUL) are also an MX host name matched against the
 * policy of RFC 8461 3.2's example. Never: touches the network.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sts/sts_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* What a stored pattern must be: "*." or not, then lower-case LDH labels, no trailing dot. */
static void fuzz_check_pattern(const char *pat)
{
	size_t n = strnlen(pat, STS_POLICY_MX_LEN);
	FUZZ_CHECK(n > 0 && n < STS_POLICY_MX_LEN);
	size_t i = (n > 2 && pat[0] == '*' && pat[1] == '.') ? 2 : 0;
	FUZZ_CHECK(i < n && pat[i] != '.' && pat[n - 1] != '.' && pat[n - 1] != '-');
	for (; i < n; i++)
		FUZZ_CHECK((pat[i] >= 'a' && pat[i] <= 'z') || (pat[i] >= '0' && pat[i] <= '9') ||
		    pat[i] == '-' || (pat[i] == '.' && pat[i + 1] != '.'));
}

/* An accepted policy keeps its promises and survives formatting. */
static void fuzz_check_ok(const struct sts_policy *p)
{
	FUZZ_CHECK(p->mode == STS_MODE_NONE || p->mode == STS_MODE_TESTING ||
	    p->mode == STS_MODE_ENFORCE);
	FUZZ_CHECK(p->max_age <= STS_POLICY_MAX_AGE_MAX);
	FUZZ_CHECK(p->nmx <= STS_POLICY_MX_MAX);
	FUZZ_CHECK(p->mode == STS_MODE_NONE || p->nmx > 0);
	for (size_t i = 0; i < p->nmx; i++) {
		fuzz_check_pattern(p->mx[i]);
		char host[STS_POLICY_MX_LEN + 2];
		if (p->mx[i][0] == '*')
			snprintf(host, sizeof(host), "X%s.", p->mx[i] + 1);	/* "X.domain." */
		else
			snprintf(host, sizeof(host), "%s", p->mx[i]);
		FUZZ_CHECK(sts_policy_mx_match(p, host));
	}
	static char text[STS_POLICY_FORMAT_MAX];
	size_t n = sts_policy_format(p, text, sizeof(text));
	FUZZ_CHECK(n > 0 && n < sizeof(text) && strlen(text) == n);
	static struct sts_policy q;
	struct sts_policy_error err;
	FUZZ_CHECK(sts_policy_parse(text, n, &q, &err) == STS_POLICY_OK);
	FUZZ_CHECK(sts_policy_equal(p, &q) && memcmp(p, &q, sizeof(q)) == 0);
	/* The canonical text is one field per line: version, mode, the patterns, max_age. */
	size_t pos = 0, len, lines = 0;
	const char *line;
	while (sts_policy_next_line(text, n, &pos, &line, &len))
		lines++;
	FUZZ_CHECK(lines == p->nmx + 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	static struct sts_policy p;
	struct sts_policy_error err;
	enum sts_policy_status st = sts_policy_parse(body, size, &p, &err);
	if (st == STS_POLICY_OK) {
		FUZZ_CHECK(err.line == 0 && err.why[0] == '\0');
		fuzz_check_ok(&p);
	} else {
		FUZZ_CHECK(st == STS_POLICY_INVALID || st == STS_POLICY_TOO_BIG);
		FUZZ_CHECK(err.why[0] != '\0');
		for (const char *c = err.why; *c != '\0'; c++)
			FUZZ_CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c <= 0x7e);
		FUZZ_CHECK(p.nmx == 0 && p.max_age == 0 && p.mode == STS_MODE_NONE);
		/* The line named is one of the body's (or 0 for the whole). */
		size_t lines = 0, pos = 0, len;
		const char *line;
		while (sts_policy_next_line(body, size, &pos, &line, &len))
			lines++;
		FUZZ_CHECK(err.line <= lines);
	}
	/* The bytes as an MX host name: the answer must agree with a plain reading of 4.1. */
	static const char rfc[] = "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	    "mx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n";
	static struct sts_policy r;
	FUZZ_CHECK(sts_policy_parse(rfc, sizeof(rfc) - 1, &r, &err) == STS_POLICY_OK);
	char host[300];
	size_t hl = strnlen(body, size < sizeof(host) - 1 ? size : sizeof(host) - 1);
	memcpy(host, body, hl);
	host[hl] = '\0';
	char low[300];
	for (size_t i = 0; i <= hl; i++)
		low[i] = (host[i] >= 'A' && host[i] <= 'Z') ? (char)(host[i] - 'A' + 'a') : host[i];
	if (hl > 0 && low[hl - 1] == '.')
		low[hl - 1] = '\0';
	const char *dot = strchr(low, '.');
	bool want = strcmp(low, "mail.example.com") == 0 || strcmp(low, "backupmx.example.com") == 0 ||
	    (dot != NULL && dot > low && strcmp(dot, ".example.net") == 0);
	FUZZ_CHECK(sts_policy_mx_match(&r, host) == want);
	return 0;
}
