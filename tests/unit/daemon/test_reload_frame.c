/*
 * test_reload_frame: the daemon/helper frames. Every message kind
 * encoded and decoded back (table-driven over requests, refusals and
 * configuration answers), then malformed frames, one row each, refused
 * with the reason they give.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "reload_frame.h"
#include "util/file.h"

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s = (void *)&ss;
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *s = (void *)&ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
	return ss;
}

static void test_request_round_trip(void **state)
{
	(void)state;
	struct sockaddr_storage have[3] = { v4("127.0.0.1", 25), v6("::1", 587), v4("10.0.0.1", 465) };
	for (size_t n = 0; n <= 3; n++) {
		struct reload_frame_buf b = { 0 };
		assert_int_equal(reload_frame_encode_request(&b, have, n), 0);
		struct reload_msg m;
		char err[128];
		if (reload_frame_decode(b.p, b.len, &m, err, sizeof(err)) != 0)
			fail_msg("n=%zu: got refusal '%s', want a request", n, err);
		assert_int_equal(m.kind, RELOAD_MSG_REQUEST);
		if (m.nhave != n)
			fail_msg("got %zu addresses, want %zu", m.nhave, n);
		for (size_t i = 0; i < n; i++)
			assert_memory_equal(&m.have[i], &have[i], sizeof(have[i]));
		reload_msg_clear(&m);
		reload_frame_buf_free(&b);
	}
}

static void test_refused_round_trip(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"/etc/mxrelay.conf:3: unknown key 'bogus'",
		"a:1: one\nb:2: two",
		"",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct reload_frame_buf b = { 0 };
		assert_int_equal(reload_frame_encode_refused(&b, texts[i]), 0);
		struct reload_msg m;
		char err[128];
		if (reload_frame_decode(b.p, b.len, &m, err, sizeof(err)) != 0)
			fail_msg("'%s': got refusal '%s'", texts[i], err);
		assert_int_equal(m.kind, RELOAD_MSG_REFUSED);
		if (strcmp(m.errors, texts[i]) != 0)
			fail_msg("got '%s', want '%s'", m.errors, texts[i]);
		reload_msg_clear(&m);
		reload_frame_buf_free(&b);
	}
}

static void test_config_round_trip(void **state)
{
	(void)state;
	struct file_set *fs = file_set_new(false);
	assert_int_equal(file_set_add(fs, "/k.pem", "KEY\0BYTES", 9), 0);
	assert_int_equal(file_set_add(fs, "/users", "", 0), 0);
	const char text[] = "listen = 127.0.0.1:25 relay\n";
	uint32_t idx[2] = { 1, 3 };
	struct reload_frame_buf b = { 0 };
	assert_int_equal(reload_frame_encode_config(&b, "/etc/x.conf", text, sizeof(text) - 1, fs,
	    idx, 2), 0);
	struct reload_msg m;
	char err[128];
	if (reload_frame_decode(b.p, b.len, &m, err, sizeof(err)) != 0)
		fail_msg("got refusal '%s'", err);
	assert_int_equal(m.kind, RELOAD_MSG_CONFIG);
	assert_string_equal(m.config_name, "/etc/x.conf");
	assert_int_equal(m.config_len, sizeof(text) - 1);
	assert_memory_equal(m.config_text, text, sizeof(text) - 1);
	assert_int_equal(file_set_count(m.files), 2);
	size_t len = 0;
	char ferr[128];
	const char *k = file_set_get(m.files, "/k.pem", 100, &len, ferr, sizeof(ferr));
	assert_non_null(k);
	assert_int_equal(len, 9);
	assert_memory_equal(k, "KEY\0BYTES", 9);
	assert_non_null(file_set_get(m.files, "/users", 100, &len, ferr, sizeof(ferr)));
	assert_int_equal(len, 0);
	assert_null(file_set_get(m.files, "/other", 100, &len, ferr, sizeof(ferr)));
	assert_int_equal(m.nlisteners, 2);
	assert_int_equal(m.listener[0], 1);
	assert_int_equal(m.listener[1], 3);
	reload_msg_clear(&m);
	reload_frame_buf_free(&b);
	file_set_free(fs);
}

/* A frame from a body: header with the body's length, then the body. */
static size_t frame(uint8_t *out, const char *magic, const uint8_t *body, size_t n)
{
	memcpy(out, magic, 4);
	out[4] = (uint8_t)(n >> 24), out[5] = (uint8_t)(n >> 16);
	out[6] = (uint8_t)(n >> 8), out[7] = (uint8_t)n;
	memcpy(out + 8, body, n);
	return n + 8;
}

struct bad_case {
	const char *name;
	const char *magic;
	size_t n;
	uint8_t body[40];
	const char *why;
};

static const struct bad_case bad_cases[] = {
	{ "empty body", "MXRL", 0, { 0 }, "empty frame" },
	{ "wrong magic", "MXRX", 5, { 1, 0, 0, 0, 0 }, "frame header does not match its length" },
	{ "unknown first record", "MXRL", 5, { 9, 0, 0, 0, 0 }, "unknown first record" },
	{ "request with a payload", "MXRL", 6, { 1, 0, 0, 0, 1, 'x' }, "unknown first record" },
	{ "truncated record header", "MXRL", 7, { 1, 0, 0, 0, 0, 2, 0 }, "truncated record header" },
	{ "record past the end", "MXRL", 10, { 1, 0, 0, 0, 0, 2, 0, 0, 0, 8 },
	  "record longer than the frame" },
	{ "address of a bad family", "MXRL", 18, { 1, 0, 0, 0, 0, 2, 0, 0, 0, 8, 0, 5, 0, 25, 1, 2, 3, 4 },
	  "bad record in a request" },
	{ "IPv4 address of the wrong size", "MXRL", 17, { 1, 0, 0, 0, 0, 2, 0, 0, 0, 7, 0, 4, 0, 25, 1, 2, 3 },
	  "bad record in a request" },
	{ "record after the errors", "MXRL", 12, { 3, 0, 0, 0, 2, 'n', 'o', 3, 0, 0, 0, 0 },
	  "record after the errors" },
	{ "NUL in the errors", "MXRL", 7, { 3, 0, 0, 0, 2, 'a', 0 }, "unknown first record" },
	{ "answer without the text", "MXRL", 6, { 4, 0, 0, 0, 1, 'f' },
	  "configuration answer without the text" },
	{ "file path without data", "MXRL", 18, { 4, 0, 0, 0, 1, 'f', 5, 0, 0, 0, 0, 6, 0, 0, 0, 2, '/', 'k' },
	  "file path without its data" },
	{ "data without a path", "MXRL", 16, { 4, 0, 0, 0, 1, 'f', 5, 0, 0, 0, 0, 7, 0, 0, 0, 0 },
	  "bad record in a configuration answer" },
	{ "listener index of 3 octets", "MXRL", 19, { 4, 0, 0, 0, 1, 'f', 5, 0, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 1 },
	  "bad record in a configuration answer" },
	{ "text twice", "MXRL", 16, { 4, 0, 0, 0, 1, 'f', 5, 0, 0, 0, 0, 5, 0, 0, 0, 0 },
	  "bad record in a configuration answer" },
};

static void test_malformed_frames_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		uint8_t buf[64];
		size_t len = frame(buf, c->magic, c->body, c->n);
		struct reload_msg m;
		char err[128] = "";
		if (reload_frame_decode(buf, len, &m, err, sizeof(err)) == 0)
			fail_msg("%s: decoded, want refusal '%s'", c->name, c->why);
		if (strcmp(err, c->why) != 0)
			fail_msg("%s: got '%s', want '%s'", c->name, err, c->why);
	}
}

static void test_frame_complete(void **state)
{
	(void)state;
	size_t total = 0;
	uint8_t h[8] = { 'M', 'X', 'R', 'L', 0, 0, 0, 5 };
	assert_int_equal(reload_frame_complete(h, 2, &total), 0);
	assert_int_equal(reload_frame_complete(h, 8, &total), 0);
	assert_int_equal(total, 13);
	uint8_t x[8] = { 'M', 'X', 'Q', 'L', 0, 0, 0, 0 };
	assert_int_equal(reload_frame_complete(x, 3, &total), -1);
	uint8_t big[8] = { 'M', 'X', 'R', 'L', 0xff, 0xff, 0xff, 0xff };
	assert_int_equal(reload_frame_complete(big, 8, &total), -1);
	/* A frame cut short decodes to nothing. */
	struct reload_frame_buf b = { 0 };
	assert_int_equal(reload_frame_encode_refused(&b, "x:1: y"), 0);
	struct reload_msg m;
	char err[128];
	for (size_t cut = 0; cut < b.len; cut++)
		assert_int_equal(reload_frame_decode(b.p, cut, &m, err, sizeof(err)), -1);
	reload_frame_buf_free(&b);
}

static void test_too_many_listeners_refused(void **state)
{
	(void)state;
	struct sockaddr_storage have[RELOAD_FRAME_MAX_LISTENERS + 1];
	for (size_t i = 0; i <= RELOAD_FRAME_MAX_LISTENERS; i++)
		have[i] = v4("127.0.0.1", (uint16_t)(1000 + i));
	struct reload_frame_buf b = { 0 };
	assert_int_equal(reload_frame_encode_request(&b, have, RELOAD_FRAME_MAX_LISTENERS + 1), -1);
	assert_int_equal(reload_frame_encode_request(&b, have, RELOAD_FRAME_MAX_LISTENERS), 0);
	reload_frame_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_refused_round_trip),
		cmocka_unit_test(test_config_round_trip),
		cmocka_unit_test(test_malformed_frames_refused),
		cmocka_unit_test(test_frame_complete),
		cmocka_unit_test(test_too_many_listeners_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
