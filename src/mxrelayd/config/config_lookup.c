/*
 * config_lookup: the questions asked of a frozen configuration: is this
 * client in relay_networks, is this one of our relay domains, which route
 * carries mail for a domain, and names for enums in logs.
 *
 * Owns: matching rules (IPv4-mapped IPv6 clients match IPv4 networks;
 * domains compare without case and without one trailing dot).
 * Never: changes the configuration; it is read-only after config_load().
 */
#include "config/config.h"
#include "config_value.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns/dns_rr.h"

/* Parse "addr[/prefix]" into net (see config.h). */
int config_parse_network(const char *s, struct cfg_network *net)
{
	const char *why;
	return config_value_network(s, net, &why);
}

size_t config_network_format(const struct cfg_network *net, char *buf, size_t buflen)
{
	char a[INET6_ADDRSTRLEN];
	if (buflen == 0)
		return 0;
	if (inet_ntop(net->family, net->addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	int n = snprintf(buf, buflen, "%s/%u", a, net->prefix);
	if (n < 0)
		return 0;
	return (size_t)n < buflen ? (size_t)n : buflen - 1;
}

/* Whether the first prefix bits of a and b agree. */
static bool config_lookup_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

bool config_networks_match(const struct cfg_network *nets, size_t nnets, const struct sockaddr *sa)
{
	uint8_t v4[4], v6[16];
	bool has4 = false, has6 = false;
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		has4 = true;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		memcpy(v6, a6, 16);
		has6 = true;
		/* An IPv4 client seen through an IPv6 socket. */
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(v4, v6 + 12, 4);
			has4 = true;
		}
	}
	for (size_t i = 0; i < nnets; i++) {
		const struct cfg_network *n = &nets[i];
		if (n->family == AF_INET && has4 && config_lookup_prefix_equal(n->addr, v4, n->prefix))
			return true;
		if (n->family == AF_INET6 && has6 && config_lookup_prefix_equal(n->addr, v6, n->prefix))
			return true;
	}
	return false;
}

bool config_network_match(const struct config *c, const struct sockaddr *sa)
{
	return c != NULL && config_networks_match(c->networks, c->nnetworks, sa);
}

/* ---- lookups on the frozen result -------------------------------------- */

/* Copy domain lower-cased without one trailing dot; false if too long. */
static bool config_lookup_domain_key(const char *domain, char *buf, size_t buflen)
{
	return dns_rr_name_key(domain, strlen(domain), buf, buflen) > 0;
}

bool config_relay_domain(const struct config *c, const char *domain)
{
	char key[256];
	if (c == NULL || domain == NULL || !config_lookup_domain_key(domain, key, sizeof(key)))
		return false;
	for (size_t i = 0; i < c->nrelay_domains; i++)
		if (strcmp(c->relay_domains[i], key) == 0)
			return true;
	return false;
}

const struct cfg_route *config_route(const struct config *c, const char *domain)
{
	char key[256];
	const struct cfg_route *dflt = NULL;
	if (c == NULL)
		return NULL;
	bool have_key = domain != NULL && config_lookup_domain_key(domain, key, sizeof(key));
	for (size_t i = 0; i < c->nroutes; i++) {
		if (have_key && strcmp(c->routes[i].domain, key) == 0)
			return &c->routes[i];
		if (strcmp(c->routes[i].domain, "*") == 0)
			dflt = &c->routes[i];
	}
	return dflt;
}

const char *config_listen_mode_name(enum cfg_listen_mode mode)
{
	switch (mode) {
	case CFG_LISTEN_RELAY: return "relay";
	case CFG_LISTEN_SUBMISSION: return "submission";
	case CFG_LISTEN_SMTPS: return "smtps";
	}
	return "?";
}
