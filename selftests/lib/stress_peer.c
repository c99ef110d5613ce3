// SPDX-License-Identifier: GPL-2.0
/* Peers and side threads of the race tests; see stress_peer.h. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tls.h>

#include "lib/net.h"
#include "lib/stress_peer.h"

/* Write in random pieces, so records straddle segments. */
static bool write_pieces(struct stress_peer *p, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(p->fd, buf, 1 + wire_rand(&p->rng) % len);
		if (n <= 0) {
			p->err = n ? errno : EIO;
			return false;
		}
		buf += n;
		len -= n;
	}
	return true;
}

/* Seal one random record: data of the stream, or a control record. */
static ssize_t seal_next(struct stress_peer *p, bool count)
{
	bool v13 = p->k->version == TLS_1_3_VERSION;
	bool ctrl = wire_rand(&p->rng) % 8 == 0;
	size_t len = ctrl ? 1 + wire_rand(&p->rng) % 64 :
		     1 + wire_rand(&p->rng) % (WIRE_MAX_PLAINTEXT - 32);
	ssize_t n;

	if (ctrl)
		memset(p->pt, STRESS_CTRL, len);
	else
		stress_pat_fill(p->pt, len, 0, p->data[0]);
	n = wire_seal(p->k, ctrl ? WIRE_TYPE_HANDSHAKE : WIRE_TYPE_DATA, p->pt,
		      len, v13 ? wire_rand(&p->rng) % 32 : 0, p->rec,
		      sizeof(p->rec));
	if (n > 0 && count)
		*(ctrl ? &p->ctrl : &p->data[0]) += len;
	return n;
}

static void write_garbage(struct stress_peer *p)
{
	size_t min = wire_overhead(p->k) - WIRE_HEADER_SIZE, max, len;
	ssize_t n = seal_next(p, false);

	if (n <= 0)
		return;
	max = wire_max_length(p->k);
	switch (p->garbage) {
	case G_HALF:
		n = 1 + wire_rand(&p->rng) % (n - 1);
		break;
	case G_FLIP:
		p->rec[WIRE_HEADER_SIZE + wire_rand(&p->rng) %
		       (n - WIRE_HEADER_SIZE)] ^= 1 << wire_rand(&p->rng) % 8;
		break;
	case G_VERSION:
		p->rec[1 + wire_rand(&p->rng) % 2] ^= 1 + wire_rand(&p->rng) % 255;
		break;
	case G_LONG:
		len = max + 1 + wire_rand(&p->rng) % (0xffff - max);
		p->rec[3] = len >> 8;
		p->rec[4] = len;
		n = WIRE_HEADER_SIZE + wire_rand(&p->rng) % 100;
		break;
	case G_SHORT:
		len = wire_rand(&p->rng) % min;
		p->rec[3] = 0;
		p->rec[4] = len;
		n = WIRE_HEADER_SIZE + len;
		break;
	default:
		n = WIRE_HEADER_SIZE + wire_rand(&p->rng) % 3000;
		wire_rand_fill(&p->rng, p->rec, n);
		break;
	}
	write_pieces(p, p->rec, n);
}

void *stress_peer_writer(void *arg)
{
	struct stress_peer *p = arg;
	long long until = now_ms() + 3000;
	ssize_t n;
	int i, q;

	for (i = 0; i < p->nrecs && !p->err; i++) {
		p->t.op = "write record";
		n = seal_next(p, true);
		if (n <= 0 || !write_pieces(p, p->rec, n))
			p->err = p->err ?: EIO;
	}
	/* Everything written is in the oktls end's receive queue. */
	p->t.op = "wait for acks";
	while (p->wait_acked && !p->err && now_ms() < until &&
	       !(p->acked = !ioctl(p->fd, SIOCOUTQ, &q) && !q))
		usleep(1000);
	p->t.op = "write garbage";
	if (p->garbage != G_NONE && !p->err)
		write_garbage(p);
	/* Records after garbage must never be read. */
	for (i = 0; p->garbage > G_HALF && i < 2 && !p->err; i++) {
		n = seal_next(p, false);
		if (n > 0)
			write_pieces(p, p->rec, n);
	}
	if (p->end == END_RESET)
		stress_reset_close(p->fd);
	else if (p->end == END_FIN)
		shutdown(p->fd, SHUT_WR);
	p->t.op = "done";
	return NULL;
}

void stress_peer_init(struct stress_peer *p, int fd, struct wire_keys *k,
		      uint64_t seed)
{
	memset(p, 0, offsetof(struct stress_peer, pt));
	p->fd = fd;
	p->k = k;
	p->rng = seed;
	p->t.name = "peer";
	sock_timeouts(fd, 0, 5000);
}

static void churn_check(struct stress_churn *ch, int i, const char *op, int err)
{
	stress_count(&ch->ctx->errs, -err);
	if (err && err != EAGAIN && !stress_errno_in(err, ch->ctx->allowed))
		stress_failf(&ch->ctx->fail, "pair %d: %s: %s", i, op,
			     strerrorname_np(err));
}

#define CHURN_CALL(ch, i, op, call) \
	churn_check(ch, i, op, (call) < 0 ? errno : 0)

void *stress_churn_fn(void *arg)
{
	struct stress_churn_thread *me = arg;
	struct stress_churn *ch = me->ch;
	uint8_t buf[2048], rec[512];
	int i, j, n, err, start;
	struct pollfd pfd;
	socklen_t len;

	start = me->rng % STRESS_CHURN;
	for (j = 0; me->role < 3 && j < STRESS_CHURN; j++) {
		/* Every pair once, in a different order for each thread. */
		i = (j * 5 + start) % STRESS_CHURN;
		switch (me->role) {
		case 0:
			me->t.op = "attach, keys";
			err = ulp_attach(ch->a[i], test_ulp()) ? errno : 0;
			churn_check(ch, i, "attach", err);
			if (!err)
				churn_check(ch, i, "TLS_TX",
					    wire_set_keys(ch->a[i], TLS_TX, &ch->k[i]));
			if (!err)
				churn_check(ch, i, "TLS_RX",
					    wire_set_keys(ch->a[i], TLS_RX, &ch->k[i]));
			break;
		case 1:
			me->t.op = "peer writes, closes";
			for (n = wire_rand(&me->rng) % 3; n > 0; n--) {
				wire_rand_fill(&me->rng, buf, 300);
				len = wire_seal(&ch->seal[i], WIRE_TYPE_DATA, buf,
						1 + wire_rand(&me->rng) % 300, 0,
						rec, sizeof(rec));
				CHURN_CALL(ch, i, "peer send",
					   send(ch->b[i], rec, len,
						MSG_DONTWAIT | MSG_NOSIGNAL));
			}
			usleep(wire_rand(&me->rng) % 1000);
			if (wire_rand(&me->rng) % 2)
				stress_reset_close(ch->b[i]);
			else
				close(ch->b[i]);
			break;
		default:
			me->t.op = "close";
			usleep(wire_rand(&me->rng) % 2000);
			close(ch->a[i]);
			break;
		}
	}
	/* The fourth thread does I/O on whatever state each socket is in. */
	while (me->role == 3 && !__atomic_load_n(&ch->ctx->halt, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < STRESS_CHURN; i++) {
			me->t.op = "recv, send, poll, getsockopt";
			CHURN_CALL(ch, i, "recv", recv(ch->a[i], buf, sizeof(buf),
						       MSG_DONTWAIT));
			CHURN_CALL(ch, i, "send", send(ch->a[i], buf, 100,
						       MSG_DONTWAIT | MSG_NOSIGNAL));
			pfd = (struct pollfd){ .fd = ch->a[i], .events = POLLIN | POLLOUT };
			CHURN_CALL(ch, i, "poll", poll(&pfd, 1, 0));
			len = sizeof(struct tls_crypto_info);
			CHURN_CALL(ch, i, "getsockopt TLS_RX",
				   getsockopt(ch->a[i], SOL_TLS, TLS_RX, buf, &len));
		}
	}
	me->t.op = "done";
	return NULL;
}

void *stress_prober_fn(void *arg)
{
	static const int ok[] = { EAGAIN, EIO, EBUSY, 0 };
	struct stress_prober *p = arg;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	socklen_t len;
	uint8_t buf[64];
	long r;

	while (!__atomic_load_n(&p->halt, __ATOMIC_ACQUIRE)) {
		p->t.op = "peek, poll, SIOCINQ, getsockopt";
		r = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
		if (r >= 0)
			r = poll(&pfd, 1, 0);
		if (r >= 0)
			r = inq_bytes(p->fd);
		len = sizeof(struct tls_crypto_info);
		if (r >= 0)
			r = getsockopt(p->fd, SOL_TLS, TLS_RX, buf, &len);
		stress_count(&p->ctx->errs, r < 0 ? -errno : 0);
		if (r < 0 && !stress_errno_in(errno, ok))
			stress_failf(&p->ctx->fail, "prober: %s",
				     strerrorname_np(errno));
	}
	return NULL;
}

void *stress_tx_keys_fn(void *arg)
{
	struct stress_prober *p = arg;

	usleep(wire_rand(&p->rng) % 3000);
	p->t.op = "setsockopt TLS_TX";
	p->err = wire_set_keys(p->fd, TLS_TX, p->tx);
	return NULL;
}
