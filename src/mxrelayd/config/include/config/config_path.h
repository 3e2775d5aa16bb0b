/*
 * config_path: which configuration file mxrelayd and every mxrelay
 * command (check-config, queue, reload, sendmail, mailq) read when their
 * command line names none. One rule, so the daemon and the commands that
 * steer it always agree on the file, its queue and its control socket:
 *
 *   - a file named with -c is read, and one that cannot be read is an error;
 *   - with none named, the installed file (config_installed_path(), from the
 *     install prefix) is read when it exists, and then it is required: an
 *     existing file that cannot be read is an error, never a quiet fallback;
 *   - only when none is named and the installed file does not exist is the
 *     embedded default configuration (config_default_text()) used.
 *
 * Never: opens or parses the file (config_load does).
 */
#ifndef MXR_CONFIG_PATH_H
#define MXR_CONFIG_PATH_H

/* The installed configuration file, e.g. "/etc/mxrelay/mxrelay.conf". */
const char *config_installed_path(void);

/*
 * The path to give config_load(): named when it is not NULL; else the
 * installed file when it exists; else NULL, which config_load() takes as
 * the embedded default.
 */
const char *config_path_choose(const char *named);

#endif
