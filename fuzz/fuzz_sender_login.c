/*
 * fuzz_sender_login: the sender_login parser and its lookups over
 * arbitrary bytes. Any input must give a table or an error naming file
 * and line, never a crash, a leak or an unterminated error text; every
 * lookup must answer, and the null sender is owned by every entry.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/sender_login.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[700];
	struct sender_login *m = sender_login_parse("fuzz.logins", (const char *)data, size, err,
	    sizeof(err));
	if (m == NULL) {
		if (memchr(err, '\0', sizeof(err)) == NULL || strncmp(err, "fuzz.logins:", 12) != 0)
			abort();
		return 0;
	}
	static const char *const users[] = { "alice", "ALICE", "a@b.test", "[x]", "" };
	static const char *const addrs[] = { "alice@example.org", "x@EXAMPLE.net", "", "a@b" };
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		const struct sender_login_entry *e = sender_login_user(m, users[i]);
		if (!sender_login_owns(e, "") || sender_login_key(e) == NULL)
			abort();
		for (size_t k = 0; k < sizeof(addrs) / sizeof(addrs[0]); k++)
			(void)sender_login_owns(e, addrs[k]);
	}
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET, "192.0.2.10", &a4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr);
	(void)sender_login_client(m, (const struct sockaddr *)&a4);
	(void)sender_login_client(m, (const struct sockaddr *)&a6);
	sender_login_free(m);
	return 0;
}
