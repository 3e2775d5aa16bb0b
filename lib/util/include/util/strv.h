/*
 * strv: questions about an array of strings, such as the strings of a DNS
 * TXT answer, where a record is told apart by how it begins (MTA-STS's
 * "v=STSv1;", TLS-RPT's "v=TLSRPTv1;": exactly one must).
 *
 * Owns: nothing. Never: allocates or keeps a pointer past the call.
 */
#ifndef MXR_STRV_H
#define MXR_STRV_H

#include <stddef.h>

/*
 * How many of v[0..n) begin with prefix (NULL entries skipped); *last is
 * the last of them, or NULL when there is none.
 */
size_t strv_count_prefixed(const char *const *v, size_t n, const char *prefix, const char **last);

#endif
