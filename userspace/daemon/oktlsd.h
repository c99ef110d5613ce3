/* SPDX-License-Identifier: MIT */
/*
 * oktlsd: TLS handshakes in userspace with OpenSSL, records in the kernel.
 * Server mode terminates TLS and splices plaintext to a TCP backend; client
 * mode carries local plaintext connections to a TLS server. Prototypes are
 * grouped by file.
 */
#ifndef OKTLSD_H
#define OKTLSD_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <syslog.h>

#define OKTLSD_MAX_LISTEN 16

/* config.c */
struct oktlsd_config {
	bool client;
	const char *listen[OKTLSD_MAX_LISTEN];
	int nlisten;
	const char *backend;
	const char *cert, *key, *ca;
	bool verify_client;
	const char *servername;
	const char *ciphers, *ciphersuites;
	int min_proto, max_proto;
	bool no_tickets;
	bool no_kernel_keyupdate;
	unsigned long long rekey_records;
	int workers;
	int handshake_timeout_ms;
	int max_conns;
	int max_per_source;
	int drain_timeout_ms;
	const char *user;
	const char *ulp;
	bool syslog;
	int log_level;
};

extern struct oktlsd_config oktlsd_cfg;

/* 0 to run, 1 when --help/--version printed, -1 on a usage error (logged). */
int oktlsd_config_parse(int argc, char **argv);
/* A new SSL_CTX from the configured files, ticket keys carried over from old. */
SSL_CTX *oktlsd_config_ctx(SSL_CTX *old);
/* "host:port", "[v6]:port" or "port" to an address; 0 or -1 (logged). */
int oktlsd_config_addr(const char *spec, bool passive, int family,
		       struct sockaddr_storage *ss, socklen_t *len);

/* log.c */
void oktlsd_log_init(bool use_syslog, int level);
void oktlsd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* OpenSSL's error queue as one line (consumed), "" if empty. */
const char *oktlsd_log_ssl(char *buf, size_t size);
void oktlsd_log_addr(const struct sockaddr_storage *ss, char *buf, size_t size);

#define log_err(...) oktlsd_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) oktlsd_log(LOG_WARNING, __VA_ARGS__)
#define log_info(...) oktlsd_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) oktlsd_log(LOG_DEBUG, __VA_ARGS__)

/* main.c: state shared by the workers */
struct oktlsd_stats {
	atomic_ulong accepted, refused_limit, handshakes, handshake_failed,
		handshake_timeout, verify_failed, resumed_session_id,
		resumed_ticket, resumed_psk, offloaded, offload_failed,
		backend_failed, tickets_received, key_updates, alerts_received,
		bytes_to_plain, bytes_to_tls, closed, kernel_key_updates,
		kernel_rekeys;
	atomic_long active;
};

extern struct oktlsd_stats oktlsd_stats;
extern atomic_bool oktlsd_draining;

/* SSL_new() on the current SSL_CTX (SIGHUP may replace it). */
SSL *oktlsd_main_ssl_new(void);
void oktlsd_main_log_stats(void);

/* limits.c: handshakes in progress per source address */
bool oktlsd_limits_get(const struct sockaddr_storage *ss);
void oktlsd_limits_put(const struct sockaddr_storage *ss);

/* worker.c */
struct oktlsd_worker;
struct oktlsd_worker *oktlsd_worker_start(const int *listen_fds, int n, int id);
void oktlsd_worker_wake(struct oktlsd_worker *w);
void oktlsd_worker_join(struct oktlsd_worker *w);
/* ClientHello callback: notes whether a TLS 1.2 ticket was offered. */
int oktlsd_worker_hello_cb(SSL *ssl, int *al, void *arg);

/* relay.c: the offloaded phase of a connection */
struct oktlsd_relay;
struct oktlsd_relay *oktlsd_relay_new(int tls_fd, int plain_fd,
				      uint8_t *pending, size_t pending_len,
				      const char *name);
/* Move what can be moved. 1 while open, 0 when finished, -1 on failure. */
int oktlsd_relay_pump(struct oktlsd_relay *r);
/* Send a TLS alert record (best effort) on an offloaded socket. */
void oktlsd_relay_alert(int tls_fd, uint8_t level, uint8_t desc);
/* Whether the relay ended the connection with a fatal alert of its own. */
bool oktlsd_relay_alerted(const struct oktlsd_relay *r);
void oktlsd_relay_free(struct oktlsd_relay *r);

#endif
