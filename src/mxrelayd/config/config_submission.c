/*
 * config_submission: the keys of mail the relay's own users submit:
 * sender_login (the file of the senders each user may use, parsed here so
 * that its errors are the configuration's).
 *
 * Owns: reading the sender_login file through the
 * parser's file set on a reload (the privileged helper read it) or from
 * the disk, and what they add to struct config.
 * Never: reads a file in submission mode (sendmail needs none of them).
 */
#include "config/config.h"
#include "config/sender_login.h"
#include "config_parser.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/file.h"
#include "util/xalloc.h"

int cfg_finish_submission(struct cfg_parser *p)
{
	struct config *c = p->c;
	if (c->sender_login_file == NULL || p->submission)
		return 0;
	char err[700];
	if (p->files != NULL) {
		char ferr[512];
		size_t len = 0;
		const char *text = file_set_get(p->files, c->sender_login_file, SENDER_LOGIN_FILE_MAX,
		    &len, ferr, sizeof(ferr));
		if (text == NULL)
			snprintf(err, sizeof(err), "cannot read %s", ferr);
		c->sender_login = text != NULL ? sender_login_parse(c->sender_login_file, text, len,
		    err, sizeof(err)) : NULL;
	} else {
		c->sender_login = sender_login_load(c->sender_login_file, err, sizeof(err));
	}
	if (c->sender_login == NULL)
		return cfg_error_at(p, p->key_line[cfg_key_index("sender_login")], "sender_login: %s",
		    err);
	return 0;
}

void config_submission_free(struct config *c)
{
	free(c->sender_login_file);
	sender_login_free(c->sender_login);
}
