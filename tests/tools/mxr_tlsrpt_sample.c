/*
 * mxr_tlsrpt_sample: write a sample TLS-RPT report mail (RFC 8460 5.3) to
 * standard output, for tests/integration/test_tlsrpt_format.py.
 *
 * Owns: turning command-line values into one report (an MTA-STS policy
 * parsed by sts_policy and sent as its canonical lines, a summary and two
 * failure details, one with hostile text to escape), its JSON, gzip and
 * mail, each through the library's codecs.
 * Never: part of the product: built only with the tests, it reads no
 * clock (every time is an option) and no file but --policy's.
 *
 * Usage: mxr_tlsrpt_sample [--json | --result-types] [--policy FILE]
 *     [--org NAME] [--contact ADDR] [--report-id ID] [--start T] [--end T]
 *     [--submitter DOMAIN] [--policy-domain DOMAIN] [--from ADDR] [--to ADDR]
 *     [--date T] [--unique-id ID] [--message-id MSGID] [--reason TEXT]
 * T is Unix seconds. --json writes the report's JSON instead of the mail;
 * --result-types writes the result type names, one a line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts/sts_policy.h"
#include "tlsrpt/tlsrpt_gzip.h"
#include "tlsrpt/tlsrpt_mail.h"
#include "tlsrpt/tlsrpt_report.h"

#define SAMPLE_JSON_MAX (1024 * 1024)

static const char sample_policy[] =
    "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.mail.example.com\r\n"
    "max_age: 86400\r\n";

struct sample_args {
	bool json, result_types;
	const char *policy_file, *reason, *message_id, *unique_id;
	struct tlsrpt_report report;
	struct tlsrpt_mail mail;
};

/* Stop with a message: the test shows standard error. */
static void sample_die(const char *what, const char *why)
{
	fprintf(stderr, "mxr_tlsrpt_sample: %s: %s\n", what, why);
	exit(1);
}

/* Read --policy FILE into buf (at most STS_POLICY_BODY_MAX octets); its length. */
static size_t sample_read_policy(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		sample_die(path, "cannot open");
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* Fill a with the defaults, then the options of argv. */
static void sample_parse_args(int argc, char **argv, struct sample_args *a)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "result-types", no_argument, NULL, 'r' },
		{ "policy", required_argument, NULL, 'p' }, { "org", required_argument, NULL, 'o' },
		{ "contact", required_argument, NULL, 'c' },
		{ "report-id", required_argument, NULL, 'i' },
		{ "start", required_argument, NULL, 's' }, { "end", required_argument, NULL, 'e' },
		{ "submitter", required_argument, NULL, 'S' },
		{ "policy-domain", required_argument, NULL, 'd' },
		{ "from", required_argument, NULL, 'f' }, { "to", required_argument, NULL, 't' },
		{ "date", required_argument, NULL, 'D' }, { "unique-id", required_argument, NULL, 'u' },
		{ "message-id", required_argument, NULL, 'm' },
		{ "reason", required_argument, NULL, 'R' }, { NULL, 0, NULL, 0 },
	};
	memset(a, 0, sizeof(*a));
	a->report.organization_name = "Company-X";
	a->report.contact_info = "sts-reporting@company-x.example";
	a->report.report_id = "5065427c-23d3-47ca-b6e0-946ea0e8c4be";
	a->report.start_datetime = 1459468800;	/* 2016-04-01T00:00:00Z */
	a->report.end_datetime = 1459555199;
	a->mail.submitter = "company-x.example";
	a->mail.policy_domain = "example.com";
	a->mail.from = "tlsrpt@company-x.example";
	a->mail.to = "tlsrpt-reports@example.com";
	a->mail.date = 1459558800;
	a->reason = "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED";
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j': a->json = true; break;
		case 'r': a->result_types = true; break;
		case 'p': a->policy_file = optarg; break;
		case 'o': a->report.organization_name = optarg; break;
		case 'c': a->report.contact_info = optarg; break;
		case 'i': a->report.report_id = optarg; break;
		case 's': a->report.start_datetime = strtoll(optarg, NULL, 10); break;
		case 'e': a->report.end_datetime = strtoll(optarg, NULL, 10); break;
		case 'S': a->mail.submitter = optarg; break;
		case 'd': a->mail.policy_domain = optarg; break;
		case 'f': a->mail.from = optarg; break;
		case 't': a->mail.to = optarg; break;
		case 'D': a->mail.date = strtoll(optarg, NULL, 10); break;
		case 'u': a->unique_id = optarg; break;
		case 'm': a->message_id = optarg; break;
		case 'R': a->reason = optarg; break;
		default: sample_die("usage", "see the comment at the top of mxr_tlsrpt_sample.c");
		}
	}
}

int main(int argc, char **argv)
{
	struct sample_args a;
	sample_parse_args(argc, argv, &a);
	if (a.result_types) {
		for (int t = 0; t < TLSRPT_RESULT_COUNT; t++)
			printf("%s\n", tlsrpt_result_type_name((enum tlsrpt_result_type)t));
		return 0;
	}
	/* The policy: parsed, then sent as its canonical lines and its mx patterns. */
	static char body[STS_POLICY_BODY_MAX], text[STS_POLICY_FORMAT_MAX];
	size_t blen = a.policy_file != NULL ?
	    sample_read_policy(a.policy_file, body, sizeof(body)) : strlen(sample_policy);
	static struct sts_policy pol;
	struct sts_policy_error perr;
	if (sts_policy_parse(a.policy_file != NULL ? body : sample_policy, blen, &pol, &perr) !=
	    STS_POLICY_OK)
		sample_die("policy", perr.why);
	size_t tlen = sts_policy_format(&pol, text, sizeof(text));
	const char *lines[STS_POLICY_MX_MAX + 3], *mx[STS_POLICY_MX_MAX];
	size_t nlines = 0, pos = 0, llen;
	const char *line;
	while (sts_policy_next_line(text, tlen, &pos, &line, &llen)) {
		((char *)line)[llen] = '\0';	/* text is ours: each LF becomes a NUL */
		lines[nlines++] = line;
	}
	for (size_t i = 0; i < pol.nmx; i++)
		mx[i] = pol.mx[i];
	struct tlsrpt_failure fails[2] = {
		{ .result_type = TLSRPT_RESULT_CERTIFICATE_EXPIRED,
		  .sending_mta_ip = "2001:db8:abcd:0012::1",
		  .receiving_mx_hostname = "mx1.example.com", .failed_session_count = 100 },
		{ .result_type = TLSRPT_RESULT_VALIDATION_FAILURE, .sending_mta_ip = "198.51.100.62",
		  .receiving_mx_hostname = "mx-backup.mail.example.com",
		  .receiving_mx_helo = "mx-backup \"quoted\"\t\x01 caf\xc3\xa9 \xff\xfe",
		  .receiving_ip = "203.0.113.58", .failed_session_count = 3,
		  .additional_information = "https://reports.company-x.example/report_info?id=1",
		  .failure_reason_code = a.reason },
	};
	struct tlsrpt_policy rp = {
		.type = TLSRPT_POLICY_STS, .policy_string = lines, .npolicy_string = nlines,
		.policy_domain = a.mail.policy_domain, .mx_host = mx, .nmx_host = pol.nmx,
		.total_successful_session_count = 5326, .total_failure_session_count = 103,
		.failures = fails, .nfailures = 2,
	};
	a.report.policies = &rp;
	a.report.npolicies = 1;
	static char json[SAMPLE_JSON_MAX];
	size_t jlen;
	char why[256];
	if (tlsrpt_report_write(&a.report, json, sizeof(json), &jlen, why, sizeof(why)) !=
	    TLSRPT_REPORT_OK)
		sample_die("report", why[0] != '\0' ? why : "too big");
	if (a.json) {
		fwrite(json, 1, jlen, stdout);
		return 0;
	}
	static unsigned char gz[SAMPLE_JSON_MAX + 1024];
	size_t gzlen;
	enum tlsrpt_gzip_status gst = tlsrpt_gzip(json, jlen, gz, sizeof(gz), &gzlen);
	if (gst != TLSRPT_GZIP_OK)
		sample_die("gzip", tlsrpt_gzip_status_name(gst));
	a.mail.message_id = a.message_id;
	a.mail.report_id = a.report.report_id;
	a.mail.begin = a.report.start_datetime;
	a.mail.end = a.report.end_datetime;
	a.mail.unique_id = a.unique_id;
	a.mail.gz = gz;
	a.mail.gzlen = gzlen;
	size_t mlen;
	tlsrpt_mail_write(&a.mail, NULL, 0, &mlen, why, sizeof(why));
	char *msg = malloc(mlen + 1);
	if (msg == NULL || tlsrpt_mail_write(&a.mail, msg, mlen + 1, &mlen, why, sizeof(why)) !=
	    TLSRPT_MAIL_OK)
		sample_die("mail", why[0] != '\0' ? why : "cannot write");
	fwrite(msg, 1, mlen, stdout);
	free(msg);
	return 0;
}
