// SPDX-License-Identifier: GPL-2.0
/*
 * oktlsd's client certificates, a peer's KeyUpdate after offload, and
 * --syslog, in the guest, against unmodified peers (openssl s_client and
 * s_server, busybox syslogd). Certificates and keys come from the test PKI
 * of oktlsd/common.h, made with the openssl command line at test time.
 *
 *   auth.verify_client_*  server mode, --verify-client --ca: a certificate
 *                         from that CA is accepted and both streams match
 *                         end to end (SHA-256); no certificate, or one from
 *                         another CA, is refused: the client gets an alert,
 *                         oktlsd logs one line naming the reason, and the
 *                         backend never sees a connection, so not a byte
 *   auth.client_mode_*    client mode presents --cert/--key to
 *                         s_server -Verify 1; without them it is refused
 *   keyupdate.*           a TLS 1.3 KeyUpdate from either kind of peer
 *                         after offload: in the kernel by default,
 *                         ending the connection with bare keys (keyupdate_bare)
 *   logging.syslog_*      --syslog: startup, connection and refusal lines
 *                         reach syslogd with their levels; stderr stays empty
 *
 * The auth tests run over TLS 1.2 and 1.3, the KeyUpdate tests with and
 * without update_requested.
 */
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "lib/net.h"
#include "oktlsd/common.h"
#include "oktlsd/daemon.h"

/* Each way; with TCG's slow userspace crypto in the peer, a few seconds. */
#define XFER_BYTES (2ULL << 20)
#define SYSLOG_FILE "/tmp/oktlsd-syslog.log"
/* What a peer sends right after its KeyUpdate, under its new keys. */
#define AFTER_KEYUPDATE "after the key update\n"

/*
 * What oktlsd does with a KeyUpdate that arrives after offload, in one
 * place. By default oktls holds the TLS 1.3 traffic secrets and follows
 * it in the kernel: the bytes the peer sends under its new keys reach the
 * plain side, update_requested is answered, the connection goes on, and
 * oktlsd counts what the kernel did (kernel_key_updates).
 *
 * With bare keys (--no-kernel-keyupdate) the kernel cannot open the peer's
 * next records, so oktlsd ends the connection: a fatal internal_error alert
 * to the TLS peer (not close_notify, which would claim an orderly end of
 * our data), a reset to the plain side (its stream was cut, not finished),
 * one warning line, key_updates counted, and the daemon serves on.
 */
static const struct {
	int plain_end;		/* how a read on the plain side ends (errno) */
	const char *peer_sees;	/* in the OpenSSL peer's stderr */
	const char *logged;	/* oktlsd's line */
} keyupdate_bare = {
	.plain_end = ECONNRESET,
	.peer_sees = "SSL alert number 80",	/* internal_error */
	.logged = "TLS peer sent a KeyUpdate",
};

/* Text read from a pipe or socket so far, NUL-terminated. */
struct cap {
	char buf[65536];
	size_t n;
};

/* Read fd into cap until it holds needle; 0, or -1 on EOF, error, timeout. */
static int read_until(int fd, struct cap *cap, const char *needle, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long long end = mono_ms() + ms, left;
	ssize_t r;

	cap->buf[cap->n] = 0;
	while (!strstr(cap->buf, needle)) {
		left = end - mono_ms();
		if (left <= 0 || poll(&p, 1, left) != 1)
			return -1;
		r = read(fd, cap->buf + cap->n, sizeof(cap->buf) - 1 - cap->n);
		if (r <= 0)
			return -1;
		cap->n += r;
		cap->buf[cap->n] = 0;
	}
	return 0;
}

/* Exactly the bytes of want (no more) from fd within ms; 0 or -1. */
static int read_exact(int fd, const char *want, int ms)
{
	static struct cap cap;

	cap.n = 0;
	if (read_until(fd, &cap, want, ms))
		return -1;
	usleep(100000);		/* anything more would be in by now */
	return cap.n == strlen(want) && inq_bytes(fd) == 0 ? 0 : -1;
}

/*
 * Read a socket to its end: 0 for EOF, the errno that ended it (ECONNRESET
 * for a reset), -1 if still open after ms. *extra counts bytes on the way.
 */
static int read_end(int fd, int ms, long *extra)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long long end = mono_ms() + ms, left;
	char buf[4096];
	ssize_t r;

	*extra = 0;
	for (;;) {
		left = end - mono_ms();
		if (left <= 0 || poll(&p, 1, left) != 1)
			return -1;
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r == 0)
			return 0;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return errno;
		if (r > 0)
			*extra += r;
	}
}

/* Wait until a child has read all we wrote to its stdin pipe; 0 or -1. */
static int pipe_drained(int fd, int ms)
{
	long long end = mono_ms() + ms;
	int queued;

	while (!ioctl(fd, FIONREAD, &queued) && queued) {
		if (mono_ms() > end)
			return -1;
		usleep(10000);
	}
	return 0;
}

/* One test's daemon, its OpenSSL peer and, in server mode, the backend. */
struct rig {
	struct daemon d;
	struct child peer;
	int lfd, bport;		/* the backend: a listener in this process */
	char backend[32];
	char peer_log[96];	/* the peer's stderr */
};

static void rig_setup(struct __test_metadata *_metadata, struct rig *r, const char *name)
{
	r->d.c.pid = 0;
	r->peer.pid = 0;
	r->peer.in = r->peer.out = -1;
	r->lfd = -1;
	snprintf(r->peer_log, sizeof(r->peer_log), LOGDIR "/auth-%s-peer.log", name);
	/* Writes to a peer that already ended (refused, alerted) must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	setup_common(_metadata);
}

static void rig_teardown(struct __test_metadata *_metadata, struct rig *r)
{
	if (r->peer.pid > 0)
		reap(&r->peer, 0);
	if (r->d.c.pid > 0)
		EXPECT_EQ(0, daemon_stop(&r->d));
	if (r->lfd >= 0)
		close(r->lfd);
	if (!__test_passed(_metadata)) {
		dump_file(r->d.log, 40);
		printf("# the peer's stderr:\n");
		dump_file(r->peer_log, 20);
	}
}

/* Server-mode oktlsd in front of a new backend listener; extra may be NULL. */
static int server_start(struct rig *r, const char *tag, bool verify_client,
			const char *extra)
{
	char *argv[12];
	int n = 0;

	r->bport = free_port();
	r->lfd = tcp_listen_port(r->bport);
	if (r->lfd < 0)
		return -1;
	snprintf(r->backend, sizeof(r->backend), "127.0.0.1:%d", r->bport);
	argv[n++] = "--backend";
	argv[n++] = r->backend;
	argv[n++] = "--cert";
	argv[n++] = PKI "/server.pem";
	if (verify_client) {
		argv[n++] = "--verify-client";
		argv[n++] = "--ca";
		argv[n++] = PKI "/ca.pem";
	}
	if (extra)
		argv[n++] = (char *)extra;
	argv[n] = NULL;
	return daemon_start(&r->d, tag, argv);
}

/*
 * Client-mode oktlsd to a TLS server on port; cert/key to present, or NULL;
 * extra: one more option, or NULL.
 */
static int client_start_opt(struct rig *r, const char *tag, int port, const char *cert,
			    const char *key, const char *extra)
{
	char *argv[16];
	int n = 0;

	snprintf(r->backend, sizeof(r->backend), "127.0.0.1:%d", port);
	argv[n++] = "--client";
	argv[n++] = "--backend";
	argv[n++] = r->backend;
	argv[n++] = "--servername";
	argv[n++] = "localhost";
	argv[n++] = "--ca";
	argv[n++] = PKI "/ca.pem";
	if (cert) {
		argv[n++] = "--cert";
		argv[n++] = (char *)cert;
		argv[n++] = "--key";
		argv[n++] = (char *)key;
	}
	if (extra)
		argv[n++] = (char *)extra;
	argv[n] = NULL;
	return daemon_start(&r->d, tag, argv);
}

static int client_start(struct rig *r, const char *tag, int port, const char *cert,
			const char *key)
{
	return client_start_opt(r, tag, port, cert, key, NULL);
}

/*
 * openssl s_client to oktlsd, presenting the PKI pair cert (NULL: none).
 * quiet: stdout is the data alone. Otherwise s_client also prints its
 * session and takes commands from stdin: a line "k" or "K" makes it call
 * SSL_key_update().
 */
static int s_client(struct child *c, int port, const char *proto, const char *cert,
		    bool quiet, const char *log)
{
	char connect[32], crt[64], key[64];
	char *argv[20];
	int n = 0;

	snprintf(connect, sizeof(connect), "127.0.0.1:%d", port);
	argv[n++] = "openssl";
	argv[n++] = "s_client";
	argv[n++] = "-connect";
	argv[n++] = connect;
	argv[n++] = (char *)proto;
	argv[n++] = "-servername";
	argv[n++] = "localhost";
	argv[n++] = "-CAfile";
	argv[n++] = PKI "/ca.pem";
	argv[n++] = "-verify_return_error";
	if (quiet)
		argv[n++] = "-quiet";
	if (cert) {
		snprintf(crt, sizeof(crt), PKI "/%s.crt", cert);
		snprintf(key, sizeof(key), PKI "/%s.key", cert);
		argv[n++] = "-cert";
		argv[n++] = crt;
		argv[n++] = "-key";
		argv[n++] = key;
	}
	argv[n] = NULL;
	unlink(log);
	return spawn(c, argv, true, log);
}

/*
 * openssl s_server on port for naccept connections; verify: -Verify 1
 * (a client certificate from the test CA is required). Not quiet: it takes
 * "k"/"K" from stdin as s_client does. 0 once it listens.
 */
static int s_server(struct child *c, int port, const char *proto, bool verify,
		    const char *naccept, bool quiet, const char *log)
{
	char accept[16];
	char *argv[20];
	int n = 0;

	snprintf(accept, sizeof(accept), "%d", port);
	argv[n++] = "openssl";
	argv[n++] = "s_server";
	argv[n++] = "-accept";
	argv[n++] = accept;
	argv[n++] = "-naccept";
	argv[n++] = (char *)naccept;
	argv[n++] = "-cert";
	argv[n++] = PKI "/server.crt";
	argv[n++] = "-key";
	argv[n++] = PKI "/server.key";
	argv[n++] = (char *)proto;
	if (verify) {
		argv[n++] = "-Verify";
		argv[n++] = "1";
		argv[n++] = "-CAfile";
		argv[n++] = PKI "/ca.pem";
	}
	if (quiet)
		argv[n++] = "-quiet";
	argv[n] = NULL;
	unlink(log);
	if (spawn(c, argv, true, log))
		return -1;
	return wait_listen(port, 10000);
}

/* Move XFER_BYTES each way and compare the SHA-256 of both streams. */
static void xfer(struct __test_metadata *_metadata, int to_a, int from_a, int to_b,
		 int from_b)
{
	char sent[65], got[65];
	struct flow fl[2];
	int i;

	flow_init(&fl[0], to_a, from_b, XFER_BYTES);
	flow_init(&fl[1], to_b, from_a, XFER_BYTES);
	ASSERT_EQ(0, pump_flows(fl, 2, 90000)) {
		printf("# moved %llu and %llu of %llu bytes\n", fl[0].rdone, fl[1].rdone,
		       XFER_BYTES);
	}
	for (i = 0; i < 2; i++) {
		hex32(fl[i].wsum, sent);
		hex32(fl[i].rsum, got);
		printf("# stream %d: %llu bytes, sent sha256 %s, received %s\n", i,
		       fl[i].total, sent, got);
		EXPECT_EQ(0, memcmp(fl[i].wsum, fl[i].rsum, 32));
		flow_free(&fl[i]);
	}
}

/*
 * One whole connection through server-mode oktlsd: s_client (presenting
 * cert, or none) gets a line from the backend, and exits 0 on the
 * close_notify that follows the backend's close. 0 or -1.
 */
static int serve_one(struct rig *r, const char *proto, const char *cert)
{
	struct child c;
	struct cap out = { .n = 0 };
	int bfd, ret = -1;

	if (s_client(&c, r->d.port, proto, cert, true, LOGDIR "/auth-serve-one.log"))
		return -1;
	bfd = accept_ms(r->lfd, 30000);
	if (bfd >= 0 && write(bfd, "served\n", 7) == 7 &&
	    !read_until(c.out, &out, "served\n", 20000))
		ret = 0;
	if (bfd >= 0)
		close(bfd);
	if (reap(&c, 20000))
		ret = -1;
	close(c.in);
	close(c.out);
	if (ret)
		dump_file(LOGDIR "/auth-serve-one.log", 20);
	return ret;
}

FIXTURE(auth)
{
	struct rig r;
};

FIXTURE_VARIANT(auth)
{
	const char *proto;	/* s_client/s_server option */
	bool tls13;
};

FIXTURE_VARIANT_ADD(auth, tls12) { "-tls1_2", false };
FIXTURE_VARIANT_ADD(auth, tls13) { "-tls1_3", true };

FIXTURE_SETUP(auth) { rig_setup(_metadata, &self->r, "auth"); }
FIXTURE_TEARDOWN(auth) { rig_teardown(_metadata, &self->r); }

TEST_F_TIMEOUT(auth, verify_client_accepts_ca_signed, 120)
{
	struct rig *r = &self->r;
	int bfd;

	ASSERT_EQ(0, server_start(r, "verify-accept", true, NULL));
	ASSERT_EQ(0, s_client(&r->peer, r->d.port, variant->proto, "client", true, r->peer_log));
	bfd = accept_ms(r->lfd, 30000);
	ASSERT_LE(0, bfd);
	xfer(_metadata, r->peer.in, r->peer.out, bfd, bfd);
	/* The offload line names whom the certificate vouched for. */
	EXPECT_EQ(1, file_count(r->d.log, "offloaded", ", client CN = client"));
	/* The backend closes: s_client gets close_notify and exits 0. */
	close(bfd);
	EXPECT_EQ(0, reap(&r->peer, 20000));
}

/*
 * s_client, presenting cert (NULL: none), is refused by --verify-client:
 * it exits with an error after printing alert, oktlsd logs one line, with
 * reason, and the backend never sees a connection. In TLS 1.3 the client's
 * handshake is over before the server reads its certificate: it sends its
 * data at once, and reads the alert only after.
 */
static void verify_client_refused(struct __test_metadata *_metadata, struct rig *r,
				  const char *proto, const char *cert,
				  const char *alert, const char *reason)
{
	static const char secret[] = "these bytes must not reach the backend\n";

	ASSERT_EQ(0, server_start(r, "verify-refuse", true, NULL));
	ASSERT_EQ(0, s_client(&r->peer, r->d.port, proto, cert, true, r->peer_log));
	ASSERT_EQ((ssize_t)sizeof(secret) - 1, write(r->peer.in, secret, sizeof(secret) - 1));
	/* Ends, in bounded time, with an error (-1 would be: killed, hung). */
	EXPECT_LT(0, reap(&r->peer, 30000));
	EXPECT_TRUE(file_has(r->peer_log, alert));
	EXPECT_TRUE(file_wait(r->d.log, reason, 10000));
	/* oktlsd connects to the backend only after a handshake: never here. */
	EXPECT_EQ(-1, accept_ms(r->lfd, 1000));
	EXPECT_EQ(0, daemon_stop(&r->d));
	EXPECT_EQ(1, file_count(r->d.log, "refused:", NULL));
	EXPECT_EQ(1, file_count(r->d.log, "stats:", "verify_failed=1 "));
	EXPECT_EQ(1, file_count(r->d.log, "stats:", "offloaded=0 "));
	close(r->peer.in);
	close(r->peer.out);
}

TEST_F_TIMEOUT(auth, verify_client_refuses_no_cert, 120)
{
	verify_client_refused(_metadata, &self->r, variant->proto, NULL,
			      variant->tls13 ? "alert certificate required" :
					       "alert handshake failure",
			      "refused: the client sent no certificate (--verify-client requires one)");
}

TEST_F_TIMEOUT(auth, verify_client_refuses_other_ca, 120)
{
	/* "unknown" is signed by other-ca, which --ca does not hold. */
	verify_client_refused(_metadata, &self->r, variant->proto, "unknown",
			      "alert unknown ca",
			      "refused: the client certificate is not trusted by --ca "
			      PKI "/ca.pem: unable to get local issuer certificate");
}

/* Client mode with --cert/--key, to a server that requires a client certificate. */
TEST_F_TIMEOUT(auth, client_mode_presents_cert, 120)
{
	struct rig *r = &self->r;
	int port = free_port(), fd;
	char buf[16];

	ASSERT_EQ(0, s_server(&r->peer, port, variant->proto, true, "1", true, r->peer_log));
	ASSERT_EQ(0, client_start(r, "client-cert", port, PKI "/client.crt",
				  PKI "/client.key"));
	fd = tcp_connect_port(r->d.port);
	ASSERT_LE(0, fd);
	xfer(_metadata, fd, fd, r->peer.in, r->peer.out);
	EXPECT_TRUE(file_has(r->d.log, "offloaded"));
	/* We close: s_server gets close_notify, ends, and so closes us. */
	shutdown(fd, SHUT_WR);
	EXPECT_EQ(0, reap(&r->peer, 20000));
	fcntl(fd, F_SETFL, 0);
	sock_timeouts(fd, 10000, 0);
	EXPECT_EQ(0, read(fd, buf, sizeof(buf)));
	close(fd);
}

/*
 * The control for the test above: without --cert the same server refuses,
 * which proves it was checking. The local client sees its connection end
 * with nothing on it; oktlsd logs why (TLS 1.2: the handshake fails; TLS
 * 1.3: the alert arrives after offload, through the kernel).
 */
TEST_F_TIMEOUT(auth, client_mode_refused_without_cert, 120)
{
	struct rig *r = &self->r;
	int port = free_port(), fd;
	long extra;

	ASSERT_EQ(0, s_server(&r->peer, port, variant->proto, true, "1", true, r->peer_log));
	ASSERT_EQ(0, client_start(r, "client-nocert", port, NULL, NULL));
	fd = tcp_connect_port(r->d.port);
	ASSERT_LE(0, fd);
	ASSERT_EQ(6, write(fd, "hello\n", 6));
	EXPECT_LE(0, read_end(fd, 30000, &extra));
	EXPECT_EQ(0, extra);
	close(fd);
	EXPECT_TRUE(file_wait(r->peer_log, "peer did not return a certificate", 10000));
	/*
	 * TLS 1.3: the alert comes after our handshake completed. If the
	 * server's close beats the offload, attaching the ULP to the closing
	 * socket fails (ENOTCONN, as with the stock module) instead; either
	 * way the connection is refused with a logged reason.
	 */
	if (variant->tls13) {
		EXPECT_TRUE(file_wait(r->d.log, "TLS peer sent alert 116: certificate required",
				      10000) ||
			    file_has(r->d.log, "cannot offload TLSv1.3"));
	} else {
		EXPECT_TRUE(file_wait(r->d.log,
				      "handshake failed: error:0A000410:SSL routines::sslv3 alert handshake failure",
				      10000));
	}
	EXPECT_NE(-1, reap(&r->peer, 20000));
}

FIXTURE(keyupdate)
{
	struct rig r;
};

FIXTURE_VARIANT(keyupdate)
{
	const char *cmd;	/* the line that makes the peer send it */
	bool bare;		/* --no-kernel-keyupdate */
};

FIXTURE_VARIANT_ADD(keyupdate, kernel_not_requested) { "k\n", false };
FIXTURE_VARIANT_ADD(keyupdate, kernel_update_requested) { "K\n", false };
FIXTURE_VARIANT_ADD(keyupdate, bare_not_requested) { "k\n", true };
FIXTURE_VARIANT_ADD(keyupdate, bare_update_requested) { "K\n", true };

#define BARE_OPT(v) ((v)->bare ? "--no-kernel-keyupdate" : NULL)
/* The daemon's closing statistics: what it or the kernel did. */
#define KU_STAT(v) ((v)->bare ? " key_updates=1 " : " kernel_key_updates=1 ")

FIXTURE_SETUP(keyupdate) { rig_setup(_metadata, &self->r, "keyupdate"); }
FIXTURE_TEARDOWN(keyupdate) { rig_teardown(_metadata, &self->r); }

/*
 * The peer (s_client or s_server, not quiet) sends a KeyUpdate, then a
 * line under its new keys.
 */
static void keyupdate_send(struct __test_metadata *_metadata, struct rig *r,
			   const char *cmd)
{
	ASSERT_EQ(2, write(r->peer.in, cmd, 2));
	/*
	 * Once the peer has read the command it sends the KeyUpdate before it
	 * reads stdin again, so the next line goes under the new keys.
	 */
	ASSERT_EQ(0, pipe_drained(r->peer.in, 20000));
	if (write(r->peer.in, AFTER_KEYUPDATE, strlen(AFTER_KEYUPDATE)) < 0)
		printf("# the peer had already ended: %s\n", strerror(errno));
}

/*
 * After keyupdate_send(), seen from all sides. Followed: the peer's line
 * under its new keys arrives, and a reply from the plain side reaches the
 * peer (after the kernel's own KeyUpdate, when one was requested).
 */
static void expect_keyupdate_outcome(struct __test_metadata *_metadata, struct rig *r,
				     int plain_fd, bool bare)
{
	struct cap out = { .n = 0 };
	long extra;

	if (!bare) {
		EXPECT_EQ(0, read_exact(plain_fd, AFTER_KEYUPDATE, 20000));
		ASSERT_EQ(6, write(plain_fd, "reply\n", 6));
		EXPECT_EQ(0, read_until(r->peer.out, &out, "reply\n", 20000));
		EXPECT_FALSE(file_has(r->d.log, keyupdate_bare.logged));
		return;
	}
	/* Ended in bounded time, and not a byte more reached the plain side. */
	EXPECT_EQ(keyupdate_bare.plain_end, read_end(plain_fd, 20000, &extra));
	EXPECT_EQ(0, extra);
	EXPECT_TRUE(file_wait(r->peer_log, keyupdate_bare.peer_sees, 20000));
	EXPECT_TRUE(file_wait(r->d.log, keyupdate_bare.logged, 5000));
	EXPECT_EQ(1, file_count(r->d.log, keyupdate_bare.logged, NULL));
}

/* openssl s_client -> oktlsd (server mode) -> backend here */
TEST_F_TIMEOUT(keyupdate, server_mode_s_client, 120)
{
	struct cap out = { .n = 0 };
	struct rig *r = &self->r;
	int bfd;

	ASSERT_EQ(0, server_start(r, "keyupdate-server", false, BARE_OPT(variant)));
	ASSERT_EQ(0, s_client(&r->peer, r->d.port, "-tls1_3", NULL, false, r->peer_log));
	bfd = accept_ms(r->lfd, 30000);
	ASSERT_LE(0, bfd);
	/* Offloaded, and data flows both ways before the KeyUpdate. */
	ASSERT_EQ(6, write(bfd, "hello\n", 6));
	ASSERT_EQ(0, read_until(r->peer.out, &out, "hello\n", 20000));
	ASSERT_EQ(7, write(r->peer.in, "before\n", 7));
	ASSERT_EQ(0, read_exact(bfd, "before\n", 20000));

	keyupdate_send(_metadata, r, variant->cmd);
	expect_keyupdate_outcome(_metadata, r, bfd, variant->bare);
	if (variant->bare)
		EXPECT_LT(0, reap(&r->peer, 20000));	/* it saw the alert and quit */
	close(bfd);
	if (!variant->bare)
		EXPECT_NE(-1, reap(&r->peer, 20000));	/* our close_notify ends it */

	/* The daemon lives on and serves the next client. */
	EXPECT_EQ(0, serve_one(r, "-tls1_3", NULL));
	EXPECT_EQ(0, daemon_stop(&r->d));
	EXPECT_EQ(1, file_count(r->d.log, "stats:", KU_STAT(variant)));
}

/* local client here -> oktlsd (client mode) -> openssl s_server */
TEST_F_TIMEOUT(keyupdate, client_mode_s_server, 120)
{
	struct cap out = { .n = 0 };
	struct rig *r = &self->r;
	int port = free_port(), fd;

	ASSERT_EQ(0, s_server(&r->peer, port, "-tls1_3", false, "1", false, r->peer_log));
	ASSERT_EQ(0, client_start_opt(r, "keyupdate-client", port, NULL, NULL,
				      BARE_OPT(variant)));
	fd = tcp_connect_port(r->d.port);
	ASSERT_LE(0, fd);
	ASSERT_EQ(7, write(fd, "before\n", 7));
	ASSERT_EQ(0, read_until(r->peer.out, &out, "before\n", 30000));
	ASSERT_EQ(6, write(r->peer.in, "hello\n", 6));
	ASSERT_EQ(0, read_exact(fd, "hello\n", 20000));

	keyupdate_send(_metadata, r, variant->cmd);
	expect_keyupdate_outcome(_metadata, r, fd, variant->bare);
	close(fd);
	/* Its one connection is over (it saw the alert, or our close_notify). */
	EXPECT_NE(-1, reap(&r->peer, 20000));
	close(r->peer.in);
	close(r->peer.out);

	/*
	 * The daemon serves on, to a new s_server on the same port (a new one:
	 * the first may not have read all its stdin, which would go to the
	 * next connection).
	 */
	out.n = 0;
	ASSERT_EQ(0, s_server(&r->peer, port, "-tls1_3", false, "1", true,
			      LOGDIR "/auth-keyupdate-s_server2.log"));
	fd = tcp_connect_port(r->d.port);
	ASSERT_LE(0, fd);
	ASSERT_EQ(6, write(fd, "again\n", 6));
	ASSERT_EQ(0, read_until(r->peer.out, &out, "again\n", 30000));
	ASSERT_EQ(4, write(r->peer.in, "bye\n", 4));
	EXPECT_EQ(0, read_exact(fd, "bye\n", 20000));
	/* Our EOF: close_notify ends s_server's connection, and s_server. */
	shutdown(fd, SHUT_WR);
	EXPECT_EQ(0, reap(&r->peer, 20000));
	close(fd);
	EXPECT_EQ(0, daemon_stop(&r->d));
	EXPECT_EQ(1, file_count(r->d.log, "stats:", KU_STAT(variant)));
}

FIXTURE(logging)
{
	struct rig r;
	struct child syslogd;
};

FIXTURE_SETUP(logging)
{
	self->syslogd.pid = 0;
	rig_setup(_metadata, &self->r, "logging");
}

FIXTURE_TEARDOWN(logging)
{
	rig_teardown(_metadata, &self->r);
	if (self->syslogd.pid > 0) {
		kill(self->syslogd.pid, SIGTERM);
		reap(&self->syslogd, 5000);
	}
	if (!__test_passed(_metadata)) {
		printf("# %s:\n", SYSLOG_FILE);
		dump_file(SYSLOG_FILE, 40);
	}
}

/* A line from oktlsd[pid] at daemon.<level> (busybox's spelling) holding what. */
static bool syslog_has(pid_t pid, const char *level, const char *what)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), " daemon.%s oktlsd[%d]: ", level, pid);
	return file_count(SYSLOG_FILE, prefix, what) > 0;
}

/*
 * --syslog with busybox syslogd on /dev/log: a startup line, a connection
 * (info), a refusal (warning) and the exit all arrive with their level and
 * pid; stderr gets nothing.
 */
TEST_F_TIMEOUT(logging, syslog_levels_no_stderr, 120)
{
	struct rig *r = &self->r;
	struct stat st;
	pid_t pid;

	if (!have_prog("busybox syslogd --help >/dev/null 2>&1"))
		SKIP(return, "busybox has no syslogd");
	unlink(SYSLOG_FILE);
	ASSERT_EQ(0, spawn(&self->syslogd,
			   argvec("busybox", "syslogd", "-n", "-O", SYSLOG_FILE, NULL),
			   false, LOGDIR "/syslogd.log"));
	/* Its own first line is written once /dev/log is bound. */
	ASSERT_TRUE(file_wait(SYSLOG_FILE, "syslogd started", 10000));

	ASSERT_EQ(0, server_start(r, "syslog", true, "--syslog"));
	pid = r->d.c.pid;
	EXPECT_EQ(0, serve_one(r, "-tls1_3", "client"));
	ASSERT_EQ(0, s_client(&r->peer, r->d.port, "-tls1_2", NULL, true, r->peer_log));
	EXPECT_LT(0, reap(&r->peer, 30000));
	EXPECT_EQ(0, daemon_stop(&r->d));
	ASSERT_TRUE(file_wait(SYSLOG_FILE, "exiting", 10000));

	EXPECT_TRUE(syslog_has(pid, "info", "listening on 127.0.0.1:"));
	EXPECT_TRUE(syslog_has(pid, "info", "offloaded"));
	EXPECT_TRUE(syslog_has(pid, "warn", "refused: the client sent no certificate"));
	EXPECT_TRUE(syslog_has(pid, "info", "stats: "));
	EXPECT_TRUE(syslog_has(pid, "info", "exiting"));
	ASSERT_EQ(0, stat(r->d.log, &st));
	EXPECT_EQ(0, st.st_size) {
		printf("# stderr:\n");
		dump_file(r->d.log, 20);
	}
}

TEST_HARNESS_MAIN
