// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failure. With the N-th allocation of the test task made to
 * fail (fail-nth), for N = 1, 2, ... until the call gets through, every
 * entry point of the ULP that allocates -- TCP_ULP attach, TLS_TX, TLS_RX,
 * the other options, send/sendmsg (MSG_MORE, record type cmsg), recv
 * (MSG_PEEK, record types), sendfile, splice both ways -- must return
 * ENOMEM or succeed, and leave the socket usable (both directions then
 * carry data that the plain peer checks record by record with OpenSSL EVP)
 * or cleanly failed (calls return errors, the peer sees a reset; nothing
 * hangs or arrives wrong): lib/fault_conn.c. A seeded random sample of N
 * then faults longer sequences of these. Last come the leak checks: TCP
 * socket accounting back to its start, no key bytes left in RAM, a clean
 * kernel log.
 *
 * Needs CONFIG_FAULT_INJECTION (the debug kernel); elsewhere all SKIP.
 * OKTLS_FAULT_SEED=n repeats a run's random choices (printed at the start);
 * OKTLS_FAULT_DRYRUN=1 runs every sequence once without injecting, which
 * checks the test itself on any kernel; OKTLS_FAULT_BUDGET_MS bounds each
 * test's sweep (default 40 s); OKTLS_FAULT_VERBOSE=1 has the kernel dump
 * the stack of every fault it injects, each after a line naming the
 * operation and N, to find the allocation behind a failure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "lib/fault.h"
#include "lib/fault_conn.h"
#include "lib/net.h"
#include "lib/tls_wire.h"

#define MAX_N		200	/* injection points tried per operation */
#define BUDGET_MS	40000	/* per test, then the sweep stops and says so */
#define SEQ_MAX		10
#define ROUNDS		60

static uint64_t seed;
static bool dryrun, supported;
static char skip_why[200];
static int kmsg_fd = -1;
static struct tcp_sockstat stat0;
static long long t_start;
/* Shared by the test processes (the harness forks one per test). */
static struct run_total {
	unsigned int faults, usable, failed;
} *sum;

static long long budget_ms(void)
{
	const char *env = getenv("OKTLS_FAULT_BUDGET_MS");

	return env && *env ? atoll(env) : BUDGET_MS;
}

static void report(const char *name, const struct fc_tally *t)
{
	if (sum) {
		__atomic_add_fetch(&sum->faults, t->injected, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sum->usable, t->usable, __ATOMIC_RELAXED);
		__atomic_add_fetch(&sum->failed, t->failed, __ATOMIC_RELAXED);
	}
	ksft_print_msg("%s: %u allocation points, %u faults: %u left it usable, %u failed cleanly; %u calls returned ENOMEM; %u sends held their data back; %zu bytes taken lost to resets\n",
		       name, t->points, t->injected, t->usable, t->failed,
		       t->errors, t->held, t->lost);
}

/* Which direction the last connection ended failed in, or NULL. */
static const char *failed_dir(const struct fc_tally *t)
{
	if (t->tx_failed && t->rx_failed)
		return "TX and RX";
	return t->tx_failed ? "TX" : t->rx_failed ? "RX" : NULL;
}

/* Fail the 1st, 2nd, ... allocation of one operation until it gets through. */
static void sweep(struct __test_metadata *_metadata, enum fc_op_id id)
{
	const struct fc_op *op = &fc_ops[id];
	long long t0 = now_ms();
	struct fc_tally t = {};
	char name[64];
	unsigned int n, left;
	bool inj;

	/*
	 * A first run without a fault: the task's first calls allocate what
	 * later ones reuse (its page frag), which would shift the numbering
	 * after the first fault and hide points from the sweep.
	 */
	ASSERT_EQ(0, fc_run(&op, &op->len, 1, op->pre, 0, &t, &inj, &left))
		TH_LOG("%s (%zu bytes) without a fault: %s", op->name, op->len,
		       fc_why());
	for (n = 1; n <= MAX_N && !dryrun; n++) {
		ASSERT_EQ(0, fc_run(&op, &op->len, 1, op->pre, n,
				    &t, &inj, &left))
			TH_LOG("%s (%zu bytes), allocation %u failing: %s",
			       op->name, op->len, n, fc_why());
		if (inj && failed_dir(&t))
			ksft_print_msg("%s: allocation %u failing left %s failed, %zu bytes taken lost\n",
				       op->name, n, failed_dir(&t), t.last_lost);
		if (!inj) {
			/* The calls need not reach the same points each time. */
			if (n - left > t.points)
				t.points = n - left;
			break;
		}
		t.points = n;
		if (now_ms() - t0 > budget_ms()) {
			ksft_print_msg("%s: out of time after %u faults, not all points tried\n",
				       op->name, n);
			break;
		}
	}
	if (n > MAX_N)
		ksft_print_msg("%s: over %u allocation points, only those tried\n",
			       op->name, MAX_N);
	if (op->len)
		snprintf(name, sizeof(name), "%s (%zu bytes)", op->name, op->len);
	else
		snprintf(name, sizeof(name), "%s", op->name);
	report(name, &t);
}

FIXTURE(fault)
{
	int unused;
};

FIXTURE_VARIANT(fault)
{
	uint16_t version;
	uint16_t cipher;
	bool no_pad;			/* TLS_RX_EXPECT_NO_PAD */
};

FIXTURE_VARIANT_ADD(fault, 12_aes_gcm) {
	.version = TLS_1_2_VERSION, .cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(fault, 12_aes_ccm) {
	.version = TLS_1_2_VERSION, .cipher = TLS_CIPHER_AES_CCM_128,
};

FIXTURE_VARIANT_ADD(fault, 13_aes_gcm) {
	.version = TLS_1_3_VERSION, .cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(fault, 13_chacha_no_pad) {
	.version = TLS_1_3_VERSION, .cipher = TLS_CIPHER_CHACHA20_POLY1305,
	.no_pad = true,
};

/* Touch the stack the calls will use, so no page fault allocates. */
static void prefault_stack(void)
{
	uint8_t b[256 * 1024];

	explicit_bzero(b, sizeof(b));
}

FIXTURE_SETUP(fault)
{
	struct wire_keys tx, rx;
	int ret;

	if (!supported && !dryrun)
		SKIP(return, "%s", skip_why);
	if (supported)
		ASSERT_EQ(0, fault_open());
	/* The test's own memory stays put: faults hit the kernel's. */
	ASSERT_EQ(0, mlockall(MCL_CURRENT | MCL_FUTURE));
	prefault_stack();
	/* Each test is a process of its own: these live until it ends. */
	ret = wire_keys_init(&tx, variant->version, variant->cipher,
			     seed ^ 0x7478, 0);
	if (ret == -ENOENT)
		SKIP(return, "OpenSSL lacks the cipher");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, wire_keys_init(&rx, variant->version, variant->cipher,
				    seed ^ 0x7278, 0));
	ASSERT_EQ(0, fc_init(&tx, &rx, variant->no_pad, seed));
}

FIXTURE_TEARDOWN(fault)
{
}

#define SWEEP(test, id) \
	TEST_F_TIMEOUT(fault, test, 150) { sweep(_metadata, id); }

SWEEP(attach_ulp, FC_ATTACH)
SWEEP(set_tx_keys, FC_SET_TX)
SWEEP(set_rx_keys, FC_SET_RX)
SWEEP(set_options, FC_OPTIONS)
SWEEP(send_small, FC_SEND_SMALL)
SWEEP(send_records, FC_SEND_RECORDS)
SWEEP(send_more, FC_SEND_MORE)
SWEEP(send_record_type, FC_SEND_TYPE)
SWEEP(sendfile_file, FC_SENDFILE)
SWEEP(splice_to_socket, FC_SPLICE_IN)
SWEEP(recv_small, FC_RECV_SMALL)
SWEEP(recv_record, FC_RECV_RECORD)
SWEEP(recv_peek, FC_RECV_PEEK)
SWEEP(recv_record_type, FC_RECV_TYPE)
SWEEP(splice_from_socket, FC_SPLICE_OUT)

/*
 * Attach, keys and 2..6 random operations of random sizes, with a random
 * one of the sequence's allocations failing.
 */
TEST_F_TIMEOUT(fault, random_sequences, 150)
{
	uint64_t rng = seed ^ ((uint64_t)variant->version << 16 | variant->cipher);
	unsigned int round, nth, left, est = 0, k;
	const struct fc_op *seq[SEQ_MAX], *o;
	size_t lens[SEQ_MAX], n, i, txv, rxv;
	long long t0 = now_ms();
	struct fc_tally t = {};
	char names[512];
	bool inj;

	ksft_print_msg("seed %#llx (OKTLS_FAULT_SEED)\n", (unsigned long long)seed);
	for (round = 0; round < ROUNDS && now_ms() - t0 < budget_ms(); round++) {
		txv = rxv = 0;
		for (n = 0; n < FC_FIRST_DATA_OP; n++) {
			seq[n] = &fc_ops[n];
			lens[n] = seq[n]->len ?
				  wire_rand_range(&rng, 4, seq[n]->len) : 0;
			rxv += seq[n]->rx ? lens[n] : 0;
		}
		for (k = wire_rand_range(&rng, 2, SEQ_MAX - n); k; k--) {
			o = &fc_ops[wire_rand_range(&rng, FC_FIRST_DATA_OP,
						    FC_NOPS - 1)];
			lens[n] = o->len ? wire_rand_range(&rng, 4, o->len) : 0;
			if ((o->tx && txv + lens[n] > FC_VOLUME_MAX) ||
			    (o->rx && rxv + lens[n] > FC_VOLUME_MAX))
				continue;
			txv += o->tx ? lens[n] : 0;
			rxv += o->rx ? lens[n] : 0;
			seq[n++] = o;
		}
		names[0] = '\0';
		for (i = 0; i < n; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names),
				 " %s(%zu)", seq[i]->name, lens[i]);
		/* The first round counts a sequence's allocations. */
		nth = dryrun ? 0 : est ? wire_rand_range(&rng, 1, est) : 100000;
		ASSERT_EQ(0, fc_run(seq, lens, n, 0, nth, &t, &inj, &left))
			TH_LOG("seed %#llx round %u, allocation %u failing in%s: %s",
			       (unsigned long long)seed, round, nth, names,
			       fc_why());
		if (inj && failed_dir(&t))
			ksft_print_msg("round %u, allocation %u failing left %s failed, %zu bytes taken lost:%s\n",
				       round, nth, failed_dir(&t), t.last_lost,
				       names);
		if (!inj && nth && nth - left > t.points) {
			t.points = nth - left;
			est = t.points * 5 / 4 + 1;
		}
	}
	ksft_print_msg("%u sequences of up to %u operations\n", round, SEQ_MAX);
	report("random sequences (points: the most a sequence reached)", &t);
}

FIXTURE(end)
{
	int unused;
};

FIXTURE_SETUP(end)
{
	if (!supported && !dryrun)
		SKIP(return, "%s", skip_why);
	if (supported)
		ASSERT_EQ(0, fault_open());
	ASSERT_EQ(0, mlockall(MCL_CURRENT | MCL_FUTURE));
	prefault_stack();
}

FIXTURE_TEARDOWN(end)
{
}

/* Every socket the faults touched is gone, and its memory with it. */
TEST_F_TIMEOUT(end, sockets_released, 60)
{
	long slack, rsv = 256, t0 = now_ms();
	struct tcp_sockstat st;
	char b[32];

	/* Socket memory is counted per CPU in steps of mem_pcpu_rsv pages. */
	if (read_file("/proc/sys/net/core/mem_pcpu_rsv", b, sizeof(b)) > 0)
		rsv = atol(b);
	slack = rsv * sysconf(_SC_NPROCESSORS_ONLN);
	do {
		ASSERT_EQ(0, tcp_sockstat(&st));
		if (st.alloc <= stat0.alloc && st.orphan <= stat0.orphan &&
		    st.mem <= stat0.mem + slack)
			break;
		usleep(200000);
	} while (now_ms() - t0 < 20000);
	ksft_print_msg("TCP sockets %ld -> %ld, orphans %ld -> %ld, pages %ld -> %ld (+%ld per-CPU slack)\n",
		       stat0.alloc, st.alloc, stat0.orphan, st.orphan,
		       stat0.mem, st.mem, slack);
	EXPECT_GE(stat0.alloc, st.alloc);
	EXPECT_GE(stat0.orphan, st.orphan);
	EXPECT_GE(stat0.mem + slack, st.mem);
}

#define NKEYS		5		/* two pairs of ciphers, and a canary */
#define SCAN_MS		60000
#define MSG_LEN		5000

/* Key i is key_a[i] ^ key_b[i]: the whole key is never in our memory. */
static uint8_t key_a[NKEYS][32], key_b[NKEYS][32];
static union wire_crypto_info key_ci;
static uint8_t msg[MSG_LEN], got[MSG_LEN];

static const struct {
	uint16_t version, cipher;
} wipe_ciphers[] = {
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128 },
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256 },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128 },	/* the canary */
};

/* Install key i, put together only in key_ci and only for the call. */
static int set_split_key(int fd, int optname, int cix, int i)
{
	const struct wire_cipher *c = wire_cipher_find(wipe_ciphers[cix].cipher);
	uint8_t *raw = (uint8_t *)&key_ci;
	size_t j;
	int ret;

	memset(&key_ci, 0, sizeof(key_ci));
	key_ci.info.version = wipe_ciphers[cix].version;
	key_ci.info.cipher_type = c->type;
	for (j = 0; j < c->key_size; j++)
		raw[c->key_off + j] = key_a[i][j] ^ key_b[i][j];
	memset(raw + c->salt_off, 0x5a, c->salt_size);
	memset(raw + c->iv_off, 0xa5, c->iv_size);
	ret = setsockopt(fd, SOL_TLS, optname, &key_ci, c->info_size) ? errno : 0;
	explicit_bzero(&key_ci, sizeof(key_ci));
	return ret;
}

/*
 * A pair, each end with TX and RX keys (keys k and k + 1 of cipher cix),
 * one message across, the nth allocation failing. Returns NULL, or what
 * went wrong. *a and *b are left for the caller to close.
 */
static const char *wipe_pair(int cix, int k, unsigned int nth, bool *inj,
			     int *a, int *b)
{
	int *fd[4] = { a, a, b, b }, opt[4] = { TLS_TX, TLS_RX, TLS_TX, TLS_RX };
	int key[4] = { k, k + 1, k + 1, k };
	unsigned int left;
	ssize_t n = -1;
	int i, err = 0;

	*inj = false;
	if (tcp_pair(AF_INET, a, b) || ulp_attach(*a, test_ulp()) ||
	    ulp_attach(*b, test_ulp()))
		return strerror(errno);
	sock_timeouts(*a, 5000, 5000);
	sock_timeouts(*b, 1000, 5000);
	fault_arm(nth);
	for (i = 0; i < 4 && !err; i++) {
		err = FAULT(set_split_key(*fd[i], opt[i], cix, key[i]));
		/* A failed install leaves no keys: the retry must work. */
		if (err == ENOMEM)
			err = set_split_key(*fd[i], opt[i], cix, key[i]);
	}
	if (!err)
		n = FAULT(send(*a, msg, MSG_LEN, 0));
	if (n > 0)
		n = FAULT(recv(*b, got, n, MSG_WAITALL));
	*inj = fault_disarm(&left);
	if (err)
		return strerror(err);
	if (!*inj && (n != MSG_LEN || memcmp(got, msg, MSG_LEN)))
		return "the keys do not carry data";
	return NULL;
}

/*
 * No key bytes left in RAM once the sockets are closed, after installs
 * that failed at each allocation in turn. A live socket's key is found.
 */
TEST_F_TIMEOUT(end, keys_wiped, 300)
{
	uint64_t sa = seed ^ 0x6b61, sb = seed ^ 0x6b62, scanned, total;
	int a = -1, b = -1, canary_a = -1, canary_b = -1, cix;
	unsigned int n, faults = 0, found[NKEYS] = {};
	struct kcore_key keys[NKEYS];
	struct kcore_hit hits[32];
	long long t0 = now_ms();
	const char *err;
	size_t nhits, i;
	char why[128];
	bool inj;

	wire_rand_fill(&sa, msg, sizeof(msg));
	for (i = 0; i < NKEYS; i++) {
		wire_rand_fill(&sa, key_a[i], sizeof(key_a[i]));
		wire_rand_fill(&sb, key_b[i], sizeof(key_b[i]));
		keys[i].a = key_a[i];
		keys[i].b = key_b[i];
		keys[i].len = wire_cipher_find(wipe_ciphers[i / 2].cipher)->key_size;
	}
	for (cix = 0; cix < 2; cix++) {
		/* n = 0: a first run without a fault, as in the sweeps. */
		for (n = 0; n <= MAX_N && now_ms() - t0 < budget_ms(); n++) {
			err = wipe_pair(cix, 2 * cix, dryrun ? 0 : n, &inj, &a, &b);
			close(a);
			close(b);
			ASSERT_EQ(NULL, err)
				TH_LOG("%s, allocation %u failing: %s",
				       wire_cipher_find(wipe_ciphers[cix].cipher)->name,
				       n, err);
			if (n && !inj)
				break;
			faults += inj;
		}
	}
	/* The canary: a key that stays installed while RAM is searched. */
	ASSERT_EQ(0, tcp_pair(AF_INET, &canary_a, &canary_b));
	ASSERT_EQ(0, ulp_attach(canary_a, test_ulp()));
	ASSERT_EQ(0, set_split_key(canary_a, TLS_TX, 2, NKEYS - 1));
	ksft_print_msg("keys installed, used and closed with %u faults injected; searching RAM\n",
		       faults);
	if (sum)
		__atomic_add_fetch(&sum->faults, faults, __ATOMIC_RELAXED);
	/* Contexts are freed after an RCU grace period. */
	sleep(2);
	t0 = now_ms();
	if (kcore_scan(keys, NKEYS, t0 + SCAN_MS, hits, 32, &nhits, &scanned,
		       &total, why, sizeof(why))) {
		close(canary_a);
		close(canary_b);
		SKIP(return, "/proc/kcore: %s (%llu of %llu MiB searched)", why,
		     (unsigned long long)scanned >> 20,
		     (unsigned long long)total >> 20);
	}
	close(canary_a);
	close(canary_b);
	ksft_print_msg("searched %llu MiB of RAM in %lld ms\n",
		       (unsigned long long)scanned >> 20, now_ms() - t0);
	for (i = 0; i < nhits && i < 32; i++) {
		found[hits[i].key]++;
		if (hits[i].key == NKEYS - 1)
			continue;
		TH_LOG("key %u of a closed socket at physical %#llx, page flags %#llx%s%s%s",
		       hits[i].key, (unsigned long long)hits[i].paddr,
		       (unsigned long long)hits[i].kpf,
		       hits[i].kpf >> 7 & 1 ? " (slab)" : "",
		       hits[i].kpf >> 10 & 1 ? " (free page)" : "",
		       hits[i].kpf >> 12 & 1 ? " (anonymous)" : "");
	}
	explicit_bzero(key_a, sizeof(key_a));
	explicit_bzero(key_b, sizeof(key_b));
	EXPECT_LT(0U, found[NKEYS - 1])
		TH_LOG("the live socket's key was not found: the search does not work");
	EXPECT_EQ(nhits, found[NKEYS - 1]);
}

/* Last: nothing while faults were injected made the kernel complain. */
TEST_F(end, kernel_log_clean)
{
	unsigned int reports, traces;
	int bugs = kmsg_check(kmsg_fd, &reports, &traces);

	ksft_print_msg("kernel log: %u allocation failure reports, %u stack dumps\n",
		       reports, traces);
	if (sum)
		ksft_print_msg("fault_test: %u faults injected in %lld s; of the sweeps' and sequences', %u left the socket usable, %u failed cleanly\n",
			       sum->faults, (now_ms() - t_start) / 1000,
			       sum->usable, sum->failed);
	EXPECT_EQ(0, bugs)
		TH_LOG("kernel splats while faults were injected: the '# kernel:' lines above");
}

/* Once, before the tests fork: the seed, fault knobs, baselines. */
static void __attribute__((constructor)) fault_init(void)
{
	static const uint16_t warm[][2] = {
		{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128 },
		{ TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128 },
		{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128 },
		{ TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305 },
		{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256 },
	};
	const char *env = getenv("OKTLS_FAULT_SEED");
	struct wire_keys k;
	size_t i;
	int a, b;

	t_start = now_ms();
	sum = mmap(NULL, sizeof(*sum), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sum == MAP_FAILED)
		sum = NULL;
	seed = env && *env ? strtoull(env, NULL, 0) :
	       (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	env = getenv("OKTLS_FAULT_DRYRUN");
	dryrun = env && atoi(env);
	supported = fault_supported(skip_why, sizeof(skip_why));
	printf("# fault_test: seed %#llx (OKTLS_FAULT_SEED=%#llx repeats it)%s\n",
	       (unsigned long long)seed, (unsigned long long)seed,
	       dryrun ? ", dry run: no faults injected" : "");
	if (!supported && !dryrun)
		return;
	tcp_sockstat(&stat0);
	/* Crypto templates are instantiated here, not under a fault. */
	for (i = 0; i < sizeof(warm) / sizeof(warm[0]); i++) {
		if (wire_keys_init(&k, warm[i][0], warm[i][1], seed, 0) ||
		    tcp_pair(AF_INET, &a, &b))
			continue;
		if (!ulp_attach(a, test_ulp())) {
			wire_set_keys(a, TLS_TX, &k);
			wire_set_keys(a, TLS_RX, &k);
		}
		close(a);
		close(b);
		wire_keys_free(&k);
	}
	if (supported && fault_knobs_set(skip_why, sizeof(skip_why))) {
		fault_knobs_restore();
		supported = false;
		return;
	}
	kmsg_fd = kmsg_mark();
}

static void __attribute__((destructor)) fault_fini(void)
{
	fault_knobs_restore();
}

TEST_HARNESS_MAIN
