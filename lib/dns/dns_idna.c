/*
 * dns_idna: UTF-8 domain names to A-labels over libidn2.
 *
 * Owns: the one call into libidn2 (IDNA2008 with UTS #46 non-transitional
 * mapping, so "faß.de" stays distinct from "fass.de") and the copy of its
 * result into a caller's buffer.
 * Never: does I/O, keeps state, or hands back anything but ASCII.
 */
#include "dns/dns_idna.h"

#include <string.h>

#include <idn2.h>

#include "util/log.h"

bool dns_idna_needed(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		if (*p >= 0x80)
			return true;
	return false;
}

bool dns_idna_to_ascii(const char *in, char *out, size_t cap, const char **reason)
{
	if (cap == 0) {
		*reason = "no room for the name";
		return false;
	}
	out[0] = '\0';
	if (strnlen(in, DNS_IDNA_INPUT_MAX + 1) > DNS_IDNA_INPUT_MAX) {
		*reason = "name too long";
		return false;
	}
	char *ascii = NULL;
	int rc = idn2_to_ascii_8z(in, &ascii, IDN2_NONTRANSITIONAL);
	if (rc == IDN2_MALLOC)
		fatal("dns: out of memory converting an internationalised domain name");
	if (rc != IDN2_OK) {
		/* libidn2's texts are fixed English sentences, safe to log. */
		*reason = idn2_strerror(rc);
		idn2_free(ascii);
		return false;
	}
	size_t n = strlen(ascii);
	bool ok = n < cap && !dns_idna_needed(ascii);
	if (ok)
		memcpy(out, ascii, n + 1);
	else
		*reason = n >= cap ? "name too long" : "conversion left non-ASCII octets";
	idn2_free(ascii);
	return ok;
}
