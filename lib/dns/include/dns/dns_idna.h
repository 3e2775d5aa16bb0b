/*
 * dns_idna: internationalised domain names to the form DNS knows them by
 * (RFC 5890, RFC 5891; RFC 6531 section 3.7.3).
 *
 * Owns: telling a name that needs conversion (any octet >= 0x80) from a
 * plain ASCII one, and turning a UTF-8 name (U-labels) into A-labels
 * ("bücher.example" into "xn--bcher-kva.example") with UTS #46
 * non-transitional mapping and the IDNA2008 checks.
 * Never: does I/O or keeps state; never touches a pure ASCII name.
 */
#ifndef MXR_DNS_IDNA_H
#define MXR_DNS_IDNA_H

#include <stdbool.h>
#include <stddef.h>

/* UTF-8 input longer than this is refused before any conversion work. */
#define DNS_IDNA_INPUT_MAX 1024

/* True when name holds an octet >= 0x80 and so must be converted before a lookup. */
bool dns_idna_needed(const char *name);

/*
 * Write the A-label form of the NUL-terminated UTF-8 name in into out
 * (cap octets, NUL included). Returns true on success, the result then
 * being ASCII only; else false with *reason set to a static printable text
 * (invalid UTF-8, a disallowed code point, a bad label, too long).
 */
bool dns_idna_to_ascii(const char *in, char *out, size_t cap, const char **reason);

#endif
