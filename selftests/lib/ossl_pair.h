/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A TLS 1.3 connection between two OpenSSL endpoints in one process, for
 * tests where one end is then handed to the kernel and the other stays in
 * userspace OpenSSL as the independent implementation: contexts with a
 * throwaway certificate, the handshake, a KeyUpdate observer, a
 * position-keyed data pattern and a non-blocking two-way pump.
 */
#ifndef _OKTLS_SELFTEST_OSSL_PAIR_H
#define _OKTLS_SELFTEST_OSSL_PAIR_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A TLS 1.3-only context for one suite ("TLS_AES_128_GCM_SHA256"). The
 * server gets a fresh P-256 key and a self-signed certificate made in
 * memory; the client does not verify it. No session tickets (they would
 * be records nobody reads), partial writes and moving write buffers on.
 */
SSL_CTX *pair_ctx13(bool server, const char *suite);

/*
 * Sign a throwaway self-signed certificate (CN localhost, one hour) for a
 * fresh P-256 or RSA-2048 key into a server context: 0 or -1.
 */
int pair_use_new_cert(SSL_CTX *ctx, bool ecdsa);

/* The handshake of srv and cli, each on its own blocking socket: 0 or -1. */
int pair_handshake(SSL *srv, SSL *cli);

/*
 * KeyUpdate messages one SSL wrote and read, seen from OpenSSL's message
 * callback. app_read is the caller's count of application bytes read; the
 * first KeyUpdate read notes it, so a test can tell what came first.
 */
struct pair_ku_count {
	int sent;
	int sent_requested;
	int rcvd;
	int rcvd_requested;
	uint64_t app_read;
	uint64_t first_rcvd_at;
};

/* Count ssl's KeyUpdate messages into c (replaces its msg callback). */
void pair_count_key_updates(SSL *ssl, struct pair_ku_count *c);

/*
 * The test stream: byte i of the stream named seed is a function of
 * (seed, i) only, so a reader checks any piece without the writer's state.
 */
void pair_fill(uint64_t seed, uint64_t off, void *buf, size_t len);

/* Offset in buf of the first byte that differs from the stream, or len. */
size_t pair_check(uint64_t seed, uint64_t off, const void *buf, size_t len);

/* Blocking SSL_write of all of buf: 0, or -1 with the SSL error logged. */
int pair_write_all(SSL *ssl, const void *buf, size_t len);

/* Blocking SSL_read of exactly len bytes into buf (counted in *c if set). */
int pair_read_exact(SSL *ssl, void *buf, size_t len, struct pair_ku_count *c);

/* pair_write_all() of len bytes of stream seed from off. */
int pair_write_stream(SSL *ssl, uint64_t seed, uint64_t off, size_t len);

/* pair_read_exact() of len bytes, checked against stream seed from off. */
int pair_read_check(SSL *ssl, struct pair_ku_count *c, uint64_t seed,
		    uint64_t off, size_t len);

/*
 * Read (non-blocking, on ssl's socket fd) until c counts want KeyUpdates
 * received, or ms pass, or anything else arrives; the count.
 */
int pair_await_key_update(SSL *ssl, int fd, struct pair_ku_count *c, int want,
			  int ms);

/*
 * Both directions at once on a non-blocking SSL: write tx_len bytes of
 * stream tx_seed with a KeyUpdate before every ku_every bytes (update
 * requested on every other one, when ask_every_other), and read rx_len
 * bytes of stream rx_seed, checking them. Gives up after idle_ms without
 * progress. SHA-256 of both streams as they went by.
 */
struct pair_pump {
	uint64_t tx_len, tx_seed, rx_len, rx_seed, ku_every;
	bool ask_every_other;
	int idle_ms;
	struct pair_ku_count *ku;
	/* results */
	uint64_t sent, rcvd;
	int updates;			/* SSL_key_update() calls made */
	unsigned char tx_sha[32], rx_sha[32];
	char why[160];			/* empty on success */
};

int pair_pump_run(SSL *ssl, int fd, struct pair_pump *p);

/* The other end, as plain socket calls once the kernel has the records. */

/*
 * Read len bytes of stream seed from off with recvmsg(flags), at most
 * piece bytes a call; with cmsg, every read must carry a
 * TLS_GET_RECORD_TYPE of data (23). 0, an errno, or -1 for wrong bytes,
 * another record type or EOF.
 */
int pair_recv_check(int fd, uint64_t seed, uint64_t off, size_t len,
		    size_t piece, int flags, bool cmsg);

/* Send len bytes of stream seed from off, one send() per piece: 0 or -1. */
int pair_send(int fd, uint64_t seed, uint64_t off, size_t len, size_t piece);

/*
 * Thread bodies moving len bytes of stream seed through fd in blocking
 * calls of random sizes (sends up to 192 KiB, reads up to 64 KiB), reads
 * checked; SHA-256 of what went by.
 */
struct pair_side {
	int fd;
	uint64_t seed, len;
	uint64_t done;
	int err;		/* errno, or -1 for wrong bytes or early EOF */
	int retries;		/* sends cut short (pair_send_retry_main) */
	unsigned char sha[32];
};

void *pair_send_main(void *arg);
void *pair_recv_main(void *arg);

/*
 * Sends of 16 KiB that retry, after POLLOUT, what a send timeout cut
 * short (EAGAIN); ETIMEDOUT after 20000 retries.
 */
void *pair_send_retry_main(void *arg);

#endif
