/*
 * reload_helper: the small process that stays root so a reload can read
 * root-only files and bind ports below 1024.
 *
 * Owns: forking it before root is dropped, and everything it does: wait
 * for a request on its end of a socketpair, re-read the configuration
 * file fixed at start (never a path the daemon names), check it fully as
 * root, and answer the errors, or the text, every file it names and a
 * socket for each listener the daemon does not hold yet (SCM_RIGHTS).
 * Never: keeps any descriptor but its socket and the standard ones;
 * never outlives the daemon (PR_SET_PDEATHSIG, and it exits when the
 * socket closes); never reacts to SIGHUP or SIGINT; never logs a secret.
 */
#ifndef MXR_RELOAD_HELPER_H
#define MXR_RELOAD_HELPER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Fork the helper for config_path (NULL: the embedded default). Returns
 * the daemon's end of the socketpair (close-on-exec, blocking) and the
 * helper's pid in *pid, or -1 with err.
 */
int reload_helper_start(const char *config_path, pid_t *pid, char *err, size_t errlen);

#endif
