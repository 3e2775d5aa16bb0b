/*
 * tlsrpt_time: Unix times written as the dates TLS-RPT reports carry.
 *
 * Owns: the RFC 3339 UTC date-time of a report's date range
 * ("2016-04-01T00:00:00Z", RFC 8460 4.4) and the RFC 5322 date of the
 * report mail's Date field ("Fri, 01 Apr 2016 00:00:00 +0000").
 * Never: reads a clock or the time zone; the time is always given.
 */
#ifndef MXR_TLSRPT_TIME_H
#define MXR_TLSRPT_TIME_H

#include <stdbool.h>
#include <stdint.h>

/* "YYYY-MM-DDTHH:MM:SSZ" and its NUL. */
#define TLSRPT_TIME_RFC3339_SIZE 21
/* "Www, DD Mmm YYYY HH:MM:SS +0000" and its NUL. */
#define TLSRPT_TIME_RFC5322_SIZE 32
/* The last second written: 9999-12-31T23:59:59Z. */
#define TLSRPT_TIME_MAX INT64_C(253402300799)

/* Write t (seconds since 1970, 0 to TLSRPT_TIME_MAX) as RFC 3339 UTC; false, and "", outside. */
bool tlsrpt_time_rfc3339(int64_t t, char out[TLSRPT_TIME_RFC3339_SIZE]);

/* Write t (0 to TLSRPT_TIME_MAX) as an RFC 5322 date-time in UTC; false, and "", outside. */
bool tlsrpt_time_rfc5322(int64_t t, char out[TLSRPT_TIME_RFC5322_SIZE]);

#endif
