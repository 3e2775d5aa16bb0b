/*
 * config_path: the configuration file read when none is named (the rule
 * is in config/config_path.h).
 *
 * Owns: the installed path, MXR_CONFIG_FILE, which cmake/install.cmake
 * derives from the install prefix for this library and the command line
 * alike. Never: reads the file.
 */
#include "config/config_path.h"

#include <stddef.h>
#include <unistd.h>

#ifndef MXR_CONFIG_FILE
#error "MXR_CONFIG_FILE is defined by cmake/install.cmake"
#endif

const char *config_installed_path(void)
{
	return MXR_CONFIG_FILE;
}

const char *config_path_choose(const char *named)
{
	if (named != NULL)
		return named;
	/* F_OK, not R_OK: a file that is there but unreadable must be reported. */
	if (access(MXR_CONFIG_FILE, F_OK) == 0)
		return MXR_CONFIG_FILE;
	return NULL;
}
