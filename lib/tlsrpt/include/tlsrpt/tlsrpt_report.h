/*
 * tlsrpt_report: one TLS-RPT aggregate report as JSON (RFC 8460 4).
 *
 * Owns: the report's member names and nesting (4.4), the result types
 * (4.3, the IANA "STARTTLS Validation Result Types" registry) and policy
 * types with their names, which members are required and which are left
 * out when empty, and the JSON string escaping.
 * Never: does I/O, reads a clock or counts sessions: every value, the
 * times included, is the caller's, in structs the caller owns.
 *
 * The JSON written, members in this order (optional ones in brackets, left
 * out when the caller's pointer is NULL or "" or its count 0):
 *   { "organization-name", "date-range": { "start-datetime", "end-datetime" },
 *     "contact-info", "report-id",
 *     "policies": [ { "policy": { "policy-type", ["policy-string": [..]],
 *                                 "policy-domain", ["mx-host": [..]] },
 *                     "summary": { "total-successful-session-count",
 *                                  "total-failure-session-count" },
 *                     ["failure-details": [ { "result-type", ["sending-mta-ip"],
 *                         ["receiving-mx-hostname"], ["receiving-mx-helo"],
 *                         ["receiving-ip"], "failed-session-count",
 *                         ["additional-information"], ["failure-reason-code"] } ]] } ] }
 * Dates are RFC 3339 in UTC ("2016-04-01T00:00:00Z"). Counts are JSON
 * integers of at most 2^53 - 1 (I-JSON, RFC 7493, which the report's
 * media type follows). Strings are escaped: '"', '\\' and control
 * characters (as \u00XX, or \n, \t ...), valid UTF-8 passed through,
 * every octet of an invalid sequence written as U+FFFD.
 */
#ifndef MXR_TLSRPT_REPORT_H
#define MXR_TLSRPT_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* The largest count written (I-JSON's exact integers). */
#define TLSRPT_REPORT_COUNT_MAX ((UINT64_C(1) << 53) - 1)

enum tlsrpt_policy_type {
	TLSRPT_POLICY_TLSA,		/* "tlsa": DANE */
	TLSRPT_POLICY_STS,		/* "sts": MTA-STS */
	TLSRPT_POLICY_NO_POLICY_FOUND,	/* "no-policy-found" */
};

/* RFC 8460 4.3 and the IANA registry, in the RFC's order. */
enum tlsrpt_result_type {
	/* 4.3.1, negotiation failures */
	TLSRPT_RESULT_STARTTLS_NOT_SUPPORTED,
	TLSRPT_RESULT_CERTIFICATE_HOST_MISMATCH,
	TLSRPT_RESULT_CERTIFICATE_EXPIRED,
	TLSRPT_RESULT_CERTIFICATE_NOT_TRUSTED,
	TLSRPT_RESULT_VALIDATION_FAILURE,
	/* 4.3.2.1, DANE */
	TLSRPT_RESULT_TLSA_INVALID,
	TLSRPT_RESULT_DNSSEC_INVALID,
	TLSRPT_RESULT_DANE_REQUIRED,
	/* 4.3.2.2, MTA-STS */
	TLSRPT_RESULT_STS_POLICY_FETCH_ERROR,
	TLSRPT_RESULT_STS_POLICY_INVALID,
	TLSRPT_RESULT_STS_WEBPKI_INVALID,
};
#define TLSRPT_RESULT_COUNT 11

/* One "failure-details" entry. Strings are the caller's; NULL or "" leaves a member out. */
struct tlsrpt_failure {
	enum tlsrpt_result_type result_type;
	const char *sending_mta_ip;
	const char *receiving_mx_hostname;
	const char *receiving_mx_helo;
	const char *receiving_ip;
	uint64_t failed_session_count;
	const char *additional_information;	/* a URI */
	const char *failure_reason_code;
};

/* One "policies" entry: the policy applied, its summary and its failures. */
struct tlsrpt_policy {
	enum tlsrpt_policy_type type;
	const char *const *policy_string;	/* lines of the policy (sts), TLSA rdata (tlsa) */
	size_t npolicy_string;
	const char *policy_domain;		/* required */
	const char *const *mx_host;		/* sts: the policy's mx patterns; tlsa: the MX host */
	size_t nmx_host;
	uint64_t total_successful_session_count;
	uint64_t total_failure_session_count;
	const struct tlsrpt_failure *failures;
	size_t nfailures;
};

struct tlsrpt_report {
	const char *organization_name;		/* required */
	int64_t start_datetime;			/* Unix seconds, UTC */
	int64_t end_datetime;			/* at or after start_datetime */
	const char *contact_info;		/* required: an e-mail address */
	const char *report_id;			/* required */
	const struct tlsrpt_policy *policies;
	size_t npolicies;
};

enum tlsrpt_report_status {
	TLSRPT_REPORT_OK,
	TLSRPT_REPORT_TOO_BIG,	/* *len says how large out must be (without the NUL) */
	TLSRPT_REPORT_INVALID,	/* a required member is missing or a value is out of range */
};

/*
 * Write r as JSON into out[0..cap), NUL-terminated. *len gets the JSON's
 * length, also when it did not fit (call with cap 0 to measure). why gets
 * a reason for INVALID, "" otherwise; whylen may be 0.
 */
enum tlsrpt_report_status tlsrpt_report_write(const struct tlsrpt_report *r, char *out,
    size_t cap, size_t *len, char *why, size_t whylen);

/* "starttls-not-supported" ...: the result type's name, or NULL for no such type. */
const char *tlsrpt_result_type_name(enum tlsrpt_result_type t);

/* "tlsa", "sts" or "no-policy-found", or NULL for no such type. */
const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t);

#endif
