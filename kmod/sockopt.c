// SPDX-License-Identifier: GPL-2.0
/*
 * SOL_TLS socket options, with the upstream kTLS errno semantics: input
 * validation, key install, and reading the state back.
 */
#include <linux/err.h>
#include <linux/errno.h>
#include <linux/skmsg.h>
#include <linux/tls.h>
#include <linux/uaccess.h>

#include "oktls.h"

union oktls_crypto_info {
	struct tls_crypto_info info;
	u8 raw[OKTLS_MAX_INFO_SIZE];
};

/*
 * Check the version and cipher of a new direction against the table and
 * against the other direction, which must match.
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

/* Socket locked. */
static int set_crypto_info(struct sock *sk, struct oktls_ctx *ctx,
			   sockptr_t optval, unsigned int optlen, bool tx)
{
	struct oktls_keys *other = oktls_ctx_keys(ctx, !tx);
	const struct oktls_cipher *cipher;
	union oktls_crypto_info ci;
	struct oktls_keys *keys;
	bool psock;
	int err;

	/* A socket in a sockmap has its own proto; oktls cannot stack on it. */
	rcu_read_lock();
	psock = !!sk_psock(sk);
	rcu_read_unlock();
	if (psock)
		return -EINVAL;

	if (sockptr_is_null(optval) || optlen < sizeof(ci.info))
		return -EINVAL;
	if (oktls_ctx_keys(ctx, tx))
		return -EBUSY;

	if (copy_from_sockptr(&ci.info, optval, sizeof(ci.info)))
		return -EFAULT;
	cipher = oktls_cipher_find(ci.info.cipher_type);
	err = validate_info(&ci.info, cipher, other ? other->version : 0,
			    other ? other->cipher->type : 0);
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
	err = tx ? oktls_tx_init(sk, ctx, keys) : oktls_rx_init(sk, ctx, keys);
	if (err)
		oktls_keys_destroy(keys);
out_wipe:
	memzero_explicit(&ci, sizeof(ci));
	return err;
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
	ctx->rx->no_pad = val;
	return 0;
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
	int err;

	lock_sock(sk);
	switch (optname) {
	case TLS_TX:
	case TLS_RX:
		err = set_crypto_info(sk, ctx, optval, optlen,
				      optname == TLS_TX);
		break;
	case TLS_TX_ZEROCOPY_RO:
		err = set_tx_zerocopy(ctx, optval, optlen);
		break;
	case TLS_RX_EXPECT_NO_PAD:
		err = set_rx_no_pad(ctx, optval, optlen);
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	release_sock(sk);
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
	val = ctx->rx->no_pad;
	if (put_user(sizeof(val), optlen))
		return -EFAULT;
	if (copy_to_user(optval, &val, sizeof(val)))
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
	default:
		err = -ENOPROTOOPT;
		break;
	}
	release_sock(sk);
	return err;
}
