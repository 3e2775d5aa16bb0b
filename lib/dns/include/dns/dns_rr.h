/*
 * dns_rr: pure helpers over DNS record data for mail routing.
 *
 * Owns: MX rdata parsing (RFC 1035 3.3.9: 16-bit preference, then an
 * uncompressed wire name), TLSA rdata (RFC 6698 2.1), TXT rdata (RFC 1035
 * 3.3.14), wire names to lower-case text, A/AAAA rdata to
 * socket addresses, domain name normalisation, preference ordering with
 * ties shuffled, and rcode names.
 * Never: does I/O, reads a clock or keeps state; randomness is passed in.
 */
#ifndef MXR_DNS_RR_H
#define MXR_DNS_RR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A host name as text: 253 octets and a NUL (255 on the wire). */
#define DNS_RR_NAME_MAX 254

enum dns_rr_status {
	DNS_RR_OK,
	DNS_RR_BAD,	/* malformed: wrong length, bad label, compression, junk after the name */
};

struct dns_rr_mx {
	uint16_t pref;
	char name[DNS_RR_NAME_MAX];	/* lower case, no trailing dot; "" is the root (null MX) */
};

/*
 * Read a wire-format name at wire[0..len) into text. *used gets the octets
 * the name took. Labels may hold letters, digits, '-' and '_' only; a
 * compression pointer, an over-long label or name, or a name running past
 * len is DNS_RR_BAD.
 */
enum dns_rr_status dns_rr_name_to_text(const uint8_t *wire, size_t len, size_t *used,
    char *out, size_t cap);

/* Parse one MX rdata; the name must end exactly at len. */
enum dns_rr_status dns_rr_mx_parse(const uint8_t *rdata, size_t len, struct dns_rr_mx *out);

/* One TLSA record (RFC 6698 2.1); data points into the rdata parsed. */
struct dns_rr_tlsa {
	uint8_t usage;		/* 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE */
	uint8_t selector;	/* 0 full certificate, 1 SubjectPublicKeyInfo */
	uint8_t mtype;		/* 0 full, 1 SHA-256, 2 SHA-512 */
	const uint8_t *data;
	size_t len;		/* at least 1 */
};

/*
 * Parse one TLSA rdata: three octets, then the certificate association
 * data, at least one octet. Field values are not judged here (an unknown
 * usage or a digest of the wrong length is the TLS side's "unusable").
 */
enum dns_rr_status dns_rr_tlsa_parse(const uint8_t *rdata, size_t len, struct dns_rr_tlsa *out);

/*
 * Parse one TXT rdata: one or more length-prefixed character-strings,
 * each fitting exactly, the last ending at len. Their contents are joined
 * (RFC 7208 3.3) into out, NUL-terminated, when they fit in cap; *joined
 * gets the joined length either way (>= cap: too long, out is ""). The
 * contents are not checked: a NUL octet among them is the caller's to
 * find (memchr over *joined octets).
 */
enum dns_rr_status dns_rr_txt_parse(const uint8_t *rdata, size_t len, char *out, size_t cap,
    size_t *joined);

/*
 * An A (family AF_INET, 4 octets) or AAAA (AF_INET6, 16 octets) rdata as a
 * socket address with port 0.
 */
enum dns_rr_status dns_rr_addr_parse(int family, const uint8_t *rdata, size_t len,
    struct sockaddr_storage *out);

/*
 * The one form in which the relay compares, stores and groups a mail
 * domain (relay_domains, routes, policy, queue destinations, recipient
 * groups): in[0..len) with ASCII letters in lower case, other octets
 * (UTF-8 U-labels, literal brackets) as they are, and one trailing dot
 * removed, so "A.Test." and "a.test" are one domain. Writes it
 * NUL-terminated into out (which may be in itself) and returns its length;
 * 0, and "" when cap > 0, when it is empty or does not fit. No syntax is
 * checked: a key says which domain, not that it is a valid one.
 */
size_t dns_rr_name_key(const char *in, size_t len, char *out, size_t cap);

/*
 * A domain name given as text, checked and made canonical: its
 * dns_rr_name_key, with labels 1..63 octets of letters, digits, '-' and
 * '_', at most 253 octets in all.
 */
enum dns_rr_status dns_rr_name_normalize(const char *in, char *out, size_t cap);

/* A uniform random number in [0, bound), bound >= 1. */
typedef uint32_t dns_rr_rand_fn(void *arg, uint32_t bound);

/*
 * Order MX records for delivery (RFC 5321 5.1): by preference, equal
 * preferences in random order, each name kept once (at its lowest
 * preference), root targets dropped. Keeps at most max records at the
 * front of mx[] and returns how many.
 */
size_t dns_rr_mx_order(struct dns_rr_mx *mx, size_t n, size_t max, dns_rr_rand_fn *rnd, void *arg);

/* "NOERROR", "SERVFAIL", "NXDOMAIN", ...; "RCODE<n>" style text for others. */
const char *dns_rr_rcode_name(int rcode);

#endif
