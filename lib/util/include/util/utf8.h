/*
 * utf8: the one check of a UTF-8 sequence (RFC 3629), for every codec
 * that takes UTF-8 text from a peer: addresses and headers (RFC 6531),
 * MTA-STS policies, TLS report strings.
 *
 * Owns: what a well-formed multi-octet sequence is: no overlong forms,
 * no surrogates, nothing past U+10FFFF.
 * Never: allocates, or decides what a caller does with a bad octet.
 */
#ifndef MXR_UTF8_H
#define MXR_UTF8_H

#include <stddef.h>

/*
 * The length (2 to 4) of the well-formed multi-octet UTF-8 sequence at
 * s[0..len), or 0 when there is none there (an ASCII octet included).
 */
size_t utf8_seq_len(const char *s, size_t len);

#endif
