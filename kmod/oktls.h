/* SPDX-License-Identifier: GPL-2.0 */
/*
 * oktls private header: per-socket state and the prototypes each file
 * offers the others, grouped by file.
 */
#ifndef _OKTLS_H
#define _OKTLS_H

#include <linux/bvec.h>
#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/sockptr.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <net/inet_connection_sock.h>
#include <net/sock.h>

#include "cipher.h"

/* How one direction of a socket is configured: plain TCP, or oktls records. */
enum oktls_conf {
	OKTLS_CONF_BASE,
	OKTLS_CONF_SW,
	OKTLS_CONF_NUM,
};

/*
 * A record is a few page pieces: the prefix (header and explicit nonce),
 * the plaintext (encrypted in place), the trailer (TLS 1.3 inner type and
 * the tag). Plaintext pieces come from the socket's page frag and merge
 * when contiguous, so a full record needs only a handful; the bound keeps
 * the per-socket arrays fixed.
 */
#define OKTLS_REC_MAX_FRAGS	20

/**
 * struct oktls_rec - one record being filled or sent
 * @frags: [0] prefix, then plaintext pieces, then (once sealed) trailer
 * @nr_frags: entries used in @frags
 * @plain_len: plaintext bytes
 * @wire_len: bytes on the wire, once sealed
 * @charged: plaintext bytes charged to the socket's send memory
 * @type: content type the application chose
 */
struct oktls_rec {
	struct bio_vec frags[OKTLS_REC_MAX_FRAGS];
	u8 nr_frags;
	u16 plain_len;
	u32 wire_len;
	u32 charged;
	u8 type;
};

/**
 * struct oktls_tx - transmit state, present once TLS_TX is set
 * @keys: the current key generation
 * @open: plaintext gathered for the next record (MSG_MORE), if any
 * @sealed: an encrypted record TCP has not yet taken whole, if any
 * @sealed_off: bytes of @sealed TCP has taken
 * @err: sticky error: once set the record stream cannot continue
 * @sg: scatterlist for the AEAD: additional data, then the record body
 * @aad: additional data of the record being sealed
 * @aead_iv: crypto API IV of the record being sealed
 */
struct oktls_tx {
	struct oktls_keys *keys;
	struct oktls_rec open;
	struct oktls_rec sealed;
	u32 sealed_off;
	int err;
	struct scatterlist sg[OKTLS_REC_MAX_FRAGS + 1];
	u8 aad[OKTLS_MAX_AAD_SIZE];
	u8 aead_iv[OKTLS_AEAD_IV_SIZE];
};

/**
 * struct oktls_ctx - per-socket oktls state, reached from icsk_ulp_data
 * @sk_proto: the socket's proto before oktls attached (tcp_prot or
 *	tcpv6_prot); every operation oktls does not own is passed to it
 * @sk: the socket
 * @tx: transmit state, NULL until TLS_TX
 * @tx_lock: serialises whole sendmsg calls, so that records of concurrent
 *	senders never interleave; taken before the socket lock
 * @tx_work: pushes a sealed record when TCP frees send space
 * @tx_pending: @tx holds a sealed record TCP has not taken whole
 * @tx_zerocopy_ro: TLS_TX_ZEROCOPY_RO as set by the application
 * @saved_write_space: TCP's sk_write_space, restored on close
 * @tx_conf: transmit configuration, an enum oktls_conf
 * @rx_conf: receive configuration, an enum oktls_conf
 * @rcu: frees the context after softirq readers are done
 */
struct oktls_ctx {
	struct proto *sk_proto;
	struct sock *sk;
	struct oktls_tx *tx;
	struct mutex tx_lock; /* senders, then the socket lock */
	struct work_struct tx_work;
	bool tx_pending;
	bool tx_zerocopy_ro;
	void (*saved_write_space)(struct sock *sk);
	u8 tx_conf;
	u8 rx_conf;
	struct rcu_head rcu;
};

static inline struct oktls_ctx *oktls_ctx(const struct sock *sk)
{
	/* Owners (socket lock held) and RCU readers use it this way. */
	return (__force struct oktls_ctx *)inet_csk(sk)->icsk_ulp_data;
}

/* The version both directions must share, 0 while neither is set. */
static inline u16 oktls_ctx_version(const struct oktls_ctx *ctx)
{
	return ctx->tx ? ctx->tx->keys->version : 0;
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

/* tx.c */
int oktls_tx_init(struct sock *sk, struct oktls_ctx *ctx,
		  struct oktls_keys *keys);
void oktls_tx_stop(struct sock *sk, struct oktls_ctx *ctx);
bool oktls_tx_release(struct sock *sk, struct oktls_ctx *ctx);
int oktls_tx_sendmsg(struct sock *sk, struct msghdr *msg, size_t size);
void oktls_tx_splice_eof(struct socket *sock);
void oktls_tx_build_proto(struct proto *p);

#endif /* _OKTLS_H */
