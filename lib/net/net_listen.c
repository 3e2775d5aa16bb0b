/*
 * net_listen: bound listening sockets (see net_listen.h).
 */
#include "net/net_listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int net_listen_bind(const struct sockaddr_storage *addr, socklen_t addrlen, const char *text,
    char *err, size_t errlen)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s: socket: %s", text, strerror(errno));
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, addrlen) != 0) {
		snprintf(err, errlen, "listen %s: %s", text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
