/*
 * tlsrpt_name: whether a text is a host name (RFC 5321 Domain, ASCII).
 *
 * Owns: the label and length limits (63 and 253 octets).
 * Never: allocates or changes the name.
 */
#include "tlsrpt_name.h"

#define NAME_LABEL_MAX 63

static bool name_is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-';
}

bool tlsrpt_name_host(const char *d, size_t n)
{
	if (n == 0 || n > TLSRPT_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? d[i] : '.';
		if (c == '.') {
			if (label == 0 || label > NAME_LABEL_MAX || d[i - 1] == '-' || d[i - label] == '-')
				return false;
			label = 0;
		} else if (name_is_ldh(c)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}
