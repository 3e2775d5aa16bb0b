/*
 * unix_sock: local stream sockets by path, both ends: the control, mailq
 * and submission sockets of the daemon and the command line's clients.
 *
 * Owns: the path-length check, binding with a mode, connecting with a
 * reply timeout, clearing a socket file a dead daemon left behind (never
 * one a live daemon still listens on, never a file that is not a socket)
 * and removing at exit only the socket file this process made.
 * Never: chooses paths or modes; speaks any protocol.
 */
#ifndef MXR_UNIX_SOCK_H
#define MXR_UNIX_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
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

/* The socket file a listener made: removed at exit only while it is still that file. */
struct unix_sock_file {
	dev_t dev;
	ino_t ino;
	bool stale_removed;	/* a dead daemon's socket was cleared first */
};

/*
 * Clear a stale socket at path, bind a non-blocking stream socket there
 * and give the file mode (the umask applies until then). The descriptor,
 * or -1 with err naming the path and the cause.
 */
int unix_sock_listen(const char *path, mode_t mode, struct unix_sock_file *f, char *err,
    size_t errlen);

/* Remove path when it is still the file unix_sock_listen() made (never a successor's). */
void unix_sock_remove_own(const char *path, const struct unix_sock_file *f);

#endif
