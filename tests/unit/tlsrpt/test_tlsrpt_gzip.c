/*
 * test_tlsrpt_gzip: gzip of a report, checked by inflating it back with
 * zlib (gzip framing only), for inputs of several sizes and kinds; the
 * cap refused exactly at the output's length; the bound always enough.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "tlsrpt/tlsrpt_gzip.h"

/* Inflate a gzip member gz[0..n) (gzip framing required: windowBits 15 + 16) into out. */
static size_t gunzip(const unsigned char *gz, size_t n, unsigned char *out, size_t cap)
{
	z_stream z = { 0 };
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)gz;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int rc = inflate(&z, Z_FINISH);
	size_t got = z.total_out;
	if (rc != Z_STREAM_END || z.avail_in != 0)
		fail_msg("inflate: got %d with %u octets left, want Z_STREAM_END and 0", rc, z.avail_in);
	inflateEnd(&z);
	return got;
}

/* Fill buf with n octets of a kind: 0 text-like, 1 pseudo-random, 2 one octet repeated. */
static void fill(unsigned char *buf, size_t n, int kind)
{
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		if (kind == 0)
			buf[i] = (unsigned char)"{\"policy-type\":\"sts\",\"mx\": [a, b]} "[i % 35];
		else if (kind == 1)
			buf[i] = (unsigned char)(x >> 16);
		else
			buf[i] = 'a';
	}
}

static void test_gzip_round_trip(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 2, 100, 4096, 65536, 1000003 };
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int kind = 0; kind < 3; kind++) {
			size_t n = sizes[s];
			unsigned char *in = malloc(n + 1), *back = malloc(n + 1);
			size_t cap = tlsrpt_gzip_bound(n);
			unsigned char *gz = malloc(cap);
			assert_non_null(in);
			assert_non_null(back);
			assert_non_null(gz);
			fill(in, n, kind);
			size_t gzlen = 99;
			enum tlsrpt_gzip_status st = tlsrpt_gzip(in, n, gz, cap, &gzlen);
			if (st != TLSRPT_GZIP_OK)
				fail_msg("size %zu kind %d: got %s, want ok", n, kind, tlsrpt_gzip_status_name(st));
			/* The gzip magic, deflate, no file name; the time is 0. */
			if (gzlen < 18 || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 || gz[3] != 0 ||
			    gz[4] != 0 || gz[5] != 0 || gz[6] != 0 || gz[7] != 0)
				fail_msg("size %zu kind %d: no plain gzip header", n, kind);
			size_t got = gunzip(gz, gzlen, back, n + 1);
			if (got != n || memcmp(in, back, n) != 0)
				fail_msg("size %zu kind %d: inflated %zu octets, want the %zu given", n, kind,
				    got, n);
			/* One octet less than the output is refused; the same input gives the same octets. */
			size_t again = 0;
			unsigned char *gz2 = malloc(cap);
			assert_non_null(gz2);
			assert_int_equal(tlsrpt_gzip(in, n, gz2, gzlen - 1, &again), TLSRPT_GZIP_TOO_BIG);
			assert_int_equal(again, 0);
			assert_int_equal(tlsrpt_gzip(in, n, gz2, gzlen, &again), TLSRPT_GZIP_OK);
			assert_int_equal(again, gzlen);
			assert_memory_equal(gz, gz2, gzlen);
			free(in);
			free(back);
			free(gz);
			free(gz2);
		}
	}
}

static void test_gzip_small_caps(void **state)
{
	(void)state;
	unsigned char gz[64];
	size_t len = 5;
	assert_int_equal(tlsrpt_gzip("x", 1, gz, 0, &len), TLSRPT_GZIP_TOO_BIG);
	assert_int_equal(len, 0);
	assert_int_equal(tlsrpt_gzip("x", 1, gz, 10, &len), TLSRPT_GZIP_TOO_BIG);
	assert_int_equal(tlsrpt_gzip("x", 1, gz, sizeof(gz), &len), TLSRPT_GZIP_OK);
	assert_string_equal(tlsrpt_gzip_status_name(TLSRPT_GZIP_TOO_BIG), "too big");
	assert_string_equal(tlsrpt_gzip_status_name(TLSRPT_GZIP_ERROR), "error");
	assert_string_equal(tlsrpt_gzip_status_name((enum tlsrpt_gzip_status)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip_round_trip),
		cmocka_unit_test(test_gzip_small_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
