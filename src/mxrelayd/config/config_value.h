/*
 * config_value: the lexical forms of mxrelay.conf(5) values: lists,
 * numbers, sizes (K/M/G), durations (s/m/h/d), domain names, addresses,
 * host:port and networks.
 *
 * Owns: turning one value's text into a typed value, or saying why not.
 * Never: knows about keys, lines or files (the parser does: config_parser.h),
 * and never does I/O.
 */
#ifndef MXR_CONFIG_VALUE_H
#define MXR_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

/* Split s in place into tokens separated by white space and commas. */
size_t config_value_split(char *s, char **tok, size_t max);

/* Parse a decimal number of digits only; 0 or -1 on junk or overflow. */
int config_value_u64(const char *s, size_t len, uint64_t *out);

/* Multiply with overflow check. */
int config_value_mul(uint64_t a, uint64_t b, uint64_t *out);

/* "35M" -> octets. Suffixes K, M, G (1024 multiples), either case. */
int config_value_size(const char *s, uint64_t *out);

/* "30m" -> seconds. Suffixes s, m, h, d; a bare number is seconds. */
int config_value_duration(const char *s, uint64_t *out);

/* Seconds as the largest whole unit: "5m", "4h", "5d", "90s". */
void config_value_format_duration(uint64_t secs, char *buf, size_t buflen);

/* Octets as the largest whole unit: "1K", "35M", "4G". */
void config_value_format_size(uint64_t n, char *buf, size_t buflen);

/* A mail domain name: LDH labels of 1..63 octets, at most 253 in all. */
bool config_value_domain_valid(const char *s);

/* Lower-case s in place and drop one trailing dot; false if not a domain. */
bool config_value_domain_normalise(char *s);

/* An IPv4 or IPv6 address (IPv6 without brackets) into ss. */
int config_value_ip(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/*
 * "ADDRESS:PORT" with IPv6 as "[ADDRESS]:PORT"; when port_optional, the
 * port may be left out (port 0). Returns 0 or -1 with *why set.
 */
int config_value_hostport(const char *s, bool port_optional, struct sockaddr_storage *ss,
    socklen_t *sslen, const char **why);

/* Parse "addr[/prefix]"; *why says what is wrong. */
int config_value_network(const char *s, struct cfg_network *net, const char **why);

/* Whether sa is a loopback address (127/8, ::1, or IPv4-mapped 127/8). */
bool config_value_is_loopback(const struct sockaddr_storage *ss);

#endif
