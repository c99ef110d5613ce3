// SPDX-License-Identifier: GPL-2.0
/*
 * One connection under allocation failure: the model, the operations and
 * the verdict; see fault_conn.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/tls.h>

#include "lib/fault.h"
#include "lib/fault_conn.h"
#include "lib/net.h"

#define WAIT_MS		5000	/* longest wait for data that must come */
#define STALL_MS	2000	/* for data a send took without MSG_MORE */
#define TAIL_LEN	3000	/* the exchange that shows a socket usable */
#define STREAM_MAX	(FC_VOLUME_MAX + 2 * WIRE_MAX_PLAINTEXT + TAIL_LEN)

/* The connection, and what each side has seen of the other. */
struct sess {
	int tls, peer, file, pipe[2];
	struct wire_keys tx, rx;	/* tls's TX (peer opens), RX (peer seals) */
	unsigned int done;		/* FC_* steps in place */
	size_t len;			/* the operation's size */
	size_t tx_len, tx_seen;		/* taken by the tls socket; opened by peer */
	size_t rx_len, rx_read;		/* sealed by the peer; read by tls */
	bool more;			/* the last send left an open record */
	bool held;			/* data sent without MSG_MORE held back */
	bool tx_failed, rx_failed;	/* the verdict: failed cleanly */
	unsigned int errors;		/* ENOMEM returned by the calls */
	size_t lost;			/* bytes taken, then lost to a reset */
	uint8_t tx_type[STREAM_MAX], rx_type[STREAM_MAX];	/* per byte */
};

/* Allocated once (fc_init), so other tests linking this pay nothing. */
static struct sess *S;
static uint8_t *tx_pat, *rx_pat, *rec, *pt, *buf;
static struct wire_keys tx0, rx0;	/* at their first record */
static bool no_pad_opt;
static char fail_msg[512];

static int fail(const char *fmt, ...)
{
	va_list ap;

	if (!fail_msg[0]) {
		va_start(ap, fmt);
		vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * A call failed with e: allocation failure is the one reason allowed. The
 * stock module (OKTLS_TEST_ULP=tls, to check the test itself) aborts the
 * stream with EBADMSG when the AEAD fails, whatever the reason.
 */
static int call_err(const char *call, int e)
{
	S->errors++;
	if (e == ENOMEM || (e == EBADMSG && test_ulp_is_stock()))
		return e;
	return fail("%s: errno %d (%s), expected ENOMEM", call, e, strerror(e));
}

static bool write_all(int fd, const void *p, size_t len)
{
	ssize_t n;

	for (; len; len -= n, p = (const uint8_t *)p + n) {
		n = write(fd, p, len);
		if (n <= 0)
			return false;
	}
	return true;
}

/* The peer seals len bytes of type into one record and writes it. */
static int peer_put(uint8_t type, size_t len)
{
	ssize_t n = wire_seal(&S->rx, type, rx_pat + S->rx_len, len, 0, rec,
			      WIRE_MAX_RECORD);

	if (n < 0 || !write_all(S->peer, rec, n))
		return fail("peer cannot write a record: %s", strerror(errno));
	memset(S->rx_type + S->rx_len, type, len);
	S->rx_len += len;
	return 0;
}

/* What tls read (n bytes of type) must be the next of what the peer sent. */
static int rx_check(const uint8_t *p, size_t n, int type, bool peek)
{
	size_t i;

	if (n > S->rx_len - S->rx_read)
		return fail("recv: %zu bytes, only %zu sent", n,
			    S->rx_len - S->rx_read);
	if (memcmp(p, rx_pat + S->rx_read, n))
		return fail("recv: wrong bytes at stream offset %zu", S->rx_read);
	/* No cmsg (a plain recv) means data. */
	if (type < 0)
		type = WIRE_TYPE_DATA;
	for (i = 0; i < n; i++)
		if (S->rx_type[S->rx_read + i] != type)
			return fail("recv: type %d for bytes of type %d at %zu",
				    type, S->rx_type[S->rx_read + i], S->rx_read + i);
	if (!peek)
		S->rx_read += n;
	return 0;
}

/* One recvmsg on tls, with room for the record type cmsg if cmsg. */
static ssize_t tls_recv(size_t len, int flags, bool cmsg, int *type)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cmsg ? cbuf : NULL,
		.msg_controllen = cmsg ? sizeof(cbuf) : 0,
	};
	struct cmsghdr *cm;
	ssize_t n;

	n = FAULT(recvmsg(S->tls, &msg, flags));
	*type = -1;
	cm = n > 0 && cmsg ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm && cm->cmsg_level == SOL_TLS &&
	    cm->cmsg_type == TLS_GET_RECORD_TYPE)
		*type = *CMSG_DATA(cm);
	return n;
}

/*
 * Read on tls until the stream is read up to target. Returns 0, the errno
 * of a failed recv (for the caller to judge), or -1 (wrong data).
 */
static int rx_until(size_t target, bool cmsg)
{
	int type;
	ssize_t n;

	while (S->rx_read < target) {
		n = tls_recv(target - S->rx_read, 0, cmsg, &type);
		if (n < 0)
			return errno;
		if (!n)
			return fail("recv: end of stream with %zu bytes unread",
				    target - S->rx_read);
		if (rx_check(buf, n, type, false))
			return -1;
	}
	return 0;
}

/* The calls of an operation: an error returned is judged, then it ends. */
static int rx_op(size_t target, bool cmsg)
{
	int err = rx_until(target, cmsg);

	if (err > 0)
		err = call_err("recv", err);
	return err < 0 ? -1 : 0;
}

static void tx_taken(size_t n, uint8_t type, bool more)
{
	memset(S->tx_type + S->tx_len, type, n);
	S->tx_len += n;
	S->more = more;
}

/* send() len bytes of the TX stream: 0, ENOMEM, or -1. */
static int tx_send(size_t len, int flags)
{
	ssize_t n;

	while (len) {
		n = FAULT(send(S->tls, tx_pat + S->tx_len, len, flags));
		if (n < 0)
			return call_err("send", errno);
		tx_taken(n, WIRE_TYPE_DATA, flags & MSG_MORE);
		len -= n;
	}
	return 0;
}

/* One sendmsg of a record of type (TLS_SET_RECORD_TYPE). */
static int tx_send_type(size_t len, uint8_t type)
{
	char cbuf[CMSG_SPACE(sizeof(type))] = {};
	struct iovec iov = { .iov_base = tx_pat + S->tx_len, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(type));
	*CMSG_DATA(cm) = type;
	n = FAULT(sendmsg(S->tls, &msg, 0));
	if (n < 0)
		return call_err("sendmsg with a record type", errno);
	tx_taken(n, type, false);
	return 0;
}

enum collect { GOT, END, RESET, TIMEOUT, BAD };

/*
 * The peer reads and opens records until the TX stream is seen up to
 * target, the connection ends, or nothing comes for ms.
 */
static enum collect peer_collect(size_t target, int ms)
{
	struct pollfd p = { .fd = S->peer, .events = POLLIN };
	size_t plen, i;
	uint8_t type;
	ssize_t n;
	int err;

	while (S->tx_seen < target) {
		if (poll(&p, 1, ms) != 1)
			return TIMEOUT;
		n = wire_read_record(S->peer, rec, WIRE_MAX_RECORD);
		if (!n)
			return END;
		if (n < 0 && errno == ECONNRESET)
			return RESET;
		if (n < 0 && errno == EAGAIN)
			return TIMEOUT;
		if (n < 0) {
			fail("peer: %s after %zu bytes", errno == EPROTO ?
			     "end of stream inside a record" : strerror(errno),
			     S->tx_seen);
			return BAD;
		}
		err = wire_open(&S->tx, rec, n, &type, pt, &plen);
		if (err) {
			fail("peer: record %llu: %s",
			     (unsigned long long)S->tx.seq, wire_strerror(err));
			return BAD;
		}
		if (plen > S->tx_len - S->tx_seen ||
		    memcmp(pt, tx_pat + S->tx_seen, plen)) {
			fail("peer: record %llu is not the bytes sent at %zu",
			     (unsigned long long)S->tx.seq - 1, S->tx_seen);
			return BAD;
		}
		for (i = 0; i < plen; i++) {
			if (S->tx_type[S->tx_seen + i] != type) {
				fail("peer: record of type %u for bytes of type %u",
				     type, S->tx_type[S->tx_seen + i]);
				return BAD;
			}
		}
		S->tx_seen += plen;
	}
	return GOT;
}

/* After an error: the socket keeps failing, at once, never blocking. */
static int fails_again(bool tx)
{
	long long t0 = now_ms();
	const char *what = tx ? "send" : "recv";
	int type;
	ssize_t n;

	n = tx ? send(S->tls, tx_pat, 1, MSG_DONTWAIT) :
		 tls_recv(1, MSG_DONTWAIT, true, &type);
	if (n >= 0)
		return fail("%s failed, then worked", what);
	if (errno == EAGAIN)
		return fail("%s failed, then would block", what);
	if (now_ms() - t0 > 1000)
		return fail("%s took %lld ms to fail", what, now_ms() - t0);
	return call_err(what, errno) < 0 ? -1 : 0;
}

/*
 * The verdict on a connection after its operations. Data a send took
 * without MSG_MORE reaches the peer with no further call; then a tail
 * goes each way, tls closes and the peer reads to the end. Usable: all
 * arrives, then FIN. Failed: calls fail, a prefix arrives, then a reset.
 */
static int sess_finish(void)
{
	struct pollfd p = {};
	bool held_err = false;
	size_t held_len = 0;
	enum collect c;
	int err;

	if (!S->more && S->tx_seen < S->tx_len) {
		c = peer_collect(S->tx_len, STALL_MS);
		if (c == BAD)
			return -1;
		S->held = c == TIMEOUT;
		held_len = S->tx_len - S->tx_seen;
		/* A socket that can no longer send must say so to pollers. */
		p.fd = S->tls;
		p.events = POLLOUT;
		held_err = S->held && poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
	}

	if (peer_put(WIRE_TYPE_DATA, TAIL_LEN))
		return -1;
	err = rx_until(S->rx_len, true);
	if (err < 0)
		return -1;
	if (err == EAGAIN)
		return fail("recv: %zu bytes the peer sent never came",
			    S->rx_len - S->rx_read);
	if (err && (call_err("recv", err) < 0 || fails_again(false)))
		return -1;
	S->rx_failed = err;

	err = tx_send(TAIL_LEN, 0);
	if (err < 0 || (err && fails_again(true)))
		return -1;
	S->tx_failed = err;
	/* Held back, then sent: a stall. Held back and lost: said at once. */
	if (S->held && !S->tx_failed)
		return fail("%zu bytes a send took without MSG_MORE went only with the next send",
			    held_len);
	if (S->held && !held_err)
		return fail("send reported %zu bytes sent (no MSG_MORE); none went out, the next send fails, and the socket never signalled it (no POLLERR): a reader waiting for the reply hangs",
			    held_len);

	close(S->tls);
	S->tls = -1;
	c = peer_collect(SIZE_MAX, WAIT_MS);
	if (c == BAD)
		return -1;
	if (c == TIMEOUT)
		return fail("peer: no end of stream nor reset after close (%zu of %zu bytes)",
			    S->tx_seen, S->tx_len);
	if (c == END && S->tx_seen != S->tx_len)
		return fail("peer: end of stream after %zu of %zu bytes sent",
			    S->tx_seen, S->tx_len);
	if (c == RESET && !S->tx_failed && !S->rx_failed)
		return fail("peer: reset by a socket that worked (%zu of %zu bytes)",
			    S->tx_seen, S->tx_len);
	S->lost += S->tx_len - S->tx_seen;
	return 0;
}

/* TLS_RX, and TLS_RX_EXPECT_NO_PAD if the variant has it. */
static int set_rx_keys(bool inject)
{
	int one = 1, err;

	/* From the first record: the peer may have sealed some already. */
	err = inject ? FAULT(wire_set_keys(S->tls, TLS_RX, &rx0)) :
		       wire_set_keys(S->tls, TLS_RX, &rx0);
	if (!err && no_pad_opt &&
	    setsockopt(S->tls, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one)))
		return fail("TLS_RX_EXPECT_NO_PAD: %s", strerror(errno));
	if (!err)
		S->done |= FC_RX;
	return err;
}

/* Whatever of attach, TLS_TX and TLS_RX pre asks and is not done yet. */
static int sess_complete(unsigned int pre)
{
	int err;

	if ((pre & FC_ULP) && !(S->done & FC_ULP)) {
		if (ulp_attach(S->tls, test_ulp()))
			return fail("TCP_ULP %s: %s", test_ulp(), strerror(errno));
		S->done |= FC_ULP;
	}
	if ((pre & FC_TX) && !(S->done & FC_TX)) {
		err = wire_set_keys(S->tls, TLS_TX, &tx0);
		if (err)
			return fail("TLS_TX: %s", strerror(err));
		S->done |= FC_TX;
	}
	if ((pre & FC_RX) && !(S->done & FC_RX)) {
		err = set_rx_keys(false);
		if (err)
			return fail("TLS_RX: %s", strerror(err));
	}
	return fail_msg[0] ? -1 : 0;
}

static int sess_open(unsigned int pre)
{
	int one = 1;

	memset(S, 0, offsetof(struct sess, tx_type));
	S->tls = S->peer = S->file = S->pipe[0] = S->pipe[1] = -1;
	S->tx = tx0;
	S->rx = rx0;
	if (tcp_pair(AF_INET, &S->tls, &S->peer))
		return fail("TCP pair: %s", strerror(errno));
	setsockopt(S->tls, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(S->peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sock_timeouts(S->tls, WAIT_MS, WAIT_MS);
	sock_timeouts(S->peer, WAIT_MS, WAIT_MS);
	return sess_complete(pre);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void sess_close(void)
{
	close_fd(&S->tls);
	close_fd(&S->peer);
	close_fd(&S->file);
	close_fd(&S->pipe[0]);
	close_fd(&S->pipe[1]);
}

/* The operations: each returns 0 (whatever the calls returned) or -1. */

static int op_attach(void)
{
	char b[4];

	if (!FAULT(ulp_attach(S->tls, test_ulp()))) {
		S->done |= FC_ULP;
		return 0;
	}
	if (call_err("TCP_ULP", errno) < 0)
		return -1;
	/* Still a plain TCP socket, both ways; then the retry works. */
	if (write(S->peer, "ping", 4) != 4 ||
	    recv(S->tls, b, 4, MSG_WAITALL) != 4 || memcmp(b, "ping", 4) ||
	    write(S->tls, "pong", 4) != 4 ||
	    recv(S->peer, b, 4, MSG_WAITALL) != 4 || memcmp(b, "pong", 4))
		return fail("plain TCP after a failed attach: %s", strerror(errno));
	return sess_complete(FC_ULP);
}

/* After a failed key install the direction has no keys at all. */
static int keys_unset(int optname, const char *name)
{
	struct tls_crypto_info info;
	socklen_t len = sizeof(info);

	if (!getsockopt(S->tls, SOL_TLS, optname, &info, &len) || errno != EBUSY)
		return fail("%s failed, then getsockopt: %s", name,
			    strerror(errno));
	return 0;
}

static int op_set_tx(void)
{
	int err = FAULT(wire_set_keys(S->tls, TLS_TX, &tx0));

	if (!err) {
		S->done |= FC_TX;
		return 0;
	}
	if (call_err("TLS_TX", err) < 0 || keys_unset(TLS_TX, "TLS_TX"))
		return -1;
	return sess_complete(FC_ULP | FC_TX);
}

/* A record waits in TCP before the keys, as after a handshake. */
static int op_set_rx(void)
{
	int err;

	if (peer_put(WIRE_TYPE_DATA, S->len))
		return -1;
	usleep(10000);
	err = set_rx_keys(true);
	if (!err)
		return fail_msg[0] ? -1 : 0;
	if (call_err("TLS_RX", err) < 0 || keys_unset(TLS_RX, "TLS_RX"))
		return -1;
	return sess_complete(FC_ALL);
}

/* TLS_TX_ZEROCOPY_RO and TLS_RX_EXPECT_NO_PAD (TLS 1.3 only, as upstream). */
static int op_options(void)
{
	unsigned int one = 1, no_pad = no_pad_opt;
	int ret;

	ret = FAULT(setsockopt(S->tls, SOL_TLS, TLS_TX_ZEROCOPY_RO, &one,
			       sizeof(one)));
	if (ret && (call_err("TLS_TX_ZEROCOPY_RO", errno) < 0 ||
		    setsockopt(S->tls, SOL_TLS, TLS_TX_ZEROCOPY_RO, &one,
			       sizeof(one))))
		return fail("TLS_TX_ZEROCOPY_RO: %s", strerror(errno));
	ret = FAULT(setsockopt(S->tls, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &no_pad,
			       sizeof(no_pad)));
	if (tx0.version == TLS_1_2_VERSION)
		return ret && errno == EINVAL ? 0 :
		       fail("TLS_RX_EXPECT_NO_PAD on TLS 1.2: %s, expected EINVAL",
			    ret ? strerror(errno) : "accepted");
	if (ret && (call_err("TLS_RX_EXPECT_NO_PAD", errno) < 0 ||
		    setsockopt(S->tls, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &no_pad,
			       sizeof(no_pad))))
		return fail("TLS_RX_EXPECT_NO_PAD: %s", strerror(errno));
	return 0;
}

static int op_send(void)
{
	return tx_send(S->len, 0) < 0 ? -1 : 0;
}

/* Three sends into records held open by MSG_MORE, the last ends them. */
static int op_send_more(void)
{
	size_t a = S->len / 2, b = S->len / 4;

	if (tx_send(a, MSG_MORE) || tx_send(b, MSG_MORE))
		return fail_msg[0] ? -1 : 0;
	return tx_send(S->len - a - b, 0) < 0 ? -1 : 0;
}

/* Open data (MSG_MORE), then a handshake record that must end it. */
static int op_send_type(void)
{
	if (tx_send(S->len / 2, MSG_MORE))
		return fail_msg[0] ? -1 : 0;
	return tx_send_type(S->len - S->len / 2, WIRE_TYPE_HANDSHAKE) < 0 ? -1 : 0;
}

static int op_sendfile(void)
{
	off_t off = 0;
	ssize_t n;

	close_fd(&S->file);
	S->file = memfd_create("fault", 0);
	if (S->file < 0 || !write_all(S->file, tx_pat + S->tx_len, S->len))
		return fail("file: %s", strerror(errno));
	while ((size_t)off < S->len) {
		n = FAULT(sendfile(S->tls, S->file, &off, S->len - off));
		if (n < 0)
			return call_err("sendfile", errno) < 0 ? -1 : 0;
		if (!n)
			return fail("sendfile: 0 at %lld of %zu", (long long)off,
				    S->len);
		tx_taken(n, WIRE_TYPE_DATA, false);
	}
	return 0;
}

static int op_splice_in(void)
{
	size_t done = 0;
	ssize_t n;
	int ret = 0;

	close_fd(&S->pipe[0]);
	close_fd(&S->pipe[1]);
	if (pipe2(S->pipe, 0) || !write_all(S->pipe[1], tx_pat + S->tx_len, S->len))
		return fail("pipe: %s", strerror(errno));
	while (done < S->len) {
		n = FAULT(splice(S->pipe[0], NULL, S->tls, NULL, S->len - done, 0));
		if (n <= 0) {
			ret = n ? call_err("splice to the socket", errno) :
				  fail("splice to the socket: 0");
			break;
		}
		tx_taken(n, WIRE_TYPE_DATA, false);
		done += n;
	}
	return ret < 0 ? -1 : 0;
}

/* Two small records; a plain recv (no cmsg) may return both. */
static int op_recv_small(void)
{
	bool other;

	if (peer_put(WIRE_TYPE_DATA, S->len / 3) ||
	    peer_put(WIRE_TYPE_DATA, S->len - S->len / 3))
		return -1;
	/* Without the cmsg only data can be read (EIO otherwise). */
	other = memchr(S->rx_type + S->rx_read, WIRE_TYPE_HANDSHAKE,
		       S->rx_len - S->rx_read);
	return rx_op(S->rx_len, other);
}

/* One record read into a buffer its size (the direct path). */
static int op_recv_record(void)
{
	if (peer_put(WIRE_TYPE_DATA, S->len))
		return -1;
	return rx_op(S->rx_len, true);
}

static int op_recv_peek(void)
{
	int type;
	ssize_t n;

	if (peer_put(WIRE_TYPE_DATA, S->len / 2) ||
	    peer_put(WIRE_TYPE_DATA, S->len - S->len / 2))
		return -1;
	n = tls_recv(S->rx_len - S->rx_read, MSG_PEEK, true, &type);
	if (n < 0)
		return call_err("recv MSG_PEEK", errno) < 0 ? -1 : 0;
	if (!n)
		return fail("recv MSG_PEEK: end of stream");
	if (rx_check(buf, n, type, true))
		return -1;
	return rx_op(S->rx_len, true);
}

/* A handshake record comes alone, with its type; then data. */
static int op_recv_type(void)
{
	if (peer_put(WIRE_TYPE_HANDSHAKE, S->len / 3) ||
	    peer_put(WIRE_TYPE_DATA, S->len - S->len / 3))
		return -1;
	return rx_op(S->rx_len, true);
}

static int op_splice_out(void)
{
	ssize_t n;

	/* Only data can be spliced: read what a sequence left first. */
	if (rx_op(S->rx_len, true))
		return -1;
	if (S->rx_read < S->rx_len)
		return 0;
	if (peer_put(WIRE_TYPE_DATA, S->len / 2) ||
	    peer_put(WIRE_TYPE_DATA, S->len - S->len / 2))
		return -1;
	close_fd(&S->pipe[0]);
	close_fd(&S->pipe[1]);
	if (pipe2(S->pipe, 0))
		return fail("pipe: %s", strerror(errno));
	while (S->rx_read < S->rx_len) {
		n = FAULT(splice(S->tls, NULL, S->pipe[1], NULL,
				 S->rx_len - S->rx_read, 0));
		if (n < 0)
			return call_err("splice from the socket", errno) < 0 ? -1 : 0;
		if (!n)
			return fail("splice from the socket: end of stream");
		if (read(S->pipe[0], buf, n) != n)
			return fail("pipe: %s", strerror(errno));
		if (rx_check(buf, n, WIRE_TYPE_DATA, false))
			return -1;
	}
	return 0;
}

#define OP(id, fn, p, l, t, r) \
	[FC_##id] = { #fn, op_##fn, p, l, t, r }

const struct fc_op fc_ops[FC_NOPS] = {
	OP(ATTACH, attach, 0, 0, false, false),
	OP(SET_TX, set_tx, FC_ULP, 0, false, false),
	OP(SET_RX, set_rx, FC_ULP | FC_TX, 500, false, true),
	OP(OPTIONS, options, FC_ALL, 0, false, false),
	OP(SEND_SMALL, send, FC_ALL, 100, true, false),
	OP(SEND_RECORDS, send, FC_ALL, 2 * WIRE_MAX_PLAINTEXT + 1000, true, false),
	/* 477: the last AEAD block straddles the TLS 1.3 trailer. */
	OP(SEND_MORE, send_more, FC_ALL, 477, true, false),
	OP(SEND_TYPE, send_type, FC_ALL, 1000, true, false),
	OP(SENDFILE, sendfile, FC_ALL, 20000, true, false),
	OP(SPLICE_IN, splice_in, FC_ALL, 20000, true, false),
	OP(RECV_SMALL, recv_small, FC_ALL, 300, false, true),
	OP(RECV_RECORD, recv_record, FC_ALL, WIRE_MAX_PLAINTEXT, false, true),
	OP(RECV_PEEK, recv_peek, FC_ALL, 6000, false, true),
	OP(RECV_TYPE, recv_type, FC_ALL, 500, false, true),
	OP(SPLICE_OUT, splice_out, FC_ALL, 20000, false, true),
};

int fc_run(const struct fc_op *const *seq, const size_t *lens, size_t n,
	   unsigned int pre, unsigned int nth, struct fc_tally *t,
	   bool *injected, unsigned int *left)
{
	size_t i;
	int ret;

	fail_msg[0] = '\0';
	ret = sess_open(pre);
	fault_note("fault_conn: %s%s N=%u\n", seq[0]->name, n > 1 ? "..." : "",
		   nth);
	fault_arm(nth);
	for (i = 0; !ret && i < n; i++) {
		S->len = lens[i];
		ret = seq[i]->run();
	}
	*injected = fault_disarm(left);
	if (!ret)
		ret = sess_complete(FC_ALL);
	if (!ret)
		ret = sess_finish();
	sess_close();
	if (!ret && !*injected && (S->tx_failed || S->rx_failed))
		ret = fail("failed with no fault injected");
	if (*injected) {
		t->injected++;
		if (S->tx_failed || S->rx_failed)
			t->failed++;
		else
			t->usable++;
	}
	t->errors += S->errors;
	t->lost += S->lost;
	t->held += S->held;
	t->tx_failed = S->tx_failed;
	t->rx_failed = S->rx_failed;
	t->last_lost = S->lost;
	return ret;
}

const char *fc_why(void)
{
	return fail_msg;
}

int fc_init(const struct wire_keys *tx, const struct wire_keys *rx,
	    bool no_pad, uint64_t seed)
{
	uint64_t st = seed;

	S = calloc(1, sizeof(*S));
	tx_pat = malloc(STREAM_MAX);
	rx_pat = malloc(STREAM_MAX);
	rec = malloc(WIRE_MAX_RECORD);
	pt = malloc(WIRE_MAX_RECORD);
	buf = malloc(STREAM_MAX);
	if (!S || !tx_pat || !rx_pat || !rec || !pt || !buf)
		return -1;
	wire_rand_fill(&st, tx_pat, STREAM_MAX);
	wire_rand_fill(&st, rx_pat, STREAM_MAX);
	tx0 = *tx;
	rx0 = *rx;
	no_pad_opt = no_pad;
	return 0;
}
