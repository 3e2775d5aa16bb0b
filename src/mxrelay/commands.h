/*
 * commands: the subcommands of the mxrelay command line. Each takes the
 * arguments after its name (argv[0] is the subcommand) and returns the
 * process exit status (sysexits.h values).
 */
#ifndef MXR_COMMANDS_H
#define MXR_COMMANDS_H

/* The configuration the commands read when none is named: the installed
 * one, as the build defines it from the install prefix. */
#ifndef MXR_CONFIG_FILE
#define MXR_CONFIG_FILE "/etc/mxrelay/mxrelay.conf"
#endif

int cmd_send(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_queue(int argc, char **argv);
struct queue_store;
/* mxrelay queue migrate: report the schema of the store just opened (cmd_queue_migrate.c). */
int cmd_queue_migrate(struct queue_store *q);
int cmd_reload(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_tlsrpt(int argc, char **argv);
/* mxrelay dkim keygen: a DKIM key, its files and its record (cmd_dkim.c). */
int cmd_dkim(int argc, char **argv);
/* progname: how the program was invoked ("sendmail", "mailq", "mxrelay"). */
int cmd_sendmail(int argc, char **argv, const char *progname);
/* mailq, sendmail -bp: list the queue through the daemon's listing socket. */
int cmd_mailq(const char *prog, const char *config);

/* Where `mxrelay dkim keygen` writes keys when no --dir is given: beside
 * the configuration, as the build defines it from the install prefix. */
#ifndef MXR_DKIM_DIR
#define MXR_DKIM_DIR "/etc/mxrelay/dkim"
#endif

#endif
