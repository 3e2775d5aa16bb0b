/*
 * cmd_tlsrpt: `mxrelay tlsrpt list|send`, the running daemon's TLS
 * reporting (RFC 8460): the TLS results counted for a day, per policy
 * domain, and making and sending that day's reports now.
 *
 * Owns: the day named on the command line (YYYY-MM-DD, today or
 * yesterday, in UTC), the request over the control socket and the exit
 * status: 0 done, 1 some reports could not be sent, 64 a usage error, 69
 * no daemon answers or it makes no reports, 77 the socket refuses us, 78 a
 * configuration file that does not load.
 * Never: reads the store itself (the counts of the last minute are in the
 * daemon's memory); sends anything itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "daemon_args.h"
#include "config/config.h"
#include "control/control.h"
#include "control/control_reply.h"

static const char tlsrpt_usage[] =
    "usage: mxrelay tlsrpt list [--day DAY] [--json] [-c FILE | -s SOCKET]\n"
    "       mxrelay tlsrpt send [--day DAY] [-c FILE | -s SOCKET]\n"
    "  list                the TLS results counted for DAY, per policy domain, policy\n"
    "                      and result (default: today)\n"
    "  send                make DAY's TLS reports now and send them to the addresses\n"
    "                      each domain's _smtp._tls record names (default: yesterday;\n"
    "                      for a day not yet over, the results stay for its report)\n"
    "  -d, --day DAY       YYYY-MM-DD, today or yesterday (UTC)\n"
    "  -j, --json          list: a JSON array\n"
    "  -c, --config FILE   the daemon's configuration, to find its control socket\n"
    "                      (default " MXR_CONFIG_FILE ",\n"
    "                      or the embedded default when that file does not exist)\n"
    "  -s, --socket PATH   the control socket itself\n"
    "Exit status: 0 done, 1 some reports were not sent, 64 bad arguments,\n"
    "69 no daemon answers or it makes no reports, 77 not allowed, 78 the\n"
    "configuration does not load.\n";

/* DAY as "YYYY-MM-DD" into out, with today and yesterday (UTC); false when it is none. */
static bool tlsrpt_day(const char *day, bool send, char *out, size_t cap)
{
	time_t now = time(NULL);
	if (day == NULL)
		day = send ? "yesterday" : "today";
	if (strcmp(day, "today") == 0 || strcmp(day, "yesterday") == 0) {
		time_t t = now - (strcmp(day, "yesterday") == 0 ? 86400 : 0);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(out, cap, "%Y-%m-%d", &tm);
		return true;
	}
	int64_t d;
	if (!control_day_parse(day, &d))
		return false;
	snprintf(out, cap, "%s", day);
	return true;
}

/* Send the request and print the answer: the exit status. */
static int tlsrpt_ask(const char *path, enum control_verb verb, const char *day)
{
	char req[64];
	snprintf(req, sizeof(req), "%s %s\n", control_verb_name(verb), day);
	char *body;
	size_t blen;
	struct control_reply reply;
	const char *why = NULL;
	int e = 0;
	/* Reports take as long as their lookups and uploads: no deadline for send. */
	int got = daemon_args_ask(path, req, verb, verb == CONTROL_TLSRPT_SEND ? 0 : 30000, &reply,
	    &body, &blen, &e, &why);
	if (got < 0) {
		fprintf(stderr, "mxrelay tlsrpt: %s: %s\n", path, strerror(e));
		return e == EACCES || e == EPERM ? EX_NOPERM : EX_UNAVAILABLE;
	}
	int rc;
	if (got != 0) {
		fprintf(stderr, "mxrelay tlsrpt: daemon at %s: %s\n", path, why);
		rc = EX_UNAVAILABLE;
	} else if (reply.status == CONTROL_OK) {
		fwrite(body, 1, blen, stdout);
		rc = EX_OK;
	} else if (reply.status == CONTROL_E_PARTIAL) {
		fwrite(body, 1, blen, stdout);
		fprintf(stderr, "mxrelay tlsrpt: %s\n", reply.text);
		rc = 1;
	} else {
		fprintf(stderr, "mxrelay tlsrpt: %s\n", reply.text);
		rc = reply.status == CONTROL_E_USAGE ? EX_UNAVAILABLE : EX_SOFTWARE;
	}
	free(body);
	return rc;
}

/*
 * The action word (list or send) wherever it stands among the options
 * ("mxrelay -c FILE tlsrpt list" comes as "tlsrpt -c FILE list"): its
 * index, or 0 when there is none. A value of -c, -s or -d is no action.
 */
static int tlsrpt_action(int argc, char **argv)
{
	static const char *const with_value[] = { "-c", "-s", "-d", "--config", "--socket", "--day" };
	for (int i = 1; i < argc; i++) {
		bool value = false;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			value = value || strcmp(argv[i - 1], with_value[k]) == 0;
		if (!value && (strcmp(argv[i], "list") == 0 || strcmp(argv[i], "send") == 0))
			return i;
	}
	return 0;
}

int cmd_tlsrpt(int argc, char **argv)
{
	int at = tlsrpt_action(argc, argv);
	if (at == 0) {
		bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
		fputs(tlsrpt_usage, help ? stdout : stderr);
		return help ? EX_OK : EX_USAGE;
	}
	bool send = strcmp(argv[at], "send") == 0;
	/* The options without the action word, for the shared parser. */
	char **rest = calloc((size_t)argc, sizeof(char *));
	if (rest == NULL)
		return EX_OSERR;
	int n = 0;
	for (int i = 0; i < argc; i++)
		if (i != at)
			rest[n++] = argv[i];
	struct daemon_args a;
	int rc = daemon_args_parse(n, rest, tlsrpt_usage,
	    DAEMON_ARGS_DAY | (send ? 0 : DAEMON_ARGS_JSON), &a);
	free(rest);
	if (rc >= 0)
		return rc;
	char day[16];
	if (!tlsrpt_day(a.day, send, day, sizeof(day))) {
		fprintf(stderr, "mxrelay tlsrpt: --day wants YYYY-MM-DD, today or yesterday, not \"%s\"\n",
		    a.day);
		return EX_USAGE;
	}
	struct config *cfg = NULL;
	char err[1024];
	const char *sock = daemon_args_socket(&a, &cfg, err, sizeof(err));
	if (sock == NULL) {
		fprintf(stderr, "mxrelay tlsrpt: %s\n", err);
		return EX_CONFIG;
	}
	enum control_verb verb = send ? CONTROL_TLSRPT_SEND :
	    a.json ? CONTROL_TLSRPT_LIST_JSON : CONTROL_TLSRPT_LIST;
	rc = tlsrpt_ask(sock, verb, day);
	config_free(cfg);
	return rc;
}
