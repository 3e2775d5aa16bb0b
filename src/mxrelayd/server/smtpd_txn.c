/*
 * smtpd_txn: the envelope and message state of one server transaction.
 *
 * Owns: every string of the envelope (copied in, freed here) and the
 * queue writer until commit. Never: does I/O; never commits by itself.
 */
#include "smtpd_txn.h"
#include "smtpd_submit.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

struct smtpd_txn *smtpd_txn_new(const char *sender, const struct smtpd_mail_params *mp)
{
	struct smtpd_txn *t = xcalloc(1, sizeof(*t));
	t->sender = xstrdup(sender);
	t->mail = *mp;
	t->started = time(NULL);
	smtp_hdrscan_init(&t->hdr);
	return t;
}

void smtpd_txn_free(struct smtpd_txn *t)
{
	if (t == NULL)
		return;
	queue_writer_abort(t->writer);
	smtpd_submit_free(t->submit);
	for (size_t i = 0; i < t->nrcpts; i++) {
		free(t->rcpts[i].address);
		free(t->rcpts[i].orcpt);
	}
	free(t->rcpts);
	free(t->sender);
	free(t);
}

void smtpd_txn_add_rcpt(struct smtpd_txn *t, const char *address, unsigned notify,
    const char *orcpt)
{
	if (t->nrcpts == t->rcpt_cap) {
		t->rcpt_cap = t->rcpt_cap == 0 ? 4 : t->rcpt_cap * 2;
		t->rcpts = xreallocarray(t->rcpts, t->rcpt_cap, sizeof(*t->rcpts));
	}
	struct smtpd_rcpt *r = &t->rcpts[t->nrcpts++];
	r->address = xstrdup(address);
	r->notify = notify;
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
}
