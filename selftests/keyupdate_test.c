// SPDX-License-Identifier: GPL-2.0
/*
 * In-kernel TLS 1.3 KeyUpdate (OKTLS_TX_SECRET, OKTLS_RX_SECRET,
 * OKTLS_TX_REKEY_RECORDS): one end of an OpenSSL TLS 1.3 connection is
 * handed to oktls by liboktls, which gives the kernel the traffic secrets;
 * the other end stays plain OpenSSL in userspace, the independent
 * implementation. The kernel must follow the peer's KeyUpdate without the
 * application (no EKEYEXPIRED, nothing to read), answer update_requested
 * with its own, and update its TX key every N records by itself. Counters
 * come from getsockopt(OKTLS_SOCK_STATS); what OpenSSL saw, from its
 * message callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "lib/net.h"
#include "lib/ossl_pair.h"
#include "../kmod/uapi/oktls.h"
#include "../userspace/lib/oktls.h"

#define WAIT_MS		20000	/* socket timeouts: a stall fails, never hangs */
#define TO_OKTLS	0x6b75746f6b746c73ULL	/* stream seeds per direction */
#define TO_PEER		0x6b75746f70656572ULL

FIXTURE(ku)
{
	int ofd;		/* offloaded by liboktls: the kernel's end */
	int pfd;		/* the peer's socket */
	SSL_CTX *octx, *pctx;
	SSL *peer;		/* plain OpenSSL: the independent end */
	struct pair_ku_count ku; /* KeyUpdates the peer wrote and read */
};

FIXTURE_VARIANT(ku)
{
	const char *suite;
	bool offload_server;	/* else the client is offloaded */
	unsigned int bulk_mib;	/* each way, in bulk_both_ways */
};

#define KU_VARIANT(n, s, srv, mib) \
	FIXTURE_VARIANT_ADD(ku, n) { .suite = s, .offload_server = srv, .bulk_mib = mib, };
KU_VARIANT(13_aes_gcm, "TLS_AES_128_GCM_SHA256", false, 16)
KU_VARIANT(13_aes_gcm_server, "TLS_AES_128_GCM_SHA256", true, 16)
KU_VARIANT(13_aes_gcm_256, "TLS_AES_256_GCM_SHA384", false, 16)
KU_VARIANT(13_aes_gcm_256_server, "TLS_AES_256_GCM_SHA384", true, 4)
KU_VARIANT(13_chacha, "TLS_CHACHA20_POLY1305_SHA256", false, 16)
KU_VARIANT(13_aes_ccm, "TLS_AES_128_CCM_SHA256", false, 16)

FIXTURE_SETUP(ku)
{
	struct oktls_result res = { 0 };
	int c, s, ret;
	SSL *o;

	self->ofd = self->pfd = -1;
	/* A failed peer shuts the socket: senders then see EPIPE, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	if (test_ulp_is_stock())
		SKIP(return, "in-kernel KeyUpdate is oktls's own (OKTLS_TX_SECRET)");
	ASSERT_EQ(0, tcp_pair(AF_INET, &c, &s));
	self->ofd = variant->offload_server ? s : c;
	self->pfd = variant->offload_server ? c : s;
	ASSERT_EQ(0, sock_timeouts(self->ofd, WAIT_MS, WAIT_MS));
	ASSERT_EQ(0, sock_timeouts(self->pfd, WAIT_MS, WAIT_MS));

	self->octx = pair_ctx13(variant->offload_server, variant->suite);
	self->pctx = pair_ctx13(!variant->offload_server, variant->suite);
	ASSERT_NE(NULL, self->octx);
	ASSERT_NE(NULL, self->pctx);
	ASSERT_EQ(0, oktls_ctx_prepare(self->octx));
	o = SSL_new(self->octx);
	self->peer = SSL_new(self->pctx);
	ASSERT_NE(NULL, o);
	ASSERT_NE(NULL, self->peer);
	SSL_set_fd(o, self->ofd);
	SSL_set_fd(self->peer, self->pfd);
	pair_count_key_updates(self->peer, &self->ku);
	ASSERT_EQ(0, variant->offload_server ? pair_handshake(o, self->peer) :
					       pair_handshake(self->peer, o));

	ret = oktls_offload(o, self->ofd, test_ulp(), &res);
	SSL_free(o);
	ASSERT_EQ(0, ret) TH_LOG("oktls_offload: %s", res.err);
	/* liboktls falls back to bare keys when the kernel refuses secrets. */
	ASSERT_TRUE(res.kernel_keyupdate)
		TH_LOG("kernel refused OKTLS_*_SECRET: no hmac of the suite's hash?");
	ASSERT_EQ(NULL, res.pending);
}

FIXTURE_TEARDOWN(ku)
{
	SSL_free(self->peer);
	SSL_CTX_free(self->octx);
	SSL_CTX_free(self->pctx);
	close(self->ofd);
	close(self->pfd);
}

static int get_stats(int fd, struct oktls_sock_stats *st)
{
	socklen_t len = sizeof(*st);

	memset(st, 0xa5, sizeof(*st));
	if (getsockopt(fd, SOL_TLS, OKTLS_SOCK_STATS, st, &len))
		return -errno;
	return len == sizeof(*st) ? 0 : -EMSGSIZE;
}

/* Wait until the TX generation reaches want; the generation last seen. */
static uint32_t wait_tx_gen(int fd, uint32_t want, int ms)
{
	long long end = now_ms() + ms;
	struct oktls_sock_stats st;

	for (;;) {
		if (get_stats(fd, &st))
			return UINT32_MAX;
		if (st.tx_gen >= want || now_ms() > end)
			return st.tx_gen;
		usleep(10000);
	}
}

/* Chunk sizes the peer writes with a KeyUpdate between each two. */
static const size_t chunks[] = { 1, 100, 4000, 16384, 20000, 3 };
#define NCHUNKS (sizeof(chunks) / sizeof(chunks[0]))
#define CHUNK_RECORDS 7		/* 20000 bytes take two records */

static size_t peer_write_with_updates(struct __test_metadata *_metadata,
				      SSL *peer, int type)
{
	size_t off = 0, i;

	for (i = 0; i < NCHUNKS; i++) {
		if (i)
			EXPECT_EQ(1, SSL_key_update(peer, type));
		EXPECT_EQ(0, pair_write_stream(peer, TO_OKTLS, off, chunks[i]));
		off += chunks[i];
	}
	return off;
}

/* After peer_write_with_updates() was read: the kernel followed each one. */
static void expect_followed(struct __test_metadata *_metadata, int fd,
			    const struct pair_ku_count *ku)
{
	struct oktls_sock_stats st;

	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ((int)NCHUNKS - 1, ku->sent);
	EXPECT_EQ(NCHUNKS - 1, st.rx_gen);
	EXPECT_EQ(NCHUNKS - 1, st.rx_rekeys);
	EXPECT_EQ(NCHUNKS - 1, st.rx_key_updates);
	/* Every KeyUpdate is a record too; the last chunk is gen 5's only. */
	EXPECT_EQ(CHUNK_RECORDS + NCHUNKS - 1, st.rx_records);
	EXPECT_EQ(1U, st.rx_seq);
	EXPECT_EQ(0U, st.decrypt_errors);
	EXPECT_EQ(0U, st.flags & OKTLS_STATS_F_RX_KEY_EXPIRED);
	/* update_not_requested: nothing to answer. */
	EXPECT_EQ(0U, st.tx_gen);
	EXPECT_EQ(0, ku->rcvd);
}

/* The peer's KeyUpdates are consumed in the kernel: plain recv() sees data. */
TEST_F_TIMEOUT(ku, recv_peer_updates, 60)
{
	size_t total = peer_write_with_updates(_metadata, self->peer,
					       SSL_KEY_UPDATE_NOT_REQUESTED);

	EXPECT_EQ(0, pair_recv_check(self->ofd, TO_OKTLS, 0, total, 1000, 0, false));
	expect_followed(_metadata, self->ofd, &self->ku);
}

/* One MSG_WAITALL read across every update, after a peek across them. */
TEST_F_TIMEOUT(ku, recv_waitall_peek_across_updates, 60)
{
	size_t total = peer_write_with_updates(_metadata, self->peer,
					       SSL_KEY_UPDATE_NOT_REQUESTED);

	EXPECT_EQ(0, pair_recv_check(self->ofd, TO_OKTLS, 0, total, total,
				     MSG_PEEK | MSG_WAITALL, false));
	EXPECT_EQ(0, pair_recv_check(self->ofd, TO_OKTLS, 0, total, total,
				     MSG_WAITALL, true));
	expect_followed(_metadata, self->ofd, &self->ku);
}

/* TLS_RX_EXPECT_NO_PAD opens data into the reader's buffer: not updates. */
TEST_F_TIMEOUT(ku, recv_updates_no_pad, 60)
{
	unsigned int one = 1;
	size_t total;

	ASSERT_EQ(0, setsockopt(self->ofd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one,
				sizeof(one)));
	total = peer_write_with_updates(_metadata, self->peer,
					SSL_KEY_UPDATE_NOT_REQUESTED);
	EXPECT_EQ(0, pair_recv_check(self->ofd, TO_OKTLS, 0, total, 65536, 0, true));
	expect_followed(_metadata, self->ofd, &self->ku);
}

/* update_requested, then the kernel's end sends: its KeyUpdate goes first. */
TEST_F_TIMEOUT(ku, answer_requested_update_on_send, 60)
{
	struct oktls_sock_stats st;
	int i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(1, SSL_key_update(self->peer, SSL_KEY_UPDATE_REQUESTED));
		ASSERT_EQ(0, pair_write_stream(self->peer, TO_OKTLS, 8 * i, 8));
		ASSERT_EQ(0, pair_recv_check(self->ofd, TO_OKTLS, 8 * i, 8, 8, 0, false));
		ASSERT_EQ(0, pair_send(self->ofd, TO_PEER, 8 * i, 8, 8));
		ASSERT_EQ(0, pair_read_check(self->peer, &self->ku, TO_PEER, 8 * i, 8));
		EXPECT_EQ(i + 1, self->ku.rcvd);
	}
	EXPECT_EQ(3, self->ku.sent_requested);
	/* The answer is update_not_requested (RFC 8446 4.6.3). */
	EXPECT_EQ(0, self->ku.rcvd_requested);
	ASSERT_EQ(0, get_stats(self->ofd, &st));
	EXPECT_EQ(3U, st.rx_gen);
	EXPECT_EQ(3U, st.tx_gen);
	EXPECT_EQ(3U, st.tx_rekeys);
	/* Each answer is the old key's last record: one pong under each key. */
	EXPECT_EQ(1U, st.tx_seq);
	EXPECT_EQ(6U, st.tx_records);

	/* Closed while the transmit work may still be answering. */
	ASSERT_EQ(1, SSL_key_update(self->peer, SSL_KEY_UPDATE_REQUESTED));
	ASSERT_EQ(0, pair_write_stream(self->peer, TO_OKTLS, 24, 1));
	ASSERT_EQ(0, pair_recv_check(self->ofd, TO_OKTLS, 24, 1, 1, 0, false));
	close(self->ofd);
	self->ofd = -1;
}

/*
 * The peer asks and the kernel's end only reads: the transmit work
 * answers without any send(), within a bounded time; later sends add no
 * second answer.
 */
TEST_F_TIMEOUT(ku, answer_requested_update_idle, 60)
{
	struct oktls_sock_stats st;
	char c;

	ASSERT_EQ(1, SSL_key_update(self->peer, SSL_KEY_UPDATE_REQUESTED));
	ASSERT_EQ(1, SSL_do_handshake(self->peer));	/* the KeyUpdate alone */
	ASSERT_EQ(1, poll(&(struct pollfd){ .fd = self->ofd, .events = POLLIN },
			  1, WAIT_MS));
	/* Readable, but the only record is the kernel's: nothing to read. */
	EXPECT_EQ(-1, recv(self->ofd, &c, 1, MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, get_stats(self->ofd, &st));
	EXPECT_EQ(1U, st.rx_key_updates);
	EXPECT_EQ(1U, st.rx_gen);

	EXPECT_EQ(1U, wait_tx_gen(self->ofd, 1, 5000))
		TH_LOG("update_requested not answered without a send");
	EXPECT_EQ(1, pair_await_key_update(self->peer, self->pfd, &self->ku, 1, 5000));
	EXPECT_EQ(0, self->ku.rcvd_requested);

	ASSERT_EQ(0, pair_write_stream(self->peer, TO_OKTLS, 0, 100));
	EXPECT_EQ(0, pair_recv_check(self->ofd, TO_OKTLS, 0, 100, 100, 0, false));
	ASSERT_EQ(0, pair_send(self->ofd, TO_PEER, 0, 5000, 1000));
	EXPECT_EQ(0, pair_read_check(self->peer, &self->ku, TO_PEER, 0, 5000));
	ASSERT_EQ(0, get_stats(self->ofd, &st));
	EXPECT_EQ(1U, st.tx_gen);
	EXPECT_EQ(1, self->ku.rcvd);
	EXPECT_EQ(0U, self->ku.first_rcvd_at);
}

/*
 * A request that arrives while the application holds an open record
 * (MSG_MORE): RFC 8446 4.6.3 wants the KeyUpdate before the next
 * application data record, and in any case it must not wait for a send
 * that may never come.
 */
TEST_F_TIMEOUT(ku, answer_requested_update_open_record, 60)
{
	struct oktls_sock_stats st;
	uint8_t buf[8];

	pair_fill(TO_PEER, 0, buf, sizeof(buf));
	ASSERT_EQ(4, send(self->ofd, buf, 4, MSG_MORE));
	ASSERT_EQ(1, SSL_key_update(self->peer, SSL_KEY_UPDATE_REQUESTED));
	ASSERT_EQ(0, pair_write_stream(self->peer, TO_OKTLS, 0, 1));
	ASSERT_EQ(0, pair_recv_check(self->ofd, TO_OKTLS, 0, 1, 1, 0, false));
	ASSERT_EQ(4, send(self->ofd, buf + 4, 4, 0));

	EXPECT_EQ(0, pair_read_check(self->peer, &self->ku, TO_PEER, 0, 8));
	EXPECT_EQ(1U, wait_tx_gen(self->ofd, 1, 2000))
		TH_LOG("update_requested still unanswered with the sender idle");
	EXPECT_EQ(1, pair_await_key_update(self->peer, self->pfd, &self->ku, 1, 2000));
	if (self->ku.rcvd)
		EXPECT_EQ(0U, self->ku.first_rcvd_at)
			TH_LOG("the KeyUpdate came after %llu bytes sealed after the request",
			       (unsigned long long)self->ku.first_rcvd_at);

	/* The next send carries the answer at the latest. */
	ASSERT_EQ(0, pair_send(self->ofd, TO_PEER, 8, 100, 100));
	EXPECT_EQ(0, pair_read_check(self->peer, &self->ku, TO_PEER, 8, 100));
	EXPECT_EQ(1, self->ku.rcvd);
	ASSERT_EQ(0, get_stats(self->ofd, &st));
	EXPECT_EQ(1U, st.tx_gen);
}

struct timed_recv {
	int fd;
	ssize_t ret;
	int err;
	long long ms;
	double cpu_ms;
};

static void *timed_recv_main(void *arg)
{
	struct timed_recv *r = arg;
	struct timespec c0, c1;
	long long t0 = now_ms();
	char buf[64];

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	r->ret = recv(r->fd, buf, sizeof(buf), 0);
	r->err = errno;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	r->ms = now_ms() - t0;
	r->cpu_ms = (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6;
	return NULL;
}

/*
 * A blocking recv() after a lone KeyUpdate sleeps like any other wait for
 * data: SO_RCVTIMEO ends it with EAGAIN.
 */
TEST_F_TIMEOUT(ku, recv_timeout_after_lone_update, 60)
{
	struct timed_recv r = { .fd = self->ofd };
	struct timespec deadline;
	pthread_t t;
	int late;

	ASSERT_EQ(1, SSL_key_update(self->peer, SSL_KEY_UPDATE_NOT_REQUESTED));
	ASSERT_EQ(1, SSL_do_handshake(self->peer));
	ASSERT_EQ(1, poll(&(struct pollfd){ .fd = self->ofd, .events = POLLIN },
			  1, WAIT_MS));
	ASSERT_EQ(0, sock_timeouts(self->ofd, 300, WAIT_MS));
	ASSERT_EQ(0, pthread_create(&t, NULL, timed_recv_main, &r));
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3;
	late = pthread_timedjoin_np(t, NULL, &deadline);
	if (late) {
		/* Data ends the wait so the test can report and finish. */
		EXPECT_EQ(0, pair_write_stream(self->peer, TO_OKTLS, 0, 4));
		pthread_join(t, NULL);
	}
	EXPECT_EQ(0, late)
		TH_LOG("recv() ignored SO_RCVTIMEO (300 ms) for 3 s after a lone KeyUpdate");
	EXPECT_EQ(-1, r.ret);
	EXPECT_EQ(EAGAIN, r.err);
	TH_LOG("recv returned %zd (%s) after %lld ms, %.0f ms of CPU", r.ret,
	       strerror(r.err), r.ms, r.cpu_ms);
	EXPECT_GT(r.ms / 2 + 50, r.cpu_ms) TH_LOG("recv() spun instead of sleeping");
}

struct auto_sender {
	int fd;
	int ok;
};

/*
 * Phase 1: 50 records of 1..16384 bytes, one send() each; phase 2: one
 * send() of 50 full records; phase 3: automatic updates off, 20 more.
 */
#define P1_RECORDS	50
#define P2_RECORDS	50
#define P3_RECORDS	20
#define REKEY_EVERY	3

static size_t p1_size(int i)
{
	return (size_t)i * 7919 % 16384 + 1;
}

static void *auto_sender_main(void *arg)
{
	struct auto_sender *a = arg;
	uint64_t off = 0, zero = 0;
	int i;

	for (i = 0; i < P1_RECORDS; i++) {
		if (pair_send(a->fd, TO_PEER, off, p1_size(i), 16384))
			return NULL;
		off += p1_size(i);
	}
	if (pair_send(a->fd, TO_PEER, off, P2_RECORDS * 16384, P2_RECORDS * 16384))
		return NULL;
	off += P2_RECORDS * 16384;
	if (setsockopt(a->fd, SOL_TLS, OKTLS_TX_REKEY_RECORDS, &zero,
		       sizeof(zero)))
		return NULL;
	if (pair_send(a->fd, TO_PEER, off, P3_RECORDS * 16384, P3_RECORDS * 16384))
		return NULL;
	a->ok = 1;
	return NULL;
}

/*
 * OKTLS_TX_REKEY_RECORDS = L: tx.c sends a KeyUpdate before sealing a
 * record once the current key has sealed L records; the KeyUpdate is the
 * old key's last record and does not count toward the new key. So T data
 * records under one limit carry floor((T - 1) / L) updates, and the last
 * key seals T - L * updates of them (then phase 3's, with updates off).
 */
TEST_F_TIMEOUT(ku, auto_rekey_every_n_records, 90)
{
	const uint64_t limit = REKEY_EVERY, t = P1_RECORDS + P2_RECORDS;
	const uint32_t updates = (t - 1) / limit;
	struct auto_sender a = { .fd = self->ofd };
	struct oktls_sock_stats st;
	uint64_t total = 0;
	pthread_t thr;
	int i;

	ASSERT_EQ(0, setsockopt(self->ofd, SOL_TLS, OKTLS_TX_REKEY_RECORDS,
				&limit, sizeof(limit)));
	for (i = 0; i < P1_RECORDS; i++)
		total += p1_size(i);
	total += (P2_RECORDS + P3_RECORDS) * 16384;
	ASSERT_EQ(0, pthread_create(&thr, NULL, auto_sender_main, &a));
	EXPECT_EQ(0, pair_read_check(self->peer, &self->ku, TO_PEER, 0, total));
	pthread_join(thr, NULL);
	ASSERT_TRUE(a.ok);

	ASSERT_EQ(0, get_stats(self->ofd, &st));
	EXPECT_EQ(updates, st.tx_gen);
	EXPECT_EQ(updates, st.tx_rekeys);
	EXPECT_EQ(t + P3_RECORDS + updates, st.tx_records);
	EXPECT_EQ(t - limit * updates + P3_RECORDS, st.tx_seq);
	EXPECT_EQ(updates, self->ku.rcvd);
	EXPECT_EQ(0, self->ku.rcvd_requested);
	EXPECT_EQ(0U, st.rx_gen);
}

/*
 * A KeyUpdate before every record, a small send buffer, sends that time
 * out (5 ms SO_SNDTIMEO) and are retried, and a slow reader: a KeyUpdate
 * TCP could not take at once must still go out whole, before the next
 * record, whatever the sender does meanwhile.
 */
TEST_F_TIMEOUT(ku, auto_rekey_with_send_timeouts, 120)
{
	struct pair_side tx = { .fd = self->ofd, .seed = TO_PEER, .len = 1 << 20 };
	const size_t piece = 16384;
	struct oktls_sock_stats st;
	uint64_t limit = 1, got;
	int sndbuf = 32768;
	pthread_t thr;
	int ret = 0;

	ASSERT_EQ(0, setsockopt(self->ofd, SOL_TLS, OKTLS_TX_REKEY_RECORDS,
				&limit, sizeof(limit)));
	ASSERT_EQ(0, setsockopt(self->ofd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				sizeof(sndbuf)));
	ASSERT_EQ(0, sock_timeouts(self->ofd, WAIT_MS, 5));
	ASSERT_EQ(0, pthread_create(&thr, NULL, pair_send_retry_main, &tx));
	for (got = 0; got < tx.len && !ret; got += piece) {
		ret = pair_read_check(self->peer, &self->ku, TO_PEER, got, piece);
		/* Longer than the timeout, shorter than two of them. */
		usleep(7500);
	}
	if (ret)
		shutdown(self->ofd, SHUT_RDWR);
	pthread_join(thr, NULL);
	EXPECT_EQ(0, ret) TH_LOG("the peer failed in bytes %llu..%llu of %llu",
				 (unsigned long long)got - piece,
				 (unsigned long long)got, (unsigned long long)tx.len);
	EXPECT_EQ(0, tx.err) TH_LOG("send: %s", strerror(tx.err));
	ASSERT_EQ(0, get_stats(self->ofd, &st));
	TH_LOG("%d sends cut short; kernel updates %u, peer saw %d", tx.retries,
	       st.tx_gen, self->ku.rcvd);
	/* The last one may still be on its way: due after the last record. */
	EXPECT_LE(st.tx_gen, (uint32_t)self->ku.rcvd + 1);
	EXPECT_LE((uint32_t)self->ku.rcvd, st.tx_gen);
	EXPECT_LE((uint32_t)(tx.len / piece - 1), st.tx_gen);
}

struct file_sender {
	int fd, in;
	size_t len, done;
	int err;
};

static void *sendfile_main(void *arg)
{
	struct file_sender *f = arg;
	off_t off = 0;
	ssize_t n;

	while (f->done < f->len) {
		n = sendfile(f->fd, f->in, &off, f->len - f->done);
		if (n <= 0) {
			f->err = n ? errno : EPIPE;
			break;
		}
		f->done += n;
	}
	return NULL;
}

/*
 * sendfile (spliced page-cache pages, sendpage on 6.1) under automatic
 * updates: whatever records it makes, the rule of the test above holds.
 */
TEST_F_TIMEOUT(ku, auto_rekey_sendfile, 90)
{
	struct file_sender f = { .fd = self->ofd, .len = 1 << 20 };
	const uint64_t limit = 3;
	struct oktls_sock_stats st;
	uint32_t data, want;
	pthread_t thr;
	uint8_t *buf;

	f.in = memfd_create("keyupdate", 0);
	ASSERT_LE(0, f.in);
	buf = malloc(f.len);
	ASSERT_NE(NULL, buf);
	pair_fill(TO_PEER, 0, buf, f.len);
	ASSERT_EQ((ssize_t)f.len, write(f.in, buf, f.len));
	free(buf);
	ASSERT_EQ(0, setsockopt(self->ofd, SOL_TLS, OKTLS_TX_REKEY_RECORDS,
				&limit, sizeof(limit)));
	ASSERT_EQ(0, pthread_create(&thr, NULL, sendfile_main, &f));
	EXPECT_EQ(0, pair_read_check(self->peer, &self->ku, TO_PEER, 0, f.len));
	pthread_join(thr, NULL);
	close(f.in);
	EXPECT_EQ(0, f.err) TH_LOG("sendfile: %s", strerror(f.err));

	ASSERT_EQ(0, get_stats(self->ofd, &st));
	data = st.tx_records - st.tx_gen;
	want = (data - 1) / limit;
	TH_LOG("%u data records, %u updates", data, st.tx_gen);
	EXPECT_EQ(want, (uint32_t)self->ku.rcvd);
	EXPECT_TRUE(st.tx_gen == want || (data % limit == 0 && st.tx_gen == want + 1));
}

/* splice() from the kernel's end reads across the peer's updates. */
TEST_F_TIMEOUT(ku, splice_peer_updates, 60)
{
	size_t total, got = 0;
	uint8_t *buf;
	ssize_t n;
	int p[2];

	total = peer_write_with_updates(_metadata, self->peer,
					SSL_KEY_UPDATE_NOT_REQUESTED);
	buf = malloc(total);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pipe(p));
	while (got < total) {
		/* The pipe is empty: one read takes all a splice put in. */
		n = splice(self->ofd, NULL, p[1], NULL, total - got, 0);
		if (n <= 0 || read(p[0], buf + got, n) != n)
			break;
		got += n;
	}
	EXPECT_EQ(total, got) TH_LOG("splice: %s", strerror(errno));
	EXPECT_EQ(total, pair_check(TO_OKTLS, 0, buf, total));
	close(p[0]);
	close(p[1]);
	free(buf);
	expect_followed(_metadata, self->ofd, &self->ku);
}

/*
 * Both directions at once: the peer updates its key every MiB (asking
 * for the kernel's on every other one), the kernel's end every 64
 * records on its own and whenever asked; a sender and a reader thread
 * share the kernel's socket.
 */
TEST_F_TIMEOUT(ku, bulk_both_ways, 240)
{
	/* A quarter on the debug kernel (KASAN, lockdep; kmemleak marks it). */
	uint64_t len = (uint64_t)variant->bulk_mib <<
		       (debug_kernel() ? 18 : 20);
	uint64_t limit = 64, zero = 0;
	struct pair_side tx = { .fd = self->ofd, .seed = TO_PEER, .len = len };
	struct pair_side rx = { .fd = self->ofd, .seed = TO_OKTLS, .len = len };
	struct pair_pump p = {
		.tx_len = len, .tx_seed = TO_OKTLS, .rx_len = len,
		.rx_seed = TO_PEER, .ku_every = 1 << 20, .ask_every_other = true,
		.idle_ms = WAIT_MS, .ku = &self->ku,
	};
	struct oktls_sock_stats st;
	long long t0 = now_ms();
	pthread_t ts, tr;
	uint32_t min_updates;
	int ret;

	ASSERT_EQ(0, setsockopt(self->ofd, SOL_TLS, OKTLS_TX_REKEY_RECORDS,
				&limit, sizeof(limit)));
	ASSERT_EQ(0, set_nonblock(self->pfd, true));
	ASSERT_EQ(0, pthread_create(&ts, NULL, pair_send_main, &tx));
	ASSERT_EQ(0, pthread_create(&tr, NULL, pair_recv_main, &rx));
	ret = pair_pump_run(self->peer, self->pfd, &p);
	if (ret)
		shutdown(self->ofd, SHUT_RDWR);	/* unblock the threads */
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	ASSERT_EQ(0, ret) TH_LOG("peer: %s", p.why);
	ASSERT_EQ(0, tx.err) TH_LOG("send: %s", strerror(tx.err));
	ASSERT_EQ(0, rx.err) TH_LOG("recv at %llu: %s",
				    (unsigned long long)rx.done,
				    rx.err < 0 ? "wrong bytes or EOF" : strerror(rx.err));
	EXPECT_EQ(0, memcmp(p.tx_sha, rx.sha, 32));
	EXPECT_EQ(0, memcmp(p.rx_sha, tx.sha, 32));

	/*
	 * Every update the kernel sent came before this byte: no more are
	 * due (the limit is off, every request was read before the data).
	 */
	ASSERT_EQ(0, setsockopt(self->ofd, SOL_TLS, OKTLS_TX_REKEY_RECORDS,
				&zero, sizeof(zero)));
	ASSERT_EQ(0, set_nonblock(self->pfd, false));
	ASSERT_EQ(0, pair_send(self->ofd, TO_PEER, len, 1, 1));
	ASSERT_EQ(0, pair_read_check(self->peer, &self->ku, TO_PEER, len, 1));
	ASSERT_EQ(0, get_stats(self->ofd, &st));
	TH_LOG("%llu KiB each way in %lld ms; peer updates %d, kernel updates %u",
	       (unsigned long long)len >> 10, now_ms() - t0, p.updates, st.tx_gen);
	EXPECT_EQ(p.updates, self->ku.sent);
	EXPECT_EQ((uint32_t)p.updates, st.rx_gen);
	EXPECT_EQ((uint32_t)p.updates, st.rx_key_updates);
	EXPECT_EQ(st.tx_gen, (uint32_t)self->ku.rcvd);
	EXPECT_EQ(0, self->ku.rcvd_requested);
	/*
	 * At most 64 records under one key, whatever else updated it: D data
	 * records before the marker carry at least floor((D - 1) / 64).
	 */
	min_updates = (st.tx_records - st.tx_gen - 2) / limit;
	EXPECT_LE(min_updates, st.tx_gen);
	EXPECT_EQ(0U, st.flags & OKTLS_STATS_F_RX_KEY_EXPIRED);
}

/* Refusals of the new options, on a bare socket with the ULP. */
FIXTURE(secret)
{
	int fd, peer;
	struct oktls_secret_info si;
};

FIXTURE_SETUP(secret)
{
	self->fd = self->peer = -1;
	if (test_ulp_is_stock())
		SKIP(return, "OKTLS_TX_SECRET is oktls's own");
	ASSERT_EQ(0, tcp_pair(AF_INET, &self->fd, &self->peer));
	ASSERT_EQ(0, ulp_attach(self->fd, test_ulp()));
	memset(&self->si, 0, sizeof(self->si));
	self->si.version = TLS_1_3_VERSION;
	self->si.cipher_type = TLS_CIPHER_AES_GCM_128;
	self->si.secret_len = 32;
	memset(self->si.secret, 0x5a, sizeof(self->si.secret));
}

FIXTURE_TEARDOWN(secret)
{
	close(self->fd);
	close(self->peer);
}

static int set_secret(int fd, int opt, const struct oktls_secret_info *si,
		      socklen_t len)
{
	return setsockopt(fd, SOL_TLS, opt, si, len) ? errno : 0;
}

#define SECRET_EINVAL(opt, si, len) \
	EXPECT_EQ(EINVAL, set_secret(self->fd, opt, si, len))

TEST_F(secret, refuse_bad_len)
{
	struct oktls_secret_info si = self->si;
	int opt;

	for (opt = OKTLS_TX_SECRET; opt <= OKTLS_RX_SECRET; opt++) {
		si.secret_len = 48;		/* SHA-256 suite */
		SECRET_EINVAL(opt, &si, sizeof(si));
		si.secret_len = 0;
		SECRET_EINVAL(opt, &si, sizeof(si));
		si.cipher_type = TLS_CIPHER_AES_GCM_256;
		si.secret_len = 32;		/* SHA-384 suite */
		SECRET_EINVAL(opt, &si, sizeof(si));
		si = self->si;
		SECRET_EINVAL(opt, &si, sizeof(si) - 1);
		SECRET_EINVAL(opt, &si, sizeof(si) + 8);
		SECRET_EINVAL(opt, NULL, sizeof(si));
	}
}

TEST_F(secret, refuse_version_reserved_cipher)
{
	static const uint16_t bad_ciphers[] = {
		0, 50, TLS_CIPHER_ARIA_GCM_128, TLS_CIPHER_ARIA_GCM_256, 9999,
	};
	struct oktls_secret_info si;
	unsigned int i;
	int opt;

	for (opt = OKTLS_TX_SECRET; opt <= OKTLS_RX_SECRET; opt++) {
		si = self->si;
		si.version = TLS_1_2_VERSION;
		SECRET_EINVAL(opt, &si, sizeof(si));
		si = self->si;
		si.reserved = 1;
		SECRET_EINVAL(opt, &si, sizeof(si));
		for (i = 0; i < sizeof(bad_ciphers) / sizeof(bad_ciphers[0]); i++) {
			si = self->si;
			si.cipher_type = bad_ciphers[i];
			SECRET_EINVAL(opt, &si, sizeof(si));
		}
	}
	/* Nothing was installed by any of them. */
	EXPECT_EQ(0, set_secret(self->fd, OKTLS_TX_SECRET, &self->si,
				sizeof(self->si)));
}

/* A TLS 1.2 direction has no key update: its keys stay (EBUSY). */
TEST_F(secret, refuse_over_tls12_keys)
{
	struct tls12_crypto_info_aes_gcm_128 ci = {
		.info = { .version = TLS_1_2_VERSION,
			  .cipher_type = TLS_CIPHER_AES_GCM_128 },
	};
	struct oktls_secret_info si = self->si;

	ASSERT_EQ(0, setsockopt(self->fd, SOL_TLS, TLS_TX, &ci, sizeof(ci)));
	ASSERT_EQ(0, setsockopt(self->fd, SOL_TLS, TLS_RX, &ci, sizeof(ci)));
	EXPECT_EQ(EBUSY, set_secret(self->fd, OKTLS_TX_SECRET, &si, sizeof(si)));
	EXPECT_EQ(EBUSY, set_secret(self->fd, OKTLS_RX_SECRET, &si, sizeof(si)));
}

TEST_F(secret, refuse_rekey_records_without_tx)
{
	uint64_t n = 3;
	uint32_t n32 = 3;

	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, OKTLS_TX_REKEY_RECORDS, &n,
				 sizeof(n)));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, set_secret(self->fd, OKTLS_RX_SECRET, &self->si,
				sizeof(self->si)));
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, OKTLS_TX_REKEY_RECORDS, &n,
				 sizeof(n)));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, set_secret(self->fd, OKTLS_TX_SECRET, &self->si,
				sizeof(self->si)));
	EXPECT_EQ(-1, setsockopt(self->fd, SOL_TLS, OKTLS_TX_REKEY_RECORDS, &n32,
				 sizeof(n32)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, setsockopt(self->fd, SOL_TLS, OKTLS_TX_REKEY_RECORDS, &n,
				sizeof(n)));
}

/* The second direction must match the first's version and cipher. */
TEST_F(secret, refuse_other_direction_mismatch)
{
	struct oktls_secret_info si = self->si;
	struct oktls_sock_stats st;
	socklen_t len = sizeof(st);

	ASSERT_EQ(0, getsockopt(self->fd, SOL_TLS, OKTLS_SOCK_STATS, &st, &len));
	EXPECT_EQ(UINT32_MAX, st.tx_gen);
	EXPECT_EQ(UINT32_MAX, st.rx_gen);
	ASSERT_EQ(0, set_secret(self->fd, OKTLS_TX_SECRET, &si, sizeof(si)));
	si.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
	SECRET_EINVAL(OKTLS_RX_SECRET, &si, sizeof(si));
	si.cipher_type = TLS_CIPHER_AES_GCM_256;
	si.secret_len = 48;
	SECRET_EINVAL(OKTLS_RX_SECRET, &si, sizeof(si));
	EXPECT_EQ(0, set_secret(self->fd, OKTLS_RX_SECRET, &self->si,
				sizeof(self->si)));
	ASSERT_EQ(0, getsockopt(self->fd, SOL_TLS, OKTLS_SOCK_STATS, &st, &len));
	EXPECT_EQ(0U, st.tx_gen);
	EXPECT_EQ(0U, st.rx_gen);
}

TEST_HARNESS_MAIN
