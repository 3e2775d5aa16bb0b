/*
 * dkim_body: "relaxed" body canonicalisation (RFC 6376 3.4.4) streamed
 * into SHA-256.
 *
 * Owns: the state carried between pieces (a CR that may start a CRLF, a
 * withheld whitespace run, the line ends withheld until content follows
 * them) and a fixed output buffer hashed in 64 KiB blocks.
 * Never: keeps or allocates anything per piece; looks at an octet twice
 * when it can help it.
 *
 * How it is fast: input is taken in runs that come out unchanged (content
 * octets, and single SPs between content octets), found eight octets at
 * a time and copied whole; only a tab, a run of more than one WSP, WSP
 * at a line end, and line ends break a run. Line ends are
 * counted, not written, until content follows them, which is how empty
 * lines at the end vanish without looking ahead.
 */
#include "dkim/dkim_body.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/log.h"
#include "util/xalloc.h"

/* Canonical octets gathered before one digest update. */
#define BODY_OUT (64u * 1024u)

struct dkim_body {
	EVP_MD_CTX *md;		/* owned: the SHA-256 of what was written */
	size_t crlf;		/* line ends withheld: written before the next content */
	size_t used;		/* octets waiting in out */
	bool wsp;		/* a WSP run since the line's last content, withheld */
	bool cr;		/* the last octet fed was a CR: a line end if LF follows */
	bool any;		/* content was written: the body is not empty */
	bool done;		/* dkim_body_final was called */
	unsigned char out[BODY_OUT];
};

/* The octets that end a run of unchanged input: HTAB, CR and SP. */
static const unsigned char body_special[256] = { ['\t'] = 1, ['\r'] = 1, [' '] = 1 };

struct dkim_body *dkim_body_new(void)
{
	/* Not calloc: the 64 KiB buffer needs no zeroing, and a message's signing pays for it. */
	struct dkim_body *b = xmalloc(sizeof(*b));
	b->crlf = b->used = 0;
	b->wsp = b->cr = b->any = b->done = false;
	b->md = EVP_MD_CTX_new();
	if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
		panic("dkim_body: OpenSSL could not start a SHA-256 digest");
	return b;
}

/* Hash what waits in the output buffer. */
static void body_flush(struct dkim_body *b)
{
	if (b->used > 0 && EVP_DigestUpdate(b->md, b->out, b->used) != 1)
		panic("dkim_body: SHA-256 update failed");
	b->used = 0;
}

/* Write p[0..n) to the canonical body. */
static inline void body_put(struct dkim_body *b, const unsigned char *p, size_t n)
{
	if (n > BODY_OUT - b->used) {
		body_flush(b);
		if (n >= BODY_OUT) {
			/* A run as big as the buffer is hashed where it lies. */
			if (EVP_DigestUpdate(b->md, p, n) != 1)
				panic("dkim_body: SHA-256 update failed");
			return;
		}
	}
	memcpy(b->out + b->used, p, n);
	b->used += n;
}

/* Write the withheld line ends (any number: a body may hold millions of empty lines). */
static void body_put_crlfs(struct dkim_body *b)
{
	while (b->crlf > 0) {
		if (BODY_OUT - b->used < 2)
			body_flush(b);
		size_t n = (BODY_OUT - b->used) / 2;
		if (n > b->crlf)
			n = b->crlf;
		unsigned char *o = b->out + b->used;
		for (size_t i = 0; i < n; i++) {
			o[2 * i] = '\r';
			o[2 * i + 1] = '\n';
		}
		b->used += 2 * n;
		b->crlf -= n;
	}
}

/* Content follows: first the line ends and the one SP it was waiting behind. */
static inline void body_before_content(struct dkim_body *b)
{
	if (b->crlf > 0)
		body_put_crlfs(b);
	if (b->wsp) {
		body_put(b, (const unsigned char *)" ", 1);
		b->wsp = false;
	}
	b->any = true;
}

/* Each octet of v that is zero, as its high bit (exact: no carry crosses octets). */
static inline uint64_t body_zero(uint64_t v)
{
	const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
	return ~(((v & low7) + low7) | v | low7);
}

/* Each octet of v equal to c, as its high bit. */
static inline uint64_t body_eq(uint64_t v, unsigned char c)
{
	return body_zero(v ^ (0x0101010101010101ull * c));
}

/*
 * Whether any of the eight octets x stops a run: HTAB, CR, or an SP that
 * is followed (in y, the same octets one further) by SP, HTAB or CR.
 */
static inline bool body_stops(uint64_t x, uint64_t y)
{
	uint64_t next_special = body_eq(y, ' ') | body_eq(y, '\t') | body_eq(y, '\r');
	return (body_eq(x, '\t') | body_eq(x, '\r') | (body_eq(x, ' ') & next_special)) != 0;
}

/*
 * The end of the longest run at s[0..end) that comes out unchanged:
 * content octets, with single SPs between them. Eight octets are looked
 * at together while nine can be read, so the many SPs of text do not
 * break it.
 */
static inline const unsigned char *body_run(const unsigned char *s, const unsigned char *end)
{
	const unsigned char *q = s;
	/* An SP opening the run may continue a withheld run: the caller's. */
	if (q < end && *q == ' ')
		return q;
	while (end - q >= 9) {
		uint64_t x, y;
		memcpy(&x, q, 8);
		memcpy(&y, q + 1, 8);
		if (body_stops(x, y))
			break;
		q += 8;
	}
	for (;;) {
		while (q < end && !body_special[*q])
			q++;
		/* One SP between two content octets of the run stays as it is. */
		if (q + 1 < end && *q == ' ' && !body_special[q[1]]) {
			q += 2;
			continue;
		}
		return q;
	}
}

void dkim_body_feed(struct dkim_body *b, const void *data, size_t n)
{
	if (b->done)
		panic("dkim_body: fed after dkim_body_final");
	if (n == 0)
		return;
	const unsigned char *p = data, *end = p + n;
	if (b->cr) {
		/* The CR that ended the last piece: a line end, or an ordinary octet. */
		b->cr = false;
		if (*p == '\n') {
			b->wsp = false;
			b->crlf++;
			p++;
		} else {
			body_before_content(b);
			body_put(b, (const unsigned char *)"\r", 1);
		}
	}
	while (p < end) {
		const unsigned char *q = body_run(p, end);
		if (q > p) {
			body_before_content(b);
			body_put(b, p, (size_t)(q - p));
			p = q;
			if (p == end)
				break;
		}
		if (*p == ' ' || *p == '\t') {
			/* A WSP run: one SP if content follows on the line, nothing if the line ends. */
			b->wsp = true;
			for (p++; p < end && (*p == ' ' || *p == '\t'); p++)
				;
			continue;
		}
		/* A CR. */
		if (p + 1 == end) {
			b->cr = true;
			p++;
		} else if (p[1] == '\n') {
			b->wsp = false;
			b->crlf++;
			p += 2;
		} else {
			body_before_content(b);
			body_put(b, p, 1);
			p++;
		}
	}
}

void dkim_body_final(struct dkim_body *b, unsigned char bh[DKIM_BH_LEN])
{
	if (b->done)
		panic("dkim_body: dkim_body_final called twice");
	b->done = true;
	if (b->cr) {
		/* A CR as the very last octet ends no line: it is content. */
		b->cr = false;
		body_before_content(b);
		body_put(b, (const unsigned char *)"\r", 1);
	}
	/*
	 * The last content's line end (or the one a body without a final
	 * CRLF gets); the empty lines after it, and WSP at the end of an
	 * unterminated last line, are dropped.
	 */
	if (b->any)
		body_put(b, (const unsigned char *)"\r\n", 2);
	body_flush(b);
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(b->md, bh, &len) != 1 || len != DKIM_BH_LEN)
		panic("dkim_body: SHA-256 final failed");
}

void dkim_body_free(struct dkim_body *b)
{
	if (b == NULL)
		return;
	EVP_MD_CTX_free(b->md);
	free(b);
}
