/*
 * test_smtp_hdrrcpt: recipients from To, Cc and Bcc for "mxrelay send -t",
 * and the header section sent without its Bcc fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "smtp/smtp_hdrrcpt.h"

struct hdr_case {
	const char *name;
	const char *header;
	const char *want;	/* recipients joined by " " */
	const char *want_header;/* NULL: the header unchanged */
};

static const struct hdr_case hdr_cases[] = {
	{ "plain To", "To: bob@a.test\r\n\r\n", "bob@a.test", NULL },
	{ "display names and quotes",
	  "To: Bob <bob@a.test>, \"Carol, C.\" <carol@a.test>\r\n\r\n",
	  "bob@a.test carol@a.test", NULL },
	{ "comments", "Cc: dave@b.test (Dave (the) boss), (x) erin@b.test\r\n\r\n",
	  "dave@b.test erin@b.test", NULL },
	{ "folded and lower-case names", "to: a@x.test,\r\n\tb@x.test\r\ncC:\r\n c@x.test\r\n\r\n",
	  "a@x.test b@x.test c@x.test", NULL },
	{ "group", "To: friends: a@x.test, B <b@x.test>;, c@x.test\r\n\r\n",
	  "a@x.test b@x.test c@x.test", NULL },
	{ "empty group", "To: undisclosed-recipients:;\r\n\r\n", "", NULL },
	{ "route dropped", "To: <@relay.test:bob@a.test>\r\n\r\n", "bob@a.test", NULL },
	{ "address literal", "To: x@[IPv6:::1], y@[127.0.0.1]\r\n\r\n",
	  "x@[IPv6:::1] y@[127.0.0.1]", NULL },
	{ "bcc removed with its continuation",
	  "From: a@s.test\r\nBcc: Hidden <erin@a.test>,\r\n  frank@b.test\r\nSubject: x\r\n\r\nBcc: body\r\n",
	  "erin@a.test frank@b.test",
	  "From: a@s.test\r\nSubject: x\r\n\r\nBcc: body\r\n" },
	{ "other fields ignored", "From: a@s.test\r\nReply-To: r@s.test\r\nTo-do: x@y.test\r\n\r\n",
	  "", NULL },
	{ "LF line ends", "To: a@x.test\nBcc: b@x.test\n\nbody\n", "a@x.test b@x.test",
	  "To: a@x.test\n\nbody\n" },
	{ "quoted local part", "To: \"john smith\"@x.test\r\n\r\n", "\"john smith\"@x.test", NULL },
};

/* Each row: the recipients found and the header left. */
static void test_hdr_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		struct smtp_hdrrcpt r;
		smtp_hdrrcpt_parse(c->header, strlen(c->header), &r);
		char got[512] = "";
		size_t used = 0;
		for (size_t k = 0; k < r.n; k++)
			used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%s", k ? " " : "", r.addrs[k]);
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, got, c->want);
		const char *wh = c->want_header != NULL ? c->want_header : c->header;
		if (r.header_len != strlen(wh) || memcmp(r.header, wh, r.header_len) != 0)
			fail_msg("%s: header got \"%.*s\", want \"%s\"", c->name, (int)r.header_len, r.header, wh);
		smtp_hdrrcpt_free(&r);
	}
}

/* The header section ends at the first empty line, CRLF or LF. */
static void test_hdr_end(void **state)
{
	(void)state;
	const char *m1 = "A: b\r\nC: d\r\n\r\nbody";
	assert_int_equal(smtp_hdrrcpt_end(m1, strlen(m1)), strlen("A: b\r\nC: d\r\n\r\n"));
	const char *m2 = "A: b\n\nbody";
	assert_int_equal(smtp_hdrrcpt_end(m2, strlen(m2)), 6);
	const char *m3 = "A: b\r\nno blank line";
	assert_int_equal(smtp_hdrrcpt_end(m3, strlen(m3)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_table),
		cmocka_unit_test(test_hdr_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
