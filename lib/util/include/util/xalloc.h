/*
 * xalloc: allocation that never returns NULL.
 *
 * Owns: the policy that an internal allocation failure is fatal (the
 * process logs and aborts) rather than an error every caller must carry.
 * Never: used for sizes that come straight from the network without a cap
 * checked first by the caller.
 */
#ifndef MXR_XALLOC_H
#define MXR_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
/* Grow an array of nmemb elements of size n, checking for overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Duplicate the first n bytes of s as a NUL-terminated string. */
char *xmemdup0(const void *s, size_t n);

#endif
