/*
 * fuzz_cmd: arbitrary bytes as a command line: verb split, the MAIL/RCPT
 * argument with its parameters, and xtext decoding of the same bytes.
 * Results must point inside the line; xtext must survive a round trip.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether p[0..n) lies inside s[0..size). */
static bool fuzz_inside(const char *s, size_t size, const char *p, size_t n)
{
	return p >= s && p + n <= s + size;
}

/* Parse arg as a MAIL or RCPT argument and check the result. */
static void fuzz_path_arg(const char *arg, size_t len, const char *prefix, unsigned flags)
{
	struct smtp_addr a;
	struct smtp_param p[SMTP_PARAMS_MAX];
	const char *err = NULL;
	int code = 0;
	int n = smtp_cmd_parse_path_arg(arg, len, prefix, flags, &a, p, SMTP_PARAMS_MAX, &err,
	    &code);
	if (n < 0) {
		if (err == NULL || (code != 501 && code != 553))
			abort();
		return;
	}
	if (n > SMTP_PARAMS_MAX)
		abort();
	for (int i = 0; i < n; i++) {
		if (p[i].key_len == 0 || !fuzz_inside(arg, len, p[i].key, p[i].key_len))
			abort();
		if (p[i].val != NULL &&
		    (p[i].val_len == 0 || !fuzz_inside(arg, len, p[i].val, p[i].val_len)))
			abort();
		if (memchr(p[i].key, ' ', p[i].key_len) != NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct smtp_cmd c;
	const char *err = NULL;
	if (smtp_cmd_parse(s, size, &c, &err) == 0) {
		if (!fuzz_inside(s, size, c.arg, c.arg_len))
			abort();
		const char *name = smtp_cmd_verb_name(c.verb);
		if (name == NULL)
			abort();
		unsigned flags = size > 0 ? data[0] & 0xf : 0;
		fuzz_path_arg(c.arg, c.arg_len, "FROM:", flags);
		fuzz_path_arg(c.arg, c.arg_len, "TO:", flags);
	} else if (err == NULL) {
		abort();
	}
	fuzz_path_arg(s, size, "FROM:", SMTP_ADDR_NULL_OK | SMTP_ADDR_UTF8_OK);

	char dec[4097], enc[3 * 4096 + 1], back[4097];
	if (size < sizeof(dec)) {
		int dn = smtp_xtext_decode(s, size, dec, sizeof(dec));
		if (dn >= 0) {
			int en = smtp_xtext_encode(dec, (size_t)dn, enc, sizeof(enc));
			if (en < 0)
				abort();
			int bn = smtp_xtext_decode(enc, (size_t)en, back, sizeof(back));
			if (bn != dn || memcmp(back, dec, (size_t)dn) != 0)
				abort();
		}
	}
	return 0;
}
