/*
 * mxr_dkimsign: a test-only program that signs one message with lib/dkim,
 * the way the daemon will: the header section kept whole, the body
 * streamed through dkim_body in pieces of changing sizes (1 octet up to
 * 64 KiB, so pieces split CRLFs and whitespace runs), spooled to a
 * temporary file, then the DKIM-Signature field, the header and the body
 * written out.
 *
 *   mxr_dkimsign [-t TIME] KEYFILE DOMAIN SELECTOR < message > signed
 *
 * The message is taken as it is (CRLF line ends expected, never changed).
 * -t sets t= (default: now). Exit 0 signed, 1 the key or the message was
 * refused (said on stderr), 2 bad usage, 3 an I/O error.
 * Never: built outside test builds; prints the key.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "dkim/dkim_body.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_sign.h"
#include "util/file.h"
#include "util/xalloc.h"

#define SIGN_PIECE_MAX (64 * 1024)

/* The piece sizes read in turn: odd ones, so that pieces end anywhere. */
static const size_t sign_pieces[] = { 1, 2, 3, 4093, 65536, 7, 1000, 13, 32768, 5 };

/*
 * Read the header section from stdin, up to and without its empty line;
 * NULL when too big. *body: whether the empty line came (a body follows).
 */
static char *sign_read_header(size_t *lenp, bool *body)
{
	size_t cap = 4096, len = 0;
	char *h = xmalloc(cap);
	int c;
	while ((c = getchar()) != EOF) {
		if (len == cap) {
			if (cap >= DKIM_SIGN_HEADER_MAX) {
				free(h);
				return NULL;
			}
			cap *= 2;
			h = xrealloc(h, cap);
		}
		h[len++] = (char)c;
		/* The empty line: the header's last CRLF stays, the empty line's goes. */
		if (len == 2 && memcmp(h, "\r\n", 2) == 0) {
			len = 0;
			break;
		}
		if (len >= 4 && memcmp(h + len - 4, "\r\n\r\n", 4) == 0) {
			len -= 2;
			break;
		}
	}
	*body = c != EOF;
	*lenp = len;
	return h;
}

/* Stream the body from stdin into b and spool; false on an I/O error. */
static bool sign_body(struct dkim_body *b, FILE *spool)
{
	char *buf = xmalloc(SIGN_PIECE_MAX);
	size_t turn = 0, n;
	bool ok = true;
	do {
		size_t want = sign_pieces[turn++ % (sizeof(sign_pieces) / sizeof(sign_pieces[0]))];
		n = fread(buf, 1, want, stdin);
		dkim_body_feed(b, buf, n);
		if (n > 0 && fwrite(buf, 1, n, spool) != n)
			ok = false;
	} while (n > 0 && ok);
	if (ferror(stdin))
		ok = false;
	free(buf);
	return ok;
}

/* The key in path, or NULL after saying why. */
static struct dkim_key *sign_key(const char *path)
{
	char err[256];
	size_t len;
	char *pem = file_read_all(path, DKIM_KEY_PEM_MAX, &len, err, sizeof(err));
	if (pem == NULL) {
		fprintf(stderr, "mxr_dkimsign: %s\n", err);
		return NULL;
	}
	struct dkim_key *k = dkim_key_parse(pem, len, err, sizeof(err));
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (k == NULL)
		fprintf(stderr, "mxr_dkimsign: %s: %s\n", path, err);
	return k;
}

int main(int argc, char **argv)
{
	int64_t now = (int64_t)time(NULL);
	int a = 1;
	if (a + 1 < argc && strcmp(argv[a], "-t") == 0) {
		now = strtoll(argv[a + 1], NULL, 10);
		a += 2;
	}
	if (argc - a != 3) {
		fprintf(stderr, "usage: mxr_dkimsign [-t TIME] KEYFILE DOMAIN SELECTOR < message\n");
		return 2;
	}
	struct dkim_key *key = sign_key(argv[a]);
	if (key == NULL)
		return 1;
	size_t hlen;
	bool more;
	char *header = sign_read_header(&hlen, &more);
	if (header == NULL) {
		fprintf(stderr, "mxr_dkimsign: a header section over %u octets\n", DKIM_SIGN_HEADER_MAX);
		dkim_key_free(key);
		return 1;
	}
	FILE *spool = tmpfile();
	struct dkim_body *b = dkim_body_new();
	if (spool == NULL || (more && !sign_body(b, spool))) {
		fprintf(stderr, "mxr_dkimsign: reading the body: %s\n", strerror(errno));
		dkim_body_free(b);
		dkim_key_free(key);
		free(header);
		return 3;
	}
	unsigned char bh[DKIM_BH_LEN];
	dkim_body_final(b, bh);
	dkim_body_free(b);
	struct dkim_sign_in in = { .key = key, .domain = argv[a + 1], .selector = argv[a + 2],
		.bh = bh, .header = header, .header_len = hlen, .now = now };
	char err[256];
	size_t flen;
	char *field = dkim_sign_field(&in, &flen, err, sizeof(err));
	dkim_key_free(key);
	if (field == NULL) {
		fprintf(stderr, "mxr_dkimsign: %s\n", err);
		free(header);
		fclose(spool);
		return 1;
	}
	fwrite(field, 1, flen, stdout);
	fwrite(header, 1, hlen, stdout);
	if (more)
		fwrite("\r\n", 1, 2, stdout);
	rewind(spool);
	char buf[SIGN_PIECE_MAX];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), spool)) > 0)
		fwrite(buf, 1, n, stdout);
	free(field);
	free(header);
	fclose(spool);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 3;
}
