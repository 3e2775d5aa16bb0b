/*
 * log: key=value event lines. Owns the process-wide log settings (set once
 * at start-up by log_init, read-only afterwards). Never: logs secrets.
 */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Set once by log_init before any other thread or event runs. */
static struct {
	const char *prog;
	enum log_level min;
	int fd;
	long pid;		/* 0: ask getpid() (before log_init) */
	bool syslog;		/* fd is a datagram socket to the syslog daemon */
	struct sockaddr_un syslog_addr;
} log_cfg = { "mxrelay", LOG_LVL_INFO, 2, 0, false, { 0 } };

/* Syslog priority of a level, at facility mail (2 << 3). */
static const int log_syslog_prio[] = { 16 + 7, 16 + 6, 16 + 4, 16 + 3 };

/*
 * The line head up to the seconds ("2026-01-02T03:04:05"), made again only
 * when the second changes: formatting it for every line was a fifth of the
 * cost of a line. Per thread, so the writer thread needs no lock.
 */
static _Thread_local struct {
	time_t sec;
	char text[32];
	int len;
} log_stamp = { -1, "", 0 };

static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

/*
 * Waiting lines of a batching thread. At most PIPE_BUF octets, so that one
 * flush is one atomic write even into a pipe that other threads write too.
 */
#define LOG_BATCH_MAX 4096
static _Thread_local struct {
	char *buf;			/* LOG_BATCH_MAX octets, owned; NULL: not batching */
	size_t len;
	void (*arm)(void *arg);
	void *arg;
} log_batch;

/* Write n octets of p to the log, whole (a short write is retried). */
static void log_write(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(log_cfg.fd, p, n);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void log_flush(void)
{
	if (log_batch.len > 0) {
		log_write(log_batch.buf, log_batch.len);
		log_batch.len = 0;
	}
}

void log_batch_start(void (*arm)(void *arg), void *arg)
{
	/* A syslog datagram is one line: there is nothing to batch. */
	if (log_cfg.syslog)
		return;
	if (log_batch.buf == NULL) {
		log_batch.buf = malloc(LOG_BATCH_MAX);
		if (log_batch.buf == NULL)
			return;	/* no batching: every line is written at once */
	}
	log_batch.len = 0;
	log_batch.arm = arm;
	log_batch.arg = arg;
}

void log_batch_stop(void)
{
	log_flush();
	free(log_batch.buf);
	log_batch.buf = NULL;
	log_batch.arm = NULL;
}

void log_init(const char *prog, enum log_level min, int fd)
{
	log_cfg.prog = prog;
	log_cfg.min = min;
	log_cfg.fd = fd;
	/* Nothing forks after start-up: the pid of every line is this one. */
	log_cfg.pid = (long)getpid();
}

int log_use_syslog(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "syslog socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(err, errlen, "cannot connect to the syslog socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	log_cfg.fd = fd;
	log_cfg.syslog_addr = sun;
	log_cfg.syslog = true;
	return 0;
}

/*
 * One RFC 3164 datagram: "<PRI>Mmm dd hh:mm:ss prog[pid]: text". When the
 * syslog daemon restarted, the socket is connected again once.
 */
static void log_syslog_send(enum log_level lvl, const char *text, size_t len)
{
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
		"Sep", "Oct", "Nov", "Dec" };
	char dgram[4200];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	int n = snprintf(dgram, sizeof(dgram), "<%d>%s %2d %02d:%02d:%02d %s[%ld]: %.*s",
	    log_syslog_prio[lvl], mon[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    log_cfg.prog, log_cfg.pid != 0 ? log_cfg.pid : (long)getpid(), (int)len, text);
	if (n < 0)
		return;
	size_t dlen = (size_t)n < sizeof(dgram) ? (size_t)n : sizeof(dgram) - 1;
	if (send(log_cfg.fd, dgram, dlen, MSG_NOSIGNAL) >= 0)
		return;
	if (errno != ECONNREFUSED && errno != ENOTCONN)
		return;
	(void)connect(log_cfg.fd, (struct sockaddr *)&log_cfg.syslog_addr, sizeof(log_cfg.syslog_addr));
	(void)send(log_cfg.fd, dgram, dlen, MSG_NOSIGNAL);
}

bool log_enabled(enum log_level lvl)
{
	return lvl >= log_cfg.min;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	if (!log_enabled(lvl))
		return;
	char line[4096];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_stamp.sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		int k = snprintf(log_stamp.text, sizeof(log_stamp.text), "%04d-%02d-%02dT%02d:%02d:%02d",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		log_stamp.len = k > 0 && (size_t)k < sizeof(log_stamp.text) ? k : 0;
		log_stamp.sec = ts.tv_sec;
	}
	int n = snprintf(line, sizeof(line), "%.*s.%03dZ %s[%ld]: level=%s ", log_stamp.len,
	    log_stamp.text, (int)(ts.tv_nsec / 1000000), log_cfg.prog,
	    log_cfg.pid != 0 ? log_cfg.pid : (long)getpid(), log_level_names[lvl]);
	if (n < 0)
		return;
	size_t used = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	size_t head = used;
	int m = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	if (m < 0)
		return;
	used += (size_t)m;
	if (log_cfg.syslog) {
		/* syslog stamps the time and the program itself; keep the level and the fields. */
		if (used > sizeof(line) - 1)
			used = sizeof(line) - 1;
		const char *lv = strstr(line, "level=");
		size_t off = lv != NULL && (size_t)(lv - line) < head ? (size_t)(lv - line) : head;
		log_syslog_send(lvl, line + off, used - off);
		return;
	}
	if (used > sizeof(line) - 2)
		used = sizeof(line) - 2;
	line[used++] = '\n';
	if (log_batch.buf != NULL && lvl < LOG_LVL_WARN) {
		if (log_batch.len + used > LOG_BATCH_MAX)
			log_flush();
		bool was_empty = log_batch.len == 0;
		memcpy(log_batch.buf + log_batch.len, line, used);
		log_batch.len += used;
		if (was_empty && log_batch.arm != NULL)
			log_batch.arm(log_batch.arg);
		return;
	}
	/* Whole lines per write, so that concurrent writers do not interleave. */
	log_flush();
	log_write(line, used);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void warnx_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARN, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	abort();
}

char *log_printable(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (dstlen == 0)
		return dst;
	for (size_t i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];
		char tmp[4];
		size_t k = 0;
		if (c == '"' || c == '\\') {
			tmp[k++] = '\\';
			tmp[k++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			tmp[k++] = '\\';
			tmp[k++] = 'x';
			tmp[k++] = hex[c >> 4];
			tmp[k++] = hex[c & 15];
		} else {
			tmp[k++] = (char)c;
		}
		if (o + k >= dstlen)
			break;
		memcpy(dst + o, tmp, k);
		o += k;
	}
	dst[o] = '\0';
	return dst;
}
