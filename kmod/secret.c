// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 traffic secrets held by the kernel (OKTLS_TX_SECRET and
 * OKTLS_RX_SECRET), so that a KeyUpdate needs no round trip to userspace:
 * the next generation's secret, key and IV come from HKDF-Expand-Label
 * (RFC 8446 7.1, 7.2, 7.3) with the kernel's HMAC of the suite's hash.
 */
#include <crypto/hash.h>
#include <linux/err.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "oktls.h"

/* The longest HkdfLabel built here: "tls13 traffic upd", empty context. */
#define HKDF_LABEL_MAX	32

/*
 * HKDF-Expand (RFC 5869 2.3) of the HkdfLabel for @label, keyed with the
 * secret; @len is at most two hash blocks, all TLS 1.3 ever asks for.
 */
static int expand_label(struct oktls_secret *s, const u8 *secret,
			const char *label, u8 *out, unsigned int len)
{
	SHASH_DESC_ON_STACK(desc, s->hmac);
	unsigned int hash = s->cipher->hash_size, done = 0, n, info_len;
	u8 info[HKDF_LABEL_MAX], block[OKTLS_MAX_SECRET_SIZE], ctr = 0;
	int err;

	info_len = oktls_hkdf_label(info, sizeof(info), label, len);
	if (!info_len || len > 2 * hash)
		return -EINVAL;
	err = crypto_shash_setkey(s->hmac, secret, hash);
	if (err)
		return err;
	desc->tfm = s->hmac;
	while (done < len) {
		ctr++;
		err = crypto_shash_init(desc);
		if (!err && done)
			err = crypto_shash_update(desc, block, hash);
		if (!err)
			err = crypto_shash_update(desc, info, info_len);
		if (!err)
			err = crypto_shash_finup(desc, &ctr, 1, block);
		if (err)
			break;
		n = min(len - done, hash);
		memcpy(out + done, block, n);
		done += n;
	}
	shash_desc_zero(desc);
	memzero_explicit(block, sizeof(block));
	return err;
}

/**
 * oktls_secret_create() - hold a traffic secret for in-kernel key updates
 * @cipher: the connection's cipher (its row names the suite's hash)
 * @secret: the current traffic secret, cipher->hash_size bytes
 *
 * Return: the secret, or ERR_PTR: -EINVAL for a cipher without a TLS 1.3
 * suite, -ENOENT when the kernel lacks the hash, -ENOMEM.
 */
struct oktls_secret *oktls_secret_create(const struct oktls_cipher *cipher,
					 const u8 *secret)
{
	struct oktls_secret *s;
	int err;

	if (!cipher->hmac)
		return ERR_PTR(-EINVAL);
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return ERR_PTR(-ENOMEM);
	s->cipher = cipher;
	memcpy(s->secret, secret, cipher->hash_size);
	s->hmac = crypto_alloc_shash(cipher->hmac, 0, 0);
	if (IS_ERR(s->hmac)) {
		err = PTR_ERR(s->hmac);
		kfree_sensitive(s);
		return ERR_PTR(err);
	}
	return s;
}

/**
 * oktls_secret_destroy() - wipe and free a held secret
 * @s: the secret, or NULL
 */
void oktls_secret_destroy(struct oktls_secret *s)
{
	if (!s)
		return;
	crypto_free_shash(s->hmac);
	kfree_sensitive(s);
}

/*
 * The key generation of @secret: "key" and "iv" expanded into a uapi
 * crypto info, handed to the common constructor, then wiped.
 */
static struct oktls_keys *keys_of(struct oktls_secret *s, const u8 *secret,
				  u64 seq)
{
	const struct oktls_cipher *c = s->cipher;
	u8 raw[OKTLS_MAX_INFO_SIZE] = {};
	struct tls_crypto_info *info = (struct tls_crypto_info *)raw;
	u8 iv[OKTLS_NONCE_SIZE];
	struct oktls_keys *keys;
	int err;

	info->version = TLS_1_3_VERSION;
	info->cipher_type = c->type;
	err = expand_label(s, secret, "key", raw + c->key_off, c->key_size);
	if (!err)
		err = expand_label(s, secret, "iv", iv, sizeof(iv));
	if (err) {
		keys = ERR_PTR(err);
		goto out_wipe;
	}
	/* The uapi splits the 12-byte IV into salt || iv. */
	memcpy(raw + c->salt_off, iv, c->salt_size);
	memcpy(raw + c->iv_off, iv + c->salt_size, c->iv_size);
	oktls_put_be64(raw + c->rec_seq_off, seq);
	keys = oktls_keys_create(info, c, GFP_KERNEL);
out_wipe:
	memzero_explicit(raw, sizeof(raw));
	memzero_explicit(iv, sizeof(iv));
	return keys;
}

/**
 * oktls_secret_keys() - the keys of the secret as it is now
 * @s: the secret
 * @seq: sequence number of the next record
 *
 * Return: the key generation, or ERR_PTR as oktls_keys_create().
 */
struct oktls_keys *oktls_secret_keys(struct oktls_secret *s, u64 seq)
{
	return keys_of(s, s->secret, seq);
}

/**
 * oktls_secret_next() - prepare the next generation (a KeyUpdate)
 * @s: the secret; its next value is kept aside until committed
 *
 * The next secret is "traffic upd" expanded from this one. Nothing is
 * replaced yet: oktls_secret_commit() does that once the caller has
 * switched to the returned keys, oktls_secret_abort() forgets it.
 *
 * Return: the next generation's keys (sequence numbers restart at 0), or
 * ERR_PTR.
 */
struct oktls_keys *oktls_secret_next(struct oktls_secret *s)
{
	unsigned int len = s->cipher->hash_size;
	struct oktls_keys *keys;
	int err;

	err = expand_label(s, s->secret, "traffic upd", s->next, len);
	keys = err ? ERR_PTR(err) : keys_of(s, s->next, 0);
	if (IS_ERR(keys))
		oktls_secret_abort(s);
	return keys;
}

/**
 * oktls_secret_commit() - the next secret becomes current; the old is wiped
 * @s: the secret, after a successful oktls_secret_next()
 */
void oktls_secret_commit(struct oktls_secret *s)
{
	memcpy(s->secret, s->next, sizeof(s->secret));
	memzero_explicit(s->next, sizeof(s->next));
}

/**
 * oktls_secret_abort() - forget a prepared next secret
 * @s: the secret
 */
void oktls_secret_abort(struct oktls_secret *s)
{
	memzero_explicit(s->next, sizeof(s->next));
}
