/*
 * cmd_send: "mxrelay send", deliver one message now, straight to each
 * recipient domain's MX hosts (or a smarthost), printing every step and
 * the final status of every recipient.
 *
 * Owns: the send options, reading the message (stdin or a file, spooled
 * to an unlinked temporary file when stdin is not a regular file so that
 * memory does not grow with the message), recipients from the header
 * (-t, Bcc removed), the live and final output (text or JSON lines) and
 * the exit status.
 * Never: takes a password from the command line or prints one; never
 * holds the whole message in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/event.h>

#include "smtp/smtp_hdrrcpt.h"
#include "commands.h"
#include "mxrelay/mxrelay.h"
#include "smtp/smtp_addr.h"
#include "smtp/smtp_dsn.h"
#include "send_progress.h"
#include "send_tls.h"
#include "term.h"
#include "util/hostname.h"
#include "util/xalloc.h"
#include "util/utf8.h"

/* Longest password taken from a file or the environment. */
#define SEND_PASS_MAX 512
/* Longest ENVID (RFC 3461 4.4 says 100 characters). */
#define SEND_ENVID_MAX 100
#define SEND_CHUNK (64u * 1024u)

struct send_opts {
	const char *from;	/* NULL: user@host */
	bool read_rcpts;
	const char *input;
	bool json;
	bool quiet;
	unsigned notify;
	struct mxr_options mx;
	enum mxr_ret ret;
	const char *envid;
	const char *pass_file;
	bool v4, v6;
	struct send_tls tls;	/* --tls, --tls-policy, --dnssec-trust-anchor, --requiretls */
};

/* The message as the engine reads it: an optional rewritten header, then the file. */
struct send_input {
	int fd;			/* owned */
	uint64_t base;		/* where the message starts in fd */
	uint64_t file_size;	/* octets of the message in fd */
	char *hdr;		/* owned: the header without Bcc (-t), or NULL */
	size_t hdrlen;
	uint64_t body_off;	/* where the part after hdr starts, from base */
	bool read_error;
};

/* What the output needs while the delivery runs. */
struct send_out {
	bool json;
	bool quiet;
	struct send_progress *progress;	/* owned: live lines on a terminal, or NULL */
	struct event_base *base;	/* the loop the delivery runs on */
	struct mxr_result *results;	/* owned: copied when the delivery is done */
	bool done;
};

static void send_usage(FILE *out)
{
	fputs("usage: mxrelay send [options] [-f SENDER] [-t] [RECIPIENT...] < MESSAGE\n"
	    "\n"
	    "  -f, --from ADDR            envelope sender (\"\" for <>; default: user@host)\n"
	    "  -t, --read-recipients      also take recipients from To, Cc and Bcc (Bcc removed)\n"
	    "  -i, --input FILE           read the message from FILE instead of standard input\n"
	    "      --helo NAME            name to give in EHLO/HELO (default: host name)\n"
	    "      --dns SERVER           DNS server address[:port] (default: system resolver)\n"
	    "      --port N               destination port (default 25; 465 with --tls implicit)\n"
	    "      --source ADDR          local address to connect from\n"
	    "  -4, -6                     IPv4 only, IPv6 only\n"
	    "      --prefer-ipv4          try IPv4 addresses before IPv6\n"
	    "      --tls POLICY           none, may, encrypt, verify, dane (default), dane-only,\n"
	    "                             mta-sts or implicit (opportunistic and required\n"
	    "                             are may and verify)\n"
	    "      --tls-policy 'DOMAIN POLICY [match=NAMES]'\n"
	    "                             DOMAIN's own policy, as a tls_policy line of\n"
	    "                             mxrelay.conf(5); may be repeated\n"
	    "      --dnssec-trust-anchor FILE|none\n"
	    "                             DS or DNSKEY records DNSSEC (and so DANE) rests on\n"
	    "                             (default: /usr/share/dns/root.key when installed)\n"
	    "      --requiretls           REQUIRETLS (RFC 8689): only over TLS that DANE,\n"
	    "                             MTA-STS or verify authenticates, to servers that\n"
	    "                             offer REQUIRETLS; else the recipient fails 5.7.10\n"
	    "      --ca-file FILE         CA bundle for certificate verification\n"
	    "      --smarthost HOST[:PORT]  relay through HOST (MX lookup), or [HOST] (no MX lookup)\n"
	    "      --auth-user USER       AUTH at the smarthost; password from --auth-password-file\n"
	    "                             or the MXRELAY_AUTH_PASSWORD environment variable\n"
	    "      --auth-password-file FILE\n"
	    "      --connect-timeout SECONDS   limit for the TCP connection (default 30)\n"
	    "      --timeout SECONDS      limit for the greeting, each command reply and the\n"
	    "                             TLS handshake (default 300; DATA 120, TLS 60)\n"
	    "      --data-timeout SECONDS limit for each block of message data (default 180)\n"
	    "                             and for the reply after its end (default 600)\n"
	    "      --notify LIST          DSN NOTIFY: NEVER or SUCCESS,FAILURE,DELAY\n"
	    "      --ret FULL|HDRS        DSN RET\n"
	    "      --envid ID             DSN ENVID\n"
	    "      --json                 events and results as JSON objects, one per line\n"
	    "  -q, --quiet                no live events or progress lines; only what did not\n"
	    "                             go through, on standard error\n"
	    "  -h, --help                 this text\n"
	    "\n"
	    "When standard error is a terminal (and without --json and --quiet), a line per\n"
	    "domain on it shows the stage, the bytes sent during DATA and the seconds\n"
	    "waited, until the results are printed.\n"
	    "\n"
	    "A message whose header says \"TLS-Required: No\" is delivered even where the\n"
	    "domain's DANE or MTA-STS policy would refuse the host (RFC 8689 5).\n"
	    "\n"
	    "Exit status: 0 all delivered, 75 some deferred, 69 some failed (none deferred),\n"
	    "64 bad arguments, 65 a header section too long to take recipients from (-t),\n"
	    "66 an unreadable or bad --dnssec-trust-anchor file, 74 the message could not\n"
	    "be read.\n", out);
}

/* Complain about an argument and return EX_USAGE. */
static int send_bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "mxrelay send: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see mxrelay send --help)\n");
	return EX_USAGE;
}

/* A decimal number in [min, max]. */
static bool send_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* "address[:port]" or "[v6]:port" with a numeric address. */
static bool send_dns_ok(const char *s)
{
	char host[128];
	const char *port = NULL;
	unsigned char buf[16];
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || (size_t)(close - s - 1) >= sizeof(host))
			return false;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return false;
		if (inet_pton(AF_INET6, host, buf) != 1)
			return false;
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return inet_pton(AF_INET6, s, buf) == 1;
		size_t n = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (n >= sizeof(host))
			return false;
		memcpy(host, s, n);
		host[n] = '\0';
		port = colon != NULL ? colon + 1 : NULL;
		if (inet_pton(AF_INET, host, buf) != 1)
			return false;
	}
	unsigned long p;
	return port == NULL || send_uint(port, 1, 65535, &p);
}

/* Read the AUTH password: first line of the file, or the environment. */
static int send_password(const struct send_opts *o, char *pass, size_t cap)
{
	if (o->pass_file != NULL) {
		FILE *f = fopen(o->pass_file, "r");
		if (f == NULL)
			return send_bad("cannot read the password file %s", o->pass_file);
		if (fgets(pass, (int)cap, f) == NULL)
			pass[0] = '\0';
		fclose(f);
		pass[strcspn(pass, "\r\n")] = '\0';
	} else {
		const char *env = getenv("MXRELAY_AUTH_PASSWORD");
		if (env == NULL)
			return send_bad("%s: --auth-user needs --auth-password-file or MXRELAY_AUTH_PASSWORD", "AUTH");
		if (strlen(env) >= cap)
			return send_bad("%s: password too long", "AUTH");
		memcpy(pass, env, strlen(env) + 1);
	}
	return EX_OK;
}

/* read_at over the rewritten header and the rest of the file. */
static ssize_t send_read_at(void *arg, uint64_t off, char *buf, size_t n)
{
	struct send_input *in = arg;
	size_t done = 0;
	if (off < in->hdrlen) {
		size_t k = in->hdrlen - (size_t)off;
		if (k > n)
			k = n;
		memcpy(buf, in->hdr + off, k);
		done = k;
		off += k;
	}
	while (done < n) {
		uint64_t foff = in->body_off + (off - in->hdrlen);
		if (foff >= in->file_size)
			break;
		ssize_t r = pread(in->fd, buf + done, n - done, (off_t)(in->base + foff));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			in->read_error = true;
			return -1;
		}
		if (r == 0)
			break;
		done += (size_t)r;
		off += (uint64_t)r;
	}
	return (ssize_t)done;
}

/* Copy a non-seekable input into an unlinked temporary file. */
static int send_spool(int src, int *out)
{
	const char *dir = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/mxrelay-send.XXXXXX", dir != NULL && *dir != '\0' ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "mxrelay send: cannot create a temporary file in %s: %s\n",
		    dir != NULL ? dir : "/tmp", strerror(errno));
		return EX_IOERR;
	}
	unlink(path);
	char *buf = xmalloc(SEND_CHUNK);
	for (;;) {
		ssize_t r = read(src, buf, SEND_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "mxrelay send: cannot read the message: %s\n", strerror(errno));
			free(buf);
			close(fd);
			return EX_IOERR;
		}
		if (r == 0)
			break;
		for (ssize_t w = 0; w < r;) {
			ssize_t k = write(fd, buf + w, (size_t)(r - w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				fprintf(stderr, "mxrelay send: cannot spool the message: %s\n", strerror(errno));
				free(buf);
				close(fd);
				return EX_IOERR;
			}
			w += k;
		}
	}
	free(buf);
	*out = fd;
	return EX_OK;
}

/* Open the message: -i FILE, standard input as it is, or stdin spooled. */
static int send_open(const struct send_opts *o, struct send_input *in)
{
	struct stat st;
	memset(in, 0, sizeof(*in));
	in->fd = -1;
	if (o->input != NULL) {
		in->fd = open(o->input, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0 || fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			int e = errno;
			if (in->fd >= 0)
				close(in->fd);
			in->fd = -1;
			fprintf(stderr, "mxrelay send: cannot read %s: %s\n", o->input,
			    e != 0 ? strerror(e) : "not a regular file");
			return EX_USAGE;
		}
		in->file_size = (uint64_t)st.st_size;
		return EX_OK;
	}
	off_t pos = lseek(0, 0, SEEK_CUR);
	if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) && pos >= 0 && pos <= st.st_size) {
		in->fd = dup(0);
		if (in->fd < 0)
			return EX_IOERR;
		in->base = (uint64_t)pos;
		in->file_size = (uint64_t)(st.st_size - pos);
		return EX_OK;
	}
	int rc = send_spool(0, &in->fd);
	if (rc != EX_OK)
		return rc;
	if (fstat(in->fd, &st) != 0)
		return EX_IOERR;
	in->file_size = (uint64_t)st.st_size;
	return EX_OK;
}

/* Whether s holds an octet >= 0x80. */
static bool send_nonascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Strip one pair of <> and check the mailbox; returns the text or NULL with *err. */
static char *send_rcpt_norm(const char *s, const char **err)
{
	size_t len = strlen(s);
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		s++;
		len -= 2;
	}
	struct smtp_addr a;
	if (smtp_addr_parse_mailbox(s, len, SMTP_ADDR_UTF8_OK, &a, err) != 0)
		return NULL;
	if (a.kind != SMTP_ADDR_MAILBOX) {
		*err = "no domain";
		return NULL;
	}
	return xstrndup(s, len);
}

/* Write s as a JSON string (NULL or "" as null when empty_null). */
static void send_json_str(FILE *f, const char *s, bool empty_null)
{
	if (s == NULL || (empty_null && *s == '\0')) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		size_t u = *p >= 0x80 ? utf8_seq_len((const char *)p, strlen((const char *)p)) : 0;
		if (u > 0) {
			fwrite(p, 1, u, f);
			p += u;
			continue;
		}
		unsigned char c = *p++;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (c >= 0x80)
			fputs("\\ufffd", f);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Write s for a text line: quotes and backslashes escaped. */
static void send_text_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* One live event: into the progress lines, and as a line of its own unless quiet. */
static void send_on_event(const struct mxr_event *e, void *arg)
{
	struct send_out *o = arg;
	send_progress_event(o->progress, e);
	/* The lines and objects of the output are steps; measurements are for the live lines. */
	if (o->quiet || e->kind != MXR_EVENT_STEP)
		return;
	if (send_progress_shared(o->progress))
		send_progress_clear(o->progress);
	if (o->json) {
		fputs("{\"type\":\"event\",\"rcpt\":", stdout);
		send_json_str(stdout, e->rcpt, false);
		fputs(",\"domain\":", stdout);
		send_json_str(stdout, e->domain, false);
		printf(",\"stage\":\"%s\",\"status\":\"%s\",\"mx\":", mxr_stage_name(e->stage),
		    mxr_status_name(e->status));
		send_json_str(stdout, e->mx_host, true);
		fputs(",\"ip\":", stdout);
		send_json_str(stdout, e->mx_ip, true);
		printf(",\"code\":%d,\"esc\":", e->code);
		send_json_str(stdout, e->esc, false);
		fputs(",\"text\":", stdout);
		send_json_str(stdout, e->text, false);
		if (e->stage == MXR_STAGE_TLS || e->stage == MXR_STAGE_DONE)
			printf(",\"tls_policy\":\"%s\",\"tls_auth\":\"%s\"",
			    send_tls_applied(e->tls_policy, e->tls_testing), mxr_tls_auth_name(e->tls_auth));
		fputs("}\n", stdout);
	} else {
		printf("rcpt=<%s> stage=%s status=%s mx=%s ip=%s code=%d esc=%s text=", e->rcpt,
		    mxr_stage_name(e->stage), mxr_status_name(e->status),
		    e->mx_host != NULL ? e->mx_host : "-", e->mx_ip != NULL ? e->mx_ip : "-", e->code,
		    e->esc != NULL && *e->esc != '\0' ? e->esc : "-");
		send_text_str(stdout, e->text);
		fputc('\n', stdout);
	}
	fflush(stdout);
}

/* The results, as JSON lines or as a table. */
static void send_print_results(const struct send_out *o, const struct mxr_result *r, size_t n)
{
	if (o->json) {
		for (size_t i = 0; i < n; i++) {
			fputs("{\"type\":\"result\",\"rcpt\":", stdout);
			send_json_str(stdout, r[i].rcpt, false);
			fputs(",\"domain\":", stdout);
			send_json_str(stdout, r[i].domain, false);
			printf(",\"status\":\"%s\",\"stage\":\"%s\",\"code\":%d,\"esc\":",
			    mxr_status_name(r[i].status), mxr_stage_name(r[i].stage), r[i].code);
			send_json_str(stdout, r[i].esc, false);
			fputs(",\"text\":", stdout);
			send_json_str(stdout, r[i].text, false);
			fputs(",\"mx\":", stdout);
			send_json_str(stdout, r[i].mx_host, true);
			fputs(",\"ip\":", stdout);
			send_json_str(stdout, r[i].mx_ip, true);
			printf(",\"tls\":%s,\"tls_policy\":\"%s\",\"tls_auth\":\"%s\",\"dsn_passed\":%s}\n",
			    r[i].tls ? "true" : "false", send_tls_applied(r[i].tls_policy, r[i].tls_testing),
			    mxr_tls_auth_name(r[i].tls_auth), r[i].dsn_passed ? "true" : "false");
		}
		fflush(stdout);
		return;
	}
	if (o->quiet) {
		/* Quiet: only what did not go through, on standard error. */
		for (size_t i = 0; i < n; i++)
			if (r[i].status != MXR_DELIVERED)
				fprintf(stderr, "mxrelay send: <%s> %s: %d %s %s\n", r[i].rcpt,
				    mxr_status_name(r[i].status), r[i].code, r[i].esc, r[i].text);
		return;
	}
	int w_rcpt = 9, w_mx = 2;
	for (size_t i = 0; i < n; i++) {
		int a = (int)strlen(r[i].rcpt) + 2;
		int m = (int)strlen(r[i].mx_host);
		w_rcpt = a > w_rcpt ? a : w_rcpt;
		w_mx = m > w_mx ? m : w_mx;
	}
	printf("%-*s  %-9s  %-4s  %-7s  %-*s  %-20s  %s\n", w_rcpt, "RECIPIENT", "STATUS", "CODE",
	    "ESC", w_mx, "MX", "TLS", "TEXT");
	for (size_t i = 0; i < n; i++) {
		char rc[340], code[8], tls[48];
		snprintf(rc, sizeof(rc), "<%s>", r[i].rcpt);
		snprintf(code, sizeof(code), "%d", r[i].code);
		/* The policy that applied and what authenticated the host: "dane/dane", "may/none". */
		snprintf(tls, sizeof(tls), "%s/%s", send_tls_applied(r[i].tls_policy, r[i].tls_testing),
		    r[i].tls ? mxr_tls_auth_name(r[i].tls_auth) : "plain");
		printf("%-*s  %-9s  %-4s  %-7s  %-*s  %-20s  %s\n", w_rcpt, rc,
		    mxr_status_name(r[i].status), r[i].code != 0 ? code : "-",
		    r[i].esc[0] != '\0' ? r[i].esc : "-", w_mx,
		    r[i].mx_host[0] != '\0' ? r[i].mx_host : "-", tls, r[i].text);
	}
	fflush(stdout);
}

/* The exit status the results call for. */
static int send_exit_status(const struct mxr_result *r, size_t n)
{
	bool deferred = false, failed = false;
	for (size_t i = 0; i < n; i++) {
		if (r[i].status == MXR_TEMPFAIL || r[i].status == MXR_PENDING)
			deferred = true;
		else if (r[i].status == MXR_PERMFAIL)
			failed = true;
	}
	if (deferred)
		return EX_TEMPFAIL;
	return failed ? EX_UNAVAILABLE : EX_OK;
}

enum {
	OPT_HELO = 256, OPT_DNS, OPT_PORT, OPT_SOURCE, OPT_PREFER4, OPT_TLS, OPT_CA,
	OPT_SMARTHOST, OPT_AUTH_USER, OPT_AUTH_PASS_FILE, OPT_CONNECT_TO, OPT_TIMEOUT,
	OPT_DATA_TO, OPT_NOTIFY, OPT_RET, OPT_ENVID, OPT_JSON, OPT_TLS_POLICY, OPT_ANCHOR,
	OPT_REQUIRETLS,
};

static const struct option send_longopts[] = {
	{ "from", required_argument, NULL, 'f' },
	{ "read-recipients", no_argument, NULL, 't' },
	{ "input", required_argument, NULL, 'i' },
	{ "helo", required_argument, NULL, OPT_HELO },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "prefer-ipv4", no_argument, NULL, OPT_PREFER4 },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "tls-policy", required_argument, NULL, OPT_TLS_POLICY },
	{ "dnssec-trust-anchor", required_argument, NULL, OPT_ANCHOR },
	{ "requiretls", no_argument, NULL, OPT_REQUIRETLS },
	{ "ca-file", required_argument, NULL, OPT_CA },
	{ "smarthost", required_argument, NULL, OPT_SMARTHOST },
	{ "auth-user", required_argument, NULL, OPT_AUTH_USER },
	{ "auth-password-file", required_argument, NULL, OPT_AUTH_PASS_FILE },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TO },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "data-timeout", required_argument, NULL, OPT_DATA_TO },
	{ "notify", required_argument, NULL, OPT_NOTIFY },
	{ "ret", required_argument, NULL, OPT_RET },
	{ "envid", required_argument, NULL, OPT_ENVID },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Parse the options into o; returns EX_OK, EX_USAGE, or -1 after --help. */
static int send_parse(int argc, char **argv, struct send_opts *o)
{
	unsigned long v;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":f:ti:46qh", send_longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o->from = optarg; break;
		case 't': o->read_rcpts = true; break;
		case 'i': o->input = optarg; break;
		case '4': o->v4 = true; break;
		case '6': o->v6 = true; break;
		case 'q': o->quiet = true; break;
		case 'h': send_usage(stdout); return -1;
		case OPT_HELO: o->mx.helo_name = optarg; break;
		case OPT_DNS:
			if (!send_dns_ok(optarg))
				return send_bad("--dns wants address[:port], not \"%s\"", optarg);
			o->mx.dns_server = optarg;
			break;
		case OPT_PORT:
			if (!send_uint(optarg, 1, 65535, &v))
				return send_bad("--port wants 1..65535, not \"%s\"", optarg);
			o->mx.port = (uint16_t)v;
			break;
		case OPT_SOURCE: o->mx.source_addr = optarg; break;
		case OPT_PREFER4: o->mx.family = MXR_FAMILY_PREFER_V4; break;
		case OPT_TLS:
			if (send_tls_level(&o->tls, optarg) != EX_OK)
				return EX_USAGE;
			break;
		case OPT_TLS_POLICY:
			if (send_tls_policy(&o->tls, optarg) != EX_OK)
				return EX_USAGE;
			break;
		case OPT_ANCHOR: o->tls.anchor_file = optarg; break;
		case OPT_REQUIRETLS: o->tls.requiretls = true; break;
		case OPT_CA:
			if (access(optarg, R_OK) != 0)
				return send_bad("cannot read the CA file %s", optarg);
			o->mx.ca_file = optarg;
			break;
		case OPT_SMARTHOST: o->mx.smarthost = optarg; break;
		case OPT_AUTH_USER: o->mx.auth_user = optarg; break;
		case OPT_AUTH_PASS_FILE: o->pass_file = optarg; break;
		case OPT_CONNECT_TO:
			if (!send_uint(optarg, 1, 86400, &v))
				return send_bad("--connect-timeout wants 1..86400 seconds, not \"%s\"", optarg);
			o->mx.timeouts.connect = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if (!send_uint(optarg, 1, 86400, &v))
				return send_bad("--timeout wants 1..86400 seconds, not \"%s\"", optarg);
			o->mx.timeouts.greeting = o->mx.timeouts.helo = o->mx.timeouts.tls = (unsigned)v;
			o->mx.timeouts.mail = o->mx.timeouts.rcpt = o->mx.timeouts.data_init = (unsigned)v;
			break;
		case OPT_DATA_TO:
			if (!send_uint(optarg, 1, 86400, &v))
				return send_bad("--data-timeout wants 1..86400 seconds, not \"%s\"", optarg);
			o->mx.timeouts.data_block = o->mx.timeouts.data_term = (unsigned)v;
			break;
		case OPT_NOTIFY:
			o->notify = smtp_dsn_notify_parse(optarg, strlen(optarg), NULL);
			if (o->notify == 0)
				return send_bad("--notify wants NEVER or SUCCESS,FAILURE,DELAY, not \"%s\"", optarg);
			break;
		case OPT_RET:
			o->ret = (enum mxr_ret)smtp_dsn_ret_parse(optarg, strlen(optarg));
			if (o->ret == MXR_RET_UNSET)
				return send_bad("--ret wants FULL or HDRS, not \"%s\"", optarg);
			break;
		case OPT_ENVID:
			if (*optarg == '\0' || strlen(optarg) > SEND_ENVID_MAX)
				return send_bad("--envid wants 1..100 printable characters: \"%s\"", optarg);
			for (const char *p = optarg; *p != '\0'; p++)
				if (*p < 0x20 || *p > 0x7e)
					return send_bad("--envid wants printable ASCII: \"%s\"", optarg);
			o->envid = optarg;
			break;
		case OPT_JSON: o->json = true; break;
		case ':':
			return send_bad("option %s needs a value", argv[optind - 1]);
		default:
			return send_bad("unknown option %s", argv[optind - 1]);
		}
	}
	if (o->v4 && o->v6)
		return send_bad("%s: -4 and -6 exclude each other", "-4/-6");
	if (o->v4)
		o->mx.family = MXR_FAMILY_V4_ONLY;
	if (o->v6)
		o->mx.family = MXR_FAMILY_V6_ONLY;
	if (o->mx.auth_user != NULL && o->mx.smarthost == NULL)
		return send_bad("%s: --auth-user needs --smarthost", "AUTH");
	if (o->pass_file != NULL && o->mx.auth_user == NULL)
		return send_bad("%s: --auth-password-file needs --auth-user", "AUTH");
	return send_tls_apply(&o->tls, &o->mx);
}

/* The default sender: the user's name at the host's name. */
static char *send_default_sender(void)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *user = pw != NULL && pw->pw_name != NULL ? pw->pw_name : "root";
	char *host = hostname_fqdn();
	size_t n = strlen(user) + strlen(host) + 2;
	char *s = xmalloc(n);
	snprintf(s, n, "%s@%s", user, host);
	free(host);
	return s;
}

/*
 * The envelope sender for -f from: the default when not given, the null
 * sender for "" or "<>", else the address checked; NULL when it is bad.
 */
static char *send_sender(const char *from)
{
	if (from == NULL)
		return send_default_sender();
	if (*from == '\0' || strcmp(from, "<>") == 0)
		return xstrdup("");
	const char *err = NULL;
	return send_rcpt_norm(from, &err);
}

/* Add addr to the list unless it is there already. */
static void send_add_rcpt(char ***list, size_t *n, size_t *cap, char *addr)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*list)[i], addr) == 0) {
			free(addr);
			return;
		}
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*list = xreallocarray(*list, *cap, sizeof(**list));
	}
	(*list)[(*n)++] = addr;
}

/* Take the header section for -t: recipients out, Bcc removed. */
static int send_read_header(struct send_input *in, char ***list, size_t *n, size_t *cap)
{
	size_t want = in->file_size < SMTP_HDRRCPT_MAX ? (size_t)in->file_size : SMTP_HDRRCPT_MAX;
	char *buf = xmalloc(want + 1);
	ssize_t got = send_read_at(in, 0, buf, want);
	if (got < 0) {
		free(buf);
		fprintf(stderr, "mxrelay send: cannot read the message: %s\n", strerror(errno));
		return EX_IOERR;
	}
	size_t end = smtp_hdrrcpt_end(buf, (size_t)got);
	if (end == 0) {
		if ((uint64_t)got < in->file_size) {
			free(buf);
			fprintf(stderr, "mxrelay send: the header section is longer than %u octets\n",
			    SMTP_HDRRCPT_MAX);
			return EX_DATAERR;
		}
		end = (size_t)got;	/* a message that is all header */
	}
	struct smtp_hdrrcpt hr;
	smtp_hdrrcpt_parse(buf, end, &hr);
	free(buf);
	for (size_t i = 0; i < hr.n; i++) {
		const char *err = NULL;
		char *a = send_rcpt_norm(hr.addrs[i], &err);
		if (a == NULL) {
			fprintf(stderr, "mxrelay send: bad recipient address \"%s\" in the header: %s\n",
			    hr.addrs[i], err != NULL ? err : "syntax");
			smtp_hdrrcpt_free(&hr);
			return EX_USAGE;
		}
		send_add_rcpt(list, n, cap, a);
	}
	in->hdr = hr.header;
	in->hdrlen = hr.header_len;
	in->body_off = end;
	hr.header = NULL;
	smtp_hdrrcpt_free(&hr);
	return EX_OK;
}

/* The delivery is over: keep the results and leave the loop. */
static void send_on_done(const struct mxr_result *results, size_t n, void *arg)
{
	struct send_out *o = arg;
	o->results = xcalloc(n ? n : 1, sizeof(*results));
	memcpy(o->results, results, n * sizeof(*results));
	o->done = true;
	/* The resolver may keep events registered: stop the loop explicitly. */
	event_base_loopbreak(o->base);
}

/*
 * Deliver msg on a loop of our own, with the live lines on a terminal
 * (their timer shares the loop). out->results gets one result per
 * recipient; -1 with err when the options are refused.
 */
static int send_deliver(struct send_out *out, const struct mxr_options *opt,
    const struct mxr_message *msg, char *err, size_t errlen)
{
	out->base = event_base_new();
	if (out->base == NULL) {
		snprintf(err, errlen, "cannot create an event loop");
		return -1;
	}
	struct mxr_context *ctx = mxr_context_new(out->base, opt, err, errlen);
	if (ctx == NULL) {
		event_base_free(out->base);
		return -1;
	}
	if (!out->json && !out->quiet && term_progress_wanted())
		out->progress = send_progress_new(out->base, msg, term_stdout_shares_stderr());
	mxr_delivery_start(ctx, msg, send_on_event, send_on_done, out);
	while (!out->done)
		if (event_base_loop(out->base, EVLOOP_ONCE) != 0)
			break;
	/* The lines go before the table takes their place. */
	send_progress_free(out->progress);
	out->progress = NULL;
	mxr_context_free(ctx);
	event_base_free(out->base);
	out->base = NULL;
	if (!out->done) {
		snprintf(err, errlen, "the event loop failed");
		return -1;
	}
	return 0;
}

int cmd_send(int argc, char **argv)
{
	struct send_opts o;
	memset(&o, 0, sizeof(o));
	int rc = send_parse(argc, argv, &o);
	if (rc != EX_OK) {
		send_tls_free(&o.tls);
		return rc < 0 ? EX_OK : rc;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	char pass[SEND_PASS_MAX];
	pass[0] = '\0';
	if (o.mx.auth_user != NULL) {
		rc = send_password(&o, pass, sizeof(pass));
		if (rc != EX_OK)
			return rc;
		o.mx.auth_pass = pass;
	}

	char *sender = send_sender(o.from);
	if (sender == NULL) {
		rc = send_bad("bad sender address \"%s\"", o.from);
		goto out_pass;
	}

	char **rcpts = NULL;
	size_t nr = 0, cap = 0;
	for (int i = optind; i < argc; i++) {
		const char *err = NULL;
		char *a = send_rcpt_norm(argv[i], &err);
		if (a == NULL) {
			fprintf(stderr, "mxrelay send: bad recipient address \"%s\": %s\n", argv[i],
			    err != NULL ? err : "syntax");
			rc = EX_USAGE;
			goto out_rcpts;
		}
		send_add_rcpt(&rcpts, &nr, &cap, a);
	}
	if (nr == 0 && !o.read_rcpts) {
		rc = send_bad("%s: no recipients given (name some, or use -t)", "send");
		goto out_rcpts;
	}

	struct send_input in;
	rc = send_open(&o, &in);
	if (rc != EX_OK)
		goto out_rcpts;
	if (o.read_rcpts) {
		rc = send_read_header(&in, &rcpts, &nr, &cap);
		if (rc != EX_OK)
			goto out_input;
		if (nr == 0) {
			rc = send_bad("%s: no recipients in To, Cc or Bcc and none given", "-t");
			goto out_input;
		}
	}

	struct mxr_message msg;
	memset(&msg, 0, sizeof(msg));
	msg.sender = sender;
	msg.src.read_at = send_read_at;
	msg.src.arg = &in;
	msg.src.size = in.hdrlen + (in.file_size - in.body_off);
	msg.ret = o.ret;
	msg.envid = o.envid;
	/* One pass: 8-bit content, and the size SIZE declares (RFC 1870). */
	if (mxr_source_scan(&msg.src, &msg.wire_size, &msg.body_8bit) != 0) {
		rc = EX_IOERR;
		fprintf(stderr, "mxrelay send: cannot read the message: %s\n", strerror(errno));
		goto out_input;
	}
	msg.smtputf8 = send_nonascii(sender);
	msg.requiretls = o.tls.requiretls;
	msg.tls_optional = send_tls_header_optional(&msg.src);
	struct mxr_rcpt *mr = xcalloc(nr, sizeof(*mr));
	for (size_t i = 0; i < nr; i++) {
		mr[i].address = rcpts[i];
		mr[i].notify = o.notify;
		if (send_nonascii(rcpts[i]))
			msg.smtputf8 = true;
	}
	msg.rcpts = mr;
	msg.nrcpts = nr;

	struct send_out out = { .json = o.json, .quiet = o.quiet };
	char err[256];
	if (send_deliver(&out, &o.mx, &msg, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxrelay send: %s\n", err);
		rc = EX_USAGE;
	} else if (in.read_error) {
		send_print_results(&out, out.results, nr);
		fprintf(stderr, "mxrelay send: reading the message failed during delivery\n");
		rc = EX_IOERR;
	} else {
		send_print_results(&out, out.results, nr);
		rc = send_exit_status(out.results, nr);
	}
	free(out.results);
	free(mr);
out_input:
	free(in.hdr);
	if (in.fd >= 0)
		close(in.fd);
out_rcpts:
	for (size_t i = 0; i < nr; i++)
		free(rcpts[i]);
	free(rcpts);
	free(sender);
out_pass:
	explicit_bzero(pass, sizeof(pass));
	send_tls_free(&o.tls);
	return rc;
}
