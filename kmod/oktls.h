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
#include "uapi/oktls.h"

struct pipe_inode_info;

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
 *
 * A record's lengths fit 16 bits (2^14 plaintext plus at most 256 of
 * overhead): two records in each struct oktls_tx, and 8 bytes saved in
 * each keep that struct in a 2 KiB slab instead of a 4 KiB one.
 */
struct oktls_rec {
	struct bio_vec frags[OKTLS_REC_MAX_FRAGS];
	u8 nr_frags;
	u8 type;
	u16 plain_len;
	u16 wire_len;
	u16 charged;
};

/**
 * struct oktls_secret - a direction's TLS 1.3 traffic secret (secret.c)
 * @cipher: the connection's cipher row
 * @hmac: HMAC of the suite's hash, for HKDF
 * @secret: application_traffic_secret_N
 * @next: application_traffic_secret_N+1 while a key update is under way
 */
struct oktls_secret {
	const struct oktls_cipher *cipher;
	struct crypto_shash *hmac;
	u8 secret[OKTLS_MAX_SECRET_SIZE];
	u8 next[OKTLS_MAX_SECRET_SIZE];
};

/**
 * struct oktls_tx - transmit state, present once TLS_TX is set
 * @keys: the current key generation
 * @secret: its traffic secret when the kernel updates keys itself, or NULL
 * @rekey_records: with @secret, send a KeyUpdate after this many records
 *	under one key (U64_MAX: never; 0: not chosen, the cipher's default)
 * @gen_records: records sealed under @keys
 * @open: plaintext gathered for the next record (MSG_MORE), if any
 * @sealed: an encrypted record TCP has not yet taken whole, if any
 * @sealed_off: bytes of @sealed TCP has taken
 * @err: sticky error: once set the record stream cannot continue
 * @sg: scatterlist for the AEAD: additional data, then the record body
 * @sg_src: AEAD source when sealing from the application's pages
 * @aad: additional data of the record being sealed
 * @aead_iv: crypto API IV of the record being sealed
 * @type_byte: TLS 1.3 inner content type, when sealing from user pages
 * @notified: the close_notify alert is sealed (OKTLS_CLOSE_NOTIFY)
 */
struct oktls_tx {
	struct oktls_keys *keys;
	struct oktls_secret *secret;
	u64 rekey_records;
	u64 gen_records;
	struct oktls_rec open;
	struct oktls_rec sealed;
	u32 sealed_off;
	int err;
	struct scatterlist sg[OKTLS_REC_MAX_FRAGS + 1];
	struct scatterlist sg_src[OKTLS_REC_MAX_FRAGS];
	u8 aad[OKTLS_MAX_AAD_SIZE];
	u8 aead_iv[OKTLS_AEAD_IV_SIZE];
	u8 type_byte;
	bool notified;
};

/* A record's header and explicit nonce: what the cipher needs first. */
#define OKTLS_MAX_PREFIX	(OKTLS_HEADER_SIZE + OKTLS_SEQ_SIZE)

/**
 * struct oktls_strp - the received record being framed
 * @buf: room for the largest record this direction accepts, allocated
 *	the first time a record has to be copied out of TCP
 * @size: bytes at @buf
 * @len: bytes of the record copied into @buf so far
 * @need: the whole record's length once its header is in, else 0
 * @in_tcp: the whole record is in TCP's receive queue, left there: the
 *	cipher reads it from TCP's buffers, with no copy
 * @seq: TCP's copied_seq where that record starts
 * @prefix: the whole record's header and explicit nonce
 */
struct oktls_strp {
	u8 *buf;
	u32 size;
	u32 len;
	u32 need;
	u32 seq;
	bool in_tcp;
	u8 prefix[OKTLS_MAX_PREFIX];
};

static inline bool oktls_strp_full(const struct oktls_strp *s)
{
	return s->in_tcp || (s->need && s->len == s->need);
}

/* Some bytes of an incomplete record are held. */
static inline bool oktls_strp_busy(const struct oktls_strp *s)
{
	return s->len && !oktls_strp_full(s);
}

/* The AAD plus a record body in a buffer that may be vmalloc'ed. */
#define OKTLS_RX_SG	(2 + DIV_ROUND_UP(OKTLS_HEADER_SIZE + OKTLS_MAX_PLAINTEXT + \
				       64, PAGE_SIZE) + 1)
/*
 * The AAD plus a record read from TCP's buffers: a 16 KiB record in
 * 1448-byte segments is about 24 pieces. More pieces than this, and the
 * record is copied out first.
 */
#define OKTLS_RX_SRC_SG	32

/**
 * struct oktls_rx - receive state, present once TLS_RX is set
 * @keys: the current key generation
 * @secret: its traffic secret when the kernel follows KeyUpdate, or NULL
 * @strp: the record being framed
 * @recs: opened records not yet read, oldest first
 * @queued: bytes held in @recs, charged to sk_rmem_alloc
 * @err: sticky error: the stream failed
 * @err_next: the error the next record gets (sequence space exhausted)
 * @ready: a whole record (or an error) can be returned now; read by poll
 * @key_expired: a TLS 1.3 KeyUpdate was opened: no record after it is
 *	opened until the next TLS_RX key is set (reads fail with EKEYEXPIRED)
 * @padded: the peer pads TLS 1.3 records: stop opening them straight into
 *	the reader's buffer on a guess
 * @tail: where a TLS 1.3 record opened into the reader's buffer puts its
 *	last byte, the inner type
 * @params: record math facts, the same for every key generation; the
 *	framing in softirq reads them here, never through @keys
 * @alloc_work: frames in process context what softirq could not (no memory)
 * @sk: the socket, for @alloc_work
 * @sg_src: AEAD source: additional data, ciphertext and tag
 * @sg_dst: AEAD destination: additional data, plaintext
 * @aad: additional data of the record being opened
 * @aead_iv: crypto API IV of the record being opened
 */
struct oktls_rx {
	struct oktls_keys *keys;
	struct oktls_secret *secret;
	struct oktls_strp strp;
	struct list_head recs;
	u32 queued;
	int err;
	int err_next;
	bool ready;
	bool key_expired;
	bool padded;
	u8 tail;
	struct oktls_rec_params params;
	struct work_struct alloc_work;
	struct sock *sk;
	struct scatterlist sg_src[OKTLS_RX_SRC_SG];
	struct scatterlist sg_dst[OKTLS_RX_SG];
	u8 aad[OKTLS_MAX_AAD_SIZE];
	u8 aead_iv[OKTLS_AEAD_IV_SIZE];
};

/**
 * struct oktls_ctx - per-socket oktls state, reached from icsk_ulp_data
 * @sk_proto: the socket's proto before oktls attached (tcp_prot or
 *	tcpv6_prot); every operation oktls does not own is passed to it
 * @sk: the socket
 * @tx: transmit state, NULL until TLS_TX
 * @rx: receive state, NULL until TLS_RX
 * @sk_ops: the socket's proto_ops before oktls (restored by close)
 * @tx_lock: serialises whole sendmsg calls, so that records of concurrent
 *	senders never interleave; taken before the socket lock
 * @tx_work: pushes a sealed record when TCP frees send space
 * @tx_pending: @tx holds a sealed record TCP has not taken whole
 * @tx_shut: shutdown(SHUT_WR) was called: sends fail with EPIPE, and the
 *	FIN goes once TCP has every record before it
 * @tx_update_requested: the peer's KeyUpdate asked for ours (update_requested)
 * @tx_zerocopy_ro: TLS_TX_ZEROCOPY_RO as set by the application
 * @rx_no_pad: TLS_RX_EXPECT_NO_PAD as set by the application
 * @close_notify: OKTLS_CLOSE_NOTIFY: close or shutdown sends close_notify
 * @info_version: TLS version of the first keys set, for sock_diag
 * @info_cipher: their cipher type, likewise
 * @stats: this socket's counters; written under the socket lock, read
 *	locklessly by getsockopt and sock_diag
 * @saved_write_space: TCP's sk_write_space, restored on close
 * @saved_data_ready: TCP's sk_data_ready, restored on close
 * @tx_conf: transmit configuration, an enum oktls_conf
 * @rx_conf: receive configuration, an enum oktls_conf
 * @rcu: frees the context after softirq readers are done
 */
struct oktls_ctx {
	struct proto *sk_proto;
	struct sock *sk;
	struct oktls_tx *tx;
	struct oktls_rx *rx;
	const struct proto_ops *sk_ops;
	struct mutex tx_lock; /* senders, then the socket lock */
	struct work_struct tx_work;
	bool tx_pending;
	bool tx_shut;
	bool tx_update_requested;
	bool tx_zerocopy_ro;
	bool rx_no_pad;
	bool close_notify;
	u16 info_version;
	u16 info_cipher;
	struct oktls_sock_stats stats;
	void (*saved_write_space)(struct sock *sk);
	void (*saved_data_ready)(struct sock *sk);
	u8 tx_conf;
	u8 rx_conf;
	struct rcu_head rcu;
};

static inline struct oktls_ctx *oktls_ctx(const struct sock *sk)
{
	/* Owners (socket lock held) and RCU readers use it this way. */
	return (__force struct oktls_ctx *)inet_csk(sk)->icsk_ulp_data;
}

/* The key generation of the other direction, or NULL while it is unset. */
static inline struct oktls_keys *oktls_ctx_keys(const struct oktls_ctx *ctx,
						bool tx)
{
	if (tx)
		return ctx->tx ? ctx->tx->keys : NULL;
	return ctx->rx ? ctx->rx->keys : NULL;
}

/*
 * Fail one direction of the stream for good: the first error sticks in
 * *dir_err and reaches the socket, so readers and pollers see it too
 * instead of waiting for data that will never come.
 */
static inline void oktls_fail_stream(struct sock *sk, int *dir_err, int err)
{
	if (*dir_err)
		return;
	*dir_err = err;
	WRITE_ONCE(sk->sk_err, -err);
	/* Pairs with the read in sock_error()/tcp_poll(). */
	smp_wmb();
	sk_error_report(sk);
}

/* Counters of a socket: one writer (the socket lock holder). */
static inline void oktls_stat_add64(u64 *counter, u64 n)
{
	WRITE_ONCE(*counter, *counter + n);
}

static inline void oktls_stat_add32(u32 *counter, u32 n)
{
	WRITE_ONCE(*counter, *counter + n);
}

/* Namespace counters, /proc/net/oktls_stat; names as the stock module's. */
enum oktls_mib {
	OKTLS_MIB_CURR_TX_SW,
	OKTLS_MIB_CURR_RX_SW,
	OKTLS_MIB_TX_SW,
	OKTLS_MIB_RX_SW,
	OKTLS_MIB_DECRYPT_ERROR,
	OKTLS_MIB_RX_NO_PAD_VIOLATION,
	OKTLS_MIB_TX_REKEY_OK,
	OKTLS_MIB_RX_REKEY_OK,
	OKTLS_MIB_TX_REKEY_ERROR,
	OKTLS_MIB_RX_REKEY_ERROR,
	OKTLS_MIB_RX_REKEY_RECEIVED,
	OKTLS_MIB_NUM,
};

/* ulp.c */
int oktls_ulp_register(void);
void oktls_ulp_unregister(void);
void oktls_ulp_update_prot(struct sock *sk, struct oktls_ctx *ctx);

/* stats.c */
int oktls_stats_register(void);
void oktls_stats_unregister(void);
void oktls_stats_add(struct net *net, enum oktls_mib field, long val);
void oktls_stats_read(const struct oktls_ctx *ctx, struct oktls_sock_stats *st);

static inline void oktls_stats_inc(const struct sock *sk, enum oktls_mib field)
{
	oktls_stats_add(sock_net(sk), field, 1);
}

/* secret.c */
struct oktls_secret *oktls_secret_create(const struct oktls_cipher *cipher,
					 const u8 *secret);
void oktls_secret_destroy(struct oktls_secret *s);
struct oktls_keys *oktls_secret_keys(struct oktls_secret *s, u64 seq);
struct oktls_keys *oktls_secret_next(struct oktls_secret *s);
void oktls_secret_commit(struct oktls_secret *s);
void oktls_secret_abort(struct oktls_secret *s);

/* diag.c */
int oktls_diag_get_info(struct sock *sk, struct sk_buff *skb);
size_t oktls_diag_get_info_size(const struct sock *sk);

/* sockopt.c */
int oktls_sockopt_set(struct sock *sk, int optname, sockptr_t optval,
		      unsigned int optlen);
int oktls_sockopt_get(struct sock *sk, int optname, char __user *optval,
		      int __user *optlen);

/* tx.c */
int oktls_tx_init(struct sock *sk, struct oktls_ctx *ctx,
		  struct oktls_keys *keys);
int oktls_tx_rekey(struct sock *sk, struct oktls_ctx *ctx,
		   struct oktls_keys *keys);
void oktls_tx_set_secret(struct oktls_ctx *ctx, struct oktls_secret *secret);
void oktls_tx_request_update(struct oktls_ctx *ctx);
int oktls_tx_set_rekey_records(struct oktls_ctx *ctx, u64 records);
bool oktls_tx_release(struct sock *sk, struct oktls_ctx *ctx);
int oktls_tx_sendmsg(struct sock *sk, struct msghdr *msg, size_t size);
void oktls_tx_splice_eof(struct socket *sock);
int oktls_tx_shutdown(struct socket *sock, int how);
void oktls_tx_build_proto(struct proto *p);

/* rx.c */
int oktls_rx_init(struct sock *sk, struct oktls_ctx *ctx,
		  struct oktls_keys *keys);
void oktls_rx_rekey(struct sock *sk, struct oktls_ctx *ctx,
		    struct oktls_keys *keys);
void oktls_rx_set_secret(struct oktls_ctx *ctx, struct oktls_secret *secret);
void oktls_rx_release(struct sock *sk, struct oktls_ctx *ctx);
int oktls_rx_recvmsg(struct sock *sk, struct msghdr *msg, size_t len,
		     int flags, int *addr_len);
__poll_t oktls_rx_poll(struct file *file, struct socket *sock,
		       struct poll_table_struct *wait);
ssize_t oktls_rx_splice_read(struct socket *sock, loff_t *ppos,
			     struct pipe_inode_info *pipe, size_t len,
			     unsigned int flags);
void oktls_rx_build_proto(struct proto *p);

/* strp.c */
void oktls_strp_init(struct oktls_strp *s, const struct oktls_rec_params *p);
void oktls_strp_release(struct oktls_strp *s);
int oktls_strp_pull(struct sock *sk, struct oktls_strp *s,
		    const struct oktls_rec_params *p, gfp_t gfp);
int oktls_strp_sg(struct sock *sk, struct oktls_strp *s,
		  const struct oktls_rec_params *p, struct scatterlist *sg,
		  unsigned int max);
void oktls_strp_consume(struct sock *sk, struct oktls_strp *s);
unsigned int oktls_buf_sg(struct scatterlist *sg, unsigned int max,
			  const u8 *buf, unsigned int len);

#endif /* _OKTLS_H */
