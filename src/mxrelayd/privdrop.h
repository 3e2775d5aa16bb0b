/*
 * privdrop: give up root after the listening sockets are bound.
 *
 * Owns: the choice of the user to run as, the order of the calls
 * (initgroups, setgid, setuid) and the proof that root cannot come back.
 * Never: runs as root silently: started as root, it drops or refuses.
 */
#ifndef MXR_PRIVDROP_H
#define MXR_PRIVDROP_H

#include <stddef.h>

#include "config/config.h"

/*
 * When running as root, become user (or CFG_DEFAULT_USER when user is
 * NULL, refusing if that account does not exist). When not root, nothing
 * changes (a configured user other than the current one is an error).
 * Returns 0, or -1 with a message in err.
 */
int privdrop_drop(const char *user, char *err, size_t errlen);

/*
 * Before dropping: create dir (mode 0700) when it is missing, make it 0700
 * and the regular files directly inside it readable and writable by their
 * owner only, whatever the umask they were made under or the mode of a
 * directory that already existed (queued mail is private), and, when
 * running as root, give them to the account privdrop_drop() will become,
 * so the queue stays writable afterwards. Symbolic links are never
 * followed. *fixed counts the modes changed. Returns 0, or -1 with a
 * message in err.
 */
int privdrop_prepare_dir(const char *user, const char *dir, unsigned *fixed, char *err,
    size_t errlen);

#endif
