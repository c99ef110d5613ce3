// SPDX-License-Identifier: GPL-2.0
/*
 * SOL_TLS socket options, with the upstream kTLS errno semantics.
 */
#include <linux/errno.h>
#include <linux/uaccess.h>
#include <linux/tls.h>

#include "oktls.h"

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
	return -ENOPROTOOPT;
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
	return -ENOPROTOOPT;
}
