/*
 * term: what the command line's progress lines ask of the terminal: whether
 * standard error is one that understands cursor movement, whether standard
 * output is the same terminal (so a line printed there must first clear
 * the progress), and numbers with their thousands grouped for reading.
 * Never: writes anything itself.
 */
#ifndef MXR_TERM_H
#define MXR_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Standard error is a terminal that is not "dumb": progress may be drawn there. */
bool term_progress_wanted(void);
/* Standard output is the same terminal as standard error. */
bool term_stdout_shares_stderr(void);
/* n as "3,412" into buf; buf. */
const char *term_group_digits(char *buf, size_t cap, uint64_t n);

#endif
