/*
 * dnssec_check: whether the DNS server the relay asks passes what DNSSEC
 * validation needs. A forwarder that strips RRSIG, DNSKEY and DS records
 * makes every signed answer bogus, so mail to every signed domain would
 * wait with 4.7.5 while nothing said why; this check says it, at start,
 * after each reload and every ten minutes, by asking for a name that does
 * not exist under the zone of the configured trust anchor (the root,
 * usually) and seeing its denial validate.
 *
 * Owns: its own resolver (the delivery's server and anchors), the state
 * last seen (unknown, secure, failing) and the log lines of each change.
 * Never: changes how mail is delivered; logs the same state twice in a row
 * except once an hour while failing.
 */
#ifndef MXR_DNSSEC_CHECK_H
#define MXR_DNSSEC_CHECK_H

#include <stdbool.h>

struct event_base;
struct config;
struct dnssec_check;

/* Start checking under cfg (nothing to check without trust anchors). */
struct dnssec_check *dnssec_check_new(struct event_base *base, const struct config *cfg);
/* A new configuration (reload): its server and anchors, checked at once. */
void dnssec_check_set_config(struct dnssec_check *c, const struct config *cfg);
/* Whether the last check found validation failing (false when unknown or off). */
bool dnssec_check_failing(const struct dnssec_check *c);
/* NULL is fine. */
void dnssec_check_free(struct dnssec_check *c);

#endif
