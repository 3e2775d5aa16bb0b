/*
 * send_progress: the live lines "mxrelay send" draws on a terminal while a
 * delivery runs: one per domain in flight, its stage, the octets of the
 * message sent during DATA and the seconds spent in the stage, redrawn in
 * place at most four times a second and erased before the final table.
 *
 * Owns: the per-domain state learnt from the engine's events, the redraw
 * timer on the caller's loop, and every control sequence written to the
 * terminal (standard error).
 * Never: writes to standard output, or anything at all when standard
 * error is not a terminal (the caller asks term_progress_wanted first).
 */
#ifndef MXR_SEND_PROGRESS_H
#define MXR_SEND_PROGRESS_H

#include <stdbool.h>

#include "mxrelay/mxrelay.h"

struct send_progress;

/*
 * Start drawing for msg's recipients on base. shared: standard output is
 * the same terminal, so the caller clears the lines before each line it
 * prints there (send_progress_clear).
 */
struct send_progress *send_progress_new(struct event_base *base, const struct mxr_message *msg,
    bool shared);
/* Learn from one engine event (any kind); drawn at the next tick. */
void send_progress_event(struct send_progress *p, const struct mxr_event *e);
/* Erase the lines now (before output to the same terminal); the next tick redraws. NULL is fine. */
void send_progress_clear(struct send_progress *p);
/* Whether standard output shares the terminal of the lines. */
bool send_progress_shared(const struct send_progress *p);
/* Erase the lines, stop the timer and free. NULL is fine. */
void send_progress_free(struct send_progress *p);

#endif
