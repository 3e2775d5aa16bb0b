/*
 * test_tlsrpt_report: the TLS-RPT JSON report (RFC 8460 4): the RFC's
 * example report written byte for byte, the escaping of every kind of
 * string, members left out when empty, each refusal with its reason, the
 * measuring contract, and the names of the result and policy types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tlsrpt/tlsrpt_report.h"

/* The example of RFC 8460 Appendix B, as this module writes it (no white space). */
static const char *const example_policy[] = { "version: STSv1", "mode: testing",
	"mx: *.mail.company-y.example", "max_age: 86400" };
static const char *const example_mx[] = { "*.mail.company-y.example" };
static const struct tlsrpt_failure example_failures[] = {
	{ .result_type = TLSRPT_RESULT_CERTIFICATE_EXPIRED, .sending_mta_ip = "2001:db8:abcd:0012::1",
	  .receiving_mx_hostname = "mx1.mail.company-y.example", .failed_session_count = 100 },
	{ .result_type = TLSRPT_RESULT_STARTTLS_NOT_SUPPORTED,
	  .sending_mta_ip = "2001:db8:abcd:0013::1",
	  .receiving_mx_hostname = "mx2.mail.company-y.example", .receiving_ip = "203.0.113.56",
	  .failed_session_count = 200,
	  .additional_information =
	      "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported" },
	{ .result_type = TLSRPT_RESULT_VALIDATION_FAILURE, .sending_mta_ip = "198.51.100.62",
	  .receiving_ip = "203.0.113.58", .receiving_mx_hostname = "mx-backup.mail.company-y.example",
	  .failed_session_count = 3, .failure_reason_code = "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED" },
};
static const struct tlsrpt_policy example_policies[] = { {
	.type = TLSRPT_POLICY_STS, .policy_string = example_policy, .npolicy_string = 4,
	.policy_domain = "company-y.example", .mx_host = example_mx, .nmx_host = 1,
	.total_successful_session_count = 5326, .total_failure_session_count = 303,
	.failures = example_failures, .nfailures = 3,
} };
static const struct tlsrpt_report example_report = {
	.organization_name = "Company-X", .start_datetime = 1459468800,
	.end_datetime = 1459555199, .contact_info = "sts-reporting@company-x.example",
	.report_id = "5065427c-23d3-47ca-b6e0-946ea0e8c4be", .policies = example_policies,
	.npolicies = 1,
};
static const char example_json[] =
    "{\"organization-name\":\"Company-X\",\"date-range\":{\"start-datetime\":"
    "\"2016-04-01T00:00:00Z\",\"end-datetime\":\"2016-04-01T23:59:59Z\"},"
    "\"contact-info\":\"sts-reporting@company-x.example\","
    "\"report-id\":\"5065427c-23d3-47ca-b6e0-946ea0e8c4be\",\"policies\":[{\"policy\":{"
    "\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\",\"mode: testing\","
    "\"mx: *.mail.company-y.example\",\"max_age: 86400\"],\"policy-domain\":"
    "\"company-y.example\",\"mx-host\":[\"*.mail.company-y.example\"]},\"summary\":{"
    "\"total-successful-session-count\":5326,\"total-failure-session-count\":303},"
    "\"failure-details\":[{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":"
    "\"2001:db8:abcd:0012::1\",\"receiving-mx-hostname\":\"mx1.mail.company-y.example\","
    "\"failed-session-count\":100},{\"result-type\":\"starttls-not-supported\","
    "\"sending-mta-ip\":\"2001:db8:abcd:0013::1\",\"receiving-mx-hostname\":"
    "\"mx2.mail.company-y.example\",\"receiving-ip\":\"203.0.113.56\","
    "\"failed-session-count\":200,\"additional-information\":"
    "\"https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported\"},"
    "{\"result-type\":\"validation-failure\",\"sending-mta-ip\":\"198.51.100.62\","
    "\"receiving-mx-hostname\":\"mx-backup.mail.company-y.example\",\"receiving-ip\":"
    "\"203.0.113.58\",\"failed-session-count\":3,\"failure-reason-code\":"
    "\"X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED\"}]}]}";

static void test_report_rfc_example(void **state)
{
	(void)state;
	char out[4096], why[128];
	size_t len;
	enum tlsrpt_report_status st = tlsrpt_report_write(&example_report, out, sizeof(out), &len,
	    why, sizeof(why));
	if (st != TLSRPT_REPORT_OK)
		fail_msg("got status %d (%s), want OK", st, why);
	if (len != strlen(example_json) || strcmp(out, example_json) != 0)
		fail_msg("got\n%s\nwant\n%s", out, example_json);
	assert_string_equal(why, "");
}

/* The measuring contract: cap 0 measures, a short buffer gets "" and TOO_BIG. */
static void test_report_too_big(void **state)
{
	(void)state;
	size_t want = strlen(example_json), len = 1;
	assert_int_equal(tlsrpt_report_write(&example_report, NULL, 0, &len, NULL, 0),
	    TLSRPT_REPORT_TOO_BIG);
	assert_int_equal(len, want);
	char out[4096];
	memset(out, 'x', sizeof(out));
	assert_int_equal(tlsrpt_report_write(&example_report, out, want, &len, NULL, 0),
	    TLSRPT_REPORT_TOO_BIG);
	assert_int_equal(len, want);
	assert_string_equal(out, "");
	assert_int_equal(tlsrpt_report_write(&example_report, out, want + 1, &len, NULL, 0),
	    TLSRPT_REPORT_OK);
	assert_string_equal(out, example_json);
}

struct escape_row {
	const char *in;
	const char *want;	/* the JSON string, quotes included */
};

static void test_report_escaping(void **state)
{
	(void)state;
	static const struct escape_row rows[] = {
		{ "plain", "\"plain\"" },
		{ "q\"b\\s/", "\"q\\\"b\\\\s/\"" },
		{ "\n\r\t\b\f", "\"\\u000a\\u000d\\u0009\\u0008\\u000c\"" },
		{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\"" },
		{ "\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"" },
		/* Invalid: a lone continuation, a cut sequence, overlong, surrogate, past U+10FFFF. */
		{ "a\x80z", "\"a\xef\xbf\xbdz\"" },
		{ "a\xc3", "\"a\xef\xbf\xbd\"" },
		{ "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xff\xfe", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tlsrpt_report r = example_report;
		r.organization_name = rows[i].in;
		char out[4096], want[256];
		size_t len;
		assert_int_equal(tlsrpt_report_write(&r, out, sizeof(out), &len, NULL, 0),
		    TLSRPT_REPORT_OK);
		snprintf(want, sizeof(want), "{\"organization-name\":%s,\"date-range\"", rows[i].want);
		if (strncmp(out, want, strlen(want)) != 0)
			fail_msg("row %zu: got %.*s, want %s", i, (int)strlen(want), out, want);
	}
}

/* Optional members are left out when NULL, "" or counted 0; required ones stay. */
static void test_report_optional(void **state)
{
	(void)state;
	static const struct tlsrpt_failure fail = { .result_type = TLSRPT_RESULT_DANE_REQUIRED,
		.sending_mta_ip = "", .receiving_mx_hostname = NULL, .failed_session_count = 0 };
	static const struct tlsrpt_policy pol = { .type = TLSRPT_POLICY_NO_POLICY_FOUND,
		.policy_domain = "example.net", .failures = &fail, .nfailures = 1 };
	static const struct tlsrpt_policy pol2 = { .type = TLSRPT_POLICY_TLSA,
		.policy_domain = "example.org", .total_successful_session_count = TLSRPT_REPORT_COUNT_MAX };
	const struct tlsrpt_policy pols[2] = { pol, pol2 };
	struct tlsrpt_report r = { .organization_name = "o", .contact_info = "c@example.net",
		.report_id = "id", .start_datetime = 0, .end_datetime = 0, .policies = pols,
		.npolicies = 2 };
	char out[1024];
	size_t len;
	assert_int_equal(tlsrpt_report_write(&r, out, sizeof(out), &len, NULL, 0), TLSRPT_REPORT_OK);
	assert_string_equal(out,
	    "{\"organization-name\":\"o\",\"date-range\":{\"start-datetime\":\"1970-01-01T00:00:00Z\","
	    "\"end-datetime\":\"1970-01-01T00:00:00Z\"},\"contact-info\":\"c@example.net\","
	    "\"report-id\":\"id\",\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\","
	    "\"policy-domain\":\"example.net\"},\"summary\":{\"total-successful-session-count\":0,"
	    "\"total-failure-session-count\":0},\"failure-details\":[{\"result-type\":"
	    "\"dane-required\",\"failed-session-count\":0}]},{\"policy\":{\"policy-type\":\"tlsa\","
	    "\"policy-domain\":\"example.org\"},\"summary\":{\"total-successful-session-count\":"
	    "9007199254740991,\"total-failure-session-count\":0}}]}");
	/* No policies at all is an empty list. */
	r.npolicies = 0;
	r.policies = NULL;
	assert_int_equal(tlsrpt_report_write(&r, out, sizeof(out), &len, NULL, 0), TLSRPT_REPORT_OK);
	assert_non_null(strstr(out, "\"policies\":[]}"));
}

struct invalid_row {
	const char *name;
	void (*spoil)(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f);
	const char *why;
};

static const char *const null_list[] = { "a", NULL };

static void spoil_org(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)p, (void)f;
	r->organization_name = "";
}
static void spoil_contact(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)p, (void)f;
	r->contact_info = NULL;
}
static void spoil_id(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)p, (void)f;
	r->report_id = "";
}
static void spoil_order(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)p, (void)f;
	r->end_datetime = r->start_datetime - 1;
}
static void spoil_negative(struct tlsrpt_report *r, struct tlsrpt_policy *p,
    struct tlsrpt_failure *f)
{
	(void)p, (void)f;
	r->start_datetime = -1;
}
static void spoil_future(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)p, (void)f;
	r->end_datetime = INT64_C(253402300800);
}
static void spoil_policies(struct tlsrpt_report *r, struct tlsrpt_policy *p,
    struct tlsrpt_failure *f)
{
	(void)p, (void)f;
	r->policies = NULL;
}
static void spoil_type(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)r, (void)f;
	p->type = (enum tlsrpt_policy_type)3;
}
static void spoil_domain(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)r, (void)f;
	p->policy_domain = "";
}
static void spoil_string(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)r, (void)f;
	p->policy_string = null_list;
	p->npolicy_string = 2;
}
static void spoil_mx(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)r, (void)f;
	p->mx_host = NULL;
	p->nmx_host = 1;
}
static void spoil_count(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)r, (void)f;
	p->total_failure_session_count = TLSRPT_REPORT_COUNT_MAX + 1;
}
static void spoil_failures(struct tlsrpt_report *r, struct tlsrpt_policy *p,
    struct tlsrpt_failure *f)
{
	(void)r, (void)f;
	p->failures = NULL;
}
static void spoil_result(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)r, (void)p;
	f->result_type = (enum tlsrpt_result_type)TLSRPT_RESULT_COUNT;
}
static void spoil_fcount(struct tlsrpt_report *r, struct tlsrpt_policy *p, struct tlsrpt_failure *f)
{
	(void)r, (void)p;
	f->failed_session_count = UINT64_MAX;
}

static void test_report_invalid(void **state)
{
	(void)state;
	static const struct invalid_row rows[] = {
		{ "no organization-name", spoil_org, "organization-name" },
		{ "no contact-info", spoil_contact, "contact-info" },
		{ "no report-id", spoil_id, "report-id" },
		{ "end before start", spoil_order, "date-range" },
		{ "start before 1970", spoil_negative, "date-range" },
		{ "end past 9999", spoil_future, "date-range" },
		{ "policies NULL", spoil_policies, "policies missing" },
		{ "unknown policy type", spoil_type, "policies[0]: unknown policy type 3" },
		{ "no policy-domain", spoil_domain, "policies[0]: no policy-domain" },
		{ "NULL policy-string line", spoil_string, "a NULL" },
		{ "NULL mx-host", spoil_mx, "a NULL" },
		{ "count over 2^53", spoil_count, "2^53" },
		{ "failures NULL", spoil_failures, "failure-details missing" },
		{ "unknown result type", spoil_result, "failure-details[1]: unknown result type 11" },
		{ "failed count over 2^53", spoil_fcount, "failure-details[1]: failed-session-count" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tlsrpt_report r = example_report;
		struct tlsrpt_policy p = example_policies[0];
		struct tlsrpt_failure f[3];
		memcpy(f, example_failures, sizeof(f));
		p.failures = f;
		r.policies = &p;
		rows[i].spoil(&r, &p, &f[1]);
		char out[4096], why[128];
		size_t len = 7;
		out[0] = 'x';
		enum tlsrpt_report_status st = tlsrpt_report_write(&r, out, sizeof(out), &len, why,
		    sizeof(why));
		if (st != TLSRPT_REPORT_INVALID)
			fail_msg("%s: got status %d, want INVALID", rows[i].name, st);
		if (strstr(why, rows[i].why) == NULL)
			fail_msg("%s: why got \"%s\", want it to hold \"%s\"", rows[i].name, why,
			    rows[i].why);
		if (len != 0 || out[0] != '\0')
			fail_msg("%s: something was written (len %zu)", rows[i].name, len);
	}
}

static void test_report_names(void **state)
{
	(void)state;
	static const char *const want[TLSRPT_RESULT_COUNT] = {
		"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
		"certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
		"dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
	};
	for (int t = 0; t < TLSRPT_RESULT_COUNT; t++) {
		const char *got = tlsrpt_result_type_name((enum tlsrpt_result_type)t);
		if (got == NULL || strcmp(got, want[t]) != 0)
			fail_msg("result type %d: got %s, want %s", t, got ? got : "NULL", want[t]);
	}
	assert_null(tlsrpt_result_type_name((enum tlsrpt_result_type)TLSRPT_RESULT_COUNT));
	assert_null(tlsrpt_result_type_name((enum tlsrpt_result_type)-1));
	assert_string_equal(tlsrpt_policy_type_name(TLSRPT_POLICY_TLSA), "tlsa");
	assert_string_equal(tlsrpt_policy_type_name(TLSRPT_POLICY_STS), "sts");
	assert_string_equal(tlsrpt_policy_type_name(TLSRPT_POLICY_NO_POLICY_FOUND), "no-policy-found");
	assert_null(tlsrpt_policy_type_name((enum tlsrpt_policy_type)3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_rfc_example),
		cmocka_unit_test(test_report_too_big),
		cmocka_unit_test(test_report_escaping),
		cmocka_unit_test(test_report_optional),
		cmocka_unit_test(test_report_invalid),
		cmocka_unit_test(test_report_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
