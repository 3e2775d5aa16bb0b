/*
 * privdrop: leave root for an unprivileged account, for good.
 *
 * Owns: looking up the account, setting the supplementary groups, the
 * group and the user in that order (the group calls need root), and
 * checking afterwards that neither uid 0 nor gid 0 can be regained.
 * Never: continues as root after being asked to drop, or after any of
 * the calls failed.
 */

#include "privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int privdrop_drop(const char *user, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	const char *name = user != NULL ? user : CFG_DEFAULT_USER;

	if (geteuid() != 0) {
		if (user == NULL)
			return 0;
		if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
			snprintf(err, errlen, "user %s: no such user", user);
			return -1;
		}
		if (pw.pw_uid != geteuid()) {
			snprintf(err, errlen, "cannot become user %s: not started as root", user);
			return -1;
		}
		return 0;
	}
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
		if (user == NULL)
			snprintf(err, errlen, "refusing to run as root: set `user` in the configuration "
			    "or create the system user %s", CFG_DEFAULT_USER);
		else
			snprintf(err, errlen, "user %s: no such user", user);
		return -1;
	}
	if (pw.pw_uid == 0) {
		snprintf(err, errlen, "refusing to run as root: user %s has uid 0", name);
		return -1;
	}
	if (initgroups(pw.pw_name, pw.pw_gid) != 0) {
		snprintf(err, errlen, "initgroups %s: %s", name, strerror(errno));
		return -1;
	}
	if (setgid(pw.pw_gid) != 0) {
		snprintf(err, errlen, "setgid %lu: %s", (unsigned long)pw.pw_gid, strerror(errno));
		return -1;
	}
	if (setuid(pw.pw_uid) != 0) {
		snprintf(err, errlen, "setuid %lu: %s", (unsigned long)pw.pw_uid, strerror(errno));
		return -1;
	}
	/* Proof: root must be gone for good, saved ids included. */
	if (setuid(0) == 0 || seteuid(0) == 0) {
		snprintf(err, errlen, "still able to regain root after dropping to %s", name);
		return -1;
	}
	if (pw.pw_gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) {
		snprintf(err, errlen, "still able to regain group 0 after dropping to %s", name);
		return -1;
	}
	if (getuid() != pw.pw_uid || geteuid() != pw.pw_uid || getgid() != pw.pw_gid ||
	    getegid() != pw.pw_gid) {
		snprintf(err, errlen, "ids did not change as asked for user %s", name);
		return -1;
	}
	return 0;
}

/* Give one entry of the queue directory to the daemon's account and take it from everyone else. */
static int privdrop_fix_entry(int dfd, const char *name, bool root, uid_t uid, gid_t gid,
    unsigned *fixed, char *err, size_t errlen, const char *dir)
{
	/* Never through a link: a link planted in the queue is left alone. */
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "stat %s/%s: %s", dir, name,
		    strerror(errno)), -1);
	if (S_ISLNK(st.st_mode))
		return 0;
	if (root && fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "chown %s/%s: %s", dir, name, strerror(errno));
		return -1;
	}
	/* The database, its WAL and spool files: readable by the daemon's account only. */
	if (S_ISREG(st.st_mode) && (st.st_mode & 07077) != 0 && (root || st.st_uid == geteuid())) {
		if (fchmodat(dfd, name, st.st_mode & 0700, 0) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "chmod %s/%s: %s", dir, name, strerror(errno));
			return -1;
		}
		(*fixed)++;
	}
	return 0;
}

int privdrop_prepare_dir(const char *user, const char *dir, unsigned *fixed, char *err,
    size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	const char *name = user != NULL ? user : CFG_DEFAULT_USER;
	bool root = geteuid() == 0;

	*fixed = 0;
	if (root && (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)) {
		snprintf(err, errlen, "user %s: no such user", name);
		return -1;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	/* O_NOFOLLOW: a symlink planted in place of the queue is not followed. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (dfd < 0) {
		snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(dfd, &st) != 0) {
		snprintf(err, errlen, "stat %s: %s", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	/*
	 * Queued mail is private whatever the directory's mode was: 0700, whatever
	 * the umask. Only its owner (or root) may change that; a directory that is
	 * not ours is left for the store to refuse with a clear error.
	 */
	if ((st.st_mode & 07777) != 0700 && (root || st.st_uid == geteuid())) {
		if (fchmod(dfd, 0700) != 0) {
			snprintf(err, errlen, "chmod %s: %s", dir, strerror(errno));
			close(dfd);
			return -1;
		}
		(*fixed)++;
	}
	if (root && fchown(dfd, pw.pw_uid, pw.pw_gid) != 0) {
		snprintf(err, errlen, "chown %s: %s", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		snprintf(err, errlen, "opendir %s: %s", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = privdrop_fix_entry(dirfd(d), de->d_name, root, root ? pw.pw_uid : 0,
		    root ? pw.pw_gid : 0, fixed, err, errlen, dir);
	}
	closedir(d);
	return rc;
}
