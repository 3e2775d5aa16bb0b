/*
 * fuzz_addr: arbitrary bytes parsed as a path under every flag
 * combination. A path that parses must obey its flags and caps, and its
 * text form must parse again to the same address.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "smtp/smtp_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s holds an octet >= 0x80. */
static bool fuzz_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Check one successful parse against its flags, then re-parse its text. */
static void fuzz_addr_check(const struct smtp_addr *a, unsigned flags, size_t consumed, size_t size)
{
	if (consumed == 0 || consumed > size)
		abort();
	if (strlen(a->local) > SMTP_LOCAL_ACCEPT_MAX || strlen(a->domain) > SMTP_DOMAIN_MAX)
		abort();
	if (!(flags & SMTP_ADDR_UTF8_OK) &&
	    (a->utf8 || fuzz_has_8bit(a->local) || fuzz_has_8bit(a->domain)))
		abort();
	switch (a->kind) {
	case SMTP_ADDR_NULLPATH:
		if (!(flags & SMTP_ADDR_NULL_OK) || a->local[0] != '\0')
			abort();
		return;
	case SMTP_ADDR_LOCALONLY:
		if (!(flags & SMTP_ADDR_NO_DOMAIN_OK) || !smtp_addr_is_postmaster(a))
			abort();
		break;
	case SMTP_ADDR_MAILBOX:
		if (a->local[0] == '\0' || a->domain[0] == '\0')
			abort();
		if (a->domain_is_literal) {
			struct sockaddr_storage ss;
			if (smtp_addr_literal_to_sockaddr(a->domain, &ss) != 0)
				abort();
		} else if (!smtp_addr_domain_valid(a->domain, strlen(a->domain), a->utf8)) {
			abort();
		}
		break;
	}
	char text[SMTP_LOCAL_ACCEPT_MAX + SMTP_DOMAIN_MAX + 4];
	text[0] = '<';
	size_t n = smtp_addr_format(a, text + 1, sizeof(text) - 2);
	if (n == 0)
		abort();
	text[n + 1] = '>';
	struct smtp_addr b;
	const char *err;
	size_t c2;
	if (smtp_addr_parse_path(text, n + 2, flags, &b, &c2, &err) != 0 || c2 != n + 2)
		abort();
	if (strcmp(a->local, b.local) != 0 || strcmp(a->domain, b.domain) != 0 ||
	    a->kind != b.kind || b.had_route || a->utf8 != b.utf8)
		abort();
	if (smtp_addr_parse_mailbox(text + 1, n, flags, &b, &err) != 0 ||
	    strcmp(a->local, b.local) != 0 || strcmp(a->domain, b.domain) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	for (unsigned flags = 0; flags < 16; flags++) {
		struct smtp_addr a;
		size_t consumed = 0;
		const char *err = NULL;
		enum smtp_addr_fault fault;
		if (smtp_addr_parse_path_ex(s, size, flags, &a, &consumed, &err, &fault) == 0) {
			if (fault != SMTP_ADDR_FAULT_NONE)
				abort();
			fuzz_addr_check(&a, flags, consumed, size);
		} else if (err == NULL || fault == SMTP_ADDR_FAULT_NONE) {
			abort();
		}
		if (smtp_addr_parse_mailbox(s, size, flags, &a, &err) == 0 &&
		    a.kind == SMTP_ADDR_MAILBOX && strlen(a.local) + 1 + strlen(a.domain) != size)
			abort();
	}
	bool utf8_ok = size > 0 && (data[0] & 1);
	(void)smtp_addr_domain_valid(s, size, utf8_ok);
	return 0;
}
