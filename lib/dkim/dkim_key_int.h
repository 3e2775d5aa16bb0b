/*
 * dkim_key_int: what the signer needs of a key beyond the public face:
 * OpenSSL's object, to sign with; and the one way both report a failure.
 * Never: lets the object outlive the key (it stays owned by dkim_key).
 */
#ifndef MXR_DKIM_KEY_INT_H
#define MXR_DKIM_KEY_INT_H

#include <openssl/evp.h>

#include "dkim/dkim_key.h"

/* The key's OpenSSL object, owned by k. */
EVP_PKEY *dkim_key_pkey(const struct dkim_key *k);

/* Write a reason into err (when there is room); empties OpenSSL's error queue. */
void dkim_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
