// SPDX-License-Identifier: GPL-2.0
/*
 * Transmit: plaintext from sendmsg, sendfile and splice is gathered into
 * records in page-frag pages, sealed in place with the AEAD and handed to
 * TCP by page reference (no second copy).
 *
 * A socket holds at most one open record (plaintext not yet sealed, for
 * MSG_MORE) and one sealed record TCP has not taken whole (a non-blocking
 * or interrupted send). The sealed record is counted as sent to the
 * application; it is pushed on the next send, when TCP frees send space,
 * or at close, and shutdown(SHUT_WR)'s FIN waits for it.
 */
#include <crypto/aead.h>
#include <linux/highmem.h>
#include <linux/net.h>
#include <linux/sched/signal.h>
#include <linux/tls.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "oktls.h"

#define TX_FLAGS (MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL | MSG_CMSG_COMPAT | \
		  MSG_SPLICE_PAGES | MSG_EOR | MSG_SENDPAGE_NOPOLICY)

static void rec_release(struct sock *sk, struct oktls_rec *rec)
{
	unsigned int i;

	for (i = 0; i < rec->nr_frags; i++)
		put_page(rec->frags[i].bv_page);
	if (rec->charged) {
		sk_wmem_queued_add(sk, -(int)rec->charged);
		sk_mem_uncharge(sk, rec->charged);
	}
	memset(rec, 0, sizeof(*rec));
}

/*
 * Carve @len contiguous bytes (at most 32, which sk_page_frag_refill()
 * guarantees) from the socket's page frag as a new piece of @rec.
 */
static void *rec_add_small(struct sock *sk, struct oktls_rec *rec,
			   unsigned int len)
{
	struct page_frag *pfrag = sk_page_frag(sk);
	struct bio_vec *bv;
	void *p;

	if (!sk_page_frag_refill(sk, pfrag))
		return NULL;
	bv = &rec->frags[rec->nr_frags++];
	bvec_set_page(bv, pfrag->page, len, pfrag->offset);
	get_page(pfrag->page);
	p = page_address(pfrag->page) + pfrag->offset;
	pfrag->offset += len;
	return p;
}

/*
 * Copy up to @len bytes of plaintext into @rec. Returns bytes copied (short
 * when the record runs out of pieces), -ENOMEM or -EFAULT when none were.
 */
static int rec_fill(struct sock *sk, struct oktls_rec *rec,
		    struct iov_iter *from, unsigned int len)
{
	struct page_frag *pfrag = sk_page_frag(sk);
	unsigned int done = 0;

	while (done < len) {
		struct bio_vec *last = &rec->frags[rec->nr_frags - 1];
		unsigned int n, copied;
		bool merge;

		if (!sk_page_frag_refill(sk, pfrag))
			break;
		merge = rec->nr_frags > 1 && last->bv_page == pfrag->page &&
			last->bv_offset + last->bv_len == pfrag->offset;
		/* Keep the last piece for the trailer. */
		if (!merge && rec->nr_frags >= OKTLS_REC_MAX_FRAGS - 1)
			break;
		n = min(len - done, pfrag->size - pfrag->offset);
		copied = copy_from_iter(page_address(pfrag->page) +
					pfrag->offset, n, from);
		if (!copied)
			return done ? done : -EFAULT;
		if (merge) {
			last->bv_len += copied;
		} else {
			bvec_set_page(&rec->frags[rec->nr_frags++],
				      pfrag->page, copied, pfrag->offset);
			get_page(pfrag->page);
		}
		pfrag->offset += copied;
		done += copied;
		if (copied < n)
			break;
	}
	if (!done)
		return -ENOMEM;
	rec->plain_len += done;
	rec->charged += done;
	sk_wmem_queued_add(sk, done);
	sk_mem_charge(sk, done);
	return done;
}

/* Start an open record: its first piece is room for the prefix. */
static int rec_open(struct sock *sk, struct oktls_tx *tx, u8 type)
{
	struct oktls_rec *rec = &tx->open;

	if (!rec_add_small(sk, rec, oktls_rec_prefix(&tx->keys->params)))
		return -ENOMEM;
	rec->type = type;
	return 0;
}

/*
 * Reserve @len bytes of the socket's page frag as pieces of @rec without
 * writing them: room for ciphertext sealed from another source.
 */
static int rec_reserve(struct sock *sk, struct oktls_rec *rec,
		       unsigned int len)
{
	struct page_frag *pfrag = sk_page_frag(sk);

	while (len) {
		struct bio_vec *last = &rec->frags[rec->nr_frags - 1];
		unsigned int n;

		if (!sk_page_frag_refill(sk, pfrag))
			return -ENOMEM;
		n = min(len, pfrag->size - pfrag->offset);
		if (rec->nr_frags > 1 && last->bv_page == pfrag->page &&
		    last->bv_offset + last->bv_len == pfrag->offset) {
			last->bv_len += n;
		} else {
			if (rec->nr_frags >= OKTLS_REC_MAX_FRAGS)
				return -ENOMEM;
			bvec_set_page(&rec->frags[rec->nr_frags++], pfrag->page,
				      n, pfrag->offset);
			get_page(pfrag->page);
		}
		pfrag->offset += n;
		len -= n;
	}
	return 0;
}

/* Describe pieces of a record body as scatterlist entries from @sg on. */
static unsigned int sg_from_frags(struct scatterlist *sg,
				  const struct bio_vec *bv, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		sg_set_page(&sg[i], bv[i].bv_page, bv[i].bv_len,
			    bv[i].bv_offset);
	return nr;
}

static void ctx_stats_sealed(struct sock *sk, const struct oktls_keys *keys,
			     unsigned int plain_len)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);

	oktls_stat_add64(&ctx->stats.tx_records, 1);
	oktls_stat_add64(&ctx->stats.tx_bytes, plain_len);
	WRITE_ONCE(ctx->stats.tx_seq, keys->seq);
}

/*
 * Encrypt the open record and make it the sealed one. With @src NULL the
 * plaintext is in the record's own pieces and is sealed in place; else
 * @src (after its first, AAD, entry) holds the plaintext and the record's
 * pieces receive the ciphertext. The caller has pushed any earlier sealed
 * record. The sequence number is consumed whatever happens next, so a
 * failure here breaks the stream.
 */
static int rec_seal(struct sock *sk, struct oktls_tx *tx,
		    struct scatterlist *src)
{
	const struct oktls_rec_params *p = &tx->keys->params;
	struct oktls_keys *keys = tx->keys;
	struct oktls_rec *rec = &tx->open;
	unsigned int aad_len, nsg;
	u8 *hdr, *trailer;
	int err;

	if (!src) {
		trailer = rec_add_small(sk, rec, p->tls13 + p->tag_size);
		if (!trailer)
			return -ENOMEM;
		if (p->tls13)
			trailer[0] = rec->type;
	}

	hdr = page_address(rec->frags[0].bv_page) + rec->frags[0].bv_offset;
	oktls_rec_header(p, hdr, rec->type, rec->plain_len);
	if (p->explicit_nonce)
		memcpy(hdr + OKTLS_HEADER_SIZE,
		       keys->iv + keys->cipher->salt_size, p->explicit_nonce);
	aad_len = oktls_rec_aad(p, tx->aad, hdr, keys->seq, rec->type,
				rec->plain_len);
	oktls_keys_aead_iv(keys, NULL, tx->aead_iv);

	/* The AAD takes the place of the prefix piece. */
	sg_init_table(tx->sg, rec->nr_frags);
	sg_set_buf(&tx->sg[0], tx->aad, aad_len);
	nsg = 1 + sg_from_frags(&tx->sg[1], &rec->frags[1], rec->nr_frags - 1);
	sg_mark_end(&tx->sg[nsg - 1]);
	if (src)
		sg_set_buf(&src[0], tx->aad, aad_len);

	err = oktls_keys_crypt(keys, src ? src : tx->sg, tx->sg, aad_len,
			       rec->plain_len + p->tls13, tx->aead_iv, true);
	if (err)
		return err;

	/* The last sequence number may be used once; never a wrapped one. */
	err = oktls_keys_advance(keys);
	if (err)
		tx->err = err;
	tx->gen_records++;
	ctx_stats_sealed(sk, keys, rec->plain_len);

	rec->wire_len = oktls_rec_overhead(p) + rec->plain_len;
	/* TCP charges what it takes; the sealed record is not charged. */
	sk_wmem_queued_add(sk, -(int)rec->charged);
	sk_mem_uncharge(sk, rec->charged);
	rec->charged = 0;
	tx->sealed = *rec;
	tx->sealed_off = 0;
	memset(rec, 0, sizeof(*rec));
	return 0;
}

/*
 * Seal @len bytes straight from the application's (or the page cache's)
 * pages into a new record: one pass over the data instead of a copy and
 * then the cipher. -EAGAIN tells the caller to copy instead; on any error
 * nothing was taken from @from and the record number is unused.
 */
static int seal_from_user(struct sock *sk, struct oktls_tx *tx,
			  struct iov_iter *from, unsigned int len, u8 type)
{
	const struct oktls_rec_params *p = &tx->keys->params;
	struct page *pages[OKTLS_REC_MAX_FRAGS - 2];
	struct oktls_rec *rec = &tx->open;
	unsigned int npages = 0, nsg = 1, i;
	size_t done = 0, off;
	ssize_t got;
	int err;

	sg_init_table(tx->sg_src, ARRAY_SIZE(tx->sg_src));
	while (done < len) {
		got = iov_iter_get_pages2(from, pages + npages, len - done,
					  ARRAY_SIZE(pages) - npages, &off);
		if (got <= 0)
			goto revert;
		for (i = npages; got > 0; i++) {
			unsigned int n = min_t(size_t, got, PAGE_SIZE - off);

			sg_set_page(&tx->sg_src[nsg++], pages[i], n, off);
			npages++;
			done += n;
			got -= n;
			off = 0;
		}
		if (done < len && npages == ARRAY_SIZE(pages))
			goto revert;
	}
	tx->type_byte = type;
	if (p->tls13)
		sg_set_buf(&tx->sg_src[nsg++], &tx->type_byte, 1);
	sg_mark_end(&tx->sg_src[nsg - 1]);

	err = rec_open(sk, tx, type);
	if (!err)
		err = rec_reserve(sk, rec, len + p->tls13 + p->tag_size);
	if (err) {
		rec_release(sk, rec);
		goto revert_err;
	}
	rec->plain_len = len;
	err = rec_seal(sk, tx, tx->sg_src);
	if (err) {
		/* Nothing went out and no number was used: give it back. */
		rec_release(sk, rec);
		goto revert_err;
	}
	for (i = 0; i < npages; i++)
		put_page(pages[i]);
	return 0;

revert:
	err = -EAGAIN;
revert_err:
	for (i = 0; i < npages; i++)
		put_page(pages[i]);
	iov_iter_revert(from, done);
	return err;
}

/*
 * Hand the sealed record to TCP. Returns 0 once TCP has all of it, or the
 * error that stopped it (-EAGAIN, -ERESTARTSYS, -EPIPE, ...) with the rest
 * kept for later. A hard error drops it and breaks the stream: a record
 * missing in the middle would fail the peer anyway.
 */
static int push_sealed(struct sock *sk, struct oktls_ctx *ctx, int flags)
{
	struct oktls_tx *tx = ctx->tx;
	struct oktls_rec *rec = &tx->sealed;
	int ret;

	while (rec->nr_frags && tx->sealed_off < rec->wire_len) {
		ret = oktls_tcp_send_pages(sk, rec->frags, rec->nr_frags,
					   tx->sealed_off,
					   rec->wire_len - tx->sealed_off,
					   flags | MSG_NOSIGNAL);
		if (ret <= 0) {
			if (ret == 0)
				ret = -EAGAIN;
			WRITE_ONCE(ctx->tx_pending, true);
			if (ret != -EAGAIN && ret != -ERESTARTSYS &&
			    ret != -EINTR) {
				tx->err = ret;
				break;
			}
			return ret;
		}
		tx->sealed_off += ret;
	}
	ret = rec->nr_frags && tx->sealed_off < rec->wire_len ? tx->err : 0;
	rec_release(sk, rec);
	tx->sealed_off = 0;
	WRITE_ONCE(ctx->tx_pending, false);
	return ret;
}

/*
 * A record could not be sealed after its bytes were reported sent: the
 * stream is broken, for senders and, as upstream's abort does, for
 * readers and pollers too.
 */
static void tx_abort(struct sock *sk, struct oktls_tx *tx, int err)
{
	oktls_fail_stream(sk, &tx->err, err);
}

/* Seal the open record and start it on its way. */
static int seal_and_push(struct sock *sk, struct oktls_ctx *ctx, int flags)
{
	int err;

	err = rec_seal(sk, ctx->tx, NULL);
	if (err) {
		tx_abort(sk, ctx->tx, err);
		return err;
	}
	return push_sealed(sk, ctx, flags);
}

/* Switch to @keys, the next generation; the old one is wiped. */
static void tx_switch_keys(struct oktls_ctx *ctx, struct oktls_keys *keys)
{
	struct oktls_tx *tx = ctx->tx;

	oktls_keys_destroy(tx->keys);
	tx->keys = keys;
	tx->gen_records = 0;
	oktls_stat_add32(&ctx->stats.tx_rekeys, 1);
	oktls_stat_add32(&ctx->stats.tx_gen, 1);
	WRITE_ONCE(ctx->stats.tx_seq, keys->seq);
}

/* The kernel owes the peer a KeyUpdate: asked for, or the key is worn. */
static bool tx_update_due(struct oktls_ctx *ctx)
{
	struct oktls_tx *tx = ctx->tx;

	return tx->secret && !tx->err &&
	       (READ_ONCE(ctx->tx_update_requested) ||
		(tx->rekey_records && tx->gen_records >= tx->rekey_records));
}

/*
 * Send a KeyUpdate (update_not_requested) under the current keys and
 * switch to the next generation. An open record (MSG_MORE plaintext not
 * sealed yet) is set aside meanwhile and sealed later with the next keys:
 * RFC 8446 4.6.3 wants the answer to update_requested before our next
 * application data record. The next keys exist before the message is
 * sealed, so a failure leaves the current keys in place and the update is
 * retried. Returns 0 only once TCP has all of the KeyUpdate: a record
 * still sealed would be overwritten by the next.
 */
static int tx_key_update(struct sock *sk, struct oktls_ctx *ctx, int flags)
{
	static const u8 msg[OKTLS_HS_HEADER_SIZE + 1] = {
		OKTLS_HS_KEY_UPDATE, 0, 0, 1, 0
	};
	struct kvec kv = { .iov_base = (void *)msg, .iov_len = sizeof(msg) };
	struct oktls_tx *tx = ctx->tx;
	struct oktls_rec held = tx->open;
	struct oktls_keys *next;
	struct iov_iter from;
	int err;

	err = push_sealed(sk, ctx, flags);
	if (err)
		return err;
	next = oktls_secret_next(tx->secret);
	if (IS_ERR(next)) {
		oktls_stats_inc(sk, OKTLS_MIB_TX_REKEY_ERROR);
		return PTR_ERR(next);
	}
	memset(&tx->open, 0, sizeof(tx->open));
	iov_iter_kvec(&from, ITER_SOURCE, &kv, 1, sizeof(msg));
	err = rec_open(sk, tx, OKTLS_TYPE_HANDSHAKE);
	if (!err && rec_fill(sk, &tx->open, &from, sizeof(msg)) != sizeof(msg))
		err = -ENOMEM;
	if (err) {
		rec_release(sk, &tx->open);
		goto err_abort;
	}
	err = rec_seal(sk, tx, NULL);
	if (err) {
		rec_release(sk, &tx->open);
		tx_abort(sk, tx, err);
		goto err_abort;
	}
	/* The KeyUpdate is sealed: from here on, the next keys. */
	tx->open = held;
	tx_switch_keys(ctx, next);
	oktls_secret_commit(tx->secret);
	WRITE_ONCE(ctx->tx_update_requested, false);
	oktls_stats_inc(sk, OKTLS_MIB_TX_REKEY_OK);
	return push_sealed(sk, ctx, flags);

err_abort:
	tx->open = held;
	oktls_secret_abort(tx->secret);
	oktls_keys_destroy(next);
	oktls_stats_inc(sk, OKTLS_MIB_TX_REKEY_ERROR);
	return err;
}

/* Seal the open record, after the KeyUpdate it may owe, and push it. */
static int seal_open(struct sock *sk, struct oktls_ctx *ctx, int flags)
{
	int err;

	if (tx_update_due(ctx)) {
		err = tx_key_update(sk, ctx, flags);
		if (err)
			return err;
	}
	return seal_and_push(sk, ctx, flags);
}

/*
 * Push the sealed record without waiting. At close (@grow) a full send
 * buffer grows by what is left: close must not lose bytes send() reported
 * as taken, and TCP itself keeps all data it accepted and sends it after
 * close.
 */
static void push_now(struct sock *sk, struct oktls_ctx *ctx, bool grow)
{
	struct oktls_tx *tx = ctx->tx;
	int room;

	if (push_sealed(sk, ctx, MSG_DONTWAIT) != -EAGAIN || !grow)
		return;
	room = sk->sk_wmem_queued + 2 * tx->sealed.wire_len;
	WRITE_ONCE(sk->sk_sndbuf, max_t(int, sk->sk_sndbuf, room));
	push_sealed(sk, ctx, MSG_DONTWAIT);
}

/* Seal the open record and push it; false if anything is left. */
static bool flush_open(struct sock *sk, struct oktls_ctx *ctx, bool grow)
{
	struct oktls_tx *tx = ctx->tx;

	push_now(sk, ctx, grow);
	if (tx->sealed.nr_frags)
		return false;
	if (!tx->open.plain_len)
		return true;
	if (tx->err || rec_seal(sk, tx, NULL))
		return false;
	push_now(sk, ctx, grow);
	return !tx->sealed.nr_frags;
}

/* RFC 8446 6.1 and RFC 5246 7.2.1: warning(1), close_notify(0). */
static bool send_close_notify(struct sock *sk, struct oktls_ctx *ctx,
			      bool grow)
{
	static const u8 alert[2] = { 1, 0 };
	struct oktls_tx *tx = ctx->tx;
	struct kvec kv = { .iov_base = (void *)alert, .iov_len = sizeof(alert) };
	struct iov_iter from;

	if (tx->open.nr_frags)
		rec_release(sk, &tx->open);
	iov_iter_kvec(&from, ITER_SOURCE, &kv, 1, sizeof(alert));
	if (rec_open(sk, tx, OKTLS_TYPE_ALERT) ||
	    rec_fill(sk, &tx->open, &from, sizeof(alert)) != sizeof(alert))
		return false;
	tx->notified = true;
	return flush_open(sk, ctx, grow);
}

/*
 * Push everything the application sent, then (OKTLS_CLOSE_NOTIFY) the
 * close_notify alert, once; false if anything is left.
 */
static bool tx_flush(struct sock *sk, struct oktls_ctx *ctx, bool grow)
{
	if (!flush_open(sk, ctx, grow))
		return false;
	if (!ctx->close_notify || ctx->tx->err || ctx->tx->notified)
		return true;
	return send_close_notify(sk, ctx, grow);
}

/*
 * After shutdown(SHUT_WR): the FIN, once TCP has every record sent before
 * it. What TCP cannot take yet goes when it frees space (tx_work), and
 * the FIN then; a broken stream gets its FIN at once. Socket locked,
 * tx_lock held.
 */
static void tx_send_fin(struct sock *sk, struct oktls_ctx *ctx)
{
	if (!ctx->tx_shut || (sk->sk_shutdown & SEND_SHUTDOWN))
		return;
	if (!ctx->tx->err && !tx_flush(sk, ctx, false))
		return;
	WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | SEND_SHUTDOWN);
	ctx->sk_proto->shutdown(sk, SEND_SHUTDOWN);
	sk->sk_state_change(sk);
}

static int parse_cmsg(struct msghdr *msg, u8 *type)
{
	struct cmsghdr *cmsg;
	int err = -EINVAL;

	for_each_cmsghdr(cmsg, msg) {
		if (!CMSG_OK(msg, cmsg))
			return -EINVAL;
		if (cmsg->cmsg_level != SOL_TLS)
			continue;
		if (cmsg->cmsg_type != TLS_SET_RECORD_TYPE)
			return -EINVAL;
		if (cmsg->cmsg_len < CMSG_LEN(sizeof(*type)))
			return -EINVAL;
		/* A record of another type is always sent on its own. */
		if (msg->msg_flags & MSG_MORE)
			return -EINVAL;
		*type = *(u8 *)CMSG_DATA(cmsg);
		err = 0;
	}
	return err;
}

/* Socket locked, tx_lock held. Returns plaintext bytes taken or -errno. */
static int sendmsg_locked(struct sock *sk, struct oktls_ctx *ctx,
			  struct msghdr *msg)
{
	long timeo = sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT);
	bool more = msg->msg_flags & MSG_MORE;
	int flags = msg->msg_flags & MSG_DONTWAIT;
	struct oktls_tx *tx = ctx->tx;
	u8 type = OKTLS_TYPE_DATA;
	size_t copied = 0;
	int err;

	if (msg->msg_controllen) {
		err = parse_cmsg(msg, &type);
		if (err)
			return err;
	}
	if (tx->err)
		return tx->err;
	/* A reset's error comes first, as from TCP (which also shuts). */
	if (!sk->sk_err && (ctx->tx_shut || (sk->sk_shutdown & SEND_SHUTDOWN)))
		return -EPIPE;
	err = push_sealed(sk, ctx, flags);
	if (err)
		return err;
	/* Records of different types never share bytes. */
	if (tx->open.nr_frags && tx->open.type != type) {
		if (tx->open.plain_len) {
			err = seal_open(sk, ctx, flags);
			if (err)
				return err;
		}
		tx->open.type = type;
	}

	while (msg_data_left(msg)) {
		unsigned int room;
		int n;

		if (sk->sk_err) {
			err = -sk->sk_err;
			break;
		}
		if (tx->err) {
			err = tx->err;
			break;
		}
		/* shutdown() while this send slept: it ends at a record. */
		if (ctx->tx_shut) {
			err = -EPIPE;
			break;
		}
		if (tx_update_due(ctx)) {
			err = tx_key_update(sk, ctx, flags);
			if (err)
				break;
		}
		if (!sk_stream_memory_free(sk)) {
			/*
			 * Plaintext held for MSG_MORE counts as queued: if it
			 * is what fills the send buffer, waiting would wait
			 * for memory only it holds. Send it as a record now.
			 */
			if (tx->open.plain_len) {
				err = seal_open(sk, ctx, flags | MSG_MORE);
				if (err)
					break;
				continue;
			}
			err = sk_stream_wait_memory(sk, &timeo);
			if (err)
				break;
			continue;
		}
		/*
		 * A whole record (full, or the last one of a send without
		 * MSG_MORE) from user memory or spliced pages is sealed from
		 * those pages directly.
		 */
		if (!tx->open.nr_frags &&
		    (user_backed_iter(&msg->msg_iter) ||
		     iov_iter_is_bvec(&msg->msg_iter)) &&
		    (msg_data_left(msg) >= OKTLS_MAX_PLAINTEXT || !more)) {
			n = min_t(size_t, msg_data_left(msg), OKTLS_MAX_PLAINTEXT);
			err = seal_from_user(sk, tx, &msg->msg_iter, n, type);
			if (!err) {
				copied += n;
				err = push_sealed(sk, ctx, flags |
						  (msg_data_left(msg) || more ?
						   MSG_MORE : 0));
				if (err)
					break;
				continue;
			}
			/* Not taken: the send stops there, the socket works. */
			if (err != -EAGAIN)
				break;
			err = 0;
		}
		if (!tx->open.nr_frags) {
			err = rec_open(sk, tx, type);
			if (err)
				break;
		}
		room = OKTLS_MAX_PLAINTEXT - tx->open.plain_len;
		n = rec_fill(sk, &tx->open, &msg->msg_iter,
			     min_t(size_t, room, msg_data_left(msg)));
		if (n < 0) {
			err = n;
			if (n == -ENOMEM) {
				err = sk_stream_wait_memory(sk, &timeo);
				if (!err)
					continue;
			}
			break;
		}
		copied += n;
		if (tx->open.plain_len < OKTLS_MAX_PLAINTEXT &&
		    tx->open.nr_frags < OKTLS_REC_MAX_FRAGS - 1 &&
		    (msg_data_left(msg) || more))
			continue;
		err = seal_open(sk, ctx, flags |
				    (msg_data_left(msg) || more ? MSG_MORE : 0));
		if (err)
			break;
	}

	/* A send without MSG_MORE ends the open record, even an empty send. */
	if (!err && !more && tx->open.nr_frags && tx->open.plain_len)
		err = seal_open(sk, ctx, flags);
	if (copied)
		return copied;
	return err;
}

/**
 * oktls_tx_sendmsg() - proto->sendmsg once TLS_TX is set
 * @sk: the socket
 * @msg: plaintext, and an optional TLS_SET_RECORD_TYPE cmsg
 * @size: length of the plaintext
 *
 * Return: bytes taken, or a negative errno when none were.
 */
int oktls_tx_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)
{
	struct oktls_ctx *ctx = oktls_ctx(sk);
	int flags = msg->msg_flags;
	int ret;

	if (flags & ~TX_FLAGS)
		return -EOPNOTSUPP;
	if ((flags & MSG_EOR) && (flags & MSG_MORE))
		return -EINVAL;

	ret = mutex_lock_interruptible(&ctx->tx_lock);
	if (ret)
		return ret;
	lock_sock(sk);
	ret = sendmsg_locked(sk, ctx, msg);
	tx_send_fin(sk, ctx);
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
	if (ret < 0)
		ret = sk_stream_error(sk, flags, ret);
	return ret;
}

/**
 * oktls_tx_splice_eof() - a splice ended without more to come
 * @sock: the socket
 *
 * Seals what the splice left in the open record.
 */
void oktls_tx_splice_eof(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct oktls_ctx *ctx = oktls_ctx(sk);
	struct oktls_tx *tx = ctx->tx;

	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	if (!tx->err && !push_sealed(sk, ctx, MSG_DONTWAIT) &&
	    tx->open.plain_len)
		seal_open(sk, ctx, MSG_DONTWAIT);
	tx_send_fin(sk, ctx);
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
}

/*
 * TCP freed send space: push a sealed record it could not take before,
 * then a KeyUpdate owed, or the FIN shutdown() left waiting.
 */
static void tx_work(struct work_struct *work)
{
	struct oktls_ctx *ctx = container_of(work, struct oktls_ctx, tx_work);
	struct sock *sk = ctx->sk;

	mutex_lock(&ctx->tx_lock);
	lock_sock(sk);
	if (ctx->tx && !push_sealed(sk, ctx, MSG_DONTWAIT) && tx_update_due(ctx))
		tx_key_update(sk, ctx, MSG_DONTWAIT);
	if (ctx->tx)
		tx_send_fin(sk, ctx);
	release_sock(sk);
	mutex_unlock(&ctx->tx_lock);
}

/**
 * oktls_tx_shutdown() - proto_ops->shutdown once TLS_TX is set
 * @sock: the socket
 * @how: SHUT_RD, SHUT_WR or SHUT_RDWR
 *
 * TCP's shutdown queues its FIN behind the bytes TCP holds, but a record
 * sealed and counted as sent may still be partly here, and plaintext held
 * for MSG_MORE is not sealed yet: a FIN before them would cut the stream
 * mid-record. So sends end now (EPIPE) and the FIN follows the last
 * record, at once if TCP takes it, else when TCP frees space. Like TCP's,
 * this never waits: a sender that holds tx_lock (asleep for space) sends
 * the FIN when its send ends, at the next record boundary.
 *
 * Return: 0, or TCP's errno (-EINVAL, -ENOTCONN).
 */
int oktls_tx_shutdown(struct socket *sock, int how)
{
	struct sock *sk = sock->sk;
	struct oktls_ctx *ctx = oktls_ctx(sk);
	const struct proto_ops *base = ctx->sk_ops;
	bool hold, fin_waits;

	if (how != SHUT_WR && how != SHUT_RDWR)
		return base->shutdown(sock, how);
	lock_sock(sk);
	fin_waits = ctx->tx_shut && !(sk->sk_shutdown & SEND_SHUTDOWN);
	hold = !ctx->tx_shut && !(sk->sk_shutdown & SEND_SHUTDOWN) &&
	       ((1 << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT));
	if (hold)
		ctx->tx_shut = true;
	release_sock(sk);
	/* Nothing to hold back: TCP's own shutdown, errors included. */
	if (!hold && !fin_waits)
		return base->shutdown(sock, how);

	if (hold && mutex_trylock(&ctx->tx_lock)) {
		lock_sock(sk);
		tx_send_fin(sk, ctx);
		release_sock(sk);
		mutex_unlock(&ctx->tx_lock);
	} else if (hold) {
		/* The holder may be tx_work, already past its check. */
		schedule_work(&ctx->tx_work);
	}
	return how == SHUT_RDWR ? base->shutdown(sock, SHUT_RD) : 0;
}

/**
 * oktls_tx_request_update() - the peer asked for our KeyUpdate
 * @ctx: the context; the socket is locked (by the receive path)
 *
 * Answered before the next record a sender seals, or by the transmit
 * work when nobody sends (it takes tx_lock, which the receive path,
 * holding the socket lock, must not).
 */
void oktls_tx_request_update(struct oktls_ctx *ctx)
{
	WRITE_ONCE(ctx->tx_update_requested, true);
	schedule_work(&ctx->tx_work);
}

/* Softirq or process context; the context is freed only after RCU. */
static void tx_write_space(struct sock *sk)
{
	struct oktls_ctx *ctx;

	rcu_read_lock();
	ctx = rcu_dereference(inet_csk(sk)->icsk_ulp_data);
	if (ctx) {
		if (READ_ONCE(ctx->tx_pending))
			schedule_work(&ctx->tx_work);
		ctx->saved_write_space(sk);
	}
	rcu_read_unlock();
}

/**
 * oktls_tx_init() - start transmitting records with @keys
 * @sk: the socket, locked
 * @ctx: its context
 * @keys: the first key generation; owned by the socket on success
 *
 * Return: 0 or -ENOMEM.
 */
int oktls_tx_init(struct sock *sk, struct oktls_ctx *ctx,
		  struct oktls_keys *keys)
{
	struct oktls_tx *tx;

	/* Lengths in struct oktls_rec are u16; the struct fits a 2 KiB slab. */
	BUILD_BUG_ON(OKTLS_HEADER_SIZE + OKTLS_MAX_PLAINTEXT + 256 > U16_MAX);
	BUILD_BUG_ON(sizeof(struct oktls_tx) > 2048);
	tx = kzalloc(sizeof(*tx), GFP_KERNEL);
	if (!tx)
		return -ENOMEM;
	tx->keys = keys;
	WRITE_ONCE(ctx->stats.tx_gen, 0);
	WRITE_ONCE(ctx->stats.tx_seq, keys->seq);
	oktls_stats_inc(sk, OKTLS_MIB_TX_SW);
	oktls_stats_inc(sk, OKTLS_MIB_CURR_TX_SW);

	INIT_WORK(&ctx->tx_work, tx_work);
	write_lock_bh(&sk->sk_callback_lock);
	ctx->tx = tx;
	ctx->tx_conf = OKTLS_CONF_SW;
	ctx->saved_write_space = sk->sk_write_space;
	sk->sk_write_space = tx_write_space;
	oktls_ulp_update_prot(sk, ctx);
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

/**
 * oktls_tx_rekey() - seal the records that follow with the next keys
 * @sk: the socket, locked
 * @ctx: its context, tx_lock held
 * @keys: the next key generation, same version and cipher; owned by the
 *	socket on success
 *
 * Plaintext already taken (an open MSG_MORE record) belongs to the old
 * keys: it is sealed with them first, waiting for send space as a
 * blocking send would. A record already sealed is already on its way.
 *
 * Return: 0, or the error that kept the open record from being sealed
 * (the old keys then stay).
 */
int oktls_tx_rekey(struct sock *sk, struct oktls_ctx *ctx,
		   struct oktls_keys *keys)
{
	struct oktls_tx *tx = ctx->tx;
	int err;

	if (tx->open.plain_len) {
		if (tx->err)
			return tx->err;
		err = push_sealed(sk, ctx, 0);
		if (err)
			return err;
		err = seal_and_push(sk, ctx, MSG_DONTWAIT);
		if (err && err != -EAGAIN)
			return err;
	}
	tx_switch_keys(ctx, keys);
	return 0;
}

/* The default automatic rekey interval: well under RFC 8446 5.5's limits. */
static u64 default_rekey_records(const struct oktls_cipher *cipher)
{
	/* ChaCha20-Poly1305: the sequence number wraps first (5.5). */
	if (cipher->type == TLS_CIPHER_CHACHA20_POLY1305)
		return 1ULL << 40;
	/* AES-GCM's limit is 2^24.5 full records; CCM's is tighter. */
	return cipher->ccm ? 1ULL << 22 : 1ULL << 23;
}

/**
 * oktls_tx_set_secret() - follow (or stop following) key updates in kernel
 * @ctx: the context, socket locked and tx_lock held; TX keys are set
 * @secret: the current keys' traffic secret, or NULL; owned from here on
 */
void oktls_tx_set_secret(struct oktls_ctx *ctx, struct oktls_secret *secret)
{
	struct oktls_tx *tx = ctx->tx;

	oktls_secret_destroy(tx->secret);
	tx->secret = secret;
	if (secret && !tx->rekey_records)
		tx->rekey_records = default_rekey_records(secret->cipher);
}

/**
 * oktls_tx_set_rekey_records() - OKTLS_TX_REKEY_RECORDS
 * @ctx: the context, socket locked and tx_lock held
 * @records: send a KeyUpdate after this many records; 0: never
 *
 * Return: 0, or -EINVAL before TX keys are set.
 */
int oktls_tx_set_rekey_records(struct oktls_ctx *ctx, u64 records)
{
	if (!ctx->tx)
		return -EINVAL;
	/* 0 is never; the field's 0 means not chosen yet. */
	ctx->tx->rekey_records = records ?: U64_MAX;
	return 0;
}

/**
 * oktls_tx_release() - flush and free transmit state at close
 * @sk: the socket, locked
 * @ctx: its context
 *
 * Return: false when records could not be flushed; the caller then resets
 * the connection so the peer sees an error, never a silent truncation.
 */
bool oktls_tx_release(struct sock *sk, struct oktls_ctx *ctx)
{
	struct oktls_tx *tx = ctx->tx;
	bool flushed;

	if (!tx)
		return true;
	/* After the FIN, nothing: shutdown flushed before sending it. */
	if (sk->sk_shutdown & SEND_SHUTDOWN)
		flushed = !tx->open.plain_len && !tx->sealed.nr_frags;
	else
		flushed = tx_flush(sk, ctx, true);
	rec_release(sk, &tx->open);
	rec_release(sk, &tx->sealed);
	oktls_secret_destroy(tx->secret);
	oktls_keys_destroy(tx->keys);
	memzero_explicit(tx, sizeof(*tx));
	kfree(tx);
	ctx->tx = NULL;
	oktls_stats_add(sock_net(sk), OKTLS_MIB_CURR_TX_SW, -1);
	return flushed;
}

/**
 * oktls_tx_build_proto() - the transmit entry points of a proto
 * @p: a copy of the TCP proto
 */
void oktls_tx_build_proto(struct proto *p)
{
	p->sendmsg = oktls_tx_sendmsg;
	p->splice_eof = oktls_tx_splice_eof;
	oktls_proto_set_sendpage(p);
}
