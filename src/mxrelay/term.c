/*
 * term: the terminal as the progress lines see it (see term.h).
 */
#include "term.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool term_progress_wanted(void)
{
	const char *term = getenv("TERM");
	return isatty(STDERR_FILENO) && (term == NULL || (*term != '\0' && strcmp(term, "dumb") != 0));
}

bool term_stdout_shares_stderr(void)
{
	struct stat a, b;
	return isatty(STDOUT_FILENO) && fstat(STDOUT_FILENO, &a) == 0 &&
	    fstat(STDERR_FILENO, &b) == 0 && a.st_rdev == b.st_rdev;
}

const char *term_group_digits(char *buf, size_t cap, uint64_t n)
{
	char digits[32];
	int len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
	size_t o = 0;
	for (int i = 0; i < len && o + 2 < cap; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}
