/*
 * reload_frame: the daemon/helper messages as bytes (see reload_frame.h).
 *
 * Owns: the record types and their order rules, the encoder's capped
 * buffer and the decoder's checks. Never: does I/O; never reads past the
 * octets it was given.
 */
#include "reload_frame.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"
#include "util/xalloc.h"

static const uint8_t reload_frame_magic[4] = { 'M', 'X', 'R', 'L' };

enum reload_rec {
	REC_REQUEST = 1,	/* empty: the first record of a request */
	REC_HAVE = 2,		/* a bound address: family (2), port (2), address (4 or 16) */
	REC_REFUSED = 3,	/* the error text: the only record of a refusal */
	REC_CONFIG_NAME = 4,	/* the first record of a configuration answer */
	REC_CONFIG_TEXT = 5,
	REC_FILE_PATH = 6,	/* followed by its REC_FILE_DATA */
	REC_FILE_DATA = 7,
	REC_LISTENER = 8,	/* 4 octets: the new listener's index, one per descriptor */
};

static void reload_frame_put(struct reload_frame_buf *b, const void *p, size_t n)
{
	if (b->over || n == 0)
		return;
	if (n > RELOAD_FRAME_HDR + RELOAD_FRAME_MAX - b->len) {
		b->over = true;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void reload_frame_u32(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)(v >> 24);
	o[1] = (uint8_t)(v >> 16);
	o[2] = (uint8_t)(v >> 8);
	o[3] = (uint8_t)v;
}

static uint32_t reload_frame_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void reload_frame_rec(struct reload_frame_buf *b, enum reload_rec type, const void *p,
    size_t n)
{
	uint8_t h[5];
	if (n > RELOAD_FRAME_MAX) {
		b->over = true;
		return;
	}
	h[0] = (uint8_t)type;
	reload_frame_u32(h + 1, (uint32_t)n);
	reload_frame_put(b, h, sizeof(h));
	reload_frame_put(b, p, n);
}

/* Start a frame: the header, its length filled in by reload_frame_end. */
static void reload_frame_begin(struct reload_frame_buf *b)
{
	b->len = 0;
	b->over = false;
	uint8_t h[RELOAD_FRAME_HDR] = { 0 };
	memcpy(h, reload_frame_magic, 4);
	reload_frame_put(b, h, sizeof(h));
}

static int reload_frame_end(struct reload_frame_buf *b)
{
	if (b->over)
		return -1;
	reload_frame_u32(b->p + 4, (uint32_t)(b->len - RELOAD_FRAME_HDR));
	return 0;
}

int reload_frame_encode_request(struct reload_frame_buf *b, const struct sockaddr_storage *have,
    size_t nhave)
{
	reload_frame_begin(b);
	reload_frame_rec(b, REC_REQUEST, NULL, 0);
	if (nhave > RELOAD_FRAME_MAX_LISTENERS)
		b->over = true;
	for (size_t i = 0; i < nhave && !b->over; i++) {
		uint8_t a[20];
		size_t n;
		if (have[i].ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)&have[i];
			a[0] = 0, a[1] = 4;
			memcpy(a + 2, &s4->sin_port, 2);
			memcpy(a + 4, &s4->sin_addr, 4);
			n = 8;
		} else if (have[i].ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const void *)&have[i];
			a[0] = 0, a[1] = 6;
			memcpy(a + 2, &s6->sin6_port, 2);
			memcpy(a + 4, &s6->sin6_addr, 16);
			n = 20;
		} else {
			continue;
		}
		reload_frame_rec(b, REC_HAVE, a, n);
	}
	return reload_frame_end(b);
}

int reload_frame_encode_refused(struct reload_frame_buf *b, const char *errors)
{
	reload_frame_begin(b);
	size_t n = strlen(errors);
	reload_frame_rec(b, REC_REFUSED, errors, n > RELOAD_FRAME_ERROR_MAX ? RELOAD_FRAME_ERROR_MAX : n);
	return reload_frame_end(b);
}

int reload_frame_encode_config(struct reload_frame_buf *b, const char *name, const char *text,
    size_t len, const struct file_set *files, const uint32_t *listener, size_t nlisteners)
{
	reload_frame_begin(b);
	reload_frame_rec(b, REC_CONFIG_NAME, name, strlen(name));
	reload_frame_rec(b, REC_CONFIG_TEXT, text, len);
	size_t nf = files != NULL ? file_set_count(files) : 0;
	for (size_t i = 0; i < nf; i++) {
		size_t dlen = 0;
		const char *path = file_set_path(files, i);
		const char *data = file_set_data(files, i, &dlen);
		if (strlen(path) > RELOAD_FRAME_PATH_MAX)
			b->over = true;
		reload_frame_rec(b, REC_FILE_PATH, path, strlen(path));
		reload_frame_rec(b, REC_FILE_DATA, data, dlen);
	}
	if (nlisteners > RELOAD_FRAME_MAX_LISTENERS)
		b->over = true;
	for (size_t i = 0; i < nlisteners && !b->over; i++) {
		uint8_t v[4];
		reload_frame_u32(v, listener[i]);
		reload_frame_rec(b, REC_LISTENER, v, sizeof(v));
	}
	return reload_frame_end(b);
}

void reload_frame_buf_free(struct reload_frame_buf *b)
{
	if (b->p != NULL) {
		/* It may have carried a key. */
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

int reload_frame_complete(const uint8_t *p, size_t len, size_t *total)
{
	size_t m = len < 4 ? len : 4;
	if (memcmp(p, reload_frame_magic, m) != 0)
		return -1;
	if (len < RELOAD_FRAME_HDR)
		return 0;
	uint32_t body = reload_frame_get_u32(p + 4);
	if (body > RELOAD_FRAME_MAX)
		return -1;
	*total = RELOAD_FRAME_HDR + (size_t)body;
	return len >= *total ? 1 : 0;
}

/* A copy of n octets with a NUL after them. */
static char *reload_frame_str(const uint8_t *p, size_t n)
{
	char *s = xmalloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Decode one REC_HAVE record into m. */
static int reload_frame_have(struct reload_msg *m, const uint8_t *v, size_t n)
{
	if (m->nhave >= RELOAD_FRAME_MAX_LISTENERS || n < 4 || v[0] != 0)
		return -1;
	struct sockaddr_storage *ss = &m->have[m->nhave];
	memset(ss, 0, sizeof(*ss));
	if (v[1] == 4 && n == 8) {
		struct sockaddr_in *s4 = (void *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_port, v + 2, 2);
		memcpy(&s4->sin_addr, v + 4, 4);
	} else if (v[1] == 6 && n == 20) {
		struct sockaddr_in6 *s6 = (void *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_port, v + 2, 2);
		memcpy(&s6->sin6_addr, v + 4, 16);
	} else {
		return -1;
	}
	m->nhave++;
	return 0;
}

/* Whether text[0..n) holds a NUL (names and paths are C strings). */
static bool reload_frame_has_nul(const uint8_t *p, size_t n)
{
	return memchr(p, '\0', n) != NULL;
}

int reload_frame_decode(const uint8_t *p, size_t len, struct reload_msg *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	size_t total = 0;
	if (reload_frame_complete(p, len, &total) != 1 || total != len) {
		snprintf(err, errlen, "frame header does not match its length");
		return -1;
	}
	size_t pos = RELOAD_FRAME_HDR, nrec = 0;
	const char *why = NULL;
	char *path = NULL;		/* a REC_FILE_PATH waiting for its data */
	while (pos < len && why == NULL) {
		if (len - pos < 5) {
			why = "truncated record header";
			break;
		}
		enum reload_rec type = p[pos];
		uint32_t n = reload_frame_get_u32(p + pos + 1);
		pos += 5;
		if (n > len - pos) {
			why = "record longer than the frame";
			break;
		}
		const uint8_t *v = p + pos;
		pos += n;
		if (nrec++ == 0) {
			/* The first record says what the message is. */
			if (type == REC_REQUEST && n == 0) {
				m->kind = RELOAD_MSG_REQUEST;
			} else if (type == REC_REFUSED && n <= RELOAD_FRAME_ERROR_MAX &&
			    !reload_frame_has_nul(v, n)) {
				m->kind = RELOAD_MSG_REFUSED;
				m->errors = reload_frame_str(v, n);
			} else if (type == REC_CONFIG_NAME && n > 0 && n <= RELOAD_FRAME_PATH_MAX &&
			    !reload_frame_has_nul(v, n)) {
				m->kind = RELOAD_MSG_CONFIG;
				m->config_name = reload_frame_str(v, n);
				m->files = file_set_new(false);
			} else {
				why = "unknown first record";
			}
			continue;
		}
		switch (m->kind) {
		case RELOAD_MSG_REQUEST:
			if (type != REC_HAVE || reload_frame_have(m, v, n) != 0)
				why = "bad record in a request";
			break;
		case RELOAD_MSG_REFUSED:
			why = "record after the errors";
			break;
		case RELOAD_MSG_CONFIG:
			if (type == REC_CONFIG_TEXT && m->config_text == NULL && path == NULL &&
			    m->nlisteners == 0) {
				m->config_text = reload_frame_str(v, n);
				m->config_len = n;
			} else if (type == REC_FILE_PATH && m->config_text != NULL && path == NULL &&
			    m->nlisteners == 0 && n > 0 && n <= RELOAD_FRAME_PATH_MAX &&
			    !reload_frame_has_nul(v, n)) {
				path = reload_frame_str(v, n);
			} else if (type == REC_FILE_DATA && path != NULL) {
				if (file_set_add(m->files, path, (const char *)v, n) != 0)
					why = "too many files";
				free(path);
				path = NULL;
			} else if (type == REC_LISTENER && n == 4 && m->config_text != NULL &&
			    path == NULL && m->nlisteners < RELOAD_FRAME_MAX_LISTENERS) {
				m->listener[m->nlisteners++] = reload_frame_get_u32(v);
			} else {
				why = "bad record in a configuration answer";
			}
			break;
		}
	}
	if (why == NULL && nrec == 0)
		why = "empty frame";
	if (why == NULL && path != NULL)
		why = "file path without its data";
	if (why == NULL && m->kind == RELOAD_MSG_CONFIG && m->config_text == NULL)
		why = "configuration answer without the text";
	free(path);
	if (why != NULL) {
		snprintf(err, errlen, "%s", why);
		reload_msg_clear(m);
		return -1;
	}
	return 0;
}

void reload_msg_clear(struct reload_msg *m)
{
	free(m->errors);
	free(m->config_name);
	if (m->config_text != NULL) {
		explicit_bzero(m->config_text, m->config_len);
		free(m->config_text);
	}
	file_set_free(m->files);
	memset(m, 0, sizeof(*m));
}
