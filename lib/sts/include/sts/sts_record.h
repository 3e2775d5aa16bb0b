/*
 * sts_record: the MTA-STS TXT record at _mta-sts.DOMAIN (RFC 8461 3.1).
 *
 * Owns: choosing the one MTA-STS record among the TXT records of that
 * name, the record grammar (sts-text-record) and the policy id it carries.
 * Never: does I/O, reads a clock or keeps state. The lookup, and joining
 * the character-strings of one TXT record without spaces (RFC 8461 3.1),
 * are the caller's.
 *
 * The rules, as RFC 8461 3.1 and 3.2 give them:
 * - records not beginning with "v=STSv1;" (case-sensitive, the ";"
 *   included) are discarded; when the number left is not one, the domain
 *   has no available policy (STS_RECORD_NONE). A record written
 *   "v=STSv1 ;" is therefore discarded, although the ABNF's
 *   sts-field-delim allows the space (reported as erratum 6285);
 * - the one record left must match sts-text-record, else it is
 *   STS_RECORD_INVALID, which also means no available policy:
 *       sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
 *       sts-field-delim = *WSP ";" *WSP
 *       sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 *       sts-extension   = sts-ext-name "=" sts-ext-value
 *       sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *       sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 * - "id" is required; when a field other than "mx" is repeated, the first
 *   one counts and the others are ignored (3.2), so only the first "id"
 *   must be 1 to 32 letters and digits; unknown fields are ignored.
 */
#ifndef MXR_STS_RECORD_H
#define MXR_STS_RECORD_H

#include <stddef.h>

/* The longest policy id (sts-id) and its NUL. */
#define STS_RECORD_ID_MAX 33

enum sts_record_status {
	STS_RECORD_NONE,	/* no record begins with "v=STSv1;", or more than one does */
	STS_RECORD_OK,		/* exactly one, valid: id holds its policy id */
	STS_RECORD_INVALID,	/* exactly one, but it breaks the grammar or lacks an id */
};

/*
 * Choose and parse the MTA-STS record among texts[0..n) (each one whole
 * TXT record, NUL-terminated; a NULL entry is skipped). On STS_RECORD_OK,
 * id gets the policy id; otherwise id is "". why gets a reason for
 * anything but OK ("" on OK); whylen may be 0.
 */
enum sts_record_status sts_record_parse(const char *const *texts, size_t n,
    char id[STS_RECORD_ID_MAX], char *why, size_t whylen);

/* A name for a status, for logs. */
const char *sts_record_status_name(enum sts_record_status s);

#endif
