// SPDX-License-Identifier: GPL-2.0
/*
 * oktlsd under load and abuse, in the guest. Server mode in front of an
 * echo backend on a thread of this process; the TLS clients are OpenSSL
 * connections in this process, non-blocking, driven by one poll loop.
 *
 *   load_1000_concurrent  1000 connections open at once, each echoes
 *   abuse_no_leaks        10 000 connections in assorted bad ways; fd count
 *                         and RSS afterwards against a warmed-up baseline
 *   refused_backend_alert_arrives
 *                         backend down: the client reads the internal_error
 *                         alert even after writing more; the daemon waits
 *                         for the client's end, 2 s at most
 *   per_source_limit      --max-per-source: one source is capped, another
 *                         still served
 *   sigterm_drains        a transfer in flight finishes, new connections
 *                         are refused, exit 0
 *   sighup_reloads_cert   new connections see the replaced certificate
 *   user_nobody           --user drops to uid/gid 65534 and still serves
 */
#include <sys/resource.h>

#include "kselftest_harness.h"
#include "lib/net.h"
#include "oktlsd/common.h"
#include "oktlsd/daemon.h"
#include "oktlsd/tlsclient.h"

#define NOBODY 65534u

/* oktlsd in front of bport with cert, then extra; its log is load-<tag>. */
static int load_daemon_start(struct daemon *d, const char *tag, int bport,
			     const char *cert, const char *const *extra)
{
	char *argv[40], backend[32], name[64];
	int n = 0, i;

	snprintf(backend, sizeof(backend), "127.0.0.1:%d", bport);
	snprintf(name, sizeof(name), "load-%s", tag);
	argv[n++] = "--backend";
	argv[n++] = backend;
	argv[n++] = "--cert";
	argv[n++] = (char *)cert;
	for (i = 0; extra && extra[i] && n < 39; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	return daemon_start(d, name, argv);
}

/* Wait until the daemon has no connection left; its active count or -1. */
static long daemon_settle(struct daemon *d, int ms)
{
	long long end = mono_ms() + ms;
	long active;

	do {
		active = daemon_stat(d->c.pid, d->log, "active");
		if (!active)
			break;
		usleep(200000);
	} while (mono_ms() < end);
	return active;
}

static void raise_nofile(struct __test_metadata *_metadata, rlim_t n)
{
	struct rlimit rl = { n, n };

	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
}

FIXTURE(load)
{
	struct echo echo;
	struct daemon d, d2;
	SSL_CTX *ctx;
};

FIXTURE_SETUP(load)
{
	self->echo.stop = -1;
	self->d.c.pid = self->d2.c.pid = 0;
	self->ctx = NULL;
	setup_common(_metadata);
	if (_metadata->exit_code)
		return;
	raise_nofile(_metadata, 16384);
	/* Writes to connections the daemon (or we) reset must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, echo_start(&self->echo));
	self->ctx = client_ctx();
	ASSERT_NE(NULL, self->ctx);
}

FIXTURE_TEARDOWN(load)
{
	if (!__test_passed(_metadata)) {
		if (self->d.c.pid > 0)
			dump_file(self->d.log, 40);
		if (self->d2.c.pid > 0)
			dump_file(self->d2.log, 20);
	}
	if (self->d.c.pid > 0)
		daemon_stop_within(&self->d, 20000);
	if (self->d2.c.pid > 0)
		daemon_stop_within(&self->d2, 20000);
	echo_stop(&self->echo);
	SSL_CTX_free(self->ctx);
}

/* One full connection: handshake, echo, close. 0 or -1. */
static int echo_once(SSL_CTX *ctx, int port, const char *src, int id)
{
	struct tc t;
	int ret;

	tc_open(&t, ctx, port, src, TC_ECHO, id);
	tc_drive(&t, 1, 30000);
	ret = t.st == TC_HOLD ? 0 : -1;
	if (ret)
		printf("# connection %d: %s\n", id, t.why ? t.why : "timed out");
	tc_close(&t);
	return ret;
}

/*
 * 1000 TLS connections open at the same time: every handshake completes
 * and every connection echoes its own message while all are open.
 */
TEST_F_TIMEOUT(load, load_1000_concurrent, 900)
{
	enum { N = 1000 };
	struct tc *t = calloc(N, sizeof(*t));
	char hs_timeout[16];
	const char *const extra[] = {
		"--max-conns", "2000", "--max-per-source", "2000",
		"--handshake-timeout", hs_timeout, NULL,
	};
	long long t0, ms;
	int i, held = 0, fds;

	/*
	 * The last of the 1000 handshakes waits for all before it: 100 s on
	 * a Debian guest, 370 on the debug kernel beside three other guests.
	 * The handshake timeout itself is abuse_no_leaks's business.
	 */
	snprintf(hs_timeout, sizeof(hs_timeout), "%d", 600 * timeout_scale());
	ASSERT_EQ(0, load_daemon_start(&self->d, "1000", self->echo.port, PKI "/server.pem", extra));
	t0 = mono_ms();
	for (i = 0; i < N; i++)
		ASSERT_EQ(0, tc_open(&t[i], self->ctx, self->d.port, NULL, TC_ECHO, i));
	EXPECT_EQ(0, tc_drive(t, N, 720000 * timeout_scale()));
	ms = mono_ms() - t0;
	for (i = 0; i < N; i++) {
		held += t[i].st == TC_HOLD;
		if (t[i].st != TC_HOLD && i - held < 5)
			printf("# connection %d: state %d, %s\n", i, t[i].st,
			       t[i].why ? t[i].why : "timed out");
	}
	/* Each held connection: its TLS socket, the backend socket, two pipes. */
	fds = count_fds(self->d.c.pid);
	TH_LOG("%d of %d connections handshaken and echoed in %lld ms (%lld/s); oktlsd holds %d fds",
	       held, N, ms, N * 1000LL / (ms ? ms : 1), fds);
	EXPECT_EQ(N, held);
	EXPECT_LE(N * 6, fds);
	EXPECT_EQ(N, daemon_stat(self->d.c.pid, self->d.log, "active"));
	t0 = mono_ms();
	for (i = 0; i < N; i++)
		tc_close(&t[i]);
	/* 13 closes a second on the debug kernel in CI: the bound scales too. */
	EXPECT_EQ(0, daemon_settle(&self->d, 120000 * timeout_scale()));
	TH_LOG("all %d connections closed in the daemon after %lld ms", N, mono_ms() - t0);
	EXPECT_EQ(N, daemon_stat(self->d.c.pid, self->d.log, "offloaded"));
	EXPECT_EQ(0, daemon_stop_within(&self->d, 30000));
	free(t);
}

/* --user nobody: the daemon runs as uid/gid 65534 and still serves. */
TEST_F_TIMEOUT(load, user_nobody, 120)
{
	static const char *const extra[] = { "--user", "nobody", NULL };
	char path[64], line[256];
	unsigned int uid[4] = { 1 }, gid[4] = { 1 };
	bool groups_empty = false;
	FILE *f;

	ASSERT_EQ(0, load_daemon_start(&self->d, "user", self->echo.port, PKI "/server.pem", extra));
	/* Listening comes before the drop; a served connection comes after. */
	EXPECT_EQ(0, echo_once(self->ctx, self->d.port, NULL, 1));
	snprintf(path, sizeof(path), "/proc/%d/status", self->d.c.pid);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Uid: %u %u %u %u", &uid[0], &uid[1], &uid[2], &uid[3]);
		sscanf(line, "Gid: %u %u %u %u", &gid[0], &gid[1], &gid[2], &gid[3]);
		if (!strncmp(line, "Groups:", 7))
			groups_empty = !line[7 + strcspn(line + 7, "0123456789")];
	}
	fclose(f);
	TH_LOG("oktlsd Uid %u %u %u %u, Gid %u %u %u %u", uid[0], uid[1], uid[2], uid[3],
	       gid[0], gid[1], gid[2], gid[3]);
	for (int i = 0; i < 4; i++) {
		EXPECT_EQ(NOBODY, uid[i]);
		EXPECT_EQ(NOBODY, gid[i]);
	}
	EXPECT_TRUE(groups_empty);
	EXPECT_TRUE(file_has(self->d.log, "running as nobody (uid 65534)"));
	EXPECT_EQ(0, echo_once(self->ctx, self->d.port, NULL, 2));
	EXPECT_EQ(0, daemon_stop_within(&self->d, 20000));
}

/* xorshift64: the abuse test's order and garbage, reproducible from the seed. */
static unsigned long long rnd_state;

static unsigned long long rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* A real ClientHello from ctx, as the bytes a client would send first. */
static int client_hello(SSL_CTX *ctx, unsigned char *buf, int size)
{
	SSL *ssl = SSL_new(ctx);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	int n;

	SSL_set_bio(ssl, r, w);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set_connect_state(ssl);
	SSL_do_handshake(ssl);
	n = BIO_read(w, buf, size);
	SSL_free(ssl);
	ERR_clear_error();
	return n;
}

/* Wait for a non-blocking connect; the fd, or -1 (closed). */
static int connect_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -1;
	if (poll(&p, 1, 5000 * timeout_scale()) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the peer ends fd (EOF or reset) within ms. */
static bool peer_closes(int fd, int ms)
{
	long long end = mono_ms() + ms;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[4096];
	ssize_t r;

	do {
		long long left = end - mono_ms();

		if (poll(&p, 1, left > 0 ? left : 0) != 1)
			return false;
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return true;
		if (r < 0 && errno != EAGAIN)
			return false;
	} while (mono_ms() < end);
	return false;
}

enum abuse {
	A_CLOSE,	/* connect, close */
	A_RST,		/* connect, reset (SO_LINGER 0) */
	A_GARBAGE,	/* random bytes instead of a ClientHello, then EOF */
	A_STALL,	/* half a ClientHello, then nothing: the handshake timeout */
	A_ABORT_HS,	/* ClientHello, reset once the server answers */
	A_RST_XFER,	/* full handshake, echo, reset with data in flight */
	A_REFUSED,	/* full handshake with a daemon whose backend is down */
	A_N
};

static const char *const abuse_names[A_N] = {
	"close", "rst", "garbage", "stall", "abort_hs", "rst_xfer", "refused",
};

struct stall {
	int fd;
	long long opened, closed;
};

struct abuse_run {
	int done[A_N];		/* connections that ended as expected */
	struct stall stall[256];
	int nstall;
};

/* Record when stalled connections are dropped by the daemon; how many are left. */
static int stalls_check(struct abuse_run *r, int wait_ms)
{
	long long end = mono_ms() + wait_ms;
	int i, left;

	do {
		left = 0;
		for (i = 0; i < r->nstall; i++) {
			struct stall *s = &r->stall[i];

			if (s->closed)
				continue;
			if (peer_closes(s->fd, 0)) {
				s->closed = mono_ms();
				close(s->fd);
				r->done[A_STALL]++;
			} else {
				left++;
			}
		}
		if (left && wait_ms)
			usleep(50000);
	} while (left && mono_ms() < end);
	return left;
}

#define BATCH 4

static void batch_run(struct tc *b, int *n, struct abuse_run *r, const enum abuse *kinds)
{
	int i;

	tc_drive(b, *n, 120000 * timeout_scale());
	for (i = 0; i < *n; i++) {
		if (b[i].st == TC_DONE)
			r->done[kinds[i]]++;
		else if (r->done[kinds[i]] < 3)
			printf("# %s: state %d %s\n", abuse_names[kinds[i]], b[i].st,
			       b[i].why ? b[i].why : "");
		tc_close(&b[i]);
	}
	*n = 0;
}

/* counts[kind] connections of each kind, in an order shuffled by seed. */
static void abuse(SSL_CTX *ctx, int port, int refused_port, const int *counts,
		  unsigned long long seed, struct abuse_run *r)
{
	static unsigned char hello[2048];
	static struct tc batch[BATCH];
	enum abuse bkind[BATCH], *order, k;
	int total = 0, i, j, nb = 0, hlen, fd;
	unsigned char junk[600];

	hlen = client_hello(ctx, hello, sizeof(hello));
	for (k = 0; k < A_N; k++)
		total += counts[k];
	order = calloc(total, sizeof(*order));
	for (k = 0, i = 0; k < A_N; k++)
		for (j = 0; j < counts[k]; j++)
			order[i++] = k;
	rnd_state = seed;
	for (i = total - 1; i > 0; i--) {
		j = rnd() % (i + 1);
		k = order[i];
		order[i] = order[j];
		order[j] = k;
	}
	for (i = 0; i < total; i++) {
		k = order[i];
		switch (k) {
		case A_CLOSE:
		case A_RST:
		case A_GARBAGE:
		case A_STALL:
			fd = connect_wait(tcp_start(port, NULL));
			if (fd < 0)
				break;
			if (k == A_CLOSE) {
				close(fd);
				r->done[k]++;
			} else if (k == A_RST) {
				rst_close(fd);
				r->done[k]++;
			} else if (k == A_GARBAGE) {
				int len = 1 + rnd() % sizeof(junk);

				for (j = 0; j < len; j++)
					junk[j] = rnd();
				/* A quarter look like a handshake record at first. */
				if (!(rnd() & 3) && len > 3)
					memcpy(junk, "\x16\x03\x01", 3);
				if (send(fd, junk, len, MSG_NOSIGNAL) == len)
					shutdown(fd, SHUT_WR);
				r->done[k] += peer_closes(fd, 10000 * timeout_scale());
				close(fd);
			} else if (r->nstall < (int)ARRAY_SIZE(r->stall) &&
				   send(fd, hello, hlen / 2, MSG_NOSIGNAL) == hlen / 2) {
				r->stall[r->nstall++] = (struct stall){ fd, mono_ms(), 0 };
			} else {
				close(fd);
			}
			break;
		default:
			bkind[nb] = k;
			tc_open(&batch[nb], ctx, k == A_REFUSED ? refused_port : port, NULL,
				k == A_ABORT_HS ? TC_ABORT_HS :
				k == A_RST_XFER ? TC_RST_XFER : TC_REFUSED, i);
			if (++nb == BATCH)
				batch_run(batch, &nb, r, bkind);
			break;
		}
		if (!(i % 256))
			stalls_check(r, 0);
	}
	if (nb)
		batch_run(batch, &nb, r, bkind);
	free(order);
}

/*
 * 10 000 connections that go wrong in assorted ways, against a daemon with
 * a 10 s handshake timeout, and against a second one whose backend port is
 * closed. Afterwards both must hold exactly the fds they held after a
 * warm-up, their RSS must not have grown past a bound, and both must serve.
 *
 * Under TCG a full handshake costs ~80 ms of emulated CPU (12/s measured in
 * the 6.12 guest with 1000 in flight), so 10 000 full handshakes would not
 * fit in the rig's 600 s: the cheap kinds dominate and 300 of the 10 000
 * do (part of) a handshake: 100 aborted after the ServerHello, 100 reset
 * mid-transfer, 100 against the refusing backend. They run BATCH (4) at
 * a time. The timeout is 10 s, not 2-3 s: on a loaded host even 4 TCG
 * handshakes at once sometimes took over 3 s (9 of 300 were dropped by a
 * 3 s timeout), which made the exact counts below flaky. On the
 * debug kernel every bound here, the daemon's timeout too, is times
 * OKTLS_TIMEOUT_SCALE: there the handshakes are that much slower.
 */
TEST_F_TIMEOUT(load, abuse_no_leaks, 500)
{
	const int scale = timeout_scale(), hs_ms = 10000 * scale;
	char hs_timeout[16];
	const char *const extra[] = {
		"--handshake-timeout", hs_timeout, "--max-per-source", "1000",
		"--max-conns", "20000", NULL,
	};
	static const int run_counts[A_N] = { 3300, 3300, 3060, 40, 100, 100, 100 };
	static const int warm_counts[A_N] = { 50, 50, 50, 4, 8, 8, 8 };
	unsigned long long seed = getenv("OKTLSD_SEED") ? strtoull(getenv("OKTLSD_SEED"), NULL, 0)
							: 0x6f6b746c73ULL;
	struct abuse_run *warm = calloc(1, sizeof(*warm)), *run = calloc(1, sizeof(*run));
	int fd0, fd1, fdb0, fdb1, refused = free_port(), i, total = 0;
	long rss0, rss1, rssb0, rssb1, timeouts0, failed0, offl0, acc0;
	long long t0, ms, early = 1LL << 40, late = 0;

	snprintf(hs_timeout, sizeof(hs_timeout), "%d", hs_ms / 1000);
	ASSERT_EQ(0, load_daemon_start(&self->d, "abuse", self->echo.port, PKI "/server.pem", extra));
	ASSERT_EQ(0, load_daemon_start(&self->d2, "refused", refused, PKI "/server.pem", extra));

	/* Warm-up: every kind once through malloc's arenas and OpenSSL's caches. */
	/*
	 * Stalled handshakes go after --handshake-timeout; the wait is only
	 * an upper bound, generous for a loaded host.
	 */
	abuse(self->ctx, self->d.port, self->d2.port, warm_counts, seed + 1, warm);
	EXPECT_EQ(0, stalls_check(warm, 3 * hs_ms));
	ASSERT_EQ(0, daemon_settle(&self->d, 20000 * scale));
	ASSERT_EQ(0, daemon_settle(&self->d2, 20000 * scale));
	fd0 = count_fds(self->d.c.pid);
	rss0 = rss_kb(self->d.c.pid);
	fdb0 = count_fds(self->d2.c.pid);
	rssb0 = rss_kb(self->d2.c.pid);
	timeouts0 = daemon_stat(self->d.c.pid, self->d.log, "handshake_timeout");
	offl0 = daemon_stat(self->d.c.pid, self->d.log, "offloaded");
	acc0 = daemon_stat(self->d.c.pid, self->d.log, "accepted");
	failed0 = daemon_stat(self->d2.c.pid, self->d2.log, "backend_failed");

	t0 = mono_ms();
	abuse(self->ctx, self->d.port, self->d2.port, run_counts, seed, run);
	EXPECT_EQ(0, stalls_check(run, 3 * hs_ms));
	ms = mono_ms() - t0;
	for (i = 0; i < A_N; i++) {
		total += run_counts[i];
		TH_LOG("%-8s %5d of %5d ended as expected", abuse_names[i], run->done[i],
		       run_counts[i]);
		EXPECT_EQ(run_counts[i], run->done[i]);
	}
	for (i = 0; i < run->nstall; i++) {
		long long held = run->stall[i].closed - run->stall[i].opened;

		if (!run->stall[i].closed)
			continue;
		early = held < early ? held : early;
		late = held > late ? held : late;
	}
	TH_LOG("%d connections (seed %#llx) in %lld ms; stalled handshakes dropped after %lld..%lld ms",
	       total, seed, ms, early, late);
	/* Never before --handshake-timeout (the check is coarse only upward). */
	EXPECT_LE(hs_ms - 100, early);

	EXPECT_EQ(0, daemon_settle(&self->d, 30000 * scale));
	EXPECT_EQ(0, daemon_settle(&self->d2, 30000 * scale));
	fd1 = count_fds(self->d.c.pid);
	rss1 = rss_kb(self->d.c.pid);
	fdb1 = count_fds(self->d2.c.pid);
	rssb1 = rss_kb(self->d2.c.pid);
	TH_LOG("oktlsd: fds %d -> %d, VmRSS %ld -> %ld kB; refusing-backend oktlsd: fds %d -> %d, VmRSS %ld -> %ld kB",
	       fd0, fd1, rss0, rss1, fdb0, fdb1, rssb0, rssb1);
	EXPECT_EQ(fd0, fd1);
	EXPECT_EQ(fdb0, fdb1);
	EXPECT_GT(2048, rss1 - rss0);
	EXPECT_GT(2048, rssb1 - rssb0);
	EXPECT_EQ(run_counts[A_STALL],
		  daemon_stat(self->d.c.pid, self->d.log, "handshake_timeout") - timeouts0);
	EXPECT_EQ(run_counts[A_RST_XFER],
		  daemon_stat(self->d.c.pid, self->d.log, "offloaded") - offl0);
	/*
	 * Not exact: a connection closed or reset by the client while still in
	 * the listen backlog may never reach accept() (6.1 guest, loaded host:
	 * 9898 of 9900 accepted). Only those two kinds may be missing.
	 */
	acc0 = daemon_stat(self->d.c.pid, self->d.log, "accepted") - acc0;
	TH_LOG("oktlsd accepted %ld of the %d connections sent to it", acc0,
	       total - run_counts[A_REFUSED]);
	EXPECT_GE(total - run_counts[A_REFUSED], acc0);
	EXPECT_LE(total - run_counts[A_REFUSED] - run_counts[A_CLOSE] - run_counts[A_RST], acc0);
	EXPECT_EQ(run_counts[A_REFUSED],
		  daemon_stat(self->d2.c.pid, self->d2.log, "backend_failed") - failed0);

	/* Still alive and serving. */
	EXPECT_EQ(0, echo_once(self->ctx, self->d.port, NULL, 1));
	EXPECT_EQ(0, daemon_stop_within(&self->d, 20000));
	EXPECT_EQ(0, daemon_stop_within(&self->d2, 20000));
	free(warm);
	free(run);
}

/*
 * A blocking TLS 1.3 connection to port that sends a request right after
 * the handshake, then waits until the daemon's end of the stream (FIN or
 * reset) is here. The fd, or -1.
 */
static int request_until_end(SSL_CTX *ctx, int port, SSL **sslp)
{
	struct pollfd p = { .events = POLLRDHUP };
	SSL *ssl = SSL_new(ctx);

	p.fd = tcp_connect_port(port);
	if (!ssl || p.fd < 0 || !SSL_set_fd(ssl, p.fd) ||
	    !SSL_set_max_proto_version(ssl, TLS1_3_VERSION))
		goto fail;
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set1_host(ssl, "localhost");
	if (SSL_connect(ssl) != 1 || SSL_write(ssl, "GET /\r\n", 7) != 7 ||
	    poll(&p, 1, 10000 * timeout_scale()) != 1)
		goto fail;
	*sslp = ssl;
	return p.fd;
fail:
	SSL_free(ssl);
	if (p.fd >= 0)
		close(p.fd);
	return -1;
}

/*
 * Backend down: the daemon ends each connection with internal_error. The
 * client's request sits unread in the daemon's socket, and closing that
 * socket would reset the connection: a client that writes once more before
 * it reads would get ECONNRESET and never learn why. The daemon sends its
 * FIN after the alert and keeps the socket until the client ends too, or
 * for 2 s at most.
 */
TEST_F_TIMEOUT(load, refused_backend_alert_arrives, 120)
{
	const int scale = timeout_scale();
	long long t_end, held_ms;
	int fd, r, err;
	char buf[64];
	SSL *ssl;

	ASSERT_EQ(0, load_daemon_start(&self->d2, "alert", free_port(), PKI "/server.pem", NULL));

	/* The client ends once it has read the alert. */
	fd = request_until_end(self->ctx, self->d2.port, &ssl);
	ASSERT_LE(0, fd);
	EXPECT_EQ(5, SSL_write(ssl, "more\n", 5))
		TH_LOG("a write after the daemon's end failed: %s", strerror(errno));
	ERR_clear_error();
	r = SSL_read(ssl, buf, sizeof(buf));
	err = SSL_get_error(ssl, r);
	EXPECT_EQ(SSL_ERROR_SSL, err);
	EXPECT_EQ(SSL_R_TLSV1_ALERT_INTERNAL_ERROR, ERR_GET_REASON(ERR_peek_error()))
		TH_LOG("SSL_read %d, error %d, %s", r, err, ERR_reason_error_string(ERR_peek_error()));
	SSL_free(ssl);
	close(fd);
	EXPECT_EQ(0, daemon_settle(&self->d2, 10000 * scale));
	EXPECT_FALSE(file_has(self->d2.log, "did not end after our alert"));

	/* A client that neither reads nor closes: dropped after the linger. */
	fd = request_until_end(self->ctx, self->d2.port, &ssl);
	ASSERT_LE(0, fd);
	t_end = mono_ms();
	EXPECT_TRUE(file_wait(self->d2.log, "did not end after our alert", 10000 * scale))
		dump_file(self->d2.log, 20);
	held_ms = mono_ms() - t_end;
	TH_LOG("an idle client's connection held %lld ms after the alert", held_ms);
	EXPECT_LE(1900, held_ms);
	EXPECT_EQ(0, daemon_settle(&self->d2, 10000 * scale));
	SSL_free(ssl);
	close(fd);
	EXPECT_EQ(2, daemon_stat(self->d2.c.pid, self->d2.log, "backend_failed"));
	EXPECT_EQ(0, daemon_stop_within(&self->d2, 20000));
}

/*
 * --max-per-source 4: four stalled handshakes from 127.0.0.1 hold its
 * slots; three more from it are closed at once, a connection from
 * 127.0.0.2 is served, and the four stay open.
 */
TEST_F_TIMEOUT(load, per_source_limit, 120)
{
	static const char *const extra[] = {
		"--max-per-source", "4", "--handshake-timeout", "60", NULL,
	};
	enum { N = 4, K = 3 };
	unsigned char hello[2048];
	int held[N], extra_fd, i, hlen;
	long long t0;
	char c;

	ASSERT_EQ(0, load_daemon_start(&self->d, "source", self->echo.port, PKI "/server.pem", extra));
	hlen = client_hello(self->ctx, hello, sizeof(hello));
	for (i = 0; i < N; i++) {
		held[i] = connect_wait(tcp_start(self->d.port, "127.0.0.1"));
		ASSERT_LE(0, held[i]);
		ASSERT_EQ(hlen / 2, send(held[i], hello, hlen / 2, 0));
	}
	t0 = mono_ms();
	while (daemon_stat(self->d.c.pid, self->d.log, "accepted") < N && mono_ms() < t0 + 10000)
		;
	ASSERT_EQ(N, daemon_stat(self->d.c.pid, self->d.log, "accepted"));
	for (i = 0; i < K; i++) {
		extra_fd = connect_wait(tcp_start(self->d.port, "127.0.0.1"));
		ASSERT_LE(0, extra_fd);
		t0 = mono_ms();
		EXPECT_TRUE(peer_closes(extra_fd, 5000));
		TH_LOG("extra connection %d from 127.0.0.1 closed after %lld ms", i, mono_ms() - t0);
		close(extra_fd);
	}
	EXPECT_EQ(K, daemon_stat(self->d.c.pid, self->d.log, "refused_limit"));
	EXPECT_EQ(0, echo_once(self->ctx, self->d.port, "127.0.0.2", 1));
	for (i = 0; i < N; i++) {
		EXPECT_EQ(-1, recv(held[i], &c, 1, MSG_DONTWAIT));
		EXPECT_EQ(EAGAIN, errno);
		close(held[i]);
	}
	EXPECT_EQ(0, daemon_stop_within(&self->d, 20000));
}

/* A deterministic stream through one TLS connection; SIGTERM part way. */
TEST_F_TIMEOUT(load, sigterm_drains, 180)
{
	static const char *const extra[] = { "--drain-timeout", "60", NULL };
	const unsigned long long total = 4 << 20;
	static unsigned char wbuf[16384], rbuf[16384];
	unsigned char wsum[32], rsum[32];
	unsigned long long wdone = 0, rdone = 0;
	EVP_MD_CTX *wh = EVP_MD_CTX_new(), *rh = EVP_MD_CTX_new();
	long long end, t_term = 0;
	int r, refused = -2, refused_errno = 0, st;
	struct pollfd p;
	struct tc t;

	ASSERT_EQ(0, load_daemon_start(&self->d, "drain", self->echo.port, PKI "/server.pem", extra));
	tc_open(&t, self->ctx, self->d.port, NULL, TC_ECHO, 1);
	tc_drive(&t, 1, 30000);
	ASSERT_TRUE(t.st == TC_HOLD);
	EVP_DigestInit_ex(wh, EVP_sha256(), NULL);
	EVP_DigestInit_ex(rh, EVP_sha256(), NULL);
	end = mono_ms() + 150000;
	while (rdone < total && mono_ms() < end) {
		size_t len = total - wdone < sizeof(wbuf) ? total - wdone : sizeof(wbuf);

		if (wdone < total) {
			/* A retry after WANT_* must pass the same bytes: they derive from wdone. */
			flow_fill(wbuf, len, wdone, 7);
			r = SSL_write(t.ssl, wbuf, len);
			if (r > 0) {
				EVP_DigestUpdate(wh, wbuf, r);
				wdone += r;
			} else if (!tc_want(&t, r)) {
				break;
			}
		}
		r = SSL_read(t.ssl, rbuf, sizeof(rbuf));
		if (r > 0) {
			EVP_DigestUpdate(rh, rbuf, r);
			rdone += r;
		} else if (!tc_want(&t, r)) {
			break;
		}
		if (!t_term && rdone >= total / 4) {
			kill(self->d.c.pid, SIGTERM);
			t_term = mono_ms();
			usleep(300000);
			/* Draining: the listener is gone. */
			refused = tcp_connect_port(self->d.port);
			refused_errno = errno;
			if (refused >= 0)
				close(refused);
		}
		p = (struct pollfd){ .fd = t.fd,
				     .events = POLLIN | (wdone < total ? POLLOUT : 0) };
		poll(&p, 1, 100);
	}
	EVP_DigestFinal_ex(wh, wsum, NULL);
	EVP_DigestFinal_ex(rh, rsum, NULL);
	TH_LOG("%llu of %llu bytes echoed, SIGTERM after %llu", rdone, total, total / 4);
	EXPECT_EQ(total, rdone);
	EXPECT_EQ(0, memcmp(wsum, rsum, 32));
	EXPECT_NE(0, t_term);
	EXPECT_EQ(-1, refused);
	EXPECT_EQ(ECONNREFUSED, refused_errno);
	/* Our close_notify ends the connection; then the daemon exits 0. */
	SSL_shutdown(t.ssl);
	tc_close(&t);
	st = daemon_stop_within(&self->d, 60000);
	TH_LOG("oktlsd exited %d, %lld ms after SIGTERM", st, mono_ms() - t_term);
	EXPECT_EQ(0, st);
	EXPECT_TRUE(file_has(self->d.log, "draining 1 connections"));
	EXPECT_FALSE(file_has(self->d.log, "drain timeout"));
	EVP_MD_CTX_free(wh);
	EVP_MD_CTX_free(rh);
}

/* The peer certificate's CN on a new connection, into cn; 0 or -1. */
static int peer_cn(SSL_CTX *ctx, int port, char *cn, int size)
{
	X509 *x;
	struct tc t;
	int ret = -1;

	cn[0] = 0;
	tc_open(&t, ctx, port, NULL, TC_ECHO, 1);
	tc_drive(&t, 1, 30000);
	x = t.st == TC_HOLD ? SSL_get1_peer_certificate(t.ssl) : NULL;
	if (x && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
					   cn, size) > 0)
		ret = 0;
	X509_free(x);
	tc_close(&t);
	return ret;
}

/* SIGHUP: a new certificate and key in place of the old are served. */
TEST_F_TIMEOUT(load, sighup_reloads_cert, 120)
{
	char cn[64];
	int i;

	ASSERT_EQ(0, system("set -e; d=/tmp/oktlsd-reload; rm -rf $d; mkdir -p $d; cd $d;"
			    "cat " PKI "/server.crt " PKI "/server.key >cert.pem;"
			    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out new.key 2>/dev/null;"
			    "openssl req -new -key new.key -subj /CN=reloaded -out new.csr 2>/dev/null;"
			    "openssl x509 -req -in new.csr -CA " PKI "/ca.pem -CAkey " PKI "/ca.key"
			    " -CAcreateserial -days 2 -extfile " PKI "/san.ext -out new.crt 2>/dev/null;"
			    "cat new.crt new.key >new.pem"));
	ASSERT_EQ(0, load_daemon_start(&self->d, "reload", self->echo.port,
				  "/tmp/oktlsd-reload/cert.pem", NULL));
	ASSERT_EQ(0, peer_cn(self->ctx, self->d.port, cn, sizeof(cn)));
	EXPECT_STREQ("server", cn);
	ASSERT_EQ(0, rename("/tmp/oktlsd-reload/new.pem", "/tmp/oktlsd-reload/cert.pem"));
	kill(self->d.c.pid, SIGHUP);
	for (i = 0; i < 100 && !file_has(self->d.log, "certificates and keys reloaded"); i++)
		usleep(100000);
	EXPECT_TRUE(file_has(self->d.log, "certificates and keys reloaded"));
	ASSERT_EQ(0, peer_cn(self->ctx, self->d.port, cn, sizeof(cn)));
	EXPECT_STREQ("reloaded", cn);
	EXPECT_EQ(0, daemon_stop_within(&self->d, 20000));
}

TEST_HARNESS_MAIN
