// SPDX-License-Identifier: GPL-2.0
/*
 * SOL_TLS socket options, with the upstream kTLS errno semantics: input
 * validation, key install, and reading the state back.
 */
#include <linux/err.h>
#include <linux/errno.h>
#include <linux/module.h>
#include <linux/skmsg.h>
#include <linux/tls.h>
#include <linux/uaccess.h>

#include "oktls.h"

union oktls_crypto_info {
	struct tls_crypto_info info;
	u8 raw[OKTLS_MAX_INFO_SIZE];
};

static bool hide_keys;
module_param(hide_keys, bool, 0644);
MODULE_PARM_DESC(hide_keys,
		 "getsockopt(TLS_TX/TLS_RX) returns the crypto info with key, salt and iv zeroed");

/*
 * Check the version and cipher of new keys against the table and against
 * the keys they must match: the same direction's current keys (a TLS 1.3
 * key update), else the other direction's.
 */
static int validate_info(const struct tls_crypto_info *info,
			 const struct oktls_cipher *cipher, u16 other_version,
			 u16 other_cipher)
{
	if (info->version != TLS_1_2_VERSION &&
	    info->version != TLS_1_3_VERSION)
		return -EINVAL;
	if (!cipher)
		return -EINVAL;
	if (cipher->tls12_only && info->version != TLS_1_2_VERSION)
		return -EINVAL;
	if (other_version && (other_version != info->version ||
			      other_cipher != info->cipher_type))
		return -EINVAL;
	return 0;
}

/*
 * Whether new keys may be set now: a socket in a sockmap has its own
 * proto, oktls cannot stack on it; keys are replaced only as a TLS 1.3
 * KeyUpdate does, as upstream.
 */
static int may_set_keys(struct sock *sk, struct oktls_ctx *ctx, bool tx)
{
	struct oktls_keys *cur = oktls_ctx_keys(ctx, tx);
	bool psock;

	rcu_read_lock();
	psock = !!sk_psock(sk);
	rcu_read_unlock();
	if (psock)
		return -EINVAL;
	if (cur && cur->version != TLS_1_3_VERSION)
		return -EBUSY;
	return 0;
}

/* Check @info's version and cipher against the keys they must match. */
static int check_info(struct oktls_ctx *ctx, const struct tls_crypto_info *info,
		      const struct oktls_cipher *cipher, bool tx)
{
	struct oktls_keys *ref = oktls_ctx_keys(ctx, tx);

	if (!ref)
		ref = oktls_ctx_keys(ctx, !tx);
	return validate_info(info, cipher, ref ? ref->version : 0,
			     ref ? ref->cipher->type : 0);
}

/*
 * Start a direction with @keys, or replace its keys (a key update); the
 * socket owns @keys on success.
 */
static int install_keys(struct sock *sk, struct oktls_ctx *ctx,
			struct oktls_keys *keys, bool tx)
{
	bool update = oktls_ctx_keys(ctx, tx);
	int err = 0;

	if (update && tx)
		err = oktls_tx_rekey(sk, ctx, keys);
	else if (update)
		oktls_rx_rekey(sk, ctx, keys);
	else
		err = tx ? oktls_tx_init(sk, ctx, keys) :
			   oktls_rx_init(sk, ctx, keys);
	if (err)
		return err;
	if (update)
		oktls_stats_inc(sk, tx ? OKTLS_MIB_TX_REKEY_OK :
					 OKTLS_MIB_RX_REKEY_OK);
	WRITE_ONCE(ctx->info_version, keys->version);
	WRITE_ONCE(ctx->info_cipher, keys->cipher->type);
	return 0;
}

/* TLS_TX, TLS_RX. Socket locked (and for TX, tx_lock held). */
static int set_crypto_info(struct sock *sk, struct oktls_ctx *ctx,
			   sockptr_t optval, unsigned int optlen, bool tx)
{
	const struct oktls_cipher *cipher;
	union oktls_crypto_info ci;
	struct oktls_keys *keys;
	int err;

	if (sockptr_is_null(optval) || optlen < sizeof(ci.info))
		return -EINVAL;
	err = may_set_keys(sk, ctx, tx);
	if (err)
		return err;
	if (copy_from_sockptr(&ci.info, optval, sizeof(ci.info)))
		return -EFAULT;
	cipher = oktls_cipher_find(ci.info.cipher_type);
	err = check_info(ctx, &ci.info, cipher, tx);
	if (err)
		return err;
	if (optlen != cipher->info_size)
		return -EINVAL;

	if (copy_from_sockptr(&ci, optval, cipher->info_size)) {
		err = -EFAULT;
		goto out_wipe;
	}
	keys = oktls_keys_create(&ci.info, cipher, GFP_KERNEL);
	if (IS_ERR(keys)) {
		err = PTR_ERR(keys);
		goto out_wipe;
	}
	err = install_keys(sk, ctx, keys, tx);
	if (err) {
		oktls_keys_destroy(keys);
		goto out_wipe;
	}
	/* Bare keys: key updates are the application's again. */
	if (tx)
		oktls_tx_set_secret(ctx, NULL);
	else
		oktls_rx_set_secret(ctx, NULL);
out_wipe:
	memzero_explicit(&ci, sizeof(ci));
	return err;
}

/* OKTLS_TX_SECRET, OKTLS_RX_SECRET: as TLS_TX/TLS_RX, from the secret. */
static int set_secret(struct sock *sk, struct oktls_ctx *ctx,
		      sockptr_t optval, unsigned int optlen, bool tx)
{
	const struct oktls_cipher *cipher;
	struct oktls_secret_info si;
	struct tls_crypto_info info;
	struct oktls_secret *secret;
	struct oktls_keys *keys;
	int err;

	if (sockptr_is_null(optval) || optlen != sizeof(si))
		return -EINVAL;
	err = may_set_keys(sk, ctx, tx);
	if (err)
		return err;
	if (copy_from_sockptr(&si, optval, sizeof(si))) {
		err = -EFAULT;
		goto out_wipe;
	}
	info.version = si.version;
	info.cipher_type = si.cipher_type;
	cipher = oktls_cipher_find(si.cipher_type);
	err = check_info(ctx, &info, cipher, tx);
	if (!err && (si.version != TLS_1_3_VERSION || si.reserved ||
		     si.secret_len != cipher->hash_size))
		err = -EINVAL;
	if (err)
		goto out_wipe;

	secret = oktls_secret_create(cipher, si.secret);
	if (IS_ERR(secret)) {
		err = PTR_ERR(secret);
		goto out_wipe;
	}
	keys = oktls_secret_keys(secret, oktls_get_be64(si.rec_seq));
	if (IS_ERR(keys)) {
		err = PTR_ERR(keys);
		goto err_secret;
	}
	err = install_keys(sk, ctx, keys, tx);
	if (err) {
		oktls_keys_destroy(keys);
		goto err_secret;
	}
	if (tx)
		oktls_tx_set_secret(ctx, secret);
	else
		oktls_rx_set_secret(ctx, secret);
	goto out_wipe;

err_secret:
	oktls_secret_destroy(secret);
out_wipe:
	memzero_explicit(&si, sizeof(si));
	return err;
}

static int set_rekey_records(struct oktls_ctx *ctx, sockptr_t optval,
			     unsigned int optlen)
{
	u64 val;

	if (sockptr_is_null(optval) || optlen != sizeof(val))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	return oktls_tx_set_rekey_records(ctx, val);
}

/* The version keys were set for, in either direction, or 0. */
static u16 ctx_version(const struct oktls_ctx *ctx)
{
	struct oktls_keys *keys = oktls_ctx_keys(ctx, true);

	if (!keys)
		keys = oktls_ctx_keys(ctx, false);
	return keys ? keys->version : 0;
}

/* Only meaningful for TLS 1.3 receive, as upstream. */
static int set_rx_no_pad(struct oktls_ctx *ctx, sockptr_t optval,
			 unsigned int optlen)
{
	u32 val;
	int err;

	if (ctx_version(ctx) != TLS_1_3_VERSION || sockptr_is_null(optval) ||
	    optlen < sizeof(val))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	if (val > 1)
		return -EINVAL;
	err = check_zeroed_sockptr(optval, sizeof(val), optlen - sizeof(val));
	if (err < 1)
		return err ? err : -EINVAL;
	if (!ctx->rx)
		return -EINVAL;
	/* Padded records still open correctly: it is only a hint. */
	WRITE_ONCE(ctx->rx_no_pad, val);
	return 0;
}

/* An int, 0 or 1, as the other boolean options. */
static int get_bool_opt(sockptr_t optval, unsigned int optlen, bool *val)
{
	int v;

	if (sockptr_is_null(optval) || optlen < sizeof(v))
		return -EINVAL;
	if (copy_from_sockptr(&v, optval, sizeof(v)))
		return -EFAULT;
	if (v != 0 && v != 1)
		return -EINVAL;
	*val = v;
	return 0;
}

static int set_close_notify(struct oktls_ctx *ctx, sockptr_t optval,
			    unsigned int optlen)
{
	bool val;
	int err = get_bool_opt(optval, optlen, &val);

	if (!err)
		ctx->close_notify = val;
	return err;
}

static int set_tx_zerocopy(struct oktls_ctx *ctx, sockptr_t optval,
			   unsigned int optlen)
{
	unsigned int val;

	if (sockptr_is_null(optval) || optlen != sizeof(val))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	if (val > 1)
		return -EINVAL;
	/* Records are always sealed from a private copy, so RO is a hint. */
	ctx->tx_zerocopy_ro = val;
	return 0;
}

/**
 * oktls_sockopt_set() - setsockopt(SOL_TLS, ...)
 * @sk: the socket
 * @optname: TLS_TX, TLS_RX, ...
 * @optval: user buffer
 * @optlen: its length
 *
 * Return: 0 or a negative errno.
 */
int oktls_sockopt_set(struct sock *sk, int optname, sockptr_t optval,
		      unsigned int optlen)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);
	bool tx_opt = optname == TLS_TX || optname == OKTLS_TX_SECRET ||
		      optname == OKTLS_TX_REKEY_RECORDS;
	bool rekey;
	int err;

	/* Replacing TX keys must not cut into a sender's record. */
	if (tx_opt) {
		err = mutex_lock_interruptible(&ctx->tx_lock);
		if (err)
			return err;
	}
	lock_sock(sk);
	switch (optname) {
	case TLS_TX:
	case TLS_RX:
	case OKTLS_TX_SECRET:
	case OKTLS_RX_SECRET:
		rekey = !!oktls_ctx_keys(ctx, tx_opt);
		if (optname == TLS_TX || optname == TLS_RX)
			err = set_crypto_info(sk, ctx, optval, optlen, tx_opt);
		else
			err = set_secret(sk, ctx, optval, optlen, tx_opt);
		if (err && rekey)
			oktls_stats_inc(sk, tx_opt ? OKTLS_MIB_TX_REKEY_ERROR :
						     OKTLS_MIB_RX_REKEY_ERROR);
		break;
	case OKTLS_TX_REKEY_RECORDS:
		err = set_rekey_records(ctx, optval, optlen);
		break;
	case TLS_TX_ZEROCOPY_RO:
		err = set_tx_zerocopy(ctx, optval, optlen);
		break;
	case TLS_RX_EXPECT_NO_PAD:
		err = set_rx_no_pad(ctx, optval, optlen);
		break;
	case OKTLS_CLOSE_NOTIFY:
		err = set_close_notify(ctx, optval, optlen);
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	release_sock(sk);
	if (tx_opt)
		mutex_unlock(&ctx->tx_lock);
	return err;
}

/* Socket locked. */
static int get_crypto_info(struct oktls_ctx *ctx, char __user *optval,
			   int __user *optlen, bool tx)
{
	union oktls_crypto_info ci;
	struct oktls_keys *keys;
	int len, err = 0;

	if (get_user(len, optlen))
		return -EFAULT;
	if (!optval || len < (int)sizeof(ci.info))
		return -EINVAL;
	keys = oktls_ctx_keys(ctx, tx);
	if (!keys)
		return -EBUSY;

	oktls_keys_export(keys, &ci);
	if (READ_ONCE(hide_keys)) {
		const struct oktls_cipher *c = keys->cipher;

		memset(ci.raw + c->key_off, 0, c->key_size);
		memset(ci.raw + c->salt_off, 0, c->salt_size);
		memset(ci.raw + c->iv_off, 0, c->iv_size);
	}
	if (len == sizeof(ci.info)) {
		if (copy_to_user(optval, &ci.info, sizeof(ci.info)))
			err = -EFAULT;
		goto out_wipe;
	}
	if (len != keys->cipher->info_size) {
		err = -EINVAL;
		goto out_wipe;
	}
	if (copy_to_user(optval, &ci, keys->cipher->info_size))
		err = -EFAULT;
out_wipe:
	memzero_explicit(&ci, sizeof(ci));
	return err;
}

static int get_tx_zerocopy(struct oktls_ctx *ctx, char __user *optval,
			   int __user *optlen)
{
	unsigned int val = ctx->tx_zerocopy_ro;
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len != sizeof(val))
		return -EINVAL;
	if (copy_to_user(optval, &val, sizeof(val)))
		return -EFAULT;
	return 0;
}

static int get_rx_no_pad(struct oktls_ctx *ctx, char __user *optval,
			 int __user *optlen)
{
	int val, len;

	if (ctx_version(ctx) != TLS_1_3_VERSION)
		return -EINVAL;
	if (get_user(len, optlen))
		return -EFAULT;
	if (len < (int)sizeof(val))
		return -EINVAL;
	if (!ctx->rx)
		return -EINVAL;
	val = ctx->rx_no_pad;
	if (put_user(sizeof(val), optlen))
		return -EFAULT;
	if (copy_to_user(optval, &val, sizeof(val)))
		return -EFAULT;
	return 0;
}

static int put_int_opt(int val, char __user *optval, int __user *optlen)
{
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < (int)sizeof(val))
		return -EINVAL;
	if (put_user(sizeof(val), optlen) ||
	    copy_to_user(optval, &val, sizeof(val)))
		return -EFAULT;
	return 0;
}

/* A shorter buffer gets the first fields: the struct only ever grows. */
static int get_sock_stats(struct oktls_ctx *ctx, char __user *optval,
			  int __user *optlen)
{
	struct oktls_sock_stats st;
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	len = min_t(int, len, sizeof(st));
	oktls_stats_read(ctx, &st);
	if (put_user(len, optlen) || copy_to_user(optval, &st, len))
		return -EFAULT;
	return 0;
}

/**
 * oktls_sockopt_get() - getsockopt(SOL_TLS, ...)
 * @sk: the socket
 * @optname: TLS_TX, TLS_RX, ...
 * @optval: user buffer
 * @optlen: in: its length; out: the length written
 *
 * Return: 0 or a negative errno.
 */
int oktls_sockopt_get(struct sock *sk, int optname, char __user *optval,
		      int __user *optlen)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);
	int err;

	lock_sock(sk);
	switch (optname) {
	case TLS_TX:
	case TLS_RX:
		err = get_crypto_info(ctx, optval, optlen, optname == TLS_TX);
		break;
	case TLS_TX_ZEROCOPY_RO:
		err = get_tx_zerocopy(ctx, optval, optlen);
		break;
	case TLS_RX_EXPECT_NO_PAD:
		err = get_rx_no_pad(ctx, optval, optlen);
		break;
	case OKTLS_CLOSE_NOTIFY:
		err = put_int_opt(ctx->close_notify, optval, optlen);
		break;
	case OKTLS_SOCK_STATS:
		err = get_sock_stats(ctx, optval, optlen);
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	release_sock(sk);
	return err;
}
