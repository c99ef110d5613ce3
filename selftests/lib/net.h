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

#endif
