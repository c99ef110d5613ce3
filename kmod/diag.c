// SPDX-License-Identifier: GPL-2.0
/*
 * sock_diag: what `ss -ti` shows for an oktls socket. The upstream
 * INET_ULP_INFO_TLS attributes (version, cipher, configuration) so that
 * `ss` decodes them as for the stock module, and oktls's own per-socket
 * counters in an INET_ULP_INFO_OKTLS nest (userspace/tools/oktls-ss).
 *
 * Called under RCU without the socket lock: everything read here lives in
 * the context (freed after RCU), never in the transmit or receive state
 * that close frees at once.
 */
#include <linux/inet_diag.h>
#include <linux/tls.h>
#include <net/netlink.h>
#include <net/tcp.h>

#include "oktls.h"

static u16 conf_attr(u8 conf)
{
	return conf == OKTLS_CONF_SW ? TLS_CONF_SW : TLS_CONF_BASE;
}

static int put_tls_info(struct sk_buff *skb, const struct oktls_ctx *ctx)
{
	struct nlattr *nest;
	u16 version = READ_ONCE(ctx->info_version);
	u16 cipher = READ_ONCE(ctx->info_cipher);

	nest = nla_nest_start_noflag(skb, INET_ULP_INFO_TLS);
	if (!nest)
		return -EMSGSIZE;
	if ((version && (nla_put_u16(skb, TLS_INFO_VERSION, version) ||
			 nla_put_u16(skb, TLS_INFO_CIPHER, cipher))) ||
	    nla_put_u16(skb, TLS_INFO_TXCONF, conf_attr(READ_ONCE(ctx->tx_conf))) ||
	    nla_put_u16(skb, TLS_INFO_RXCONF, conf_attr(READ_ONCE(ctx->rx_conf))) ||
	    (READ_ONCE(ctx->tx_zerocopy_ro) && nla_put_flag(skb, TLS_INFO_ZC_RO_TX)) ||
	    (READ_ONCE(ctx->rx_no_pad) && nla_put_flag(skb, TLS_INFO_RX_NO_PAD))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int put_oktls_info(struct sk_buff *skb, const struct oktls_ctx *ctx)
{
	struct oktls_sock_stats st;
	struct nlattr *nest;

	oktls_stats_read(ctx, &st);
	nest = nla_nest_start_noflag(skb, INET_ULP_INFO_OKTLS);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put(skb, OKTLS_INFO_STATS, sizeof(st), &st)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/**
 * oktls_diag_get_info() - tcp_ulp_ops->get_info
 * @sk: the socket
 * @skb: the diag reply, inside its INET_DIAG_ULP_INFO nest
 *
 * Return: 0 or -EMSGSIZE.
 */
int oktls_diag_get_info(struct sock *sk, struct sk_buff *skb)
{
	struct oktls_ctx *ctx;
	int err = 0;

	rcu_read_lock();
	ctx = rcu_dereference(inet_csk(sk)->icsk_ulp_data);
	if (ctx) {
		err = put_tls_info(skb, ctx);
		if (!err)
			err = put_oktls_info(skb, ctx);
	}
	rcu_read_unlock();
	return err;
}

/**
 * oktls_diag_get_info_size() - tcp_ulp_ops->get_info_size
 * @sk: the socket
 *
 * Return: the most oktls_diag_get_info() adds.
 */
size_t oktls_diag_get_info_size(const struct sock *sk)
{
	return nla_total_size(0) +			/* INET_ULP_INFO_TLS */
	       2 * nla_total_size(sizeof(u16)) +	/* VERSION, CIPHER */
	       2 * nla_total_size(sizeof(u16)) +	/* TXCONF, RXCONF */
	       2 * nla_total_size(0) +			/* ZC_RO_TX, RX_NO_PAD */
	       nla_total_size(0) +			/* INET_ULP_INFO_OKTLS */
	       nla_total_size(sizeof(struct oktls_sock_stats));
}
