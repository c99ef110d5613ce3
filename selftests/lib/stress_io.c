// SPDX-License-Identifier: GPL-2.0
/* The worker threads of the race tests; see stress_io.h. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tls.h>

#include "lib/net.h"
#include "lib/stress_io.h"

#define BUF_SIZE	(72 << 10)
#define PIPE_MAX	65536		/* an empty pipe takes this much */
#define FILE_LEN	(STRESS_MOD * 700)

void stress_ctx_init(struct stress_ctx *ctx, const int *allowed)
{
	memset(ctx, 0, sizeof(*ctx));
	stress_fail_init(&ctx->fail);
	ctx->allowed = allowed;
}

static bool stopped(const int *flag)
{
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

/* The stream of class cls from position 0, for sendfile; made once. */
static int pat_file(int cls)
{
	static int fds[STRESS_CLASSES];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char path[] = "/tmp/oktls-stress-XXXXXX";
	uint8_t *buf;
	int fd;

	pthread_mutex_lock(&lock);
	if (!fds[cls]) {
		fd = mkstemp(path);
		buf = malloc(FILE_LEN);
		if (fd >= 0 && buf) {
			unlink(path);
			stress_pat_fill(buf, FILE_LEN, cls, 0);
			if (write(fd, buf, FILE_LEN) == FILE_LEN)
				fds[cls] = fd + 1;
		}
		free(buf);
	}
	pthread_mutex_unlock(&lock);
	return fds[cls] - 1;
}

int stress_worker_init(struct stress_worker *w, struct stress_ctx *ctx,
		       int fd, unsigned int methods, uint64_t seed,
		       bool ordered)
{
	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	w->fd = fd;
	w->methods = methods;
	w->rng = seed;
	w->flush = true;
	stress_seen_init(&w->seen, ordered);
	w->buf = malloc(BUF_SIZE);
	if (!w->buf || pipe(w->pipe))
		return errno ? errno : ENOMEM;
	if (pat_file(0) < 0 || pat_file(1) < 0)
		return EIO;
	return 0;
}

void stress_worker_free(struct stress_worker *w)
{
	free(w->buf);
	w->buf = NULL;
	if (w->pipe[0] > 0) {
		close(w->pipe[0]);
		close(w->pipe[1]);
	}
	w->pipe[0] = 0;
	w->pipe[1] = 0;
}

/* Mostly record-sized edges and small pieces, sometimes several records. */
static size_t rand_len(uint64_t *rng, size_t cap)
{
	size_t n;

	switch (wire_rand(rng) % 7) {
	case 0:
		n = 1 + wire_rand(rng) % 16;
		break;
	case 1:
		n = 1 + wire_rand(rng) % 1500;
		break;
	case 2:
		n = 16383 + wire_rand(rng) % 3;
		break;
	case 3:
		n = 1 + wire_rand(rng) % 70000;
		break;
	default:
		n = 1 + wire_rand(rng) % 8192;
		break;
	}
	return n < cap ? n : cap;
}

static int pick(uint64_t *rng, unsigned int methods, int num)
{
	int m;

	do
		m = wire_rand(rng) % num;
	while (!(methods & (1u << m)));
	return m;
}

/* Read exactly n bytes a splice put in the pipe (never blocks). */
static bool pipe_take(int fd, uint8_t *buf, size_t n)
{
	ssize_t r;

	while (n) {
		r = read(fd, buf, n);
		if (r <= 0)
			return false;
		buf += r;
		n -= r;
	}
	return true;
}

/* A call's result: what it returned, or -errno. */
static long res(long r)
{
	return r < 0 ? -errno : r;
}

/* A call failed with err: is that allowed here? */
static void check_errno(struct stress_worker *w, const char *what, int err)
{
	w->last_err = err;
	if (err == EAGAIN || stress_errno_in(err, w->ctx->allowed))
		return;
	stress_failf(&w->ctx->fail, "%s: %s failed: %s", w->t.name, what,
		     strerrorname_np(err) ?: "?");
}

static long send_splice(struct stress_worker *w, size_t len, bool more)
{
	ssize_t put, n = 0, done = 0;
	int err = 0;

	len = len < PIPE_MAX ? len : PIPE_MAX;
	stress_pat_fill(w->buf, len, w->cls, w->pos);
	put = write(w->pipe[1], w->buf, len);
	if (put <= 0)
		return -EIO;
	while (done < put) {
		n = splice(w->pipe[0], NULL, w->fd, NULL, put - done,
			   more ? SPLICE_F_MORE : 0);
		if (n <= 0) {
			err = n ? errno : EIO;
			break;
		}
		done += n;
	}
	/* What the socket did not take is not part of the stream. */
	if (done < put && !pipe_take(w->pipe[0], w->buf, put - done))
		return -EIO;
	return done ? done : -err;
}

static long send_once(struct stress_worker *w, int m)
{
	char cbuf[CMSG_SPACE(1)] __attribute__((aligned(8))) = {};
	size_t len = rand_len(&w->rng, BUF_SIZE), off, i;
	struct msghdr msg = { .msg_iov = NULL };
	int flags = MSG_NOSIGNAL, file;
	struct iovec iov[4];
	struct cmsghdr *cm;
	bool cmsg = false;
	off_t foff;

	switch (m) {
	case TXM_SENDFILE:
		w->t.op = "sendfile";
		file = pat_file(w->cls);
		len = len < FILE_LEN / 2 ? len : FILE_LEN / 2;
		foff = w->pos % STRESS_MOD + STRESS_MOD *
		       (wire_rand(&w->rng) % ((FILE_LEN - len) / STRESS_MOD - 1));
		return res(sendfile(w->fd, file, &foff, len));
	case TXM_SPLICE:
		w->t.op = "splice in";
		return send_splice(w, len, wire_rand(&w->rng) % 3 == 0);
	case TXM_CTRL:
		w->t.op = "sendmsg control";
		len = 1 + wire_rand(&w->rng) % 64;
		memset(w->buf, STRESS_CTRL, len);
		cmsg = true;
		break;
	case TXM_SENDMSG:
		w->t.op = "sendmsg";
		cmsg = wire_rand(&w->rng) % 4 == 0;
		if (!cmsg && wire_rand(&w->rng) % 2)
			flags |= MSG_MORE;
		break;
	case TXM_MORE:
		w->t.op = "send more";
		flags |= MSG_MORE;
		break;
	case TXM_DONTWAIT:
		w->t.op = "send dontwait";
		flags |= MSG_DONTWAIT | (wire_rand(&w->rng) % 2 ? MSG_MORE : 0);
		break;
	default:
		w->t.op = "send";
		break;
	}
	if (m != TXM_CTRL)
		stress_pat_fill(w->buf, len, w->cls, w->pos);
	if (m != TXM_SENDMSG && m != TXM_CTRL)
		return res(send(w->fd, w->buf, len, flags));

	/* Up to four pieces, some of them empty. */
	for (off = 0, i = 0; i < 4 && off < len; i++) {
		size_t n = i == 3 ? len - off : wire_rand(&w->rng) % (len - off + 1);

		iov[i] = (struct iovec){ .iov_base = w->buf + off, .iov_len = n };
		off += n;
	}
	if (off < len)
		iov[i - 1].iov_len += len - off;
	msg.msg_iov = iov;
	msg.msg_iovlen = i;
	if (cmsg) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_TLS;
		cm->cmsg_type = TLS_SET_RECORD_TYPE;
		cm->cmsg_len = CMSG_LEN(1);
		*CMSG_DATA(cm) = m == TXM_CTRL ? WIRE_TYPE_HANDSHAKE :
				 WIRE_TYPE_DATA;
	}
	return res(sendmsg(w->fd, &msg, flags));
}

void *stress_sender(void *arg)
{
	struct stress_worker *w = arg;
	struct stress_ctx *ctx = w->ctx;
	ssize_t n;
	size_t len;
	long ret;
	int m;

	while (!stopped(&ctx->stop) && !stopped(&ctx->halt)) {
		m = pick(&w->rng, w->methods, TXM_NUM);
		errno = 0;
		ret = send_once(w, m);
		w->iters++;
		stress_count(&ctx->errs, ret);
		if (ret > 0 && m == TXM_CTRL)
			w->ctrl += ret;
		else if (ret > 0)
			w->pos += ret;
		if (ret < 0) {
			check_errno(w, w->t.op, -ret);
			if (ret == -EBADF)
				return NULL;
			usleep(1000);
		}
	}
	/* Nothing is left open or unsent when the stream ends here. */
	len = 1 + wire_rand(&w->rng) % 100;
	while (w->flush && !stopped(&ctx->halt) && len) {
		w->t.op = "send flush";
		stress_pat_fill(w->buf, len, w->cls, w->pos);
		n = send(w->fd, w->buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			check_errno(w, w->t.op, errno);
			break;
		}
		if (n > 0) {
			w->pos += n;
			len -= n;
		}
	}
	w->t.op = "done";
	return NULL;
}

/*
 * One receive by method m. Returns bytes (and in *type the record type:
 * data unless a cmsg says otherwise) or -errno; *consumed is false for a
 * peek.
 */
static long recv_once(struct stress_worker *w, int m, int *type,
		      bool *consumed)
{
	char cbuf[CMSG_SPACE(8)] __attribute__((aligned(8)));
	size_t len = rand_len(&w->rng, BUF_SIZE), off, i;
	struct msghdr msg = { .msg_iov = NULL };
	struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
	int flags = 0, r;
	struct iovec iov[4];
	struct cmsghdr *cm;
	long n;

	*type = WIRE_TYPE_DATA;
	*consumed = true;
	switch (m) {
	case RXM_SPLICE:
		w->t.op = "splice out";
		len = len < PIPE_MAX ? len : PIPE_MAX;
		n = res(splice(w->fd, NULL, w->pipe[1], NULL, len,
			       wire_rand(&w->rng) % 2 ? SPLICE_F_NONBLOCK : 0));
		if (n > 0 && !pipe_take(w->pipe[0], w->buf, n))
			return -EIO;
		return n;
	case RXM_WAITALL:
		w->t.op = "recv waitall";
		return res(recv(w->fd, w->buf, len % 4096 + 1, MSG_WAITALL));
	case RXM_RECV:
		w->t.op = "recv";
		flags = wire_rand(&w->rng) % 3 ? 0 : MSG_DONTWAIT;
		return res(recv(w->fd, w->buf, len, flags));
	case RXM_POLL:
		w->t.op = "poll";
		r = poll(&pfd, 1, 200);
		if (r < 0)
			return -errno;
		if (!r)
			return -EAGAIN;
		flags = MSG_DONTWAIT;
		w->t.op = "recvmsg after poll";
		break;
	case RXM_PEEK:
		w->t.op = "recvmsg peek";
		flags = MSG_PEEK | (wire_rand(&w->rng) % 2 ? MSG_DONTWAIT : 0);
		*consumed = false;
		break;
	default:
		w->t.op = "recvmsg";
		break;
	}
	for (off = 0, i = 0; i < 4 && off < len; i++) {
		size_t k = i == 3 ? len - off : wire_rand(&w->rng) % (len - off + 1);

		iov[i] = (struct iovec){ .iov_base = w->buf + off, .iov_len = k };
		off += k;
	}
	if (off < len)
		iov[i - 1].iov_len += len - off;
	msg.msg_iov = iov;
	msg.msg_iovlen = i;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	n = res(recvmsg(w->fd, &msg, flags));
	/*
	 * A whole record was ready: someone else can only have peeked. (The
	 * stock module may say readable with only part of a record there.)
	 */
	if (m == RXM_POLL && n == -EAGAIN && w->seen.ordered &&
	    !(pfd.revents & (POLLERR | POLLHUP)) && !test_ulp_is_stock())
		stress_failf(&w->ctx->fail,
			     "%s: poll said readable (%#x), recvmsg EAGAIN",
			     w->t.name, pfd.revents);
	cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm && cm->cmsg_level == SOL_TLS &&
	    cm->cmsg_type == TLS_GET_RECORD_TYPE)
		*type = *CMSG_DATA(cm);
	return n;
}

void *stress_receiver(void *arg)
{
	struct stress_worker *w = arg;
	struct stress_ctx *ctx = w->ctx;
	bool consumed, ok;
	char why[256];
	int m, type;
	long n;

	while (!stopped(&ctx->halt)) {
		m = pick(&w->rng, w->methods, RXM_NUM);
		n = recv_once(w, m, &type, &consumed);
		w->iters++;
		stress_count(&ctx->errs, n);
		if (n == 0) {
			w->eof = true;
			break;
		}
		if (n < 0) {
			/* A control record at the head, read without a cmsg. */
			if ((n == -EIO && m != RXM_RECVMSG && m != RXM_PEEK &&
			     m != RXM_POLL) || (n == -EINVAL && m == RXM_SPLICE))
				continue;
			check_errno(w, w->t.op, -n);
			if (n == -EBADF)
				break;
			if (n != -EAGAIN)
				usleep(1000);
			continue;
		}
		if (type == WIRE_TYPE_DATA)
			ok = stress_seen_data(&w->seen, w->buf, n, consumed, why,
					      sizeof(why));
		else
			ok = type == WIRE_TYPE_HANDSHAKE &&
			     stress_seen_ctrl(&w->seen, w->buf, n, consumed,
					      why, sizeof(why));
		if (!ok) {
			stress_failf(&ctx->fail, "%s: %s: %s", w->t.name,
				     w->t.op, type == WIRE_TYPE_DATA ||
				     type == WIRE_TYPE_HANDSHAKE ? why :
				     "unexpected record type");
			__atomic_store_n(&ctx->halt, 1, __ATOMIC_RELEASE);
			break;
		}
	}
	w->t.op = "done";
	return NULL;
}

/* getsockopt(SOL_TLS) must give back what was set, with its key. */
static void check_info(struct stress_worker *w, int optname,
		       const struct wire_keys *k, bool full)
{
	union wire_crypto_info ci, want;
	socklen_t len;
	const struct wire_cipher *c;
	int r;

	w->t.op = optname == TLS_TX ? "getsockopt TLS_TX" : "getsockopt TLS_RX";
	len = k && full ? k->cipher->info_size : sizeof(struct tls_crypto_info);
	r = getsockopt(w->fd, SOL_TLS, optname, &ci, &len) ? errno : 0;
	if (r == EBADF || (!k && r == EBUSY))
		return;
	if (!k || r) {
		stress_failf(&w->ctx->fail, "%s: %s: %s", w->t.name, w->t.op,
			     r ? strerrorname_np(r) : "succeeded without keys");
		return;
	}
	c = k->cipher;
	wire_crypto_info(k, &want);
	if (ci.info.version != want.info.version ||
	    ci.info.cipher_type != want.info.cipher_type ||
	    (full && (memcmp((uint8_t *)&ci + c->key_off,
			     (uint8_t *)&want + c->key_off, c->key_size) ||
		      memcmp((uint8_t *)&ci + c->salt_off,
			     (uint8_t *)&want + c->salt_off, c->salt_size))))
		stress_failf(&w->ctx->fail, "%s: %s: not the keys that were set",
			     w->t.name, w->t.op);
}

/* A set or get whose answer is known; anything else fails the test. */
static void toggle_once(struct stress_worker *w)
{
	const struct wire_keys *k = w->tx ? w->tx : w->rx;
	unsigned int val = wire_rand(&w->rng) % 2, got = 2;
	int r, want = 0, opt, n;
	union wire_crypto_info ci;
	socklen_t len = sizeof(got);
	char name[16] = {};

	/* methods 1: buffer sizes too (only where no peer can block on them) */
	switch (wire_rand(&w->rng) % (w->methods ? 9 : 8)) {
	case 0:
		check_info(w, TLS_TX, w->tx, wire_rand(&w->rng) % 2);
		return;
	case 1:
		check_info(w, TLS_RX, w->rx, wire_rand(&w->rng) % 2);
		return;
	case 2:
		/*
		 * Keys once set stay (EBUSY) for TLS 1.2. TLS 1.3 keys may be
		 * replaced (a key update, as upstream since 6.14), but only by
		 * keys of the same version and cipher: the other version is
		 * refused (EINVAL) and the stream goes on. The stock module of
		 * these kernels predates key updates: EBUSY for both.
		 */
		opt = wire_rand(&w->rng) % 2 ? TLS_TX : TLS_RX;
		if (!(opt == TLS_TX ? w->tx : w->rx))
			return;
		w->t.op = "setsockopt TLS_TX/RX again";
		len = wire_crypto_info(opt == TLS_TX ? w->tx : w->rx, &ci);
		want = EBUSY;
		if (ci.info.version == TLS_1_3_VERSION) {
			ci.info.version = TLS_1_2_VERSION;
			want = test_ulp_is_stock() ? EBUSY : EINVAL;
		}
		r = setsockopt(w->fd, SOL_TLS, opt, &ci, len) ? errno : 0;
		break;
	case 3:
		w->t.op = "TLS_TX_ZEROCOPY_RO";
		r = setsockopt(w->fd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val,
			       sizeof(val)) ? errno : 0;
		if (!r)
			r = getsockopt(w->fd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &got,
				       &len) ? errno : 0;
		if (!r && got != val)
			r = ERANGE;
		break;
	case 4:
		w->t.op = "TLS_RX_EXPECT_NO_PAD";
		r = setsockopt(w->fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val,
			       sizeof(val)) ? errno : 0;
		want = k && k->version == TLS_1_3_VERSION && w->rx ? 0 : EINVAL;
		if (!r && !want)
			r = getsockopt(w->fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD,
				       &got, &len) ? errno : 0;
		if (!r && !want && got != val)
			r = ERANGE;
		break;
	case 5:
		w->t.op = "SIOCINQ/SIOCOUTQ";
		r = ioctl(w->fd, wire_rand(&w->rng) % 2 ? SIOCINQ : SIOCOUTQ,
			  &n) ? errno : 0;
		if (!r && n < 0)
			r = ERANGE;
		break;
	case 6:
		w->t.op = "getsockopt TCP_ULP";
		len = sizeof(name) - 1;
		r = getsockopt(w->fd, IPPROTO_TCP, TCP_ULP, name, &len) ? errno : 0;
		if (!r && strcmp(name, test_ulp()))
			r = ERANGE;
		break;
	case 7:
		w->t.op = "setsockopt TCP_ULP again";
		r = ulp_attach(w->fd, test_ulp()) ? errno : 0;
		want = EEXIST;
		break;
	default:
		/* Buffer sizes change what the record framer may take. */
		w->t.op = "SO_RCVBUF/SO_SNDBUF";
		n = 4096 << wire_rand(&w->rng) % 9;
		r = setsockopt(w->fd, SOL_SOCKET, wire_rand(&w->rng) % 2 ?
			       SO_RCVBUF : SO_SNDBUF, &n, sizeof(n)) ? errno : 0;
		break;
	}
	if (r != want && r != EBADF)
		stress_failf(&w->ctx->fail, "%s: %s: %s, expected %s", w->t.name,
			     w->t.op, r == ERANGE ? "wrong value" :
			     (r ? strerrorname_np(r) : "success"),
			     want ? strerrorname_np(want) : "success");
	w->last_err = r;
}

void *stress_toggler(void *arg)
{
	struct stress_worker *w = arg;

	while (!stopped(&w->ctx->halt) && w->last_err != EBADF) {
		toggle_once(w);
		w->iters++;
		if (w->iters % 8 == 0)
			usleep(500);
	}
	w->t.op = "done";
	return NULL;
}

void *stress_wire_reader(void *arg)
{
	struct stress_worker *w = arg;
	uint8_t *pt = malloc(WIRE_MAX_RECORD);
	char why[256];
	uint8_t type;
	size_t plen;
	ssize_t n;
	int err;

	while (pt && !stopped(&w->ctx->halt)) {
		w->t.op = "read record";
		n = wire_read_record(w->fd, w->buf, WIRE_MAX_RECORD);
		w->iters++;
		if (n <= 0) {
			w->eof = !n;
			if (n < 0)
				check_errno(w, "reading a record", errno);
			break;
		}
		err = wire_open(w->rx, w->buf, n, &type, pt, &plen);
		if (err) {
			stress_failf(&w->ctx->fail, "%s: record %lu: %s",
				     w->t.name, w->iters, wire_strerror(err));
			break;
		}
		if (type == WIRE_TYPE_DATA ?
		    !stress_seen_data(&w->seen, pt, plen, true, why, sizeof(why)) :
		    !stress_seen_ctrl(&w->seen, pt, plen, true, why, sizeof(why))) {
			stress_failf(&w->ctx->fail, "%s: record %lu: %s",
				     w->t.name, w->iters, why);
			break;
		}
	}
	free(pt);
	w->t.op = "done";
	return NULL;
}
