/*
 * send_progress: live per-domain lines of "mxrelay send" on a terminal
 * (see send_progress.h).
 *
 * Owns: a table of the domains seen in events (stage, when it began, the
 * octets sent of the total, recipients seen and decided), the frame drawn
 * last (how many lines, to move back over them, and its text, so that a
 * tick that would draw the same draws nothing) and the redraw timer.
 * A domain whose recipients all have a final status leaves the lines; the
 * final table shows its outcome. Lines are cut to the terminal's width so
 * that none wraps (a wrapped line would throw the cursor movement off).
 * Never: writes to standard output.
 */
#include "send_progress.h"
#include "term.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "util/xalloc.h"

/* Redraws per second at most. */
#define SP_TICK_MS 250
/* Domain lines at most, whatever the terminal's height. */
#define SP_MAX_LINES 12
#define SP_LINE_MAX 256
#define SP_FRAME_MAX ((SP_MAX_LINES + 1) * (SP_LINE_MAX + 1) + 1)

struct sp_domain {
	char name[256];
	enum mxr_stage stage;
	double since;		/* monotonic seconds when stage began */
	uint64_t sent, total;	/* DATA: octets sent of the message */
	size_t seen, decided;	/* recipients */
};

struct send_progress {
	struct event *tick;	/* owned */
	const struct mxr_rcpt *rcpts;	/* borrowed from the message */
	size_t nrcpts;
	unsigned char *rstate;	/* owned: per recipient 0 unseen, 1 seen, 2 decided */
	struct sp_domain *doms;	/* owned */
	size_t ndoms, capdoms;
	unsigned drawn;		/* lines on the screen now */
	char shown[SP_FRAME_MAX];	/* the text of those lines, to skip a frame that says the same */
	bool shared;
};

/* Monotonic seconds. */
static double sp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write all of buf to standard error (a terminal: short writes are rare but possible). */
static void sp_write(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

/* The terminal's width and height, with sane defaults. */
static void sp_size(unsigned *cols, unsigned *rows)
{
	struct winsize ws;
	*cols = 80;
	*rows = 24;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0) {
		if (ws.ws_col > 0)
			*cols = ws.ws_col;
		if (ws.ws_row > 0)
			*rows = ws.ws_row;
	}
}

/* Append the control sequence that moves back over the lines drawn and erases them. */
static size_t sp_erase_seq(const struct send_progress *p, char *buf, size_t cap)
{
	if (p->drawn == 0)
		return 0;
	int n;
	if (p->drawn > 1)
		n = snprintf(buf, cap, "\r\033[%uA\033[J", p->drawn - 1);
	else
		n = snprintf(buf, cap, "\r\033[J");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* One domain's line, cut to width octets (never inside a UTF-8 sequence). */
static size_t sp_line(const struct sp_domain *d, double now, unsigned width, char *out, size_t cap)
{
	char what[128] = "";
	if (d->stage == MXR_STAGE_DATA && d->total > 0) {
		char a[32], b[32];
		snprintf(what, sizeof(what), "  %s of %s bytes (%u%%)", term_group_digits(a, sizeof(a), d->sent),
		    term_group_digits(b, sizeof(b), d->total), (unsigned)(d->sent * 100 / d->total));
	}
	long secs = (long)(now - d->since);
	int n = snprintf(out, cap, "%s  %s%s  %lds", d->name, mxr_stage_name(d->stage), what,
	    secs < 0 ? 0 : secs);
	size_t len = n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
	if (width > 0 && len > width) {
		len = width;
		while (len > 0 && ((unsigned char)out[len] & 0xc0) == 0x80)
			len--;
	}
	out[len] = '\0';
	return len;
}

/* The text of the frame: one line per domain still going, the last counting those left out. */
static unsigned sp_frame(const struct send_progress *p, char *frame, size_t *lenp)
{
	unsigned cols, rows;
	sp_size(&cols, &rows);
	unsigned max = rows > 2 ? rows - 2 : 1;
	if (max > SP_MAX_LINES)
		max = SP_MAX_LINES;
	unsigned width = cols > 1 ? cols - 1 : 1;
	double now = sp_now();
	unsigned lines = 0;
	size_t going = 0, len = 0;
	for (size_t k = 0; k < p->ndoms; k++) {
		const struct sp_domain *d = &p->doms[k];
		if (d->seen > 0 && d->decided == d->seen)
			continue;
		going++;
		if (lines >= max)
			continue;
		if (lines > 0)
			frame[len++] = '\n';
		len += sp_line(d, now, width < SP_LINE_MAX ? width : SP_LINE_MAX, frame + len,
		    SP_LINE_MAX + 1);
		lines++;
	}
	if (going > lines && lines > 0) {
		int n = snprintf(frame + len, SP_LINE_MAX, "\n... and %zu more domain%s", going - lines,
		    going - lines == 1 ? "" : "s");
		len += n > 0 && n < SP_LINE_MAX ? (size_t)n : 0;
		lines++;
	}
	frame[len] = '\0';
	*lenp = len;
	return lines;
}

/* The timer: draw the frame in place of the last one, unless it reads the same. */
static void sp_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct send_progress *p = arg;
	char frame[SP_FRAME_MAX];
	size_t len = 0;
	unsigned lines = sp_frame(p, frame, &len);
	if (p->drawn > 0 && strcmp(frame, p->shown) == 0)
		return;
	char out[SP_FRAME_MAX + 32];
	size_t n = sp_erase_seq(p, out, sizeof(out));
	memcpy(out + n, frame, len);
	sp_write(out, n + len);
	memcpy(p->shown, frame, len + 1);
	p->drawn = lines;
}

struct send_progress *send_progress_new(struct event_base *base, const struct mxr_message *msg,
    bool shared)
{
	struct send_progress *p = xcalloc(1, sizeof(*p));
	p->rcpts = msg->rcpts;
	p->nrcpts = msg->nrcpts;
	p->rstate = xcalloc(msg->nrcpts ? msg->nrcpts : 1, 1);
	p->shared = shared;
	p->tick = event_new(base, -1, EV_PERSIST, sp_tick, p);
	if (p->tick == NULL) {
		send_progress_free(p);
		return NULL;
	}
	struct timeval tv = { 0, SP_TICK_MS * 1000 };
	event_add(p->tick, &tv);
	return p;
}

/* The entry for domain name, made when first seen. */
static struct sp_domain *sp_domain(struct send_progress *p, const char *name)
{
	for (size_t k = 0; k < p->ndoms; k++)
		if (strcasecmp(p->doms[k].name, name) == 0)
			return &p->doms[k];
	if (p->ndoms == p->capdoms) {
		p->capdoms = p->capdoms ? p->capdoms * 2 : 8;
		p->doms = xreallocarray(p->doms, p->capdoms, sizeof(*p->doms));
	}
	struct sp_domain *d = &p->doms[p->ndoms++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->stage = MXR_STAGE_RESOLVE;
	d->since = sp_now();
	return d;
}

void send_progress_event(struct send_progress *p, const struct mxr_event *e)
{
	if (p == NULL || e->rcpt == NULL || e->domain == NULL)
		return;
	struct sp_domain *d = sp_domain(p, e->domain);
	if (e->kind == MXR_EVENT_DATA_SENT) {
		/* Many per recipient: no look-up, the recipient was seen at its first step. */
		if (d->stage != MXR_STAGE_DATA) {
			d->stage = MXR_STAGE_DATA;
			d->since = sp_now();
		}
		d->sent = e->bytes_sent;
		d->total = e->bytes_total;
		return;
	}
	if (e->kind != MXR_EVENT_STEP)
		return;
	size_t i = 0;
	while (i < p->nrcpts && strcmp(p->rcpts[i].address, e->rcpt) != 0)
		i++;
	if (i < p->nrcpts && p->rstate[i] == 0) {
		p->rstate[i] = 1;
		d->seen++;
	}
	if (e->stage == MXR_STAGE_DONE) {
		if (i < p->nrcpts && p->rstate[i] == 1) {
			p->rstate[i] = 2;
			d->decided++;
		}
		return;
	}
	if (e->stage != d->stage) {
		d->stage = e->stage;
		d->since = sp_now();
		if (e->stage != MXR_STAGE_DATA)
			d->sent = d->total = 0;
	}
}

void send_progress_clear(struct send_progress *p)
{
	if (p == NULL || p->drawn == 0)
		return;
	char seq[32];
	size_t n = sp_erase_seq(p, seq, sizeof(seq));
	sp_write(seq, n);
	p->drawn = 0;
}

bool send_progress_shared(const struct send_progress *p)
{
	return p != NULL && p->shared;
}

void send_progress_free(struct send_progress *p)
{
	if (p == NULL)
		return;
	send_progress_clear(p);
	if (p->tick != NULL)
		event_free(p->tick);
	free(p->rstate);
	free(p->doms);
	free(p);
}
