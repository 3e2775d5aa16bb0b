/*
 * fuzz_control: arbitrary bytes as a control-socket request line. A line
 * that parses must give a bounded, NUL-terminated argument, and the
 * request written back as "verb arg" must parse to the same request.
 * A sender argument keeps no angle brackets unless it is "<>" itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_req req;
	const char *why = NULL;
	if (control_parse((const char *)data, size, &req, &why) != 0) {
		if (why == NULL)
			abort();
		return 0;
	}
	size_t alen = strnlen(req.arg, sizeof(req.arg));
	if (alen > CONTROL_ARG_MAX)
		abort();
	char line[CONTROL_ARG_MAX + 64];
	int n = snprintf(line, sizeof(line), "%s%s%s", control_verb_name(req.verb),
	    alen > 0 ? " " : "", req.arg);
	if (n < 0 || (size_t)n >= sizeof(line))
		abort();
	if (req.verb == CONTROL_SELECT_SENDER && strcmp(req.arg, "<>") != 0 &&
	    (strchr(req.arg, '<') != NULL || strchr(req.arg, '>') != NULL || alen == 0))
		abort();
	struct control_req again;
	if (control_parse(line, (size_t)n, &again, &why) != 0 || again.verb != req.verb ||
	    strcmp(again.arg, req.arg) != 0)
		abort();
	return 0;
}
