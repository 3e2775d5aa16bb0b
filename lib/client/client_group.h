/*
 * client_group: recipients sorted into one group per destination domain.
 *
 * Owns: checking each recipient's syntax, the case-insensitive grouping by
 * domain (address literals are their own group), and spotting duplicates
 * so that one address is sent one RCPT.
 * Never: does I/O or DNS.
 */
#ifndef MXR_CLIENT_GROUP_H
#define MXR_CLIENT_GROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "mxrelay/mxrelay.h"

struct client_group {
	char domain[256];	/* lower case; a literal keeps its brackets */
	bool literal;		/* "[192.0.2.1]" or "[IPv6:...]" */
	size_t *members;	/* owned: caller indices, first occurrences only, in order */
	size_t n;
};

struct client_grouping {
	struct client_group *groups;	/* owned, in order of first appearance */
	size_t ngroups;
	size_t nrcpts;
	size_t *dup_of;		/* owned: per recipient, its first occurrence (itself if none) */
	const char **bad;	/* owned array: per recipient a static reason, or NULL when valid */
	char (*domains)[256];	/* owned: per recipient its lower-case domain ("" when bad) */
};

/* Group rcpts[0..n). Never fails; bad addresses are marked, not grouped. */
void client_group_build(const struct mxr_rcpt *rcpts, size_t n, struct client_grouping *out);
/*
 * One next hop for every domain (a smarthost): the groups of domain names
 * become one, named after the first, members in the caller's order;
 * address literals keep their own groups.
 */
void client_group_merge(struct client_grouping *g);
void client_group_free(struct client_grouping *g);

#endif
