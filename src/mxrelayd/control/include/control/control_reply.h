/*
 * control_reply: the client's side of the control line protocol: one reply
 * read from a control or mailq socket, the status line and, when one
 * follows, the body with its dot-stuffing undone.
 *
 * Owns: the rule of when a body follows (an "ok" reply to a verb that has
 * one, and a refused reload, which lists its errors), the cap on a line,
 * the deadline of each read, and telling a reply cut short from a whole one.
 * Never: prints, or decides what an error means to the command.
 */
#ifndef MXR_CONTROL_REPLY_H
#define MXR_CONTROL_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "control/control.h"

/* The longest reply line taken (a JSON message listing is one line). */
#define CONTROL_REPLY_LINE_MAX (16u * 1024u * 1024u)

struct control_reply {
	enum control_status status;	/* CONTROL_OK or the error's kind */
	char text[1024];		/* the status line after "ok " or "error KIND " */
};

/* One body line, its leading stuffed dot removed, without the LF. */
typedef void control_body_fn(void *arg, const char *line, size_t len);

/*
 * Read the reply to a request of verb from fd, each read waiting at most
 * timeout_ms (0: no limit); body lines go to fn. 0 with *r filled, or -1
 * with why: the connection closed or failed, no reply in time, a line too
 * long, a status line that is not "ok TEXT" or "error KIND TEXT" with a
 * known kind, or a body without its final dot.
 */
int control_reply_read(int fd, enum control_verb verb, unsigned timeout_ms, control_body_fn *fn,
    void *arg, struct control_reply *r, const char **why);

/*
 * The same, gathering the body whole: *body gets its lines, each ended by
 * "\n", NUL-terminated and malloc'ed ("" when there is none; the caller
 * frees it, also on -1), *blen its length.
 */
int control_reply_read_all(int fd, enum control_verb verb, unsigned timeout_ms,
    struct control_reply *r, char **body, size_t *blen, const char **why);

#endif
