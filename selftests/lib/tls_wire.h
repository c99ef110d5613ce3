/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An independent TLS record layer for the selftests, on OpenSSL EVP: it
 * seals and opens records exactly as RFC 5246/5288 (TLS 1.2 AEAD), RFC 7905
 * (ChaCha20-Poly1305 in TLS 1.2) and RFC 8446 (TLS 1.3) say, with the key,
 * iv, salt and sequence number split the kTLS uapi uses. The tests check
 * the kernel's wire bytes against it and feed the kernel records it made.
 */
#ifndef _OKTLS_SELFTEST_TLS_WIRE_H
#define _OKTLS_SELFTEST_TLS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/tls.h>

#define WIRE_HEADER_SIZE	5
#define WIRE_MAX_PLAINTEXT	16384	/* 2^14: RFC 5246 6.2.1, RFC 8446 5.1 */
/* The largest record the tests handle: RFC 5246's ciphertext bound. */
#define WIRE_MAX_RECORD		(WIRE_HEADER_SIZE + WIRE_MAX_PLAINTEXT + 2048)

#define WIRE_TYPE_ALERT		21
#define WIRE_TYPE_HANDSHAKE	22
#define WIRE_TYPE_DATA		23

/* One kTLS AEAD: its uapi sizes and offsets, and its OpenSSL name. */
struct wire_cipher {
	const char *name;		/* "aes_gcm_128" */
	uint16_t type;			/* TLS_CIPHER_* */
	uint8_t key_size;
	uint8_t iv_size;		/* the uapi iv field */
	uint8_t salt_size;
	uint8_t tag_size;
	uint8_t rec_seq_size;
	uint16_t info_size;		/* sizeof(struct tls12_crypto_info_*) */
	uint8_t iv_off, key_off, salt_off, rec_seq_off;
	/* TLS 1.2 carries the uapi iv as an explicit nonce (RFC 5288 3). */
	bool explicit_nonce;
	bool ccm;			/* OpenSSL needs lengths up front */
	bool tls12_only;		/* ARIA: RFC 6209 has no TLS 1.3 suites */
	const char *evp_name;
	const char *kernel_alg;		/* what the kernel would allocate */
};

/* Any of the uapi crypto_info structs. */
union wire_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
	struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
	struct tls12_crypto_info_aes_ccm_128 aes_ccm_128;
	struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
	struct tls12_crypto_info_sm4_gcm sm4_gcm;
	struct tls12_crypto_info_sm4_ccm sm4_ccm;
	struct tls12_crypto_info_aria_gcm_128 aria_gcm_128;
	struct tls12_crypto_info_aria_gcm_256 aria_gcm_256;
};

/*
 * One direction's record protection state, as the peer that seals or opens
 * the next record sees it.
 */
struct wire_keys {
	const struct wire_cipher *cipher;
	uint16_t version;		/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	uint8_t key[32];
	uint8_t salt[4];
	uint8_t iv[12];			/* the uapi iv: 8 bytes, 12 for ChaCha */
	uint64_t seq;			/* sequence number of the next record */
	/*
	 * TLS 1.2 GCM/CCM: the explicit nonce of the next record. The kernel
	 * sends the uapi iv and adds one per record (net/tls tls.h
	 * tls_fill_prepend, tls_advance_record_sn); RFC 5288 3 only asks that
	 * it never repeat.
	 */
	uint64_t explicit;
	void *evp;			/* EVP_CIPHER * */
	void *ctx;			/* EVP_CIPHER_CTX * */
};

/* Why wire_open() refused a record. */
enum wire_err {
	WIRE_OK = 0,
	WIRE_E_SHORT = -1,		/* fewer bytes than the header says */
	WIRE_E_VERSION = -2,		/* legacy_record_version != 0x0303 */
	WIRE_E_LENGTH = -3,		/* length below overhead or over bound */
	WIRE_E_OUTER_TYPE = -4,		/* TLS 1.3 opaque_type != 23 */
	WIRE_E_NONCE = -5,		/* explicit nonce not the expected one */
	WIRE_E_TAG = -6,		/* authentication failed */
	WIRE_E_NO_TYPE = -7,		/* TLS 1.3 inner plaintext all zeros */
	WIRE_E_CRYPTO = -8,		/* OpenSSL refused an operation */
	WIRE_E_TRAILING = -9,		/* more bytes than the header says */
};

/* Cipher table. */
const struct wire_cipher *wire_cipher_find(uint16_t type);
extern const struct wire_cipher wire_ciphers[];
extern const size_t wire_ciphers_count;
/* Whether the OpenSSL we are linked with has the cipher. */
bool wire_cipher_in_openssl(const struct wire_cipher *c);

/*
 * Deterministic key material from seed: key, salt, iv. seq is the first
 * record's sequence number. 0, -EINVAL for an unknown cipher or version,
 * -ENOENT if OpenSSL lacks the cipher (k is still filled: the keys can be
 * offered to the kernel, records cannot be sealed or opened).
 */
int wire_keys_init(struct wire_keys *k, uint16_t version, uint16_t cipher,
		   uint64_t seed, uint64_t seq);
void wire_keys_free(struct wire_keys *k);

/*
 * Fill the uapi struct with k's current state (for TLS 1.2 GCM/CCM the iv
 * field is the next explicit nonce, as the kernel reports it back) and
 * return its size.
 */
size_t wire_crypto_info(const struct wire_keys *k, union wire_crypto_info *ci);

/*
 * setsockopt(fd, SOL_TLS, optname = TLS_TX or TLS_RX) with k's current
 * state. Returns 0 or the errno.
 */
int wire_set_keys(int fd, int optname, const struct wire_keys *k);

/*
 * Whether a version x cipher variant cannot be tested here, given err, the
 * errno its keys got from the kernel (0: accepted): returns the reason to
 * SKIP, formatted into buf, or NULL to go on (and check err). Reasons: the
 * kernel lacks the AEAD (ENOENT; Debian has no SM4 or ARIA), ARIA offered
 * for TLS 1.3 (RFC 6209 defines TLS 1.2 suites only; EINVAL as upstream),
 * a stock module older than the cipher, OpenSSL lacking it (SM4 in 3.0).
 */
const char *wire_skip_reason(const struct wire_keys *k, int err, char *buf,
			     size_t size);

/*
 * Install keys of every version x cipher as optname (TLS_TX or TLS_RX) on
 * a fresh connected socket with test_ulp() and remember each errno. Call
 * it once from the test binary before the harness forks a process per
 * test: a refused AEAD costs the kernel a round of modprobe each time.
 */
void wire_probe_variants(int optname);
/* The probed errno (0: accepted), or -1 if unknown. */
int wire_probed_errno(uint16_t version, uint16_t cipher);

/* Bytes a record adds around its content: header, nonce, tag, TLS 1.3 type. */
size_t wire_overhead(const struct wire_keys *k);
/* Bytes of the explicit nonce after the header (0 for TLS 1.3, ChaCha). */
size_t wire_nonce_size(const struct wire_keys *k);
/* The largest record length field the kernel accepts (RFC plaintext bound). */
size_t wire_max_length(const struct wire_keys *k);

/*
 * Seal one record of content type type around len bytes of pt, with pad
 * zero bytes of TLS 1.3 padding (must be 0 for TLS 1.2), into out. Returns
 * the record's size on the wire, or -1 if size is too small or OpenSSL
 * failed. Advances the sequence number. No length bound is enforced: the
 * tests seal oversized records on purpose.
 */
ssize_t wire_seal(struct wire_keys *k, uint8_t type, const void *pt,
		  size_t len, size_t pad, void *out, size_t size);

/*
 * Open the record rec[0..len): exactly one whole record. Checks the
 * header, the length, the explicit nonce (TLS 1.2 GCM/CCM), the tag, and
 * strips TLS 1.3 padding. On success returns WIRE_OK with the content type
 * and plaintext (pt must hold len bytes) and advances the sequence number;
 * otherwise a wire_err and k is unchanged.
 */
int wire_open(struct wire_keys *k, const void *rec, size_t len,
	      uint8_t *type, void *pt, size_t *pt_len);
const char *wire_strerror(int err);

/*
 * Read exactly one whole record (header and body) from a plain TCP socket
 * into buf, however the bytes arrive. Returns its size, 0 on EOF before the
 * first byte, or -1 with errno: EPROTO for EOF inside a record, EMSGSIZE if
 * it does not fit in size, or the read(2)/timeout errno.
 */
ssize_t wire_read_record(int fd, void *buf, size_t size);

/*
 * Read records from fd and open them with k until exactly len bytes of
 * application data have arrived, into out. Every record must be of type
 * 23 and carry at most WIRE_MAX_PLAINTEXT bytes. rec_lens, if not NULL,
 * receives up to max_recs plaintext lengths, and *nrecs their count.
 * Returns 0, or a wire_err, or WIRE_E_SHORT with errno on a read failure,
 * an unexpected type (errno EPROTO) or too much data (errno E2BIG).
 */
int wire_recv_data(int fd, struct wire_keys *k, void *out, size_t len,
		   size_t *rec_lens, size_t max_recs, size_t *nrecs);

/* A small seeded PRNG (splitmix64) for key material, sizes and mutations. */
uint64_t wire_rand(uint64_t *state);
/* Uniform-ish in [lo, hi]. */
size_t wire_rand_range(uint64_t *state, size_t lo, size_t hi);
/* Fill buf with bytes from the PRNG. */
void wire_rand_fill(uint64_t *state, void *buf, size_t len);

/* A 64-bit big-endian integer, as in rec_seq and the explicit nonce. */
void wire_put_be64(uint8_t *p, uint64_t v);
uint64_t wire_get_be64(const uint8_t *p);

/*
 * The names of the variants the TX and RX tests run: TLS 1.2 and 1.3 times
 * every kTLS cipher. X(name, version, cipher).
 */
#define WIRE_VARIANTS(X)						\
	X(12_aes_gcm, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128)		\
	X(12_aes_gcm_256, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256)	\
	X(12_aes_ccm, TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128)		\
	X(12_chacha, TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305)	\
	X(12_sm4_gcm, TLS_1_2_VERSION, TLS_CIPHER_SM4_GCM)		\
	X(12_sm4_ccm, TLS_1_2_VERSION, TLS_CIPHER_SM4_CCM)		\
	X(12_aria_gcm, TLS_1_2_VERSION, TLS_CIPHER_ARIA_GCM_128)	\
	X(12_aria_gcm_256, TLS_1_2_VERSION, TLS_CIPHER_ARIA_GCM_256)	\
	X(13_aes_gcm, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128)		\
	X(13_aes_gcm_256, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256)	\
	X(13_aes_ccm, TLS_1_3_VERSION, TLS_CIPHER_AES_CCM_128)		\
	X(13_chacha, TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305)	\
	X(13_sm4_gcm, TLS_1_3_VERSION, TLS_CIPHER_SM4_GCM)		\
	X(13_sm4_ccm, TLS_1_3_VERSION, TLS_CIPHER_SM4_CCM)		\
	X(13_aria_gcm, TLS_1_3_VERSION, TLS_CIPHER_ARIA_GCM_128)	\
	X(13_aria_gcm_256, TLS_1_3_VERSION, TLS_CIPHER_ARIA_GCM_256)

#endif
