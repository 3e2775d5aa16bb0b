/*
 * xalloc: allocation wrappers that abort with a clear message on failure.
 * Owns: nothing but the failure policy. Never: returns NULL.
 */
#include "util/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Report an allocation failure and abort; there is no sane way to go on. */
static void xalloc_die(size_t n)
{
	fprintf(stderr, "mxrelay: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		xalloc_die(n);
	return p;
}

void *xcalloc(size_t nmemb, size_t n)
{
	void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);
	if (p == NULL)
		xalloc_die(nmemb * n);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		xalloc_die(n);
	return q;
}

void *xreallocarray(void *p, size_t nmemb, size_t n)
{
	if (n != 0 && nmemb > SIZE_MAX / n)
		xalloc_die(SIZE_MAX);
	return xrealloc(p, nmemb * n);
}

char *xstrdup(const char *s)
{
	return xmemdup0(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	return xmemdup0(s, strnlen(s, n));
}

char *xmemdup0(const void *s, size_t n)
{
	if (n == SIZE_MAX)
		xalloc_die(n);
	char *p = xmalloc(n + 1);
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
