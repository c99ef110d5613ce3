// SPDX-License-Identifier: GPL-2.0
/*
 * Framing received records out of the TCP byte stream.
 *
 * A record is taken from TCP's receive queue into one record-sized buffer
 * once all of it has arrived: the header is peeked first to learn its
 * length. Leaving partial records in TCP keeps TCP's own wakeups right
 * (it wakes a reader only when SO_RCVLOWAT bytes are queued, so the tail
 * of a record taken early would never wake anyone). When TCP is short of
 * receive buffer, partial records are taken anyway, so a record larger
 * than the window can never stall the connection.
 *
 * Called with the socket owned, or spin-locked by TCP's receive path.
 *
 * The buffer is allocated when the first record arrives, not when keys
 * are set: a connection that is idle after its handshake costs no 16 KiB.
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
	s->size = OKTLS_HEADER_SIZE + oktls_rec_max_len(p);
	s->buf = NULL;
	s->len = 0;
	s->need = 0;
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
 * oktls_strp_pull() - take the current record from TCP once it is whole
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
	read_descriptor_t desc = { .arg.data = s };
	u8 hdr[OKTLS_HEADER_SIZE];
	unsigned int want;
	int inq, len;

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
		want = (s->need ? s->need : OKTLS_HEADER_SIZE) - s->len;
		if (!inq)
			break;
		/* Only under pressure: TCP then wakes readers regardless. */
		if (inq < want && !tcp_epollin_ready(sk, INT_MAX))
			break;
		if (strp_alloc(s, gfp))
			return -ENOMEM;
		desc.count = min_t(unsigned int, want, inq);
		desc.error = 0;
		if (tcp_read_sock(sk, &desc, strp_actor) <= 0)
			break;
		if (desc.error)
			return desc.error;
	}
	return 0;
}
