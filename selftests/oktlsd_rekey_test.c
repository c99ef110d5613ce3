// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 KeyUpdate both ways in the middle of a bulk transfer through
 * oktlsd, against an unmodified OpenSSL 3 peer written here on libssl
 * (oktlsd/tlspeer.h), in the guest:
 *
 *   server_mode  OpenSSL client -> oktlsd -> plain backend (a thread here)
 *   client_mode  plain client (a thread here) -> oktlsd --client -> OpenSSL server
 *
 * Both ends write a deterministic stream of `mib` MiB and read the other's;
 * the SHA-256 of each direction is compared end to end. The OpenSSL peer
 * calls SSL_key_update() every `ku` bytes it writes, update_requested and
 * update_not_requested in turn; oktlsd runs with --rekey-records, so the
 * kernel also sends KeyUpdates of its own. The peer counts, from its
 * message callback, the KeyUpdates that really crossed the wire each way.
 * Then close_notify both ways, in bounded time (poll deadlines, a stall
 * check across both ends, the harness timeout): a stall fails, never hangs.
 *
 * What must hold, with B = mib MiB each way, R = --rekey-records,
 * K = KeyUpdates the peer sent (one at every multiple of ku inside (0, B):
 * (B - 1) / ku of them), Q = those with update_requested (the first, the
 * third, ...: (K + 1) / 2), Y = KeyUpdates the peer received:
 *
 *  - the kernel followed every one of the peer's: oktlsd's "the kernel
 *    followed X KeyUpdates and sent Y" line has X = K, and its statistics
 *    kernel_key_updates = K (one connection per daemon, so exact);
 *  - what the kernel sent is what the peer read, Y on both sides, none of
 *    them update_requested, and at least one with data on both sides of it;
 *    kernel_rekeys = K + Y (RX switches plus TX switches);
 *  - Y >= Q: every update_requested is answered (they are ku apart, and the
 *    answer goes before the kernel's next record, or from its transmit work
 *    when nothing is being sent);
 *  - Y >= ceil(D / R) - 1 with D >= ceil(B / 16 KiB) records: the kernel
 *    checks before opening each record and rekeys once a key sealed R, so
 *    no key seals more than R data records. For 100 MiB and R = 512: 6400
 *    records at least, Y >= 12. Not Y >= Q + that: an answer also resets
 *    the count, so the two kinds can fold into one KeyUpdate.
 *
 * The plain end shuts its write side only once it has read everything, so
 * every KeyUpdate ahead of that data has been handled when oktlsd turns the
 * EOF into close_notify, and a requested answer still owed goes out before
 * it (the kernel checks before opening the alert record too).
 *
 * Variants: TLS_AES_128_GCM_SHA256 at 100 MiB each way, a KeyUpdate every
 * 8 MiB, R = 512 (the kernel's own about every 8 MiB too); ChaCha20-Poly1305
 * and AES-256-GCM (SHA-384 secrets, so the other HKDF) at 8 MiB, every 1 MiB,
 * R = 32; and --no-kernel-keyupdate ("bare"), the peer writing 8 MiB with a
 * KeyUpdate every 1 MiB: the first must end the connection with an
 * internal_error alert (80) to the peer, and oktlsd must hand the plain end
 * exactly the bytes before it (bytes_to_plain), then reset it.
 *
 * In the bare variant the plain end writes nothing: oktlsd sends the alert
 * and closes the TLS socket with the peer's records still unread, which
 * makes TCP reset at once and drop its send queue; with a stream still
 * queued toward the peer the alert is behind it and is lost (the peer sees
 * a reset, not the alert). OKTLSD_TEST_BARE_BULK=1 makes the plain end
 * write its stream too, which shows that.
 *
 * OKTLSD_TEST_MIB=N moves N MiB instead of 100 in the first variant, with
 * the KeyUpdate interval and R scaled to keep the same counts (the debug
 * kernel's run sets 8), and OKTLS_TIMEOUT_SCALE stretches every wait as it
 * does the harness's timeouts.
 *
 * Time under TCG on a busy 2-core host (load 6-13): 50-135 s for each
 * 100 MiB test, 1-25 s for each of the others, 3-6 minutes for the file.
 * Each test prints the CPU time of both ends and of oktlsd; SHA-256 and the
 * peer's AES are most of it.
 */
#include "kselftest_harness.h"
#include "lib/net.h"
#include "oktlsd/common.h"
#include "oktlsd/daemon.h"
#include "oktlsd/tlspeer.h"

#define PEER_SEED 1
#define PLAIN_SEED 2
#define RECORD (16 << 10)	/* largest TLS plaintext record */
/* oktlsd's line when a KeyUpdate reaches it with bare keys (oktlsd_auth_test). */
#define BARE_LOGGED "TLS peer sent a KeyUpdate"
#define ALERT_INTERNAL_ERROR 80

FIXTURE(rekey)
{
	struct daemon d;
	int lfd;
	unsigned long long bytes, ku;
	unsigned int rekey;
};

FIXTURE_VARIANT(rekey)
{
	const char *suite;	/* OpenSSL name */
	int mib;		/* each way */
	int ku_kib;		/* the peer's KeyUpdate interval */
	unsigned int rekey;	/* --rekey-records */
	bool bare;		/* --no-kernel-keyupdate */
};

FIXTURE_VARIANT_ADD(rekey, 13_aes_gcm_128) {
	"TLS_AES_128_GCM_SHA256", 100, 8192, 512, false };
FIXTURE_VARIANT_ADD(rekey, 13_chacha) {
	"TLS_CHACHA20_POLY1305_SHA256", 8, 1024, 32, false };
FIXTURE_VARIANT_ADD(rekey, 13_aes_gcm_256) {
	"TLS_AES_256_GCM_SHA384", 8, 1024, 32, false };
FIXTURE_VARIANT_ADD(rekey, 13_bare) {
	"TLS_AES_128_GCM_SHA256", 8, 1024, 0, true };

FIXTURE_SETUP(rekey)
{
	const char *env = getenv("OKTLSD_TEST_MIB");
	int mib = variant->mib;

	self->d.c.pid = 0;
	self->lfd = -1;
	/* Writes to an end that was reset (bare) must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	setup_common(_metadata);
	if (env && atoi(env) > 0 && variant->mib == 100)
		mib = atoi(env);
	self->bytes = (unsigned long long)mib << 20;
	/* Same counts at any size: interval and R scale with it. */
	self->ku = ((unsigned long long)variant->ku_kib << 10) * mib / variant->mib;
	self->ku = self->ku / RECORD * RECORD ?: RECORD;
	self->rekey = (unsigned long long)variant->rekey * mib / variant->mib ?: 1;
}

FIXTURE_TEARDOWN(rekey)
{
	if (self->d.c.pid > 0)
		daemon_stop(&self->d);
	if (self->lfd >= 0)
		close(self->lfd);
	if (!__test_passed(_metadata))
		dump_file(self->d.log, 60);
}

/* The number after needle on the last line holding it, or -1. */
static long long log_number(const char *path, const char *needle)
{
	char line[2048];
	long long v = -1;
	FILE *f = fopen(path, "r");
	char *p;

	while (f && fgets(line, sizeof(line), f)) {
		p = strstr(line, needle);
		if (p)
			v = atoll(p + strlen(needle));
	}
	if (f)
		fclose(f);
	return v;
}

/* User and system CPU time of a process so far, in ms, or -1. */
static long long proc_cpu_ms(pid_t pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')');
	/* After "pid (comm)": state and 10 more fields, then utime and stime. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (ut + st) * 1000 / sysconf(_SC_CLK_TCK);
}

/* Print the daemon's lines holding needle, for the TAP log. */
static void log_show(const char *path, const char *needle)
{
	char line[2048];
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			printf("# oktlsd: %s", line);
	if (f)
		fclose(f);
}

static void show_sums(const char *what, const unsigned char *sent,
		      const unsigned char *got, unsigned long long n)
{
	char a[65], b[65];

	hex32(sent, a);
	hex32(got, b);
	printf("# %s: %llu bytes, sent sha256 %s, received %s\n", what, n, a, b);
}

/* The checks with the kernel following the updates (see the top comment). */
static void expect_followed(struct __test_metadata *_metadata, FIXTURE_DATA(rekey) *self,
			    const struct tlspeer *p, const struct plainpeer *c)
{
	const char *log = self->d.log;
	int k = (self->bytes - 1) / self->ku;
	unsigned long long d = (self->bytes + RECORD - 1) / RECORD;
	long long auto_min = (d + self->rekey - 1) / self->rekey - 1;
	long long sent = -1, followed = -1;
	char line[2048];
	FILE *f;

	EXPECT_EQ(p->wdone, self->bytes);
	EXPECT_EQ(p->rdone, self->bytes);
	EXPECT_EQ(c->wdone, self->bytes);
	EXPECT_EQ(c->rdone, self->bytes);
	EXPECT_EQ(0, memcmp(p->wsum, c->rsum, 32));
	EXPECT_EQ(0, memcmp(c->wsum, p->rsum, 32));
	/* The plain end: EOF after everything, not a byte more, no error. */
	EXPECT_TRUE(c->eof);
	EXPECT_EQ(0ULL, c->extra);
	EXPECT_EQ(0, c->err);
	EXPECT_EQ(NULL, c->why);

	/* The peer's KeyUpdates, all sent, and the kernel's, all read. */
	EXPECT_EQ(k, p->ku_sent);
	EXPECT_EQ((k + 1) / 2, p->ku_sent_requested);
	EXPECT_LE(1, p->ku_seen_mid);
	EXPECT_EQ(0, p->ku_seen_requested);
	EXPECT_LE(p->ku_sent_requested, p->ku_seen);
	EXPECT_LE(auto_min, p->ku_seen);

	/* oktlsd's account of the kernel's work, logged when the connection ended. */
	EXPECT_TRUE(file_wait(log, "the kernel followed ", 20000 * timeout_scale()));
	f = fopen(log, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *q = strstr(line, "the kernel followed ");

		if (q)
			sscanf(q, "the kernel followed %lld KeyUpdates and sent %lld",
			       &followed, &sent);
	}
	if (f)
		fclose(f);
	EXPECT_EQ((long long)k, followed);
	EXPECT_EQ(p->ku_seen, sent);
	log_show(log, "the kernel followed ");

	EXPECT_EQ(0, daemon_stop(&self->d));
	log_show(log, " stats: ");
	EXPECT_EQ((long long)k, log_number(log, " kernel_key_updates="));
	EXPECT_EQ((long long)k + p->ku_seen, log_number(log, " kernel_rekeys="));
	EXPECT_EQ(0, log_number(log, " key_updates="));
	EXPECT_EQ(0, file_count(log, BARE_LOGGED, NULL));
	printf("# peer sent %d KeyUpdates (%d update_requested), read %d from the kernel\n",
	       p->ku_sent, p->ku_sent_requested, p->ku_seen);
	printf("# the first after %llu bytes; --rekey-records %u needs %lld at least\n",
	       p->ku_seen_first, self->rekey, auto_min);
}

/*
 * Bare keys: the first KeyUpdate ends it. oktlsd hands the plain end
 * exactly the bytes before it and then resets it (a reset drops what was
 * still queued, so the plain end gets at most those bytes); the peer gets
 * an internal_error alert, and only bytes of the plain end's stream before.
 */
static void expect_bare(struct __test_metadata *_metadata, FIXTURE_DATA(rekey) *self,
			const struct tlspeer *p, const struct plainpeer *c, enum tp_end end)
{
	unsigned char sum[32];

	EXPECT_EQ(TP_ALERTED, (int)end);
	EXPECT_EQ(ALERT_INTERNAL_ERROR, p->alert);
	EXPECT_LE(1, p->ku_sent);
	EXPECT_EQ(0, p->ku_seen);
	EXPECT_EQ(ECONNRESET, c->err);
	EXPECT_GE(self->ku, c->rdone);
	EXPECT_EQ(0ULL, c->extra);
	stream_sha256(PEER_SEED, c->rdone, sum);
	EXPECT_EQ(0, memcmp(sum, c->rsum, 32));
	show_sums("peer to plain, cut", sum, c->rsum, c->rdone);
	stream_sha256(PLAIN_SEED, p->rdone, sum);
	EXPECT_EQ(0, memcmp(sum, p->rsum, 32));
	show_sums("plain to peer, cut", sum, p->rsum, p->rdone);

	EXPECT_TRUE(file_wait(self->d.log, BARE_LOGGED, 10000 * timeout_scale()));
	EXPECT_EQ(0, daemon_stop(&self->d));
	log_show(self->d.log, BARE_LOGGED);
	log_show(self->d.log, " stats: ");
	EXPECT_EQ(1, file_count(self->d.log, BARE_LOGGED, NULL));
	EXPECT_EQ(1, log_number(self->d.log, " key_updates="));
	EXPECT_EQ((long long)self->ku, log_number(self->d.log, " bytes_to_plain="));
	EXPECT_EQ(0, log_number(self->d.log, " kernel_key_updates="));
	EXPECT_EQ(0, log_number(self->d.log, " kernel_rekeys="));
}

/*
 * One transfer: the OpenSSL peer on fd here (server: it is the TLS server),
 * the plain end c on its thread; then the checks.
 */
static void transfer(struct __test_metadata *_metadata, FIXTURE_DATA(rekey) *self,
		     const FIXTURE_VARIANT(rekey) *variant, bool server, int fd,
		     struct plainpeer *c)
{
	long long t0 = mono_ms(), scale = timeout_scale();
	long long deadline = t0 + (30000 + (self->bytes >> 20) * 2000) * scale;
	long long dcpu = proc_cpu_ms(self->d.c.pid);
	/* Bare: a quiet plain end, unless OKTLSD_TEST_BARE_BULK (see the top). */
	unsigned long long back = variant->bare && !getenv("OKTLSD_TEST_BARE_BULK") ?
				  0 : self->bytes;
	struct tlspeer *p;
	enum tp_end end;

	p = tlspeer_new(server, fd, variant->suite, self->bytes, back, PEER_SEED, self->ku);
	ASSERT_NE(NULL, p);
	c->wtotal = back;
	c->rtotal = self->bytes;
	c->seed = PLAIN_SEED;
	c->deadline = deadline + 10000 * scale;
	ASSERT_EQ(0, plainpeer_start(c));
	end = tlspeer_run(p, deadline);
	plainpeer_join(c);
	printf("# %s, %s: %llu MiB each way in %lld ms, end %d%s%s\n", variant->suite,
	       server ? "peer is the server" : "peer is the client", self->bytes >> 20,
	       mono_ms() - t0, end, p->why[0] ? ": " : "", p->why);
	printf("# CPU ms: OpenSSL peer %lld, plain end %lld, oktlsd and its kernel work %lld\n",
	       p->cpu_ms, c->cpu_ms, proc_cpu_ms(self->d.c.pid) - dcpu);
	if (c->why)
		printf("# plain end: wrote %llu, read %llu: %s (%s)\n", c->wdone, c->rdone,
		       c->why, strerror(c->err));
	if (!variant->bare && end != TP_OK) {
		/* Nothing more to learn; the daemon's log follows. */
		tlspeer_free(p);
		ASSERT_EQ(TP_OK, (int)end);
	}
	if (variant->bare) {
		expect_bare(_metadata, self, p, c, end);
	} else {
		EXPECT_EQ(TP_OK, (int)end);
		show_sums("peer to plain", p->wsum, c->rsum, c->rdone);
		show_sums("plain to peer", c->wsum, p->rsum, p->rdone);
		expect_followed(_metadata, self, p, c);
	}
	EXPECT_EQ(variant->bare ? 0 : 1, file_count(self->d.log, ", kernel key updates)", NULL));
	tlspeer_free(p);
}

/* Our options after the mode's: the suite, and the key update mode. */
static void rekey_opts(FIXTURE_DATA(rekey) *self, const FIXTURE_VARIANT(rekey) *variant,
		       char *const *argv, char *rekey, size_t size)
{
	char **v = (char **)argv;
	int n = 0;

	while (v[n])
		n++;
	v[n++] = "--ciphersuites";
	v[n++] = (char *)variant->suite;
	if (variant->bare) {
		v[n++] = "--no-kernel-keyupdate";
	} else {
		snprintf(rekey, size, "%u", self->rekey);
		v[n++] = "--rekey-records";
		v[n++] = rekey;
	}
	v[n] = NULL;
}

/* OpenSSL client -> oktlsd (server) -> plain backend */
TEST_F_TIMEOUT(rekey, server_mode, 270)
{
	struct plainpeer c = { .fd = -1 };
	char backend[32], rekey[16];
	char *const *argv;
	int bport, fd;

	bport = free_port();
	self->lfd = tcp_listen_port(bport);
	ASSERT_LE(0, self->lfd);
	snprintf(backend, sizeof(backend), "127.0.0.1:%d", bport);
	argv = argvec("--backend", backend, "--cert", PKI "/server.pem", NULL);
	rekey_opts(self, variant, argv, rekey, sizeof(rekey));
	ASSERT_EQ(0, daemon_start(&self->d, "rekey-server", argv));
	c.lfd = self->lfd;
	fd = tcp_connect_port(self->d.port);
	ASSERT_LE(0, fd);
	transfer(_metadata, self, variant, false, fd, &c);
}

/* plain client -> oktlsd --client -> OpenSSL server */
TEST_F_TIMEOUT(rekey, client_mode, 270)
{
	struct plainpeer c = { .lfd = -1 };
	char server[32], rekey[16];
	char *const *argv;
	int port, fd;

	port = free_port();
	self->lfd = tcp_listen_port(port);
	ASSERT_LE(0, self->lfd);
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	argv = argvec("--client", "--backend", server, "--servername", "localhost",
		      "--ca", PKI "/ca.pem", NULL);
	rekey_opts(self, variant, argv, rekey, sizeof(rekey));
	ASSERT_EQ(0, daemon_start(&self->d, "rekey-client", argv));
	/* oktlsd connects to us once the plain end has connected to it. */
	c.fd = tcp_connect_port(self->d.port);
	ASSERT_LE(0, c.fd);
	fd = accept_ms(self->lfd, 30000 * timeout_scale());
	ASSERT_LE(0, fd);
	transfer(_metadata, self, variant, true, fd, &c);
}

TEST_HARNESS_MAIN
