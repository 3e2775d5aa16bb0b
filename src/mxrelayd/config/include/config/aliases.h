/*
 * aliases: the aliases(5) table of local names, and their expansion.
 *
 * Owns: the /etc/aliases grammar ("name: address, address", lines that
 * start with white space continue the entry above, '#' comment lines),
 * the refusal of the targets a relay cannot deliver (":include:",
 * "|program", "/file"), each error naming file and line, and the
 * expansion of a local name into the addresses the queue stores, with a
 * depth cap that catches loops.
 * Never: delivers, reads anything but the one file, or logs. The table is
 * frozen after parsing; lookups take a const pointer.
 */
#ifndef MXR_ALIASES_H
#define MXR_ALIASES_H

#include <stdbool.h>
#include <stddef.h>

/* Largest aliases file read (octets). */
#define ALIASES_FILE_MAX (4u * 1024u * 1024u)
/* Longest physical line, without its line end. */
#define ALIASES_LINE_MAX 4096
/* Nesting of names in names before the expansion is called a loop. */
#define ALIASES_DEPTH_MAX 10
/* Most addresses one name expands to. */
#define ALIASES_EXPAND_MAX 1000

struct aliases;

/* One name's entry, as written (targets are "local@domain" or a bare local name). */
struct aliases_entry {
	char *name;		/* owned; lower case */
	char **targets;		/* owned array of owned strings */
	size_t ntargets;
	unsigned line;		/* where the entry starts */
};

/*
 * Parse text[0..len) (need not be NUL-terminated), naming it name in
 * errors. Returns the table, or NULL with "NAME:LINE: what is wrong" in
 * err. Pure: no I/O.
 */
struct aliases *aliases_parse(const char *name, const char *text, size_t len, char *err,
    size_t errlen);
/* Read and parse path; NULL with "PATH:LINE: ..." (or "PATH: ...") in err. */
struct aliases *aliases_load(const char *path, char *err, size_t errlen);
void aliases_free(struct aliases *a);

/* The entry for a local name (any case), or NULL. */
const struct aliases_entry *aliases_find(const struct aliases *a, const char *name);
size_t aliases_count(const struct aliases *a);

enum aliases_result {
	ALIASES_OK,		/* *out holds the addresses */
	ALIASES_NONE,		/* the name has no alias */
	ALIASES_UNKNOWN,	/* a target is a local name without alias and there is no fallback */
	ALIASES_LOOP,		/* nesting passed ALIASES_DEPTH_MAX */
	ALIASES_TOO_MANY,	/* more than ALIASES_EXPAND_MAX addresses */
};

/*
 * Expand the local name (any case) into final addresses. A target is
 * local when it has no domain or its domain is one of locals[0..nlocals)
 * (compared without case); a local target with an alias is expanded in
 * turn, one without goes to fallback when it is not NULL. The addresses
 * are "local@domain", each once, into *out (owned array of owned
 * strings, free with aliases_list_free). On ALIASES_UNKNOWN, *missing
 * (static storage of the table) names the local target that has no alias.
 */
enum aliases_result aliases_expand(const struct aliases *a, const char *name,
    const char *const *locals, size_t nlocals, const char *fallback, char ***out, size_t *n,
    const char **missing);
void aliases_list_free(char **list, size_t n);

#endif
