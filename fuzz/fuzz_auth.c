/*
 * fuzz_auth: arbitrary bytes as an AUTH response: strict base64 decoding
 * and the PLAIN split. Whatever decodes must encode back to exactly the
 * input (strict: one spelling per value), and a PLAIN split that succeeds
 * must give NUL-terminated user and password that fit their buffers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "smtpd_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char out[4096];
	int n = smtpd_auth_b64_decode((const char *)data, size, out, sizeof(out));
	if (n >= 0) {
		if ((size_t)n > size)
			abort();
		unsigned char enc[4096 / 3 * 4 + 8];
		int m = EVP_EncodeBlock(enc, (const unsigned char *)out, n);
		if (m < 0 || (size_t)m != size || memcmp(enc, data, size) != 0)
			abort();
	}
	char user[256], pass[256];
	if (smtpd_auth_plain_split((const char *)data, size, user, sizeof(user), pass,
	    sizeof(pass))) {
		if (memchr(user, '\0', sizeof(user)) == NULL || memchr(pass, '\0', sizeof(pass)) == NULL)
			abort();
	}
	return 0;
}
