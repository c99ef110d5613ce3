// SPDX-License-Identifier: GPL-2.0
/*
 * Framing received records out of the TCP byte stream.
 *
 * Bytes are taken from TCP's receive queue into one record-sized buffer
 * as they arrive, header first, then exactly the body the header
 * announces. Taking them at once (not when a whole record is queued)
 * means a peer's record larger than the socket's receive window can never
 * stall the connection. Called with the socket owned or spin-locked by
 * TCP's receive path, never both at once.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <net/tcp.h>

#include "oktls.h"

/**
 * oktls_strp_init() - allocate the framing buffer for the largest record
 * @s: the framer
 * @p: the direction's record parameters
 *
 * Return: 0 or -ENOMEM.
 */
int oktls_strp_init(struct oktls_strp *s, const struct oktls_rec_params *p)
{
	s->size = OKTLS_HEADER_SIZE + oktls_rec_max_len(p);
	s->buf = kvmalloc(s->size, GFP_KERNEL);
	if (!s->buf)
		return -ENOMEM;
	s->len = 0;
	s->need = 0;
	return 0;
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

/**
 * oktls_strp_pull() - take bytes of the current record from TCP
 * @sk: the socket
 * @s: the framer
 * @p: the direction's record parameters
 *
 * Stops when the record is complete or TCP has no more bytes.
 *
 * Return: 0, or -EBADMSG / -EMSGSIZE for a malformed header.
 */
int oktls_strp_pull(struct sock *sk, struct oktls_strp *s,
		    const struct oktls_rec_params *p)
{
	read_descriptor_t desc = { .arg.data = s };
	int len;

	while (!oktls_strp_full(s)) {
		if (!s->need && s->len == OKTLS_HEADER_SIZE) {
			len = oktls_rec_parse_header(p, s->buf);
			if (len < 0)
				return len;
			s->need = OKTLS_HEADER_SIZE + len;
			continue;
		}
		desc.count = (s->need ? s->need : OKTLS_HEADER_SIZE) - s->len;
		desc.error = 0;
		if (tcp_inq(sk) <= 0 || tcp_read_sock(sk, &desc, strp_actor) <= 0)
			break;
		if (desc.error)
			return desc.error;
	}
	return 0;
}
