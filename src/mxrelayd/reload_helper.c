/*
 * reload_helper: the privileged helper process (see reload_helper.h).
 *
 * Owns: the helper's life from fork to exit, its blocking read of one
 * request at a time, the check of the configuration as root and the
 * answer frame with its descriptors. Never: reads a file the
 * configuration at the fixed path does not name; never answers a frame
 * it could not decode (it exits instead: the daemon is broken or gone).
 */
#include "reload_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "reload_frame.h"
#include "server/server.h"
#include "util/file.h"
#include "util/log.h"
#include "util/xalloc.h"

/* The helper's socket after the descriptors are tidied. */
#define RELOAD_HELPER_FD 3
/* Largest request: a header and the bound addresses. */
#define RELOAD_HELPER_REQUEST_MAX (64u * 1024u)

/* Read exactly n octets; 0, or -1 at end of file or error. */
static int reload_helper_read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Send the frame, the descriptors riding on its first octets. */
static int reload_helper_send(int fd, const struct reload_frame_buf *b, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * RELOAD_FRAME_MAX_LISTENERS)];
	} cm;
	size_t off = 0;
	while (off < b->len) {
		struct iovec iov = { .iov_base = b->p + off, .iov_len = b->len - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (off == 0 && nfds > 0) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/* Whether addr is among the addresses the daemon holds. */
static bool reload_helper_held(const struct reload_msg *req, const struct sockaddr_storage *addr)
{
	for (size_t i = 0; i < req->nhave; i++)
		if (smtpd_listener_addr_equal(&req->have[i], addr))
			return true;
	return false;
}

/* Answer one request: check the file as root, bind what is new. */
static int reload_helper_answer(int fd, const char *path, const struct reload_msg *req)
{
	char err[1024];
	size_t len = 0;
	char *text = NULL;
	const char *name = path;
	if (path != NULL) {
		text = file_read_all(path, CFG_FILE_MAX, &len, err, sizeof(err));
	} else {
		name = "(embedded default)";
		text = xstrdup(config_default_text());
		len = strlen(text);
	}
	struct reload_frame_buf b = { 0 };
	int fds[RELOAD_FRAME_MAX_LISTENERS];
	uint32_t idx[RELOAD_FRAME_MAX_LISTENERS];
	size_t nfds = 0;
	struct config *cfg = NULL;
	struct file_set *files = file_set_new(true);
	if (text != NULL && config_load_text_files(name, text, len, files, &cfg, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < cfg->nlisteners && nfds < RELOAD_FRAME_MAX_LISTENERS; i++) {
			const struct cfg_listener *lc = &cfg->listeners[i];
			if (reload_helper_held(req, &lc->addr))
				continue;
			char berr[512];
			int lfd = smtpd_listener_bind_one(lc, berr, sizeof(berr));
			if (lfd < 0) {
				snprintf(err, sizeof(err), "%s:%u: %s", name, lc->line, berr);
				config_free(cfg);
				cfg = NULL;
				break;
			}
			fds[nfds] = lfd;
			idx[nfds++] = (uint32_t)i;
		}
	}
	int rc;
	if (cfg == NULL) {
		log_msg(LOG_LVL_WARN, "event=reload-check result=refused reason=\"%s\"", err);
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		nfds = 0;
		rc = reload_frame_encode_refused(&b, err);
	} else {
		rc = reload_frame_encode_config(&b, name, text, len, files, idx, nfds);
		if (rc != 0)
			rc = reload_frame_encode_refused(&b, "the configuration and the files it names "
			    "are larger than a reload carries");
	}
	if (rc == 0)
		rc = reload_helper_send(fd, &b, fds, nfds);
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	reload_frame_buf_free(&b);
	config_free(cfg);
	file_set_free(files);
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	return rc;
}

/* The helper's whole life: requests until the daemon closes its end. */
static _Noreturn void reload_helper_main(const char *path)
{
	int fd = RELOAD_HELPER_FD;
	for (;;) {
		uint8_t hdr[RELOAD_FRAME_HDR];
		size_t total = 0;
		if (reload_helper_read_full(fd, hdr, sizeof(hdr)) != 0)
			break;
		if (reload_frame_complete(hdr, sizeof(hdr), &total) < 0 ||
		    total > RELOAD_FRAME_HDR + RELOAD_HELPER_REQUEST_MAX)
			break;
		uint8_t *frame = xmalloc(total);
		memcpy(frame, hdr, sizeof(hdr));
		struct reload_msg req;
		char err[128];
		if (reload_helper_read_full(fd, frame + sizeof(hdr), total - sizeof(hdr)) != 0 ||
		    reload_frame_decode(frame, total, &req, err, sizeof(err)) != 0 ||
		    req.kind != RELOAD_MSG_REQUEST) {
			free(frame);
			break;
		}
		free(frame);
		int rc = reload_helper_answer(fd, path, &req);
		reload_msg_clear(&req);
		if (rc != 0)
			break;
	}
	_exit(0);
}

int reload_helper_start(const char *config_path, pid_t *pid, char *err, size_t errlen)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "reload helper: socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid();
	/* The path is copied before fork: the child must not depend on argv staying put. */
	char *path = config_path != NULL ? xstrdup(config_path) : NULL;
	pid_t p = fork();
	if (p < 0) {
		snprintf(err, errlen, "reload helper: fork: %s", strerror(errno));
		free(path);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (p == 0) {
		/* Die with the daemon, even when it is killed. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(1);
		signal(SIGHUP, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		if (dup2(sv[1], RELOAD_HELPER_FD) < 0)
			_exit(1);
		/* Standard input and output go nowhere; errors still reach the daemon's log. */
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			(void)dup2(devnull, 0);
			(void)dup2(devnull, 1);
		}
		/* Nothing of the daemon's but the socket: no listener, no queue, no lock. */
		if (close_range(RELOAD_HELPER_FD + 1, ~0u, 0) != 0)
			_exit(1);
		(void)fcntl(RELOAD_HELPER_FD, F_SETFD, FD_CLOEXEC);
		log_init("mxrelayd-helper", LOG_LVL_INFO, 2);
		reload_helper_main(path);
	}
	free(path);
	close(sv[1]);
	*pid = p;
	return sv[0];
}
