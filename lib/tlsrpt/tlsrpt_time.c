/*
 * tlsrpt_time: Unix times as RFC 3339 and RFC 5322 dates, in UTC.
 *
 * Owns: the civil calendar (proleptic Gregorian) from a day count, so no
 * gmtime, time zone or locale is involved.
 * Never: reads a clock; writes past the caller's fixed-size buffer.
 */
#include "tlsrpt/tlsrpt_time.h"

#include <stdio.h>

#define TIME_DAY 86400
/* Days from 0000-03-01 to 1970-01-01, and in a 400-year era. */
#define TIME_EPOCH_SHIFT 719468
#define TIME_ERA_DAYS 146097

struct time_civil {
	int year, month, day, hour, minute, second, weekday;	/* weekday 0 is Sunday */
};

/* Split t (0 to TLSRPT_TIME_MAX) into its UTC calendar date and time. */
static void time_civil(int64_t t, struct time_civil *c)
{
	int64_t days = t / TIME_DAY;
	int64_t secs = t % TIME_DAY;
	c->hour = (int)(secs / 3600);
	c->minute = (int)(secs / 60 % 60);
	c->second = (int)(secs % 60);
	c->weekday = (int)((days + 4) % 7);	/* 1970-01-01 was a Thursday */
	/* Count in eras of 400 years that start on a 1 March, so leap days end a year. */
	int64_t z = days + TIME_EPOCH_SHIFT;
	int64_t era = z / TIME_ERA_DAYS;
	int64_t doe = z - era * TIME_ERA_DAYS;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->year = (int)(yoe + era * 400 + (c->month <= 2 ? 1 : 0));
}

bool tlsrpt_time_rfc3339(int64_t t, char out[TLSRPT_TIME_RFC3339_SIZE])
{
	out[0] = '\0';
	if (t < 0 || t > TLSRPT_TIME_MAX)
		return false;
	struct time_civil c;
	time_civil(t, &c);
	snprintf(out, TLSRPT_TIME_RFC3339_SIZE, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month,
	    c.day, c.hour, c.minute, c.second);
	return true;
}

bool tlsrpt_time_rfc5322(int64_t t, char out[TLSRPT_TIME_RFC5322_SIZE])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	out[0] = '\0';
	if (t < 0 || t > TLSRPT_TIME_MAX)
		return false;
	struct time_civil c;
	time_civil(t, &c);
	snprintf(out, TLSRPT_TIME_RFC5322_SIZE, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[c.weekday], c.day, months[c.month - 1], c.year, c.hour, c.minute, c.second);
	return true;
}
