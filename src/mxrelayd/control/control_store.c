/*
 * control_store: the queue store the configuration names, opened the
 * same way by the daemon and by the command line: SQLite in queue_dir,
 * or the PostgreSQL database of queue_dsn (its password masked in every
 * message, the passfile's password handed over, this node's id and
 * lease time).
 *
 * Owns: the mapping from the configuration's queue keys to the store's
 * open options. Never: prints or logs queue_dsn unmasked.
 */
#include "control/control.h"

#include <stdio.h>

#include "config/config.h"
#include "queue/queue_store.h"

struct queue_store *control_store_open(struct event_base *base, const struct config *cfg,
    char *err, size_t errlen)
{
	if (cfg->queue_backend != CFG_QUEUE_POSTGRESQL)
		return queue_store_open(base, cfg->queue_dir, err, errlen);
	char shown[CFG_LINE_MAX];
	config_queue_dsn_mask(cfg->queue_dsn, shown, sizeof(shown));
	struct queue_open_opts o = {
		.dsn = cfg->queue_dsn,
		.dsn_shown = shown,
		.password = cfg->queue_password,
		.node_id = cfg->node_id,
		.lease_time = cfg->queue_lease_time,
	};
	return queue_store_open_with(base, cfg->queue_dir, &o, err, errlen);
}
