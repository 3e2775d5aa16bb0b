/*
 * smtp_data: the DATA stream codec (RFC 5321 4.5.2, 4.1.1.4).
 *
 * Owns: the encoder (CRLF canonicalisation and dot-stuffing for sending)
 * and the decoder (end-of-data detection, dot-unstuffing, bare CR/LF
 * either normalized to CRLF or refused as SMTP smuggling, line-length and
 * 8-bit flags). What the header says (Received fields, Message-ID) is
 * smtp_hdrscan's, read from the decoded text.
 * Never: does I/O or allocates; never ends data on anything but
 * CRLF "." CRLF, and never reads past the terminating CRLF.
 */
#include "smtp/smtp_data.h"

#include <stdint.h>
#include <string.h>

/* The decoder's scanner states (struct smtp_data_dec.state). */
enum data_dec_state {
	DEC_LINE_START,	/* the next octet begins a line */
	DEC_DOT,	/* a '.' began the line */
	DEC_DOT_CR,	/* ".\r" began the line */
	DEC_MID,	/* inside a line */
	DEC_CR,		/* a CR was written; an LF makes it a line end */
	DEC_END,	/* CRLF.CRLF was seen */
	DEC_BAD,	/* a bare CR or LF was seen (reject mode) */
};

/* The header field whose instances are counted for the hop limit. */

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

void smtp_data_dec_init(struct smtp_data_dec *d, enum smtp_data_newline newline)
{
	memset(d, 0, sizeof(*d));
	d->newline = newline;
	d->state = DEC_LINE_START;
	d->line_after_crlf = true;
}

size_t smtp_data_dec_bound(size_t n)
{
	/* A bare LF doubles; a held ".\r" can come out with one more octet as five. */
	if (n > (SIZE_MAX - 3) / 2)
		return SIZE_MAX;
	return 2 * n + 3;
}

/* Write one message octet and note 8-bit text. */
static void dec_emit(struct smtp_data_dec *d, char c, char *out, size_t *o)
{
	out[(*o)++] = c;
	if ((unsigned char)c >= 0x80)
		d->any_8bit = true;
}

/* Close a line at its line end. */
static void dec_line_end(struct smtp_data_dec *d, bool crlf)
{
	d->line_len = 0;
	d->line_after_crlf = crlf;
	d->state = DEC_LINE_START;
}

/*
 * A bare line end in normalize mode: finish the line with CRLF (its CR is
 * already out in state DEC_CR). A "." held back is text here (it was
 * neither stuffing nor the end), so it is written first. Returns false in
 * reject mode.
 */
static bool dec_bare_end(struct smtp_data_dec *d, bool held_dot, char *out, size_t *o)
{
	if (d->newline != SMTP_DATA_NL_NORMALIZE) {
		d->state = DEC_BAD;
		return false;
	}
	if (held_dot)
		dec_emit(d, '.', out, o);
	if (d->state != DEC_CR)
		dec_emit(d, '\r', out, o);
	dec_emit(d, '\n', out, o);
	/* Counted as the CRLF it becomes. */
	if (++d->line_len > SMTP_DATA_LINE_MAX)
		d->line_too_long = true;
	dec_line_end(d, false);
	return true;
}

/* One octet; returns false once the stream is refused or ended. */
static bool dec_octet(struct smtp_data_dec *d, char c, char *out, size_t *o)
{
	if (++d->line_len > SMTP_DATA_LINE_MAX)
		d->line_too_long = true;
	switch (d->state) {
	case DEC_LINE_START:
		if (c == '.') {
			d->state = DEC_DOT;	/* held back: stuffing, text or the end */
		} else if (c == '\r') {
			dec_emit(d, c, out, o);
			d->state = DEC_CR;
		} else if (c == '\n') {
			return dec_bare_end(d, false, out, o);
		} else {
			dec_emit(d, c, out, o);
			d->state = DEC_MID;
		}
		return true;
	case DEC_DOT:
		if (c == '\r') {
			d->state = DEC_DOT_CR;
		} else if (c == '\n') {
			return dec_bare_end(d, true, out, o);
		} else {
			/* The leading dot is the stuffing; drop it (and its count). */
			d->line_len--;
			dec_emit(d, c, out, o);
			d->state = DEC_MID;
		}
		return true;
	case DEC_DOT_CR:
		if (c == '\n' && d->line_after_crlf) {
			d->state = DEC_END;
			return false;
		}
		if (c == '\n') {
			/* CRLF "." CRLF with a bare line end before it: text. */
			dec_emit(d, '.', out, o);
			dec_emit(d, '\r', out, o);
			dec_emit(d, '\n', out, o);
			dec_line_end(d, true);
			return true;
		}
		/* ".\r" and something else: a "." line ended by a bare CR. */
		d->line_len--;	/* c is counted again on its own line */
		if (!dec_bare_end(d, true, out, o))
			return false;
		return dec_octet(d, c, out, o);
	case DEC_MID:
		if (c == '\n')
			return dec_bare_end(d, false, out, o);
		dec_emit(d, c, out, o);
		if (c == '\r')
			d->state = DEC_CR;
		return true;
	case DEC_CR:
		if (c == '\n') {
			dec_emit(d, c, out, o);
			dec_line_end(d, true);
			return true;
		}
		d->line_len--;	/* c is counted again on its own line */
		if (!dec_bare_end(d, false, out, o))
			return false;
		return dec_octet(d, c, out, o);
	default:
		d->state = DEC_BAD;
		return false;
	}
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
		if (dec_octet(d, in[i], out, &o))
			continue;
		*consumed = i + 1;
		*produced = o;
		return d->state == DEC_END ? SMTP_DATA_DEC_END : SMTP_DATA_DEC_BARE_NL;
	}
	*consumed = n;
	*produced = o;
	return SMTP_DATA_DEC_MORE;
}

void smtp_data_lines_init(struct smtp_data_lines *l, enum smtp_data_newline newline)
{
	memset(l, 0, sizeof(*l));
	l->newline = newline;
}

bool smtp_data_lines_feed(struct smtp_data_lines *l, const char *in, size_t n, char *out,
    size_t *produced)
{
	bool normalize = l->newline == SMTP_DATA_NL_NORMALIZE;
	size_t o = 0;
	*produced = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (l->after_cr && c != '\n') {
			if (!normalize)
				return false;
			out[o++] = '\n';	/* a bare CR: its line ends here */
		} else if (!l->after_cr && c == '\n') {
			if (!normalize)
				return false;
			out[o++] = '\r';	/* a bare LF */
		}
		out[o++] = c;
		l->after_cr = c == '\r';
	}
	*produced = o;
	return true;
}

bool smtp_data_lines_finish(struct smtp_data_lines *l, char *out, size_t *produced)
{
	*produced = 0;
	if (!l->after_cr)
		return true;
	if (l->newline != SMTP_DATA_NL_NORMALIZE)
		return false;
	l->after_cr = false;
	out[0] = '\n';
	*produced = 1;
	return true;
}
