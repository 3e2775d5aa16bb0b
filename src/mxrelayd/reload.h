/*
 * reload: taking a new configuration while the daemon runs.
 *
 * Owns: the generations of what sessions read per configuration (the
 * frozen configuration, TLS server context, AUTH users, recipient-domain
 * resolver, and the struct smtpd_ctx that names them), the daemon's end
 * of the privileged helper's socket, read on the event loop, and the
 * swap: sessions already running keep the generation they started under
 * until they end, new ones get the new one; listeners are kept, added or
 * closed as the new file says; connection limits and AUTH failure counts
 * go on. Never: opens a file the configuration names or binds a socket
 * (the helper does, as root); never blocks the loop; never frees a
 * generation a session, a password check or the scheduler still uses.
 */
#ifndef MXR_RELOAD_H
#define MXR_RELOAD_H

#include <stdbool.h>
#include <sys/types.h>

#include "server/server.h"

struct reload;
struct sched;

/*
 * The first generation, made of what main built at start (all taken:
 * cfg, tls, auth, dns, and ctx's listeners, limit and authfail), and the
 * helper's socket and pid (helper_fd -1: no helper, reloads are refused).
 * sched gets each new configuration. *ctx is copied. With debug (-d)
 * the log level stays at debug whatever log_level a new file sets.
 */
struct reload *reload_new(const struct smtpd_ctx *ctx, struct config *cfg, int helper_fd,
    pid_t helper_pid, struct sched *sched, bool debug);
/* The generation new connections get. */
struct smtpd_ctx *reload_ctx(struct reload *r);
/*
 * Ask for a reload (SIGHUP, the control socket). done(arg, ok, text)
 * runs on the loop once it is decided: ok with "configuration FILE
 * loaded", or not with the errors ("FILE:LINE: what", one per line).
 * done may be NULL.
 */
void reload_request(struct reload *r, const char *by, void (*done)(void *arg, bool ok,
    const char *text), void *arg);
/* Stopping: every generation's sessions get stop_all; no more reloads. */
void reload_stop_sessions(struct reload *r);
/* Drop every session of every generation. */
void reload_drop_sessions(struct reload *r);
/* Whether any generation has a session or a password check left. */
bool reload_busy(const struct reload *r);
/*
 * Call fn with the configuration of each new generation as it comes into
 * force (before the old one can be freed): what lives outside the
 * generations (the HTTP listener, the metrics) follows it there.
 */
void reload_set_applied(struct reload *r, void (*fn)(void *arg, const struct config *cfg),
    void *arg);
/* SMTP sessions open now, in every generation. */
unsigned reload_sessions(const struct reload *r);
/* Counters of every generation together (the shutdown summary). */
struct smtpd_stats reload_stats(const struct reload *r);
/*
 * Stop the helper (its socket closes, it exits; it is waited for) and
 * tell requests still waiting no. Call before their callers go away.
 */
void reload_close_helper(struct reload *r);
/*
 * reload_close_helper, then free
 * every generation and the listeners. Requests still waiting are told
 * no. NULL is fine.
 */
void reload_free(struct reload *r);

#endif
