/*
 * tlsrpt_report: one TLS-RPT aggregate report written as JSON (RFC 8460 4).
 *
 * Owns: the checks a report must pass before a byte is written (required
 * members present, types known, times and counts in range), the member
 * names and order, JSON string escaping with UTF-8 checked octet by
 * octet, and the names of the result and policy types.
 * Never: does I/O, reads a clock, allocates or writes past the caller's
 * buffer (tlsrpt_out measures what does not fit).
 */
#include "tlsrpt/tlsrpt_report.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tlsrpt/tlsrpt_time.h"
#include "tlsrpt_out.h"
#include "util/utf8.h"

static const char *const report_result_names[TLSRPT_RESULT_COUNT] = {
	[TLSRPT_RESULT_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
	[TLSRPT_RESULT_CERTIFICATE_HOST_MISMATCH] = "certificate-host-mismatch",
	[TLSRPT_RESULT_CERTIFICATE_EXPIRED] = "certificate-expired",
	[TLSRPT_RESULT_CERTIFICATE_NOT_TRUSTED] = "certificate-not-trusted",
	[TLSRPT_RESULT_VALIDATION_FAILURE] = "validation-failure",
	[TLSRPT_RESULT_TLSA_INVALID] = "tlsa-invalid",
	[TLSRPT_RESULT_DNSSEC_INVALID] = "dnssec-invalid",
	[TLSRPT_RESULT_DANE_REQUIRED] = "dane-required",
	[TLSRPT_RESULT_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
	[TLSRPT_RESULT_STS_POLICY_INVALID] = "sts-policy-invalid",
	[TLSRPT_RESULT_STS_WEBPKI_INVALID] = "sts-webpki-invalid",
};

const char *tlsrpt_result_type_name(enum tlsrpt_result_type t)
{
	if ((unsigned)t >= TLSRPT_RESULT_COUNT)
		return NULL;
	return report_result_names[t];
}

const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t)
{
	switch (t) {
	case TLSRPT_POLICY_TLSA: return "tlsa";
	case TLSRPT_POLICY_STS: return "sts";
	case TLSRPT_POLICY_NO_POLICY_FOUND: return "no-policy-found";
	}
	return NULL;
}

/* Write a reason into why (when there is room); returns TLSRPT_REPORT_INVALID. */
static enum tlsrpt_report_status report_invalid(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum tlsrpt_report_status report_invalid(char *why, size_t whylen, const char *fmt, ...)
{
	if (whylen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return TLSRPT_REPORT_INVALID;
}

static bool report_has(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Whether list[0..n) is present (when n > 0) and holds no NULL. */
static bool report_list_ok(const char *const *list, size_t n)
{
	if (n > 0 && list == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (list[i] == NULL)
			return false;
	return true;
}

/* Check one policy entry i of a report. */
static enum tlsrpt_report_status report_check_policy(const struct tlsrpt_policy *p, size_t i,
    char *why, size_t whylen)
{
	if (tlsrpt_policy_type_name(p->type) == NULL)
		return report_invalid(why, whylen, "policies[%zu]: unknown policy type %d", i,
		    (int)p->type);
	if (!report_has(p->policy_domain))
		return report_invalid(why, whylen, "policies[%zu]: no policy-domain", i);
	if (!report_list_ok(p->policy_string, p->npolicy_string) ||
	    !report_list_ok(p->mx_host, p->nmx_host))
		return report_invalid(why, whylen, "policies[%zu]: a NULL in policy-string or mx-host", i);
	if (p->total_successful_session_count > TLSRPT_REPORT_COUNT_MAX ||
	    p->total_failure_session_count > TLSRPT_REPORT_COUNT_MAX)
		return report_invalid(why, whylen, "policies[%zu]: a session count over 2^53 - 1", i);
	if (p->nfailures > 0 && p->failures == NULL)
		return report_invalid(why, whylen, "policies[%zu]: failure-details missing", i);
	for (size_t k = 0; k < p->nfailures; k++) {
		const struct tlsrpt_failure *f = &p->failures[k];
		if (tlsrpt_result_type_name(f->result_type) == NULL)
			return report_invalid(why, whylen,
			    "policies[%zu].failure-details[%zu]: unknown result type %d", i, k,
			    (int)f->result_type);
		if (f->failed_session_count > TLSRPT_REPORT_COUNT_MAX)
			return report_invalid(why, whylen,
			    "policies[%zu].failure-details[%zu]: failed-session-count over 2^53 - 1", i, k);
	}
	return TLSRPT_REPORT_OK;
}

/* Check everything the JSON needs before any of it is written. */
static enum tlsrpt_report_status report_check(const struct tlsrpt_report *r, char *why,
    size_t whylen)
{
	if (!report_has(r->organization_name))
		return report_invalid(why, whylen, "no organization-name");
	if (!report_has(r->contact_info))
		return report_invalid(why, whylen, "no contact-info");
	if (!report_has(r->report_id))
		return report_invalid(why, whylen, "no report-id");
	if (r->start_datetime < 0 || r->end_datetime > TLSRPT_TIME_MAX ||
	    r->start_datetime > r->end_datetime)
		return report_invalid(why, whylen,
		    "date-range %lld to %lld is not 0 <= start <= end <= 9999-12-31",
		    (long long)r->start_datetime, (long long)r->end_datetime);
	if (r->npolicies > 0 && r->policies == NULL)
		return report_invalid(why, whylen, "policies missing");
	for (size_t i = 0; i < r->npolicies; i++) {
		enum tlsrpt_report_status st = report_check_policy(&r->policies[i], i, why, whylen);
		if (st != TLSRPT_REPORT_OK)
			return st;
	}
	return TLSRPT_REPORT_OK;
}

/* Write s as a JSON string: quoted, escaped, UTF-8 checked. */
static void report_string(struct tlsrpt_out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s);
	tlsrpt_out_char(o, '"');
	for (size_t i = 0; i < len;) {
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			tlsrpt_out_mem(o, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };
			tlsrpt_out_mem(o, esc, 6);
			i++;
		} else if (c < 0x80) {
			tlsrpt_out_char(o, (char)c);
			i++;
		} else {
			size_t n = utf8_seq_len((const char *)u + i, len - i);
			if (n > 0) {
				tlsrpt_out_mem(o, u + i, n);
				i += n;
			} else {
				tlsrpt_out_str(o, "\xef\xbf\xbd");	/* U+FFFD */
				i++;
			}
		}
	}
	tlsrpt_out_char(o, '"');
}

/* Write ,"name": (or "name": for the first member of an object). */
static void report_key(struct tlsrpt_out *o, bool *first, const char *name)
{
	if (!*first)
		tlsrpt_out_char(o, ',');
	*first = false;
	tlsrpt_out_char(o, '"');
	tlsrpt_out_str(o, name);
	tlsrpt_out_str(o, "\":");
}

/* An optional string member: written only when s is neither NULL nor "". */
static void report_opt_string(struct tlsrpt_out *o, bool *first, const char *name, const char *s)
{
	if (!report_has(s))
		return;
	report_key(o, first, name);
	report_string(o, s);
}

/* An optional array of strings: written only when n > 0. */
static void report_opt_list(struct tlsrpt_out *o, bool *first, const char *name,
    const char *const *list, size_t n)
{
	if (n == 0)
		return;
	report_key(o, first, name);
	tlsrpt_out_char(o, '[');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			tlsrpt_out_char(o, ',');
		report_string(o, list[i]);
	}
	tlsrpt_out_char(o, ']');
}

/* Write one "failure-details" object. */
static void report_failure(struct tlsrpt_out *o, const struct tlsrpt_failure *f)
{
	bool first = true;
	tlsrpt_out_char(o, '{');
	report_key(o, &first, "result-type");
	report_string(o, tlsrpt_result_type_name(f->result_type));
	report_opt_string(o, &first, "sending-mta-ip", f->sending_mta_ip);
	report_opt_string(o, &first, "receiving-mx-hostname", f->receiving_mx_hostname);
	report_opt_string(o, &first, "receiving-mx-helo", f->receiving_mx_helo);
	report_opt_string(o, &first, "receiving-ip", f->receiving_ip);
	report_key(o, &first, "failed-session-count");
	tlsrpt_out_u64(o, f->failed_session_count);
	report_opt_string(o, &first, "additional-information", f->additional_information);
	report_opt_string(o, &first, "failure-reason-code", f->failure_reason_code);
	tlsrpt_out_char(o, '}');
}

/* Write one "policies" entry: policy, summary and failure details. */
static void report_policy(struct tlsrpt_out *o, const struct tlsrpt_policy *p)
{
	bool first = true, pfirst = true, sfirst = true;
	tlsrpt_out_char(o, '{');
	report_key(o, &first, "policy");
	tlsrpt_out_char(o, '{');
	report_key(o, &pfirst, "policy-type");
	report_string(o, tlsrpt_policy_type_name(p->type));
	report_opt_list(o, &pfirst, "policy-string", p->policy_string, p->npolicy_string);
	report_key(o, &pfirst, "policy-domain");
	report_string(o, p->policy_domain);
	report_opt_list(o, &pfirst, "mx-host", p->mx_host, p->nmx_host);
	tlsrpt_out_char(o, '}');
	report_key(o, &first, "summary");
	tlsrpt_out_char(o, '{');
	report_key(o, &sfirst, "total-successful-session-count");
	tlsrpt_out_u64(o, p->total_successful_session_count);
	report_key(o, &sfirst, "total-failure-session-count");
	tlsrpt_out_u64(o, p->total_failure_session_count);
	tlsrpt_out_char(o, '}');
	if (p->nfailures > 0) {
		report_key(o, &first, "failure-details");
		tlsrpt_out_char(o, '[');
		for (size_t k = 0; k < p->nfailures; k++) {
			if (k > 0)
				tlsrpt_out_char(o, ',');
			report_failure(o, &p->failures[k]);
		}
		tlsrpt_out_char(o, ']');
	}
	tlsrpt_out_char(o, '}');
}

enum tlsrpt_report_status tlsrpt_report_write(const struct tlsrpt_report *r, char *out,
    size_t cap, size_t *len, char *why, size_t whylen)
{
	*len = 0;
	if (whylen > 0)
		why[0] = '\0';
	if (cap > 0)
		out[0] = '\0';
	enum tlsrpt_report_status st = report_check(r, why, whylen);
	if (st != TLSRPT_REPORT_OK)
		return st;
	char start[TLSRPT_TIME_RFC3339_SIZE], end[TLSRPT_TIME_RFC3339_SIZE];
	tlsrpt_time_rfc3339(r->start_datetime, start);
	tlsrpt_time_rfc3339(r->end_datetime, end);
	struct tlsrpt_out o;
	tlsrpt_out_init(&o, out, cap);
	bool first = true, dfirst = true;
	tlsrpt_out_char(&o, '{');
	report_key(&o, &first, "organization-name");
	report_string(&o, r->organization_name);
	report_key(&o, &first, "date-range");
	tlsrpt_out_char(&o, '{');
	report_key(&o, &dfirst, "start-datetime");
	report_string(&o, start);
	report_key(&o, &dfirst, "end-datetime");
	report_string(&o, end);
	tlsrpt_out_char(&o, '}');
	report_key(&o, &first, "contact-info");
	report_string(&o, r->contact_info);
	report_key(&o, &first, "report-id");
	report_string(&o, r->report_id);
	report_key(&o, &first, "policies");
	tlsrpt_out_char(&o, '[');
	for (size_t i = 0; i < r->npolicies; i++) {
		if (i > 0)
			tlsrpt_out_char(&o, ',');
		report_policy(&o, &r->policies[i]);
	}
	tlsrpt_out_str(&o, "]}");
	*len = o.len;
	return tlsrpt_out_finish(&o) ? TLSRPT_REPORT_OK : TLSRPT_REPORT_TOO_BIG;
}
