/*
 * tsupport: small helpers the unit-test programs share.
 *
 * Owns: building socket addresses from text, opening a loopback listener
 * on a free port, writing test keys and self-signed certificates, and
 * removing a test's directory with all it holds.
 * Never: used by the code under test.
 */
#ifndef MXR_TSUPPORT_H
#define MXR_TSUPPORT_H

#include <stdint.h>
#include <sys/socket.h>

/* The socket address of text address a (IPv4 or IPv6, port 0); fails the test otherwise. */
struct sockaddr_storage tsupport_sockaddr(const char *a);
/* A listening TCP socket on 127.0.0.1 at a free port (written to *port); fails the test otherwise. */
int tsupport_listen_loopback(int backlog, uint16_t *port);

typedef struct evp_pkey_st EVP_PKEY;

/* Write a fresh P-256 key to path (PEM) and return it; fails the test otherwise. */
EVP_PKEY *tsupport_write_key(const char *path);
/*
 * Write a self-signed certificate for mx.test with key k to path (PEM),
 * valid from now + not_before_s to now + not_after_s seconds.
 */
void tsupport_write_cert(EVP_PKEY *k, const char *path, long not_before_s, long not_after_s);

/* Remove dir and everything below it (symbolic links not followed); quiet when absent. */
void tsupport_rm_tree(const char *dir);

#endif
