/*
 * config_print: a loaded configuration written back as "key = value"
 * lines (`mxrelay check-config --print`, `--print-changed`).
 *
 * Owns: the printed form of every key, derived from the grammar's key
 * table. Never: prints a password; changes the configuration.
 */
#ifndef MXR_CONFIG_PRINT_H
#define MXR_CONFIG_PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"

/*
 * Write every key of the grammar with its effective value to out, in the
 * table's order, or with changed_only only those set in the file. A key
 * that may be repeated (listen, route) gets a line per value; an unset
 * optional one is printed as "key =". Returns 0, or -1 with *missing
 * naming a key of its own syntax that has no printer (a bug).
 */
int config_print(const struct config *c, bool changed_only, FILE *out, const char **missing);

/* The first key of its own syntax without a printer, or NULL (for the unit test). */
const char *config_print_unprintable(void);

#endif
