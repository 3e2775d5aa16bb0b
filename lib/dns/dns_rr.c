/*
 * dns_rr: pure parsing and ordering of the records mail routing reads.
 *
 * Owns: the checks that keep a hostile or broken DNS answer from reaching
 * the rest of the relay as anything but "malformed".
 * Never: does I/O or keeps state between calls.
 */
#include "dns/dns_rr.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Octets a host name label may hold (LDH plus '_', seen in the field). */
static bool dns_rr_label_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

static char dns_rr_lower(unsigned char ch)
{
	return (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
}

enum dns_rr_status dns_rr_name_to_text(const uint8_t *wire, size_t len, size_t *used,
    char *out, size_t cap)
{
	size_t pos = 0, o = 0;
	if (cap == 0)
		return DNS_RR_BAD;
	for (;;) {
		if (pos >= len)
			return DNS_RR_BAD;
		size_t lab = wire[pos++];
		if (lab == 0)
			break;
		/* 0xC0 is a compression pointer, 0x40/0x80 are obsolete label types. */
		if (lab > 63 || lab > len - pos)
			return DNS_RR_BAD;
		/* The wire form is at most 255 octets including the final zero. */
		if (pos + lab + 1 > 255)
			return DNS_RR_BAD;
		if (o != 0) {
			if (o + 1 >= cap)
				return DNS_RR_BAD;
			out[o++] = '.';
		}
		if (o + lab >= cap)
			return DNS_RR_BAD;
		for (size_t i = 0; i < lab; i++) {
			unsigned char ch = wire[pos + i];
			if (!dns_rr_label_char(ch))
				return DNS_RR_BAD;
			out[o++] = dns_rr_lower(ch);
		}
		pos += lab;
	}
	out[o] = '\0';
	*used = pos;
	return DNS_RR_OK;
}

enum dns_rr_status dns_rr_mx_parse(const uint8_t *rdata, size_t len, struct dns_rr_mx *out)
{
	size_t used = 0;
	if (rdata == NULL || len < 3)
		return DNS_RR_BAD;
	if (dns_rr_name_to_text(rdata + 2, len - 2, &used, out->name, sizeof(out->name)) != DNS_RR_OK)
		return DNS_RR_BAD;
	if (used != len - 2)
		return DNS_RR_BAD;
	out->pref = (uint16_t)((rdata[0] << 8) | rdata[1]);
	return DNS_RR_OK;
}

enum dns_rr_status dns_rr_tlsa_parse(const uint8_t *rdata, size_t len, struct dns_rr_tlsa *out)
{
	if (rdata == NULL || len < 4)
		return DNS_RR_BAD;
	out->usage = rdata[0];
	out->selector = rdata[1];
	out->mtype = rdata[2];
	out->data = rdata + 3;
	out->len = len - 3;
	return DNS_RR_OK;
}

enum dns_rr_status dns_rr_txt_parse(const uint8_t *rdata, size_t len, char *out, size_t cap,
    size_t *joined)
{
	size_t pos = 0, total = 0;
	*joined = 0;
	if (cap > 0)
		out[0] = '\0';
	if (rdata == NULL || len == 0)
		return DNS_RR_BAD;
	/* First the framing of every string, so nothing is written for a malformed record. */
	while (pos < len) {
		size_t n = rdata[pos];
		if (n > len - pos - 1)
			return DNS_RR_BAD;
		total += n;
		pos += 1 + n;
	}
	*joined = total;
	if (total >= cap)
		return DNS_RR_OK;
	size_t o = 0;
	for (pos = 0; pos < len; pos += 1 + rdata[pos]) {
		memcpy(out + o, rdata + pos + 1, rdata[pos]);
		o += rdata[pos];
	}
	out[o] = '\0';
	return DNS_RR_OK;
}

enum dns_rr_status dns_rr_addr_parse(int family, const uint8_t *rdata, size_t len,
    struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET && len == 4 && rdata != NULL) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, rdata, 4);
		return DNS_RR_OK;
	}
	if (family == AF_INET6 && len == 16 && rdata != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, rdata, 16);
		return DNS_RR_OK;
	}
	return DNS_RR_BAD;
}

size_t dns_rr_name_key(const char *in, size_t len, char *out, size_t cap)
{
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (cap == 0)
		return 0;
	if (len == 0 || len >= cap) {
		out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		out[i] = dns_rr_lower((unsigned char)in[i]);
	out[len] = '\0';
	return len;
}

enum dns_rr_status dns_rr_name_normalize(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in);
	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || n >= cap)
		return DNS_RR_BAD;
	size_t lab = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == '.') {
			if (lab == 0)
				return DNS_RR_BAD;
			lab = 0;
		} else if (dns_rr_label_char(ch)) {
			if (++lab > 63)
				return DNS_RR_BAD;
		} else {
			return DNS_RR_BAD;
		}
	}
	if (lab == 0)
		return DNS_RR_BAD;
	(void)dns_rr_name_key(in, n, out, cap);
	return DNS_RR_OK;
}

/* Preference first; the name only makes the sort deterministic before the shuffle. */
static int dns_rr_mx_cmp(const void *a, const void *b)
{
	const struct dns_rr_mx *x = a, *y = b;
	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcmp(x->name, y->name);
}

size_t dns_rr_mx_order(struct dns_rr_mx *mx, size_t n, size_t max, dns_rr_rand_fn *rnd, void *arg)
{
	if (n == 0)
		return 0;
	qsort(mx, n, sizeof(*mx), dns_rr_mx_cmp);
	/* Fisher-Yates within each run of equal preference (RFC 5321 5.1). */
	for (size_t start = 0; start < n;) {
		size_t end = start + 1;
		while (end < n && mx[end].pref == mx[start].pref)
			end++;
		for (size_t i = end - 1; i > start; i--) {
			size_t span = i - start + 1;
			size_t j = start + rnd(arg, (uint32_t)(span > UINT32_MAX ? UINT32_MAX : span));
			if (j != i) {
				struct dns_rr_mx tmp = mx[i];
				mx[i] = mx[j];
				mx[j] = tmp;
			}
		}
		start = end;
	}
	/* Keep the first sighting of each name; the walk stops at max kept. */
	size_t kept = 0;
	for (size_t i = 0; i < n && kept < max; i++) {
		if (mx[i].name[0] == '\0')
			continue;
		bool dup = false;
		for (size_t k = 0; k < kept && !dup; k++)
			dup = strcmp(mx[k].name, mx[i].name) == 0;
		if (dup)
			continue;
		if (kept != i)
			mx[kept] = mx[i];
		kept++;
	}
	return kept;
}

const char *dns_rr_rcode_name(int rcode)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
	};
	if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	return "unknown rcode";
}
