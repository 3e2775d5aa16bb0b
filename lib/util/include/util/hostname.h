/*
 * hostname: this host's name for EHLO, Received and default addresses.
 *
 * Owns: choosing the fully qualified name when the system knows one
 * (gethostname, then the resolver's canonical name when that has no dot),
 * lower-cased and without a trailing dot. Never: asks the network for
 * more than the resolver's canonical name of our own host.
 */
#ifndef MXR_HOSTNAME_H
#define MXR_HOSTNAME_H

/* A new string with this host's name, fully qualified where possible; "localhost" at worst. */
char *hostname_fqdn(void);

#endif
