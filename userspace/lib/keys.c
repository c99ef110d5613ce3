// SPDX-License-Identifier: MIT
/*
 * Key derivation for the kTLS uapi: TLS 1.3 traffic keys by
 * HKDF-Expand-Label, TLS 1.2 key blocks by the PRF, laid out in the
 * tls12_crypto_info_* structs. No kernel and no SSL object: the unit tests
 * run these against RFC 8448 and the TLS 1.2 PRF vectors.
 */
#include <assert.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <string.h>

#include "oktls.h"

#define ROW(n, nid_, t, s)						\
	{								\
		.name = n, .nid = nid_, .type = TLS_CIPHER_##t,		\
		.key_len = TLS_CIPHER_##t##_KEY_SIZE,			\
		.salt_len = TLS_CIPHER_##t##_SALT_SIZE,			\
		.iv_len = TLS_CIPHER_##t##_IV_SIZE,			\
		.fixed_iv_len = TLS_CIPHER_##t##_SALT_SIZE ?:		\
				TLS_CIPHER_##t##_IV_SIZE,		\
		.info_size = sizeof(struct s),				\
		.iv_off = offsetof(struct s, iv),			\
		.key_off = offsetof(struct s, key),			\
		.salt_off = offsetof(struct s, salt),			\
		.seq_off = offsetof(struct s, rec_seq),			\
	}

/*
 * The uapi structs all read info, iv, key, salt, rec_seq; GCM and CCM put
 * the 4-byte implicit nonce in salt and the explicit nonce (TLS 1.2) or
 * the rest of the IV (TLS 1.3) in iv; ChaCha20 has the whole 12-byte IV in
 * iv and no salt (RFC 7905: TLS 1.2 also derives 12 IV bytes for it).
 */
static const struct oktls_cipher ciphers[] = {
	ROW("AES-GCM-128", NID_aes_128_gcm, AES_GCM_128, tls12_crypto_info_aes_gcm_128),
	ROW("AES-GCM-256", NID_aes_256_gcm, AES_GCM_256, tls12_crypto_info_aes_gcm_256),
	ROW("AES-CCM-128", NID_aes_128_ccm, AES_CCM_128, tls12_crypto_info_aes_ccm_128),
	ROW("CHACHA20-POLY1305", NID_chacha20_poly1305, CHACHA20_POLY1305,
	    tls12_crypto_info_chacha20_poly1305),
};

static_assert(sizeof(union oktls_crypto_info) < 256, "info_size is a u8");
static_assert(TLS_CIPHER_AES_GCM_128_IV_SIZE + TLS_CIPHER_AES_GCM_128_SALT_SIZE == 12,
	      "salt || iv is the 12-byte TLS 1.3 nonce");

const struct oktls_cipher *oktls_keys_cipher_by_nid(int nid)
{
	size_t i;

	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
		if (ciphers[i].nid == nid)
			return &ciphers[i];
	return NULL;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

/* EVP_KDF by name with the given params; 0 or -1. */
static int kdf(const char *name, OSSL_PARAM *params, uint8_t *out, size_t len)
{
	EVP_KDF_CTX *kctx = NULL;
	EVP_KDF *k;
	int ret = -1;

	k = EVP_KDF_fetch(NULL, name, NULL);
	if (!k)
		goto cleanup;
	kctx = EVP_KDF_CTX_new(k);
	if (!kctx)
		goto cleanup;
	if (EVP_KDF_derive(kctx, out, len, params) != 1)
		goto cleanup;
	ret = 0;
cleanup:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(k);
	return ret;
}

int oktls_keys_expand_label(const EVP_MD *md, const uint8_t *secret,
			    size_t secret_len, const char *label,
			    uint8_t *out, size_t out_len)
{
	static const char prefix[] = "tls13 ";
	size_t llen = strlen(label), n = 0;
	uint8_t info[2 + 1 + 255 + 1];
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM p[5];

	if (out_len > 0xffff || sizeof(prefix) - 1 + llen > 255)
		return -1;
	/* struct HkdfLabel { uint16 length; opaque label<7..255>; opaque context<0..255>; } */
	info[n++] = out_len >> 8;
	info[n++] = out_len & 0xff;
	info[n++] = sizeof(prefix) - 1 + llen;
	memcpy(info + n, prefix, sizeof(prefix) - 1);
	n += sizeof(prefix) - 1;
	memcpy(info + n, label, llen);
	n += llen;
	info[n++] = 0;			/* empty context */

	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md), 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)secret, secret_len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	p[3] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[4] = OSSL_PARAM_construct_end();
	return kdf(OSSL_KDF_NAME_HKDF, p, out, out_len);
}

int oktls_keys_prf(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
		   const char *label, const uint8_t *seed, size_t seed_len,
		   uint8_t *out, size_t out_len)
{
	size_t llen = strlen(label);
	uint8_t buf[128];
	OSSL_PARAM p[4];

	if (llen + seed_len > sizeof(buf))
		return -1;
	memcpy(buf, label, llen);
	memcpy(buf + llen, seed, seed_len);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md), 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
						 (void *)secret, secret_len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, buf,
						 llen + seed_len);
	p[3] = OSSL_PARAM_construct_end();
	return kdf(OSSL_KDF_NAME_TLS1_PRF, p, out, out_len);
}

static void fill(const struct oktls_cipher *c, uint16_t version,
		 const uint8_t *key, const uint8_t *nonce, size_t nonce_len,
		 uint64_t seq, bool explicit_nonce, union oktls_crypto_info *out)
{
	uint8_t *base = (uint8_t *)out;

	memset(out, 0, sizeof(*out));
	out->info.version = version;
	out->info.cipher_type = c->type;
	memcpy(base + c->key_off, key, c->key_len);
	/* The implicit part first: salt for GCM/CCM, all of iv for ChaCha20. */
	memcpy(base + c->salt_off, nonce, c->salt_len);
	if (explicit_nonce)
		/* TLS 1.2 GCM/CCM: iv is the first record's explicit nonce. */
		put_be64(base + c->iv_off, seq);
	else
		memcpy(base + c->iv_off, nonce + c->salt_len,
		       nonce_len - c->salt_len);
	put_be64(base + c->seq_off, seq);
}

int oktls_keys_tls13(const struct oktls_cipher *c, const EVP_MD *md,
		     const uint8_t *secret, size_t secret_len, uint64_t seq,
		     union oktls_crypto_info *out)
{
	uint8_t key[32], iv[12];
	int ret = -1;

	if (oktls_keys_expand_label(md, secret, secret_len, "key", key, c->key_len) ||
	    oktls_keys_expand_label(md, secret, secret_len, "iv", iv, sizeof(iv)))
		goto cleanup;
	fill(c, TLS_1_3_VERSION, key, iv, sizeof(iv), seq, false, out);
	ret = 0;
cleanup:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

int oktls_keys_tls12(const struct oktls_cipher *c, const EVP_MD *md,
		     const uint8_t *master, size_t master_len,
		     const uint8_t client_random[OKTLS_RANDOM_SIZE],
		     const uint8_t server_random[OKTLS_RANDOM_SIZE], bool server,
		     uint64_t tx_seq, uint64_t rx_seq,
		     union oktls_crypto_info *tx, union oktls_crypto_info *rx)
{
	/* AEAD suites have no MAC keys: client key, server key, client IV, server IV. */
	size_t klen = c->key_len, ilen = c->fixed_iv_len;
	uint8_t block[2 * 32 + 2 * 12], seed[2 * OKTLS_RANDOM_SIZE];
	const uint8_t *ck, *sk, *civ, *siv;
	bool expl = c->salt_len != 0;
	int ret = -1;

	memcpy(seed, server_random, OKTLS_RANDOM_SIZE);
	memcpy(seed + OKTLS_RANDOM_SIZE, client_random, OKTLS_RANDOM_SIZE);
	if (oktls_keys_prf(md, master, master_len, "key expansion", seed,
			   sizeof(seed), block, 2 * klen + 2 * ilen))
		goto cleanup;
	ck = block;
	sk = block + klen;
	civ = block + 2 * klen;
	siv = civ + ilen;
	fill(c, TLS_1_2_VERSION, server ? sk : ck, server ? siv : civ, ilen,
	     tx_seq, expl, tx);
	fill(c, TLS_1_2_VERSION, server ? ck : sk, server ? civ : siv, ilen,
	     rx_seq, expl, rx);
	ret = 0;
cleanup:
	OPENSSL_cleanse(block, sizeof(block));
	return ret;
}
