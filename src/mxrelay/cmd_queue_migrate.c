/*
 * cmd_queue_migrate: `mxrelay queue migrate`: the queue's schema created
 * or brought up to this program's version (opening the store does it,
 * as the daemon's start does), and what it is now. On PostgreSQL this is
 * how an operator upgrades a fleet's database before its nodes: a node
 * refuses a schema newer than it knows.
 *
 * Owns: the command's report ("queue schema: ..."). Never: talks to the
 * daemon (the store is opened directly by cmd_queue.c).
 */
#include "commands.h"

#include <stdio.h>
#include <sysexits.h>

#include "queue/queue_store.h"

int cmd_queue_migrate(struct queue_store *q)
{
	char err[1024];
	int version = -1, newest = 0;
	if (queue_store_schema_version(q, &version, &newest, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxrelay queue migrate: %s\n", err);
		return EX_TEMPFAIL;
	}
	printf("queue schema: backend=%s version=%d (this program's: %d)\n",
	    queue_store_backend(q), version, newest);
	return EX_OK;
}
