// SPDX-License-Identifier: GPL-2.0
/* The random system call test's data calls; see fuzz.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tls.h>

#include "lib/fuzz.h"
#include "lib/net.h"

static int rand_flags(bool recv)
{
	static const int send_bits[] = { MSG_OOB, MSG_DONTROUTE, MSG_EOR,
		MSG_MORE, MSG_ZEROCOPY, MSG_WAITALL, MSG_CONFIRM, MSG_PEEK,
		MSG_FASTOPEN, MSG_DONTWAIT };
	static const int recv_bits[] = { MSG_OOB, MSG_PEEK, MSG_WAITALL,
		MSG_TRUNC, MSG_CMSG_CLOEXEC, MSG_DONTWAIT, MSG_ERRQUEUE,
		MSG_MORE };
	const int *bits = recv ? recv_bits : send_bits;
	int n = recv ? 8 : 10, flags = 0, i;

	/* Each flag now and then: most calls still get through. */
	for (i = 0; i < n; i++)
		if (one_in(12))
			flags |= bits[i];
	if (one_in(64))
		flags |= 1u << rnd_le(31);
	/* SIGPIPE is ignored: MSG_NOSIGNAL mostly, not always. */
	return flags | (recv || one_in(16) ? 0 : MSG_NOSIGNAL);
}

long fuzz_op_send(void)
{
	size_t len = fuzz_len();
	int flags = rand_flags(false), err;
	uint8_t *p;
	bool bad;
	long r;

	p = fuzz_buf(len, &bad);
	if (p && !bad)
		wire_rand_fill(&fz.rng, p, len < 256 ? len : 256);
	fuzz_log("send(%d, %s, %zu, %#x)", fz.fd, bad ? "bad" : "buf", len, flags);
	r = send(fz.fd, p, len, flags);
	err = errno;
	fuzz_check_efault(r, err, bad);
	if (r > (long)len)
		fuzz_failf("sent %ld of %zu bytes", r, len);
	return r < 0 ? -err : r;
}

/* Up to 8 iovecs in big; returns the total length. */
static size_t rand_iov(struct iovec *iov, size_t *n, bool *bad)
{
	size_t total = 0, i;
	bool b;

	*n = 1 + rnd_le(7);
	*bad = false;
	for (i = 0; i < *n; i++) {
		iov[i].iov_len = one_in(3) ? 0 : fuzz_len() / *n;
		iov[i].iov_base = fuzz_buf(iov[i].iov_len, &b);
		*bad |= b;
		total += iov[i].iov_len;
	}
	return total;
}

long fuzz_op_sendmsg(void)
{
	static const int levels[] = { SOL_TLS, SOL_TLS, SOL_SOCKET, IPPROTO_TCP,
				      SOL_IP, 12345 };
	uint8_t cbuf[256] __attribute__((aligned(8))) = {};
	struct msghdr msg = { .msg_iov = NULL };
	int flags = rand_flags(false), err, i;
	struct iovec iov[8];
	struct cmsghdr *cm;
	size_t total, n, clen;
	bool bad;
	long r;

	total = rand_iov(iov, &n, &bad);
	msg.msg_iov = iov;
	msg.msg_iovlen = n;
	for (i = rnd_le(3); i > 0; i--) {
		/* Mostly TLS_SET_RECORD_TYPE, of any length and content. */
		clen = one_in(3) ? rnd_le(16) : 1;
		if (msg.msg_controllen + CMSG_SPACE(clen) > sizeof(cbuf))
			break;
		cm = (struct cmsghdr *)(cbuf + msg.msg_controllen);
		cm->cmsg_level = levels[rnd() % 6];
		cm->cmsg_type = one_in(4) ? rnd_le(5) : TLS_SET_RECORD_TYPE;
		cm->cmsg_len = one_in(8) ? rnd_le(64) : CMSG_LEN(clen);
		memset(CMSG_DATA(cm), one_in(4) ? rnd() : 20 + rnd_le(4), clen);
		msg.msg_controllen += CMSG_SPACE(clen);
	}
	msg.msg_control = msg.msg_controllen ? cbuf : NULL;
	if (one_in(16) && msg.msg_controllen)
		msg.msg_controllen -= rnd_le(msg.msg_controllen);
	fuzz_log("sendmsg(%d, %zu iov %zu bytes%s, %zu control, %#x)", fz.fd, n,
		 total, bad ? " bad" : "", (size_t)msg.msg_controllen, flags);
	r = sendmsg(fz.fd, &msg, flags);
	err = errno;
	fuzz_check_efault(r, err, bad);
	if (r > (long)total)
		fuzz_failf("sent %ld of %zu bytes", r, total);
	return r < 0 ? -err : r;
}

long fuzz_op_recv(void)
{
	size_t len = fuzz_len();
	int flags = rand_flags(true), err;
	uint8_t *p;
	bool bad;
	long r;

	p = fuzz_buf(len, &bad);
	fuzz_log("recv(%d, %s, %zu, %#x)", fz.fd, bad ? "bad" : "buf", len, flags);
	r = recv(fz.fd, p, len, flags);
	err = errno;
	fuzz_check_efault(r, err, bad);
	if (r > (long)len)
		fuzz_failf("received %ld into %zu bytes", r, len);
	return r < 0 ? -err : r;
}

long fuzz_op_recvmsg(void)
{
	uint8_t cbuf[64] __attribute__((aligned(8)));
	struct msghdr msg = { .msg_iov = NULL };
	int flags = rand_flags(true), err;
	struct sockaddr_storage name;
	size_t total, n, clen;
	struct iovec iov[8];
	bool bad;
	long r;

	total = rand_iov(iov, &n, &bad);
	msg.msg_iov = iov;
	msg.msg_iovlen = n;
	clen = one_in(3) ? rnd_le(sizeof(cbuf)) : CMSG_SPACE(1);
	msg.msg_control = clen ? cbuf : NULL;
	msg.msg_controllen = clen;
	if (one_in(4)) {
		msg.msg_name = &name;
		msg.msg_namelen = sizeof(name);
	}
	fuzz_log("recvmsg(%d, %zu iov %zu bytes%s, %zu control, %#x)", fz.fd, n,
		 total, bad ? " bad" : "", clen, flags);
	r = recvmsg(fz.fd, &msg, flags);
	err = errno;
	fuzz_check_efault(r, err, bad);
	if (r > (long)total || msg.msg_controllen > clen)
		fuzz_failf("received %ld into %zu bytes, control %zu of %zu", r,
			   total, (size_t)msg.msg_controllen, clen);
	return r < 0 ? -err : r;
}

/*
 * A TLS 1.3 KeyUpdate sealed with the keys end fz.e sends with, which it
 * then replaces (its peer's proper RX keys follow, for fuzz_keys()).
 */
static ssize_t key_update(struct wire_keys *k, uint8_t *out, size_t size)
{
	uint8_t msg[5] = { 24, 0, 0, 1, rnd_le(1) };	/* update_requested */
	const struct wire_cipher *c = k->cipher;
	uint64_t seed = rnd();
	ssize_t n;

	n = wire_seal(k, WIRE_TYPE_HANDSHAKE, msg, sizeof(msg), 0, out, size);
	wire_keys_free(&fz.s->k[fz.e]);
	wire_keys_free(k);
	wire_keys_init(&fz.s->k[fz.e], TLS_1_3_VERSION, c->type, seed, 0);
	wire_keys_init(k, TLS_1_3_VERSION, c->type, seed, 0);
	return n;
}

/*
 * The peer writes what an oktls receiver must survive: raw bytes, a
 * header of any type, version and length with any body, a record sealed
 * with the right keys (sometimes damaged), or a KeyUpdate.
 */
long fuzz_op_garbage(void)
{
	static uint8_t pt[WIRE_MAX_PLAINTEXT], out[WIRE_MAX_RECORD + 4096];
	struct wire_keys *k;
	size_t len = 0, body;
	int kind, err;
	ssize_t n;
	long r;

	/* Mostly towards end 0, where the receive keys usually are. */
	fz.e = !one_in(4);
	fz.fd = fz.s->fd[fz.e];
	k = &fz.s->seal[fz.e];
	kind = rnd() % 10;
	if (kind >= 8 && k->version == TLS_1_3_VERSION) {
		n = key_update(k, out, sizeof(out));
		len = n > 0 ? (size_t)n : 0;
	} else if (kind < 4) {
		len = rnd_le(WIRE_MAX_PLAINTEXT - 64);
		wire_rand_fill(&fz.rng, pt, len < 64 ? len : 64);
		n = wire_seal(k, one_in(6) ? WIRE_TYPE_ALERT + rnd_le(2) :
			      WIRE_TYPE_DATA, pt, len,
			      k->version == TLS_1_3_VERSION && one_in(4) ?
			      rnd_le(32) : 0, out, sizeof(out));
		if (n > 0 && kind == 3)
			out[rnd_le(n - 1)] ^= 1 << rnd_le(7);
		len = n > 0 ? (size_t)n : 0;
	} else if (kind < 7) {
		out[0] = one_in(2) ? WIRE_TYPE_DATA : one_in(2) ? 20 + rnd_le(4) : rnd();
		out[1] = one_in(8) ? rnd() : 3;
		out[2] = one_in(8) ? rnd() : 3;
		len = one_in(2) ? rnd_le(20000) :
		      wire_overhead(k) - WIRE_HEADER_SIZE - 1 + rnd_le(2);
		if (one_in(3))
			len = wire_max_length(k) - 1 + rnd_le(2);
		out[3] = len >> 8;
		out[4] = len;
		body = one_in(2) ? len : rnd_le(len);
		wire_rand_fill(&fz.rng, out + WIRE_HEADER_SIZE, body < 256 ? body : 256);
		len = WIRE_HEADER_SIZE + body;
	} else {
		len = rnd_le(20000);
		wire_rand_fill(&fz.rng, out, len < 512 ? len : 512);
	}
	fuzz_log("peer writes %zu bytes of kind %d to slot %ld end %d", len,
		 kind, fz.s - fz.slots, fz.e);
	r = send(fz.fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL |
		 (one_in(32) ? MSG_OOB : 0));
	err = errno;
	return r < 0 ? -err : r;
}

long fuzz_op_splice(void)
{
	size_t len = fuzz_len();
	int flags = rnd() % 16 | (one_in(2) ? SPLICE_F_NONBLOCK : 0), err;
	long r;

	switch (rnd() % 3) {
	case 0:
		fuzz_log("splice(%d, pipe, %zu, %#x)", fz.fd, len, flags);
		r = splice(fz.fd, NULL, fz.pipefd[1], NULL, len, flags);
		break;
	case 1:
		if (write(fz.pipefd[1], fz.big, rnd_le(20000)) < 0 && errno != EAGAIN)
			return -errno;
		fuzz_log("splice(pipe, %d, %zu, %#x)", fz.fd, len, flags);
		r = splice(fz.pipefd[0], NULL, fz.fd, NULL, len, flags);
		break;
	default:
		fuzz_log("drain the pipe");
		r = read(fz.pipefd[0], fz.big, FUZZ_BIG);
		break;
	}
	err = errno;
	return r < 0 ? -err : r;
}

long fuzz_op_sendfile(void)
{
	off_t off = rnd_le(FUZZ_FILE_SIZE + 1000);
	size_t len = fuzz_len();
	bool no_off = one_in(4);
	long r;

	fuzz_log("sendfile(%d, file, %lld, %zu)", fz.fd, no_off ? -1LL :
		 (long long)off, len);
	r = sendfile(fz.fd, fz.file, no_off ? NULL : &off, len);
	return r < 0 ? -errno : r;
}

long fuzz_op_shutdown(void)
{
	int how = one_in(8) ? (int)rnd() : (int)rnd_le(2);

	fuzz_log("shutdown(%d, %d)", fz.fd, how);
	return shutdown(fz.fd, how) < 0 ? -errno : 0;
}

long fuzz_op_ioctl(void)
{
	static const unsigned long cmds[] = { SIOCINQ, SIOCOUTQ, SIOCOUTQNSD,
					      SIOCATMARK };
	unsigned long cmd = cmds[rnd() % 4];
	bool bad = one_in(16);
	int val = -1, *p = bad ? NULL : &val;
	long r;

	fuzz_log("ioctl(%d, %#lx, %s)", fz.fd, cmd, bad ? "NULL" : "&val");
	r = ioctl(fz.fd, cmd, p);
	if (!r && val < 0)
		fuzz_failf("ioctl %#lx gave %d", cmd, val);
	return r < 0 ? -errno : r;
}

long fuzz_op_poll(void)
{
	struct pollfd pfd[4];
	int n = 1 + rnd_le(3), i;
	long r;

	for (i = 0; i < n; i++) {
		pfd[i].fd = fz.slots[rnd() % FUZZ_SLOTS].fd[rnd_le(1)];
		pfd[i].events = rnd() & (POLLIN | POLLPRI | POLLOUT |
					 POLLRDHUP | POLLRDNORM | POLLWRNORM);
	}
	fuzz_log("poll(%d fds)", n);
	r = poll(pfd, n, one_in(8));
	for (i = 0; r > 0 && i < n; i++)
		if (pfd[i].revents & ~(pfd[i].events | POLLERR | POLLHUP | POLLNVAL))
			fuzz_failf("poll: %#x for events %#x", pfd[i].revents,
				   pfd[i].events);
	return r < 0 ? -errno : r;
}

long fuzz_op_errqueue(void)
{
	uint8_t cbuf[128] __attribute__((aligned(8)));
	struct iovec iov = { .iov_base = fz.big, .iov_len = 64 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };

	fuzz_log("recvmsg(%d, MSG_ERRQUEUE)", fz.fd);
	return recvmsg(fz.fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0 ? -errno : 0;
}
