// SPDX-License-Identifier: GPL-2.0
/*
 * Framing received records out of the TCP byte stream.
 *
 * A record stays in TCP's receive queue until it is opened: the header is
 * peeked to learn its length, and once all of it has arrived the cipher
 * reads the ciphertext from TCP's own buffers, with no copy, and the
 * record is then consumed from TCP. Leaving records in TCP also keeps
 * TCP's own wakeups and window right (it wakes a reader only when
 * SO_RCVLOWAT bytes are queued, so the tail of a record taken early would
 * never wake anyone). When TCP is short of receive buffer, a partial
 * record is copied out into a record-sized buffer, so a record larger than
 * the window can never stall the connection; a whole record spread over
 * more pieces than the cipher's scatterlist holds is copied out too.
 *
 * Called with the socket owned, or spin-locked by TCP's receive path.
 *
 * The buffer is allocated the first time it is needed, not when keys are
 * set: a connection that is idle after its handshake costs no 16 KiB.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <net/tcp.h>

#include "oktls.h"

/**
 * oktls_strp_init() - set up the framer for the largest record
 * @s: the framer
 * @p: the direction's record parameters
 */
void oktls_strp_init(struct oktls_strp *s, const struct oktls_rec_params *p)
{
	memset(s, 0, sizeof(*s));
	s->size = OKTLS_HEADER_SIZE + oktls_rec_max_len(p);
}

/* Softirq gets no vmalloc: a failure there is retried in process context. */
static int strp_alloc(struct oktls_strp *s, gfp_t gfp)
{
	if (s->buf)
		return 0;
	if (gfpflags_allow_blocking(gfp))
		s->buf = kvmalloc(s->size, gfp);
	else
		s->buf = kmalloc(s->size, gfp | __GFP_NOWARN);
	return s->buf ? 0 : -ENOMEM;
}

/**
 * oktls_strp_release() - free the framing buffer
 * @s: the framer
 */
void oktls_strp_release(struct oktls_strp *s)
{
	kvfree(s->buf);
	s->buf = NULL;
}

static int strp_actor(read_descriptor_t *desc, struct sk_buff *skb,
		      unsigned int offset, size_t len)
{
	struct oktls_strp *s = desc->arg.data;
	size_t n = min_t(size_t, len, desc->count);

	if (skb_copy_bits(skb, offset, s->buf + s->len, n)) {
		desc->error = -EFAULT;
		return 0;
	}
	s->len += n;
	desc->count -= n;
	return n;
}

/*
 * Move up to @count bytes from TCP into the buffer, after what it holds.
 * Return: bytes moved (0: TCP had none), or the actor's error.
 */
static int strp_copy(struct sock *sk, struct oktls_strp *s, unsigned int count)
{
	read_descriptor_t desc = { .arg.data = s, .count = count };
	int done = 0, n;

	while (desc.count) {
		n = tcp_read_sock(sk, &desc, strp_actor);
		if (n <= 0)
			break;
		if (desc.error)
			return desc.error;
		done += n;
	}
	return done;
}

/* Copy @len bytes after what has been read, without reading them. */
static bool tcp_peek(struct sock *sk, u8 *buf, unsigned int len)
{
	u32 seq = READ_ONCE(tcp_sk(sk)->copied_seq);
	struct sk_buff *skb;

	if (!len)
		return true;
	skb_queue_walk(&sk->sk_receive_queue, skb) {
		u32 off = seq - TCP_SKB_CB(skb)->seq;
		unsigned int n;

		if (off >= skb->len)
			continue;
		n = min_t(unsigned int, len, skb->len - off);
		if (skb_copy_bits(skb, off, buf, n))
			return false;
		buf += n;
		len -= n;
		seq += n;
		if (!len)
			return true;
	}
	return false;
}

/**
 * oktls_strp_pull() - frame the current record once it is whole
 * @sk: the socket
 * @s: the framer
 * @p: the direction's record parameters
 * @gfp: for the buffer, the first time it is needed
 *
 * Return: 0, -ENOMEM (nothing taken; try again), or the error of a
 * malformed header: -EINVAL (version), -EMSGSIZE (too long), -EBADMSG
 * (too short, wrong outer type).
 */
int oktls_strp_pull(struct sock *sk, struct oktls_strp *s,
		    const struct oktls_rec_params *p, gfp_t gfp)
{
	u8 hdr[OKTLS_HEADER_SIZE];
	unsigned int want;
	int inq, len, n;

	while (!oktls_strp_full(s)) {
		inq = max(tcp_inq(sk), 0);
		if (!s->need && s->len + inq >= OKTLS_HEADER_SIZE) {
			if (s->len)
				memcpy(hdr, s->buf, s->len);
			if (!tcp_peek(sk, hdr + s->len,
				      OKTLS_HEADER_SIZE - s->len))
				break;
			len = oktls_rec_parse_header(p, hdr);
			if (len < 0)
				return len;
			s->need = OKTLS_HEADER_SIZE + len;
		}
		/* All of it in TCP, none taken: it is read from there. */
		if (s->need && !s->len && inq >= s->need) {
			if (!tcp_peek(sk, s->prefix, oktls_rec_prefix(p)))
				break;
			s->seq = READ_ONCE(tcp_sk(sk)->copied_seq);
			s->in_tcp = true;
			break;
		}
		want = (s->need ? s->need : OKTLS_HEADER_SIZE) - s->len;
		if (!inq)
			break;
		/* Only under pressure: TCP then wakes readers regardless. */
		if (inq < want && !tcp_epollin_ready(sk, INT_MAX))
			break;
		if (strp_alloc(s, gfp))
			return -ENOMEM;
		n = strp_copy(sk, s, min_t(unsigned int, want, inq));
		if (n < 0)
			return n;
		if (!n)
			break;
		if (oktls_strp_full(s))
			memcpy(s->prefix, s->buf, oktls_rec_prefix(p));
	}
	return 0;
}

/*
 * Describe @len bytes of @skb from @off in @sg, from entry *@n on; fails
 * with -EMSGSIZE rather than pass @max. The frag lists of GRO are followed
 * one level deep, as TCP's receive queue has them.
 */
static int skb_sg(struct sk_buff *skb, unsigned int off, unsigned int len,
		  struct scatterlist *sg, unsigned int max, unsigned int *n,
		  bool nested)
{
	unsigned int start = skb_headlen(skb), end, chunk, i;
	struct sk_buff *frag;

	if (off < start) {
		chunk = min(len, start - off);
		if (*n >= max)
			return -EMSGSIZE;
		sg_set_buf(&sg[(*n)++], skb->data + off, chunk);
		off += chunk;
		len -= chunk;
	}
	for (i = 0; len && i < skb_shinfo(skb)->nr_frags; i++) {
		skb_frag_t *f = &skb_shinfo(skb)->frags[i];

		end = start + skb_frag_size(f);
		if (off < end) {
			chunk = min(len, end - off);
			if (*n >= max)
				return -EMSGSIZE;
			sg_set_page(&sg[(*n)++], skb_frag_page(f), chunk,
				    skb_frag_off(f) + off - start);
			off += chunk;
			len -= chunk;
		}
		start = end;
	}
	skb_walk_frags(skb, frag) {
		int err;

		if (!len)
			break;
		end = start + frag->len;
		if (off < end) {
			if (nested)
				return -EMSGSIZE;
			chunk = min(len, end - off);
			err = skb_sg(frag, off - start, chunk, sg, max, n, true);
			if (err)
				return err;
			off += chunk;
			len -= chunk;
		}
		start = end;
	}
	return len ? -EMSGSIZE : 0;
}

/* The record's ciphertext as it lies in TCP's receive queue. */
static int tcp_sg(struct sock *sk, unsigned int off, unsigned int len,
		  struct scatterlist *sg, unsigned int max)
{
	u32 seq = READ_ONCE(tcp_sk(sk)->copied_seq) + off;
	struct sk_buff *skb;
	unsigned int n = 0;
	int err;

	skb_queue_walk(&sk->sk_receive_queue, skb) {
		u32 at = seq - TCP_SKB_CB(skb)->seq;
		unsigned int chunk;

		if (at >= skb->len)
			continue;
		chunk = min(len, skb->len - at);
		err = skb_sg(skb, at, chunk, sg, max, &n, false);
		if (err)
			return err;
		seq += chunk;
		len -= chunk;
		if (!len)
			return n;
	}
	return -EMSGSIZE;
}

/**
 * oktls_buf_sg() - describe a kmalloc'ed or vmalloc'ed buffer
 * @sg: the entries
 * @max: how many there are
 * @buf: the buffer
 * @len: its length
 *
 * Return: entries used.
 */
unsigned int oktls_buf_sg(struct scatterlist *sg, unsigned int max,
			  const u8 *buf, unsigned int len)
{
	unsigned int n = 0;

	if (!is_vmalloc_addr(buf)) {
		sg_set_buf(sg, buf, len);
		return 1;
	}
	while (len && n < max) {
		unsigned int off = offset_in_page(buf);
		unsigned int chunk = min_t(unsigned int, len, PAGE_SIZE - off);

		sg_set_page(&sg[n++], vmalloc_to_page(buf), chunk, off);
		buf += chunk;
		len -= chunk;
	}
	return n;
}

/*
 * A plain TCP read that began before TLS_RX was set can still take bytes
 * once it is: a record left in TCP is then no longer where it was framed,
 * and the stream is broken (as it would be had the bytes been copied).
 */
static bool strp_still_in_tcp(struct sock *sk, const struct oktls_strp *s)
{
	return READ_ONCE(tcp_sk(sk)->copied_seq) == s->seq &&
	       tcp_inq(sk) >= (int)s->need;
}

/**
 * oktls_strp_sg() - the whole record's ciphertext and tag for the cipher
 * @sk: the socket, owned
 * @s: the framer, holding a whole record
 * @p: the direction's record parameters
 * @sg: where to describe it (not initialised or ended here)
 * @max: entries at @sg
 *
 * A record in TCP in too many pieces is copied out into the buffer first.
 *
 * Return: entries used, -ENOMEM (nothing changed; try again), or -EBADMSG
 * when the record is no longer in TCP where it was framed.
 */
int oktls_strp_sg(struct sock *sk, struct oktls_strp *s,
		  const struct oktls_rec_params *p, struct scatterlist *sg,
		  unsigned int max)
{
	unsigned int off = oktls_rec_prefix(p), len = s->need - off;
	int n;

	if (s->in_tcp) {
		if (!strp_still_in_tcp(sk, s))
			return -EBADMSG;
		n = tcp_sg(sk, off, len, sg, max);
		if (n >= 0)
			return n;
		if (strp_alloc(s, GFP_KERNEL))
			return -ENOMEM;
		strp_copy(sk, s, s->need);
		s->in_tcp = false;
		if (s->len != s->need)
			return -EBADMSG;
	}
	return oktls_buf_sg(sg, max, s->buf + off, len);
}

/* Passes over what TCP hands it: the record was read in place. */
static int discard_actor(read_descriptor_t *desc, struct sk_buff *skb,
			 unsigned int offset, size_t len)
{
	size_t n = min_t(size_t, len, desc->count);

	desc->count -= n;
	return n;
}

/**
 * oktls_strp_consume() - the framed record is opened: move on
 * @sk: the socket, owned
 * @s: the framer
 *
 * A record read in place leaves TCP now, which frees its buffers and
 * reopens the window.
 */
void oktls_strp_consume(struct sock *sk, struct oktls_strp *s)
{
	read_descriptor_t desc = { .count = s->need };

	if (s->in_tcp && strp_still_in_tcp(sk, s)) {
		while (desc.count &&
		       tcp_read_sock(sk, &desc, discard_actor) > 0)
			;
	}
	s->in_tcp = false;
	s->len = 0;
	s->need = 0;
}
