// SPDX-License-Identifier: GPL-2.0
/*
 * The kTLS ciphers as rows of one table, and the key generation of one
 * direction: transform, request, nonce and sequence state.
 */
#include <crypto/aead.h>
#include <linux/build_bug.h>
#include <linux/err.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "cipher.h"

#define ROW(ID, st, name, expl, is_ccm, only12, mac, mac_size)		\
	[TLS_CIPHER_##ID - TLS_CIPHER_AES_GCM_128] = {			\
		.type = TLS_CIPHER_##ID,				\
		.alg = name,						\
		.hmac = mac,						\
		.hash_size = mac_size,					\
		.key_size = TLS_CIPHER_##ID##_KEY_SIZE,			\
		.iv_size = TLS_CIPHER_##ID##_IV_SIZE,			\
		.salt_size = TLS_CIPHER_##ID##_SALT_SIZE,		\
		.tag_size = TLS_CIPHER_##ID##_TAG_SIZE,			\
		.info_size = sizeof(struct tls12_crypto_info_##st),	\
		.iv_off = offsetof(struct tls12_crypto_info_##st, iv),	\
		.key_off = offsetof(struct tls12_crypto_info_##st, key), \
		.salt_off = offsetof(struct tls12_crypto_info_##st, salt), \
		.rec_seq_off = offsetof(struct tls12_crypto_info_##st, rec_seq), \
		.explicit_nonce = expl,					\
		.ccm = is_ccm,						\
		.tls12_only = only12,					\
	}

/* The hash is the TLS 1.3 suite's (RFC 8446 B.4, RFC 8998), for KeyUpdate. */
static const struct oktls_cipher ciphers[] = {
	ROW(AES_GCM_128, aes_gcm_128, "gcm(aes)", true, false, false,
	    "hmac(sha256)", 32),
	ROW(AES_GCM_256, aes_gcm_256, "gcm(aes)", true, false, false,
	    "hmac(sha384)", 48),
	ROW(AES_CCM_128, aes_ccm_128, "ccm(aes)", true, true, false,
	    "hmac(sha256)", 32),
	ROW(CHACHA20_POLY1305, chacha20_poly1305,
	    "rfc7539(chacha20,poly1305)", false, false, false,
	    "hmac(sha256)", 32),
	ROW(SM4_GCM, sm4_gcm, "gcm(sm4)", true, false, false, "hmac(sm3)", 32),
	ROW(SM4_CCM, sm4_ccm, "ccm(sm4)", true, true, false, "hmac(sm3)", 32),
	ROW(ARIA_GCM_128, aria_gcm_128, "gcm(aria)", true, false, true, NULL, 0),
	ROW(ARIA_GCM_256, aria_gcm_256, "gcm(aria)", true, false, true, NULL, 0),
};

/* Every row: a 96-bit nonce, an 8-byte sequence number, a packed struct. */
#define CHECK_ROW(st)						\
	static_assert(sizeof_field(struct tls12_crypto_info_##st, salt) + \
		      sizeof_field(struct tls12_crypto_info_##st, iv) ==	\
		      OKTLS_NONCE_SIZE &&				\
		      sizeof_field(struct tls12_crypto_info_##st, rec_seq) == \
		      OKTLS_SEQ_SIZE &&					\
		      sizeof_field(struct tls12_crypto_info_##st, key) <=	\
		      OKTLS_MAX_KEY_SIZE &&				\
		      sizeof(struct tls12_crypto_info_##st) <=		\
		      OKTLS_MAX_INFO_SIZE &&				\
		      sizeof(struct tls12_crypto_info_##st) ==		\
		      sizeof(struct tls_crypto_info) +			\
		      sizeof_field(struct tls12_crypto_info_##st, iv) +	\
		      sizeof_field(struct tls12_crypto_info_##st, key) +	\
		      sizeof_field(struct tls12_crypto_info_##st, salt) + \
		      sizeof_field(struct tls12_crypto_info_##st, rec_seq))

CHECK_ROW(aes_gcm_128);
CHECK_ROW(aes_gcm_256);
CHECK_ROW(aes_ccm_128);
CHECK_ROW(chacha20_poly1305);
CHECK_ROW(sm4_gcm);
CHECK_ROW(sm4_ccm);
CHECK_ROW(aria_gcm_128);
CHECK_ROW(aria_gcm_256);

/**
 * oktls_cipher_find() - the table row of a uapi cipher id
 * @type: TLS_CIPHER_*
 *
 * Return: the row, or NULL for an unknown id.
 */
const struct oktls_cipher *oktls_cipher_find(u16 type)
{
	unsigned int i = type - TLS_CIPHER_AES_GCM_128;

	if (type < TLS_CIPHER_AES_GCM_128 || i >= ARRAY_SIZE(ciphers))
		return NULL;
	return &ciphers[i];
}

/**
 * oktls_keys_create() - key a transform from a validated uapi crypto info
 * @info: the whole tls12_crypto_info_* (cipher->info_size bytes)
 * @cipher: its row
 * @gfp: allocation flags
 *
 * Return: the key generation, or ERR_PTR: -ENOENT when the kernel has no
 * implementation of the algorithm, -ENOMEM, or the crypto API's error.
 */
struct oktls_keys *oktls_keys_create(const struct tls_crypto_info *info,
				     const struct oktls_cipher *cipher, gfp_t gfp)
{
	const u8 *raw = (const u8 *)info;
	struct oktls_keys *keys;
	int err;

	keys = kzalloc(sizeof(*keys), gfp);
	if (!keys)
		return ERR_PTR(-ENOMEM);

	keys->cipher = cipher;
	keys->version = info->version;
	keys->params.tls13 = info->version == TLS_1_3_VERSION;
	keys->params.explicit_nonce = !keys->params.tls13 &&
				      cipher->explicit_nonce ? cipher->iv_size : 0;
	keys->params.tag_size = cipher->tag_size;
	keys->params.nonce_xor = keys->params.tls13 || !cipher->explicit_nonce;
	memcpy(keys->iv, raw + cipher->salt_off, cipher->salt_size);
	memcpy(keys->iv + cipher->salt_size, raw + cipher->iv_off,
	       cipher->iv_size);
	keys->seq = oktls_get_be64(raw + cipher->rec_seq_off);
	memcpy(keys->key, raw + cipher->key_off, cipher->key_size);

	keys->aead = crypto_alloc_aead(cipher->alg, 0, 0);
	if (IS_ERR(keys->aead)) {
		err = PTR_ERR(keys->aead);
		goto err_alloc_aead;
	}
	err = crypto_aead_setkey(keys->aead, keys->key, cipher->key_size);
	if (err)
		goto err_setkey;
	err = crypto_aead_setauthsize(keys->aead, cipher->tag_size);
	if (err)
		goto err_setkey;

	keys->req = aead_request_alloc(keys->aead, gfp);
	if (!keys->req) {
		err = -ENOMEM;
		goto err_setkey;
	}
	return keys;

err_setkey:
	crypto_free_aead(keys->aead);
err_alloc_aead:
	memzero_explicit(keys, sizeof(*keys));
	kfree(keys);
	return ERR_PTR(err);
}

/**
 * oktls_keys_destroy() - free a key generation and wipe its secrets
 * @keys: may be NULL
 *
 * The crypto API wipes the transform's key schedule when it frees it.
 */
void oktls_keys_destroy(struct oktls_keys *keys)
{
	if (!keys)
		return;
	aead_request_free(keys->req);
	crypto_free_aead(keys->aead);
	memzero_explicit(keys, sizeof(*keys));
	kfree(keys);
}

/**
 * oktls_keys_export() - fill a uapi crypto info with the current state
 * @keys: the key generation
 * @info: cipher->info_size bytes: version, cipher, key, salt, the current
 *	iv (explicit nonce) and the next record's sequence number, as upstream
 */
void oktls_keys_export(const struct oktls_keys *keys, void *info)
{
	const struct oktls_cipher *c = keys->cipher;
	struct tls_crypto_info *hdr = info;
	u8 *raw = info;

	hdr->version = keys->version;
	hdr->cipher_type = c->type;
	memcpy(raw + c->key_off, keys->key, c->key_size);
	memcpy(raw + c->salt_off, keys->iv, c->salt_size);
	memcpy(raw + c->iv_off, keys->iv + c->salt_size, c->iv_size);
	oktls_put_be64(raw + c->rec_seq_off, keys->seq);
}

/**
 * oktls_keys_aead_iv() - the crypto API IV for the current record
 * @keys: the key generation
 * @explicit: the record's explicit nonce as received (TLS 1.2 GCM/CCM
 *	receive), or NULL to use the key generation's own
 * @aead_iv: OKTLS_AEAD_IV_SIZE bytes
 */
void oktls_keys_aead_iv(const struct oktls_keys *keys, const u8 *explicit,
			u8 *aead_iv)
{
	u8 *nonce = aead_iv;

	if (keys->cipher->ccm) {
		/* RFC 3610 flags byte: L' = 15 - 12 - 1 for a 12-byte nonce. */
		aead_iv[0] = 2;
		nonce = aead_iv + 1;
		memset(aead_iv + 1 + OKTLS_NONCE_SIZE, 0,
		       OKTLS_AEAD_IV_SIZE - 1 - OKTLS_NONCE_SIZE);
	}
	oktls_rec_nonce(&keys->params, keys->iv, keys->seq, nonce);
	if (explicit && keys->params.explicit_nonce)
		memcpy(nonce + keys->cipher->salt_size, explicit,
		       keys->params.explicit_nonce);
}

/**
 * oktls_keys_crypt() - seal or open one record with this generation's AEAD
 * @keys: the key generation (its one request is reused)
 * @src: additional data, then plaintext (seal) or ciphertext and tag (open)
 * @dst: additional data, then room for the result; may equal @src
 * @assoclen: bytes of additional data
 * @cryptlen: bytes to seal, or ciphertext plus tag to open
 * @iv: the crypto API IV from oktls_keys_aead_iv()
 * @seal: encrypt rather than decrypt
 *
 * Process context: waits for an asynchronous implementation to finish.
 *
 * Return: 0, -EBADMSG when opening fails authentication, or the crypto
 * API's error.
 */
int oktls_keys_crypt(struct oktls_keys *keys, struct scatterlist *src,
		     struct scatterlist *dst, unsigned int assoclen,
		     unsigned int cryptlen, u8 *iv, bool seal)
{
	struct aead_request *req = keys->req;
	DECLARE_CRYPTO_WAIT(wait);

	aead_request_set_tfm(req, keys->aead);
	aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG |
				  CRYPTO_TFM_REQ_MAY_SLEEP,
				  crypto_req_done, &wait);
	aead_request_set_ad(req, assoclen);
	aead_request_set_crypt(req, src, dst, cryptlen, iv);
	return crypto_wait_req(seal ? crypto_aead_encrypt(req) :
				      crypto_aead_decrypt(req), &wait);
}

/**
 * oktls_keys_advance() - step to the next record
 * @keys: the key generation
 *
 * Return: 0, or -EBADMSG when the sequence number space is exhausted: a
 * record number must never repeat under one key.
 */
int oktls_keys_advance(struct oktls_keys *keys)
{
	if (keys->seq == U64_MAX)
		return -EBADMSG;
	keys->seq++;
	if (keys->params.explicit_nonce)
		oktls_be64_inc(keys->iv + keys->cipher->salt_size);
	return 0;
}
