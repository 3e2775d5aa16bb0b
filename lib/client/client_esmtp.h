/*
 * client_esmtp: the ESMTP parameters the client puts on MAIL and RCPT
 * (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461 DSN,
 * RFC 8689 REQUIRETLS), chosen from what the server offered.
 *
 * Owns: which parameter goes out when, and their text (xtext for ENVID
 * and ORCPT). Never: does I/O; never sends a parameter the server did not
 * offer (a server that did not say DSN gets no NOTIFY, ORCPT, RET, ENVID).
 */
#ifndef MXR_CLIENT_ESMTP_H
#define MXR_CLIENT_ESMTP_H

#include <stddef.h>

#include "client_session.h"
#include "smtp/smtp_caps.h"

/* " SIZE=n BODY=8BITMIME SMTPUTF8 RET=.. ENVID=.." as offered; "" when none. */
void client_esmtp_mail_params(const struct smtp_caps *caps, const struct client_msg *m,
    char *p, size_t cap);

/*
 * " NOTIFY=.. ORCPT=.." when DSN is offered; ORCPT defaults to
 * "rfc822;" and the address (ASCII addresses only). "" otherwise.
 */
void client_esmtp_rcpt_params(const struct smtp_caps *caps, const struct client_rcpt *r,
    char *p, size_t cap);

#endif
