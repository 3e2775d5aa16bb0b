/*
 * smtp_data: the DATA stream codec (RFC 5321 4.5.2, 4.1.1.4).
 *
 * Owns: the encoder (CRLF canonicalisation and dot-stuffing for sending)
 * and the decoder (end-of-data detection, dot-unstuffing, the bare CR/LF
 * guard against SMTP smuggling, line-length and 8-bit flags, and counting
 * Received: fields for the hop limit).
 * Never: does I/O or allocates; never ends data on anything but
 * CRLF "." CRLF, and never reads past the terminating CRLF.
 */
#include "smtp/smtp_data.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* The decoder's scanner states (struct smtp_data_dec.state). */
enum data_dec_state {
	DEC_LINE_START,	/* the next octet begins a line */
	DEC_DOT,	/* a '.' began the line */
	DEC_DOT_CR,	/* ".\r" began the line */
	DEC_MID,	/* inside a line */
	DEC_CR,		/* a CR was seen; only LF may follow */
	DEC_END,	/* CRLF.CRLF was seen */
	DEC_BAD,	/* a bare CR or LF was seen */
};

/* The header field whose instances are counted for the hop limit. */
static const char data_received[] = "Received:";

void smtp_data_enc_init(struct smtp_data_enc *e)
{
	memset(e, 0, sizeof(*e));
	e->at_line_start = true;
}

size_t smtp_data_enc_bound(size_t n)
{
	/* Each octet may be doubled by stuffing, plus one 3-octet fold per full line. */
	if (n > SIZE_MAX / 3)
		return SIZE_MAX;
	return n * 2 + 3 * (n / (SMTP_DATA_FOLD_AT - 1) + 1);
}

/* Write CRLF and close the current output line. */
static size_t enc_newline(struct smtp_data_enc *e, char *out)
{
	out[0] = '\r';
	out[1] = '\n';
	e->line_len += 2;
	if (e->line_len > e->max_line)
		e->max_line = e->line_len;
	e->line_len = 0;
	e->at_line_start = true;
	return 2;
}

size_t smtp_data_enc_feed(struct smtp_data_enc *e, const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '\r') {
			/* Written at once; an LF right after (maybe in the next feed) is dropped. */
			o += enc_newline(e, out + o);
			e->after_cr = true;
			continue;
		}
		if (c == '\n') {
			if (e->after_cr)
				e->after_cr = false;
			else
				o += enc_newline(e, out + o);
			continue;
		}
		e->after_cr = false;
		/*
		 * RFC 5321 4.5.3.1.6: no line over 1000 octets with its CRLF. A
		 * longer one is broken with CRLF SPACE (as Postfix's
		 * smtp_line_length_limit does): the space keeps a header field's
		 * continuation a continuation and can never start a "." line.
		 */
		if (e->line_len >= SMTP_DATA_FOLD_AT) {
			o += enc_newline(e, out + o);
			out[o++] = ' ';
			e->line_len = 1;
			e->at_line_start = false;
			e->folds++;
		}
		if (e->at_line_start && c == '.') {
			/* RFC 5321 4.5.3.1.6: the stuffed dot is not part of the line length. */
			out[o++] = '.';
			e->stuffed++;
		}
		if ((unsigned char)c >= 0x80)
			e->any_8bit = true;
		out[o++] = c;
		e->line_len++;
		e->at_line_start = false;
	}
	return o;
}

size_t smtp_data_enc_finish(struct smtp_data_enc *e, char *out)
{
	size_t o = 0;
	if (!e->at_line_start)
		o += enc_newline(e, out);
	e->after_cr = false;
	out[o++] = '.';
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}

void smtp_data_dec_init(struct smtp_data_dec *d)
{
	memset(d, 0, sizeof(*d));
	d->state = DEC_LINE_START;
	d->in_header = true;
}

/* Write one message octet and note it for the Received: count. */
static void dec_emit(struct smtp_data_dec *d, char c, char *out, size_t *o)
{
	out[(*o)++] = c;
	if ((unsigned char)c >= 0x80)
		d->any_8bit = true;
	if (!d->in_header || c == '\r' || c == '\n' ||
	    d->hdr_prefix_len >= sizeof(data_received) - 1)
		return;
	d->hdr_prefix[d->hdr_prefix_len++] = c;
	if (d->hdr_prefix_len == sizeof(data_received) - 1 &&
	    strncasecmp(d->hdr_prefix, data_received, d->hdr_prefix_len) == 0)
		d->received_count++;
}

/* Close a line at its LF: the empty line ends the header section. */
static void dec_line_end(struct smtp_data_dec *d)
{
	if (d->in_header && d->line_len == 2)
		d->in_header = false;
	d->line_len = 0;
	d->hdr_prefix_len = 0;
	d->state = DEC_LINE_START;
}

enum smtp_data_dec_status smtp_data_dec_feed(struct smtp_data_dec *d,
    const char *in, size_t n, char *out, size_t *consumed, size_t *produced)
{
	size_t o = 0;
	*consumed = 0;
	*produced = 0;
	if (d->state == DEC_END)
		return SMTP_DATA_DEC_END;
	if (d->state == DEC_BAD)
		return SMTP_DATA_DEC_BARE_NL;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (++d->line_len > SMTP_DATA_LINE_MAX)
			d->line_too_long = true;
		switch (d->state) {
		case DEC_LINE_START:
			if (c == '.') {
				d->state = DEC_DOT;	/* held back: stuffing or the end */
			} else if (c == '\r') {
				dec_emit(d, c, out, &o);
				d->state = DEC_CR;
			} else if (c == '\n') {
				d->state = DEC_BAD;
			} else {
				dec_emit(d, c, out, &o);
				d->state = DEC_MID;
			}
			break;
		case DEC_DOT:
			if (c == '\r') {
				d->state = DEC_DOT_CR;
			} else if (c == '\n') {
				d->state = DEC_BAD;
			} else {
				/* The leading dot is the stuffing; drop it (and its count). */
				d->line_len--;
				dec_emit(d, c, out, &o);
				d->state = DEC_MID;
			}
			break;
		case DEC_DOT_CR:
			if (c == '\n') {
				d->state = DEC_END;
				*consumed = i + 1;
				*produced = o;
				return SMTP_DATA_DEC_END;
			}
			d->state = DEC_BAD;
			break;
		case DEC_MID:
			if (c == '\n') {
				d->state = DEC_BAD;
			} else {
				dec_emit(d, c, out, &o);
				if (c == '\r')
					d->state = DEC_CR;
			}
			break;
		case DEC_CR:
			if (c != '\n') {
				d->state = DEC_BAD;
				break;
			}
			dec_emit(d, c, out, &o);
			dec_line_end(d);
			break;
		default:
			d->state = DEC_BAD;
			break;
		}
		if (d->state == DEC_BAD) {
			*consumed = i + 1;
			*produced = o;
			return SMTP_DATA_DEC_BARE_NL;
		}
	}
	*consumed = n;
	*produced = o;
	return SMTP_DATA_DEC_MORE;
}
