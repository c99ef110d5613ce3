// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 key updates, and oktls's own counters and options, on a TCP pair
 * whose one end has oktls (TLS_TX and TLS_RX) and whose peer is the
 * independent record layer of lib/tls_wire.c (OpenSSL EVP): the peer
 * seals what oktls must open and checks byte for byte what oktls seals.
 *
 * Rekey follows upstream (Linux 6.14+, Documentation/networking/tls.rst
 * "TLS 1.3 Key Updates"); the stock modules of the kernels under test
 * predate it, and the counters, sock_diag nest and options are oktls's
 * own (kmod/uapi/oktls.h), so a ULP that is not oktls SKIPs.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "lib/net.h"
#include "lib/rekey.h"
#include "lib/tls_wire.h"

#define SEED		0x726b2d746c73ULL	/* "rk-tls" */
#define WAIT_MS		10000		/* no test waits longer for data */
#define GENS		5U		/* key updates per rekey test */
#define NO_GEN		0xffffffffU	/* oktls_sock_stats: no key set */
#define HIDE_KEYS	"/sys/module/oktls/parameters/hide_keys"
#define V13		TLS_1_3_VERSION

enum { DIR_RX, DIR_TX };	/* keys oktls opens with, keys it seals with */

static uint8_t wire[4 * WIRE_MAX_RECORD];	/* sealing scratch */

/* Keys of generation gen of one direction, in place of k's. */
static int gen_keys(struct wire_keys *k, uint16_t version, uint16_t cipher,
		    int dir, unsigned int gen, uint64_t seq)
{
	wire_keys_free(k);
	return wire_keys_init(k, version, cipher, SEED + 0x100 * dir + gen,
			      seq);
}

/* errno of a failed call, 0 if it succeeded. */
static int err_of(ssize_t ret)
{
	return ret < 0 ? errno : 0;
}

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	wire_rand_fill(&seed, buf, len);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* A lib/rekey.c check that must pass; it says why it did not. */
static char why[RK_WHY_SIZE];
#define CHECK(call) ASSERT_EQ(0, (call)) TH_LOG("%s", why)

FIXTURE(rk)
{
	int cfd;		/* the peer: plain TCP, EVP records */
	int sfd;		/* oktls with TLS_TX and TLS_RX */
	struct wire_keys rx;	/* the peer seals with these, oktls opens */
	struct wire_keys tx;	/* oktls seals, the peer opens with these */
	struct wire_keys ref;	/* tx again: re-seals to compare the bytes */
	bool hid;		/* hide_keys is Y and must be put back */
};

FIXTURE_VARIANT(rk)
{
	uint16_t cipher;
};

#define RK_VARIANTS(X)						\
	X(13_aes_gcm, TLS_CIPHER_AES_GCM_128)			\
	X(13_aes_gcm_256, TLS_CIPHER_AES_GCM_256)		\
	X(13_aes_ccm, TLS_CIPHER_AES_CCM_128)			\
	X(13_chacha, TLS_CIPHER_CHACHA20_POLY1305)		\
	X(13_sm4_gcm, TLS_CIPHER_SM4_GCM)			\
	X(13_sm4_ccm, TLS_CIPHER_SM4_CCM)

#define RK_VARIANT(n, c) FIXTURE_VARIANT_ADD(rk, n) { .cipher = c, };
RK_VARIANTS(RK_VARIANT)

FIXTURE_SETUP(rk)
{
	struct oktls_sock_stats st;
	const char *reason;
	char buf[160];
	int err;

	self->cfd = self->sfd = -1;
	err = gen_keys(&self->rx, V13, variant->cipher, DIR_RX, 0, 0);
	ASSERT_TRUE(!err || err == -ENOENT);
	gen_keys(&self->tx, V13, variant->cipher, DIR_TX, 0, 0);
	gen_keys(&self->ref, V13, variant->cipher, DIR_TX, 0, 0);
	/* A variant refused at probe time is not tried again. */
	err = wire_probed_errno(V13, variant->cipher);
	if (err > 0) {
		reason = wire_skip_reason(&self->rx, err, buf, sizeof(buf));
		if (reason)
			SKIP(return, "%s", reason);
	}
	ASSERT_EQ(0, rk_pair(&self->cfd, &self->sfd, WAIT_MS));
	err = rk_sock_stats(self->sfd, &st);
	if (err == ENOPROTOOPT)
		SKIP(return, "ULP %s is not oktls (no OKTLS_SOCK_STATS; the stock module has no rekey)",
		     test_ulp());
	ASSERT_EQ(0, err);
	err = wire_set_keys(self->sfd, TLS_RX, &self->rx);
	reason = wire_skip_reason(&self->rx, err, buf, sizeof(buf));
	if (reason)
		SKIP(return, "%s", reason);
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, wire_set_keys(self->sfd, TLS_TX, &self->tx));
}

FIXTURE_TEARDOWN(rk)
{
	if (self->hid)
		rk_write_str(HIDE_KEYS, "N");
	wire_keys_free(&self->rx);
	wire_keys_free(&self->tx);
	wire_keys_free(&self->ref);
	if (self->cfd >= 0)
		close(self->cfd);
	if (self->sfd >= 0)
		close(self->sfd);
}

/* Seal one record into out; its size (the test fails if it cannot). */
static size_t seal(struct __test_metadata *_metadata, struct wire_keys *k,
		   uint8_t type, const void *pt, size_t len, uint8_t *out)
{
	ssize_t n = wire_seal(k, type, pt, len, 0, out, WIRE_MAX_RECORD);

	ASSERT_LT(0, n);
	return n;
}

static size_t seal_key_update(struct __test_metadata *_metadata,
			      struct wire_keys *k, int req, uint8_t *out)
{
	ssize_t n = rk_seal_key_update(k, req, out, WIRE_MAX_RECORD);

	ASSERT_LT(0, n);
	return n;
}

/* Set TLS_RX to generation gen (rec_seq 0): the pause is over. */
static void rx_rekey(struct __test_metadata *_metadata, int fd,
		     uint16_t cipher, unsigned int gen)
{
	struct oktls_sock_stats st;
	struct wire_keys k = { 0 };

	gen_keys(&k, V13, cipher, DIR_RX, gen, 0);
	ASSERT_EQ(0, wire_set_keys(fd, TLS_RX, &k));
	wire_keys_free(&k);
	ASSERT_EQ(0, rk_sock_stats(fd, &st));
	EXPECT_EQ(0U, st.flags & OKTLS_STATS_F_RX_KEY_EXPIRED);
	EXPECT_EQ(gen, st.rx_gen);
	EXPECT_EQ(0U, st.rx_seq);
}

/* Both sides move to TX generation gen from rec_seq seq. */
static void tx_gen(FIXTURE_DATA(rk) *self, uint16_t cipher, unsigned int gen,
		   uint64_t seq)
{
	gen_keys(&self->tx, V13, cipher, DIR_TX, gen, seq);
	gen_keys(&self->ref, V13, cipher, DIR_TX, gen, seq);
}

static void send_all(struct __test_metadata *_metadata, int fd,
		     const void *buf, size_t len, int flags)
{
	ASSERT_EQ((ssize_t)len, send(fd, buf, len, flags))
		TH_LOG("%s", strerror(errno));
}

/* The peer gets one record of type with exactly want[len]. */
#define PEER_EXPECT(type, want, len)					\
	CHECK(rk_peer_expect(self->cfd, &self->tx, &self->ref, type,	\
			     want, len, why))

/* oktls reads exactly want[len], in as many reads as it takes. */
#define RECV_DATA(fd, want, len)	CHECK(rk_recv_data(fd, want, len, why))

/* The peer seals one data record with self->rx and writes it. */
static void peer_send(struct __test_metadata *_metadata,
		      FIXTURE_DATA(rk) *self, const void *pt, size_t len)
{
	size_t n = seal(_metadata, &self->rx, WIRE_TYPE_DATA, pt, len, wire);

	ASSERT_TRUE(rk_write_all(self->cfd, wire, n));
}

/*
 * The peer writes every generation's records before the first read: data
 * under key g, a KeyUpdate under key g, data under key g + 1 ... The
 * reader gets each generation's data, the KeyUpdate alone, EKEYEXPIRED
 * until TLS_RX is set again, then the records that were waiting.
 */
TEST_F(rk, rx_rekey_generations)
{
	static const size_t sizes[] = { 1, 777, 4000 };
	enum { PER = 1 + 777 + 4000 };
	static uint8_t data[GENS + 1][PER];
	long long before[RK_MIB_NUM], after[RK_MIB_NUM];
	struct oktls_sock_stats st;
	size_t off = 0, pos, i;
	unsigned int g;
	char c;

	ASSERT_TRUE(rk_proc_stats(before));
	for (g = 0; g <= GENS; g++) {
		if (g)
			gen_keys(&self->rx, V13, variant->cipher, DIR_RX, g, 0);
		for (i = 0, pos = 0; i < ARRAY_SIZE(sizes); pos += sizes[i++]) {
			fill(data[g] + pos, sizes[i], g * 16 + i);
			off += seal(_metadata, &self->rx, WIRE_TYPE_DATA,
				    data[g] + pos, sizes[i], wire + off);
		}
		if (g < GENS)
			off += seal_key_update(_metadata, &self->rx, g % 2,
					       wire + off);
	}
	ASSERT_TRUE(rk_write_all(self->cfd, wire, off));

	for (g = 0; g <= GENS; g++) {
		RECV_DATA(self->sfd, data[g], PER);
		if (g == GENS)
			break;
		EXPECT_TRUE(readable(self->sfd, WAIT_MS));
		CHECK(rk_recv_key_update(self->sfd, g % 2, why));
		ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
		EXPECT_EQ(g + 1, st.rx_key_updates);
		EXPECT_EQ(g, st.rx_gen);
		EXPECT_EQ(g, st.rx_rekeys);
		CHECK(rk_check_key_expired(self->sfd, why));
		rx_rekey(_metadata, self->sfd, variant->cipher, g + 1);
		EXPECT_TRUE(readable(self->sfd, WAIT_MS))
			TH_LOG("generation %u: records waiting, not readable", g + 1);
	}
	EXPECT_EQ(EAGAIN, err_of(recv(self->sfd, &c, 1, MSG_DONTWAIT)));

	ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
	EXPECT_EQ((GENS + 1) * ARRAY_SIZE(sizes) + GENS, st.rx_records);
	EXPECT_EQ((GENS + 1) * PER + GENS * RK_KEY_UPDATE_LEN, st.rx_bytes);
	EXPECT_EQ(ARRAY_SIZE(sizes), st.rx_seq);
	EXPECT_EQ(GENS, st.rx_gen);
	EXPECT_EQ(GENS, st.rx_rekeys);
	EXPECT_EQ(GENS, st.rx_key_updates);
	EXPECT_EQ(0U, st.flags);
	EXPECT_EQ(0U, st.decrypt_errors);
	EXPECT_EQ(0U, st.tx_gen + st.tx_rekeys);

	ASSERT_TRUE(rk_proc_stats(after));
	EXPECT_EQ(GENS, after[RK_RX_REKEY_OK] - before[RK_RX_REKEY_OK]);
	EXPECT_EQ(GENS, after[RK_RX_REKEY_RECEIVED] - before[RK_RX_REKEY_RECEIVED]);
	EXPECT_EQ(0, after[RK_RX_REKEY_ERROR] - before[RK_RX_REKEY_ERROR]);
	EXPECT_EQ(0, after[RK_TX_REKEY_OK] - before[RK_TX_REKEY_OK]);
}

/*
 * A KeyUpdate counts as the last message of its record, after others too;
 * a handshake record without one changes nothing.
 */
TEST_F(rk, rx_key_update_after_other_message)
{
	static const uint8_t nst[] = { 4, 0, 0, 3, 1, 2, 3 };
	uint8_t both[sizeof(nst) + RK_KEY_UPDATE_LEN], buf[64];
	struct oktls_sock_stats st;
	size_t off = 0;
	int type;

	memcpy(both, nst, sizeof(nst));
	rk_key_update_msg(both + sizeof(nst), 0);
	off += seal(_metadata, &self->rx, WIRE_TYPE_HANDSHAKE, nst, sizeof(nst),
		    wire + off);
	off += seal(_metadata, &self->rx, WIRE_TYPE_DATA, "before", 6, wire + off);
	off += seal(_metadata, &self->rx, WIRE_TYPE_HANDSHAKE, both, sizeof(both),
		    wire + off);
	gen_keys(&self->rx, V13, variant->cipher, DIR_RX, 1, 0);
	off += seal(_metadata, &self->rx, WIRE_TYPE_DATA, "after", 5, wire + off);
	ASSERT_TRUE(rk_write_all(self->cfd, wire, off));

	EXPECT_EQ((ssize_t)sizeof(nst),
		  recv_record_type(self->sfd, buf, sizeof(buf), 0, &type));
	EXPECT_EQ(WIRE_TYPE_HANDSHAKE, type);
	ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
	EXPECT_EQ(0U, st.rx_key_updates);
	RECV_DATA(self->sfd, "before", 6);
	EXPECT_EQ((ssize_t)sizeof(both),
		  recv_record_type(self->sfd, buf, sizeof(buf), 0, &type));
	EXPECT_EQ(WIRE_TYPE_HANDSHAKE, type);
	EXPECT_EQ(0, memcmp(buf, both, sizeof(both)));
	ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
	EXPECT_EQ(1U, st.rx_key_updates);
	CHECK(rk_check_key_expired(self->sfd, why));
	rx_rekey(_metadata, self->sfd, variant->cipher, 1);
	RECV_DATA(self->sfd, "after", 5);
}

#define BIG_LEN		(1U << 20)
#define BIG_SPLIT	(600U << 10)	/* the KeyUpdate after this much */

/*
 * 1 MiB from another thread (more than the receive buffer holds), with a
 * KeyUpdate after 600 KiB: the read stops at it, returning exactly the
 * data before it, and the rest is read after the rekey. With no_pad the
 * records are opened straight into the reader's buffer.
 */
static void large_read(struct __test_metadata *_metadata,
		       FIXTURE_DATA(rk) *self, uint16_t cipher, bool no_pad)
{
	uint8_t *in = malloc(BIG_LEN), *out = malloc(BIG_LEN + 4096);
	uint8_t *w = malloc(BIG_LEN + BIG_LEN / 8);
	struct rk_writer wr = { .fd = self->cfd, .buf = w };
	size_t size = BIG_LEN + BIG_LEN / 8, got = 0;
	struct oktls_sock_stats st;
	int one = 1;
	ssize_t r;

	ASSERT_TRUE(in && out && w);
	fill(in, BIG_LEN, 77);
	r = rk_seal_stream(&self->rx, in, BIG_SPLIT, w, size);
	ASSERT_LT(0, r);
	wr.len = r + seal_key_update(_metadata, &self->rx, 1, w + r);
	gen_keys(&self->rx, V13, cipher, DIR_RX, 1, 0);
	r = rk_seal_stream(&self->rx, in + BIG_SPLIT, BIG_LEN - BIG_SPLIT,
			   w + wr.len, size - wr.len);
	ASSERT_LT(0, r);
	wr.len += r;
	if (no_pad)
		ASSERT_EQ(0, setsockopt(self->sfd, SOL_TLS, TLS_RX_EXPECT_NO_PAD,
					&one, sizeof(one)));
	ASSERT_EQ(0, rk_writer_start(&wr));

	if (!no_pad) {
		r = recv(self->sfd, out, BIG_LEN, MSG_WAITALL);
		EXPECT_EQ((ssize_t)BIG_SPLIT, r) TH_LOG("%s", r < 0 ? strerror(errno) : "");
		got = r > 0 ? r : 0;
	}
	while (got < BIG_SPLIT) {
		r = recv(self->sfd, out + got, BIG_LEN - got, 0);
		ASSERT_LT(0, r) TH_LOG("at %zu: %s", got, r ? strerror(errno) : "EOF");
		ASSERT_GE(BIG_SPLIT - got, (size_t)r)
			TH_LOG("read of %zd at %zu ran past the KeyUpdate", r, got);
		got += r;
	}
	EXPECT_EQ(0, memcmp(in, out, BIG_SPLIT));
	CHECK(rk_recv_key_update(self->sfd, 1, why));
	EXPECT_EQ(EKEYEXPIRED, err_of(recv(self->sfd, out, BIG_LEN, MSG_WAITALL)));
	rx_rekey(_metadata, self->sfd, cipher, 1);
	while (got < BIG_LEN) {
		r = recv(self->sfd, out + got, BIG_LEN - got,
			 no_pad ? 0 : MSG_WAITALL);
		ASSERT_LT(0, r) TH_LOG("at %zu: %s", got, r ? strerror(errno) : "EOF");
		got += r;
	}
	EXPECT_EQ(0, memcmp(in, out, BIG_LEN));
	EXPECT_TRUE(rk_writer_join(&wr));
	ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
	EXPECT_EQ(BIG_LEN + RK_KEY_UPDATE_LEN, st.rx_bytes);
	EXPECT_EQ(1U, st.rx_gen);
	EXPECT_EQ(1U, st.rx_key_updates);
	free(in);
	free(out);
	free(w);
}

TEST_F_TIMEOUT(rk, rx_key_update_mid_large_read, 180)
{
	large_read(_metadata, self, variant->cipher, false);
}

TEST_F_TIMEOUT(rk, rx_key_update_mid_large_read_no_pad, 180)
{
	large_read(_metadata, self, variant->cipher, true);
}

/*
 * After a rekey, a MSG_WAITALL read for more than comes returns what came
 * when SO_RCVTIMEO runs out, as on any socket.
 */
TEST_F_TIMEOUT(rk, rx_waitall_timeout_after_rekey, 20)
{
	uint8_t buf[200];
	long long t0;
	size_t off;
	ssize_t r;

	fill(buf, 100, 4);
	off = seal_key_update(_metadata, &self->rx, 0, wire);
	gen_keys(&self->rx, V13, variant->cipher, DIR_RX, 1, 0);
	off += seal(_metadata, &self->rx, WIRE_TYPE_DATA, buf, 100, wire + off);
	ASSERT_TRUE(rk_write_all(self->cfd, wire, off));
	CHECK(rk_recv_key_update(self->sfd, 0, why));
	rx_rekey(_metadata, self->sfd, variant->cipher, 1);
	ASSERT_EQ(0, sock_timeouts(self->sfd, 300, WAIT_MS));
	t0 = now_ms();
	r = recv(self->sfd, buf, sizeof(buf), MSG_WAITALL);
	EXPECT_EQ(100, r) TH_LOG("%s", r < 0 ? strerror(errno) : "");
	EXPECT_GT(5000, now_ms() - t0);
}

/*
 * oktls sends, gets the next TLS_TX key, sends more: records before are
 * sealed with the old key, records after with the new one from the
 * rec_seq given (not always 0), each checked byte for byte.
 */
TEST_F(rk, tx_rekey_generations)
{
	static const size_t sizes[] = { 1, 1000, 16384, 3000 };
	long long before[RK_MIB_NUM], after[RK_MIB_NUM];
	union wire_crypto_info ci, want;
	static uint8_t buf[16384];
	struct oktls_sock_stats st;
	uint64_t seq0, bytes = 0;
	socklen_t len;
	unsigned int g;
	size_t i;

	ASSERT_TRUE(rk_proc_stats(before));
	for (g = 0; g <= GENS; g++) {
		if (g) {
			seq0 = g == 2 ? 1000 : 0;
			tx_gen(self, variant->cipher, g, seq0);
			ASSERT_EQ(0, wire_set_keys(self->sfd, TLS_TX, &self->tx));
			ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
			EXPECT_EQ(g, st.tx_gen);
			EXPECT_EQ(g, st.tx_rekeys);
			EXPECT_EQ(seq0, st.tx_seq);
		}
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			fill(buf, sizes[i], g * 16 + i);
			send_all(_metadata, self->sfd, buf, sizes[i], 0);
			bytes += sizes[i];
		}
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			fill(buf, sizes[i], g * 16 + i);
			PEER_EXPECT(WIRE_TYPE_DATA, buf, sizes[i]);
		}
		/* getsockopt reports the new key and where its sequence is. */
		len = wire_crypto_info(&self->tx, &want);
		ASSERT_EQ(0, getsockopt(self->sfd, SOL_TLS, TLS_TX, &ci, &len));
		EXPECT_EQ(0, memcmp(&ci, &want, len)) TH_LOG("generation %u", g);
	}
	ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
	EXPECT_EQ((GENS + 1) * ARRAY_SIZE(sizes), st.tx_records);
	EXPECT_EQ(bytes, st.tx_bytes);
	EXPECT_EQ(ARRAY_SIZE(sizes), st.tx_seq);
	EXPECT_EQ(0U, st.rx_gen);
	ASSERT_TRUE(rk_proc_stats(after));
	EXPECT_EQ(GENS, after[RK_TX_REKEY_OK] - before[RK_TX_REKEY_OK]);
	EXPECT_EQ(0, after[RK_TX_REKEY_ERROR] - before[RK_TX_REKEY_ERROR]);
	EXPECT_EQ(0, after[RK_RX_REKEY_OK] - before[RK_RX_REKEY_OK]);
}

/* Plaintext held back by MSG_MORE is sealed with the old key at rekey. */
TEST_F(rk, tx_rekey_msg_more)
{
	struct oktls_sock_stats st;
	struct wire_keys next = { 0 };
	uint8_t a[3000], b[700];

	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	send_all(_metadata, self->sfd, "x", 1, 0);
	PEER_EXPECT(WIRE_TYPE_DATA, "x", 1);
	send_all(_metadata, self->sfd, a, 1000, MSG_MORE);
	send_all(_metadata, self->sfd, a + 1000, 2000, MSG_MORE);
	EXPECT_FALSE(readable(self->cfd, 200)) TH_LOG("MSG_MORE record sent early");

	gen_keys(&next, V13, variant->cipher, DIR_TX, 1, 0);
	ASSERT_EQ(0, wire_set_keys(self->sfd, TLS_TX, &next));
	wire_keys_free(&next);
	/* On the wire now, not waiting for the next send. */
	EXPECT_TRUE(readable(self->cfd, WAIT_MS));
	PEER_EXPECT(WIRE_TYPE_DATA, a, sizeof(a));

	tx_gen(self, variant->cipher, 1, 0);
	send_all(_metadata, self->sfd, b, sizeof(b), 0);
	PEER_EXPECT(WIRE_TYPE_DATA, b, sizeof(b));
	ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
	EXPECT_EQ(3U, st.tx_records);
	EXPECT_EQ(1 + sizeof(a) + sizeof(b), st.tx_bytes);
	EXPECT_EQ(1U, st.tx_seq);
	EXPECT_EQ(1U, st.tx_gen);
}

/*
 * Keys are replaced only as TLS 1.3 does: same version and cipher, the
 * right size (EINVAL otherwise), never on TLS 1.2 (EBUSY). Each refusal
 * counts, and leaves the socket working with the keys it had.
 */
TEST_F(rk, rekey_refused)
{
	uint16_t other = variant->cipher == TLS_CIPHER_AES_GCM_128 ?
			 TLS_CIPHER_AES_GCM_256 : TLS_CIPHER_AES_GCM_128;
	long long before[RK_MIB_NUM], after[RK_MIB_NUM];
	static const int opts[] = { TLS_TX, TLS_RX };
	struct wire_keys bad = { 0 };
	union wire_crypto_info ci;
	struct oktls_sock_stats st;
	int i, c12, s12, fd;
	size_t len;

	ASSERT_TRUE(rk_proc_stats(before));
	for (i = 0, fd = self->sfd; i < 2; i++) {
		gen_keys(&bad, V13, other, DIR_TX, 9, 0);
		EXPECT_EQ(EINVAL, wire_set_keys(fd, opts[i], &bad));
		gen_keys(&bad, TLS_1_2_VERSION, variant->cipher, DIR_TX, 9, 0);
		EXPECT_EQ(EINVAL, wire_set_keys(fd, opts[i], &bad));
		gen_keys(&bad, V13, variant->cipher, DIR_TX, 9, 0);
		len = wire_crypto_info(&bad, &ci);
		ci.info.version = 0x0305;
		EXPECT_EQ(EINVAL, err_of(setsockopt(fd, SOL_TLS, opts[i], &ci, len)));
		ci.info.version = V13;
		EXPECT_EQ(EINVAL, err_of(setsockopt(fd, SOL_TLS, opts[i], &ci, len - 1)));
		EXPECT_EQ(EINVAL, err_of(setsockopt(fd, SOL_TLS, opts[i], &ci, len + 1)));
		EXPECT_EQ(EINVAL, err_of(setsockopt(fd, SOL_TLS, opts[i], &ci,
						    sizeof(ci.info))));
	}

	/* TLS 1.2: set once; again, with any keys, is EBUSY as upstream. */
	ASSERT_EQ(0, rk_pair(&c12, &s12, WAIT_MS));
	gen_keys(&bad, TLS_1_2_VERSION, variant->cipher, DIR_TX, 9, 0);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, wire_set_keys(s12, opts[i], &bad));
	for (i = 0; i < 2; i++)
		EXPECT_EQ(EBUSY, wire_set_keys(s12, opts[i], &bad));
	gen_keys(&bad, V13, variant->cipher, DIR_TX, 9, 0);
	for (i = 0; i < 2; i++)
		EXPECT_EQ(EBUSY, wire_set_keys(s12, opts[i], &bad));
	wire_keys_free(&bad);
	close(c12);
	close(s12);

	ASSERT_TRUE(rk_proc_stats(after));
	EXPECT_EQ(8, after[RK_TX_REKEY_ERROR] - before[RK_TX_REKEY_ERROR]);
	EXPECT_EQ(8, after[RK_RX_REKEY_ERROR] - before[RK_RX_REKEY_ERROR]);
	EXPECT_EQ(0, after[RK_TX_REKEY_OK] - before[RK_TX_REKEY_OK]);
	EXPECT_EQ(0, after[RK_RX_REKEY_OK] - before[RK_RX_REKEY_OK]);

	ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
	EXPECT_EQ(0U, st.tx_gen + st.rx_gen + st.tx_rekeys + st.rx_rekeys);
	send_all(_metadata, self->sfd, "still", 5, 0);
	PEER_EXPECT(WIRE_TYPE_DATA, "still", 5);
	peer_send(_metadata, self, "works", 5);
	RECV_DATA(self->sfd, "works", 5);
}

/* A socket's counters before keys, and the namespace's gauges. */
TEST_F(rk, stats_before_keys_and_gauges)
{
	struct oktls_sock_stats st, zero = { .tx_gen = NO_GEN, .rx_gen = NO_GEN };
	long long v0[RK_MIB_NUM], v1[RK_MIB_NUM], v2[RK_MIB_NUM];
	struct wire_keys k = { 0 };
	int c, s;

	ASSERT_TRUE(rk_proc_stats(v0));
	ASSERT_EQ(0, rk_pair(&c, &s, WAIT_MS));
	ASSERT_EQ(0, rk_sock_stats(s, &st));
	EXPECT_EQ(0, memcmp(&st, &zero, sizeof(st)));
	gen_keys(&k, V13, variant->cipher, DIR_TX, 3, 7);
	ASSERT_EQ(0, wire_set_keys(s, TLS_TX, &k));
	ASSERT_EQ(0, rk_sock_stats(s, &st));
	EXPECT_EQ(0U, st.tx_gen);
	EXPECT_EQ(7U, st.tx_seq);
	EXPECT_EQ(NO_GEN, st.rx_gen);
	ASSERT_EQ(0, wire_set_keys(s, TLS_RX, &k));
	ASSERT_EQ(0, rk_sock_stats(s, &st));
	EXPECT_EQ(0U, st.rx_gen);
	EXPECT_EQ(7U, st.rx_seq);
	wire_keys_free(&k);
	ASSERT_TRUE(rk_proc_stats(v1));
	close(s);
	close(c);
	ASSERT_TRUE(rk_proc_stats(v2));
	EXPECT_EQ(1, v1[RK_TX_SW] - v0[RK_TX_SW]);
	EXPECT_EQ(1, v1[RK_RX_SW] - v0[RK_RX_SW]);
	EXPECT_EQ(1, v1[RK_CURR_TX_SW] - v0[RK_CURR_TX_SW]);
	EXPECT_EQ(1, v1[RK_CURR_RX_SW] - v0[RK_CURR_RX_SW]);
	EXPECT_EQ(v0[RK_CURR_TX_SW], v2[RK_CURR_TX_SW]);
	EXPECT_EQ(v0[RK_CURR_RX_SW], v2[RK_CURR_RX_SW]);
	/* The fixture's socket is one of the current ones. */
	EXPECT_LE(1, v2[RK_CURR_TX_SW]);
	EXPECT_LE(1, v2[RK_CURR_RX_SW]);
}

/* Records and bytes each way, counted exactly after a known exchange. */
TEST_F(rk, stats_count_records_and_bytes)
{
	static const size_t tx_sizes[] = { 10, 16384, 20000, 1 };
	static const size_t rx_sizes[] = { 5, 300, 16384 };
	static uint8_t out[40000], in[20000];
	size_t tx_len = 0, rx_len = 0, off = 0, nrec, i;
	struct oktls_sock_stats st;
	uint64_t first;
	socklen_t len;

	fill(out, sizeof(out), 5);
	fill(in, sizeof(in), 6);
	for (i = 0; i < ARRAY_SIZE(tx_sizes); tx_len += tx_sizes[i++])
		send_all(_metadata, self->sfd, out + tx_len, tx_sizes[i], 0);
	for (i = 0; i < ARRAY_SIZE(rx_sizes); rx_len += rx_sizes[i++])
		off += seal(_metadata, &self->rx, WIRE_TYPE_DATA, in + rx_len,
			    rx_sizes[i], wire + off);
	ASSERT_TRUE(rk_write_all(self->cfd, wire, off));
	RECV_DATA(self->sfd, in, rx_len);
	/* 20000 bytes take two records (or more); count what came. */
	CHECK(rk_peer_stream(self->cfd, &self->tx, &self->ref, out, tx_len,
			     &nrec, why));
	EXPECT_LE(5U, nrec);

	ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
	EXPECT_EQ(nrec, st.tx_records);
	EXPECT_EQ(tx_len, st.tx_bytes);
	EXPECT_EQ(nrec, st.tx_seq);
	EXPECT_EQ(ARRAY_SIZE(rx_sizes), st.rx_records);
	EXPECT_EQ(rx_len, st.rx_bytes);
	EXPECT_EQ(ARRAY_SIZE(rx_sizes), st.rx_seq);
	EXPECT_EQ(0U, st.decrypt_errors);
	EXPECT_EQ(0U, st.tx_gen + st.rx_gen);
	EXPECT_EQ(0U, st.tx_rekeys + st.rx_rekeys + st.rx_key_updates + st.flags);

	/* A shorter buffer gets the first fields. */
	len = sizeof(first);
	ASSERT_EQ(0, getsockopt(self->sfd, SOL_TLS, OKTLS_SOCK_STATS, &first, &len));
	EXPECT_EQ(sizeof(first), len);
	EXPECT_EQ(nrec, first);
}

/*
 * A record that fails to open counts, per socket and per namespace; the
 * second time on a socket that opens records into the reader's buffer.
 */
TEST_F(rk, stats_decrypt_error)
{
	long long before[RK_MIB_NUM], after[RK_MIB_NUM];
	struct oktls_sock_stats st;
	int one = 1, pass;
	size_t off;

	for (pass = 0; pass < 2; pass++) {
		if (pass) {
			close(self->cfd);
			close(self->sfd);
			ASSERT_EQ(0, rk_pair(&self->cfd, &self->sfd, WAIT_MS));
			gen_keys(&self->rx, V13, variant->cipher, DIR_RX, 0, 0);
			ASSERT_EQ(0, wire_set_keys(self->sfd, TLS_RX, &self->rx));
			ASSERT_EQ(0, setsockopt(self->sfd, SOL_TLS, TLS_RX_EXPECT_NO_PAD,
						&one, sizeof(one)));
		}
		ASSERT_TRUE(rk_proc_stats(before));
		off = seal(_metadata, &self->rx, WIRE_TYPE_DATA, "ok", 2, wire);
		off += seal(_metadata, &self->rx, WIRE_TYPE_DATA, "bad!", 4,
			    wire + off);
		wire[off - 1] ^= 0x01;
		ASSERT_TRUE(rk_write_all(self->cfd, wire, off));
		RECV_DATA(self->sfd, "ok", 2);
		EXPECT_EQ(EBADMSG, err_of(recv(self->sfd, wire, 100, 0)));
		ASSERT_EQ(0, rk_sock_stats(self->sfd, &st));
		EXPECT_EQ(1U, st.decrypt_errors) TH_LOG("pass %d", pass);
		EXPECT_EQ(1U, st.rx_records);
		EXPECT_EQ(2U, st.rx_bytes);
		ASSERT_TRUE(rk_proc_stats(after));
		EXPECT_EQ(1, after[RK_DECRYPT_ERROR] - before[RK_DECRYPT_ERROR])
			TH_LOG("pass %d", pass);
	}
}

/*
 * sock_diag: the upstream INET_ULP_INFO_TLS nest and oktls's counters,
 * by exact lookup and by dump; the peer has no ULP info at all.
 */
TEST_F(rk, diag_ulp_info)
{
	int one = 1, c, s, ret, dump;
	struct rk_diag d;

	ASSERT_EQ(0, setsockopt(self->sfd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &one,
				sizeof(one)));
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one,
				sizeof(one)));
	send_all(_metadata, self->sfd, "ping", 4, 0);
	PEER_EXPECT(WIRE_TYPE_DATA, "ping", 4);
	peer_send(_metadata, self, "pong!", 5);
	RECV_DATA(self->sfd, "pong!", 5);
	for (dump = 0; dump < 2; dump++)
		CHECK(rk_diag_check(self->sfd, dump, test_ulp(), variant->cipher,
				    true, why));

	ASSERT_EQ(0, rk_diag_lookup(self->cfd, false, &d));
	EXPECT_FALSE(d.ulp);

	/* The ULP without keys: base configuration, no version or cipher. */
	ASSERT_EQ(0, rk_pair(&c, &s, WAIT_MS));
	for (dump = 0; dump < 2; dump++)
		CHECK(rk_diag_check(s, dump, test_ulp(), 0, false, why));
	close(c);
	close(s);

	/* One record each way: "ping" sent, "pong!" read. */
	CHECK(rk_oktls_ss_check(self->sfd, test_ulp(),
				"tx_records:1 tx_bytes:4 tx_seq:1 tx_gen:0 rx_records:1 rx_bytes:5 rx_seq:1 rx_gen:0",
				why));

	ret = rk_ss_check(self->sfd, test_ulp(), why);
	if (ret > 0)
		TH_LOG("no ss here: its decoding is not checked");
	else
		EXPECT_EQ(0, ret) TH_LOG("%s", why);
}

static void close_tls(FIXTURE_DATA(rk) *self)
{
	close(self->sfd);
	self->sfd = -1;
}

/* RFC 8446 6.1: warning(1), close_notify(0). */
static const uint8_t close_notify[2] = { 1, 0 };

/* OKTLS_CLOSE_NOTIFY: the alert follows all the data, MSG_MORE's too. */
TEST_F(rk, close_notify_sent)
{
	socklen_t len = sizeof(int);
	int v = -1;
	uint8_t a[500];

	ASSERT_EQ(0, getsockopt(self->sfd, SOL_TLS, OKTLS_CLOSE_NOTIFY, &v, &len));
	EXPECT_EQ(0, v);
	EXPECT_EQ(sizeof(int), len);
	v = 2;
	EXPECT_EQ(EINVAL, err_of(setsockopt(self->sfd, SOL_TLS,
					    OKTLS_CLOSE_NOTIFY, &v, sizeof(v))));
	v = 1;
	EXPECT_EQ(EINVAL, err_of(setsockopt(self->sfd, SOL_TLS,
					    OKTLS_CLOSE_NOTIFY, &v, 2)));
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_TLS, OKTLS_CLOSE_NOTIFY, &v,
				sizeof(v)));
	v = -1;
	ASSERT_EQ(0, getsockopt(self->sfd, SOL_TLS, OKTLS_CLOSE_NOTIFY, &v, &len));
	EXPECT_EQ(1, v);

	fill(a, sizeof(a), 3);
	send_all(_metadata, self->sfd, "first", 5, 0);
	send_all(_metadata, self->sfd, a, sizeof(a), MSG_MORE);
	close_tls(self);
	PEER_EXPECT(WIRE_TYPE_DATA, "first", 5);
	PEER_EXPECT(WIRE_TYPE_DATA, a, sizeof(a));
	PEER_EXPECT(WIRE_TYPE_ALERT, close_notify, sizeof(close_notify));
	CHECK(rk_peer_eof(self->cfd, why));
}

/* Set back to 0, close sends just the data and a FIN. */
TEST_F(rk, close_notify_off)
{
	int v;

	for (v = 1; v >= 0; v--)
		ASSERT_EQ(0, setsockopt(self->sfd, SOL_TLS, OKTLS_CLOSE_NOTIFY,
					&v, sizeof(v)));
	send_all(_metadata, self->sfd, "bye", 3, 0);
	close_tls(self);
	PEER_EXPECT(WIRE_TYPE_DATA, "bye", 3);
	CHECK(rk_peer_eof(self->cfd, why));
}

/*
 * shutdown(SHUT_WR) ends the sending side the way close does: the data,
 * MSG_MORE's too, the alert, the FIN. close adds nothing, no reset.
 */
TEST_F(rk, close_notify_at_shutdown)
{
	int v = 1;

	ASSERT_EQ(0, setsockopt(self->sfd, SOL_TLS, OKTLS_CLOSE_NOTIFY, &v,
				sizeof(v)));
	send_all(_metadata, self->sfd, "last", 4, MSG_MORE);
	ASSERT_EQ(0, shutdown(self->sfd, SHUT_WR));
	PEER_EXPECT(WIRE_TYPE_DATA, "last", 4);
	PEER_EXPECT(WIRE_TYPE_ALERT, close_notify, sizeof(close_notify));
	CHECK(rk_peer_eof(self->cfd, why));
	/* The socket still reads: the peer's records arrive after our FIN. */
	peer_send(_metadata, self, "reply", 5);
	RECV_DATA(self->sfd, "reply", 5);
	close_tls(self);
	CHECK(rk_peer_eof(self->cfd, why));
}

/* The alert is sealed with the TX key of the moment. */
TEST_F(rk, close_notify_after_tx_rekey)
{
	int v = 1;

	ASSERT_EQ(0, setsockopt(self->sfd, SOL_TLS, OKTLS_CLOSE_NOTIFY, &v,
				sizeof(v)));
	send_all(_metadata, self->sfd, "old", 3, 0);
	PEER_EXPECT(WIRE_TYPE_DATA, "old", 3);
	tx_gen(self, variant->cipher, 1, 0);
	ASSERT_EQ(0, wire_set_keys(self->sfd, TLS_TX, &self->tx));
	send_all(_metadata, self->sfd, "new", 3, 0);
	close_tls(self);
	PEER_EXPECT(WIRE_TYPE_DATA, "new", 3);
	PEER_EXPECT(WIRE_TYPE_ALERT, close_notify, sizeof(close_notify));
	CHECK(rk_peer_eof(self->cfd, why));
}

/* hide_keys=Y: key, salt and iv read back as zeros, the rest as ever. */
TEST_F(rk, hide_keys)
{
	union wire_crypto_info tx[3], rx[3], want;
	socklen_t len;
	char cur[8];
	int i;

	if (read_file(HIDE_KEYS, cur, sizeof(cur)) < 0)
		SKIP(return, "no %s", HIDE_KEYS);
	ASSERT_EQ('N', cur[0]);
	send_all(_metadata, self->sfd, "ab", 2, 0);
	send_all(_metadata, self->sfd, "cd", 2, 0);
	PEER_EXPECT(WIRE_TYPE_DATA, "ab", 2);
	PEER_EXPECT(WIRE_TYPE_DATA, "cd", 2);
	peer_send(_metadata, self, "ef", 2);
	RECV_DATA(self->sfd, "ef", 2);

	/* Shown, hidden, shown again. */
	for (i = 0; i < 3; i++) {
		if (i == 1) {
			ASSERT_EQ(0, rk_write_str(HIDE_KEYS, "Y"));
			self->hid = true;
		}
		len = self->tx.cipher->info_size;
		ASSERT_EQ(0, getsockopt(self->sfd, SOL_TLS, TLS_TX, &tx[i], &len));
		ASSERT_EQ(0, getsockopt(self->sfd, SOL_TLS, TLS_RX, &rx[i], &len));
		if (i == 1) {
			ASSERT_EQ(0, rk_write_str(HIDE_KEYS, "N"));
			self->hid = false;
		}
	}
	for (i = 0; i < 3; i++) {
		rk_crypto_info(&self->tx, i == 1, &want);
		EXPECT_EQ(0, memcmp(&tx[i], &want, len)) TH_LOG("TX %d", i);
		rk_crypto_info(&self->rx, i == 1, &want);
		EXPECT_EQ(0, memcmp(&rx[i], &want, len)) TH_LOG("RX %d", i);
	}
}

/* Probe the variants once, before the harness forks for every test. */
__attribute__((constructor)) static void probe_variants(void)
{
	wire_probe_variants(TLS_RX);
}

TEST_HARNESS_MAIN
