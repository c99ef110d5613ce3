/* SPDX-License-Identifier: GPL-2.0 */
/* Socket helpers shared by the oktls selftests. */
#ifndef _OKTLS_SELFTEST_NET_H
#define _OKTLS_SELFTEST_NET_H

#include <stdbool.h>
#include <stddef.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* The name oktls registers; the stock module's is "tls". */
#define OKTLS_ULP "oktls"

/*
 * Connect a TCP pair over loopback (AF_INET or AF_INET6). Returns 0 and both
 * ends, or -1 with errno set.
 */
int tcp_pair(int family, int *client, int *server);

/*
 * tcp_pair() whose server side has SO_RCVBUF rcvbuf (0: the default) from
 * its first window on: TCP then queues the client's data in segments of
 * about half that window.
 */
int tcp_pair_rcvbuf(int family, int *client, int *server, int rcvbuf);

/* A TCP socket in LISTEN state on loopback, or -1. */
int tcp_listener(int family);

/* setsockopt(TCP_ULP, name): 0 or -1 with errno. */
int ulp_attach(int fd, const char *name);

/* Whether name is in /proc/sys/net/ipv4/tcp_available_ulp. */
bool ulp_available(const char *name);

/* Read a "Key:   N kB" field of /proc/meminfo in bytes, or -1. */
long meminfo_bytes(const char *key);

/* Read a whole small file into buf (NUL-terminated); length or -1. */
ssize_t read_file(const char *path, char *buf, size_t size);

/*
 * The ULP the socket tests attach: $OKTLS_TEST_ULP, default OKTLS_ULP. Set
 * it to "tls" to run the tests against the stock module and so check the
 * tests themselves.
 */
const char *test_ulp(void);

/* Whether test_ulp() is the stock module ("tls"). */
bool test_ulp_is_stock(void);

/* SO_RCVTIMEO and SO_SNDTIMEO of ms milliseconds (0: none); 0 or -1. */
int sock_timeouts(int fd, int rcv_ms, int snd_ms);

/* Set or clear O_NONBLOCK; 0 or -1. */
int set_nonblock(int fd, bool on);

/* Bytes waiting in fd's receive queue (SIOCINQ), or -1. */
int inq_bytes(int fd);

/* Bytes in fd's TCP send queue not yet acknowledged (SIOCOUTQ), or -1. */
int outq_bytes(int fd);

/* Monotonic clock in milliseconds. */
long long now_ms(void);

/* Whether this is the debug kernel (kmemleak's, with KASAN and lockdep). */
bool debug_kernel(void);

/*
 * recvmsg with room for one cmsg: the length read (or -1), and in *type
 * the TLS_GET_RECORD_TYPE it carried, or -1 for none.
 */
ssize_t recv_record_type(int fd, void *buf, size_t len, int flags, int *type);

#endif
