/*
 * control_reply: one reply of the line protocol as a client reads it (see
 * control_reply.h).
 */
#include "control/control_reply.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "util/log.h"
#include "util/xalloc.h"

/* The next line of fd into *line (malloc'ed, without the LF). 0, or -1 with why. */
static int control_reply_line(int fd, struct evbuffer *in, unsigned timeout_ms, char **line,
    size_t *len, const char **why)
{
	for (;;) {
		*line = evbuffer_readln(in, len, EVBUFFER_EOL_LF);
		if (*line != NULL)
			return 0;
		if (evbuffer_get_length(in) > CONTROL_REPLY_LINE_MAX) {
			*why = "a reply line is too long";
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc = poll(&p, 1, timeout_ms > 0 ? (int)timeout_ms : -1);
		if (rc == 0) {
			*why = "no reply in time";
			return -1;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		int n = rc < 0 ? -1 : evbuffer_read(in, fd, 65536);
		if (n <= 0) {
			*why = n == 0 ? "the daemon closed the connection" : strerror(errno);
			return -1;
		}
	}
}

/* The status line into r; false when it is neither "ok TEXT" nor "error KIND TEXT". */
static bool control_reply_status(const char *line, size_t len, struct control_reply *r)
{
	if (len >= 3 && memcmp(line, "ok ", 3) == 0) {
		r->status = CONTROL_OK;
		snprintf(r->text, sizeof(r->text), "%s", line + 3);
		return true;
	}
	if (len < 6 || memcmp(line, "error ", 6) != 0)
		return false;
	const char *kind = line + 6, *sp = strchr(kind, ' ');
	size_t klen = sp != NULL ? (size_t)(sp - kind) : strlen(kind);
	for (int st = CONTROL_E_USAGE; st <= CONTROL_E_PARTIAL; st++) {
		const char *name = control_status_name((enum control_status)st);
		if (strlen(name) == klen && memcmp(name, kind, klen) == 0) {
			r->status = (enum control_status)st;
			snprintf(r->text, sizeof(r->text), "%s", sp != NULL ? sp + 1 : "");
			return true;
		}
	}
	return false;
}

int control_reply_read(int fd, enum control_verb verb, unsigned timeout_ms, control_body_fn *fn,
    void *arg, struct control_reply *r, const char **why)
{
	struct evbuffer *in = evbuffer_new();
	if (in == NULL)
		panic("control_reply: out of memory");
	char *line = NULL;
	size_t len = 0;
	int rc = -1;
	if (control_reply_line(fd, in, timeout_ms, &line, &len, why) != 0)
		goto out;
	if (!control_reply_status(line, len, r)) {
		*why = "a reply that is neither ok nor a known error";
		goto out;
	}
	bool body = (r->status == CONTROL_OK && control_verb_has_body(verb)) ||
	    r->status == CONTROL_E_CONFIG || r->status == CONTROL_E_PARTIAL;
	while (body) {
		free(line);
		line = NULL;
		if (control_reply_line(fd, in, timeout_ms, &line, &len, why) != 0)
			goto out;	/* the body without its final dot */
		if (len == 1 && line[0] == '.')
			break;
		size_t skip = line[0] == '.' ? 1 : 0;
		fn(arg, line + skip, len - skip);
	}
	rc = 0;
out:
	free(line);
	evbuffer_free(in);
	return rc;
}

/* A body line, into the growing text. */
static void control_reply_gather(void *arg, const char *line, size_t len)
{
	evbuffer_add(arg, line, len);
	evbuffer_add(arg, "\n", 1);
}

int control_reply_read_all(int fd, enum control_verb verb, unsigned timeout_ms,
    struct control_reply *r, char **body, size_t *blen, const char **why)
{
	struct evbuffer *b = evbuffer_new();
	if (b == NULL)
		panic("control_reply: out of memory");
	int rc = control_reply_read(fd, verb, timeout_ms, control_reply_gather, b, r, why);
	*blen = evbuffer_get_length(b);
	*body = xmalloc(*blen + 1);
	evbuffer_remove(b, *body, *blen);
	(*body)[*blen] = '\0';
	evbuffer_free(b);
	return rc;
}
