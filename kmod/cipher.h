/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kTLS cipher descriptor table and one direction's key generation.
 */
#ifndef _OKTLS_CIPHER_H
#define _OKTLS_CIPHER_H

#include <linux/types.h>
#include <linux/tls.h>

#include "record.h"

struct crypto_aead;
struct aead_request;
struct scatterlist;

/**
 * struct oktls_cipher - one row of the cipher table
 * @type: uapi cipher id (TLS_CIPHER_*)
 * @alg: kernel crypto API algorithm name
 * @hmac: crypto API HMAC of the TLS 1.3 suite's hash, for HKDF (KeyUpdate)
 * @hash_size: that hash's output bytes: the traffic secret's size
 * @key_size: key bytes
 * @iv_size: uapi iv bytes (the explicit nonce in TLS 1.2 GCM/CCM)
 * @salt_size: uapi salt bytes; salt_size + iv_size is the nonce
 * @tag_size: AEAD tag bytes
 * @info_size: sizeof the uapi struct tls12_crypto_info_*
 * @iv_off: offset of iv[] in that struct
 * @key_off: offset of key[]
 * @salt_off: offset of salt[]
 * @rec_seq_off: offset of rec_seq[]
 * @explicit_nonce: TLS 1.2 carries the iv on the wire (not ChaCha20)
 * @ccm: the crypto API wants a CCM B0-style 16-byte IV
 * @tls12_only: no TLS 1.3 cipher suite exists for it (ARIA)
 */
struct oktls_cipher {
	u16 type;
	const char *alg;
	const char *hmac;
	u8 hash_size;
	u8 key_size;
	u8 iv_size;
	u8 salt_size;
	u8 tag_size;
	u16 info_size;
	u8 iv_off;
	u8 key_off;
	u8 salt_off;
	u8 rec_seq_off;
	bool explicit_nonce;
	bool ccm;
	bool tls12_only;
};

#define OKTLS_MAX_KEY_SIZE	32
#define OKTLS_MAX_SECRET_SIZE	48	/* SHA-384 */
#define OKTLS_MAX_INFO_SIZE	sizeof(struct tls12_crypto_info_chacha20_poly1305)
/* CCM's crypto API IV: flags byte, 12-byte nonce, 3-byte counter. */
#define OKTLS_AEAD_IV_SIZE	16

/**
 * struct oktls_keys - one key generation of one direction
 * @cipher: its table row
 * @version: TLS_1_2_VERSION or TLS_1_3_VERSION
 * @params: what record math needs
 * @aead: the keyed transform
 * @req: the one AEAD request this direction reuses for every record
 * @iv: static nonce part: salt || iv; for TLS 1.2 GCM/CCM the iv part is
 *	the explicit nonce, advanced per record
 * @seq: sequence number of the next record
 * @key: key bytes, kept only for getsockopt() as upstream returns them
 */
struct oktls_keys {
	const struct oktls_cipher *cipher;
	u16 version;
	struct oktls_rec_params params;
	struct crypto_aead *aead;
	struct aead_request *req;
	u8 iv[OKTLS_NONCE_SIZE];
	u64 seq;
	u8 key[OKTLS_MAX_KEY_SIZE];
};

const struct oktls_cipher *oktls_cipher_find(u16 type);
struct oktls_keys *oktls_keys_create(const struct tls_crypto_info *info,
				     const struct oktls_cipher *cipher, gfp_t gfp);
void oktls_keys_destroy(struct oktls_keys *keys);
void oktls_keys_export(const struct oktls_keys *keys, void *info);
void oktls_keys_aead_iv(const struct oktls_keys *keys, const u8 *explicit,
			u8 *aead_iv);
int oktls_keys_crypt(struct oktls_keys *keys, struct scatterlist *src,
		     struct scatterlist *dst, unsigned int assoclen,
		     unsigned int cryptlen, u8 *iv, bool seal);
int oktls_keys_advance(struct oktls_keys *keys);

#endif /* _OKTLS_CIPHER_H */
