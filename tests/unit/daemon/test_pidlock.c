/*
 * Unit tests of pidlock: the queue directory's lock file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidlock.h"

/* A fresh temporary directory. */
static void make_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/mxr-pidlock-XXXXXX");
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp failed");
}

static void remove_dir(const char *dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, PIDLOCK_NAME);
	unlink(path);
	rmdir(dir);
}

/* The lock is taken once and refused while held, naming the holder's pid. */
static void test_second_take_refused(void **state)
{
	(void)state;
	char dir[64], err[512], path[256], want[64], got[64] = "";
	make_dir(dir, sizeof(dir));
	int fd = pidlock_take(dir, err, sizeof(err));
	if (fd < 0)
		fail_msg("first take: got error %s, want a descriptor", err);
	snprintf(path, sizeof(path), "%s/%s", dir, PIDLOCK_NAME);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	if (fgets(got, sizeof(got), f) == NULL)
		got[0] = '\0';
	fclose(f);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	if (strcmp(got, want) != 0)
		fail_msg("lock file holds %s, want %s", got, want);

	int fd2 = pidlock_take(dir, err, sizeof(err));
	if (fd2 >= 0)
		fail_msg("second take: got a descriptor, want a refusal");
	snprintf(want, sizeof(want), "pid %ld", (long)getpid());
	if (strstr(err, "in use by another mxrelayd") == NULL || strstr(err, want) == NULL)
		fail_msg("refusal says %s, want \"in use by another mxrelayd\" and %s", err, want);

	pidlock_release(fd);
	fd2 = pidlock_take(dir, err, sizeof(err));
	if (fd2 < 0)
		fail_msg("take after release: got error %s", err);
	pidlock_release(fd2);
	pidlock_release(-1);
	remove_dir(dir);
}

/* A missing queue directory is made (mode 0700), as on a first start without root. */
static void test_creates_dir(void **state)
{
	(void)state;
	char top[64], dir[96], err[512];
	struct stat st;
	make_dir(top, sizeof(top));
	snprintf(dir, sizeof(dir), "%s/queue", top);
	int fd = pidlock_take(dir, err, sizeof(err));
	if (fd < 0)
		fail_msg("take in a missing directory: got error %s", err);
	assert_int_equal(stat(dir, &st), 0);
	if ((st.st_mode & 0777) != 0700)
		fail_msg("queue directory mode %o, want 700", (unsigned)(st.st_mode & 0777));
	pidlock_release(fd);
	remove_dir(dir);
	rmdir(top);
}

/* A directory that cannot be made: the error names it, the user and the cause. */
static void test_missing_dir(void **state)
{
	(void)state;
	char err[512];
	int fd = pidlock_take("/nonexistent/mxr-queue", err, sizeof(err));
	if (fd >= 0)
		fail_msg("got a descriptor for a missing directory");
	if (strstr(err, "/nonexistent/mxr-queue") == NULL || strstr(err, "as user ") == NULL ||
	    strstr(err, "No such file") == NULL)
		fail_msg("error says %s, want the directory, the user and the cause", err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_second_take_refused),
		cmocka_unit_test(test_creates_dir),
		cmocka_unit_test(test_missing_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
