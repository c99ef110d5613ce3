/* SPDX-License-Identifier: MIT */
/*
 * liboktls: hand a socket whose TLS handshake OpenSSL 3 completed over to
 * the kernel record layer (oktls, or any module behind the kTLS uapi).
 *
 *   oktls_ctx_prepare(ctx);          once, before SSL_new()
 *   ... SSL_accept() / SSL_connect() completes on fd ...
 *   oktls_offload(ssl, fd, &res);    keys derived and installed
 *   SSL_free(ssl);                   the kernel owns the records from here
 *
 * Grouped by file; functions used across files are oktls_<file>_<verb>().
 */
#ifndef OKTLS_LIB_H
#define OKTLS_LIB_H

#include <linux/tls.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OKTLS_MAX_SECRET 48		/* SHA-384 traffic secret, TLS 1.2 master */
#define OKTLS_RANDOM_SIZE 32

/* keys.c: the derivation, pure and kernel-free (unit tested on the host) */

/* One row per AEAD the kTLS uapi carries; see keys.c for the table. */
struct oktls_cipher {
	const char *name;		/* uapi name, for messages */
	int nid;			/* OpenSSL cipher NID */
	uint16_t type;			/* TLS_CIPHER_* */
	uint8_t key_len;
	uint8_t salt_len;		/* uapi salt: the implicit nonce part */
	uint8_t iv_len;			/* uapi iv */
	uint8_t fixed_iv_len;		/* TLS 1.2 key block IV bytes per side */
	uint8_t info_size;		/* sizeof the uapi struct */
	uint8_t iv_off, key_off, salt_off, seq_off;
};

union oktls_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* The row for an OpenSSL cipher NID, or NULL (not an AEAD kTLS carries). */
const struct oktls_cipher *oktls_keys_cipher_by_nid(int nid);

/* HKDF-Expand-Label (RFC 8446 7.1) with an empty context. 0 or -1. */
int oktls_keys_expand_label(const EVP_MD *md, const uint8_t *secret,
			    size_t secret_len, const char *label,
			    uint8_t *out, size_t out_len);

/* The TLS 1.2 PRF (RFC 5246 5): P_<md>(secret, label || seed). 0 or -1. */
int oktls_keys_prf(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
		   const char *label, const uint8_t *seed, size_t seed_len,
		   uint8_t *out, size_t out_len);

/*
 * TLS 1.3: one direction's crypto_info from its application traffic
 * secret, with record sequence number seq. 0 or -1.
 */
int oktls_keys_tls13(const struct oktls_cipher *c, const EVP_MD *md,
		     const uint8_t *secret, size_t secret_len, uint64_t seq,
		     union oktls_crypto_info *out);

/*
 * TLS 1.2: both directions from the master secret. server says which side
 * we are (its write key is our TX). 0 or -1.
 */
int oktls_keys_tls12(const struct oktls_cipher *c, const EVP_MD *md,
		     const uint8_t *master, size_t master_len,
		     const uint8_t client_random[OKTLS_RANDOM_SIZE],
		     const uint8_t server_random[OKTLS_RANDOM_SIZE], bool server,
		     uint64_t tx_seq, uint64_t rx_seq,
		     union oktls_crypto_info *tx, union oktls_crypto_info *rx);

/* offload.c: OpenSSL integration and the setsockopt calls */

struct oktls_result {
	int version;			/* TLS1_2_VERSION or TLS1_3_VERSION */
	const char *cipher;		/* OpenSSL name of the suite (static) */
	uint64_t tx_seq, rx_seq;	/* first kernel record sequence numbers */
	bool kernel_keyupdate;		/* the kernel holds the TLS 1.3 secrets */
	uint8_t *pending;		/* plaintext OpenSSL already decrypted: */
	size_t pending_len;		/* deliver it first; free() it */
	char err[160];			/* why it failed, what to do */
};

/*
 * Install the callbacks that capture TLS 1.3 traffic secrets and count
 * records per direction. Call once on every SSL_CTX whose connections will
 * be offloaded, before SSL_new(). Replaces any keylog and msg callback.
 * 0, or -1 (out of memory).
 */
int oktls_ctx_prepare(SSL_CTX *ctx);

/*
 * After the handshake on fd completed (SSL_do_handshake() returned 1, fd is
 * the socket under ssl): derive TX and RX keys, attach the ULP and install
 * both directions. Every userspace copy of a secret is wiped whether it
 * succeeds or not. Returns 0, or a negative errno with res->err set:
 * -EOPNOTSUPP for a suite the kernel cannot carry (the connection is still
 * in OpenSSL's hands and can be refused with an alert), -ENOENT when the
 * ULP is not loaded, -EPROTO when OpenSSL holds bytes that cannot be handed
 * over. ulp is the ULP name, NULL for "oktls".
 *
 * For TLS 1.3 the kernel gets the traffic secrets where it takes them
 * (oktls: OKTLS_TX_SECRET, OKTLS_RX_SECRET), so it follows KeyUpdate and
 * rekeys on its own (res->kernel_keyupdate); elsewhere, bare keys.
 */
int oktls_offload(SSL *ssl, int fd, const char *ulp, struct oktls_result *res);

/* oktls_offload() with flags: OKTLS_OFFLOAD_KEYUPDATE, or 0 for bare keys. */
#define OKTLS_OFFLOAD_KEYUPDATE	0x1
int oktls_offload_flags(SSL *ssl, int fd, const char *ulp, unsigned int flags,
			struct oktls_result *res);

/*
 * The derivation half of oktls_offload(), for tests and for callers that
 * install keys themselves: tx and rx filled (wiped on failure). The caller
 * must OPENSSL_cleanse() both. 0 or a negative errno with res->err set.
 */
int oktls_derive(SSL *ssl, union oktls_crypto_info *tx,
		 union oktls_crypto_info *rx, struct oktls_result *res);

/* Whether the suite ssl negotiated (or c) can be offloaded. */
bool oktls_cipher_supported(const SSL_CIPHER *c);

#endif
