/*
 * test_config: the mxrelay.conf(5) parser: values, defaults, every error
 * with its file and line, and the relay network and domain lookups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsupport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config/config.h"
#include "util/log.h"

/* A scratch directory with the files a configuration may name. */
struct fixture {
	char dir[64];
	char cert[128], key[128], auth[128], pw[128], missing[128];
	char otherkey[128], notpem[128], expired[128], anchor[128];
};

/* Write text to path. */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->cert, sizeof(fx->cert), "%s/cert.pem", fx->dir);
	snprintf(fx->key, sizeof(fx->key), "%s/key.pem", fx->dir);
	snprintf(fx->auth, sizeof(fx->auth), "%s/users", fx->dir);
	snprintf(fx->pw, sizeof(fx->pw), "%s/smarthost.pw", fx->dir);
	snprintf(fx->missing, sizeof(fx->missing), "%s/missing", fx->dir);
	snprintf(fx->otherkey, sizeof(fx->otherkey), "%s/other.key", fx->dir);
	snprintf(fx->notpem, sizeof(fx->notpem), "%s/notpem.txt", fx->dir);
	snprintf(fx->expired, sizeof(fx->expired), "%s/expired.pem", fx->dir);
	snprintf(fx->anchor, sizeof(fx->anchor), "%s/anchor.key", fx->dir);
	write_file(fx->anchor, "; the test zone's key\ntest. IN DS 2371 13 2 "
	    "1F987CC6583E92DF0890718C42E1C37AE7F0AF2CB6B01E6D1BFA7A10C5C1F1F1\n");
	EVP_PKEY *k = tsupport_write_key(fx->key);
	tsupport_write_cert(k, fx->cert, -3600, 86400);
	tsupport_write_cert(k, fx->expired, -7200, -3600);
	EVP_PKEY_free(k);
	EVP_PKEY_free(tsupport_write_key(fx->otherkey));
	write_file(fx->notpem, "not a certificate\n");
	write_file(fx->auth, "# none\n");
	write_file(fx->pw, "s3cret pass\nsecond line\n");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	unlink(fx->cert);
	unlink(fx->key);
	unlink(fx->otherkey);
	unlink(fx->notpem);
	unlink(fx->expired);
	unlink(fx->auth);
	unlink(fx->pw);
	unlink(fx->anchor);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Replace every "@CERT@", "@KEY@", "@AUTH@", "@PW@", "@MISSING@", ... in tmpl. */
static void expand(const struct fixture *fx, const char *tmpl, char *out, size_t outlen)
{
	const struct { const char *tag; const char *val; } subs[] = {
		{ "@CERT@", fx->cert }, { "@KEY@", fx->key }, { "@AUTH@", fx->auth },
		{ "@PW@", fx->pw }, { "@MISSING@", fx->missing }, { "@OTHERKEY@", fx->otherkey },
		{ "@NOTPEM@", fx->notpem }, { "@EXPIRED@", fx->expired }, { "@DIR@", fx->dir },
		{ "@ANCHOR@", fx->anchor },
	};
	size_t n = 0;
	while (*tmpl != '\0' && n + 1 < outlen) {
		bool done = false;
		for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
			size_t tl = strlen(subs[i].tag);
			if (strncmp(tmpl, subs[i].tag, tl) == 0) {
				int w = snprintf(out + n, outlen - n, "%s", subs[i].val);
				n += (size_t)w;
				tmpl += tl;
				done = true;
				break;
			}
		}
		if (!done)
			out[n++] = *tmpl++;
	}
	out[n < outlen ? n : outlen - 1] = '\0';
}

/* Load text (after expansion) as "t.conf"; returns the config or NULL with err. */
static struct config *load(const struct fixture *fx, const char *tmpl, char *err, size_t errlen)
{
	char text[8192];
	struct config *c = NULL;
	expand(fx, tmpl, text, sizeof(text));
	if (config_load_text("t.conf", text, strlen(text), &c, err, errlen) < 0)
		return NULL;
	return c;
}

#define L "listen = 127.0.0.1:2525 relay\n"

struct error_case {
	const char *text;
	const char *want;	/* substring of the error */
};

static const struct error_case error_cases[] = {
	{ L "relay_netwrks = 10.0.0.0/8\n", "t.conf:2: unknown key 'relay_netwrks'" },
	{ L "\n\nrelay_networks = 10.0.0.0/33\n", "t.conf:4: relay_networks: '10.0.0.0/33' is not an address/prefix" },
	{ L "relay_networks = 10.0.0.1/8\n", "t.conf:2: relay_networks: '10.0.0.1/8' has address bits set" },
	{ L "relay_networks = ::1/129\n", "'::1/129' is not an address/prefix" },
	{ L "relay_networks = 10.0.0.0/-1\n", "is not an address/prefix" },
	{ L "relay_networks = example.test\n", "is not an address/prefix" },
	/* Networks that take in most of the Internet make an open relay. */
	{ L "relay_networks = 10.0.0.0/8 0.0.0.0/0\n", "t.conf:2: relay_networks: '0.0.0.0/0' would let most of the Internet relay" },
	{ L "relay_networks = 0.0.0.0/1\n", "'0.0.0.0/1' would let most of the Internet relay" },
	{ L "relay_networks = ::/0\n", "'::/0' would let most of the Internet relay" },
	{ L "relay_networks = 2000::/3\n", "'2000::/3' would let most of the Internet relay" },
	{ L "relay_networks = ::ffff:0.0.0.0/96\n", "'::ffff:0.0.0.0/96' would let most of the Internet relay" },
	{ L "hostname = a.test\nhostname = b.test\n", "t.conf:3: duplicate key 'hostname' (first set on line 2)" },
	{ L "max_recipients = 5\n", "t.conf:2: max_recipients: '5' is out of range (100..1000000)" },
	{ L "max_recipients = 10x\n", "max_recipients: '10x' is not a number" },
	{ L "client_ipv6_prefix = 16\n", "t.conf:2: client_ipv6_prefix: '16' is out of range (32..128)" },
	{ L "client_ipv6_prefix = 129\n", "client_ipv6_prefix: '129' is out of range (32..128)" },
	{ L "client_ipv6_prefix = 56\n", NULL },
	{ L "auth_failure_window = 0\n", "auth_failure_window: '0' is out of range (1s..1d)" },
	{ L "auth_failure_window = 2d\n", "auth_failure_window: '2d' is out of range" },
	{ L "auth_failure_limit = 0\nauth_failure_window = 30s\n", NULL },
	{ L "max_recipients = 99999999999999999999999\n", "is not a number" },
	{ L "max_message_size = 5G\n", "max_message_size: '5G' is out of range (1K..4G)" },
	{ L "max_message_size = 10T\n", "is not a size" },
	{ L "command_timeout = 2h\n", "command_timeout: '2h' is out of range (10s..1h)" },
	{ L "command_timeout = 5w\n", "is not a duration" },
	{ L "min_data_rate = fast\n", "min_data_rate: 'fast' is not a number" },
	{ L "min_data_rate = 0\n", NULL },
	{ L "connection_reuse_time = 2h\n", "connection_reuse_time: '2h' is out of range (0s..1h)" },
	{ L "connection_reuse_limit = -1\n", "connection_reuse_limit: '-1' is not a number" },
	{ L "max_queue_age = 5d\ndelay_warning = 6d\n", "t.conf:3: delay_warning must be shorter" },
	{ L "max_queue_age = 59s\n", "t.conf:2: max_queue_age" },
	{ L "retry_intervals = 5m 0s\n", "retry_intervals: '0s' is out of range" },
	{ L "retry_intervals = 5m soon\n", "retry_intervals: 'soon' is not a duration" },
	{ L "check_recipient_domain = true\n", "check_recipient_domain: 'true' is not yes or no" },
	{ L "vrfy = 250\n", "vrfy: '250' is not 252 or disabled" },
	{ L "bare_newline = fix\n", "bare_newline: 'fix' is not normalize or reject" },
	{ L "strict_envelopes = strict\n", "strict_envelopes: 'strict' is not yes or no" },
	{ L "log_level = loud\n", "log_level: 'loud' is not debug, info, warn or error" },
	{ L "address_preference = ipv5\n", "address_preference: 'ipv5' is not any" },
	{ L "outbound_tls = maybe\n", "outbound_tls: 'maybe' is not none, may, encrypt, verify, dane, dane-only or mta-sts" },
	{ L "outbound_tls = implicit\n", "outbound_tls: 'implicit' is not none, may" },
	{ L "outbound_tls = opportunistic\n", NULL },
	{ L "tls_policy = a.test sometimes\n", "t.conf:2: tls_policy: 'sometimes' is not none, may, encrypt, verify, dane, dane-only or mta-sts" },
	{ L "tls_policy = a..test dane\n", "t.conf:2: tls_policy: 'a..test' is not a domain name (or .domain)" },
	{ L "tls_policy = a.test\n", "t.conf:2: tls_policy: expected 'DOMAIN POLICY [match=NAMES]'" },
	{ L "tls_policy = a.test implicit\n", "tls_policy: 'implicit' is not none" },
	{ L "tls_policy = a.test dane match=hostname\n", "t.conf:2: tls_policy: match= is for verify only" },
	{ L "tls_policy = a.test verify match=hostname:bad..name\n", "t.conf:2: tls_policy: match 'hostname:bad..name' is not a list" },
	{ L "tls_policy = a.test verify host=x\n", "tls_policy: expected match=NAMES, not 'host=x'" },
	{ L "tls_policy = a.test may\n\ntls_policy = A.TEST. dane\n", "t.conf:4: tls_policy: a.test has a policy already" },
	{ L "tls_policy = a.test verify match=hostname:nexthop:dot-nexthop:mx.b.test:.c.test\n", NULL },
	{ L "tls_policy = .a.test dane-only\ntls_policy = a.test encrypt\n", NULL },
	{ L "dnssec_trust_anchor = @MISSING@\n", "t.conf:2: dnssec_trust_anchor: cannot read" },
	{ L "\ndnssec_trust_anchor = @NOTPEM@\n", "/notpem.txt:1: " },
	{ L "dnssec_trust_anchor = @ANCHOR@\n", NULL },
	{ L "dnssec_trust_anchor = none\n", NULL },
	{ L "tlsrpt_sender = not an address\n", "t.conf:2: tlsrpt_sender: expected one value" },
	{ L "tlsrpt_sender = nobody\n", "t.conf:2: tlsrpt_sender: 'nobody' is not an address" },
	{ L "tlsrpt_organization = Example \"Org\"\n", "t.conf:2: tlsrpt_organization: control characters, quotes" },
	{ L "tlsrpt_organization =   Example Org, Mail Team  \ntlsrpt_contact = mailto:tlsrpt@example.test\n", NULL },
	{ L "tlsrpt_submitter = -x.test\n", "tlsrpt_submitter: '-x.test' is not a domain name" },
	{ L "route = a.test smarthost=x.test:587 auth=me password-file=@PW@ tls=dane\n", "route: auth with tls=dane would send the password to any certificate: use tls=verify, tls=implicit or tls=dane-only" },
	{ L "route = a.test smarthost=x.test:587 auth=me password-file=@PW@ tls=dane-only\n", NULL },
	{ L "hostname = a b\n", "hostname: expected one value" },
	{ L "hostname = -bad.test\n", "hostname: '-bad.test' is not a domain name" },
	{ L "hostname =\n", "t.conf:2: hostname: missing value" },
	{ L "hostname\n", "t.conf:2: hostname: expected 'key = value'" },
	{ L "= x\n", "t.conf:2: expected 'key = value'" },
	{ L "Hostname = x.test\n", "unknown key 'Hostname'" },
	{ L "tls_cert = @CERT@\n", "t.conf:2: tls_cert without tls_key" },
	{ L "tls_key = @KEY@\n", "t.conf:2: tls_key without tls_cert" },
	{ L "tls_cert = @MISSING@\ntls_key = @KEY@\n", "t.conf:2: tls_cert: cannot read" },
	{ L "tls_cert = @CERT@\ntls_key = @OTHERKEY@\n", "t.conf:3: tls_key: private key" },
	{ L "tls_key = @OTHERKEY@\ntls_cert = @CERT@\n", "does not match the certificate" },
	{ L "tls_cert = @NOTPEM@\ntls_key = @KEY@\n", "t.conf:2: tls_cert: " },
	{ L "tls_cert = @NOTPEM@\ntls_key = @KEY@\n", "notpem.txt is not a PEM certificate" },
	{ L "tls_cert = @CERT@\ntls_key = @NOTPEM@\n", "t.conf:3: tls_key: " },
	{ L "tls_cert = @CERT@\ntls_key = @NOTPEM@\n", "notpem.txt is not a PEM private key" },
	{ L "auth_file = @MISSING@\n", "t.conf:2: auth_file: cannot read" },
	{ L "ca_file = /\n", "ca_file: '/' is not a regular file" },
	{ "listen = 127.0.0.1:587 submission\n", "t.conf:1: listen: submission listener 127.0.0.1:587 needs auth_file" },
	{ "auth_file = @AUTH@\nlisten = 127.0.0.1:465 smtps\n", "t.conf:2: listen: smtps listener 127.0.0.1:465 needs tls_cert" },
	{ "auth_file = @AUTH@\nlisten = 127.0.0.1:587 submission\n", "submission listener 127.0.0.1:587 could never offer AUTH" },
	{ "auth_file = @AUTH@\nlisten = 192.0.2.1:587 submission auth-plaintext\n", "t.conf:2: listen: auth-plaintext is only allowed on a loopback address" },
	{ "auth_file = @AUTH@\nlisten = [2001:db8::1]:587 submission auth-plaintext\n", "only allowed on a loopback" },
	{ "listen = 127.0.0.1:25 relay auth-plaintext\n", "auth-plaintext on 127.0.0.1:25 without auth_file" },
	{ "listen = 127.0.0.1 relay\n", "listen: '127.0.0.1' has no :PORT" },
	{ "listen = 127.0.0.1:0 relay\n", "has a port that is not 1..65535" },
	{ "listen = 127.0.0.1:65536 relay\n", "has a port that is not 1..65535" },
	{ "listen = ::1:25 relay\n", "is IPv6 without brackets" },
	{ "listen = [::1:25 relay\n", "has '[' without ']'" },
	{ "listen = [127.0.0.1]:25 relay\n", NULL },
	{ "listen = localhost:25 relay\n", "is not an IP address" },
	{ "listen = 127.0.0.1:25 lmtp\n", "mode 'lmtp' is not relay, submission or smtps" },
	{ "listen = 127.0.0.1:25\n", "listen: expected 'ADDRESS:PORT MODE [auth-plaintext]'" },
	{ "listen = 127.0.0.1:25 relay bogus\n", "unknown option 'bogus'" },
	{ L "listen = 127.0.0.1:2525 submission\n", "t.conf:2: listen: 127.0.0.1:2525 is already a listener (line 1)" },
	{ "# nothing\n", "no listen line" },
	{ L "smarthost = [relay.test]:587 auth=me\n", "auth=USER and password-file=PATH go together" },
	{ L "smarthost = [relay.test]:587 auth=me password-file=@MISSING@\n", "password-file: cannot read" },
	{ L "smarthost = [relay.test]:587 tls=none auth=me password-file=@PW@\n", "would send the password in clear" },
	{ L "\nsmarthost = [relay.test]:587 tls=opportunistic auth=me password-file=@PW@\n", "t.conf:3: smarthost: auth with tls=opportunistic would send the password to any certificate: use tls=verify, tls=implicit or tls=dane-only" },
	{ L "route = a.test smarthost=x.test:587 auth=me password-file=@PW@ tls=opportunistic\n", "t.conf:2: route: auth with tls=opportunistic" },
	{ L "route = a.test smarthost=x.test:587 auth=me password-file=@PW@ tls=required\n", NULL },
	{ L "route = a.test smarthost=x.test:465 auth=me password-file=@PW@ tls=implicit\n", NULL },
	{ L "smarthost = [relay.test]:99999\n", "smarthost: smarthost '[relay.test]:99999' is not" },
	{ L "smarthost = relay.test\nroute = * smarthost=other.test\n", "t.conf:3: route: a route for all mail is already set (line 2)" },
	{ L "route = a.test smarthost=x.test\nroute = A.TEST. smarthost=y.test\n", "t.conf:3: route: domain a.test already has a route (line 2)" },
	{ L "route = a.test smarthost=192.0.2.25:25\n", "smarthost '192.0.2.25:25' is not host[:port] or [host][:port]" },
	{ L "route = a.test smarthost=[192.0.2.25:25\n", "is not host[:port]" },
	{ L "route = a.test smarthost=[2001:db8::25]:25\n", NULL },
	{ L "route = a.test\n", "route: expected 'DOMAIN smarthost=" },
	{ L "route = a.test tls=required\n", "route: smarthost=HOST missing" },
	{ L "route = a.test smarthost=x.test tls=sometimes\n", "tls 'sometimes' is not none" },
	{ L "route = a.test smarthost=x.test color=blue\n", "unknown option 'color'" },
	{ L "route = a..test smarthost=x.test\n", "route: 'a..test' is not a domain name" },
	{ L "relay_domains = ours.test, [192.0.2.1]\n", "relay_domains: '[192.0.2.1]' is not a domain name" },
	{ L "max_connections = 10\nmax_connections_per_ip = 20\n", "t.conf:3: max_connections_per_ip (20) is more than max_connections (10)" },
	{ L "max_deliveries = 5\n", "max_per_destination (20) is more than max_deliveries (5)" },
	{ L "user = no-such-user-here\n", "user: no such user 'no-such-user-here'" },
	{ L "dns_server = 127.0.0.1:0\n", "dns_server: '127.0.0.1:0' has a port" },
	{ L "dns_server = resolver.test\n", "is not an IP address" },
	{ L "source_address = 300.1.1.1\n", "source_address: '300.1.1.1' is not an IP address" },
	{ L "hostname = a.test\x01\n", "t.conf:2: control character 0x01" },
	{ L "http_listen = 127.0.0.1\n", "t.conf:2: http_listen: '127.0.0.1' has no :PORT" },
	{ L "http_listen = 127.0.0.1:99999\n", "t.conf:2: http_listen: '127.0.0.1:99999' has a port that is not 1..65535" },
	{ L "http_listen = 127.0.0.1:9425, 127.0.0.2:9425\n", "t.conf:2: http_listen: expected one 'ADDRESS:PORT', not '127.0.0.1:9425, 127.0.0.2:9425'" },
	{ L "http_listen = status.test:80\n", "t.conf:2: http_listen: 'status.test:80' is not an IP address" },
	{ L "http_listen = [::1]:9425\n\nhttp_listen = [::1]:9425\n", "t.conf:4: http_listen: [::1]:9425 is given twice" },
	{ L "http_listen = 127.0.0.1:9425\nhttp_listen = none\nhttp_listen = 127.0.0.1:9425\n", NULL },
	{ L "http_allow = 10.0.0.0/33\n", "t.conf:2: http_allow: '10.0.0.0/33' is not an address/prefix" },
	{ L "\nhttp_allow = 127.0.0.0/8 everyone\n", "t.conf:3: http_allow: 'everyone' is not an address/prefix" },
	{ L "http_allow = 0.0.0.0/0 ::/0\n", NULL },
	{ L "metrics_destinations = 1001\n", "t.conf:2: metrics_destinations: '1001' is out of range (0..1000)" },
	{ L "metrics_destinations = -1\n", "t.conf:2: metrics_destinations: '-1' is not a number" },
	{ L "metrics_destinations = lots\n", "t.conf:2: metrics_destinations: 'lots' is not a number" },
	{ L "metrics_destinations = 0\n", NULL },
	{ L "metrics_destinations = 1000\n", NULL },
	{ L "queue_backend = mysql\n", "t.conf:2: queue_backend: 'mysql' is not sqlite or postgresql" },
	{ L "\nqueue_backend = postgresql\n", "t.conf:3: queue_backend: postgresql needs queue_dsn" },
	{ L "queue_dsn = postgresql://db/mx\n", "t.conf:2: queue_dsn: only for queue_backend = postgresql" },
	{ L "queue_backend = postgresql\nqueue_dsn = postgresql://db/mx?colour=blue\n", "t.conf:3: queue_dsn: not a PostgreSQL connection string: invalid URI query parameter: \"colour\"" },
	{ L "queue_backend = postgresql\nqueue_dsn = host=db dbname\n", "t.conf:3: queue_dsn: not a PostgreSQL connection string: " },
	{ L "queue_backend = postgresql\nqueue_dsn = host=db colour=blue\n", "t.conf:3: queue_dsn: not a PostgreSQL connection string: invalid connection option \"colour\"" },
	{ L "queue_backend = postgresql\nqueue_dsn = host=db dbname=mx\n", NULL },
	{ L "queue_backend = postgresql\nqueue_dsn = postgresql://mx@db.test:5433/mx?sslmode=require\n", NULL },
	{ L "queue_backend = postgresql\nqueue_dsn = postgresql://mx@db/mx?passfile=@MISSING@\n", "t.conf:3: queue_dsn: passfile: cannot read" },
	{ L "queue_backend = postgresql\nqueue_dsn = postgresql://mx@db/mx?passfile=@PW@\n", NULL },
	{ L "node_id = relay 1\n", "t.conf:2: node_id: expected one value" },
	{ L "node_id = relay/1\n", "t.conf:2: node_id: 'relay/1' is not 1 to 63 letters, digits" },
	{ L "node_id = relay-1.a_b\n", NULL },
	{ L "queue_lease_time = 2s\n", "t.conf:2: queue_lease_time: '2s' is out of range (5s..1h)" },
	{ L "queue_lease_time = 30s\n", NULL },
};

static void test_errors(void **state)
{
	const struct fixture *fx = *state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *tc = &error_cases[i];
		char err[1024] = "";
		struct config *c = load(fx, tc->text, err, sizeof(err));
		if (tc->want == NULL) {
			if (c == NULL)
				fail_msg("case %zu: got error \"%s\", want success", i, err);
			config_free(c);
			continue;
		}
		if (c != NULL) {
			config_free(c);
			fail_msg("case %zu (%s): got success, want error \"%s\"", i, tc->text, tc->want);
		}
		if (strstr(err, tc->want) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, tc->want);
	}
}

static void test_defaults(void **state)
{
	(void)state;
	char err[256];
	struct config *c = NULL;
	assert_int_equal(config_load(NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c->path, "(embedded default)");
	assert_int_equal(c->nlisteners, 1);
	assert_string_equal(c->listeners[0].text, "127.0.0.1:2525");
	assert_int_equal(c->listeners[0].mode, CFG_LISTEN_RELAY);
	assert_false(c->listeners[0].require_auth);
	assert_string_equal(c->queue_dir, "./var");
	assert_string_equal(c->control_socket, "./var/control.sock");
	assert_null(c->user);
	assert_int_equal(c->nroutes, 0);
	assert_null(config_route(c, "example.test"));
	assert_int_equal(c->nnetworks, 2);
	assert_int_equal(c->max_message_size, 35 * 1024 * 1024);
	assert_int_equal(c->max_recipients, 1000);
	assert_int_equal(c->hop_limit, 100);
	assert_int_equal(c->max_errors, 20);
	assert_int_equal(c->max_connections, 10000);
	assert_int_equal(c->max_connections_per_ip, 100);
	assert_int_equal(c->client_ipv6_prefix, 64);
	assert_int_equal(c->auth_failure_limit, 10);
	assert_int_equal(c->auth_failure_window, 600);
	assert_int_equal(c->cmd_timeout, 300);
	assert_int_equal(c->data_timeout, 600);
	assert_int_equal(c->min_data_rate, 500);
	assert_int_equal(c->vrfy, CFG_VRFY_252);
	assert_false(c->check_rcpt_domain);
	assert_int_equal(c->bare_newline, CFG_BARE_NEWLINE_NORMALIZE);
	assert_false(c->strict_envelopes);
	assert_int_equal(c->family, MXR_FAMILY_ANY);
	assert_int_equal(c->tls_policy, MXR_TLS_DANE);
	assert_int_equal(c->ntls_policies, 0);
	/* DNSSEC rests on Debian's root key when it is installed, and is off otherwise. */
	if (access(CFG_DEFAULT_TRUST_ANCHOR, R_OK) == 0) {
		assert_string_equal(c->dnssec_trust_anchor, CFG_DEFAULT_TRUST_ANCHOR);
		assert_non_null(c->dnssec_anchors);
	} else {
		assert_null(c->dnssec_anchors);
	}
	assert_null(c->tlsrpt_organization);
	char want[600];
	snprintf(want, sizeof(want), "noreply-smtp-tls-reporting@%s", c->hostname);
	assert_string_equal(c->tlsrpt_sender, want);
	snprintf(want, sizeof(want), "postmaster@%s", c->hostname);
	assert_string_equal(c->tlsrpt_contact, want);
	assert_string_equal(c->tlsrpt_submitter, c->hostname);
	assert_int_equal(c->max_deliveries, 100);
	assert_int_equal(c->max_per_destination, 20);
	assert_int_equal(c->reuse_time, 5);
	assert_int_equal(c->reuse_limit, 100);
	assert_int_equal(c->max_queue_age, 5 * 86400);
	assert_int_equal(c->delay_warning, 4 * 3600);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	static const unsigned retry[] = { 300, 600, 1200, 1800, 3600, 7200, 14400 };
	assert_int_equal(c->nretry_intervals, 7);
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(c->retry_intervals[i], retry[i]);
	assert_non_null(c->hostname);
	assert_true(strlen(c->hostname) > 0);
	assert_string_equal(c->helo_name, c->hostname);
	/* The embedded default serves the status page on loopback; a file has none unless asked. */
	assert_int_equal(c->nhttp_listeners, 1);
	assert_string_equal(c->http_listeners[0].text, "127.0.0.1:9425");
	assert_int_equal(c->metrics_destinations, 20);
	config_free(c);
	assert_non_null(strstr(config_default_text(), "listen = 127.0.0.1:2525 relay"));
}

/* http_listen, http_allow and metrics_destinations: their defaults in a file, and values. */
static void test_http_values(void **state)
{
	const struct fixture *fx = *state;
	char err[1024], buf[64];
	struct config *c = load(fx, L, err, sizeof(err));
	if (c == NULL)
		fail_msg("got error \"%s\"", err);
	assert_int_equal(c->nhttp_listeners, 0);
	assert_int_equal(c->nhttp_allow, 2);
	config_network_format(&c->http_allow[0], buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.0/8");
	config_network_format(&c->http_allow[1], buf, sizeof(buf));
	assert_string_equal(buf, "::1/128");
	assert_int_equal(c->metrics_destinations, 20);
	config_free(c);

	c = load(fx, L "http_listen = 127.0.0.1:9425\nhttp_listen = [::1]:9426\n"
	    "http_allow = 192.0.2.0/24, 2001:db8::/32\nmetrics_destinations = 0\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("got error \"%s\"", err);
	assert_int_equal(c->nhttp_listeners, 2);
	assert_string_equal(c->http_listeners[0].text, "127.0.0.1:9425");
	assert_int_equal(c->http_listeners[1].addr.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&c->http_listeners[1].addr)->sin6_port), 9426);
	assert_int_equal(c->nhttp_allow, 2);
	config_network_format(&c->http_allow[1], buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::/32");
	assert_int_equal(c->metrics_destinations, 0);
	config_free(c);

	/* none: no listener, and an http_allow that answers nobody. */
	c = load(fx, L "http_listen = 127.0.0.1:9425\nhttp_listen = none\nhttp_allow = none\n", err,
	    sizeof(err));
	if (c == NULL)
		fail_msg("got error \"%s\"", err);
	assert_int_equal(c->nhttp_listeners, 0);
	assert_int_equal(c->nhttp_allow, 0);
	config_free(c);
}

static void test_values(void **state)
{
	const struct fixture *fx = *state;
	char err[1024];
	struct config *c = load(fx,
	    "# a full configuration\n"
	    "hostname = MX.Example.TEST.\n"
	    "listen = 0.0.0.0:25 relay   # all IPv4\n"
	    "listen = [::]:25 relay\n"
	    "listen = [::1]:587 submission auth-plaintext\n"
	    "listen = 127.0.0.1:465 smtps\r\n"
	    "\t\n"
	    "relay_networks = 192.0.2.0/24, 2001:db8::/32 ::ffff:198.51.100.0/120\n"
	    "relay_domains = Ours.TEST. other.test\n"
	    "max_message_size = 10M\n"
	    "max_recipients = 500\n"
	    "command_timeout = 5m\n"
	    "data_timeout = 900\n"
	    "vrfy = disabled\n"
	    "check_recipient_domain = yes\n"
	    "bare_newline = reject\n"
	    "strict_envelopes = yes\n"
	    "tls_cert = @CERT@\n"
	    "tls_key = @KEY@\n"
	    "auth_file = @AUTH@\n"
	    "dns_server = [::1]:5353\n"
	    "source_address = 192.0.2.10\n"
	    "address_preference = ipv4-only\n"
	    "outbound_tls = required\n"
	    "retry_intervals = 1m 2m, 1h\n"
	    "max_queue_age = 2d\n"
	    "delay_warning = 0\n"
	    "connection_reuse_time = 0\n"
	    "connection_reuse_limit = 0\n"
	    "log_level = debug\n"
	    "queue_dir = /var/spool/test\n"
	    "route = Special.TEST smarthost=[192.0.2.25]:2525 tls=none\n"
	    "smarthost = [relay.test]:587 auth=relayuser password-file=@PW@\n",
	    err, sizeof(err));
	if (c == NULL)
		fail_msg("got error \"%s\"", err);
	assert_string_equal(c->path, "t.conf");
	assert_string_equal(c->hostname, "mx.example.test");
	assert_string_equal(c->helo_name, "mx.example.test");
	assert_int_equal(c->nlisteners, 4);
	assert_int_equal(c->listeners[1].addr.ss_family, AF_INET6);
	assert_true(c->listeners[2].auth_plaintext);
	assert_true(c->listeners[2].require_auth);
	assert_int_equal(c->listeners[3].mode, CFG_LISTEN_SMTPS);
	assert_int_equal(ntohs(((struct sockaddr_in *)&c->listeners[3].addr)->sin_port), 465);
	assert_int_equal(c->nnetworks, 3);
	char buf[64];
	config_network_format(&c->networks[2], buf, sizeof(buf));
	assert_string_equal(buf, "198.51.100.0/24");
	assert_int_equal(c->nrelay_domains, 2);
	assert_string_equal(c->relay_domains[0], "ours.test");
	assert_int_equal(c->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->max_recipients, 500);
	assert_int_equal(c->cmd_timeout, 300);
	assert_int_equal(c->data_timeout, 900);
	assert_int_equal(c->vrfy, CFG_VRFY_DISABLED);
	assert_true(c->check_rcpt_domain);
	assert_int_equal(c->bare_newline, CFG_BARE_NEWLINE_REJECT);
	assert_true(c->strict_envelopes);
	assert_string_equal(c->dns_server, "[::1]:5353");
	assert_int_equal(c->family, MXR_FAMILY_V4_ONLY);
	assert_int_equal(c->tls_policy, MXR_TLS_REQUIRED);
	assert_int_equal(c->nretry_intervals, 3);
	assert_int_equal(c->retry_intervals[2], 3600);
	assert_int_equal(c->max_queue_age, 2 * 86400);
	assert_int_equal(c->delay_warning, 0);
	assert_int_equal(c->reuse_time, 0);
	assert_int_equal(c->reuse_limit, 0);
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_string_equal(c->control_socket, "/var/spool/test/control.sock");

	const struct cfg_route *r = config_route(c, "special.test.");
	assert_non_null(r);
	assert_string_equal(r->domain, "special.test");
	assert_string_equal(r->smarthost, "[192.0.2.25]:2525");
	assert_int_equal(r->tls, MXR_TLS_NONE);
	assert_null(r->auth_user);
	r = config_route(c, "elsewhere.test");
	assert_non_null(r);
	assert_string_equal(r->domain, "*");
	assert_string_equal(r->smarthost, "[relay.test]:587");
	assert_string_equal(r->auth_user, "relayuser");
	assert_string_equal(r->auth_pass, "s3cret pass");
	assert_int_equal(r->tls, MXR_TLS_REQUIRED);

	assert_true(config_relay_domain(c, "OURS.test"));
	assert_true(config_relay_domain(c, "ours.test."));
	assert_false(config_relay_domain(c, "ours.test.."));
	assert_false(config_relay_domain(c, "sub.ours.test"));
	assert_false(config_relay_domain(c, ""));
	config_free(c);
}

/* A route with auth and no tls= is sent over verified TLS even when outbound_tls is opportunistic. */
static void test_route_auth_forces_tls(void **state)
{
	const struct fixture *fx = *state;
	char err[1024];
	struct config *c = load(fx, L "route = a.test smarthost=x.test:587 auth=u password-file=@PW@\n"
	    "route = b.test smarthost=y.test\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("got error \"%s\"", err);
	assert_int_equal(config_route(c, "a.test")->tls, MXR_TLS_REQUIRED);
	assert_int_equal(config_route(c, "b.test")->tls, MXR_TLS_DANE);
	assert_null(config_route(c, "c.test"));
	config_free(c);
}

/* A certificate past its end date loads, with a warning that names its line. */
static void test_expired_certificate_is_a_warning(void **state)
{
	const struct fixture *fx = *state;
	char err[1024];
	struct config *c = load(fx, L "tls_cert = @EXPIRED@\ntls_key = @KEY@\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("got error \"%s\"", err);
	assert_non_null(c->tls_warning);
	if (strstr(c->tls_warning, "t.conf:2: tls_cert: certificate expired on") == NULL)
		fail_msg("got warning \"%s\", want t.conf:2: tls_cert: certificate expired on ...", c->tls_warning);
	config_free(c);
	c = load(fx, L "tls_cert = @CERT@\ntls_key = @KEY@\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("got error \"%s\"", err);
	assert_null(c->tls_warning);
	config_free(c);
}

/* check-config's queue_dir rule: a directory, or a missing one whose parent exists. */
static void test_queue_dir_check(void **state)
{
	const struct fixture *fx = *state;
	const struct { const char *dir; const char *want; } rows[] = {
		{ "@DIR@", NULL },
		{ "@DIR@/new", NULL },
		{ "@DIR@/new/", NULL },
		{ "@DIR@/no/such", "t.conf:2: queue_dir: '@DIR@/no/such' does not exist and neither does its parent" },
		{ "@CERT@", "t.conf:2: queue_dir: '@CERT@' is not a directory" },
		{ "@DIR@/link", "is a symbolic link" },
	};
	char link[160];
	snprintf(link, sizeof(link), "%s/link", fx->dir);
	assert_int_equal(symlink(fx->dir, link), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char tmpl[256], want[512], err[1024];
		snprintf(tmpl, sizeof(tmpl), L "queue_dir = %s\n", rows[i].dir);
		struct config *c = load(fx, tmpl, err, sizeof(err));
		if (c == NULL)
			fail_msg("row %zu: got load error \"%s\"", i, err);
		int rc = config_check_queue_dir(c, err, sizeof(err));
		if (rows[i].want == NULL) {
			if (rc != 0)
				fail_msg("row %zu: got \"%s\", want no error", i, err);
		} else {
			expand(fx, rows[i].want, want, sizeof(want));
			if (rc == 0 || strstr(err, want) == NULL)
				fail_msg("row %zu: got %d \"%s\", want \"%s\"", i, rc, rc ? err : "", want);
		}
		config_free(c);
	}
	unlink(link);
}

static void test_long_lines_and_nul(void **state)
{
	(void)state;
	char err[256];
	struct config *c = NULL;
	size_t n = CFG_LINE_MAX + 100;
	char *text = malloc(n + 64);
	memset(text, '#', n);
	memcpy(text + n, "\n" L, sizeof("\n" L));
	assert_int_equal(config_load_text("t.conf", text, strlen(text), &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:1: line longer than 4096 octets"));
	/* Exactly 4096 octets is fine. */
	memset(text, '#', CFG_LINE_MAX);
	memcpy(text + CFG_LINE_MAX, "\n" L, sizeof("\n" L));
	assert_int_equal(config_load_text("t.conf", text, strlen(text), &c, err, sizeof(err)), 0);
	config_free(c);
	free(text);

	static const char nul[] = L "hostname = a\0b.test\n";
	assert_int_equal(config_load_text("t.conf", nul, sizeof(nul) - 1, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:2: NUL byte"));
	/* No final newline, and a tiny error buffer, are both fine. */
	static const char nonl[] = "listen = 127.0.0.1:25 relay";
	assert_int_equal(config_load_text("t.conf", nonl, sizeof(nonl) - 1, &c, NULL, 0), 0);
	config_free(c);
	char small[8];
	assert_int_equal(config_load_text("t.conf", "x", 1, &c, small, sizeof(small)), -1);
	assert_int_equal(strlen(small), 7);
}

static void test_load_file(void **state)
{
	const struct fixture *fx = *state;
	char err[512], path[160];
	struct config *c = NULL;
	snprintf(path, sizeof(path), "%s/mxrelay.conf", fx->dir);
	write_file(path, L "relay_domains = ours.test\n\nrelay_netwrks = 10.0.0.0/8\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	char want[256];
	snprintf(want, sizeof(want), "%s:4: unknown key 'relay_netwrks'", path);
	assert_string_equal(err, want);
	write_file(path, L);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->path, path);
	assert_string_equal(c->queue_dir, "/var/spool/mxrelay");
	config_free(c);
	unlink(path);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
}

static void test_network_match(void **state)
{
	const struct fixture *fx = *state;
	char err[256];
	struct config *c = load(fx, L "relay_networks = 192.0.2.0/25 10.1.2.3 2001:db8:1::/48 "
	    "::ffff:203.0.113.0/120 0.0.0.0/32\n", err, sizeof(err));
	if (c == NULL)
		fail_msg("got error \"%s\"", err);
	static const struct { const char *addr; bool want; } rows[] = {
		{ "192.0.2.0", true }, { "192.0.2.127", true }, { "192.0.2.128", false },
		{ "10.1.2.3", true }, { "10.1.2.4", false }, { "127.0.0.1", false },
		{ "::ffff:192.0.2.5", true }, { "::ffff:192.0.2.200", false },
		{ "::ffff:10.1.2.3", true }, { "203.0.113.9", true }, { "::ffff:203.0.113.9", true },
		{ "2001:db8:1::1", true }, { "2001:db8:1:ffff::1", true }, { "2001:db8:2::1", false },
		{ "::1", false }, { "::192.0.2.5", false }, { "0.0.0.0", true }, { "0.0.0.1", false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sockaddr_storage ss = tsupport_sockaddr(rows[i].addr);
		bool got = config_network_match(c, (struct sockaddr *)&ss);
		if (got != rows[i].want)
			fail_msg("%s: got %d, want %d", rows[i].addr, got, rows[i].want);
	}
	config_free(c);

	c = load(fx, L "relay_networks = none\n", err, sizeof(err));
	assert_non_null(c);
	struct sockaddr_storage lo = tsupport_sockaddr("127.0.0.1");
	assert_false(config_network_match(c, (struct sockaddr *)&lo));
	config_free(c);
	/* Prefix 0 still matches everything (the file refuses it: an open relay). */
	struct cfg_network any[2];
	assert_int_equal(config_parse_network("0.0.0.0/0", &any[0]), 0);
	assert_int_equal(config_parse_network("::/0", &any[1]), 0);
	struct config open_cfg = { .networks = any, .nnetworks = 2 };
	struct sockaddr_storage any6 = tsupport_sockaddr("2001:db8::9"), any4 = tsupport_sockaddr("198.51.100.7");
	assert_true(config_network_match(&open_cfg, (struct sockaddr *)&any6));
	assert_true(config_network_match(&open_cfg, (struct sockaddr *)&any4));

	struct cfg_network net;
	assert_int_equal(config_parse_network("10.0.0.0/8", &net), 0);
	assert_int_equal(net.family, AF_INET);
	assert_int_equal(net.prefix, 8);
	assert_int_equal(config_parse_network("::1", &net), 0);
	assert_int_equal(net.prefix, 128);
	assert_int_equal(config_parse_network("10.0.0.0/", &net), -1);
	assert_int_equal(config_parse_network("/8", &net), -1);
	assert_int_equal(config_parse_network("10.0.0.0/08", &net), 0);
	assert_int_equal(config_parse_network("10.0.0.0/0008", &net), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_http_values),
		cmocka_unit_test(test_route_auth_forces_tls),
		cmocka_unit_test(test_expired_certificate_is_a_warning),
		cmocka_unit_test(test_queue_dir_check),
		cmocka_unit_test(test_long_lines_and_nul),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_network_match),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
