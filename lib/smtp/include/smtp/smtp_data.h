/*
 * smtp_data: the DATA stream in both directions (RFC 5321 4.5.2).
 *
 * Owns: dot-stuffing and CRLF canonicalisation for sending, and end-of-data
 * detection and dot-unstuffing for receiving. Only CRLF "." CRLF ends data.
 * Never: does I/O; buffers are supplied by the caller.
 */
#ifndef MXR_SMTP_DATA_H
#define MXR_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets including CRLF. */
#define SMTP_DATA_LINE_MAX 1000
/*
 * The encoder breaks lines that reach this many octets before CRLF. The
 * dot added by stuffing is not counted (RFC 5321 4.5.3.1.6), so a line of
 * 998 octets that starts with '.' goes out as 999 octets and CRLF.
 */
#define SMTP_DATA_FOLD_AT 998

/*
 * Encoder (client side). Input is message text in any line-ending form;
 * output is the wire form: every line ends in CRLF (a bare CR or a bare LF
 * becomes CRLF, so no bare CR or LF is ever sent), a line starting
 * with '.' gets another '.' in front, and a line that would pass 1000
 * octets (its stuffed dot not counted) is broken with CRLF SPACE.
 */
struct smtp_data_enc {
	bool at_line_start;	/* next byte begins a line */
	bool after_cr;		/* last byte seen was a CR not yet paired */
	bool any_8bit;		/* a byte >= 0x80 was seen */
	size_t line_len;	/* octets of the current text line so far (no stuffed dot) */
	size_t max_line;	/* longest line seen, CRLF included, stuffed dot not */
	size_t folds;		/* lines broken to stay within SMTP_DATA_LINE_MAX */
	uint64_t stuffed;	/* dots added in front of lines (not counted by SIZE) */
};

void smtp_data_enc_init(struct smtp_data_enc *e);
/* Worst-case output size for n input octets (each may double). */
size_t smtp_data_enc_bound(size_t n);
/* Encode in[0..n) into out (at least smtp_data_enc_bound(n)); returns octets written. */
size_t smtp_data_enc_feed(struct smtp_data_enc *e, const char *in, size_t n, char *out);
/* Finish: a CRLF if the text did not end with one, then ".\r\n". out >= 5. */
size_t smtp_data_enc_finish(struct smtp_data_enc *e, char *out);

/*
 * What the decoder does with a bare LF (an LF without CR before it) or a
 * bare CR (a CR without LF after it).
 */
enum smtp_data_newline {
	/*
	 * Each is a line end, stored as CRLF (Postfix's
	 * smtpd_forbid_bare_newline = normalize, extended to CR). Only CRLF
	 * "." CRLF ends data: a "." line reached or ended through a bare line
	 * end is message text, kept as ".".
	 */
	SMTP_DATA_NL_NORMALIZE,
	SMTP_DATA_NL_REJECT,	/* SMTP_DATA_DEC_BARE_NL: the stream is refused */
};

/*
 * Decoder (server side). Input is the raw wire bytes after the 354;
 * output is the message with CRLF line ends and dot-stuffing removed
 * (the terminating "." line is not part of it).
 */
enum smtp_data_dec_status {
	SMTP_DATA_DEC_MORE,	/* all input taken, end not yet seen */
	SMTP_DATA_DEC_END,	/* CRLF.CRLF seen; *consumed stops right after it */
	SMTP_DATA_DEC_BARE_NL,	/* SMTP_DATA_NL_REJECT: a bare CR or LF was seen */
};

struct smtp_data_dec {
	enum smtp_data_newline newline;
	int state;		/* internal scanner state */
	bool line_after_crlf;	/* the current line began at the start or after a CRLF */
	size_t line_len;	/* octets of the current line so far, a stuffing dot not counted */
	bool line_too_long;	/* a line passed SMTP_DATA_LINE_MAX (sticky) */
	bool any_8bit;		/* a byte >= 0x80 was seen */
};

void smtp_data_dec_init(struct smtp_data_dec *d, enum smtp_data_newline newline);
/* Output room that decoding n input octets may need (a bare LF becomes two). */
size_t smtp_data_dec_bound(size_t n);
/*
 * Decode in[0..n) into out (at least smtp_data_dec_bound(n)). Sets
 * *consumed (input used) and *produced (output written). On END, input
 * after *consumed belongs to the next command (pipelining). On BARE_NL
 * (only with SMTP_DATA_NL_REJECT) the stream is unusable and the session
 * must refuse the message.
 */
enum smtp_data_dec_status smtp_data_dec_feed(struct smtp_data_dec *d,
    const char *in, size_t n, char *out, size_t *consumed, size_t *produced);

/*
 * Line ends of BDAT text (RFC 3030: no stuffing and no end marker), taken
 * as DATA text is: in normalize mode a bare CR or LF becomes CRLF, in
 * reject mode it refuses the text.
 */
struct smtp_data_lines {
	enum smtp_data_newline newline;
	bool after_cr;		/* the last octet was a CR; its LF may come in the next feed */
};

void smtp_data_lines_init(struct smtp_data_lines *l, enum smtp_data_newline newline);
/*
 * Copy in[0..n) to out (at least smtp_data_dec_bound(n)) with line ends
 * made CRLF; *produced is what was written. False: a bare line end in
 * reject mode (out then holds nothing useful).
 */
bool smtp_data_lines_feed(struct smtp_data_lines *l, const char *in, size_t n, char *out,
    size_t *produced);
/* The end of the text: a CR left last is bare. out >= 1. False as for feed. */
bool smtp_data_lines_finish(struct smtp_data_lines *l, char *out, size_t *produced);

#endif
