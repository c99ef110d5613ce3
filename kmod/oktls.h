/* SPDX-License-Identifier: GPL-2.0 */
/*
 * oktls private header: per-socket state and the prototypes each file
 * offers the others, grouped by file.
 */
#ifndef _OKTLS_H
#define _OKTLS_H

#include <linux/types.h>
#include <linux/sockptr.h>
#include <net/inet_connection_sock.h>
#include <net/sock.h>

/* How one direction of a socket is configured: plain TCP, or oktls records. */
enum oktls_conf {
	OKTLS_CONF_BASE,
	OKTLS_CONF_SW,
	OKTLS_CONF_NUM,
};

/**
 * struct oktls_ctx - per-socket oktls state, reached from icsk_ulp_data
 * @sk_proto: the socket's proto before oktls attached (tcp_prot or
 *	tcpv6_prot); every operation oktls does not own is passed to it
 * @tx_conf: transmit configuration, an enum oktls_conf
 * @rx_conf: receive configuration, an enum oktls_conf
 * @rcu: frees the context after readers of icsk_ulp_data are done
 */
struct oktls_ctx {
	struct proto *sk_proto;
	u8 tx_conf;
	u8 rx_conf;
	struct rcu_head rcu;
};

static inline struct oktls_ctx *oktls_ctx(const struct sock *sk)
{
	/* Only the socket's owner (socket lock held) reads it this way. */
	return (__force struct oktls_ctx *)inet_csk(sk)->icsk_ulp_data;
}

/* ulp.c */
int oktls_ulp_register(void);
void oktls_ulp_unregister(void);
void oktls_ulp_update_prot(struct sock *sk, struct oktls_ctx *ctx);

/* sockopt.c */
int oktls_sockopt_set(struct sock *sk, int optname, sockptr_t optval,
		      unsigned int optlen);
int oktls_sockopt_get(struct sock *sk, int optname, char __user *optval,
		      int __user *optlen);

#endif /* _OKTLS_H */
