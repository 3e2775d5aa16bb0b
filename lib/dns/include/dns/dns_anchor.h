/*
 * dns_anchor: DNSSEC trust anchors given as text, checked and split into
 * one record a line (DS: RFC 4034 5.3, DNSKEY: RFC 4034 2.2).
 *
 * Owns: the grammar of a trust-anchor file as an administrator gives it
 * (Debian's /usr/share/dns/root.key, the output of ldns-key2ds or
 * ldns-keygen): zone-file presentation form, one record a line or a
 * record continued across lines inside parentheses, ';' comments, blank
 * lines. Each record is: owner at the start of its line, optional TTL,
 * optional class (IN only), type DS or DNSKEY, then its fields. Numbers
 * are decimal (algorithm mnemonics are not taken); a DS digest is hex (of
 * the right length for digest types 1, 2 and 4), a DNSKEY key base64.
 * Directives ($ORIGIN, $TTL, $INCLUDE) and relative owners continued from
 * a previous line are refused.
 * Never: does I/O, keeps state or trusts a record it has not checked.
 */
#ifndef MXR_DNS_ANCHOR_H
#define MXR_DNS_ANCHOR_H

#include <stddef.h>

/* One record as handed to the callback, NUL included. */
#define DNS_ANCHOR_RR_MAX 4096
/* Records in one text: a root key roll has two or three. */
#define DNS_ANCHOR_RECORDS_MAX 64

/*
 * Called with one checked record joined to one line in canonical form,
 * "owner. IN DS 20326 8 2 E06D44B8..." or "owner. IN DNSKEY 257 3 13 key",
 * and the line it started on. Returns NULL to go on, or a reason to stop:
 * the parse then fails at that line with that reason.
 */
typedef const char *dns_anchor_fn(void *arg, const char *rr, unsigned line);

/*
 * Check text[0..len) and call each (when not NULL) for every record in
 * order. Returns the number of records (at least 1), or -1 with *bad_line
 * set to the 1-based line (0 when the whole text is at fault) and err
 * holding the reason: a line that is not a DS or DNSKEY record of class
 * IN, bad syntax, a NUL octet, or no record at all ("no trust anchor").
 * Records before the bad one have been passed to each already.
 */
int dns_anchor_parse(const char *text, size_t len, dns_anchor_fn *each, void *arg,
    unsigned *bad_line, char *err, size_t errlen);

#endif
