/*
 * smtpd_limit: connection limits, overall and per client address.
 *
 * Owns: the count of live connections and a hash table of per-address
 * counts (IPv4-mapped IPv6 addresses count as their IPv4 address).
 * Never: touches sockets; the listener asks, then answers the client.
 */
#ifndef MXR_SMTPD_LIMIT_H
#define MXR_SMTPD_LIMIT_H

#include <stdbool.h>
#include <sys/socket.h>

struct smtpd_limit;

enum smtpd_limit_verdict {
	SMTPD_LIMIT_OK,		/* counted; release it when the connection ends */
	SMTPD_LIMIT_TOTAL,	/* max_total connections are open */
	SMTPD_LIMIT_PER_IP,	/* this address has max_per_ip connections open */
};

/* A limiter; 0 for either maximum means no limit of that kind. */
struct smtpd_limit *smtpd_limit_new(unsigned max_total, unsigned max_per_ip);
void smtpd_limit_free(struct smtpd_limit *l);
/* Count one more connection from sa, unless a limit says no. */
enum smtpd_limit_verdict smtpd_limit_acquire(struct smtpd_limit *l, const struct sockaddr *sa);
/* Forget one connection from sa (acquired before). */
void smtpd_limit_release(struct smtpd_limit *l, const struct sockaddr *sa);
unsigned smtpd_limit_total(const struct smtpd_limit *l);
unsigned smtpd_limit_count(const struct smtpd_limit *l, const struct sockaddr *sa);

#endif
