/*
 * fuzz_dsn: arbitrary bytes as a NOTIFY and a RET value. Checks that an
 * accepted NOTIFY is NEVER alone or a set of SUCCESS, FAILURE and DELAY,
 * and that writing it back gives a value that reads as the same bits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *err = NULL;
	unsigned bits = smtp_dsn_notify_parse(s, size, &err);
	if (bits == 0) {
		if (err == NULL)
			abort();
	} else {
		unsigned all = SMTP_DSN_NOTIFY_SUCCESS | SMTP_DSN_NOTIFY_FAILURE | SMTP_DSN_NOTIFY_DELAY;
		if (bits != SMTP_DSN_NOTIFY_NEVER && (bits & ~all) != 0)
			abort();
		char buf[64];
		size_t n = smtp_dsn_notify_format(bits, buf, sizeof(buf));
		if (n == 0 || n != strlen(buf) || n > size)
			abort();
		if (smtp_dsn_notify_parse(buf, n, NULL) != bits)
			abort();
	}
	enum smtp_dsn_ret ret = smtp_dsn_ret_parse(s, size);
	if (ret != SMTP_DSN_RET_UNSET && size != 4)
		abort();
	return 0;
}
