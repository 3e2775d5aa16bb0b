/*
 * auth_db: the SMTP AUTH credentials file and password verification.
 *
 * Owns: the "user:hash" file grammar (comments, blank lines, errors naming
 * file and line), the accepted hash types (yescrypt "$y$", bcrypt
 * "$2b$"/"$2y$", sha512-crypt "$6$", sha256-crypt "$5$"), the sorted user
 * table, and the constant-work check.
 * Never: logs, keeps or compares a clear-text password beyond one
 * crypt_rn() call; never answers an unknown user with less work than a
 * known one (a dummy hash of the same kind is computed instead).
 */
#include "policy/auth_db.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"
#include "util/log.h"
#include "util/xalloc.h"

#define AUTH_DB_FILE_MAX (16 * 1024 * 1024)
#define AUTH_DB_LINE_MAX 4096
#define AUTH_DB_USER_MAX 255
/* Longest password tried; longer ones fail after the same work. */
#define AUTH_DB_PASS_MAX 1024

struct auth_db_entry {
	char *user;	/* owned */
	char *hash;	/* owned; crypt(3) string */
};

struct auth_db {
	struct auth_db_entry *v;	/* sorted by user */
	size_t n;
	char *dummy;	/* owned; a hash of a random secret, same kind as the users' */
};

static const char *const auth_db_prefixes[] = { "$y$", "$2b$", "$2y$", "$6$", "$5$" };

/* Whether hash starts with an accepted prefix and holds only crypt characters. */
static bool auth_db_hash_ok(const char *hash)
{
	bool known = false;
	for (size_t i = 0; i < sizeof(auth_db_prefixes) / sizeof(auth_db_prefixes[0]); i++)
		if (strncmp(hash, auth_db_prefixes[i], strlen(auth_db_prefixes[i])) == 0)
			known = true;
	if (!known || strlen(hash) < 10 || strlen(hash) >= CRYPT_OUTPUT_SIZE)
		return false;
	for (const char *s = hash; *s != '\0'; s++) {
		char ch = *s;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '/' || ch == '$' || ch == '=';
		if (!ok)
			return false;
	}
	return true;
}

/* qsort/bsearch order by user name. */
static int auth_db_cmp(const void *a, const void *b)
{
	return strcmp(((const struct auth_db_entry *)a)->user,
	    ((const struct auth_db_entry *)b)->user);
}

/* Hash pass with setting into out (a struct crypt_data); NULL on failure. */
static const char *auth_db_crypt(const char *pass, const char *setting, struct crypt_data *cd)
{
	memset(cd, 0, sizeof(*cd));
	const char *h = crypt_rn(pass, setting, cd, (int)sizeof(*cd));
	if (h == NULL || h[0] == '*')
		return NULL;
	return h;
}

/* Constant-time equality of two NUL-terminated strings of public length. */
static bool auth_db_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return false;
	volatile unsigned char diff = 0;
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* Make the dummy hash: the first user's setting (same cost) over a random secret. */
static char *auth_db_make_dummy(const struct auth_db *db)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *base = NULL;
	if (db->n > 0)
		base = db->v[0].hash;
	else if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)) != NULL)
		base = setting;
	if (base == NULL)
		return NULL;
	unsigned char rnd[16];
	char secret[sizeof(rnd) * 2 + 1];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, rnd, sizeof(rnd)) : -1;
	if (fd >= 0)
		close(fd);
	if (r != (ssize_t)sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(secret + 2 * i, 3, "%02x", rnd[i]);
	struct crypt_data *cd = xmalloc(sizeof(*cd));
	const char *h = auth_db_crypt(secret, base, cd);
	char *out = h ? xstrdup(h) : NULL;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return out;
}

/* Parse one line into db; 0, or -1 with err "PATH:LINE: ...". */
static int auth_db_line(struct auth_db *db, const char *path, unsigned lineno, char *s,
    char *err, size_t errlen)
{
	char q[300];
	for (char *t = s; *t != '\0'; t++) {
		unsigned char ch = (unsigned char)*t;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			snprintf(err, errlen, "%s:%u: control character in line", path, lineno);
			return -1;
		}
	}
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	if (len == 0 || s[0] == '#')
		return 0;
	char *colon = strchr(s, ':');
	if (colon == NULL || colon == s) {
		snprintf(err, errlen, "%s:%u: expected 'user:hash'", path, lineno);
		return -1;
	}
	*colon = '\0';
	const char *user = s, *hash = colon + 1;
	if (strlen(user) > AUTH_DB_USER_MAX || strpbrk(user, " \t") != NULL) {
		snprintf(err, errlen, "%s:%u: user name '%s' is too long or holds white space",
		    path, lineno, log_printable(q, sizeof(q), user, strlen(user) > 64 ? 64 : strlen(user)));
		return -1;
	}
	if (hash[0] == '\0') {
		snprintf(err, errlen, "%s:%u: user '%s' has an empty hash", path, lineno,
		    log_printable(q, sizeof(q), user, strlen(user)));
		return -1;
	}
	if (!auth_db_hash_ok(hash)) {
		/* The hash itself is not printed: it is secret material. */
		snprintf(err, errlen, "%s:%u: user '%s': not a yescrypt ($y$), bcrypt ($2b$, $2y$), "
		    "sha512-crypt ($6$) or sha256-crypt ($5$) hash", path, lineno,
		    log_printable(q, sizeof(q), user, strlen(user)));
		return -1;
	}
	db->v = xreallocarray(db->v, db->n + 1, sizeof(*db->v));
	db->v[db->n].user = xstrdup(user);
	db->v[db->n].hash = xstrdup(hash);
	db->n++;
	return 0;
}

struct auth_db *auth_db_load(const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = file_read_all(path, AUTH_DB_FILE_MAX, &len, err, errlen);
	if (text == NULL)
		return NULL;
	struct auth_db *db = auth_db_load_text(path, text, len, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return db;
}

struct auth_db *auth_db_load_text(const char *path, const char *text, size_t len, char *err,
    size_t errlen)
{
	if (len > AUTH_DB_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d octets", path, AUTH_DB_FILE_MAX);
		return NULL;
	}
	struct auth_db *db = xcalloc(1, sizeof(*db));
	char *line = xmalloc(AUTH_DB_LINE_MAX + 1);
	unsigned lineno = 0;
	int rc = 0;
	for (size_t pos = 0; pos < len && rc == 0;) {
		lineno++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (n > AUTH_DB_LINE_MAX) {
			snprintf(err, errlen, "%s:%u: line longer than %d octets", path, lineno,
			    AUTH_DB_LINE_MAX);
			rc = -1;
		} else if (memchr(text + pos, '\0', n) != NULL) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", path, lineno);
			rc = -1;
		} else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			rc = auth_db_line(db, path, lineno, line, err, errlen);
		}
		pos = end + 1;
	}
	explicit_bzero(line, AUTH_DB_LINE_MAX + 1);
	free(line);
	if (rc == 0 && db->n > 1) {
		qsort(db->v, db->n, sizeof(*db->v), auth_db_cmp);
		for (size_t i = 1; i < db->n; i++) {
			if (strcmp(db->v[i - 1].user, db->v[i].user) == 0) {
				char q[300];
				snprintf(err, errlen, "%s: user '%s' is listed twice", path,
				    log_printable(q, sizeof(q), db->v[i].user, strlen(db->v[i].user)));
				rc = -1;
				break;
			}
		}
	}
	if (rc == 0) {
		db->dummy = auth_db_make_dummy(db);
		if (db->dummy == NULL) {
			snprintf(err, errlen, "%s: the crypt library rejects the hash of user '%s'",
			    path, db->n > 0 ? db->v[0].user : "(none)");
			rc = -1;
		}
	}
	if (rc < 0) {
		auth_db_free(db);
		return NULL;
	}
	return db;
}

void auth_db_free(struct auth_db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->n; i++) {
		free(db->v[i].user);
		explicit_bzero(db->v[i].hash, strlen(db->v[i].hash));
		free(db->v[i].hash);
	}
	free(db->v);
	free(db->dummy);
	free(db);
}

bool auth_db_check(const struct auth_db *db, const char *user, const char *pass)
{
	if (db == NULL || user == NULL || pass == NULL)
		return false;
	const struct auth_db_entry *e = NULL;
	if (db->n > 0) {
		struct auth_db_entry key = { .user = (char *)(uintptr_t)user, .hash = NULL };
		e = bsearch(&key, db->v, db->n, sizeof(*db->v), auth_db_cmp);
	}
	const char *hash = e ? e->hash : db->dummy;
	/* Work is spent even when the answer is already known to be no. */
	bool usable = strlen(pass) <= AUTH_DB_PASS_MAX;
	struct crypt_data *cd = xmalloc(sizeof(*cd));
	const char *got = auth_db_crypt(usable ? pass : "", hash, cd);
	bool ok = got != NULL && auth_db_equal(got, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok && usable && e != NULL;
}

size_t auth_db_count(const struct auth_db *db)
{
	return db ? db->n : 0;
}
