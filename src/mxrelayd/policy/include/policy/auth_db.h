/*
 * auth_db: the SMTP AUTH credentials file, lines of "user:crypt-hash"
 * (crypt(3) hashes: yescrypt "$y$", bcrypt "$2b$", sha512-crypt "$6$").
 *
 * Owns: loading and checking the file (errors name file and line), and
 * password verification. Never: logs or keeps a clear-text password;
 * never answers faster for an unknown user than for a wrong password.
 * auth_db_check() is safe to call from a worker thread (crypt_r).
 */
#ifndef MXR_AUTH_DB_H
#define MXR_AUTH_DB_H

#include <stdbool.h>
#include <stddef.h>

struct auth_db;

struct auth_db *auth_db_load(const char *path, char *err, size_t errlen);
/* The same from the file's text[0..len), read elsewhere (path names it in errors). */
struct auth_db *auth_db_load_text(const char *path, const char *text, size_t len, char *err,
    size_t errlen);
void auth_db_free(struct auth_db *db);
/* Whether pass is user's password. */
bool auth_db_check(const struct auth_db *db, const char *user, const char *pass);
size_t auth_db_count(const struct auth_db *db);

#endif
