/*
 * cmd_dkim: `mxrelay dkim keygen DOMAIN SELECTOR [--algorithm ALG]
 * [--bits N] [--dir DIR]`: a new DKIM signing key and what to publish
 * for it.
 *
 * Owns: checking DOMAIN (made A-labels, lower case) and SELECTOR with
 * lib/dkim's one name rule; the two files DIR/DOMAIN.SELECTOR.key (the
 * private key, PKCS#8 PEM, mode 0600) and DIR/DOMAIN.SELECTOR.txt (the
 * zone-file line, its TXT data split into strings of at most 255
 * octets), each written to a temporary file, synced, and linked into
 * place so that an existing file is never replaced and a crash leaves
 * the whole file or none; the lines printed (the record, the
 * mxrelay.conf line); the exit status: 0 done, 64 bad arguments, 70 no
 * key could be made, 73 a file exists or cannot be created, 74 a write
 * failed.
 * Never: overwrites a file; prints or logs the private key; leaves the
 * key's PEM in memory it frees without cleansing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "commands.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_sign.h"
#include "dns/dns_idna.h"
#include "util/xalloc.h"

/* The longest string of a TXT record (RFC 1035 3.3.14). */
#define DKIM_TXT_STRING_MAX 255

static const char dkim_usage[] =
    "usage: mxrelay dkim keygen DOMAIN SELECTOR [--algorithm ALG] [--bits N] [--dir DIR]\n"
    "  keygen               make a new DKIM signing key for DOMAIN under SELECTOR:\n"
    "                       DIR/DOMAIN.SELECTOR.key (the private key, PKCS#8 PEM,\n"
    "                       mode 0600) and DIR/DOMAIN.SELECTOR.txt (the DNS record\n"
    "                       to publish, as a zone-file line); never replaces a file\n"
    "  DOMAIN               the signing domain (d=); a UTF-8 name is made A-labels\n"
    "  SELECTOR             the selector (s=): labels of letters, digits and hyphens\n"
    "  -a, --algorithm ALG  rsa-sha256 (the default) or ed25519-sha256 (RFC 8463)\n"
    "  -b, --bits N         RSA key size, 2048 (the default) to 4096\n"
    "  -d, --dir DIR        where the files go (default " MXR_DKIM_DIR ",\n"
    "                       made mode 0700 when missing)\n"
    "Prints the record and the dkim_sign line for mxrelay.conf.\n"
    "Exit status: 0 done, 64 bad arguments, 70 no key could be made, 73 a file\n"
    "exists or cannot be created, 74 a write failed.\n";

struct dkim_args {
	const char *action;
	const char *domain;	/* as given */
	const char *selector;
	const char *dir;
	enum dkim_alg alg;
	unsigned bits;
};

/* Say what is wrong with the arguments, then the usage; EX_USAGE. */
static int dkim_bad(const char *what, const char *arg)
{
	if (arg != NULL)
		fprintf(stderr, "mxrelay dkim: %s: \"%s\"\n", what, arg);
	else
		fprintf(stderr, "mxrelay dkim: %s\n", what);
	fputs(dkim_usage, stderr);
	return EX_USAGE;
}

static const struct option dkim_longopts[] = {
	{ "algorithm", required_argument, NULL, 'a' },
	{ "bits", required_argument, NULL, 'b' },
	{ "dir", required_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The options and words of the command line into a; -1 to go on, else the exit status. */
static int dkim_parse_args(int argc, char **argv, struct dkim_args *a)
{
	*a = (struct dkim_args){ .dir = MXR_DKIM_DIR, .alg = DKIM_ALG_RSA_SHA256 };
	const char *bits = NULL;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":a:b:d:h", dkim_longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!dkim_alg_parse(optarg, &a->alg))
				return dkim_bad("--algorithm wants rsa-sha256 or ed25519-sha256", optarg);
			break;
		case 'b': bits = optarg; break;
		case 'd': a->dir = optarg; break;
		case 'h':
			fputs(dkim_usage, stdout);
			return EX_OK;
		case ':':
		default: {
			char shopt[3] = { '-', (char)optopt, '\0' };
			const char *bad = optopt > 0 && optopt < 128 ? shopt : argv[optind - 1];
			return dkim_bad(c == ':' ? "this option needs a value" : "unknown option", bad);
		}
		}
	}
	if (optind >= argc)
		return dkim_bad("no action given (keygen)", NULL);
	a->action = argv[optind++];
	if (strcmp(a->action, "keygen") != 0)
		return dkim_bad("unknown action", a->action);
	if (argc - optind != 2)
		return dkim_bad("keygen takes DOMAIN and SELECTOR", NULL);
	a->domain = argv[optind];
	a->selector = argv[optind + 1];
	a->bits = DKIM_KEY_RSA_MIN_BITS;
	if (bits != NULL) {
		if (a->alg != DKIM_ALG_RSA_SHA256)
			return dkim_bad("--bits goes with rsa-sha256 (an Ed25519 key has no size to "
			    "choose)", bits);
		char *end;
		errno = 0;
		unsigned long n = strtoul(bits, &end, 10);
		if (errno != 0 || end == bits || *end != '\0' || bits[0] == '-' ||
		    n < DKIM_KEY_RSA_MIN_BITS || n > DKIM_KEY_RSA_MAX_BITS)
			return dkim_bad("--bits wants 2048 to 4096 (RFC 8301: at least 2048; "
			    "receivers need only verify up to 4096)", bits);
		a->bits = (unsigned)n;
	}
	if (a->dir == NULL || a->dir[0] == '\0')
		return dkim_bad("--dir wants a directory", a->dir);
	return -1;
}

/*
 * DOMAIN as d= wants it into out: one trailing dot dropped, U-labels made
 * A-labels, lower case, and the name rule; false after saying why.
 */
static bool dkim_domain(const char *in, char *out, size_t cap)
{
	char name[DNS_IDNA_INPUT_MAX + 1];
	size_t n = strlen(in);
	if (n == 0 || n > DNS_IDNA_INPUT_MAX) {
		dkim_bad("DOMAIN is empty or too long", in);
		return false;
	}
	memcpy(name, in, n + 1);
	if (n > 1 && name[n - 1] == '.')
		name[n - 1] = '\0';
	const char *reason = NULL;
	if (dns_idna_needed(name)) {
		if (!dns_idna_to_ascii(name, out, cap, &reason)) {
			char what[160];
			snprintf(what, sizeof(what), "DOMAIN is no valid internationalised name (%s)",
			    reason);
			dkim_bad(what, in);
			return false;
		}
	} else if (snprintf(out, cap, "%s", name) >= (int)cap) {
		dkim_bad("DOMAIN is too long", in);
		return false;
	}
	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (!dkim_sign_name_ok(out)) {
		dkim_bad("DOMAIN is no domain name (labels of letters, digits and hyphens, "
		    "1 to 63 octets, at most 253 in all)", in);
		return false;
	}
	return true;
}

/* The zone-file line for the record at SELECTOR._domainkey.DOMAIN. (malloc'd). */
static char *dkim_zone_line(const char *selector, const char *domain, const char *record)
{
	size_t n = strlen(record);
	size_t cap = strlen(selector) + strlen(domain) + n + n / DKIM_TXT_STRING_MAX * 3 + 64;
	char *line = xmalloc(cap);
	size_t o = (size_t)snprintf(line, cap, "%s._domainkey.%s. IN TXT (", selector, domain);
	/* The record's octets need no escaping: base64, letters, "=", ";" and SP. */
	for (size_t at = 0; at < n; at += DKIM_TXT_STRING_MAX) {
		size_t k = n - at < DKIM_TXT_STRING_MAX ? n - at : DKIM_TXT_STRING_MAX;
		o += (size_t)snprintf(line + o, cap - o, " \"%.*s\"", (int)k, record + at);
	}
	snprintf(line + o, cap - o, " )");
	return line;
}

/* Write all of p[0..n) to fd; false with errno set. */
static bool dkim_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/*
 * Create dir/name holding data[0..n) with mode, never replacing a file:
 * written to a temporary file (O_EXCL through mkstemp), synced, then
 * linked to its name (link fails on an existing name, where rename would
 * replace it). The directory is synced by the caller once both files are
 * in. Returns 0, or the exit status after saying why.
 */
static int dkim_create(const char *dir, const char *name, const char *data, size_t n,
    mode_t mode)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp)) {
		fprintf(stderr, "mxrelay dkim: %s/%s: the path is too long\n", dir, name);
		return EX_CANTCREAT;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "mxrelay dkim: cannot create a file in %s: %s\n", dir, strerror(errno));
		return EX_CANTCREAT;
	}
	int rc = EX_OK;
	/* The file's data must be on disk before its name is: no empty key after a crash. */
	if (fchmod(fd, mode) != 0 || !dkim_write_all(fd, data, n) || fsync(fd) != 0) {
		fprintf(stderr, "mxrelay dkim: writing %s: %s\n", tmp, strerror(errno));
		rc = EX_IOERR;
	}
	if (close(fd) != 0 && rc == EX_OK) {
		fprintf(stderr, "mxrelay dkim: writing %s: %s\n", tmp, strerror(errno));
		rc = EX_IOERR;
	}
	if (rc == EX_OK && link(tmp, path) != 0) {
		fprintf(stderr, "mxrelay dkim: %s: %s%s\n", path, strerror(errno),
		    errno == EEXIST ? " (not replaced)" : "");
		rc = EX_CANTCREAT;
	}
	unlink(tmp);
	return rc;
}

/* Sync dir, so that the names just linked there survive a crash. */
static int dkim_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		fprintf(stderr, "mxrelay dkim: syncing %s: %s\n", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EX_IOERR;
	}
	close(fd);
	return EX_OK;
}

/* DIR made (mode 0700, its parent must exist) when missing; 0 or the exit status. */
static int dkim_dir(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return EX_OK;
		fprintf(stderr, "mxrelay dkim: %s is not a directory\n", dir);
		return EX_CANTCREAT;
	}
	if (errno != ENOENT || mkdir(dir, 0700) != 0) {
		fprintf(stderr, "mxrelay dkim: cannot make the directory %s: %s\n", dir,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	return EX_OK;
}

/* Whether dir/name exists already, said when it does. */
static bool dkim_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &st) != 0)
		return false;
	fprintf(stderr, "mxrelay dkim: %s exists: not replaced (a key in use stays until its "
	    "record is gone from the DNS; choose a new SELECTOR)\n", path);
	return true;
}

/* The files of key k, written; then what to publish and configure, printed. */
static int dkim_keygen_write(const struct dkim_args *a, const char *domain,
    const struct dkim_key *k)
{
	char keyname[NAME_MAX + 1], txtname[NAME_MAX + 1];
	if (snprintf(keyname, sizeof(keyname), "%s.%s.key", domain, a->selector) >=
	    (int)sizeof(keyname) ||
	    snprintf(txtname, sizeof(txtname), "%s.%s.txt", domain, a->selector) >=
	    (int)sizeof(txtname))
		return dkim_bad("DOMAIN.SELECTOR.key is too long a file name", a->selector);
	int rc = dkim_dir(a->dir);
	if (rc != EX_OK)
		return rc;
	if (dkim_exists(a->dir, keyname) || dkim_exists(a->dir, txtname))
		return EX_CANTCREAT;
	char *record = dkim_key_dns_record(k);
	char *zone = dkim_zone_line(a->selector, domain, record);
	size_t zlen = strlen(zone);
	zone[zlen] = '\n';
	size_t pemlen;
	char *pem = dkim_key_private_pem(k, &pemlen);
	rc = dkim_create(a->dir, keyname, pem, pemlen, 0600);
	dkim_key_pem_free(pem, pemlen);
	if (rc == EX_OK) {
		rc = dkim_create(a->dir, txtname, zone, zlen + 1, 0644);
		if (rc != EX_OK) {
			/* The key without its record is of no use: take back the file just made. */
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", a->dir, keyname);
			unlink(path);
		}
	}
	if (rc == EX_OK)
		rc = dkim_sync_dir(a->dir);
	if (rc == EX_OK) {
		char real[PATH_MAX];
		const char *where = realpath(a->dir, real) != NULL ? real : a->dir;
		printf("# Publish this record in the DNS zone of %s (it is also in %s/%s):\n", domain,
		    where, txtname);
		fwrite(zone, 1, zlen + 1, stdout);
		printf("# Then add this line to mxrelay.conf:\n"
		    "dkim_sign = %s %s %s/%s algorithm=%s\n", domain, a->selector, where, keyname,
		    dkim_alg_name(dkim_key_alg(k)));
		if (fflush(stdout) != 0)
			rc = EX_IOERR;
	}
	free(zone);
	free(record);
	return rc;
}

int cmd_dkim(int argc, char **argv)
{
	struct dkim_args a;
	int rc = dkim_parse_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	char domain[DKIM_SIGN_NAME_MAX + 2];
	if (!dkim_domain(a.domain, domain, sizeof(domain)))
		return EX_USAGE;
	if (!dkim_sign_name_ok(a.selector))
		return dkim_bad("SELECTOR is no selector (labels of letters, digits and hyphens, "
		    "1 to 63 octets)", a.selector);
	if (strlen(a.selector) + strlen("._domainkey.") + strlen(domain) > DKIM_SIGN_NAME_MAX)
		return dkim_bad("SELECTOR._domainkey.DOMAIN is longer than a DNS name (253)",
		    a.selector);
	char err[256];
	struct dkim_key *k = dkim_key_generate(a.alg, a.bits, err, sizeof(err));
	if (k == NULL) {
		fprintf(stderr, "mxrelay dkim: %s\n", err);
		return EX_SOFTWARE;
	}
	rc = dkim_keygen_write(&a, domain, k);
	dkim_key_free(k);
	return rc;
}
