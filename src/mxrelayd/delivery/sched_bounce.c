/*
 * sched_bounce: the notifications that follow delivery outcomes: a
 * failure DSN per message for the recipients that failed together, delay
 * warnings and success ("relayed") notices, each queued as a new message
 * from the null sender and then delivered like any other; and the
 * start-up pass that finishes what a crash left between an outcome and
 * its bounce.
 *
 * Owns: which recipients a DSN reports (RFC 3461: NOTIFY, null sender),
 * the DSN's envelope, streaming the original into it, and the rule that
 * one message has at most one failure DSN being committed at a time.
 * Never: sends a DSN to the null sender, builds DSN text itself (dsn.c
 * does), or marks a recipient bounced outside the DSN's own commit
 * (queue_writer_bounce_for) unless no DSN is wanted.
 */
#include "sched_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config/aliases.h"
#include "config/config.h"
#include "sched_retry.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Octets read from a stored body at a time while copying it into a DSN. */
#define SCHED_BOUNCE_COPY 65536

/* Whether a failure of a recipient with these NOTIFY bits is reported (RFC 3461 4.1). */
static bool sched_bounce_wants_failure(unsigned notify)
{
	if (notify & MXR_NOTIFY_NEVER)
		return false;
	return notify == 0 || (notify & MXR_NOTIFY_FAILURE) != 0;
}

/* The host name part of a stored "host[ip]" into out. */
static void sched_bounce_mta(const char *mx, char *out, size_t outlen)
{
	out[0] = '\0';
	if (mx == NULL)
		return;
	size_t n = strcspn(mx, "[");
	if (n == 0) {
		/* No name: the address inside the brackets. */
		const char *e = strchr(mx, ']');
		if (mx[0] == '[' && e != NULL)
			snprintf(out, outlen, "%.*s", (int)(e - mx - 1), mx + 1);
		return;
	}
	snprintf(out, outlen, "%.*s", (int)n, mx);
}

/* Whether an op of one of these kinds is committing for msg_id. */
static struct sched_op *sched_bounce_inflight(struct sched *s, const char *msg_id)
{
	for (struct sched_op *op = s->ops; op != NULL; op = op->next)
		if ((op->kind == SCHED_OP_BOUNCE || op->kind == SCHED_OP_MARK) &&
		    strcmp(op->msg_id, msg_id) == 0)
			return op;
	return NULL;
}

/*
 * Copy the original (whole, or its header section) into the DSN writer.
 * *hdr_8bit tells whether a returned header section holds 8-bit octets
 * (raw 8-bit headers are common even without SMTPUTF8).
 */
static bool sched_bounce_copy(struct sched *s, const char *msg_id, enum dsn_return ret,
    struct queue_writer *w, bool *hdr_8bit, char *err, size_t errlen)
{
	*hdr_8bit = false;
	if (ret == DSN_RETURN_HEADERS) {
		char *hdr = NULL;
		size_t len = 0;
		int found = queue_query_headers(s->q, msg_id, DSN_HEADERS_MAX, &hdr, &len, err, errlen);
		if (found != 1) {
			if (found == 0)
				snprintf(err, errlen, "message gone");
			return false;
		}
		for (size_t i = 0; i < len && !*hdr_8bit; i++)
			*hdr_8bit = (unsigned char)hdr[i] >= 0x80;
		int rc = queue_writer_append(w, hdr, len);
		free(hdr);
		return rc == 0;
	}
	struct mxr_source src;
	struct queue_body *b = queue_body_open(s->q, msg_id, &src, err, errlen);
	if (b == NULL)
		return false;
	char *buf = xmalloc(SCHED_BOUNCE_COPY);
	bool ok = true;
	uint64_t off = 0;
	while (ok && off < src.size) {
		size_t want = src.size - off < SCHED_BOUNCE_COPY ? (size_t)(src.size - off) : SCHED_BOUNCE_COPY;
		ssize_t n = src.read_at(src.arg, off, buf, want);
		if (n <= 0) {
			snprintf(err, errlen, "cannot read the original at offset %llu", (unsigned long long)off);
			ok = false;
		} else if (queue_writer_append(w, buf, (size_t)n) != 0) {
			snprintf(err, errlen, "cannot write the DSN");
			ok = false;
		} else {
			off += (uint64_t)n;
		}
	}
	free(buf);
	queue_body_close(b);
	return ok;
}

/* The DSN's commit is durable (or failed). */
static void sched_bounce_committed(void *arg, bool ok, const char *err)
{
	struct sched_op *op = arg;
	struct sched *s = op->s;
	char id[QUEUE_ID_LEN + 1], dsn[QUEUE_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", op->msg_id);
	snprintf(dsn, sizeof(dsn), "%s", op->dsn_id);
	enum sched_op_kind kind = op->kind;
	size_t n = op->nrcpts;
	bool again = op->again;
	enum dsn_kind dsn_kind = op->dsn_kind;
	sched_op_end(op);
	const char *what = kind == SCHED_OP_BOUNCE ? "bounce" : kind == SCHED_OP_MARK ? "no-bounce" : "notice";
	if (!ok) {
		log_msg(LOG_LVL_WARN, "queue=%s event=%s-failed rcpts=%zu reason=\"%s\"", id, what, n,
		    err != NULL ? err : "");
		/* The recipients are still "failed": their DSN is owed, so look again later. */
		if (s != NULL && kind != SCHED_OP_NOTICE)
			sched_bounce_retry_later(s);
	} else if (kind == SCHED_OP_MARK) {
		log_msg(LOG_LVL_INFO, "queue=%s event=bounced-without-dsn rcpts=%zu", id, n);
	} else {
		log_msg(LOG_LVL_INFO, "queue=%s event=%s dsn_queue=%s rcpts=%zu", id, what, dsn, n);
	}
	if (s == NULL)
		return;
	if (ok && kind != SCHED_OP_MARK)
		sched_metrics_dsn(s, dsn_kind);
	if (ok && kind != SCHED_OP_NOTICE) {
		if (again)
			sched_bounce_failed(s, id);
		else
			sched_delete_if_done(s, id);
	}
	if (ok && kind != SCHED_OP_MARK)
		sched_kick(s);	/* the DSN itself is due now */
	sched_check_stopped(s);
}

/*
 * Build and queue one DSN of kind for message m covering rep[0..nrep);
 * bounce_for[0..nfor) are marked bounced in its commit. Returns false
 * (nothing queued, err filled) on failure.
 */
static bool sched_bounce_queue(struct sched *s, const struct queue_msg *m, enum dsn_kind kind,
    const struct dsn_rcpt *rep, size_t nrep, const int64_t *bounce_for, size_t nfor,
    time_t now, struct sched_op *op, char *err, size_t errlen)
{
	struct queue_writer *w = queue_writer_new(s->q);
	const char *dsn_id = queue_writer_id(w);
	op->dsn_kind = kind;
	char boundary[300], msgid[300];
	snprintf(boundary, sizeof(boundary), "%s/%s", dsn_id, s->cfg->hostname);
	snprintf(msgid, sizeof(msgid), "%s@%s", dsn_id, s->cfg->hostname);
	struct dsn_report r = {
		.kind = kind,
		.hostname = s->cfg->hostname,
		.to = m->sender,
		.queue_id = m->id,
		.envid = m->envid,
		.arrival = m->received_at,
		.now = now,
		.retry_until = sched_retry_expiry(s->cfg, m->received_at),
		.message_id = msgid,
		.boundary = boundary,
		/*
		 * RFC 8689 5: a report on a REQUIRETLS message returns its header
		 * only, whatever RET said, and travels under REQUIRETLS itself.
		 */
		.ret = m->requiretls ? DSN_RETURN_HEADERS : dsn_choose_return(kind, m->ret, m->size),
		.utf8 = m->smtputf8,
		.body_8bit = m->body_8bit,
		.rcpts = rep,
		.nrcpts = nrep,
	};
	struct dsn_buf b;
	dsn_buf_init(&b, DSN_HEAD_MAX);
	bool ok = dsn_head(&r, &b) && queue_writer_append(w, b.data, b.len) == 0;
	if (!ok)
		snprintf(err, errlen, "cannot build the DSN");
	bool hdr_8bit = false;
	ok = ok && sched_bounce_copy(s, m->id, r.ret, w, &hdr_8bit, err, errlen);
	b.len = 0;
	if (ok && (!dsn_tail(&r, &b) || queue_writer_append(w, b.data, b.len) != 0)) {
		snprintf(err, errlen, "cannot finish the DSN");
		ok = false;
	}
	dsn_buf_free(&b);
	if (!ok) {
		queue_writer_abort(w);
		return false;
	}
	if (nfor > 0)
		queue_writer_bounce_for(w, bounce_for, nfor);
	struct queue_rcpt_in to = { .address = m->sender, .notify = MXR_NOTIFY_NEVER, .orcpt = NULL };
	struct queue_envelope env = {
		.sender = "",
		.envid = NULL,
		.ret = MXR_RET_UNSET,
		.smtputf8 = m->smtputf8,
		.requiretls = m->requiretls,
		/* What the DSN's octets are: the whole original, or the headers returned. */
		.body_8bit = (m->body_8bit && r.ret == DSN_RETURN_FULL) || hdr_8bit,
		.client_ip = "127.0.0.1",
		.client_helo = s->cfg->hostname,
		.auth_user = NULL,
		.protocol = "local",
		.received_at = now,
		.rcpts = &to,
		.nrcpts = 1,
	};
	snprintf(op->dsn_id, sizeof(op->dsn_id), "%s", dsn_id);
	op->nrcpts = nrep;
	queue_writer_commit(w, &env, sched_bounce_committed, op);
	return true;
}

/* Fill a report entry from a stored recipient; mta is its storage for the host name. */
static void sched_bounce_entry(const struct queue_rcpt *rc, enum dsn_action action,
    struct dsn_rcpt *out, char *mta, size_t mtalen)
{
	sched_bounce_mta(rc->last_mx, mta, mtalen);
	*out = (struct dsn_rcpt){
		.address = rc->address,
		.orcpt = rc->orcpt,
		.action = action,
		.status = rc->last_esc,
		.code = rc->last_code,
		.text = rc->last_reply,
		.remote_mta = mta[0] != '\0' ? mta : NULL,
		.last_attempt = rc->updated_at,
	};
}

/*
 * Where a notice about mail from <> goes: the first address the
 * postmaster alias expands to, else admin_address; NULL (the notice is
 * dropped, as RFC 3461 has it) when neither is set. Owned by the caller.
 */
static char *sched_bounce_postmaster(const struct config *cfg)
{
	const char *locals[] = { cfg->hostname, "localhost" };
	char **list = NULL;
	size_t n = 0;
	char *to = NULL;
	if (aliases_expand(cfg->aliases, "postmaster", locals, 2, cfg->admin_address, &list, &n,
	    NULL) == ALIASES_OK && n > 0)
		to = xstrdup(list[0]);
	else if (cfg->admin_address != NULL)
		to = xstrdup(cfg->admin_address);
	aliases_list_free(list, n);
	return to;
}

void sched_bounce_failed(struct sched *s, const char *msg_id)
{
	struct sched_op *busy = sched_bounce_inflight(s, msg_id);
	if (busy != NULL) {
		/* One DSN commit per message at a time; this one is looked at again after it. */
		busy->again = true;
		return;
	}
	struct queue_msg m;
	struct queue_rcpt *rc = NULL;
	size_t nrc = 0;
	char err[256];
	int found = queue_query_message(s->q, msg_id, &m, &rc, &nrc, false, err, sizeof(err));
	if (found != 1) {
		if (found < 0)
			log_msg(LOG_LVL_WARN, "queue=%s event=bounce-read-failed reason=\"%s\"", msg_id, err);
		return;
	}
	int64_t *ids = xcalloc(nrc ? nrc : 1, sizeof(*ids));
	struct dsn_rcpt *rep = xcalloc(nrc ? nrc : 1, sizeof(*rep));
	char (*mta)[256] = xcalloc(nrc ? nrc : 1, sizeof(*mta));
	size_t nids = 0, nrep = 0;
	bool more = false;
	bool null_sender = m.sender == NULL || m.sender[0] == '\0';
	/*
	 * A bounce that bounced (or other mail from <>) would be dropped and
	 * the failure never seen: it goes to postmaster instead, unless what
	 * failed is the postmaster address itself, which would loop.
	 */
	char *postmaster = null_sender ? sched_bounce_postmaster(s->cfg) : NULL;
	for (size_t i = 0; i < nrc; i++) {
		if (rc[i].state != QUEUE_RCPT_FAILED)
			continue;
		bool report = !null_sender && sched_bounce_wants_failure(rc[i].notify);
		if (postmaster != NULL)
			report = strcasecmp(rc[i].address, postmaster) != 0;
		if (report && nrep == DSN_RCPTS_MAX) {
			more = true;	/* left failed: the next DSN takes it */
			continue;
		}
		ids[nids++] = rc[i].id;
		if (report) {
			sched_bounce_entry(&rc[i], DSN_ACTION_FAILED, &rep[nrep], mta[nrep], sizeof(mta[nrep]));
			nrep++;
		}
	}
	time_t now = time(NULL);
	if (nids == 0) {
		sched_delete_if_done(s, msg_id);
	} else if (nrep == 0) {
		/* RFC 3461 5.2 / RFC 5321 6.1: no DSN to <>, none for NOTIFY=NEVER. */
		struct sched_op *op = sched_op_new(s, SCHED_OP_MARK, msg_id);
		op->nrcpts = nids;
		log_msg(LOG_LVL_INFO, "queue=%s event=no-bounce rcpts=%zu reason=\"%s\"", msg_id, nids,
		    null_sender ? "null sender" : "NOTIFY without FAILURE");
		queue_update_bounced(s->q, ids, nids, sched_bounce_committed, op);
	} else {
		struct sched_op *op = sched_op_new(s, SCHED_OP_BOUNCE, msg_id);
		op->again = more;
		struct queue_msg to = m;
		if (postmaster != NULL) {
			to.sender = postmaster;
			log_msg(LOG_LVL_INFO, "queue=%s event=bounce-to-postmaster to=<%s> rcpts=%zu "
			    "reason=\"null sender\"", msg_id, postmaster, nrep);
		}
		if (sched_bounce_queue(s, &to, DSN_FAILURE, rep, nrep, ids, nids, now, op, err, sizeof(err))) {
			s->stats.bounces++;
		} else {
			log_msg(LOG_LVL_WARN, "queue=%s event=bounce-failed rcpts=%zu reason=\"%s\"", msg_id,
			    nrep, err);
			sched_op_end(op);
			sched_bounce_retry_later(s);
		}
	}
	free(postmaster);
	free(mta);
	free(rep);
	free(ids);
	queue_query_rcpts_free(rc, nrc);
	queue_query_msg_clear(&m);
}

void sched_bounce_retry_later(struct sched *s)
{
	/* The start-up scan finds every failed recipient still owed a DSN. */
	s->recovered = false;
	s->recover_at = time(NULL) + SCHED_BOUNCE_RETRY_S;
}

/* Whether id is among ids[0..n). */
static bool sched_bounce_has(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The attempt before the one made at at (the history's row before it), or received_at. */
static time_t sched_bounce_prev_attempt(const struct queue_rcpt *rc, time_t at, time_t received_at)
{
	time_t prev = received_at;
	bool seen_this = false;
	for (size_t k = rc->nhistory; k-- > 0;) {
		if (!seen_this && rc->history[k].at == at) {
			seen_this = true;
			continue;
		}
		if (rc->history[k].at <= at) {
			prev = rc->history[k].at;
			break;
		}
	}
	return prev;
}

void sched_bounce_notice(struct sched *s, const char *msg_id, enum dsn_kind kind,
    const int64_t *ids, size_t n, time_t at)
{
	struct queue_msg m;
	struct queue_rcpt *rc = NULL;
	size_t nrc = 0;
	char err[256];
	int found = queue_query_message(s->q, msg_id, &m, &rc, &nrc, kind == DSN_DELAY, err, sizeof(err));
	if (found != 1) {
		if (found < 0)
			log_msg(LOG_LVL_WARN, "queue=%s event=notice-read-failed reason=\"%s\"", msg_id, err);
		return;
	}
	if (m.sender == NULL || m.sender[0] == '\0') {
		queue_query_rcpts_free(rc, nrc);
		queue_query_msg_clear(&m);
		return;
	}
	struct dsn_rcpt *rep = xcalloc(nrc ? nrc : 1, sizeof(*rep));
	char (*mta)[256] = xcalloc(nrc ? nrc : 1, sizeof(*mta));
	size_t nrep = 0;
	for (size_t i = 0; i < nrc && nrep < DSN_RCPTS_MAX; i++) {
		if (!sched_bounce_has(ids, n, rc[i].id))
			continue;
		if (kind == DSN_DELAY) {
			if (rc[i].state != QUEUE_RCPT_DEFERRED)
				continue;
			time_t prev = sched_bounce_prev_attempt(&rc[i], at, m.received_at);
			if (!sched_retry_warn_now(s->cfg, m.received_at, prev, at))
				continue;
			sched_bounce_entry(&rc[i], DSN_ACTION_DELAYED, &rep[nrep], mta[nrep], sizeof(mta[nrep]));
		} else {
			if (rc[i].state != QUEUE_RCPT_DELIVERED)
				continue;
			/* We relay: the next hop took it without taking the DSN duty (RFC 3464 2.3.3). */
			sched_bounce_entry(&rc[i], DSN_ACTION_RELAYED, &rep[nrep], mta[nrep], sizeof(mta[nrep]));
		}
		nrep++;
	}
	if (nrep > 0) {
		struct sched_op *op = sched_op_new(s, SCHED_OP_NOTICE, msg_id);
		if (sched_bounce_queue(s, &m, kind, rep, nrep, NULL, 0, time(NULL), op, err, sizeof(err))) {
			s->stats.notices++;
		} else {
			log_msg(LOG_LVL_WARN, "queue=%s event=notice-failed kind=%s reason=\"%s\"", msg_id,
			    kind == DSN_DELAY ? "delay" : "success", err);
			sched_op_end(op);
		}
	}
	free(mta);
	free(rep);
	queue_query_rcpts_free(rc, nrc);
	queue_query_msg_clear(&m);
}

/* What the start-up walk found. */
struct sched_bounce_walk {
	char (*bounce)[QUEUE_ID_LEN + 1];	/* messages with failed recipients (owned) */
	size_t nbounce;
	char (*done)[QUEUE_ID_LEN + 1];		/* messages with nothing left to do (owned) */
	size_t ndone;
};

/* One message of the start-up walk: note it when it needs a bounce or can go. */
static bool sched_bounce_walk_one(void *arg, const struct queue_msg *m,
    const struct queue_rcpt *rcpts, size_t n)
{
	struct sched_bounce_walk *w = arg;
	bool failed = false, undone = false;
	for (size_t i = 0; i < n; i++) {
		if (rcpts[i].state == QUEUE_RCPT_FAILED)
			failed = true;
		else if (rcpts[i].state == QUEUE_RCPT_PENDING || rcpts[i].state == QUEUE_RCPT_DEFERRED)
			undone = true;
	}
	if (failed) {
		w->bounce = xreallocarray(w->bounce, w->nbounce + 1, sizeof(*w->bounce));
		snprintf(w->bounce[w->nbounce++], QUEUE_ID_LEN + 1, "%s", m->id);
	} else if (!undone) {
		w->done = xreallocarray(w->done, w->ndone + 1, sizeof(*w->done));
		snprintf(w->done[w->ndone++], QUEUE_ID_LEN + 1, "%s", m->id);
	}
	return true;
}

void sched_bounce_recover(struct sched *s)
{
	struct sched_bounce_walk w = { 0 };
	char err[256];
	long n = queue_query_list(s->q, sched_bounce_walk_one, &w, err, sizeof(err));
	if (n < 0)
		log_msg(LOG_LVL_WARN, "event=recover-failed reason=\"%s\"", err);
	else if (w.nbounce > 0 || w.ndone > 0)
		log_msg(LOG_LVL_INFO, "event=recover messages=%ld to_bounce=%zu to_remove=%zu", n,
		    w.nbounce, w.ndone);
	for (size_t i = 0; i < w.nbounce; i++)
		sched_bounce_failed(s, w.bounce[i]);
	for (size_t i = 0; i < w.ndone; i++)
		sched_delete_if_done(s, w.done[i]);
	free(w.bounce);
	free(w.done);
}
