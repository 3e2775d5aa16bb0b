/*
 * smtpd_params: ESMTP parameters of MAIL and RCPT, checked and decoded.
 *
 * Owns: the set of parameters the server advertises and accepts and the
 * reply to every fault in them. Never: does I/O; never accepts a keyword
 * twice on one command (RFC 5321 4.1.2 does not allow it).
 */
#include "smtpd_params.h"

#include <string.h>
#include <strings.h>

#include "smtp/smtp_dsn.h"

/* Keywords already seen on one command, by their index in a table. */
#define SMTPD_PARAMS_KEYS 8

static const struct smtpd_reply smtpd_params_unknown = {
	555, "5.5.4", "Unsupported parameter" };
static const struct smtpd_reply smtpd_params_dup = {
	501, "5.5.4", "Duplicate parameter" };

/* Whether the value of p equals word, in any case. */
static bool smtpd_params_val_is(const struct smtp_param *p, const char *word)
{
	size_t n = strlen(word);
	return p->val != NULL && p->val_len == n && strncasecmp(p->val, word, n) == 0;
}

/* Parse a SIZE value: 1..20 digits, no overflow. */
static bool smtpd_params_size(const struct smtp_param *p, uint64_t *out)
{
	uint64_t v = 0;
	if (p->val == NULL || p->val_len == 0 || p->val_len > 20)
		return false;
	for (size_t i = 0; i < p->val_len; i++) {
		unsigned char c = (unsigned char)p->val[i];
		if (c < '0' || c > '9')
			return false;
		if (v > (UINT64_MAX - (c - '0')) / 10)
			return false;
		v = v * 10 + (c - '0');
	}
	*out = v;
	return true;
}

/* Record keyword index k as seen; false when it was seen already. */
static bool smtpd_params_once(bool *seen, unsigned k)
{
	if (seen[k])
		return false;
	seen[k] = true;
	return true;
}

bool smtpd_params_mail(const struct smtp_param *p, size_t n, uint64_t max_size,
    struct smtpd_mail_params *out, struct smtpd_reply *reply)
{
	bool seen[SMTPD_PARAMS_KEYS] = { false };
	memset(out, 0, sizeof(*out));
	out->ret = MXR_RET_UNSET;
	for (size_t i = 0; i < n; i++) {
		const struct smtp_param *q = &p[i];
		if (smtp_param_is(q, "SIZE")) {
			if (!smtpd_params_once(seen, 0))
				goto dup;
			if (!smtpd_params_size(q, &out->size)) {
				*reply = (struct smtpd_reply){ 501, "5.5.4", "Bad SIZE value" };
				return false;
			}
			if (max_size != 0 && out->size > max_size) {
				*reply = (struct smtpd_reply){ 552, "5.3.4",
				    "Message size exceeds fixed maximum message size" };
				return false;
			}
		} else if (smtp_param_is(q, "BODY")) {
			if (!smtpd_params_once(seen, 1))
				goto dup;
			if (smtpd_params_val_is(q, "8BITMIME")) {
				out->body_8bitmime = true;
			} else if (!smtpd_params_val_is(q, "7BIT")) {
				*reply = (struct smtpd_reply){ 555, "5.5.4",
				    "Unsupported BODY value (7BIT or 8BITMIME)" };
				return false;
			}
		} else if (smtp_param_is(q, "RET")) {
			if (!smtpd_params_once(seen, 2))
				goto dup;
			out->ret = (enum mxr_ret)smtp_dsn_ret_parse(q->val, q->val_len);
			if (out->ret == MXR_RET_UNSET) {
				*reply = (struct smtpd_reply){ 501, "5.5.4", "Bad RET value (FULL or HDRS)" };
				return false;
			}
		} else if (smtp_param_is(q, "ENVID")) {
			if (!smtpd_params_once(seen, 3))
				goto dup;
			if (q->val == NULL || q->val_len == 0 || q->val_len > SMTPD_ENVID_MAX ||
			    smtp_xtext_decode(q->val, q->val_len, out->envid, sizeof(out->envid)) < 0) {
				*reply = (struct smtpd_reply){ 501, "5.5.4", "Bad ENVID value" };
				return false;
			}
			out->has_envid = true;
		} else if (smtp_param_is(q, "SMTPUTF8")) {
			if (!smtpd_params_once(seen, 4))
				goto dup;
			if (q->val != NULL) {
				*reply = (struct smtpd_reply){ 501, "5.5.4", "SMTPUTF8 takes no value" };
				return false;
			}
			out->smtputf8 = true;
		} else if (smtp_param_is(q, "REQUIRETLS")) {
			/* RFC 8689 3: a flag; the session decides whether it may be used. */
			if (!smtpd_params_once(seen, 6))
				goto dup;
			if (q->val != NULL) {
				*reply = (struct smtpd_reply){ 501, "5.5.4", "REQUIRETLS takes no value" };
				return false;
			}
			out->requiretls = true;
		} else if (smtp_param_is(q, "AUTH")) {
			/* RFC 4954 5: taken, but the identity of a relay client is not trusted. */
			char tmp[512];
			if (!smtpd_params_once(seen, 5))
				goto dup;
			if (q->val == NULL || q->val_len == 0 ||
			    smtp_xtext_decode(q->val, q->val_len, tmp, sizeof(tmp)) < 0) {
				*reply = (struct smtpd_reply){ 501, "5.5.4", "Bad AUTH value" };
				return false;
			}
		} else {
			*reply = smtpd_params_unknown;
			return false;
		}
	}
	return true;
dup:
	*reply = smtpd_params_dup;
	return false;
}

/* Check and decode ORCPT=addr-type;xtext into out. */
static bool smtpd_params_orcpt(const struct smtp_param *p, char *out, size_t outlen)
{
	if (p->val == NULL || p->val_len == 0 || p->val_len > SMTPD_ORCPT_MAX)
		return false;
	const char *semi = memchr(p->val, ';', p->val_len);
	if (semi == NULL || semi == p->val)
		return false;
	size_t tlen = (size_t)(semi - p->val);
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)p->val[i];
		bool atext = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-';
		if (!atext)
			return false;
	}
	size_t rest = p->val_len - tlen - 1;
	if (rest == 0 || tlen + 1 >= outlen)
		return false;
	memcpy(out, p->val, tlen + 1);
	return smtp_xtext_decode(semi + 1, rest, out + tlen + 1, outlen - tlen - 1) >= 0;
}

bool smtpd_params_rcpt(const struct smtp_param *p, size_t n,
    struct smtpd_rcpt_params *out, struct smtpd_reply *reply)
{
	bool seen[SMTPD_PARAMS_KEYS] = { false };
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const struct smtp_param *q = &p[i];
		if (smtp_param_is(q, "NOTIFY")) {
			if (!smtpd_params_once(seen, 0))
				goto dup;
			out->notify = smtp_dsn_notify_parse(q->val, q->val_len, NULL);
			if (out->notify == 0) {
				*reply = (struct smtpd_reply){ 501, "5.5.4",
				    "Bad NOTIFY value (NEVER, or SUCCESS,FAILURE,DELAY)" };
				return false;
			}
		} else if (smtp_param_is(q, "ORCPT")) {
			if (!smtpd_params_once(seen, 1))
				goto dup;
			if (!smtpd_params_orcpt(q, out->orcpt, sizeof(out->orcpt))) {
				*reply = (struct smtpd_reply){ 501, "5.5.4", "Bad ORCPT value" };
				return false;
			}
			out->has_orcpt = true;
		} else {
			*reply = smtpd_params_unknown;
			return false;
		}
	}
	return true;
dup:
	*reply = smtpd_params_dup;
	return false;
}
