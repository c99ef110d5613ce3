// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded random system call driver over oktls sockets. A small pool of
 * connected TCP pairs, some with the ULP and keys of any kTLS cipher, gets
 * random calls with random but memory-safe arguments: SOL_TLS options
 * (upstream's and oktls's own: traffic secrets, key update interval,
 * close_notify, counters), SOL_TCP and SOL_SOCKET options with random
 * names, lengths and contents; send, recv, sendmsg and recvmsg with random
 * flags, iovecs and cmsgs; splice, sendfile, shutdown, ioctls, poll; raw
 * bytes, record-shaped garbage, sealed records and TLS 1.3 KeyUpdates
 * written by the peer; close and reopen. Buffers are sometimes NULL or run
 * into a PROT_NONE page. Every socket is non-blocking: no call may wait.
 *
 * It runs OKTLS_FUZZ_SECONDS (default 60) in a child process the test
 * watches: the child must survive, keep making progress, and find the
 * invariants below held; the kernel must stay clean (the rig checks the
 * console). The seed is printed; OKTLS_FUZZ_SEED=S replays a run and
 * OKTLS_FUZZ_ITERS=N stops it after N calls. A failure prints the calls
 * before it and the line that replays it.
 *
 * Invariants: EFAULT only for a bad buffer; results no longer than asked;
 * SOL_TLS refused without the ULP; TLS 1.2 keys set twice is EBUSY (TLS
 * 1.3 ones may be replaced: a key update), a second ULP EEXIST; keys are
 * accepted only with their exact length, a known version and the version
 * and cipher of the keys they replace or of the other direction;
 * getsockopt gives back the keys that were set (EBUSY before); poll
 * reports only what was asked and errors; at the end a fresh pair still
 * carries data both ways and the module reference count comes back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "lib/fuzz.h"
#include "lib/net.h"

#define STALL_MS	60000		/* no call may take this long */

/* Ask the kernel about ciphers once, before the harness forks. */
__attribute__((constructor)) static void setup_process(void)
{
	const struct stress_cipher *c;

	signal(SIGPIPE, SIG_IGN);
	stress_ciphers(&c);
}

static void slot_close(struct fuzz_slot *sl)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (sl->fd[i] >= 0 && one_in(2))
			stress_reset_close(sl->fd[i]);
		else if (sl->fd[i] >= 0)
			close(sl->fd[i]);
		sl->fd[i] = -1;
		wire_keys_free(&sl->k[i]);
		wire_keys_free(&sl->seal[i]);
	}
}

/*
 * A new pair in the slot: end 0 mostly gets the ULP and keys, end 1
 * sometimes. A few start near the end of the sequence number space.
 */
static long slot_open(struct fuzz_slot *sl)
{
	const struct stress_cipher *c = &fz.usable[rnd() % fz.nusable];
	uint64_t seed = rnd(), seq;
	int i;

	memset(sl, 0, sizeof(*sl));
	for (i = 0; i < 2; i++) {
		seq = one_in(32) ? ~0ULL - rnd_le(3) : rnd_le(1000);
		wire_keys_init(&sl->k[i], c->version, c->cipher, seed + i, seq);
		wire_keys_init(&sl->seal[i], c->version, c->cipher, seed + i, seq);
	}
	if (tcp_pair(one_in(4) ? AF_INET6 : AF_INET, &sl->fd[0], &sl->fd[1])) {
		sl->fd[0] = -1;
		sl->fd[1] = -1;
		return -errno;
	}
	for (i = 0; i < 2; i++) {
		set_nonblock(sl->fd[i], true);
		fz.s = sl;
		fz.e = i;
		fz.fd = sl->fd[i];
		if (i ? !one_in(3) : one_in(4))
			continue;
		if (one_in(4))
			fuzz_op_ulp();
		if (!one_in(3))
			fuzz_keys(0);
		if (!one_in(3))
			fuzz_keys(1);
	}
	return 0;
}

/* A fresh pair must still carry data both ways after all that. */
static void health_check(uint64_t seed)
{
	struct wire_keys atx, arx;
	struct stress_seen seen;
	char why[256];
	int fds[2], i, err;
	ssize_t n, got;

	fz.it = ~0ULL;
	fuzz_log("health check: a fresh pair");
	err = stress_pair(&fz.usable[0], seed, STRESS_A_TX | STRESS_A_RX |
			  STRESS_B_TLS, &fds[0], &fds[1], &atx, &arx);
	if (err) {
		fuzz_failf("a fresh pair: %s", strerror(err));
		goto out;
	}
	for (i = 0; i < 2; i++) {
		sock_timeouts(fds[i], 5000, 5000);
		stress_seen_init(&seen, true);
		stress_pat_fill(fz.big, 40000, 0, 0);
		if (send(fds[i], fz.big, 40000, 0) != 40000) {
			fuzz_failf("health check send: %s", strerror(errno));
			break;
		}
		for (got = 0; got < 40000; got += n) {
			n = recv(fds[1 - i], fz.big, 40000 - got, 0);
			if (n <= 0) {
				fuzz_failf("health check recv: %s",
					   n ? strerror(errno) : "EOF");
				break;
			}
			if (!stress_seen_data(&seen, fz.big, n, true, why,
					      sizeof(why)))
				fuzz_failf("health check data: %s", why);
		}
	}
	close(fds[0]);
	close(fds[1]);
out:
	wire_keys_free(&atx);
	wire_keys_free(&arx);
}

/* The fuzzing process: the calls, then the health check. */
static int fuzz_child(uint64_t seed, long long end, uint64_t max)
{
	char path[] = "/tmp/oktls-sysfuzz-XXXXXX";
	int op, w, total = 0, i;
	long r;

	fz.nusable = stress_ciphers(&fz.usable);
	fz.big = mmap(NULL, FUZZ_BIG + 4096, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fz.file = mkstemp(path);
	if (!fz.nusable || fz.big == MAP_FAILED || fz.file < 0 ||
	    mprotect(fz.big + FUZZ_BIG, 4096, PROT_NONE) ||
	    pipe2(fz.pipefd, O_NONBLOCK))
		return 2;
	unlink(path);
	fz.rng = seed;
	wire_rand_fill(&fz.rng, fz.big, FUZZ_BIG);
	if (write(fz.file, fz.big, FUZZ_BIG) != FUZZ_BIG ||
	    write(fz.file, fz.big, FUZZ_FILE_SIZE - FUZZ_BIG) < 0)
		return 2;
	for (i = 0; i < FUZZ_SLOTS; i++) {
		fz.rng = seed ^ i;
		slot_open(&fz.slots[i]);
	}
	for (op = 0; op < OP_NUM; op++)
		total += fuzz_ops[op].weight;
	for (fz.it = 0; (!max || fz.it < max) && now_ms() < end; fz.it++) {
		/* Each call's arguments depend on the seed and its number only. */
		fz.rng = seed ^ (fz.it + 1) * 0x9e3779b97f4a7c15ULL;
		__atomic_store_n(&fz.sh->iter, fz.it, __ATOMIC_RELEASE);
		for (w = rnd() % total, op = 0; w >= fuzz_ops[op].weight; op++)
			w -= fuzz_ops[op].weight;
		fz.s = &fz.slots[rnd() % FUZZ_SLOTS];
		fz.e = one_in(3);
		fz.fd = fz.s->fd[fz.e];
		if (op == OP_REOPEN) {
			fuzz_log("close and reopen slot %ld", fz.s - fz.slots);
			slot_close(fz.s);
			r = slot_open(fz.s);
		} else {
			r = fuzz_ops[op].fn();
		}
		fz.sh->ring[fz.it % FUZZ_RING].ret = r;
		stress_count(&fz.sh->errs[op], r);
	}
	__atomic_store_n(&fz.sh->done, 1, __ATOMIC_RELEASE);
	for (i = 0; i < FUZZ_SLOTS; i++) {
		stress_reset_close(fz.slots[i].fd[0]);
		stress_reset_close(fz.slots[i].fd[1]);
	}
	health_check(seed);
	return fz.sh->fails ? 1 : 0;
}

/* The calls up to last, oldest first, and how to make them again. */
static void dump_ring(struct __test_metadata *_metadata,
		      const struct fuzz_call *ring, uint64_t last, uint64_t seed)
{
	const struct fuzz_call *c;
	uint64_t i;

	for (i = last >= FUZZ_RING ? last - FUZZ_RING + 1 : 0; i <= last; i++) {
		c = &ring[i % FUZZ_RING];
		if (c->iter != i)
			continue;
		if (c->ret == LONG_MIN)
			TH_LOG("call %llu: %s: did not return",
			       (unsigned long long)i, c->what);
		else
			TH_LOG("call %llu: %s = %ld", (unsigned long long)i,
			       c->what, c->ret);
	}
	TH_LOG("reproduce: OKTLS_FUZZ_SEED=%#llx OKTLS_FUZZ_ITERS=%llu",
	       (unsigned long long)seed, (unsigned long long)last + 1);
}

FIXTURE(sysfuzz) {};
FIXTURE_SETUP(sysfuzz) {}
FIXTURE_TEARDOWN(sysfuzz) {}

TEST_F_TIMEOUT(sysfuzz, random_calls, 300)
{
	int secs = stress_seconds("OKTLS_FUZZ_SECONDS", 60, 200);
	const char *env = getenv("OKTLS_FUZZ_SEED");
	uint64_t seed, max, iter, last = ~0ULL;
	long long start = now_ms(), moved = start, report = start + 10000;
	struct fuzz_shared *sh;
	int status = 0, op;
	bool hung = false;
	char buf[1024];
	long refs;
	pid_t pid;

	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ts.tv_sec * 1000000007ULL ^ ts.tv_nsec ^ getpid();
	}
	env = getenv("OKTLS_FUZZ_ITERS");
	max = env ? strtoull(env, NULL, 0) : 0;
	ASSERT_LT(0UL, stress_ciphers(&fz.usable))
		TH_LOG("no cipher that both the kernel and OpenSSL have (%s)",
		       stress_probe_why);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	refs = stress_refcnt();
	TH_LOG("seed %#llx (replay: OKTLS_FUZZ_SEED=%#llx), %d s", (unsigned long long)seed,
	       (unsigned long long)seed, secs);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		fz.sh = sh;
		_exit(fuzz_child(seed, start + secs * 1000LL, max));
	}
	while (waitpid(pid, &status, WNOHANG) != pid) {
		iter = __atomic_load_n(&sh->iter, __ATOMIC_ACQUIRE);
		if (iter != last || sh->done) {
			last = iter;
			moved = now_ms();
		}
		if (now_ms() - moved > STALL_MS ||
		    now_ms() - start > (secs + 120) * 1000LL) {
			hung = true;
			kill(pid, SIGKILL);
			for (moved = now_ms(); now_ms() - moved < 10000 &&
			     waitpid(pid, &status, WNOHANG) != pid;)
				usleep(100000);
			break;
		}
		if (now_ms() >= report) {
			TH_LOG("call %llu after %lld s", (unsigned long long)iter,
			       (now_ms() - start) / 1000);
			report += 10000;
		}
		usleep(50000);
	}
	for (op = 0; op < OP_NUM; op++)
		TH_LOG("%-28s %s", fuzz_ops[op].name,
		       stress_errs_str(&sh->errs[op], buf, sizeof(buf)));
	TH_LOG("seed %#llx: %llu calls in %lld s", (unsigned long long)seed,
	       (unsigned long long)sh->iter + 1, (now_ms() - start) / 1000);
	if (sh->fails && sh->fail_iter != ~0ULL)
		dump_ring(_metadata, sh->fail_ring, sh->fail_iter, seed);
	else if (hung || !WIFEXITED(status) || WEXITSTATUS(status))
		dump_ring(_metadata, sh->ring, sh->iter, seed);
	EXPECT_FALSE(hung) TH_LOG("call %llu did not return within %d s",
				  (unsigned long long)sh->iter, STALL_MS / 1000);
	EXPECT_TRUE(hung || WIFEXITED(status))
		TH_LOG("the fuzzing process died of signal %d", WTERMSIG(status));
	EXPECT_EQ(0, sh->fails) TH_LOG("%d broken rules, the first: %s",
				       sh->fails, sh->fail);
	EXPECT_TRUE(hung || !WIFEXITED(status) || !WEXITSTATUS(status) ||
		    (WEXITSTATUS(status) == 1 && sh->fails))
		TH_LOG("the fuzzing process exited with %d%s",
		       WEXITSTATUS(status), WEXITSTATUS(status) == 2 ?
		       ": it could not set up" : "");
	if (refs >= 0)
		EXPECT_EQ(refs, stress_refcnt_settle(refs, 15000))
			TH_LOG("module references left by the closed sockets");
	munmap(sh, sizeof(*sh));
}

TEST_HARNESS_MAIN
