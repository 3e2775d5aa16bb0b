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
 * Copy the original from its fetched source (whole, or its header
 * section) into the DSN writer. *hdr_8bit tells whether a returned
 * header section holds 8-bit octets (raw 8-bit headers are common even
 * without SMTPUTF8).
 */
static bool sched_bounce_copy(const struct mxr_source *src, enum dsn_return ret,
    struct queue_writer *w, bool *hdr_8bit, char *err, size_t errlen)
{
	*hdr_8bit = false;
	if (ret == DSN_RETURN_HEADERS) {
		char *hdr = NULL;
		size_t len = 0;
		if (queue_source_headers(src, DSN_HEADERS_MAX, &hdr, &len) != 1) {
			snprintf(err, errlen, "cannot read the original's header section");
			return false;
		}
		for (size_t i = 0; i < len && !*hdr_8bit; i++)
			*hdr_8bit = (unsigned char)hdr[i] >= 0x80;
		int rc = queue_writer_append(w, hdr, len);
		free(hdr);
		return rc == 0;
	}
	char *buf = xmalloc(SCHED_BOUNCE_COPY);
	bool ok = true;
	uint64_t off = 0;
	while (ok && off < src->size) {
		size_t want = src->size - off < SCHED_BOUNCE_COPY ? (size_t)(src->size - off) :
		    SCHED_BOUNCE_COPY;
		ssize_t n = src->read_at(src->arg, off, buf, want);
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
	return ok;
}

/*
 * End a notice's op: a message whose last recipients were delivered goes
 * now that the notice has read it (or gave up), never before.
 */
static struct sched *sched_bounce_notice_end(struct sched_op *op)
{
	char id[QUEUE_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", op->msg_id);
	bool then_delete = op->kind == SCHED_OP_NOTICE && op->then_delete;
	struct sched *s = sched_op_end(op);
	if (s != NULL && then_delete)
		sched_delete_if_done(s, id);
	return s;
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
	sched_bounce_notice_end(op);
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

/* A DSN on its way: what the original's reads gave, until its commit is submitted. */
struct sched_dsn {
	enum dsn_kind kind;
	enum dsn_return ret;		/* what of the original it returns */
	time_t now;
	struct queue_msg m;		/* the original's envelope (owned) */
	struct queue_rcpt *rc;		/* its recipients (owned): rep points into them */
	size_t nrc;
	struct dsn_rcpt *rep;		/* the recipients reported (owned) */
	size_t nrep;
	char (*mta)[256];		/* rep's remote MTA names (owned) */
	int64_t *ids;			/* marked bounced by the DSN's commit (owned) */
	size_t nids;
	char *to;			/* the DSN's recipient (owned): the sender, or postmaster */
};

void sched_bounce_dsn_free(struct sched_dsn *d)
{
	if (d == NULL)
		return;
	queue_query_msg_clear(&d->m);
	queue_query_rcpts_free(d->rc, d->nrc);
	free(d->rep);
	free(d->mta);
	free(d->ids);
	free(d->to);
	free(d);
}

/* A new DSN of kind about the fetched message (its envelope and recipients taken from f). */
static struct sched_dsn *sched_bounce_dsn_new(enum dsn_kind kind, struct queue_fetched *f)
{
	struct sched_dsn *d = xcalloc(1, sizeof(*d));
	d->kind = kind;
	d->m = f->m;
	memset(&f->m, 0, sizeof(f->m));
	d->rc = f->rcpts;
	d->nrc = f->nrcpts;
	f->rcpts = NULL;
	f->nrcpts = 0;
	size_t n = d->nrc ? d->nrc : 1;
	d->rep = xcalloc(n, sizeof(*d->rep));
	d->mta = xcalloc(n, sizeof(*d->mta));
	d->ids = xcalloc(n, sizeof(*d->ids));
	d->to = xstrdup(d->m.sender != NULL ? d->m.sender : "");
	return d;
}

/* The DSN's text around the original from src, then its commit; false with err. */
static bool sched_bounce_build(struct sched *s, struct sched_op *op, const struct mxr_source *src,
    char *err, size_t errlen)
{
	struct sched_dsn *d = op->dsn;
	const struct queue_msg *m = &d->m;
	struct queue_writer *w = queue_writer_new(s->q);
	const char *dsn_id = queue_writer_id(w);
	op->dsn_kind = d->kind;
	char boundary[300], msgid[300];
	snprintf(boundary, sizeof(boundary), "%s/%s", dsn_id, s->cfg->hostname);
	snprintf(msgid, sizeof(msgid), "%s@%s", dsn_id, s->cfg->hostname);
	struct dsn_report r = {
		.kind = d->kind,
		.hostname = s->cfg->hostname,
		.to = d->to,
		.queue_id = m->id,
		.envid = m->envid,
		.arrival = m->received_at,
		.now = d->now,
		.retry_until = sched_retry_expiry(s->cfg, m->received_at),
		.message_id = msgid,
		.boundary = boundary,
		.ret = d->ret,
		.utf8 = m->smtputf8,
		.body_8bit = m->body_8bit,
		.rcpts = d->rep,
		.nrcpts = d->nrep,
	};
	struct dsn_buf b;
	dsn_buf_init(&b, DSN_HEAD_MAX);
	bool ok = dsn_head(&r, &b) && queue_writer_append(w, b.data, b.len) == 0;
	if (!ok)
		snprintf(err, errlen, "cannot build the DSN");
	bool hdr_8bit = false;
	ok = ok && sched_bounce_copy(src, r.ret, w, &hdr_8bit, err, errlen);
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
	if (d->nids > 0 && d->kind == DSN_FAILURE)
		queue_writer_bounce_for(w, d->ids, d->nids);
	struct queue_rcpt_in to = { .address = d->to, .notify = MXR_NOTIFY_NEVER, .orcpt = NULL };
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
		.received_at = d->now,
		.rcpts = &to,
		.nrcpts = 1,
	};
	snprintf(op->dsn_id, sizeof(op->dsn_id), "%s", dsn_id);
	op->nrcpts = d->nrep;
	queue_writer_commit(w, &env, sched_bounce_committed, op);
	return true;
}

/* The original's body (or the part returned) is read: build and commit the DSN. */
static void sched_bounce_body(void *arg, struct queue_fetched *f)
{
	struct sched_op *op = arg;
	struct sched *s = op->s;
	if (s == NULL) {
		sched_op_end(op);
		queue_fetched_clear(f);
		return;
	}
	char err[256] = "";
	struct sched_dsn *d = op->dsn;
	bool ok = f->found == 1;
	if (f->found == 0)
		snprintf(err, sizeof(err), "message gone");
	else if (f->found < 0)
		snprintf(err, sizeof(err), "%s", f->err != NULL ? f->err : "cannot read the original");
	bool failure = d->kind == DSN_FAILURE;
	char id[QUEUE_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", op->msg_id);
	if (ok)
		ok = sched_bounce_build(s, op, &f->src, err, sizeof(err));
	queue_fetched_clear(f);
	if (ok) {
		/* The commit copied what it needs; its callback ends the op. */
		op->dsn = NULL;
		sched_bounce_dsn_free(d);
		if (failure)
			s->stats.bounces++;
		else
			s->stats.notices++;
		return;
	}
	log_msg(LOG_LVL_WARN, "queue=%s event=%s-failed reason=\"%s\"", id,
	    failure ? "bounce" : "notice", err);
	sched_bounce_notice_end(op);
	if (failure)
		sched_bounce_retry_later(s);
	sched_check_stopped(s);
}

/* Read the part of the original that d returns; sched_bounce_body goes on. */
static void sched_bounce_read_body(struct sched *s, struct sched_op *op, struct sched_dsn *d)
{
	/*
	 * RFC 8689 5: a report on a REQUIRETLS message returns its header
	 * only, whatever RET said, and travels under REQUIRETLS itself.
	 */
	d->ret = d->m.requiretls ? DSN_RETURN_HEADERS : dsn_choose_return(d->kind, d->m.ret, d->m.size);
	op->dsn = d;
	struct queue_fetch_req req = {
		.id = op->msg_id,
		.body = true,
		.body_limit = d->ret == DSN_RETURN_HEADERS ? DSN_HEADERS_MAX : 0,
	};
	queue_fetch(s->q, &req, sched_bounce_body, op);
}

/* The failed message's recipients are read: which get a DSN, which are just marked. */
static void sched_bounce_failed_read(void *arg, struct queue_fetched *f)
{
	struct sched_op *op = arg;
	struct sched *s = op->s;
	if (s == NULL || f->found != 1) {
		if (f->found < 0)
			log_msg(LOG_LVL_WARN, "queue=%s event=bounce-read-failed reason=\"%s\"", op->msg_id,
			    f->err != NULL ? f->err : "");
		sched_op_end(op);
		queue_fetched_clear(f);
		if (s != NULL)
			sched_check_stopped(s);
		return;
	}
	struct sched_dsn *d = sched_bounce_dsn_new(DSN_FAILURE, f);
	queue_fetched_clear(f);
	d->now = time(NULL);
	bool more = false;
	bool null_sender = d->m.sender == NULL || d->m.sender[0] == '\0';
	/*
	 * A bounce that bounced (or other mail from <>) would be dropped and
	 * the failure never seen: it goes to postmaster instead, unless what
	 * failed is the postmaster address itself, which would loop.
	 */
	char *postmaster = null_sender ? sched_bounce_postmaster(s->cfg) : NULL;
	for (size_t i = 0; i < d->nrc; i++) {
		const struct queue_rcpt *rc = &d->rc[i];
		if (rc->state != QUEUE_RCPT_FAILED)
			continue;
		bool report = !null_sender && sched_bounce_wants_failure(rc->notify);
		if (postmaster != NULL)
			report = strcasecmp(rc->address, postmaster) != 0;
		if (report && d->nrep == DSN_RCPTS_MAX) {
			more = true;	/* left failed: the next DSN takes it */
			continue;
		}
		d->ids[d->nids++] = rc->id;
		if (report) {
			sched_bounce_entry(rc, DSN_ACTION_FAILED, &d->rep[d->nrep], d->mta[d->nrep],
			    sizeof(d->mta[d->nrep]));
			d->nrep++;
		}
	}
	if (d->nids == 0) {
		sched_op_end(op);
		sched_delete_if_done(s, d->m.id);
		sched_bounce_dsn_free(d);
	} else if (d->nrep == 0) {
		/* RFC 3461 5.2 / RFC 5321 6.1: no DSN to <>, none for NOTIFY=NEVER. */
		op->kind = SCHED_OP_MARK;
		op->nrcpts = d->nids;
		log_msg(LOG_LVL_INFO, "queue=%s event=no-bounce rcpts=%zu reason=\"%s\"", op->msg_id,
		    d->nids, null_sender ? "null sender" : "NOTIFY without FAILURE");
		queue_update_bounced(s->q, d->ids, d->nids, sched_bounce_committed, op);
		sched_bounce_dsn_free(d);
	} else {
		op->again = more;
		if (postmaster != NULL) {
			free(d->to);
			d->to = xstrdup(postmaster);
			log_msg(LOG_LVL_INFO, "queue=%s event=bounce-to-postmaster to=<%s> rcpts=%zu "
			    "reason=\"null sender\"", op->msg_id, postmaster, d->nrep);
		}
		sched_bounce_read_body(s, op, d);
	}
	free(postmaster);
	sched_check_stopped(s);
}

void sched_bounce_failed(struct sched *s, const char *msg_id)
{
	struct sched_op *busy = sched_bounce_inflight(s, msg_id);
	if (busy != NULL) {
		/* One DSN per message at a time; this one is looked at again after it. */
		busy->again = true;
		return;
	}
	struct sched_op *op = sched_op_new(s, SCHED_OP_BOUNCE, msg_id);
	struct queue_fetch_req req = { .id = msg_id, .rcpts = true };
	queue_fetch(s->q, &req, sched_bounce_failed_read, op);
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

/* The noticed message's recipients are read: which the notice reports. */
static void sched_bounce_notice_read(void *arg, struct queue_fetched *f)
{
	struct sched_op *op = arg;
	struct sched *s = op->s;
	if (s == NULL || f->found != 1 || f->m.sender == NULL || f->m.sender[0] == '\0') {
		if (f->found < 0)
			log_msg(LOG_LVL_WARN, "queue=%s event=notice-read-failed reason=\"%s\"", op->msg_id,
			    f->err != NULL ? f->err : "");
		sched_bounce_notice_end(op);
		queue_fetched_clear(f);
		if (s != NULL)
			sched_check_stopped(s);
		return;
	}
	enum dsn_kind kind = op->dsn_kind;
	struct sched_dsn *d = sched_bounce_dsn_new(kind, f);
	queue_fetched_clear(f);
	d->now = time(NULL);
	for (size_t i = 0; i < d->nrc && d->nrep < DSN_RCPTS_MAX; i++) {
		const struct queue_rcpt *rc = &d->rc[i];
		if (!sched_bounce_has(op->ids, op->nids, rc->id))
			continue;
		if (kind == DSN_DELAY) {
			if (rc->state != QUEUE_RCPT_DEFERRED)
				continue;
			time_t prev = sched_bounce_prev_attempt(rc, op->at, d->m.received_at);
			if (!sched_retry_warn_now(s->cfg, d->m.received_at, prev, op->at))
				continue;
			sched_bounce_entry(rc, DSN_ACTION_DELAYED, &d->rep[d->nrep], d->mta[d->nrep],
			    sizeof(d->mta[d->nrep]));
		} else {
			if (rc->state != QUEUE_RCPT_DELIVERED)
				continue;
			/* We relay: the next hop took it without taking the DSN duty (RFC 3464 2.3.3). */
			sched_bounce_entry(rc, DSN_ACTION_RELAYED, &d->rep[d->nrep], d->mta[d->nrep],
			    sizeof(d->mta[d->nrep]));
		}
		d->nrep++;
	}
	if (d->nrep == 0) {
		sched_bounce_notice_end(op);
		sched_bounce_dsn_free(d);
		sched_check_stopped(s);
		return;
	}
	sched_bounce_read_body(s, op, d);
}

void sched_bounce_notice(struct sched *s, const char *msg_id, enum dsn_kind kind,
    const int64_t *ids, size_t n, time_t at, bool then_delete)
{
	struct sched_op *op = sched_op_new(s, SCHED_OP_NOTICE, msg_id);
	op->dsn_kind = kind;
	op->then_delete = then_delete;
	op->at = at;
	op->ids = xcalloc(n ? n : 1, sizeof(*op->ids));
	memcpy(op->ids, ids, n * sizeof(*ids));
	op->nids = n;
	struct queue_fetch_req req = { .id = msg_id, .rcpts = true, .history = kind == DSN_DELAY };
	queue_fetch(s->q, &req, sched_bounce_notice_read, op);
}

/* The start-up (or fleet) pass's lists: bounce what is owed, remove what is finished. */
static void sched_bounce_recovered(void *arg, bool ok, const struct queue_recover_list *l,
    const char *err)
{
	struct sched_op *op = arg;
	struct sched *s = sched_op_end(op);
	if (s == NULL)
		return;
	if (!ok)
		log_msg(LOG_LVL_WARN, "event=recover-failed reason=\"%s\"", err != NULL ? err : "");
	else if (l->nbounce > 0 || l->ndone > 0)
		log_msg(LOG_LVL_INFO, "event=recover to_bounce=%zu to_remove=%zu", l->nbounce, l->ndone);
	for (size_t i = 0; ok && i < l->nbounce && !s->stopping; i++)
		sched_bounce_failed(s, l->bounce[i]);
	for (size_t i = 0; ok && i < l->ndone && !s->stopping; i++)
		sched_delete_if_done(s, l->done[i]);
	if (!ok)
		sched_bounce_retry_later(s);
	sched_check_stopped(s);
}

void sched_bounce_recover(struct sched *s, time_t quiet_since)
{
	struct sched_op *op = sched_op_new(s, SCHED_OP_RECOVER, "");
	queue_recover_fetch(s->q, quiet_since, sched_bounce_recovered, op);
}
