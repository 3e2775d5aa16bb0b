/*
 * tlsrpt_out: the bounded text writer the report and mail writers share
 * (private to lib/tlsrpt).
 *
 * Owns: appending to a caller's fixed buffer with snprintf's contract: the
 * length counts every octet asked for, octets are stored only while they
 * fit with room for the NUL, so one call with cap 0 measures the text.
 * Never: allocates or writes past cap.
 */
#ifndef MXR_TLSRPT_OUT_H
#define MXR_TLSRPT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tlsrpt_out {
	char *buf;	/* the caller's; may be NULL when cap is 0 */
	size_t cap;
	size_t len;	/* octets asked for so far, stored or not */
	bool cut;	/* some octets did not fit: the text is incomplete */
};

void tlsrpt_out_init(struct tlsrpt_out *o, char *buf, size_t cap);
void tlsrpt_out_mem(struct tlsrpt_out *o, const void *p, size_t n);
void tlsrpt_out_str(struct tlsrpt_out *o, const char *s);
void tlsrpt_out_char(struct tlsrpt_out *o, char c);
void tlsrpt_out_u64(struct tlsrpt_out *o, uint64_t v);
/*
 * End the text: NUL-terminate it and return true when all of it fitted;
 * otherwise the buffer gets "" (when cap > 0) and false. o->len is the
 * text's full length either way.
 */
bool tlsrpt_out_finish(struct tlsrpt_out *o);

#endif
