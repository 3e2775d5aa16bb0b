/*
 * hostname: this host's fully qualified name (see hostname.h).
 */
#include "util/hostname.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/xalloc.h"

char *hostname_fqdn(void)
{
	char name[256];
	if (gethostname(name, sizeof(name)) != 0 || name[0] == '\0')
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	/* RFC 5321 4.1.1.1 wants the fully qualified name in EHLO. */
	if (strchr(name, '.') == NULL) {
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(name, NULL, &hints, &res) == 0 && res != NULL &&
		    res->ai_canonname != NULL && strchr(res->ai_canonname, '.') != NULL &&
		    strlen(res->ai_canonname) < sizeof(name))
			snprintf(name, sizeof(name), "%s", res->ai_canonname);
		if (res != NULL)
			freeaddrinfo(res);
	}
	size_t n = strlen(name);
	if (n > 1 && name[n - 1] == '.')
		name[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	return xstrdup(name);
}
