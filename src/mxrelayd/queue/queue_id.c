/*
 * queue_id: queue ids, 20 characters that sort by creation time.
 *
 * Owns: the id alphabet and layout: 11 base32 digits of the time in
 * microseconds since the epoch (55 bits, good until the year 3111), then
 * 9 digits (45 bits) from getrandom, so two ids made in the same
 * microsecond, in one process or several, collide with odds of 2^-45.
 * Never: depends on process state (no counters, no globals).
 */
#include "queue/queue_store.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/log.h"

/* ASCII order equals digit order, so string order equals time order. */
static const char queue_id_alphabet[] = "0123456789abcdefghijklmnopqrstuv";

void queue_id_new(char out[QUEUE_ID_LEN + 1])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	uint64_t rnd = 0;
	size_t got = 0;
	while (got < sizeof(rnd)) {
		ssize_t r = getrandom((char *)&rnd + got, sizeof(rnd) - got, 0);
		if (r < 0)
			fatal("op=queue_id getrandom failed");
		got += (size_t)r;
	}
	for (int i = 10; i >= 0; i--) {
		out[i] = queue_id_alphabet[us & 31u];
		us >>= 5;
	}
	for (int i = 19; i >= 11; i--) {
		out[i] = queue_id_alphabet[rnd & 31u];
		rnd >>= 5;
	}
	out[QUEUE_ID_LEN] = '\0';
}

void queue_id_at(time_t t, char out[QUEUE_ID_LEN + 1])
{
	uint64_t us = t > 0 ? (uint64_t)t * 1000000u : 0;
	for (int i = 10; i >= 0; i--) {
		out[i] = queue_id_alphabet[us & 31u];
		us >>= 5;
	}
	memset(out + 11, '0', QUEUE_ID_LEN - 11);
	out[QUEUE_ID_LEN] = '\0';
}

bool queue_id_valid(const char *s)
{
	if (s == NULL || strlen(s) != QUEUE_ID_LEN)
		return false;
	for (size_t i = 0; i < QUEUE_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'v')))
			return false;
	return true;
}
