/*
 * fuzz_config: the mxrelay.conf(5) parser over arbitrary bytes.
 *
 * Owns: nothing but the harness. Never: writes files. Any input must give
 * either a configuration or an error naming file and line, never a crash,
 * a leak or an unterminated error text.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct config *c = NULL;
	if (config_load_text("fuzz.conf", (const char *)data, size, &c, err, sizeof(err)) < 0) {
		if (c != NULL || memchr(err, '\0', sizeof(err)) == NULL ||
		    strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		return 0;
	}
	/* Exercise the lookups on whatever was accepted. */
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6.sin6_addr);
	(void)config_network_match(c, (struct sockaddr *)&sin);
	(void)config_network_match(c, (struct sockaddr *)&sin6);
	(void)config_relay_domain(c, "Example.TEST.");
	(void)config_route(c, "example.test");
	for (size_t i = 0; i < c->nnetworks; i++) {
		char buf[64];
		config_network_format(&c->networks[i], buf, sizeof(buf));
	}
	config_free(c);
	return 0;
}
