/*
 * cmd_sendmail: the sendmail(1) and mailq(1) compatibility mode, for
 * cron, PHP's mail() and scripts that run /usr/sbin/sendmail -t -i.
 *
 * Owns: the sendmail options (-t, -i/-oi, -f, -F, -C/-c, -bp, -bm, -q,
 * -N, -R; -o and other legacy flags accepted and ignored), reading the
 * message from standard input into an unlinked temporary file (wire form,
 * dot-stuffed, so memory does not grow with the message), adding From,
 * Date and Message-ID when missing and removing Bcc, and submitting it
 * over SMTP to the daemon's local submission socket (local_socket, or
 * MXRELAY_SUBMIT_SOCKET; the first loopback relay listener when it is
 * "none"), reading every reply. The configuration is loaded without
 * opening any file it names, so any user may run it. Exit status: 0 queued; 64 bad usage; 65 bad message or refused
 * sender/content; 67 a recipient refused; 69/75 the daemon unreachable
 * or answering 4xx (75); 78 the configuration does not load.
 * Never: delivers mail itself (the daemon does), queues anything unless
 * every recipient was accepted, or holds the whole message in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "smtp/smtp_hdrrcpt.h"
#include "commands.h"
#include "config/config.h"
#include "config/config_path.h"
#include "queue/queue_store.h"
#include "smtp/smtp_addr.h"
#include "smtp/smtp_caps.h"
#include "smtp/smtp_cmd.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_dsn.h"
#include "smtp/smtp_header.h"
#include "smtp/smtp_reply.h"
#include "util/xalloc.h"

#define SM_CHUNK (64u * 1024u)
/* Seconds each step of the SMTP dialogue with the daemon may take. */
#define SM_TIMEOUT_S 300
/* Longest -F full name. */
#define SM_NAME_MAX 200

/* RFC 3461 4.4: an ENVID has at most 100 characters. */
#define SM_ENVID_MAX 100

struct sm_opts {
	const char *prog;	/* for messages: "sendmail", "mxrelay sendmail" */
	const char *config;
	const char *from;	/* -f, or NULL */
	const char *fullname;	/* -F, or NULL */
	bool read_rcpts;	/* -t */
	bool ignore_dots;	/* -i, -oi */
	bool verbose;		/* -v: print the queue id */
	const char *notify;	/* -N, passed as NOTIFY= when the daemon offers DSN */
	const char *ret;	/* -R full|hdrs */
	const char *envid;	/* -V, passed as ENVID= (xtext) when the daemon offers DSN */
	int first_rcpt;		/* index of the first recipient argument */
};

/* What reading standard input produced. */
struct sm_msg {
	char *hdr;		/* owned: the header section as read, CRLF lines, blank line */
	size_t hdrlen;
	int body_fd;		/* owned: unlinked file, the body in wire form, dot-stuffed */
	uint64_t body_len;
	bool eightbit;
	struct smtp_data_enc enc;	/* the body's DATA encoder, across pieces of long lines */
	char *clean;		/* owned: a piece without its CRs, SM_CHUNK + 1 octets */
};

/* Room for the encoded form of one piece and its line end. */
#define SM_ENC_MAX (smtp_data_enc_bound(SM_CHUNK + 1))

/* The SMTP connection to the daemon. */
struct sm_conn {
	int fd;
	char buf[SM_CHUNK];
	size_t off, len;
	struct smtp_reply reply;
	char last[512];		/* the last reply, printable, for messages */
};

/* Print "PROG: what" and return status. */
static int sm_fail(const struct sm_opts *o, int status, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", o->prog);
	fprintf(stderr, fmt, arg != NULL ? arg : "");
	fputc('\n', stderr);
	return status;
}

static void sm_usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s [-t] [-i] [-f SENDER] [-F FULLNAME] [-C CONFIG] [-N DSN] [-R RET] [-V ENVID]"
	    " [-v] [--] [RECIPIENT...]\n"
	    "       %s -bp   (list the queue, as mailq)\n"
	    "       %s -q    (try every queued message now)\n"
	    "Reads a message on standard input and queues it with the local mxrelayd.\n"
	    "See mxrelay(1).\n", prog, prog, prog);
}

/* The value of an option given as "-fVALUE" or "-f VALUE"; NULL when missing. */
static const char *sm_optarg(int argc, char **argv, int *i)
{
	if (argv[*i][2] != '\0')
		return argv[*i] + 2;
	if (*i + 1 < argc)
		return argv[++*i];
	return NULL;
}

enum sm_mode { SM_SEND, SM_LIST, SM_FLUSH };

/* Parse the sendmail options; returns EX_OK, or a status after saying why. */
static int sm_parse(int argc, char **argv, struct sm_opts *o, enum sm_mode *mode)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			sm_usage(stdout, o->prog);
			return -1;
		}
		const char *v;
		switch (a[1]) {
		case 't':
		case 'i':
		case 'v':
			for (const char *p = a + 1; *p != '\0'; p++) {
				if (*p == 't')
					o->read_rcpts = true;
				else if (*p == 'i')
					o->ignore_dots = true;
				else if (*p == 'v')
					o->verbose = true;
				else
					return sm_fail(o, EX_USAGE, "unknown option %s", a);
			}
			break;
		case 'o':	/* -oi, and -oem, -odb, -odq, ... accepted and ignored */
			if (strcmp(a, "-oi") == 0)
				o->ignore_dots = true;
			break;
		case 'f':
		case 'r':
		case 'F':
		case 'C':
		case 'c':
		case 'N':
		case 'R':
		case 'B':
		case 'L':
		case 'h':
		case 'V':
		case 'X':
			if ((v = sm_optarg(argc, argv, &i)) == NULL)
				return sm_fail(o, EX_USAGE, "%s needs a value", a);
			if (a[1] == 'f' || a[1] == 'r')
				o->from = v;
			else if (a[1] == 'F')
				o->fullname = v;
			else if (a[1] == 'C' || a[1] == 'c')
				o->config = v;
			else if (a[1] == 'N')
				o->notify = v;
			else if (a[1] == 'R')
				o->ret = v;
			else if (a[1] == 'V') {
				if (strlen(v) > SM_ENVID_MAX)
					return sm_fail(o, EX_USAGE, "-V: an envelope id has at most "
					    "100 characters (RFC 3461 4.4)%s", NULL);
				o->envid = v;
			}
			/* -B type, -L label, -h hops, -X log: ignored */
			break;
		case 'b':
			if (strcmp(a, "-bp") == 0)
				*mode = SM_LIST;
			else if (strcmp(a, "-bm") != 0)
				return sm_fail(o, EX_USAGE, "%s is not supported (only -bm and -bp)", a);
			break;
		case 'q':
			if (strcmp(a, "-q") != 0)
				return sm_fail(o, EX_USAGE, "%s is not supported (only -q)", a);
			*mode = SM_FLUSH;
			break;
		case 'e':
		case 'm':
		case 'n':
		case 'U':
		case 'd':
			break;	/* legacy flags without meaning here */
		default:
			return sm_fail(o, EX_USAGE, "unknown option %s", a);
		}
	}
	o->first_rcpt = i;
	if (o->notify != NULL && smtp_dsn_notify_parse(o->notify, strlen(o->notify), NULL) == 0)
		return sm_fail(o, EX_USAGE, "-N takes never, or success, failure and delay "
		    "separated by commas, not \"%s\"", o->notify);
	if (o->ret != NULL && smtp_dsn_ret_parse(o->ret, strlen(o->ret)) == SMTP_DSN_RET_UNSET)
		return sm_fail(o, EX_USAGE, "-R takes full or hdrs, not \"%s\"", o->ret);
	if (o->fullname != NULL && (strlen(o->fullname) > SM_NAME_MAX ||
	    strpbrk(o->fullname, "\r\n") != NULL))
		return sm_fail(o, EX_USAGE, "-F: the full name is too long or has a line break%s", NULL);
	return EX_OK;
}

/*
 * An address as given (with or without <>) checked as a mailbox; a bare
 * user name gets "@hostname" appended. Returns a new string, or NULL.
 */
static char *sm_addr(const char *s, const char *hostname, const char **err)
{
	size_t len = strlen(s);
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		s++;
		len -= 2;
	}
	char *a;
	if (len > 0 && memchr(s, '@', len) == NULL) {
		size_t hl = strlen(hostname);
		a = xmalloc(len + hl + 2);
		memcpy(a, s, len);
		a[len] = '@';
		memcpy(a + len + 1, hostname, hl + 1);
	} else {
		a = xstrndup(s, len);
	}
	struct smtp_addr p;
	if (smtp_addr_parse_mailbox(a, strlen(a), SMTP_ADDR_UTF8_OK, &p, err) != 0 ||
	    p.kind != SMTP_ADDR_MAILBOX) {
		if (*err == NULL)
			*err = "no domain";
		free(a);
		return NULL;
	}
	return a;
}

/* Add a to the list unless it is there already (a is taken). */
static void sm_add(char ***list, size_t *n, char *a)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*list)[i], a) == 0) {
			free(a);
			return;
		}
	}
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = a;
}

/* Reads standard input in pieces: whole lines, or SM_CHUNK-octet parts of longer ones. */
struct sm_in {
	int fd;
	char buf[SM_CHUNK];
	size_t off, len;
	bool eof;
};

/*
 * The next piece of input into *p (pointing into in->buf, valid until
 * the next call), *n octets, *lf whether it ends a line (LF dropped).
 * Returns 1, 0 at end of input, -1 on a read error.
 */
static int sm_piece(struct sm_in *in, const char **p, size_t *n, bool *lf)
{
	for (;;) {
		char *nl = memchr(in->buf + in->off, '\n', in->len - in->off);
		if (nl != NULL || (in->eof && in->off < in->len) ||
		    (in->off == 0 && in->len == sizeof(in->buf))) {
			*p = in->buf + in->off;
			*n = nl != NULL ? (size_t)(nl - *p) : in->len - in->off;
			*lf = nl != NULL;
			in->off += *n + (nl != NULL);
			return 1;
		}
		if (in->eof)
			return 0;
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
		ssize_t r = read(in->fd, in->buf + in->len, sizeof(in->buf) - in->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			in->eof = true;
		in->len += (size_t)r;
	}
}

/* Whether line[0..n) starts a header field: a name of printable characters and ':'. */
static bool sm_is_field(const char *line, size_t n)
{
	size_t i = 0;
	while (i < n && line[i] > ' ' && line[i] < 0x7f && line[i] != ':')
		i++;
	return i > 0 && i < n && line[i] == ':';
}

/* Write all of buf to fd; 0 or -1. */
static int sm_write_all(int fd, const void *buf, size_t n, bool sock)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* An unlinked read-write temporary file, or -1. */
static int sm_tmpfile(void)
{
	const char *dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char path[4096];
	snprintf(path, sizeof(path), "%s/mxrelay-sendmail.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/*
 * Append one piece of a body line to the body file in wire form: its CRs
 * dropped (a line ends at LF here, as sendmail input does), then through
 * the DATA encoder, which stuffs a dot at a line's start, ends lines with
 * CRLF and breaks those past 998 octets. out holds SM_ENC_MAX octets.
 */
static int sm_body_line(struct sm_msg *m, const char *p, size_t n, bool lf, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r')
			continue;
		if ((unsigned char)p[i] >= 0x80)
			m->eightbit = true;
		m->clean[k++] = p[i];
	}
	if (lf)
		m->clean[k++] = '\n';
	size_t w = smtp_data_enc_feed(&m->enc, m->clean, k, out);
	if (sm_write_all(m->body_fd, out, w, false) != 0)
		return -1;
	m->body_len += w;
	return 0;
}

/*
 * Read the message from standard input: the header into memory (capped),
 * the body into a temporary file. Returns EX_OK or a status after saying why.
 */
static int sm_read(const struct sm_opts *o, const struct config *cfg, struct sm_msg *m)
{
	struct sm_in *in = xcalloc(1, sizeof(*in));
	char *out = xmalloc(SM_ENC_MAX);
	smtp_data_enc_init(&m->enc);
	m->clean = xmalloc(SM_CHUNK + 1);
	size_t cap = 4096;
	m->hdr = xmalloc(cap);
	m->hdrlen = 0;
	m->body_fd = sm_tmpfile();
	int rc = EX_OK;
	if (m->body_fd < 0) {
		rc = sm_fail(o, EX_CANTCREAT, "cannot make a temporary file: %s", strerror(errno));
		goto out;
	}
	bool in_header = true, start = true, first = true;
	const char *p;
	size_t n;
	bool lf;
	int r;
	while ((r = sm_piece(in, &p, &n, &lf)) == 1) {
		size_t t = n;
		if (t > 0 && p[t - 1] == '\r' && lf)
			t--;
		if (start && !o->ignore_dots && lf && t == 1 && p[0] == '.')
			break;	/* a lone dot ends the input (no -i) */
		if (in_header && start && !lf && !in->eof) {
			rc = sm_fail(o, EX_DATAERR, "a header line is longer than 64 KiB%s", NULL);
			goto out;
		}
		if (in_header && first && t >= 5 && memcmp(p, "From ", 5) == 0) {
			first = false;	/* an mbox separator line, not part of the message */
			start = lf;
			continue;
		}
		first = false;
		if (in_header) {
			bool cont = t > 0 && (p[0] == ' ' || p[0] == '\t') && m->hdrlen > 0;
			if (t > 0 && (cont || sm_is_field(p, t))) {
				if (m->hdrlen + t + 2 > SMTP_HDRRCPT_MAX) {
					rc = sm_fail(o, EX_DATAERR, "the header section is too long%s", NULL);
					goto out;
				}
				while (m->hdrlen + t + 3 > cap)
					cap *= 2;
				m->hdr = xrealloc(m->hdr, cap);
				for (size_t i = 0; i < t; i++) {
					if (p[i] == '\r')
						continue;
					if ((unsigned char)p[i] >= 0x80)
						m->eightbit = true;
					m->hdr[m->hdrlen++] = p[i];
				}
				m->hdr[m->hdrlen++] = '\r';
				m->hdr[m->hdrlen++] = '\n';
				start = lf;
				continue;
			}
			in_header = false;
			if (t == 0) {	/* the blank line: the body starts after it */
				start = lf;
				continue;
			}
			/* the body starts without a blank line; one is added below */
		}
		if (sm_body_line(m, p, n, lf, out) != 0) {
			rc = sm_fail(o, EX_CANTCREAT, "cannot write the temporary file: %s",
			    strerror(errno));
			goto out;
		}
		start = lf;
		if (m->body_len + m->hdrlen > cfg->max_message_size) {
			rc = sm_fail(o, EX_DATAERR, "the message is larger than the daemon's limit "
			    "(max_message_size)%s", NULL);
			goto out;
		}
	}
	if (r < 0) {
		rc = sm_fail(o, EX_IOERR, "cannot read the message: %s", strerror(errno));
		goto out;
	}
	if (!start) {	/* the last line had no line end */
		if (sm_write_all(m->body_fd, "\r\n", 2, false) != 0) {
			rc = sm_fail(o, EX_CANTCREAT, "cannot write the temporary file: %s",
			    strerror(errno));
			goto out;
		}
		m->body_len += 2;
	}
out:
	free(out);
	free(in);
	return rc;
}

/* Whether the header section has a field named name (case-insensitive). */
static bool sm_has_field(const char *h, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n;) {
		if (n - i > nl && strncasecmp(h + i, name, nl) == 0 && h[i + nl] == ':')
			return true;
		const char *e = memchr(h + i, '\n', n - i);
		if (e == NULL)
			break;
		i = (size_t)(e - h) + 1;
	}
	return false;
}

/* Append text to a growing header. */
static void sm_hdr_add(char **h, size_t *n, const char *text)
{
	size_t t = strlen(text);
	*h = xrealloc(*h, *n + t + 1);
	memcpy(*h + *n, text, t + 1);
	*n += t;
}

/*
 * The header to send: Bcc removed (smtp_hdrrcpt), From, Date and Message-ID
 * added when missing, ending with the blank line. With -t, the header's
 * recipients are added to rcpts.
 */
static int sm_header(const struct sm_opts *o, const struct config *cfg, const char *sender,
    const struct sm_msg *m, char ***rcpts, size_t *nr, char **out, size_t *outlen)
{
	char *raw = xmalloc(m->hdrlen + 3);
	memcpy(raw, m->hdr, m->hdrlen);
	memcpy(raw + m->hdrlen, "\r\n", 3);
	struct smtp_hdrrcpt hr;
	smtp_hdrrcpt_parse(raw, m->hdrlen + 2, &hr);
	free(raw);
	if (o->read_rcpts) {
		for (size_t i = 0; i < hr.n; i++) {
			const char *err = NULL;
			char *a = sm_addr(hr.addrs[i], cfg->hostname, &err);
			if (a == NULL) {
				fprintf(stderr, "%s: bad recipient address \"%s\" in the header: %s\n",
				    o->prog, hr.addrs[i], err != NULL ? err : "syntax");
				smtp_hdrrcpt_free(&hr);
				return EX_DATAERR;
			}
			sm_add(rcpts, nr, a);
		}
	}
	/* hr.header ends with the blank line; take the fields and add ours before it. */
	size_t n = hr.header_len >= 2 ? hr.header_len - 2 : 0;
	char *h = xmemdup0(hr.header != NULL ? hr.header : "", n);
	smtp_hdrrcpt_free(&hr);
	char line[SM_NAME_MAX * 2 + 600];
	if (!sm_has_field(h, n, "From") && *sender != '\0') {
		if (o->fullname != NULL && *o->fullname != '\0') {
			size_t k = (size_t)snprintf(line, sizeof(line), "From: \"");
			for (const char *p = o->fullname; *p != '\0' && k < SM_NAME_MAX * 2; p++) {
				if (*p == '"' || *p == '\\')
					line[k++] = '\\';
				line[k++] = *p;
			}
			snprintf(line + k, sizeof(line) - k, "\" <%s>\r\n", sender);
		} else {
			snprintf(line, sizeof(line), "From: %s\r\n", sender);
		}
		sm_hdr_add(&h, &n, line);
	}
	if (!sm_has_field(h, n, "Date")) {
		char date[SMTP_HEADER_DATE_MAX];
		if (smtp_header_date(time(NULL), date, sizeof(date)) > 0) {
			snprintf(line, sizeof(line), "Date: %s\r\n", date);
			sm_hdr_add(&h, &n, line);
		}
	}
	if (!sm_has_field(h, n, "Message-ID")) {
		char id[QUEUE_ID_LEN + 1];
		queue_id_new(id);
		snprintf(line, sizeof(line), "Message-ID: <%s@%s>\r\n", id, cfg->hostname);
		sm_hdr_add(&h, &n, line);
	}
	sm_hdr_add(&h, &n, "\r\n");
	*out = h;
	*outlen = n;
	return EX_OK;
}

/* The daemon's address: its first relay listener on loopback (a wildcard one reached on loopback). */
static int sm_target(const struct config *cfg, struct sockaddr_storage *ss, socklen_t *len,
    char *text, size_t textlen)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cfg->nlisteners; i++) {
			const struct cfg_listener *l = &cfg->listeners[i];
			if (l->mode != CFG_LISTEN_RELAY)
				continue;
			memcpy(ss, &l->addr, l->addrlen);
			*len = l->addrlen;
			if (l->addr.ss_family == AF_INET) {
				struct sockaddr_in *sin = (struct sockaddr_in *)ss;
				bool loop = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
				bool any = sin->sin_addr.s_addr == htonl(INADDR_ANY);
				if (!(pass == 0 ? loop : any))
					continue;
				if (any)
					sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			} else if (l->addr.ss_family == AF_INET6) {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
				bool loop = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
				bool any = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
				if (!(pass == 0 ? loop : any))
					continue;
				if (any)
					sin6->sin6_addr = in6addr_loopback;
			} else {
				continue;
			}
			snprintf(text, textlen, "%s", l->text);
			return 0;
		}
	}
	return -1;
}

/* Read one whole reply; its code, or -1 when the connection failed (last says why). */
static int sm_reply(struct sm_conn *c)
{
	smtp_reply_reset(&c->reply);
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
		if (nl == NULL) {
			if (c->len - c->off >= SMTP_REPLY_LINE_MAX) {
				snprintf(c->last, sizeof(c->last), "a reply line is too long");
				return -1;
			}
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
			ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				snprintf(c->last, sizeof(c->last), "%s", r == 0 ?
				    "the daemon closed the connection" : errno == EAGAIN ?
				    "no reply in time" : strerror(errno));
				return -1;
			}
			c->len += (size_t)r;
			continue;
		}
		size_t n = (size_t)(nl - (c->buf + c->off));
		const char *line = c->buf + c->off;
		c->off += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		enum smtp_reply_result res = smtp_reply_feed(&c->reply, line, n);
		if (res == SMTP_REPLY_BAD) {
			snprintf(c->last, sizeof(c->last), "bad reply: %s", c->reply.error);
			return -1;
		}
		if (res == SMTP_REPLY_DONE) {
			smtp_reply_format(&c->reply, c->last, sizeof(c->last));
			return c->reply.code;
		}
	}
}

/* Send a command line and read its reply; the code or -1. */
static int sm_cmd(struct sm_conn *c, const char *line)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", line);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		snprintf(c->last, sizeof(c->last), "command too long");
		return -1;
	}
	if (sm_write_all(c->fd, buf, (size_t)n, true) != 0) {
		snprintf(c->last, sizeof(c->last), "%s", strerror(errno));
		return -1;
	}
	return sm_reply(c);
}

/* The exit status for a failed step: unreachable or 4xx is 75, 5xx is fail5. */
static int sm_step_status(int code, int fail5)
{
	return code >= 500 ? fail5 : EX_TEMPFAIL;
}

/* Whether s has an octet outside ASCII. */
static bool sm_nonascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/*
 * Where to submit: MXRELAY_SUBMIT_SOCKET, else local_socket (where the
 * daemon learns who we are), else the first loopback relay listener.
 */
static int sm_where(const struct config *cfg, struct sockaddr_storage *ss, socklen_t *len,
    char *text, size_t textlen)
{
	const char *env = getenv("MXRELAY_SUBMIT_SOCKET");
	const char *path = env != NULL && *env != '\0' ? env : cfg->local_socket;
	if (path == NULL)
		return sm_target(cfg, ss, len, text, textlen);
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	memset(ss, 0, sizeof(*ss));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -1;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	*len = sizeof(*sun);
	snprintf(text, textlen, "%s", path);
	return 0;
}

/*
 * Connect c to the daemon at ss (where names it for messages), read its
 * greeting and say EHLO; EX_OK, or EX_TEMPFAIL with the reason printed.
 */
static int sm_connect(const struct sm_opts *o, const struct config *cfg, struct sm_conn *c,
    const struct sockaddr_storage *ss, socklen_t sslen, const char *where)
{
	char line[1200];
	c->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { SM_TIMEOUT_S, 0 };
	int one = 1;
	if (c->fd < 0 || setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    (ss->ss_family != AF_UNIX &&
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) ||
	    connect(c->fd, (const struct sockaddr *)ss, sslen) != 0) {
		fprintf(stderr, "%s: cannot reach the mxrelay daemon at %s: %s (is mxrelayd "
		    "running?)\n", o->prog, where, strerror(errno));
		return EX_TEMPFAIL;
	}
	if (sm_reply(c) != 220) {
		fprintf(stderr, "%s: the daemon at %s did not greet: %s\n", o->prog, where, c->last);
		return EX_TEMPFAIL;
	}
	snprintf(line, sizeof(line), "EHLO %s", cfg->hostname);
	if (sm_cmd(c, line) != 250) {
		fprintf(stderr, "%s: EHLO to %s: %s\n", o->prog, where, c->last);
		return EX_TEMPFAIL;
	}
	return EX_OK;
}

/*
 * The MAIL FROM line for sender, with the parameters the daemon offers
 * (caps): SIZE of the whole message, BODY, SMTPUTF8, and the DSN RET and
 * ENVID. size is the whole message's, header and body.
 */
static void sm_mail_from(const struct sm_opts *o, const struct smtp_caps *caps,
    const char *sender, bool utf8, uint64_t size, bool eightbit, char *line, size_t linelen)
{
	int k = snprintf(line, linelen, "MAIL FROM:<%s>", sender);
	if (caps->size)
		k += snprintf(line + k, linelen - (size_t)k, " SIZE=%llu", (unsigned long long)size);
	if (eightbit && caps->eightbitmime)
		k += snprintf(line + k, linelen - (size_t)k, " BODY=8BITMIME");
	if (utf8)
		k += snprintf(line + k, linelen - (size_t)k, " SMTPUTF8");
	if (o->ret != NULL && caps->dsn)
		k += snprintf(line + k, linelen - (size_t)k, " RET=%s",
		    strcasecmp(o->ret, "full") == 0 ? "FULL" : "HDRS");
	if (o->envid != NULL && caps->dsn) {
		/* Sent as xtext: each octet at most three characters. */
		char x[SM_ENVID_MAX * 3 + 1];
		if (smtp_xtext_encode(o->envid, strlen(o->envid), x, sizeof(x)) >= 0)
			snprintf(line + k, linelen - (size_t)k, " ENVID=%s", x);
	}
}

/*
 * After DATA: the header through the DATA encoder (a field name may
 * start with a dot), then the body file, already in wire form. EX_OK, or
 * the exit status with the reason printed. c's buffer carries the body, so
 * it holds no reply afterwards.
 */
static int sm_send_content(const struct sm_opts *o, struct sm_conn *c, const char *where,
    const char *hdr, size_t hdrlen, const struct sm_msg *m)
{
	struct smtp_data_enc enc;
	smtp_data_enc_init(&enc);
	char *wire = xmalloc(smtp_data_enc_bound(hdrlen));
	size_t wlen = smtp_data_enc_feed(&enc, hdr, hdrlen, wire);
	int wrc = sm_write_all(c->fd, wire, wlen, true);
	free(wire);
	if (wrc != 0)
		goto write_failed;
	if (lseek(m->body_fd, 0, SEEK_SET) != 0)
		goto read_failed;
	for (;;) {
		ssize_t r = read(m->body_fd, c->buf, sizeof(c->buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto read_failed;
		if (r == 0)
			break;
		if (sm_write_all(c->fd, c->buf, (size_t)r, true) != 0)
			goto write_failed;
	}
	c->off = c->len = 0;
	return EX_OK;
write_failed:
	fprintf(stderr, "%s: sending to the daemon at %s failed: %s\n", o->prog, where,
	    strerror(errno));
	return EX_TEMPFAIL;
read_failed:
	return sm_fail(o, EX_IOERR, "cannot read the temporary file: %s", strerror(errno));
}

/* The SMTP dialogue: EHLO, MAIL, every RCPT, DATA. Returns the exit status. */
static int sm_submit(const struct sm_opts *o, const struct config *cfg, const char *sender,
    char **rcpts, size_t nr, const char *hdr, size_t hdrlen, struct sm_msg *m)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	char where[160];
	if (sm_where(cfg, &ss, &sslen, where, sizeof(where)) != 0)
		return sm_fail(o, EX_CONFIG, "%s has no local_socket and no relay listener reachable "
		    "on loopback (or the socket path is too long)", cfg->path);
	struct sm_conn *c = xcalloc(1, sizeof(*c));
	smtp_reply_init(&c->reply);
	int rc = EX_OK, code, k;
	char line[1200];
	if ((rc = sm_connect(o, cfg, c, &ss, sslen, where)) != EX_OK)
		goto out;
	struct smtp_caps caps;
	memset(&caps, 0, sizeof(caps));
	smtp_caps_parse(&c->reply, &caps);
	bool utf8 = sm_nonascii(sender);
	for (size_t i = 0; i < nr; i++)
		utf8 = utf8 || sm_nonascii(rcpts[i]);
	if (utf8 && !caps.smtputf8) {
		rc = sm_fail(o, EX_DATAERR, "the daemon does not offer SMTPUTF8 for a non-ASCII "
		    "address%s", NULL);
		goto out;
	}
	sm_mail_from(o, &caps, sender, utf8, m->body_len + hdrlen, m->eightbit, line, sizeof(line));
	if ((code = sm_cmd(c, line)) != 250) {
		fprintf(stderr, "%s: the daemon refused the sender <%s>: %s\n", o->prog, sender,
		    c->last);
		rc = sm_step_status(code, EX_DATAERR);
		goto out;
	}
	for (size_t i = 0; i < nr; i++) {
		k = snprintf(line, sizeof(line), "RCPT TO:<%s>", rcpts[i]);
		if (o->notify != NULL && caps.dsn) {
			k += snprintf(line + k, sizeof(line) - (size_t)k, " NOTIFY=");
			for (const char *p = o->notify; *p != '\0' && (size_t)k < sizeof(line) - 1; p++)
				line[k++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
			line[k] = '\0';
		}
		if ((code = sm_cmd(c, line)) != 250 && code != 251) {
			fprintf(stderr, "%s: the daemon refused the recipient <%s>: %s "
			    "(nothing was queued)\n", o->prog, rcpts[i], c->last);
			rc = sm_step_status(code, EX_NOUSER);
			goto out;
		}
	}
	if ((code = sm_cmd(c, "DATA")) != 354) {
		fprintf(stderr, "%s: DATA: %s\n", o->prog, c->last);
		rc = sm_step_status(code, EX_DATAERR);
		goto out;
	}
	if ((rc = sm_send_content(o, c, where, hdr, hdrlen, m)) != EX_OK)
		goto out;
	if ((code = sm_cmd(c, ".")) != 250) {
		fprintf(stderr, "%s: the daemon did not queue the message: %s\n", o->prog, c->last);
		rc = sm_step_status(code, EX_DATAERR);
		goto out;
	}
	if (o->verbose)
		printf("%s: %s\n", o->prog, c->last);
	(void)sm_cmd(c, "QUIT");
out:
	if (c->fd >= 0)
		close(c->fd);
	smtp_reply_reset(&c->reply);
	free(c);
	return rc;
}

/* The default sender: the login name at the configured hostname. */
static char *sm_default_sender(const struct config *cfg)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *user = pw != NULL && pw->pw_name != NULL ? pw->pw_name : "root";
	size_t n = strlen(user) + strlen(cfg->hostname) + 2;
	char *s = xmalloc(n);
	snprintf(s, n, "%s@%s", user, cfg->hostname);
	return s;
}

/* sendmail -q: the queue subcommand with the same configuration. */
static int sm_queue(const char *config, const char *what)
{
	char *qv[5];
	int qc = 0;
	qv[qc++] = (char *)"queue";
	if (config != NULL) {
		qv[qc++] = (char *)"-c";
		qv[qc++] = (char *)config;
	}
	qv[qc++] = (char *)what;
	qv[qc] = NULL;
	return cmd_queue(qc, qv);
}

int cmd_sendmail(int argc, char **argv, const char *progname)
{
	struct sm_opts o;
	memset(&o, 0, sizeof(o));
	o.prog = progname;
	enum sm_mode mode = strcmp(progname, "mailq") == 0 ? SM_LIST : SM_SEND;
	int rc = sm_parse(argc, argv, &o, &mode);
	if (rc != EX_OK)
		return rc < 0 ? EX_OK : rc;
	const char *path = config_path_choose(o.config);
	if (mode != SM_SEND) {
		if (o.first_rcpt < argc)
			return sm_fail(&o, EX_USAGE, "unexpected argument \"%s\"", argv[o.first_rcpt]);
		if (mode == SM_LIST)
			return cmd_mailq(o.prog, path);
		return sm_queue(o.config, "flush");
	}

	struct config *cfg = NULL;
	char err[512];
	/* Any user submits: nothing secret the configuration names is read. */
	if (config_load_for_submission(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", o.prog, err);
		return EX_CONFIG;
	}

	char *sender = NULL, **rcpts = NULL, *hdr = NULL;
	size_t nr = 0, hdrlen = 0;
	struct sm_msg m = { .body_fd = -1 };
	const char *aerr = NULL;
	if (o.from == NULL)
		sender = sm_default_sender(cfg);
	else if (*o.from == '\0' || strcmp(o.from, "<>") == 0)
		sender = xstrdup("");
	else if ((sender = sm_addr(o.from, cfg->hostname, &aerr)) == NULL) {
		fprintf(stderr, "%s: bad sender address \"%s\": %s\n", o.prog, o.from,
		    aerr != NULL ? aerr : "syntax");
		rc = EX_USAGE;
		goto out;
	}
	for (int i = o.first_rcpt; i < argc; i++) {
		/* "a@b, c@d" in one argument is two recipients, as sendmail takes it */
		char *list = xstrdup(argv[i]), *save = NULL;
		for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
			char *a = sm_addr(t, cfg->hostname, &aerr);
			if (a == NULL) {
				fprintf(stderr, "%s: bad recipient address \"%s\": %s\n", o.prog, t,
				    aerr != NULL ? aerr : "syntax");
				free(list);
				rc = EX_USAGE;
				goto out;
			}
			sm_add(&rcpts, &nr, a);
		}
		free(list);
	}
	if (nr == 0 && !o.read_rcpts) {
		rc = sm_fail(&o, EX_USAGE, "no recipients given (name some, or use -t)%s", NULL);
		goto out;
	}
	if ((rc = sm_read(&o, cfg, &m)) != EX_OK)
		goto out;
	if ((rc = sm_header(&o, cfg, sender, &m, &rcpts, &nr, &hdr, &hdrlen)) != EX_OK)
		goto out;
	if (nr == 0) {
		rc = sm_fail(&o, EX_DATAERR, "no recipients: none in To, Cc or Bcc and none "
		    "given%s", NULL);
		goto out;
	}
	rc = sm_submit(&o, cfg, sender, rcpts, nr, hdr, hdrlen, &m);
out:
	if (m.body_fd >= 0)
		close(m.body_fd);
	free(m.clean);
	free(m.hdr);
	free(hdr);
	for (size_t i = 0; i < nr; i++)
		free(rcpts[i]);
	free(rcpts);
	free(sender);
	config_free(cfg);
	return rc;
}
