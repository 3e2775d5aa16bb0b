/*
 * fuzz_control_reply: arbitrary bytes as the daemon's answer on the control
 * socket, read by the client (control_reply_read) for a verb chosen by the
 * first byte. A reply is taken or refused with a reason, never both; the
 * status text is NUL-terminated; body lines reach the callback without
 * their line end, and only for a reply that has a body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/control_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t lines;
};

static void body_line(void *arg, const char *line, size_t len)
{
	struct seen *s = arg;
	if (memchr(line, '\n', len) != NULL)
		abort();
	s->lines++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* What a socket pair holds without a reader: the writer must never block. */
	if (size < 1 || size > 32 * 1024)
		return 0;
	static const enum control_verb verbs[] = {
		CONTROL_LIST, CONTROL_FLUSH, CONTROL_RELOAD, CONTROL_STATUS_JSON,
	};
	enum control_verb verb = verbs[data[0] % 4];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(sv[1]);
	struct control_reply r;
	struct seen s = { 0 };
	const char *why = NULL;
	int rc = control_reply_read(sv[0], verb, 1000, body_line, &s, &r, &why);
	close(sv[0]);
	if (rc == 0) {
		if (strnlen(r.text, sizeof(r.text)) == sizeof(r.text))
			abort();
		/* Errors that say what failed in a body: a refused reload, partial work. */
		bool body = (r.status == CONTROL_OK && control_verb_has_body(verb)) ||
		    r.status == CONTROL_E_CONFIG || r.status == CONTROL_E_PARTIAL;
		if (!body && s.lines > 0)
			abort();
	} else if (why == NULL) {
		abort();
	}
	return 0;
}
