/*
 * reload_frame: the messages between the daemon and its privileged
 * helper, as bytes.
 *
 * Owns: the frame layout ("MXRL", a 32-bit length, then records of a
 * type octet, a 32-bit length and that many octets; integers big-endian),
 * the caps on every part, and turning a received frame back into a
 * reload_msg with copies of what it carries. Never: does I/O or trusts a
 * length it has not checked against what was received; the descriptors
 * that travel beside a frame (SCM_RIGHTS) are the caller's business.
 */
#ifndef MXR_RELOAD_FRAME_H
#define MXR_RELOAD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct file_set;

/* Frame header: magic and body length. */
#define RELOAD_FRAME_HDR 8
/* Largest frame body: the configuration, every file it names, some margin. */
#define RELOAD_FRAME_MAX (48u * 1024u * 1024u)
/* Most listeners a request or an answer names (and descriptors an answer carries). */
#define RELOAD_FRAME_MAX_LISTENERS 64
/* Longest error text of a refused reload. */
#define RELOAD_FRAME_ERROR_MAX (64u * 1024u)
/* Longest file path carried. */
#define RELOAD_FRAME_PATH_MAX 4096

enum reload_msg_kind {
	RELOAD_MSG_REQUEST,	/* daemon to helper: reload, these addresses are bound already */
	RELOAD_MSG_REFUSED,	/* helper to daemon: the file is broken; the errors */
	RELOAD_MSG_CONFIG,	/* helper to daemon: the checked text, its files, new sockets */
};

/* A decoded message; every pointer is owned (reload_msg_clear frees). */
struct reload_msg {
	enum reload_msg_kind kind;
	/* REQUEST */
	struct sockaddr_storage have[RELOAD_FRAME_MAX_LISTENERS];
	size_t nhave;
	/* REFUSED: lines "FILE:LINE: what", NUL-terminated */
	char *errors;
	/* CONFIG */
	char *config_name;
	char *config_text;		/* NUL-terminated, config_len octets before the NUL */
	size_t config_len;
	struct file_set *files;		/* every file the configuration named */
	uint32_t listener[RELOAD_FRAME_MAX_LISTENERS];	/* the new listener each descriptor serves */
	size_t nlisteners;
};

/* A frame being built, capped at RELOAD_FRAME_HDR + RELOAD_FRAME_MAX. */
struct reload_frame_buf {
	uint8_t *p;			/* owned */
	size_t len, cap;
	bool over;			/* something did not fit: the frame is refused */
};

/* Encode a message into b (reset first); 0, or -1 when it is too large. */
int reload_frame_encode_request(struct reload_frame_buf *b, const struct sockaddr_storage *have,
    size_t nhave);
int reload_frame_encode_refused(struct reload_frame_buf *b, const char *errors);
int reload_frame_encode_config(struct reload_frame_buf *b, const char *name, const char *text,
    size_t len, const struct file_set *files, const uint32_t *listener, size_t nlisteners);
void reload_frame_buf_free(struct reload_frame_buf *b);

/*
 * Whether p[0..len) starts with a whole frame: 1 with its size (header
 * included) in *total, 0 when more octets are needed, -1 when the header
 * is not one (wrong magic, too long).
 */
int reload_frame_complete(const uint8_t *p, size_t len, size_t *total);
/*
 * Decode the one frame p[0..len) into m (zeroed first): 0, or -1 with
 * the reason in err (and m cleared). Unknown or repeated records, a
 * missing part, a length past the end or a cap, or octets after the last
 * record are all refusals.
 */
int reload_frame_decode(const uint8_t *p, size_t len, struct reload_msg *m, char *err, size_t errlen);
void reload_msg_clear(struct reload_msg *m);

#endif
