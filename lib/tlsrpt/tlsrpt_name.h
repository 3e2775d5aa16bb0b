/*
 * tlsrpt_name: the host name rule the TLS-RPT record and mail share
 * (private to lib/tlsrpt).
 *
 * Owns: what this module accepts as a domain in a mailto: address, a
 * report's submitter and policy domain: RFC 5321 Domain (RFC 6376's
 * domain-name is the same), ASCII only (A-labels for IDNs).
 * Never: changes the name (no case folding, no trailing dot removed).
 */
#ifndef MXR_TLSRPT_NAME_H
#define MXR_TLSRPT_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* The longest host name in octets. */
#define TLSRPT_NAME_MAX 253

/*
 * Whether d[0..n) is a host name: 1 to 253 octets of dot-separated labels,
 * each 1 to 63 letters, digits or hyphens, no hyphen at either end.
 */
bool tlsrpt_name_host(const char *d, size_t n);

#endif
