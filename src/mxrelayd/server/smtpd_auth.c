/*
 * smtpd_auth: AUTH PLAIN and LOGIN for the SMTP server (RFC 4954).
 *
 * Owns: the exchange state of one AUTH command, the worker threads that
 * run auth_db_check (crypt takes tens of milliseconds; one detached
 * thread per check, at most SMTPD_AUTH_MAX_JOBS at once, the answer
 * handed back to the loop with event_active), the failure delay timer
 * (1 s, 2 s, 4 s... with input paused), the failure limit per session,
 * and telling the failure table of the daemon about each failure so that
 * a client at auth_failure_limit is refused AUTH whatever session it uses.
 * Never: logs a password or a decoded or encoded AUTH payload; clears
 * password buffers after use; never touches a session from a worker thread.
 */
#include "smtpd_auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "policy/auth_db.h"
#include "smtpd_authfail.h"
#include "util/log.h"
#include "util/xalloc.h"

enum smtpd_auth_step {
	SMTPD_AUTH_PLAIN,	/* waiting for the PLAIN response */
	SMTPD_AUTH_LOGIN_USER,	/* waiting for the LOGIN user name */
	SMTPD_AUTH_LOGIN_PASS,	/* waiting for the LOGIN password */
	SMTPD_AUTH_CHECKING,	/* a worker checks the password */
};

/* One password check; the worker reads user/pass and writes ok, nothing else. */
struct smtpd_auth_job {
	struct event *done;		/* owned; activated by the worker */
	struct smtpd_session *s;	/* NULL once the session left (loop thread only) */
	struct smtpd_ctx *ctx;		/* borrowed */
	const struct auth_db *db;	/* borrowed; outlives every job (main waits) */
	char user[SMTPD_AUTH_USER_MAX + 1];
	char pass[SMTPD_AUTH_PASS_MAX + 1];
	bool ok;
};

struct smtpd_auth {
	enum smtpd_auth_step step;
	const char *mech;		/* "PLAIN" or "LOGIN", for logs */
	char user[SMTPD_AUTH_USER_MAX + 1];
	struct smtpd_auth_job *job;	/* running check, or NULL; freed by its done callback */
};

static int smtpd_auth_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int smtpd_auth_b64_decode(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + (size_t)k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = smtpd_auth_b64_val(c)) < 0)
				return -1;
		}
		unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
		    ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		int nout = 3 - pad;
		/* Strict (RFC 4648 3.5): the bits under the padding must be zero. */
		if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0))
			return -1;
		if (o + (size_t)nout > outlen)
			return -1;
		out[o++] = (char)(w >> 16);
		if (nout > 1)
			out[o++] = (char)(w >> 8);
		if (nout > 2)
			out[o++] = (char)w;
	}
	return (int)o;
}

bool smtpd_auth_plain_split(const char *buf, size_t len, char *user, size_t ulen,
    char *pass, size_t plen)
{
	const char *z1 = memchr(buf, '\0', len);
	if (z1 == NULL)
		return false;
	const char *authc = z1 + 1;
	size_t rest = len - (size_t)(authc - buf);
	const char *z2 = memchr(authc, '\0', rest);
	if (z2 == NULL)
		return false;
	size_t zlen = (size_t)(z1 - buf), ulen_in = (size_t)(z2 - authc);
	const char *pw = z2 + 1;
	size_t plen_in = len - (size_t)(pw - buf);
	if (ulen_in == 0 || ulen_in >= ulen || plen_in >= plen || memchr(pw, '\0', plen_in) != NULL)
		return false;
	if (zlen != 0 && (zlen != ulen_in || memcmp(buf, authc, zlen) != 0))
		return false;
	memcpy(user, authc, ulen_in);
	user[ulen_in] = '\0';
	memcpy(pass, pw, plen_in);
	pass[plen_in] = '\0';
	return true;
}

void smtpd_auth_free(struct smtpd_auth *a)
{
	if (a == NULL)
		return;
	if (a->job != NULL)
		a->job->s = NULL;
	explicit_bzero(a, sizeof(*a));
	free(a);
}

/* End the exchange and go back to taking commands. */
static void smtpd_auth_end(struct smtpd_session *s)
{
	smtpd_auth_free(s->auth);
	s->auth = NULL;
	smtpd_session_set_state(s, SMTPD_S_READY);
}

void smtpd_auth_detach(struct smtpd_session *s)
{
	smtpd_auth_free(s->auth);
	s->auth = NULL;
}

/* The failure delay is over: answer 535, or drop a client out of tries. */
static void smtpd_auth_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;
	(void)fd;
	(void)what;
	smtpd_auth_end(s);
	if (s->auth_failures >= SMTPD_AUTH_MAX_FAILURES) {
		s->wait = SMTPD_WAIT_NONE;
		smtpd_session_close_reply(s, 421, "4.7.0", "Too many authentication failures",
		    "auth failures");
		return;
	}
	smtpd_session_reply(s, 535, "5.7.8", "Authentication credentials invalid");
	smtpd_session_resume(s);
}

/* Milliseconds of a clock that never steps back, for the failure windows. */
static uint64_t smtpd_auth_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A check failed: wait 1 s, 2 s, 4 s... before saying so, reading nothing meanwhile. */
static void smtpd_auth_failed(struct smtpd_session *s)
{
	s->auth_failures++;
	if (s->ctx->authfail != NULL)
		(void)smtpd_authfail_record(s->ctx->authfail, (const struct sockaddr *)&s->peer,
		    smtpd_auth_now_ms());
	unsigned shift = s->auth_failures - 1 < 4 ? s->auth_failures - 1 : 4;
	struct timeval tv = { .tv_sec = 1L << shift, .tv_usec = 0 };
	if (s->timer == NULL)
		s->timer = evtimer_new(s->ctx->base, smtpd_auth_delay_done, s);
	if (s->timer == NULL)
		fatal("smtpd_auth: out of memory creating a timer");
	evtimer_add(s->timer, &tv);
}

/* On the loop: a worker finished a check. */
static void smtpd_auth_job_done(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_auth_job *j = arg;
	struct smtpd_session *s = j->s;
	(void)fd;
	(void)what;
	j->ctx->auth_jobs--;
	bool ok = j->ok;
	char user[sizeof(j->user)], puser[sizeof(j->user) * 4];
	memcpy(user, j->user, sizeof(user));
	event_free(j->done);
	explicit_bzero(j, sizeof(*j));
	free(j);
	if (s == NULL)
		return;
	const char *mech = s->auth->mech;
	s->auth->job = NULL;
	log_printable(puser, sizeof(puser), user, strlen(user));
	if (ok) {
		s->auth_user = xstrdup(user);
		log_msg(LOG_LVL_INFO, "session=%s event=auth mech=%s user=\"%s\" result=ok", s->id,
		    mech, puser);
		smtpd_auth_end(s);
		smtpd_session_reply(s, 235, "2.7.0", "Authentication successful");
		s->wait = SMTPD_WAIT_NONE;
		smtpd_session_resume(s);
		return;
	}
	log_msg(LOG_LVL_WARN, "session=%s event=auth mech=%s user=\"%s\" result=failed client=%s failures=%u",
	    s->id, mech, puser, s->peer_ip, s->auth_failures + 1);
	s->wait = SMTPD_WAIT_NONE;
	smtpd_session_wait(s, SMTPD_WAIT_DELAY);
	smtpd_auth_failed(s);
}

/* Worker thread: run the slow check, then wake the loop. */
static void *smtpd_auth_worker(void *arg)
{
	struct smtpd_auth_job *j = arg;
	j->ok = auth_db_check(j->db, j->user, j->pass);
	explicit_bzero(j->pass, sizeof(j->pass));
	event_active(j->done, EV_TIMEOUT, 1);
	return NULL;
}

/* Check user/pass on a worker thread; the session waits for the answer. */
static void smtpd_auth_check(struct smtpd_session *s, const char *user, const char *pass)
{
	struct smtpd_ctx *ctx = s->ctx;
	if (ctx->auth_jobs >= SMTPD_AUTH_MAX_JOBS) {
		smtpd_auth_end(s);
		smtpd_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	struct smtpd_auth_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->ctx = ctx;
	j->db = ctx->auth;
	snprintf(j->user, sizeof(j->user), "%s", user);
	snprintf(j->pass, sizeof(j->pass), "%s", pass);
	j->done = event_new(ctx->base, -1, 0, smtpd_auth_job_done, j);
	if (j->done == NULL)
		fatal("smtpd_auth: out of memory creating an event");
	pthread_t tid;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&tid, &attr, smtpd_auth_worker, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		warnx_log("session=%s event=auth-thread-failed error=%d", s->id, rc);
		event_free(j->done);
		explicit_bzero(j, sizeof(*j));
		free(j);
		smtpd_auth_end(s);
		smtpd_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	ctx->auth_jobs++;
	s->auth->job = j;
	s->auth->step = SMTPD_AUTH_CHECKING;
	smtpd_session_wait(s, SMTPD_WAIT_AUTH);
}

/* Decode a PLAIN response and check it. */
static void smtpd_auth_plain(struct smtpd_session *s, const char *b64, size_t len)
{
	char buf[SMTPD_AUTH_USER_MAX * 2 + SMTPD_AUTH_PASS_MAX + 3];
	char user[SMTPD_AUTH_USER_MAX + 1], pass[SMTPD_AUTH_PASS_MAX + 1];
	int n = len == 1 && b64[0] == '=' ? 0 : smtpd_auth_b64_decode(b64, len, buf, sizeof(buf));
	if (n < 0) {
		smtpd_auth_end(s);
		smtpd_session_reply(s, 501, "5.5.2", "Cannot decode AUTH response");
		return;
	}
	if (!smtpd_auth_plain_split(buf, (size_t)n, user, sizeof(user), pass, sizeof(pass))) {
		explicit_bzero(buf, sizeof(buf));
		/* A malformed PLAIN response counts as a failed attempt. */
		snprintf(s->auth->user, sizeof(s->auth->user), "%s", "");
		s->auth->step = SMTPD_AUTH_CHECKING;
		log_msg(LOG_LVL_WARN, "session=%s event=auth mech=PLAIN result=failed reason=malformed client=%s failures=%u",
		    s->id, s->peer_ip, s->auth_failures + 1);
		smtpd_session_wait(s, SMTPD_WAIT_DELAY);
		smtpd_auth_failed(s);
		return;
	}
	smtpd_auth_check(s, user, pass);
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(pass, sizeof(pass));
}

/* Decode one LOGIN response (user name or password) into out. */
static bool smtpd_auth_login_field(struct smtpd_session *s, const char *b64, size_t len,
    char *out, size_t outlen)
{
	int n = smtpd_auth_b64_decode(b64, len, out, outlen - 1);
	if (n < 0 || memchr(out, '\0', (size_t)n) != NULL) {
		smtpd_auth_end(s);
		smtpd_session_reply(s, 501, "5.5.2", "Cannot decode AUTH response");
		return false;
	}
	out[n] = '\0';
	return true;
}

/* Act on a LOGIN response for the current step. */
static void smtpd_auth_login(struct smtpd_session *s, const char *b64, size_t len)
{
	struct smtpd_auth *a = s->auth;
	if (a->step == SMTPD_AUTH_LOGIN_USER) {
		if (!smtpd_auth_login_field(s, b64, len, a->user, sizeof(a->user)))
			return;
		a->step = SMTPD_AUTH_LOGIN_PASS;
		smtpd_session_reply(s, 334, "", "UGFzc3dvcmQ6");	/* "Password:" */
		return;
	}
	char pass[SMTPD_AUTH_PASS_MAX + 1];
	if (!smtpd_auth_login_field(s, b64, len, pass, sizeof(pass)))
		return;
	char user[SMTPD_AUTH_USER_MAX + 1];
	memcpy(user, a->user, sizeof(user));
	smtpd_auth_check(s, user, pass);
	explicit_bzero(pass, sizeof(pass));
}

void smtpd_auth_start(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	if (s->auth_user != NULL) {
		smtpd_session_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->ctx->auth == NULL) {
		smtpd_session_reply(s, 502, "5.5.1", "Error: authentication not enabled");
		return;
	}
	if (!smtpd_session_auth_offered(s)) {
		smtpd_session_reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return;
	}
	uint64_t retry_ms = 0;
	if (s->ctx->authfail != NULL && smtpd_authfail_blocked(s->ctx->authfail,
	    (const struct sockaddr *)&s->peer, smtpd_auth_now_ms(), &retry_ms)) {
		/* Not even a correct password is checked: guessing must not pay off by reconnecting. */
		unsigned retry_s = (unsigned)((retry_ms + 999) / 1000);
		log_msg(LOG_LVL_WARN, "session=%s event=auth result=refused reason=\"auth_failure_limit\" "
		    "client=%s retry_after=%u", s->id, s->peer_ip, retry_s);
		smtpd_session_reply(s, 454, "4.7.0", "Too many authentication failures from your "
		    "address, try again in %u seconds", retry_s);
		return;
	}
	size_t m = 0;
	while (m < cmd->arg_len && cmd->arg[m] != ' ')
		m++;
	const char *ir = NULL;
	size_t irlen = 0;
	if (m < cmd->arg_len) {
		ir = cmd->arg + m + 1;
		irlen = cmd->arg_len - m - 1;
		if (irlen == 0 || memchr(ir, ' ', irlen) != NULL) {
			smtpd_session_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
			return;
		}
	}
	struct smtpd_auth *a = xcalloc(1, sizeof(*a));
	if (m == 5 && strncasecmp(cmd->arg, "PLAIN", 5) == 0) {
		a->mech = "PLAIN";
		a->step = SMTPD_AUTH_PLAIN;
	} else if (m == 5 && strncasecmp(cmd->arg, "LOGIN", 5) == 0) {
		a->mech = "LOGIN";
		a->step = SMTPD_AUTH_LOGIN_USER;
	} else {
		free(a);
		smtpd_session_reply(s, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	s->auth = a;
	smtpd_session_set_state(s, SMTPD_S_AUTH);
	if (ir != NULL) {
		smtpd_auth_line(s, ir, irlen);
		return;
	}
	if (a->step == SMTPD_AUTH_PLAIN)
		smtpd_session_reply(s, 334, "", "%s", "");
	else
		smtpd_session_reply(s, 334, "", "VXNlcm5hbWU6");	/* "Username:" */
}

void smtpd_auth_line(struct smtpd_session *s, const char *line, size_t len)
{
	struct smtpd_auth *a = s->auth;
	if (a == NULL || a->step == SMTPD_AUTH_CHECKING) {
		smtpd_auth_end(s);
		smtpd_session_reply(s, 503, "5.5.1", "Error: no AUTH exchange in progress");
		return;
	}
	if (len == 1 && line[0] == '*') {
		smtpd_auth_end(s);
		smtpd_session_reply(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	if (a->step == SMTPD_AUTH_PLAIN)
		smtpd_auth_plain(s, line, len);
	else
		smtpd_auth_login(s, line, len);
}

/*
 * RFC 4954 6: 500 5.5.6 fails the AUTH command. The client takes it as the
 * end of the exchange, so its next line is a command, not another response.
 */
void smtpd_auth_line_too_long(struct smtpd_session *s)
{
	smtpd_auth_end(s);
	smtpd_session_reply(s, 500, "5.5.6", "Authentication exchange line is too long");
}
