/*
 * smtpd_limit: connection limits, overall and per client address.
 *
 * Owns: the count of live connections and a hash table of per-address
 * counts (IPv4-mapped IPv6 addresses count as their IPv4 address; IPv6
 * addresses count by network prefix, /64 by default), and the client key
 * that the AUTH failure table shares.
 * Never: touches sockets; the listener asks, then answers the client.
 */
#ifndef MXR_SMTPD_LIMIT_H
#define MXR_SMTPD_LIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/server.h"

struct smtpd_limit;

/* A client as the limits count it: 1 family octet and 16 address octets. */
struct smtpd_limit_key {
	uint8_t b[17];
};

/*
 * The key of sa: an IPv4 address (also IPv4-mapped IPv6) whole, an IPv6
 * address cut to its first v6_prefix bits (the rest zero). False for an
 * address family that is not counted.
 */
bool smtpd_limit_key_of(const struct sockaddr *sa, unsigned v6_prefix, struct smtpd_limit_key *k);
/* FNV-1a of the key, for hash tables. */
uint32_t smtpd_limit_key_hash(const struct smtpd_limit_key *k);

enum smtpd_limit_verdict {
	SMTPD_LIMIT_OK,		/* counted; release it when the connection ends */
	SMTPD_LIMIT_TOTAL,	/* max_total connections are open */
	SMTPD_LIMIT_PER_IP,	/* this address has max_per_ip connections open */
};

/* Count one more connection from sa, unless a limit says no. */
enum smtpd_limit_verdict smtpd_limit_acquire(struct smtpd_limit *l, const struct sockaddr *sa);
/* Forget one connection from sa (acquired before). */
void smtpd_limit_release(struct smtpd_limit *l, const struct sockaddr *sa);
unsigned smtpd_limit_total(const struct smtpd_limit *l);
unsigned smtpd_limit_count(const struct smtpd_limit *l, const struct sockaddr *sa);

#endif
