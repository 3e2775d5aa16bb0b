/*
 * pidlock: one daemon per queue directory.
 *
 * SQLite lets several processes write one database, so nothing else stops
 * two mxrelayd from sharing a queue, each with its own scheduler claiming
 * recipients in memory: every message would be delivered twice. The
 * daemon holds an flock on queue_dir/mxrelayd.pid for its whole life and
 * writes its pid there; a second daemon finds the lock held and refuses
 * to start, naming the first.
 */
#ifndef MXR_PIDLOCK_H
#define MXR_PIDLOCK_H

#include <stddef.h>

/* Name of the lock file inside the queue directory. */
#define PIDLOCK_NAME "mxrelayd.pid"

/*
 * Take dir's lock and write this process's pid into it. Returns the open
 * descriptor (keep it open: closing it releases the lock), or -1 with err
 * naming the directory, the user and the cause, or the daemon holding it.
 */
int pidlock_take(const char *dir, char *err, size_t errlen);

/* Release the lock (the file stays: removing it would race a new owner). -1 is fine. */
void pidlock_release(int fd);

#endif
