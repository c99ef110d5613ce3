// SPDX-License-Identifier: GPL-2.0
/*
 * Receive: records are framed from the TCP byte stream (strp.c), opened
 * with the AEAD into per-record buffers, and read by recvmsg, splice and
 * poll with the upstream semantics: one record type per read, non-data
 * records returned alone with a TLS_GET_RECORD_TYPE cmsg, readable only
 * when a whole record can be returned.
 *
 * Opened records wait in a list (so MSG_PEEK can look across them) whose
 * size is charged to sk_rmem_alloc and bounded by sk_rcvbuf.
 */
#include <crypto/aead.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/tls.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "oktls.h"

struct oktls_rx_rec {
	struct list_head list;
	u32 len;
	u32 off;
	u32 truesize;
	u8 type;
	u8 data[];
};

static void rx_abort(struct sock *sk, struct oktls_rx *rx, int err)
{
	oktls_fail_stream(sk, &rx->err, err);
}

/*
 * Frame the next record, so readiness is known without a read. A malformed
 * one fails the stream (after the records before it are read); short memory
 * only delays it, and is returned for callers that retry.
 */
static int rx_frame_next(struct sock *sk, struct oktls_rx *rx)
{
	int err = oktls_strp_pull(sk, &rx->strp, &rx->params, GFP_KERNEL);

	if (err < 0 && err != -ENOMEM)
		rx_abort(sk, rx, err);
	return err;
}

static void rx_update_ready(struct oktls_rx *rx)
{
	bool ready = rx->err || !list_empty(&rx->recs) ||
		     (oktls_strp_full(&rx->strp) && !rx->key_expired);

	WRITE_ONCE(rx->ready, ready);
}

static void rec_free(struct sock *sk, struct oktls_rx *rx,
		     struct oktls_rx_rec *rec)
{
	list_del(&rec->list);
	rx->queued -= rec->truesize;
	atomic_sub(rec->truesize, &sk->sk_rmem_alloc);
	kvfree(rec);
}

/*
 * Open the framed record: its AAD and nonce, its ciphertext as the source,
 * into @rx->sg_dst whose entries from [1] the caller has set (and ended).
 */
static int rx_decrypt(struct sock *sk, struct oktls_rx *rx,
		      unsigned int plain_len)
{
	const struct oktls_rec_params *p = &rx->keys->params;
	unsigned int ct_len = plain_len + p->tag_size, aad_len;
	struct oktls_keys *keys = rx->keys;
	u8 *hdr = rx->strp.prefix;
	int nsrc;

	aad_len = oktls_rec_aad(p, rx->aad, hdr, keys->seq, hdr[0], plain_len);
	oktls_keys_aead_iv(keys, hdr + OKTLS_HEADER_SIZE, rx->aead_iv);
	sg_set_buf(&rx->sg_dst[0], rx->aad, aad_len);
	sg_init_table(rx->sg_src, ARRAY_SIZE(rx->sg_src));
	sg_set_buf(&rx->sg_src[0], rx->aad, aad_len);
	nsrc = oktls_strp_sg(sk, &rx->strp, p, rx->sg_src + 1,
			     ARRAY_SIZE(rx->sg_src) - 1);
	if (nsrc < 0)
		return nsrc;
	sg_mark_end(&rx->sg_src[nsrc]);
	return oktls_keys_crypt(keys, rx->sg_src, rx->sg_dst, aad_len, ct_len,
				rx->aead_iv, false);
}

/* A record opened: count it; the sequence number moves on. */
static void rx_opened(struct sock *sk, struct oktls_rx *rx, unsigned int len)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);
	int err = oktls_keys_advance(rx->keys);

	/* A record number never repeats: past the last, the stream ends. */
	if (err)
		rx->err_next = err;
	oktls_stat_add64(&ctx->stats.rx_records, 1);
	oktls_stat_add64(&ctx->stats.rx_bytes, len);
	WRITE_ONCE(ctx->stats.rx_seq, rx->keys->seq);
}

/* A record failed to open: the stream fails with @err. */
static void rx_open_failed(struct sock *sk, int err)
{
	if (err != -EBADMSG)
		return;
	oktls_stat_add64(&oktls_ctx(sk)->stats.decrypt_errors, 1);
	oktls_stats_inc(sk, OKTLS_MIB_DECRYPT_ERROR);
}

/* The request_update of a KeyUpdate ending @rec, or -ENOENT. */
static int rx_key_update(const struct oktls_rx *rx,
			 const struct oktls_rx_rec *rec)
{
	if (!rx->params.tls13 || rec->type != OKTLS_TYPE_HANDSHAKE)
		return -ENOENT;
	return oktls_hs_key_update(rec->data, rec->len);
}

/* Switch to @keys, the next generation; the old one is wiped. */
static void rx_switch_keys(struct oktls_ctx *ctx, struct oktls_keys *keys)
{
	struct oktls_rx *rx = ctx->rx;

	oktls_keys_destroy(rx->keys);
	rx->keys = keys;
	rx->key_expired = false;
	/* Sequence exhaustion belonged to the old generation. */
	if (rx->err_next == -EBADMSG)
		rx->err_next = 0;
	WRITE_ONCE(ctx->stats.flags,
		   ctx->stats.flags & ~OKTLS_STATS_F_RX_KEY_EXPIRED);
	oktls_stat_add32(&ctx->stats.rx_rekeys, 1);
	oktls_stat_add32(&ctx->stats.rx_gen, 1);
	WRITE_ONCE(ctx->stats.rx_seq, keys->seq);
}

/*
 * The peer sent a KeyUpdate and seals with its next key from the following
 * record on. With the traffic secret, the kernel switches to @next (the
 * keys the caller prepared) and consumes the message, answering
 * update_requested when it holds the TX secret too. Without it, nothing
 * more is opened until the application sets the next TLS_RX key, as
 * upstream.
 *
 * Return: true when the message was consumed, false when the reader gets it.
 */
static bool rx_follow_key_update(struct sock *sk, struct oktls_rx *rx,
				 struct oktls_keys *next, int request)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);
	bool answer = ctx->tx && ctx->tx->secret;

	if (!next) {
		rx->key_expired = true;
		WRITE_ONCE(ctx->stats.flags,
			   ctx->stats.flags | OKTLS_STATS_F_RX_KEY_EXPIRED);
		return false;
	}
	rx_switch_keys(ctx, next);
	oktls_secret_commit(rx->secret);
	oktls_stats_inc(sk, OKTLS_MIB_RX_REKEY_OK);
	if (request && answer)
		oktls_tx_request_update(ctx);
	/* Without the TX secret, the application answers: it must see it. */
	return !request || answer;
}

/*
 * Open the framed record into a new buffer on the list. Socket locked,
 * process context.
 */
static int rx_open_record(struct sock *sk, struct oktls_rx *rx)
{
	const struct oktls_rec_params *p = &rx->params;
	unsigned int body, ct_len, plain_len, ndst;
	struct oktls_keys *next = NULL;
	struct oktls_rx_rec *rec;
	u8 *hdr = rx->strp.prefix;
	int err, len, update;

	body = rx->strp.need - OKTLS_HEADER_SIZE;
	ct_len = body - p->explicit_nonce;	/* ciphertext and tag */
	plain_len = ct_len - p->tag_size;

	rec = kvmalloc(struct_size(rec, data, plain_len), GFP_KERNEL);
	if (!rec)
		return -ENOMEM;
	rec->truesize = struct_size(rec, data, plain_len);

	sg_init_table(rx->sg_dst, ARRAY_SIZE(rx->sg_dst));
	ndst = oktls_buf_sg(rx->sg_dst + 1, ARRAY_SIZE(rx->sg_dst) - 1,
			    rec->data, plain_len);
	sg_mark_end(&rx->sg_dst[ndst]);
	err = rx_decrypt(sk, rx, plain_len);
	if (err)
		goto err_free;

	rec->type = hdr[0];
	rec->len = plain_len;
	if (p->tls13) {
		len = oktls_rec_inner_type(rec->data, plain_len, &rec->type);
		if (len < 0) {
			err = len;
			goto err_free;
		}
		rec->len = len;
	}
	rec->off = 0;
	update = rx_key_update(rx, rec);
	/* Prepared first, so a failure leaves the record to open again. */
	if (update >= 0 && rx->secret) {
		next = oktls_secret_next(rx->secret);
		if (IS_ERR(next)) {
			oktls_stats_inc(sk, OKTLS_MIB_RX_REKEY_ERROR);
			err = PTR_ERR(next);
			goto err_free;
		}
	}
	/* A KeyUpdate is the last record under the old keys. */
	rx_opened(sk, rx, rec->len);
	if (update >= 0) {
		oktls_stat_add32(&oktls_ctx(sk)->stats.rx_key_updates, 1);
		oktls_stats_inc(sk, OKTLS_MIB_RX_REKEY_RECEIVED);
		if (rx_follow_key_update(sk, rx, next, update)) {
			memzero_explicit(rec->data, plain_len);
			kvfree(rec);
			oktls_strp_consume(sk, &rx->strp);
			return 0;
		}
	}

	list_add_tail(&rec->list, &rx->recs);
	rx->queued += rec->truesize;
	atomic_add(rec->truesize, &sk->sk_rmem_alloc);
	oktls_strp_consume(sk, &rx->strp);
	return 0;

err_free:
	kvfree(rec);
	rx_open_failed(sk, err);
	return err;
}

/*
 * Open the framed record straight into the reader's buffer: a data record
 * the reader has room for, read without MSG_PEEK. The ciphertext stays in
 * TCP (or the framing buffer), so when the fast path does not fit after
 * all (a TLS 1.3 record turns out not to be data, or padded) nothing is
 * consumed and the caller opens it the ordinary way.
 *
 * TLS 1.3 hides the type at the end: the last plaintext byte is opened
 * into @rx->tail, not the reader's buffer. Upstream guesses "data, no
 * padding" only with TLS_RX_EXPECT_NO_PAD; oktls always guesses, and stops
 * guessing on a socket once a padded record shows its peer pads (each
 * miss costs a second decryption). A control record (a ticket, a
 * KeyUpdate) is a miss too, but a rare one.
 *
 * Return: plaintext bytes delivered, 0 when the fast path does not apply,
 * or the error that fails the stream.
 */
static int rx_open_to_user(struct sock *sk, struct oktls_rx *rx,
			   struct iov_iter *to, size_t room)
{
	const struct oktls_rec_params *p = &rx->params;
	bool no_pad = READ_ONCE(oktls_ctx(sk)->rx_no_pad);
	struct page *pages[OKTLS_RX_SG - 2];
	unsigned int ct_len, len, nsg = 1, npages = 0;
	u8 *hdr = rx->strp.prefix;
	size_t done = 0, off;
	ssize_t got;
	int err, i;

	if (!oktls_strp_full(&rx->strp) || !user_backed_iter(to))
		return 0;
	if (p->tls13 ? rx->padded && !no_pad : hdr[0] != OKTLS_TYPE_DATA)
		return 0;
	ct_len = rx->strp.need - OKTLS_HEADER_SIZE - p->explicit_nonce;
	/* The reader's part: all of the plaintext but a TLS 1.3 type byte. */
	len = ct_len - p->tag_size - p->tls13;
	if (!len || len > room)
		return 0;

	sg_init_table(rx->sg_dst, ARRAY_SIZE(rx->sg_dst));
	while (done < len) {
		got = iov_iter_get_pages2(to, pages + npages, len - done,
					  ARRAY_SIZE(pages) - npages, &off);
		if (got <= 0)
			goto revert;
		for (i = npages; got > 0; i++) {
			unsigned int n = min_t(size_t, got, PAGE_SIZE - off);

			sg_set_page(&rx->sg_dst[nsg++], pages[i], n, off);
			npages++;
			done += n;
			got -= n;
			off = 0;
		}
		if (done < len && npages == ARRAY_SIZE(pages))
			goto revert;
	}
	if (p->tls13)
		sg_set_buf(&rx->sg_dst[nsg++], &rx->tail, 1);
	sg_mark_end(&rx->sg_dst[nsg - 1]);
	err = rx_decrypt(sk, rx, len + p->tls13);
	/* Nothing was consumed: the ordinary way tries again, and reports. */
	if (err == -ENOMEM)
		goto revert;
	if (err) {
		rx_open_failed(sk, err);
		goto out_put;
	}

	if (p->tls13 && rx->tail != OKTLS_TYPE_DATA) {
		if (no_pad)
			oktls_stats_inc(sk, OKTLS_MIB_RX_NO_PAD_VIOLATION);
		else if (!rx->tail)
			rx->padded = true;
		goto revert;
	}
	for (i = 0; i < npages; i++)
		put_page(pages[i]);

	rx_opened(sk, rx, len);
	oktls_strp_consume(sk, &rx->strp);
	rx_frame_next(sk, rx);
	return len;

revert:
	err = 0;
out_put:
	for (i = 0; i < npages; i++)
		put_page(pages[i]);
	iov_iter_revert(to, done);
	return err;
}

/*
 * Make sure at least one more record is open on the list, if the stream
 * has one. Returns 1 when a record was opened, 0 when none is complete
 * yet, or a negative errno that has failed the stream.
 */
static int rx_next_record(struct sock *sk, struct oktls_rx *rx)
{
	int err;

	if (rx->err)
		return rx->err;
	if (rx->err_next) {
		rx_abort(sk, rx, rx->err_next);
		return rx->err;
	}
	if (rx->key_expired)
		return -EKEYEXPIRED;
	err = rx_frame_next(sk, rx);
	if (err < 0)
		return err;
	if (!oktls_strp_full(&rx->strp))
		return 0;
	err = rx_open_record(sk, rx);
	if (err) {
		if (err != -ENOMEM)
			rx_abort(sk, rx, err);
		return err;
	}
	rx_frame_next(sk, rx);
	return 1;
}

/* Wait for a whole record, the peer's FIN or an error; socket locked. */
static int rx_wait(struct sock *sk, struct oktls_rx *rx, long *timeo)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);
	int ret;

	if (!*timeo)
		return -EAGAIN;
	if (signal_pending(current))
		return sock_intr_errno(*timeo);

	/* What this read consumed is not there to wake it any more. */
	rx_update_ready(rx);
	add_wait_queue(sk_sleep(sk), &wait);
	sk_set_bit(SOCKWQ_ASYNC_WAITDATA, sk);
	ret = sk_wait_event(sk, timeo,
			    READ_ONCE(rx->ready) || READ_ONCE(sk->sk_err) ||
			    (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN),
			    &wait);
	sk_clear_bit(SOCKWQ_ASYNC_WAITDATA, sk);
	remove_wait_queue(sk_sleep(sk), &wait);
	if (ret < 0)
		return ret;
	if (signal_pending(current))
		return sock_intr_errno(*timeo);
	return 0;
}

/*
 * Nothing more to read now: say why. 0 is end of stream; a FIN in the
 * middle of a record is an error, never a short read.
 */
static int rx_no_record(struct sock *sk, struct oktls_rx *rx, long *timeo)
{
	int err;

	if (rx->err)
		return rx->err;
	err = sock_error(sk);
	if (err)
		return err;
	if (sk->sk_shutdown & RCV_SHUTDOWN) {
		if (oktls_strp_busy(&rx->strp) || tcp_inq(sk)) {
			rx_abort(sk, rx, -EBADMSG);
			return -EBADMSG;
		}
		return 0;
	}
	err = rx_wait(sk, rx, timeo);
	return err ? err : 1;
}

/*
 * The type of the records this read returns: the first one's, reported
 * in a cmsg. Non-data records need the cmsg, as upstream (EIO).
 */
static int put_record_type(struct msghdr *msg, u8 type)
{
	int err = put_cmsg(msg, SOL_TLS, TLS_GET_RECORD_TYPE, sizeof(type),
			   &type);

	if (type != OKTLS_TYPE_DATA && (err || (msg->msg_flags & MSG_CTRUNC)))
		return -EIO;
	return 0;
}

static int recvmsg_locked(struct sock *sk, struct oktls_rx *rx,
			  struct msghdr *msg, size_t len, int flags)
{
	long timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
	int target = sock_rcvlowat(sk, flags & MSG_WAITALL, len);
	bool peek = flags & MSG_PEEK;
	struct oktls_rx_rec *rec, *cur = NULL;
	size_t copied = 0;
	int type = -1;
	int err = 0;

	while (copied < len) {
		unsigned int off, n;

		/* The next record to read: after the last one peeked. */
		rec = cur ? list_next_entry(cur, list) :
			    list_first_entry_or_null(&rx->recs,
						     struct oktls_rx_rec, list);
		if (!rec || &rec->list == &rx->recs) {
			/* Peek ahead only within the receive buffer. */
			if (peek && rx->queued >= READ_ONCE(sk->sk_rcvbuf))
				break;
			if (!peek && !rx->err && !rx->err_next &&
			    !rx->key_expired &&
			    (type < 0 || type == OKTLS_TYPE_DATA)) {
				err = rx_open_to_user(sk, rx, &msg->msg_iter,
						      len - copied);
				if (err < 0) {
					rx_abort(sk, rx, err);
					break;
				}
				if (err > 0) {
					if (type < 0 && msg->msg_control)
						put_record_type(msg,
								OKTLS_TYPE_DATA);
					type = OKTLS_TYPE_DATA;
					copied += err;
					continue;
				}
			}
			err = rx_next_record(sk, rx);
			if (err == 1)
				continue;
			if (err < 0 || copied >= target)
				break;
			err = rx_no_record(sk, rx, &timeo);
			if (err <= 0)
				break;
			continue;
		}

		if (type < 0) {
			type = rec->type;
			if (msg->msg_control || type != OKTLS_TYPE_DATA) {
				err = put_record_type(msg, rec->type);
				if (err)
					break;
			}
		} else if (rec->type != type) {
			break;
		}

		/* Only the oldest record can have been partly read. */
		off = rec->off;
		n = min_t(size_t, rec->len - off, len - copied);
		if (copy_to_iter(rec->data + off, n, &msg->msg_iter) != n) {
			err = -EFAULT;
			break;
		}
		copied += n;
		if (peek) {
			cur = rec;
		} else {
			rec->off += n;
			if (rec->off == rec->len)
				rec_free(sk, rx, rec);
		}
		/* A control record is returned alone. */
		if (type != OKTLS_TYPE_DATA)
			break;
	}

	rx_update_ready(rx);
	if (copied)
		return copied;
	return err;
}

/**
 * oktls_rx_recvmsg() - proto->recvmsg once TLS_RX is set
 * @sk: the socket
 * @msg: where plaintext goes, and the TLS_GET_RECORD_TYPE cmsg
 * @len: room for plaintext
 * @flags: MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT, ...
 * @addr_len: unused, as for TCP
 *
 * Return: plaintext bytes read, 0 at the end of the stream, or -errno.
 */
int oktls_rx_recvmsg(struct sock *sk, struct msghdr *msg, size_t len,
		     int flags, int *addr_len)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);
	int ret;

	if (unlikely(flags & MSG_ERRQUEUE))
		return sock_recv_errqueue(sk, msg, len, SOL_IP, IP_RECVERR);

	lock_sock(sk);
	ret = recvmsg_locked(sk, ctx->rx, msg, len, flags);
	release_sock(sk);
	return ret;
}

/**
 * oktls_rx_splice_read() - proto_ops->splice_read once TLS_RX is set
 * @sock: the socket
 * @ppos: unused, as for TCP
 * @pipe: destination
 * @len: bytes wanted
 * @flags: SPLICE_F_*
 *
 * Only application data can be spliced; a record of another type waiting
 * at the head of the stream makes it fail with EINVAL, as upstream.
 *
 * Return: bytes spliced, 0 at the end of the stream, or -errno.
 */
ssize_t oktls_rx_splice_read(struct socket *sock, loff_t *ppos,
			     struct pipe_inode_info *pipe, size_t len,
			     unsigned int flags)
{
	bool nonblock = (flags & SPLICE_F_NONBLOCK) ||
			(sock->file->f_flags & O_NONBLOCK);
	struct sock *sk = sock->sk;
	struct oktls_rx *rx = oktls_ctx(sk)->rx;
	long timeo = sock_rcvtimeo(sk, nonblock);
	struct oktls_rx_rec *rec;
	int err = 0;

	/*
	 * Wait here for a whole record, so that its type is known before
	 * the generic splice reads it through recvmsg.
	 */
	lock_sock(sk);
	while (list_empty(&rx->recs)) {
		err = rx_next_record(sk, rx);
		if (err == 1)
			continue;
		if (err < 0)
			break;
		err = rx_no_record(sk, rx, &timeo);
		if (err <= 0)
			break;
	}
	rec = list_first_entry_or_null(&rx->recs, struct oktls_rx_rec, list);
	if (rec && rec->type != OKTLS_TYPE_DATA)
		err = -EINVAL;
	else if (rec)
		/* Sized now: once the lock is dropped, another reader may free it. */
		len = min_t(size_t, len, rec->len - rec->off);
	rx_update_ready(rx);
	release_sock(sk);
	if (!rec || err < 0)
		return err;
	return oktls_splice_read_iter(sock->file, ppos, pipe, len, flags);
}

/*
 * TCP has new data (softirq, or the lock owner's backlog). Frame what
 * arrived and wake readers only when a whole record, the end of the stream
 * or an error is there.
 */
static void rx_data_ready(struct sock *sk)
{
	struct oktls_ctx *ctx;
	struct oktls_rx *rx;
	int err;

	rcu_read_lock();
	ctx = rcu_dereference(inet_csk(sk)->icsk_ulp_data);
	if (!ctx || !ctx->rx)
		goto out;
	rx = ctx->rx;
	err = oktls_strp_pull(sk, &rx->strp, &rx->params, GFP_ATOMIC);
	if (err == -ENOMEM)
		schedule_work(&rx->alloc_work);
	else if (err < 0)
		rx_abort(sk, rx, err);
	rx_update_ready(rx);
	if (READ_ONCE(rx->ready) || (sk->sk_shutdown & RCV_SHUTDOWN) ||
	    sock_flag(sk, SOCK_DONE))
		ctx->saved_data_ready(sk);
out:
	rcu_read_unlock();
}

/**
 * oktls_rx_poll() - proto_ops->poll once TLS_RX is set
 * @file: the socket's file
 * @sock: the socket
 * @wait: poll table
 *
 * Return: TCP's mask, readable only when a whole record can be returned.
 */
__poll_t oktls_rx_poll(struct file *file, struct socket *sock,
		       struct poll_table_struct *wait)
{
	struct sock *sk = sock->sk;
	struct oktls_rx *rx = oktls_ctx(sk)->rx;
	__poll_t mask = tcp_poll(file, sock, wait);

	/* Waiting for the next key is not readable, as upstream. */
	mask &= ~(EPOLLIN | EPOLLRDNORM);
	if (READ_ONCE(rx->ready) ||
	    ((READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) &&
	     !READ_ONCE(rx->key_expired)))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

/*
 * Frame what TCP holds and wake readers once a record is whole; socket
 * locked. Memory short here is tried again from the worker when @retry,
 * else at the next arrival or read.
 */
static void rx_pull_locked(struct sock *sk, struct oktls_rx *rx, bool retry)
{
	if (rx_frame_next(sk, rx) == -ENOMEM && retry)
		schedule_work(&rx->alloc_work);
	rx_update_ready(rx);
	if (READ_ONCE(rx->ready))
		oktls_ctx(sk)->saved_data_ready(sk);
}

/* Frame what softirq left in TCP for want of memory, and wake readers. */
static void rx_alloc_work(struct work_struct *work)
{
	struct oktls_rx *rx = container_of(work, struct oktls_rx, alloc_work);
	struct sock *sk = rx->sk;

	lock_sock(sk);
	rx_pull_locked(sk, rx, false);
	release_sock(sk);
}

/**
 * oktls_rx_init() - start opening records with @keys
 * @sk: the socket, locked
 * @ctx: its context
 * @keys: the first key generation; owned by the socket on success
 *
 * Bytes TCP already holds are framed at once: the handshake's last
 * flight and the first records may arrive before TLS_RX is set.
 *
 * Return: 0 or -ENOMEM.
 */
int oktls_rx_init(struct sock *sk, struct oktls_ctx *ctx,
		  struct oktls_keys *keys)
{
	struct oktls_rx *rx;

	rx = kzalloc(sizeof(*rx), GFP_KERNEL);
	if (!rx)
		return -ENOMEM;
	oktls_strp_init(&rx->strp, &keys->params);
	INIT_WORK(&rx->alloc_work, rx_alloc_work);
	rx->sk = sk;
	rx->keys = keys;
	rx->params = keys->params;
	INIT_LIST_HEAD(&rx->recs);
	WRITE_ONCE(ctx->stats.rx_gen, 0);
	WRITE_ONCE(ctx->stats.rx_seq, keys->seq);
	oktls_stats_inc(sk, OKTLS_MIB_RX_SW);
	oktls_stats_inc(sk, OKTLS_MIB_CURR_RX_SW);

	write_lock_bh(&sk->sk_callback_lock);
	ctx->rx = rx;
	ctx->rx_conf = OKTLS_CONF_SW;
	ctx->saved_data_ready = sk->sk_data_ready;
	sk->sk_data_ready = rx_data_ready;
	oktls_ulp_update_prot(sk, ctx);
	write_unlock_bh(&sk->sk_callback_lock);

	rx_pull_locked(sk, rx, true);
	return 0;
}

/**
 * oktls_rx_release() - free receive state at close and wipe its keys
 * @sk: the socket, locked
 * @ctx: its context
 */
void oktls_rx_release(struct sock *sk, struct oktls_ctx *ctx)
{
	struct oktls_rx *rx = ctx->rx;
	struct oktls_rx_rec *rec, *tmp;

	if (!rx)
		return;
	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_data_ready = ctx->saved_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);

	list_for_each_entry_safe(rec, tmp, &rx->recs, list) {
		memzero_explicit(rec->data, rec->len);
		rec_free(sk, rx, rec);
	}
	oktls_strp_release(&rx->strp);
	oktls_secret_destroy(rx->secret);
	oktls_keys_destroy(rx->keys);
	memzero_explicit(rx, sizeof(*rx));
	kfree(rx);
	ctx->rx = NULL;
	oktls_stats_add(sock_net(sk), OKTLS_MIB_CURR_RX_SW, -1);
}

/**
 * oktls_rx_rekey() - open the records that follow with the next keys
 * @sk: the socket, locked
 * @ctx: its context
 * @keys: the next key generation, same version and cipher; owned by the
 *	socket from here on
 *
 * The old generation is wiped at once. Records that arrived under the new
 * keys while reads failed with EKEYEXPIRED are still in the framing buffer
 * or in TCP, unopened, and are read now.
 */
void oktls_rx_rekey(struct sock *sk, struct oktls_ctx *ctx,
		    struct oktls_keys *keys)
{
	struct oktls_rx *rx = ctx->rx;

	rx_switch_keys(ctx, keys);
	rx_pull_locked(sk, rx, true);
}

/**
 * oktls_rx_build_proto() - the receive entry points of a proto
 * @p: a copy of the TCP proto
 */
void oktls_rx_build_proto(struct proto *p)
{
	p->recvmsg = oktls_rx_recvmsg;
}

/**
 * oktls_rx_set_secret() - follow (or stop following) key updates in kernel
 * @ctx: the context, socket locked; RX keys are set
 * @secret: the current keys' traffic secret, or NULL; owned from here on
 */
void oktls_rx_set_secret(struct oktls_ctx *ctx, struct oktls_secret *secret)
{
	oktls_secret_destroy(ctx->rx->secret);
	ctx->rx->secret = secret;
}
