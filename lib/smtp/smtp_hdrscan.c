/*
 * smtp_hdrscan: Received fields, the Message-ID and TLS-Required of a
 * streaming header section (see smtp_hdrscan.h). Pure: no I/O, no
 * allocation.
 */
#include "smtp/smtp_hdrscan.h"

#include <string.h>
#include <strings.h>

void smtp_hdrscan_init(struct smtp_hdrscan *h)
{
	memset(h, 0, sizeof(*h));
	h->at_line_start = true;
}

/* The value of the field being read is complete. */
static void smtp_hdrscan_end_field(struct smtp_hdrscan *h)
{
	if (h->in_msgid) {
		h->in_msgid = false;
		while (h->msgid_len > 0 && h->msgid[h->msgid_len - 1] == ' ')
			h->msgid_len--;
		h->msgid[h->msgid_len] = '\0';
		h->have_msgid = h->msgid_len > 0;
	}
	if (h->in_tlsreq) {
		h->in_tlsreq = false;
		h->have_tlsreq = true;
	}
}

/* A field name ended with ':'. */
static void smtp_hdrscan_name(struct smtp_hdrscan *h)
{
	h->in_name = false;
	if (h->name_len == 8 && strncasecmp(h->name, "received", 8) == 0)
		h->received++;
	else if (h->name_len == 10 && strncasecmp(h->name, "message-id", 10) == 0 && !h->have_msgid)
		h->in_msgid = true;
	else if (h->name_len == 12 && strncasecmp(h->name, "tls-required", 12) == 0 &&
	    !h->have_tlsreq)
		h->in_tlsreq = true;
}

/* One octet of the value of the first Message-ID: white space folded to one space. */
static void smtp_hdrscan_msgid_octet(struct smtp_hdrscan *h, char c)
{
	if (c == ' ' || c == '\t') {
		if (h->msgid_len == 0 || h->msgid[h->msgid_len - 1] == ' ')
			return;
		c = ' ';
	}
	if (h->msgid_len < SMTP_HDRSCAN_MSGID_MAX) {
		h->msgid[h->msgid_len++] = c;
		h->msgid[h->msgid_len] = '\0';
	}
}

/* One octet of the value of the first TLS-Required: white space dropped. */
static void smtp_hdrscan_tlsreq_octet(struct smtp_hdrscan *h, char c)
{
	if (c == ' ' || c == '\t')
		return;
	if (h->tlsreq_len + 1 < sizeof(h->tlsreq))
		h->tlsreq[h->tlsreq_len++] = c;
	else
		h->tlsreq_long = true;
}

void smtp_hdrscan_feed(struct smtp_hdrscan *h, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !h->done; i++) {
		char c = p[i];
		if (c == '\r')
			continue;
		if (c == '\n') {
			if (h->line_len == 0) {
				/* An empty line ends the header section. */
				smtp_hdrscan_end_field(h);
				h->done = true;
			}
			/* A field name cut by the line end was no field. */
			h->in_name = false;
			h->at_line_start = true;
			h->line_len = 0;
			continue;
		}
		h->line_len++;
		if (h->at_line_start) {
			h->at_line_start = false;
			if (c == ' ' || c == '\t') {
				/* A continuation line: the field goes on. */
				if (h->in_msgid)
					smtp_hdrscan_msgid_octet(h, ' ');
				continue;
			}
			smtp_hdrscan_end_field(h);
			h->in_name = true;
			h->name_len = 0;
		}
		if (h->in_name) {
			if (c == ':')
				smtp_hdrscan_name(h);
			else if (h->name_len < sizeof(h->name))
				h->name[h->name_len++] = c;
			else
				h->in_name = false;	/* longer than any name looked for */
			continue;
		}
		if (h->in_msgid)
			smtp_hdrscan_msgid_octet(h, c);
		else if (h->in_tlsreq)
			smtp_hdrscan_tlsreq_octet(h, c);
	}
}

const char *smtp_hdrscan_msgid(const struct smtp_hdrscan *h)
{
	/* A header that ends with the message (no body, no empty line) still counts. */
	return h->have_msgid || (h->in_msgid && h->msgid_len > 0) ? h->msgid : NULL;
}

bool smtp_hdrscan_tls_optional(const struct smtp_hdrscan *h)
{
	/* A header that ends with the message still counts, as for the Message-ID. */
	if (!h->have_tlsreq && !h->in_tlsreq)
		return false;
	return !h->tlsreq_long && h->tlsreq_len == 2 && strncasecmp(h->tlsreq, "no", 2) == 0;
}
