/*
 * unix_sock: local stream sockets by path, both ends: the control, mailq
 * and submission sockets of the daemon and the command line's clients.
 *
 * Owns: the path-length check, connecting with a reply timeout, and
 * clearing a socket file a dead daemon left behind (never one a live
 * daemon still listens on, never a file that is not a socket).
 * Never: chooses paths or modes; speaks any protocol.
 */
#ifndef MXR_UNIX_SOCK_H
#define MXR_UNIX_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

/* Fill *sun for path; -1 with errno ENAMETOOLONG when it does not fit. */
int unix_sock_addr(const char *path, struct sockaddr_un *sun);
/*
 * Connect to the stream socket at path; reads time out after timeout_s
 * seconds (0: never). The descriptor, or -1 with errno set.
 */
int unix_sock_connect(const char *path, unsigned timeout_s);
/*
 * Before binding path: remove a socket file nothing listens on. 0 (nothing
 * there, or removed; *removed says which), or -1 with err: a live
 * listener, a file that is not a socket, or a failure.
 */
int unix_sock_clear_stale(const char *path, bool *removed, char *err, size_t errlen);

#endif
