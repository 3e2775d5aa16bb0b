/*
 * strv: arrays of strings (see strv.h).
 */
#include "util/strv.h"

#include <string.h>

size_t strv_count_prefixed(const char *const *v, size_t n, const char *prefix, const char **last)
{
	size_t found = 0, plen = strlen(prefix);
	*last = NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i] != NULL && strncmp(v[i], prefix, plen) == 0) {
			found++;
			*last = v[i];
		}
	}
	return found;
}
