/*
 * sts_policy: the MTA-STS policy file (RFC 8461 3.2) and MX host
 * validation against it (RFC 8461 4.1).
 *
 * Owns: the policy grammar and its limits, the policy's one stored form
 * (struct sts_policy) and its one text form (sts_policy_format, kept in
 * the policy cache and sent as the TLS-RPT "policy-string" lines), and
 * the rule for whether an MX host name matches the policy's patterns.
 * Never: does I/O, reads a clock or decides what a mode means for a
 * delivery (the engine does); the HTTPS fetch, its own size cap and the
 * media type check (3.3) are the caller's.
 *
 * The grammar, as RFC 8461 3.2 gives it:
 *     sts-policy-record      = sts-policy-field *WSP
 *                              *(sts-policy-term sts-policy-field *WSP) [sts-policy-term]
 *     sts-policy-term        = LF / CRLF
 *     sts-policy-field-delim = ":" *WSP
 *     version: %s"STSv1"; mode: %s"testing" / %s"enforce" / %s"none";
 *     max_age: 1*10(DIGIT); mx: ["*."] Domain (RFC 5321 4.1.2)
 *     sts-policy-extension   = sts-policy-ext-name sts-policy-field-delim sts-policy-ext-value
 *     sts-policy-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *     sts-policy-ext-value   = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]
 *     sts-policy-vchar       = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4
 * So field names are case-sensitive ("Mode: enforce" is an unknown field),
 * no space may come before the colon or start a line, and an empty line is
 * not a field. When version, mode or max_age is repeated the first counts
 * and the rest are ignored; "mx" may repeat; a missing version, mode or
 * max_age, or "mx" missing from an enforce or testing policy, makes the
 * policy invalid. Unknown fields are ignored but must be well formed.
 *
 * Where this module decides what the RFC leaves open:
 * - max_age over 31557600 (the RFC's maximum) is taken as 31557600;
 * - an mx pattern is stored in lower case with one trailing dot removed
 *   (the form dns_rr_name_key gives names), A-labels only (3.2 wants the
 *   A-label of an internationalised name), labels of 1 to 63 letters,
 *   digits and inner hyphens, 253 octets at most;
 * - more than STS_POLICY_MX_MAX patterns, or a body over
 *   STS_POLICY_BODY_MAX, is STS_POLICY_TOO_BIG: refused rather than cut,
 *   since a cut list would fail deliveries to the MX hosts left out.
 */
#ifndef MXR_STS_POLICY_H
#define MXR_STS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest policy body parsed (the fetch caps it too). */
#define STS_POLICY_BODY_MAX (64 * 1024)
/* The most mx patterns one policy may carry. */
#define STS_POLICY_MX_MAX 64
/* An mx pattern as text: "*." and a 253-octet domain, and the NUL. */
#define STS_POLICY_MX_LEN 256
/* The largest max_age, in seconds (RFC 8461 3.2: about a year). */
#define STS_POLICY_MAX_AGE_MAX 31557600u

enum sts_mode {
	STS_MODE_NONE,
	STS_MODE_TESTING,
	STS_MODE_ENFORCE,
};

struct sts_policy {
	enum sts_mode mode;
	uint32_t max_age;			/* seconds, at most STS_POLICY_MAX_AGE_MAX */
	size_t nmx;				/* patterns in mx[] */
	char mx[STS_POLICY_MX_MAX][STS_POLICY_MX_LEN];	/* "host" or "*.domain", lower case, NUL-padded */
};

enum sts_policy_status {
	STS_POLICY_OK,
	STS_POLICY_INVALID,	/* breaks the grammar or lacks a required field */
	STS_POLICY_TOO_BIG,	/* over STS_POLICY_BODY_MAX or STS_POLICY_MX_MAX */
};

struct sts_policy_error {
	size_t line;		/* 1-based line the error is on; 0 when it is about the whole */
	char why[160];		/* what is wrong, "" on OK */
};

/*
 * Parse the policy body[0..len) into *p (cleared first, so two parses of
 * equal policies compare equal byte for byte). On anything but
 * STS_POLICY_OK, *p is cleared again and err says where and why.
 */
enum sts_policy_status sts_policy_parse(const char *body, size_t len, struct sts_policy *p,
    struct sts_policy_error *err);

/*
 * Whether host (an MX host name, any case, a trailing dot ignored) matches
 * one of p's mx patterns (RFC 8461 4.1): equal ignoring ASCII case, or for
 * "*.example.com" exactly one more label on the left: "mx.example.com"
 * matches, "example.com" and "a.b.example.com" do not.
 */
bool sts_policy_mx_match(const struct sts_policy *p, const char *host);

/*
 * The canonical text of p: "version: STSv1", "mode: M", one "mx: P" per
 * pattern in order, "max_age: N", each line ending LF. It parses back to
 * an equal policy. Returns the length the text needs (without its NUL);
 * writes it NUL-terminated only when cap is larger, else out gets ""
 * (when cap > 0). The longest text fits STS_POLICY_FORMAT_MAX.
 */
size_t sts_policy_format(const struct sts_policy *p, char *out, size_t cap);
#define STS_POLICY_FORMAT_MAX (64 + STS_POLICY_MX_MAX * (STS_POLICY_MX_LEN + 5))

/*
 * Step through the lines of text[0..len) (a formatted policy, or any text
 * with LF or CRLF line ends): from *pos, set *line and *linelen to the next
 * line without its line end and advance *pos. False when no line is left;
 * a last line without a line end counts, an empty text has no line.
 */
bool sts_policy_next_line(const char *text, size_t len, size_t *pos, const char **line,
    size_t *linelen);

/* Whether a and b are the same policy: mode, max_age and mx patterns in order. */
bool sts_policy_equal(const struct sts_policy *a, const struct sts_policy *b);

/* "none", "testing" or "enforce": the mode as the policy writes it. */
const char *sts_mode_name(enum sts_mode m);

/* A name for a status, for logs. */
const char *sts_policy_status_name(enum sts_policy_status s);

#endif
