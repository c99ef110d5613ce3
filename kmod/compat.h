/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the supported kernels (6.1 .. 6.12) lives here,
 * so the rest of oktls is written against the newest API only. Features are
 * detected from the target's headers in Kbuild, not from its version number,
 * because distributions backport.
 */
#ifndef _OKTLS_COMPAT_H
#define _OKTLS_COMPAT_H

#ifdef OKTLS_HAVE_PROTO_SENDPAGE
/*
 * Up to 6.4, splice and sendfile reach a socket through proto->sendpage and
 * TCP takes pages through do_tcp_sendpages(); 6.5 turned both into sendmsg
 * with MSG_SPLICE_PAGES.
 */
#include <linux/bvec.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <net/tcp.h>

/* Hand @len bytes of pages, from @skip into @bv, to TCP; socket locked. */
static inline int oktls_tcp_send_pages(struct sock *sk,
				       const struct bio_vec *bv,
				       unsigned int nr, size_t skip,
				       size_t len, int flags)
{
	size_t done = 0;
	int ret = 0;

	for (; nr && skip >= bv->bv_len; nr--, bv++)
		skip -= bv->bv_len;
	for (; nr && done < len; nr--, bv++, skip = 0) {
		size_t n = min_t(size_t, bv->bv_len - skip, len - done);
		int f = flags;

		if (done + n < len)
			f |= MSG_SENDPAGE_NOTLAST | MSG_MORE;
		ret = do_tcp_sendpages(sk, bv->bv_page, bv->bv_offset + skip,
				       n, f);
		if (ret <= 0)
			break;
		done += ret;
		if (ret < n)
			break;
	}
	return done ? done : ret;
}

int oktls_tx_sendmsg(struct sock *sk, struct msghdr *msg, size_t size);

static inline int oktls_compat_sendpage(struct sock *sk, struct page *page,
					int offset, size_t size, int flags)
{
	struct msghdr msg = {};
	struct bio_vec bvec;

	if (flags & MSG_SENDPAGE_NOTLAST)
		flags |= MSG_MORE;
	msg.msg_flags = flags & ~MSG_SENDPAGE_NOTLAST;
	bvec_set_page(&bvec, page, size, offset);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bvec, 1, size);
	return oktls_tx_sendmsg(sk, &msg, size);
}

static inline void oktls_proto_set_sendpage(struct proto *p)
{
	p->sendpage = oktls_compat_sendpage;
}

#else /* 6.5+ */

#include <linux/bvec.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <net/tcp.h>

static inline int oktls_tcp_send_pages(struct sock *sk,
				       const struct bio_vec *bv,
				       unsigned int nr, size_t skip,
				       size_t len, int flags)
{
	struct msghdr msg = { .msg_flags = flags | MSG_SPLICE_PAGES };

	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bv, nr, skip + len);
	iov_iter_advance(&msg.msg_iter, skip);
	return tcp_sendmsg_locked(sk, &msg, len);
}

static inline void oktls_proto_set_sendpage(struct proto *p) { }

#endif /* OKTLS_HAVE_PROTO_SENDPAGE */

#include <linux/fs.h>

/*
 * Splicing a socket through its read_iter (so through recvmsg): named
 * copy_splice_read() since 6.5, generic_file_splice_read() before.
 */
#ifdef OKTLS_HAVE_COPY_SPLICE_READ
#define oktls_splice_read_iter copy_splice_read
#else
#define oktls_splice_read_iter generic_file_splice_read
#endif

#endif /* _OKTLS_COMPAT_H */
