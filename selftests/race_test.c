// SPDX-License-Identifier: GPL-2.0
/*
 * Races on one oktls socket: for a bounded time (OKTLS_STRESS_SECONDS per
 * test, default 20) several threads call everything an application may
 * call on the same socket at once (lib/stress_io.c), against peers that
 * behave, reset in the middle of a record, write garbage, stop reading, or
 * close while calls are blocked; and sockets get the ULP and keys while
 * their peers go away.
 *
 * Every call must return, and return something sensible: data is checked
 * piece by piece against the stream it belongs to (and in order where a
 * thread is the only reader), errors must be among those the situation
 * allows, and the module's reference count must come back when the
 * sockets are gone. A call that does not return within its bound fails
 * the test and names the thread and call; the rig fails the run on any
 * kernel splat.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "lib/net.h"
#include "lib/stress_peer.h"

#define SEED		0x72616365ULL	/* "race" */
#define JOIN_MS		30000		/* a woken call returns within this */
#define MAX_CREW	12

static const struct stress_cipher *ciphers;
static size_t nciphers;

/* Ask the kernel once, before the harness forks a process per test. */
__attribute__((constructor)) static void setup_process(void)
{
	signal(SIGPIPE, SIG_IGN);
	stress_ciphers(&ciphers);
}

static void sleep_ms(long ms)
{
	usleep(ms * 1000);
}

/* The threads of one round. */
struct crew {
	struct stress_worker w[MAX_CREW];
	void *(*fn[MAX_CREW])(void *arg);
	int n;
};

static struct stress_worker *hire(struct __test_metadata *_metadata,
				  struct crew *c, struct stress_ctx *ctx,
				  const char *name, void *(*fn)(void *),
				  int fd, unsigned int methods, bool ordered)
{
	struct stress_worker *w = &c->w[c->n];

	ASSERT_GT(MAX_CREW, c->n);
	ASSERT_EQ(0, stress_worker_init(w, ctx, fd, methods,
					SEED * (c->n + 1) + now_ms(), ordered));
	w->t.name = name;
	c->fn[c->n++] = fn;
	return w;
}

static void crew_start(struct __test_metadata *_metadata, struct crew *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		ASSERT_EQ(0, stress_start(&c->w[i].t, c->w[i].t.name, c->fn[i],
					  &c->w[i]));
}

/* Where every thread is, for a hang report. */
static const char *threads_now(void)
{
	static char report[8192];

	return stress_threads_report(report, sizeof(report));
}

/*
 * Every thread must return by the deadline. If one does not, its call
 * is stuck: say which, and end the test (the process exit kills it).
 */
/* Join threads first..first+n-1 by the deadline; how many did not return. */
static int crew_wait(struct crew *c, int first, int n, long long deadline)
{
	int i, stuck = 0;

	for (i = first; i < first + n; i++)
		stuck += stress_join(&c->w[i].t, 1, deadline, NULL, 0);
	return stuck;
}

static void crew_join(struct __test_metadata *_metadata, struct crew *c,
		      int first, int n, long long deadline)
{
	char why[512] = "", one[128];
	int i, stuck = 0;

	for (i = first; i < first + n; i++) {
		if (stress_join(&c->w[i].t, 1, deadline, one, sizeof(one))) {
			stuck++;
			strncat(why, one, sizeof(why) - strlen(why) - 3);
			strcat(why, "; ");
		}
	}
	if (stuck)
		TH_LOG("threads now: %s", threads_now());
	ASSERT_EQ(0, stuck) TH_LOG("calls that did not return: %s", why);
}

static void crew_free(struct crew *c, unsigned long *iters)
{
	int i;

	for (i = 0; i < c->n; i++) {
		*iters += c->w[i].iters;
		stress_worker_free(&c->w[i]);
	}
	c->n = 0;
}

static void halt(struct stress_ctx *ctx)
{
	__atomic_store_n(&ctx->halt, 1, __ATOMIC_RELEASE);
}

FIXTURE(race)
{
	struct stress_ctx ctx;
	struct crew crew;
	long refs;
	long long start, end;
	int rounds;
	unsigned long iters;
};

FIXTURE_SETUP(race)
{
	int secs = stress_seconds("OKTLS_STRESS_SECONDS", 20, 200);

	memset(self, 0, sizeof(*self));
	nciphers = stress_ciphers(&ciphers);
	if (!nciphers)
		SKIP(return, "no cipher that both the kernel and OpenSSL have (%s)",
		     stress_probe_why);
	self->refs = stress_refcnt();
	self->start = now_ms();
	self->end = self->start + secs * 1000LL;
	/* Bounded joins come first; this catches a stuck main thread. */
	stress_watchdog(secs + 150);
}

FIXTURE_TEARDOWN(race)
{
	stress_watchdog(0);
}

static const struct stress_cipher *cipher_for(int round)
{
	return &ciphers[round % nciphers];
}

/* The summary every test prints, and the checks every test ends with. */
static void finish(struct __test_metadata *_metadata,
		   FIXTURE_DATA(race) *self)
{
	char buf[1024];
	long refs;

	TH_LOG("%d rounds in %lld s, %lu thread iterations; %s", self->rounds,
	       (now_ms() - self->start) / 1000, self->iters,
	       stress_errs_str(&self->ctx.errs, buf, sizeof(buf)));
	EXPECT_EQ(0, self->ctx.fail.count)
		TH_LOG("%d failures, the first: %s", self->ctx.fail.count,
		       self->ctx.fail.first);
	if (self->refs < 0)
		return;
	refs = stress_refcnt_settle(self->refs, 10000);
	EXPECT_EQ(self->refs, refs)
		TH_LOG("module references: %ld before, %ld after the sockets closed; %s",
		       self->refs, refs, stress_tcp_states(buf, sizeof(buf)));
}

/*
 * Both ends oktls with TX and RX, two senders, two readers and a toggler
 * on each, for rounds of a few seconds. Even rounds have one consumer per
 * end (order checked) beside a thread that only peeks; odd rounds two
 * consumers. Every round ends with FIN both ways: each end must receive
 * exactly the bytes the other end's send calls took. No call may fail.
 */
TEST_F_TIMEOUT(race, bidir_full_speed, 400)
{
	static const int allowed[] = { 0 };
	struct stress_worker *snd[4], *rcv[4];
	struct wire_keys atx, arx;
	uint64_t sent[STRESS_CLASSES];
	struct stress_seen got;
	char why[256];
	int fds[2], e, i;

	stress_ctx_init(&self->ctx, allowed);
	for (; now_ms() < self->end; self->rounds++) {
		bool ordered = !(self->rounds % 2);
		struct crew *c = &self->crew;

		ASSERT_EQ(0, stress_pair(cipher_for(self->rounds), SEED + self->rounds,
					 STRESS_A_TX | STRESS_A_RX | STRESS_B_TLS,
					 &fds[0], &fds[1], &atx, &arx));
		self->ctx.stop = 0;
		self->ctx.halt = 0;
		for (e = 0; e < 2; e++) {
			snd[2 * e] = hire(_metadata, c, &self->ctx, "sender 0",
					  stress_sender, fds[e], STRESS_ALL(TXM_NUM), 0);
			snd[2 * e + 1] = hire(_metadata, c, &self->ctx, "sender 1",
					      stress_sender, fds[e],
					      STRESS_ALL(TXM_NUM), 0);
			snd[2 * e + 1]->cls = 1;
			rcv[2 * e] = hire(_metadata, c, &self->ctx, "reader 0",
					  stress_receiver, fds[e], ordered ?
					  STRESS_ALL(RXM_NUM) :
					  STRESS_ALL(RXM_WAITALL), ordered);
			rcv[2 * e + 1] = hire(_metadata, c, &self->ctx, "reader 1",
					      stress_receiver, fds[e], ordered ?
					      1u << RXM_PEEK :
					      STRESS_ALL(RXM_WAITALL), false);
			hire(_metadata, c, &self->ctx, "toggler", stress_toggler,
			     fds[e], 1, false);
			c->w[c->n - 1].tx = e ? &arx : &atx;
			c->w[c->n - 1].rx = e ? &atx : &arx;
		}
		crew_start(_metadata, c);
		sleep_ms(self->end - now_ms() > 6000 ? 5000 :
			 self->end - now_ms() > 2000 ? self->end - now_ms() : 2000);

		/* The senders end with a whole send; then FIN each way. */
		__atomic_store_n(&self->ctx.stop, 1, __ATOMIC_RELEASE);
		for (i = 0; i < 2; i++) {
			if (!crew_wait(c, 5 * i, 2, now_ms() + JOIN_MS))
				continue;
			/*
			 * Seen: SIOCOUTQ 0 but wmem_queued over sndbuf (the
			 * toggler shrank it): the plaintext of the open
			 * MSG_MORE record holds the send buffer, and the
			 * sender that would seal it waits for that memory.
			 */
			for (e = 0; e < 2; e++)
				TH_LOG("round %d (%s) %s", self->rounds,
				       cipher_for(self->rounds)->name,
				       stress_sock_report(fds[e], why,
							  sizeof(why)));
			crew_join(_metadata, c, 5 * i, 2, now_ms());
		}
		ASSERT_EQ(0, shutdown(fds[0], SHUT_WR));
		ASSERT_EQ(0, shutdown(fds[1], SHUT_WR));
		crew_join(_metadata, c, 2, 2, now_ms() + JOIN_MS);
		crew_join(_metadata, c, 7, 2, now_ms() + JOIN_MS);
		halt(&self->ctx);
		crew_join(_metadata, c, 0, c->n, now_ms() + JOIN_MS);

		for (e = 0; e < 2 && !self->ctx.fail.count; e++) {
			/* What e's readers got is what the other end sent. */
			stress_seen_init(&got, false);
			for (i = 0; i < 2; i++)
				stress_seen_merge(&got, &rcv[2 * e + i]->seen);
			for (i = 0; i < STRESS_CLASSES; i++)
				sent[i] = snd[2 * (1 - e) + i]->pos;
			EXPECT_TRUE(stress_seen_all(&got, sent,
						    snd[2 * (1 - e)]->ctrl +
						    snd[3 - 2 * e]->ctrl,
						    why, sizeof(why)))
				TH_LOG("round %d (%s) end %d: %s", self->rounds,
				       cipher_for(self->rounds)->name, e, why);
			EXPECT_TRUE(rcv[2 * e]->eof);
		}
		crew_free(c, &self->iters);
		close(fds[0]);
		close(fds[1]);
		wire_keys_free(&atx);
		wire_keys_free(&arx);
		if (self->ctx.fail.count)
			break;
	}
	finish(_metadata, self);
}

/*
 * The reader saw the end of what the peer wrote: EOF, or one of the
 * errors that end the stream, after all the data (if need_all).
 */
static bool done_reading(struct stress_worker *r, const struct stress_peer *p,
			 const int *terminal, bool need_all)
{
	return __atomic_load_n(&r->eof, __ATOMIC_ACQUIRE) ||
	       ((!need_all || __atomic_load_n(&r->seen.bytes[0],
					      __ATOMIC_ACQUIRE) == p->data[0]) &&
		stress_errno_in(__atomic_load_n(&r->last_err, __ATOMIC_ACQUIRE),
				terminal));
}

/*
 * A plain peer writes records, sometimes waits until the oktls end's TCP
 * has them all, then writes part of one more and resets. Meanwhile the
 * oktls end reads (one consumer, order checked), peeks, sends into the
 * full window and toggles options. The reader gets the whole records in
 * order (all of them, once they were acknowledged), then the reset.
 */
TEST_F_TIMEOUT(race, peer_reset_mid_record, 400)
{
	static const int allowed[] = { ECONNRESET, EPIPE, EBADMSG, 0 };
	static const int terminal[] = { ECONNRESET, EBADMSG, 0 };
	static struct stress_peer p;
	struct stress_worker *r;
	struct wire_keys atx, arx;
	long long until;
	int a, b;

	stress_ctx_init(&self->ctx, allowed);
	for (; now_ms() < self->end && !self->ctx.fail.count; self->rounds++) {
		struct crew *c = &self->crew;

		ASSERT_EQ(0, stress_pair(cipher_for(self->rounds), SEED ^ self->rounds,
					 STRESS_A_TX | STRESS_A_RX, &a, &b, &atx, &arx));
		sock_timeouts(a, 300, 0);
		self->ctx.halt = 0;
		stress_peer_init(&p, b, &arx, SEED + self->rounds);
		p.nrecs = 1 + self->rounds % 20;
		p.garbage = G_HALF;
		p.wait_acked = self->rounds % 4;
		p.end = END_RESET;
		r = hire(_metadata, c, &self->ctx, "reader", stress_receiver, a,
			 STRESS_ALL(RXM_NUM), true);
		hire(_metadata, c, &self->ctx, "peeker", stress_receiver, a,
		     1u << RXM_PEEK, false);
		hire(_metadata, c, &self->ctx, "sender", stress_sender, a,
		     STRESS_ALL(TXM_NUM), false)->flush = false;
		hire(_metadata, c, &self->ctx, "toggler", stress_toggler, a, 0,
		     false);
		c->w[3].tx = &atx;
		c->w[3].rx = &arx;
		ASSERT_EQ(0, stress_start(&p.t, "peer", stress_peer_writer, &p));
		crew_start(_metadata, c);
		ASSERT_EQ(0, stress_join(&p.t, 1, now_ms() + JOIN_MS, NULL, 0))
			TH_LOG("the peer is stuck: %s", threads_now());
		ASSERT_EQ(0, p.err) TH_LOG("peer write: %s", strerror(p.err));
		until = now_ms() + JOIN_MS;
		while (!done_reading(r, &p, terminal, p.acked) && now_ms() < until)
			sleep_ms(5);
		halt(&self->ctx);
		crew_join(_metadata, c, 0, c->n, now_ms() + JOIN_MS);
		EXPECT_TRUE(done_reading(r, &p, terminal, p.acked))
			TH_LOG("round %d: the reader saw neither the end nor an error: %llu of %llu bytes, last errno %d",
			       self->rounds, (unsigned long long)r->seen.bytes[0],
			       (unsigned long long)p.data[0], r->last_err);
		if (p.acked)
			EXPECT_EQ(p.data[0], r->seen.bytes[0])
				TH_LOG("round %d (%s): acknowledged records lost",
				       self->rounds, cipher_for(self->rounds)->name);
		EXPECT_GE(p.data[0], r->seen.bytes[0]);
		crew_free(c, &self->iters);
		close(a);
		wire_keys_free(&atx);
		wire_keys_free(&arx);
	}
	finish(_metadata, self);
}

/*
 * A plain peer writes valid records, then one kind of garbage, then more
 * records, then FIN. The oktls end's only consumer must get exactly the
 * records before the garbage, in order, and then the garbage's errno on
 * every later call; a peeker, a sender and a toggler run beside it, and
 * the peer checks every record the oktls end sends.
 */
TEST_F_TIMEOUT(race, peer_garbage, 400)
{
	static const int allowed[] = { EBADMSG, EINVAL, EMSGSIZE, ECONNRESET,
				       EPIPE, 0 };
	static const int errs[G_KINDS][4] = {
		[G_FLIP] = { EBADMSG }, [G_VERSION] = { EINVAL },
		[G_LONG] = { EMSGSIZE }, [G_SHORT] = { EBADMSG },
		[G_RANDOM] = { EBADMSG, EINVAL, EMSGSIZE },
	};
	static struct stress_peer p;
	struct stress_worker *r, *wr;
	struct wire_keys atx, arx, open;
	long long until;
	int a, b;

	stress_ctx_init(&self->ctx, allowed);
	for (; now_ms() < self->end && !self->ctx.fail.count; self->rounds++) {
		struct crew *c = &self->crew;
		enum stress_garbage g = G_FLIP + self->rounds % (G_KINDS - G_FLIP);

		ASSERT_EQ(0, stress_pair(cipher_for(self->rounds / 5), SEED - self->rounds,
					 STRESS_A_TX | STRESS_A_RX, &a, &b, &atx, &arx));
		/* The wire reader's own copy of atx (the toggler reads atx). */
		ASSERT_EQ(0, wire_keys_init(&open, atx.version, atx.cipher->type,
					    SEED - self->rounds, atx.seq));
		sock_timeouts(a, 300, 300);
		self->ctx.halt = 0;
		stress_peer_init(&p, b, &arx, SEED * 3 + self->rounds);
		p.nrecs = 1 + self->rounds % 12;
		p.garbage = g;
		p.wait_acked = self->rounds % 2;
		p.end = END_FIN;
		r = hire(_metadata, c, &self->ctx, "reader", stress_receiver, a,
			 STRESS_ALL(RXM_NUM), true);
		hire(_metadata, c, &self->ctx, "peeker", stress_receiver, a,
		     1u << RXM_PEEK, false);
		hire(_metadata, c, &self->ctx, "sender", stress_sender, a,
		     STRESS_ALL(TXM_NUM), false)->flush = false;
		hire(_metadata, c, &self->ctx, "toggler", stress_toggler, a, 0,
		     false);
		c->w[3].tx = &atx;
		c->w[3].rx = &arx;
		wr = hire(_metadata, c, &self->ctx, "wire reader",
			  stress_wire_reader, b, 0, true);
		wr->rx = &open;
		ASSERT_EQ(0, stress_start(&p.t, "peer", stress_peer_writer, &p));
		crew_start(_metadata, c);
		ASSERT_EQ(0, stress_join(&p.t, 1, now_ms() + JOIN_MS, NULL, 0))
			TH_LOG("the peer is stuck: %s", threads_now());
		until = now_ms() + JOIN_MS;
		while (!done_reading(r, &p, errs[g], true) && now_ms() < until)
			sleep_ms(5);
		halt(&self->ctx);
		/* The wire reader ends with the connection. */
		crew_join(_metadata, c, 0, 4, now_ms() + JOIN_MS);
		close(a);
		crew_join(_metadata, c, 4, 1, now_ms() + JOIN_MS);
		/*
		 * The stock module's error is not sticky (the peeker may take
		 * it) and a cut record may leave its reader waiting: there,
		 * only all the data before the garbage is asked for.
		 */
		EXPECT_TRUE(test_ulp_is_stock() ?
			    r->seen.bytes[0] == p.data[0] :
			    !r->eof && done_reading(r, &p, errs[g], true))
			TH_LOG("round %d (%s, garbage %d): %llu of %llu bytes, then %s (the peer's writes: %s)",
			       self->rounds, cipher_for(self->rounds / 5)->name, g,
			       (unsigned long long)r->seen.bytes[0],
			       (unsigned long long)p.data[0],
			       r->eof ? "EOF" : strerror(r->last_err),
			       p.err ? strerror(p.err) : "all written");
		EXPECT_EQ(p.ctrl, r->seen.ctrl_bytes);
		crew_free(c, &self->iters);
		close(b);
		wire_keys_free(&atx);
		wire_keys_free(&arx);
		wire_keys_free(&open);
	}
	finish(_metadata, self);
}

/*
 * The peer stops reading: two senders block on a full window, beside a
 * blocked reader, a poller and a toggler. Then the peer reads a few
 * records (each must open, the streams in order) and resets, or the oktls
 * end shuts down, or the peer just resets: every blocked call returns.
 */
TEST_F_TIMEOUT(race, peer_stops_reading, 400)
{
	static const int allowed[] = { EPIPE, ECONNRESET, 0 };
	struct wire_keys atx, arx, open;
	struct stress_worker *snd[2];
	struct stress_seen seen;
	uint8_t *rec, *pt, type;
	uint64_t pos, last = -1;
	long long quiet;
	char why[256];
	int a, b, n, i;
	size_t plen;
	ssize_t r;

	rec = malloc(WIRE_MAX_RECORD);
	pt = malloc(WIRE_MAX_RECORD);
	ASSERT_TRUE(rec && pt);
	stress_ctx_init(&self->ctx, allowed);
	for (; now_ms() < self->end && !self->ctx.fail.count; self->rounds++) {
		struct crew *c = &self->crew;

		ASSERT_EQ(0, stress_pair(cipher_for(self->rounds), SEED + 7 * self->rounds,
					 STRESS_A_TX | STRESS_A_RX, &a, &b, &atx, &arx));
		ASSERT_EQ(0, wire_keys_init(&open, atx.version, atx.cipher->type,
					    SEED + 7 * self->rounds, atx.seq));
		n = 16384;
		setsockopt(b, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
		n = 65536;
		setsockopt(a, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
		sock_timeouts(b, 5000, 0);
		self->ctx.halt = 0;
		for (i = 0; i < 2; i++) {
			snd[i] = hire(_metadata, c, &self->ctx, i ? "sender 1" :
				      "sender 0", stress_sender, a,
				      STRESS_ALL(TXM_NUM), false);
			snd[i]->cls = i;
			snd[i]->flush = false;
		}
		hire(_metadata, c, &self->ctx, "reader", stress_receiver, a,
		     STRESS_ALL(RXM_NUM), false);
		hire(_metadata, c, &self->ctx, "poller", stress_receiver, a,
		     1u << RXM_POLL, false);
		hire(_metadata, c, &self->ctx, "toggler", stress_toggler, a, 0,
		     false);
		c->w[4].tx = &atx;
		c->w[4].rx = &arx;
		crew_start(_metadata, c);
		/* Both senders blocked: nothing more taken for a while. */
		for (quiet = now_ms(); now_ms() - quiet < 300 &&
		     now_ms() < self->end + 5000; sleep_ms(20)) {
			pos = __atomic_load_n(&snd[0]->pos, __ATOMIC_RELAXED) +
			      __atomic_load_n(&snd[1]->pos, __ATOMIC_RELAXED);
			if (pos != last)
				quiet = now_ms();
			last = pos;
		}
		switch (self->rounds % 3) {
		case 0:
			stress_seen_init(&seen, true);
			for (i = 0; i < 1 + self->rounds % 8; i++) {
				r = wire_read_record(b, rec, WIRE_MAX_RECORD);
				ASSERT_LT(0, r) TH_LOG("record %d: %s", i,
						       strerror(errno));
				ASSERT_EQ(WIRE_OK, wire_open(&open, rec, r, &type,
							     pt, &plen));
				if (type == WIRE_TYPE_DATA)
					EXPECT_TRUE(stress_seen_data(&seen, pt, plen,
								     true, why,
								     sizeof(why)))
						TH_LOG("record %d: %s", i, why);
			}
			stress_reset_close(b);
			break;
		case 1:
			ASSERT_EQ(0, shutdown(a, SHUT_RDWR));
			sleep_ms(10);
			stress_reset_close(b);
			break;
		default:
			stress_reset_close(b);
			break;
		}
		halt(&self->ctx);
		crew_join(_metadata, c, 0, c->n, now_ms() + JOIN_MS);
		crew_free(c, &self->iters);
		close(a);
		wire_keys_free(&atx);
		wire_keys_free(&arx);
		wire_keys_free(&open);
	}
	free(rec);
	free(pt);
	finish(_metadata, self);
}

/*
 * close() of the descriptor every thread uses while they are blocked in
 * recv, splice, poll and send (the calls keep the file, so the socket
 * lives on), then a wake-up: shutdown through a dup, the peer's reset or
 * FIN, or the dup closed first so that the last blocked call to return
 * does the real close. Every call returns; later ones get EBADF.
 */
TEST_F_TIMEOUT(race, close_while_blocked, 400)
{
	static const int allowed[] = { EBADF, EPIPE, ECONNRESET, EBADMSG, 0 };
	struct wire_keys atx, arx;
	uint64_t rng = SEED;
	int a, b, d, kind;

	stress_ctx_init(&self->ctx, allowed);
	for (; now_ms() < self->end && !self->ctx.fail.count; self->rounds++) {
		struct crew *c = &self->crew;
		bool tls_peer = self->rounds % 2;

		ASSERT_EQ(0, stress_pair(cipher_for(self->rounds / 2),
					 SEED * 5 + self->rounds,
					 STRESS_A_TX | STRESS_A_RX |
					 (tls_peer ? STRESS_B_TLS : 0),
					 &a, &b, &atx, &arx));
		d = dup(a);
		ASSERT_LE(0, d);
		self->ctx.halt = 0;
		hire(_metadata, c, &self->ctx, "reader", stress_receiver, a,
		     STRESS_ALL(RXM_WAITALL), false);
		hire(_metadata, c, &self->ctx, "splicer/poller", stress_receiver,
		     a, 1u << RXM_SPLICE | 1u << RXM_POLL | 1u << RXM_PEEK, false);
		hire(_metadata, c, &self->ctx, "sender", stress_sender, a,
		     STRESS_ALL(TXM_NUM), false)->flush = false;
		hire(_metadata, c, &self->ctx, "toggler", stress_toggler, a, 0,
		     false);
		c->w[3].tx = &atx;
		c->w[3].rx = &arx;
		if (tls_peer)
			hire(_metadata, c, &self->ctx, "peer sender",
			     stress_sender, b, STRESS_ALL(TXM_NUM),
			     false)->flush = false;
		crew_start(_metadata, c);
		sleep_ms(wire_rand(&rng) % 60);
		ASSERT_EQ(0, close(a));
		sleep_ms(wire_rand(&rng) % 20);
		kind = self->rounds / 2 % 4;
		switch (kind) {
		case 0:
			ASSERT_EQ(0, shutdown(d, SHUT_RDWR));
			ASSERT_EQ(0, close(d));
			break;
		case 1:
			ASSERT_EQ(0, close(d));
			stress_reset_close(b);
			b = -1;
			break;
		case 2:
			shutdown(b, SHUT_WR);
			sleep_ms(5);
			stress_reset_close(b);
			b = -1;
			ASSERT_EQ(0, close(d));
			break;
		default:
			ASSERT_EQ(0, shutdown(d, SHUT_RD));
			sleep_ms(5);
			stress_reset_close(b);
			b = -1;
			ASSERT_EQ(0, close(d));
			break;
		}
		halt(&self->ctx);
		crew_join(_metadata, c, 0, c->n, now_ms() + JOIN_MS);
		crew_free(c, &self->iters);
		if (b >= 0)
			close(b);
		wire_keys_free(&atx);
		wire_keys_free(&arx);
	}
	finish(_metadata, self);
}

TEST_F_TIMEOUT(race, attach_detach_churn, 400)
{
	static const int allowed[] = { EBADF, ENOTCONN, ENOPROTOOPT, EOPNOTSUPP, EBUSY,
				       ECONNRESET, EPIPE, EBADMSG, EINVAL,
				       EMSGSIZE, EIO, 0 };
	static struct stress_churn ch;
	const struct stress_cipher *c;
	char why[256];
	int i;

	stress_ctx_init(&self->ctx, allowed);
	ch.ctx = &self->ctx;
	for (; now_ms() < self->end && !self->ctx.fail.count; self->rounds++) {
		self->ctx.halt = 0;
		for (i = 0; i < STRESS_CHURN; i++) {
			c = cipher_for(self->rounds + i);
			ASSERT_EQ(0, tcp_pair(i % 3 ? AF_INET : AF_INET6,
					      &ch.a[i], &ch.b[i]));
			ASSERT_EQ(0, wire_keys_init(&ch.k[i], c->version, c->cipher,
						    SEED + i, i));
			ASSERT_EQ(0, wire_keys_init(&ch.seal[i], c->version,
						    c->cipher, SEED + i, i));
		}
		for (i = 0; i < 4; i++) {
			ch.th[i] = (struct stress_churn_thread){ .ch = &ch, .role = i,
				.rng = SEED * self->rounds + i };
			ASSERT_EQ(0, stress_start(&ch.th[i].t, "churn", stress_churn_fn,
						  &ch.th[i]));
		}
		for (i = 0; i < 4; i++) {
			if (i == 3)
				halt(&self->ctx);
			ASSERT_EQ(0, stress_join(&ch.th[i].t, 1, now_ms() + JOIN_MS,
						 why, sizeof(why)))
				TH_LOG("churn thread %d stuck: %s", i, threads_now());
		}
		for (i = 0; i < STRESS_CHURN; i++) {
			wire_keys_free(&ch.k[i]);
			wire_keys_free(&ch.seal[i]);
		}
		self->iters += 4 * STRESS_CHURN;
	}
	finish(_metadata, self);
}

/*
 * Keys go in while records arrive: a plain peer streams records (and
 * sometimes FIN right after them) while one thread peeks and polls and
 * another sets TLS_TX; then TLS_RX at a random moment. Every record must
 * then be read, in order, none lost to the moment of the install, and
 * what the oktls end sends afterwards must open at the peer.
 */
TEST_F_TIMEOUT(race, keys_while_data_arrives, 400)
{
	static const int allowed[] = { 0 };
	static struct stress_peer p;
	struct stress_worker *r, *s, *wr;
	struct wire_keys atx, arx, open, seal;
	struct stress_prober pr[2];
	uint64_t sent[STRESS_CLASSES];
	long long until;
	char why[256];
	int a, b, i;

	stress_ctx_init(&self->ctx, allowed);
	for (; now_ms() < self->end && !self->ctx.fail.count; self->rounds++) {
		struct crew *c = &self->crew;

		ASSERT_EQ(0, stress_pair(cipher_for(self->rounds), SEED * 9 + self->rounds,
					 0, &a, &b, &atx, &arx));
		/* Own copies: the peer seals while arx is still to be set. */
		ASSERT_EQ(0, wire_keys_init(&open, atx.version, atx.cipher->type,
					    SEED * 9 + self->rounds, atx.seq));
		ASSERT_EQ(0, wire_keys_init(&seal, arx.version, arx.cipher->type,
					    ~(SEED * 9 + self->rounds), arx.seq));
		stress_peer_init(&p, b, &seal, SEED + self->rounds);
		p.nrecs = 1 + self->rounds % 24;
		p.end = self->rounds % 3 ? END_NONE : END_FIN;
		self->ctx.halt = 0;
		self->ctx.stop = 0;
		ASSERT_EQ(0, stress_start(&p.t, "peer", stress_peer_writer, &p));
		for (i = 0; i < 2; i++) {
			pr[i] = (struct stress_prober){ .ctx = &self->ctx, .tx = &atx,
				.fd = a, .rng = SEED + self->rounds };
			ASSERT_EQ(0, stress_start(&pr[i].t, i ? "TLS_TX" : "prober",
						  i ? stress_tx_keys_fn :
						      stress_prober_fn, &pr[i]));
		}
		usleep(wire_rand(&pr[0].rng) % 3000);
		ASSERT_EQ(0, wire_set_keys(a, TLS_RX, &arx));
		pr[0].halt = 1;
		for (i = 0; i < 2; i++)
			ASSERT_EQ(0, stress_join(&pr[i].t, 1, now_ms() + JOIN_MS,
						 why, sizeof(why)))
				TH_LOG("%s", threads_now());
		ASSERT_EQ(0, pr[1].err) TH_LOG("TLS_TX: %s", strerror(pr[1].err));

		sock_timeouts(a, 300, 0);
		r = hire(_metadata, c, &self->ctx, "reader", stress_receiver, a,
			 STRESS_ALL(RXM_NUM), true);
		s = hire(_metadata, c, &self->ctx, "sender", stress_sender, a,
			 STRESS_ALL(TXM_NUM), false);
		s->cls = 1;
		wr = hire(_metadata, c, &self->ctx, "wire reader",
			  stress_wire_reader, b, 0, true);
		wr->rx = &open;
		crew_start(_metadata, c);
		ASSERT_EQ(0, stress_join(&p.t, 1, now_ms() + JOIN_MS, NULL, 0))
			TH_LOG("the peer is stuck: %s", threads_now());
		ASSERT_EQ(0, p.err) TH_LOG("peer write: %s", strerror(p.err));
		until = now_ms() + JOIN_MS;
		while (now_ms() < until &&
		       !(__atomic_load_n(&r->seen.bytes[0], __ATOMIC_ACQUIRE) ==
			 p.data[0] && r->seen.ctrl_bytes == p.ctrl &&
			 (p.end != END_FIN || r->eof)))
			sleep_ms(5);
		__atomic_store_n(&self->ctx.stop, 1, __ATOMIC_RELEASE);
		crew_join(_metadata, c, 1, 1, now_ms() + JOIN_MS);
		ASSERT_EQ(0, shutdown(a, SHUT_WR));
		crew_join(_metadata, c, 2, 1, now_ms() + JOIN_MS);
		halt(&self->ctx);
		crew_join(_metadata, c, 0, 1, now_ms() + JOIN_MS);

		EXPECT_EQ(p.data[0], r->seen.bytes[0])
			TH_LOG("round %d (%s): %d records", self->rounds,
			       cipher_for(self->rounds)->name, p.nrecs);
		EXPECT_EQ(p.ctrl, r->seen.ctrl_bytes);
		EXPECT_EQ(p.end == END_FIN, r->eof);
		sent[0] = 0;
		sent[1] = s->pos;
		EXPECT_TRUE(wr->eof && stress_seen_all(&wr->seen, sent, s->ctrl,
						       why, sizeof(why)))
			TH_LOG("round %d, the peer's view: %s", self->rounds,
			       wr->eof ? why : "no EOF");
		crew_free(c, &self->iters);
		close(a);
		close(b);
		wire_keys_free(&atx);
		wire_keys_free(&arx);
		wire_keys_free(&open);
		wire_keys_free(&seal);
	}
	finish(_metadata, self);
}

TEST_HARNESS_MAIN
