/*
 * config_value: lexers for configuration values (see config_value.h).
 * Owns: value syntax only. Never: I/O, keys or line numbers.
 */
#include "config_value.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_rr.h"

/* ---- small lexical helpers --------------------------------------------- */

/* Split s in place into tokens separated by white space and commas. */
size_t config_value_split(char *s, char **tok, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(s, " \t,", &save); t != NULL; t = strtok_r(NULL, " \t,", &save)) {
		if (n == max)
			return max + 1;
		tok[n++] = t;
	}
	return n;
}

/* Parse a decimal number of digits only; 0 or -1 on junk or overflow. */
int config_value_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Multiply with overflow check. */
int config_value_mul(uint64_t a, uint64_t b, uint64_t *out)
{
	if (b != 0 && a > UINT64_MAX / b)
		return -1;
	*out = a * b;
	return 0;
}

/* "35M" -> octets. Suffixes K, M, G (1024 multiples), either case. */
int config_value_size(const char *s, uint64_t *out)
{
	size_t len = strlen(s);
	uint64_t mult = 1, v;
	if (len > 0) {
		switch (s[len - 1]) {
		case 'K': case 'k': mult = 1024; break;
		case 'M': case 'm': mult = 1024 * 1024; break;
		case 'G': case 'g': mult = 1024 * 1024 * 1024; break;
		default: break;
		}
		if (mult != 1)
			len--;
	}
	if (config_value_u64(s, len, &v) < 0)
		return -1;
	return config_value_mul(v, mult, out);
}

/* "30m" -> seconds. Suffixes s, m, h, d; a bare number is seconds. */
int config_value_duration(const char *s, uint64_t *out)
{
	size_t len = strlen(s);
	uint64_t mult = 1, v;
	if (len > 0) {
		switch (s[len - 1]) {
		case 's': mult = 1; len--; break;
		case 'm': mult = 60; len--; break;
		case 'h': mult = 3600; len--; break;
		case 'd': mult = 86400; len--; break;
		default: break;
		}
	}
	if (config_value_u64(s, len, &v) < 0)
		return -1;
	return config_value_mul(v, mult, out);
}

/* Seconds as the largest whole unit: "5m", "4h", "5d", "90s". */
void config_value_format_duration(uint64_t secs, char *buf, size_t buflen)
{
	if (secs != 0 && secs % 86400 == 0)
		snprintf(buf, buflen, "%llud", (unsigned long long)(secs / 86400));
	else if (secs != 0 && secs % 3600 == 0)
		snprintf(buf, buflen, "%lluh", (unsigned long long)(secs / 3600));
	else if (secs != 0 && secs % 60 == 0)
		snprintf(buf, buflen, "%llum", (unsigned long long)(secs / 60));
	else
		snprintf(buf, buflen, "%llus", (unsigned long long)secs);
}

/* Octets as the largest whole unit: "1K", "35M", "4G". */
void config_value_format_size(uint64_t n, char *buf, size_t buflen)
{
	static const char units[] = "GMK";
	for (int i = 0; i < 3; i++) {
		uint64_t m = 1ULL << (10 * (3 - i));
		if (n != 0 && n % m == 0) {
			snprintf(buf, buflen, "%llu%c", (unsigned long long)(n / m), units[i]);
			return;
		}
	}
	snprintf(buf, buflen, "%llu", (unsigned long long)n);
}

/* A mail domain name: LDH labels of 1..63 octets, at most 253 in all. */
bool config_value_domain_valid(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch < 0x80)
			return false;
		if (ch == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* Lower-case s in place and drop one trailing dot; false if not a domain. */
bool config_value_domain_normalise(char *s)
{
	size_t len = strlen(s);
	return dns_rr_name_key(s, len, s, len + 1) > 0 && config_value_domain_valid(s);
}

/* An IPv4 or IPv6 address (IPv6 without brackets) into ss. */
int config_value_ip(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/*
 * "ADDRESS:PORT" with IPv6 as "[ADDRESS]:PORT"; when port_optional, the
 * port may be left out (port 0). Returns 0 or -1 with *why set.
 */
int config_value_hostport(const char *s, bool port_optional, struct sockaddr_storage *ss,
    socklen_t *sslen, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL;
	size_t hlen;
	bool bracket = s[0] == '[';
	if (bracket) {
		const char *end = strchr(s, ']');
		if (end == NULL) {
			*why = "has '[' without ']'";
			return -1;
		}
		hlen = (size_t)(end - s - 1);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			*why = "has text after ']' that is not ':PORT'";
			return -1;
		}
		s++;
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			*why = "is IPv6 without brackets (write [ADDRESS]:PORT)";
			return -1;
		}
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*why = "is not an IP address";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (config_value_ip(host, ss, sslen) < 0) {
		*why = "is not an IP address";
		return -1;
	}
	if (ss->ss_family == AF_INET6 && !bracket) {
		*why = "is IPv6 without brackets (write [ADDRESS]:PORT)";
		return -1;
	}
	uint64_t pv = 0;
	if (port == NULL) {
		if (!port_optional) {
			*why = "has no :PORT";
			return -1;
		}
	} else if (config_value_u64(port, strlen(port), &pv) < 0 || pv == 0 || pv > 65535) {
		*why = "has a port that is not 1..65535";
		return -1;
	}
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)pv);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)pv);
	return 0;
}

/* Parse "addr[/prefix]"; *why says what is wrong. */
int config_value_network(const char *s, struct cfg_network *net, const char **why)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	*why = "is not an address/prefix";
	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(net, 0, sizeof(*net));
	unsigned maxbits;
	if (inet_pton(AF_INET, addr, net->addr) == 1) {
		net->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, addr, net->addr) == 1) {
		net->family = AF_INET6;
		maxbits = 128;
	} else
		return -1;
	uint64_t prefix = maxbits;
	if (slash != NULL && (config_value_u64(slash + 1, strlen(slash + 1), &prefix) < 0 ||
	    prefix > maxbits || strlen(slash + 1) > 3))
		return -1;
	net->prefix = (unsigned)prefix;
	for (unsigned bit = net->prefix; bit < maxbits; bit++) {
		if (net->addr[bit / 8] & (0x80u >> (bit % 8))) {
			*why = "has address bits set past its prefix length";
			return -1;
		}
	}
	/* ::ffff:a.b.c.d/n (n >= 96) is the IPv4 network a.b.c.d/(n-96). */
	if (net->family == AF_INET6 && net->prefix >= 96 &&
	    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)net->addr)) {
		net->family = AF_INET;
		memmove(net->addr, net->addr + 12, 4);
		memset(net->addr + 4, 0, 12);
		net->prefix -= 96;
	}
	return 0;
}

/* Whether sa is a loopback address (127/8, ::1, or IPv4-mapped 127/8). */
bool config_value_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (IN6_IS_ADDR_LOOPBACK(a6))
		return true;
	return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
}
