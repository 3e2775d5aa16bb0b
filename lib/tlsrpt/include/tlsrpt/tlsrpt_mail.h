/*
 * tlsrpt_mail: the report mail of RFC 8460 5.3 and the report file name
 * of 5.1.
 *
 * Owns: the message text of one report mailed to one mailto: address:
 * From, To, Date, Message-ID, the Subject of 5.3 ("Report Domain: D
 * Submitter: S Report-ID: <ID>", the Report-ID being the Message-ID),
 * TLS-Report-Domain, TLS-Report-Submitter, MIME-Version, a multipart/report
 * with report-type="tlsrpt" holding a short text/plain part and the gzip'd
 * JSON as application/tlsrpt+gzip in base64 (76-character lines) with
 * Content-Disposition attachment and the 5.1 file name; the file name for
 * an https: POST too; and the Message-ID made from a report id.
 * Never: does I/O or reads a clock (the Date is given), signs (the DKIM
 * signature RFC 8460 3 requires is added by whoever sends), or puts a CR or
 * LF from its input into a header: every input is checked first.
 *
 * Lines end CRLF and are at most 78 characters (RFC 5322 2.1.1): header
 * fields are folded between words, and a file name too long for one line
 * is split into RFC 2231 continuations (filename*0, filename*1, ...). Two
 * cases pass 78 (never 998): a single word longer than a line (a 253-octet
 * domain), and a field's first word that does not fit after its name,
 * since a fold right after the name leaves a space some readers keep.
 */
#ifndef MXR_TLSRPT_MAIL_H
#define MXR_TLSRPT_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A file name: two domains, two times, a unique id, the extension, the NUL. */
#define TLSRPT_MAIL_FILENAME_MAX 640
/* The longest unique-id this module writes in a file name. */
#define TLSRPT_MAIL_UNIQUE_MAX 64
/* A Message-ID, angle brackets and NUL included. */
#define TLSRPT_MAIL_MSGID_MAX 400

struct tlsrpt_mail {
	const char *from;		/* the configured reporting address (addr-spec) */
	const char *to;			/* the rua address (struct tlsrpt_uri.addr) */
	int64_t date;			/* Unix seconds for the Date field */
	const char *message_id;		/* "<left@right>", or NULL or "" to make one (tlsrpt_mail_message_id) */
	const char *submitter;		/* the Sending MTA's domain: TLS-Report-Submitter */
	const char *policy_domain;	/* TLS-Report-Domain */
	const char *report_id;		/* the JSON "report-id"; makes the Message-ID when none is given */
	int64_t begin, end;		/* the report's date range, Unix seconds */
	const char *unique_id;		/* optional file name part (5.1): letters and digits, or NULL */
	const unsigned char *gz;	/* the gzip'd JSON report (tlsrpt_gzip) */
	size_t gzlen;
};

enum tlsrpt_mail_status {
	TLSRPT_MAIL_OK,
	TLSRPT_MAIL_TOO_BIG,	/* *len says how large out must be (without the NUL) */
	TLSRPT_MAIL_INVALID,	/* an input is missing or not of its form; why says which */
};

/*
 * Write the report mail for m into out[0..cap), NUL-terminated. *len gets
 * the text's length, also when it did not fit (call with cap 0 to
 * measure). why gets a reason for INVALID, "" otherwise; whylen may be 0.
 */
enum tlsrpt_mail_status tlsrpt_mail_write(const struct tlsrpt_mail *m, char *out, size_t cap,
    size_t *len, char *why, size_t whylen);

/*
 * The report's file name (5.1): submitter "!" policy-domain "!" begin "!"
 * end ["!" unique_id] ".json.gz" (".json" when gz is false), the times in
 * Unix seconds. INVALID when a domain is no host name, a time is out of
 * range or begin > end, or unique_id (NULL or "" for none) is not 1 to 64
 * letters and digits; TOO_BIG when it does not fit cap.
 */
enum tlsrpt_mail_status tlsrpt_mail_filename(const char *submitter, const char *policy_domain,
    int64_t begin, int64_t end, const char *unique_id, bool gz, char *out, size_t cap);

/*
 * A Message-ID "<left@submitter>" made from a report id: left is report_id
 * with every character that may not be in a dot-atom made a dot, runs of
 * dots made one and dots at the ends removed ("tlsrpt" when nothing is
 * left, cut at 128 octets). INVALID when submitter is no host name.
 */
enum tlsrpt_mail_status tlsrpt_mail_message_id(const char *report_id, const char *submitter,
    char *out, size_t cap);

/* A name for a status, for logs. */
const char *tlsrpt_mail_status_name(enum tlsrpt_mail_status s);

#endif
