/* SPDX-License-Identifier: MIT */
/*
 * oktls-bench: oktls, the stock tls module, userspace OpenSSL and plain TCP
 * side by side in one process, interleaved, printing one "BENCH ..." line
 * per measurement for tools/bench/report.py.
 */
#ifndef OKTLS_BENCH_H
#define OKTLS_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#define KIB 1024UL
#define MIB (1024UL * 1024)
#define REC_MAX 16384

/* crypto.c: cipher table, test keys, userspace record seal/open, OpenSSL */
struct bcipher {
	const char *name;	/* row label */
	uint16_t ktls_type;	/* TLS_CIPHER_* */
	unsigned int key_len, iv_len, salt_len; /* as in the uapi struct */
	unsigned int fixed_iv12; /* TLS 1.2: implicit IV bytes (4 GCM, 12 ChaCha) */
	const char *evp;	/* EVP cipher name */
	const char *suite12, *suite13, *digest;
};

struct bkeys {			/* one direction's traffic keys */
	uint8_t key[32];
	uint8_t iv[12];		/* GCM: salt(4) | iv(8); ChaCha: iv(12) */
	uint64_t seq;		/* sequence number of the first app record */
};

extern const struct bcipher bciphers[];
extern const unsigned int n_bciphers;

void bench_fixed_keys(const struct bcipher *c, struct bkeys *k);
size_t bench_crypto_info(const struct bcipher *c, int version,
			 const struct bkeys *k, uint8_t *buf);
/* Seal len bytes of src into TLS records of at most rec bytes; returns wire size. */
size_t bench_seal(const struct bcipher *c, int version, const struct bkeys *k,
		  const uint8_t *src, size_t len, size_t rec, uint8_t *out);
/* Open every record in wire[0..wlen) and compare with want[0..len); 0 if equal. */
int bench_open_check(const struct bcipher *c, int version, const struct bkeys *k,
		     const uint8_t *wire, size_t wlen, const uint8_t *want, size_t len,
		     char *why, size_t whylen);
size_t bench_wire_bound(size_t len, size_t rec);

int bench_ossl_init(void);
SSL_CTX *bench_ossl_ctx(int server, const struct bcipher *c, int version);
/* Real handshake over a connected pair (cfd = client, sfd = server); the
 * client->server traffic keys land in *k. Returns 0 and both SSLs. */
int bench_ossl_pair(const struct bcipher *c, int version, int cfd, int sfd,
		    SSL **cssl, SSL **sssl, struct bkeys *k);
int bench_ossl_write_pem(const char *cert, const char *key);

/* flow.c: connections and the throughput tests */
enum impl { IMPL_OKTLS, IMPL_TLS, IMPL_OSSL, IMPL_TCP, N_IMPL };
enum test { T_TX, T_RX, T_SENDFILE, T_TX512, T_TX4K, N_TEST };
extern const char *const impl_names[N_IMPL];
extern const char *const test_names[N_TEST];

struct result {
	uint64_t ns;		/* CLOCK_MONOTONIC, start barrier to last byte */
	uint64_t cpu_ns;	/* busy time, all CPUs (/proc/schedstat) */
	uint64_t ru_ns;		/* getrusage user+sys, this process */
	uint64_t softirq_ns;	/* /proc/stat softirq delta */
	int ok;
	char why[192];
};

int bench_flow_init(size_t max_bytes);
int bench_run(enum impl im, enum test t, const struct bcipher *c, int version,
	      unsigned int conns, size_t bytes, struct result *r);
int bench_listen(uint16_t *port);
int bench_pair(int lfd, uint16_t port, int *cfd, int *sfd);
uint64_t bench_now(void);
void bench_cpu_snap(uint64_t v[3]);

/* extra.c: memory per socket, key install cost, handshake rate */
void bench_mem(unsigned int rounds, unsigned int socks);
void bench_handshakes(unsigned int rounds, unsigned int count);

#endif
