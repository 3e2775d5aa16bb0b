/*
 * fuzz_aliases: the aliases(5) parser and the expansion over arbitrary bytes.
 *
 * Owns: nothing but the harness. Never: writes files. Any input must give
 * either a table or an error naming file and line, never a crash, a leak
 * or an unterminated error text; every name of a table must expand to
 * one of the typed results.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/aliases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const locals[] = { "mx.test", "localhost" };
	char err[512];
	struct aliases *a = aliases_parse("fuzz.aliases", (const char *)data, size, err, sizeof(err));
	if (a == NULL) {
		if (memchr(err, '\0', sizeof(err)) == NULL || strncmp(err, "fuzz.aliases:", 13) != 0)
			abort();
		return 0;
	}
	static const char *const names[] = { "root", "postmaster", "a", "loop", "x" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char **list = NULL;
		size_t n = 0;
		const char *missing = NULL;
		enum aliases_result r = aliases_expand(a, names[i], locals, 2,
		    i % 2 == 0 ? NULL : "admin@mx2.test", &list, &n, &missing);
		if (r > ALIASES_TOO_MANY || (r != ALIASES_OK && list != NULL) ||
		    (r == ALIASES_UNKNOWN && missing == NULL) || n > ALIASES_EXPAND_MAX)
			abort();
		aliases_list_free(list, n);
	}
	aliases_free(a);
	return 0;
}
