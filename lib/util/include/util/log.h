/*
 * log: one key=value line per event, to standard error (and so to the
 * journal under systemd), to a file, or to syslog (facility mail).
 *
 * Owns: the line format, the minimum level, and making peer text printable
 * before it is logged. Never: logs a secret; callers must not pass
 * passwords, AUTH payloads or keys to these functions.
 *
 * Line format: "<time> <prog>[<pid>]: level=<lvl> <key=value ...>".
 */
#ifndef MXR_LOG_H
#define MXR_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_DEBUG,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERR,
};

/* Set the program name, the least level written and the output fd. */
void log_init(const char *prog, enum log_level min, int fd);
bool log_enabled(enum log_level lvl);
/*
 * From now on send each line as one datagram to the syslog daemon at path
 * (normally /dev/log), at facility mail, instead of writing it to the fd.
 * 0, or -1 with the reason in err.
 */
int log_use_syslog(const char *path, char *err, size_t errlen);

/*
 * Batching, for the thread that calls it (the daemon's loop): from now on
 * its debug and info lines wait in a buffer until log_flush(), a full
 * buffer, or a warning or error (written at once, after the lines before
 * it). arm(arg) runs when a first line starts to wait, so that the owner
 * can flush at the end of its loop pass: one write(2) for many lines.
 */
void log_batch_start(void (*arm)(void *arg), void *arg);
/* Write the calling thread's waiting lines now. */
void log_flush(void);
/* Flush and write every later line of this thread at once again. */
void log_batch_stop(void);

/* Write one event line; fmt produces the key=value part. */
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);

/* A condition the program survives. */
void warnx_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A resource the program cannot run without: log and exit(1). */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A broken invariant (a bug): log and abort(). */
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copy src into dst (size dstlen, always NUL-terminated) for a log value:
 * bytes outside printable ASCII become \xNN, '"' and '\\' are escaped.
 * Returns dst. The result is meant to be written inside double quotes.
 */
char *log_printable(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
