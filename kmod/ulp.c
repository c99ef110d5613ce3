// SPDX-License-Identifier: GPL-2.0
/*
 * The TCP upper-layer protocol: attach oktls to an established socket and
 * pick the socket's proto by (family, TX configuration, RX configuration).
 *
 * oktls owns a socket by swapping sk->sk_prot for a copy of the TCP proto
 * whose entry points it overrides; everything it does not override stays
 * TCP's own. Close restores the original proto before TCP closes.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/inet_common.h>
#include <net/tcp.h>

#include "oktls.h"

enum {
	OKTLS_IPV4,
	OKTLS_IPV6,
	OKTLS_NUM_FAMILIES,
};

static struct proto protos[OKTLS_NUM_FAMILIES][OKTLS_CONF_NUM][OKTLS_CONF_NUM];
/*
 * The socket layer too, by whether oktls transmits, then receives: poll
 * readiness is per record, and shutdown's FIN must follow whole records.
 */
static struct proto_ops sock_ops[OKTLS_NUM_FAMILIES][2][2];

/*
 * tcpv6_prot is not exported and its module may load after ours, so the
 * IPv6 protos are built from the first IPv6 socket that attaches.
 */
static const struct proto *saved_tcpv6_prot;
static DEFINE_MUTEX(tcpv6_prot_mutex);

static int oktls_setsockopt(struct sock *sk, int level, int optname,
			    sockptr_t optval, unsigned int optlen)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);

	if (level != SOL_TLS)
		return ctx->sk_proto->setsockopt(sk, level, optname, optval,
						 optlen);
	return oktls_sockopt_set(sk, optname, optval, optlen);
}

static int oktls_getsockopt(struct sock *sk, int level, int optname,
			    char __user *optval, int __user *optlen)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);

	if (level != SOL_TLS)
		return ctx->sk_proto->getsockopt(sk, level, optname, optval,
						 optlen);
	return oktls_sockopt_get(sk, optname, optval, optlen);
}

/*
 * Stop deferred work before close. TCP calls the hooked callbacks with the
 * socket owned or from softirq under the callback lock, so once its own
 * are back under both, no new work is queued; the queued work is then
 * cancelled without the socket lock it takes.
 */
static void oktls_unhook(struct sock *sk, struct oktls_ctx *ctx)
{
	lock_sock(sk);
	write_lock_bh(&sk->sk_callback_lock);
	if (ctx->tx)
		sk->sk_write_space = ctx->saved_write_space;
	if (ctx->rx)
		sk->sk_data_ready = ctx->saved_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
	release_sock(sk);
	if (ctx->tx)
		cancel_work_sync(&ctx->tx_work);
	if (ctx->rx)
		cancel_work_sync(&ctx->rx->alloc_work);
}

static void oktls_close(struct sock *sk, long timeout)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);
	struct proto *base = ctx->sk_proto;
	bool flushed;

	oktls_unhook(sk, ctx);

	lock_sock(sk);
	flushed = oktls_tx_release(sk, ctx);
	oktls_rx_release(sk, ctx);
	/*
	 * Softirq readers of icsk_ulp_data (write_space) use RCU; the
	 * context is freed after a grace period.
	 */
	write_lock_bh(&sk->sk_callback_lock);
	rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, NULL);
	WRITE_ONCE(sk->sk_prot, base);
	if (sk->sk_socket)
		WRITE_ONCE(sk->sk_socket->ops, ctx->sk_ops);
	write_unlock_bh(&sk->sk_callback_lock);
	if (!flushed) {
		/* Reset rather than let the peer see a silently cut stream. */
		sock_set_flag(sk, SOCK_LINGER);
		WRITE_ONCE(sk->sk_lingertime, 0);
		timeout = 0;
	}
	release_sock(sk);

	kfree_rcu(ctx, rcu);
	base->close(sk, timeout);
}

static void build_protos(struct proto prot[OKTLS_CONF_NUM][OKTLS_CONF_NUM],
			 const struct proto *base)
{
	int tx, rx;

	for (tx = 0; tx < OKTLS_CONF_NUM; tx++) {
		for (rx = 0; rx < OKTLS_CONF_NUM; rx++) {
			struct proto *p = &prot[tx][rx];

			*p = *base;
			p->setsockopt = oktls_setsockopt;
			p->getsockopt = oktls_getsockopt;
			p->close = oktls_close;
			if (tx == OKTLS_CONF_SW)
				oktls_tx_build_proto(p);
			if (rx == OKTLS_CONF_SW)
				oktls_rx_build_proto(p);
		}
	}
}

static void build_ops(struct proto_ops ops[2][2], const struct proto_ops *base)
{
	int tx, rx;

	for (tx = 0; tx < 2; tx++) {
		for (rx = 0; rx < 2; rx++) {
			struct proto_ops *o = &ops[tx][rx];

			*o = *base;
			if (tx)
				o->shutdown = oktls_tx_shutdown;
			if (rx) {
				o->poll = oktls_rx_poll;
				o->splice_read = oktls_rx_splice_read;
				o->read_sock = NULL;
			}
		}
	}
}

static int family_index(const struct sock *sk)
{
	return sk->sk_family == AF_INET6 ? OKTLS_IPV6 : OKTLS_IPV4;
}

static void ensure_tcpv6_protos(const struct proto *prot,
				const struct proto_ops *ops)
{
	/* Pairs with the release below: protos are built once seen. */
	if (likely(prot == smp_load_acquire(&saved_tcpv6_prot)))
		return;

	mutex_lock(&tcpv6_prot_mutex);
	if (prot != saved_tcpv6_prot) {
		build_protos(protos[OKTLS_IPV6], prot);
		build_ops(sock_ops[OKTLS_IPV6], ops);
		/* Publish the pointer only after the protos it guards. */
		smp_store_release(&saved_tcpv6_prot, prot);
	}
	mutex_unlock(&tcpv6_prot_mutex);
}

/**
 * oktls_ulp_update_prot() - point the socket at the proto for its config
 * @sk: the socket, locked
 * @ctx: its oktls context
 */
void oktls_ulp_update_prot(struct sock *sk, struct oktls_ctx *ctx)
{
	bool tx = ctx->tx_conf == OKTLS_CONF_SW;
	bool rx = ctx->rx_conf == OKTLS_CONF_SW;
	int fam = family_index(sk);

	WRITE_ONCE(sk->sk_prot, &protos[fam][ctx->tx_conf][ctx->rx_conf]);
	if (sk->sk_socket)
		WRITE_ONCE(sk->sk_socket->ops,
			   tx || rx ? &sock_ops[fam][tx][rx] : ctx->sk_ops);
}

/* Called by the TCP core with the socket locked, in process context. */
static int oktls_ulp_init(struct sock *sk)
{
	struct oktls_ctx *ctx;

	/*
	 * Listening sockets never get here (no clone op); like the stock
	 * module, only an established connection can carry records.
	 */
	if (sk->sk_state != TCP_ESTABLISHED)
		return -ENOTCONN;

	/* Sockets without a file (in-kernel users) are not supported. */
	if (!sk->sk_socket)
		return -EINVAL;
	if (sk->sk_family == AF_INET6)
		ensure_tcpv6_protos(sk->sk_prot, sk->sk_socket->ops);

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;

	ctx->sk_proto = READ_ONCE(sk->sk_prot);
	ctx->sk = sk;
	ctx->sk_ops = READ_ONCE(sk->sk_socket->ops);
	mutex_init(&ctx->tx_lock);
	ctx->tx_conf = OKTLS_CONF_BASE;
	ctx->rx_conf = OKTLS_CONF_BASE;
	ctx->stats.tx_gen = U32_MAX;
	ctx->stats.rx_gen = U32_MAX;

	write_lock_bh(&sk->sk_callback_lock);
	rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, ctx);
	oktls_ulp_update_prot(sk, ctx);
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

static char *ulp_name = "oktls";
module_param(ulp_name, charp, 0444);
MODULE_PARM_DESC(ulp_name,
		 "TCP ULP name to register: oktls (default), or tls to stand in for the stock module");

static struct tcp_ulp_ops oktls_ulp_ops __read_mostly = {
	.owner		= THIS_MODULE,
	.init		= oktls_ulp_init,
	.get_info	= oktls_diag_get_info,
	.get_info_size	= oktls_diag_get_info_size,
};

/**
 * oktls_ulp_register() - build the IPv4 protos and register the ULP
 *
 * Return: 0, or a negative errno from the TCP core.
 */
int oktls_ulp_register(void)
{
	int err;

	if (strcmp(ulp_name, "oktls") && strcmp(ulp_name, "tls")) {
		pr_err("ulp_name=%s: must be oktls or tls\n", ulp_name);
		return -EINVAL;
	}
	strscpy(oktls_ulp_ops.name, ulp_name, sizeof(oktls_ulp_ops.name));
	build_protos(protos[OKTLS_IPV4], &tcp_prot);
	build_ops(sock_ops[OKTLS_IPV4], &inet_stream_ops);
	err = tcp_register_ulp(&oktls_ulp_ops);
	if (err == -EEXIST)
		pr_err("TCP ULP name \"%s\" is already registered%s\n", ulp_name,
		       strcmp(ulp_name, "tls") ? "" :
		       " (unload the stock tls module first: rmmod tls)");
	return err;
}

/**
 * oktls_ulp_unregister() - undo oktls_ulp_register()
 *
 * Sockets hold a module reference while attached, so none remain.
 */
void oktls_ulp_unregister(void)
{
	tcp_unregister_ulp(&oktls_ulp_ops);
	/* kfree_rcu() callbacks of closed sockets must run before unload. */
	rcu_barrier();
}
