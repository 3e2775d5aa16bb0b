/*
 * client_observer: the engine's network events to the caller's observer
 * (see client_observer.h).
 */
#include "client_observer.h"

#include <time.h>

double client_observer_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Counts from boot, so it is past 0, which callers keep for "no lookup in flight". */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void client_observer_connected(const struct mxr_observer *ob)
{
	if (ob != NULL && ob->connected != NULL)
		ob->connected(ob->arg);
}

void client_observer_tls(const struct mxr_observer *ob, const char *version)
{
	if (ob != NULL && ob->tls != NULL)
		ob->tls(ob->arg, version);
}

void client_observer_resolved(const struct mxr_observer *ob, double started)
{
	if (ob == NULL || ob->resolved == NULL)
		return;
	double seconds = client_observer_clock() - started;
	ob->resolved(ob->arg, seconds > 0 ? seconds : 0);
}

void client_observer_tls_report(const struct mxr_observer *ob, const struct mxr_tls_report *r)
{
	if (ob != NULL && ob->tls_report != NULL)
		ob->tls_report(ob->arg, r);
}
