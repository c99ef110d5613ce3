/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The peers and side threads of the race tests: a plain TCP peer that
 * writes records and garbage, the attach-and-close churn, and the probes
 * that run while keys go in.
 */
#ifndef _OKTLS_SELFTEST_STRESS_PEER_H
#define _OKTLS_SELFTEST_STRESS_PEER_H

#include "lib/stress_io.h"

enum stress_garbage {
	G_NONE,		/* only valid records */
	G_HALF,		/* the first part of a record */
	G_FLIP,		/* a record with one byte changed: EBADMSG */
	G_VERSION,	/* a header version other than 0x0303: EINVAL */
	G_LONG,		/* a length over the bound: EMSGSIZE */
	G_SHORT,	/* a length under the overhead: EBADMSG */
	G_RANDOM,	/* random bytes */
	G_KINDS,
};

enum stress_peer_end { END_NONE, END_FIN, END_RESET };

/*
 * A plain TCP peer writing nrecs records sealed with *k (stream class 0,
 * and now and then a control record), then garbage, then more records,
 * then the end it is told. Records go out in random pieces.
 */
struct stress_peer {
	struct stress_thread t;
	int fd;
	struct wire_keys *k;
	uint64_t rng;
	int nrecs;
	enum stress_garbage garbage;
	bool wait_acked;
	enum stress_peer_end end;
	/* results: what valid whole records carried, and how it ended */
	uint64_t data[STRESS_CLASSES];
	uint64_t ctrl;
	bool acked;
	int err;
	uint8_t pt[WIRE_MAX_RECORD], rec[WIRE_MAX_RECORD];
};

/* Set p up on the plain socket fd (5 s send timeout: it never hangs). */
void stress_peer_init(struct stress_peer *p, int fd, struct wire_keys *k,
		      uint64_t seed);
void *stress_peer_writer(void *arg);

#define STRESS_CHURN	12	/* pairs per round */

/*
 * Sockets get the ULP and keys while their peers and owners close them.
 * Four threads, by role: 0 attaches the ULP and sets TLS_TX and TLS_RX
 * with k[i] on each a[i]; 1 writes records sealed with seal[i] on b[i]
 * and closes it (reset or FIN); 2 closes each a[i]; 3 calls recv, send,
 * poll and getsockopt on every a[i] until ctx->halt. Errors must be in
 * ctx->allowed.
 */
struct stress_churn_thread {
	struct stress_thread t;
	struct stress_churn *ch;
	int role;
	uint64_t rng;
};

struct stress_churn {
	struct stress_churn_thread th[4];
	struct stress_ctx *ctx;
	int a[STRESS_CHURN], b[STRESS_CHURN];
	struct wire_keys k[STRESS_CHURN], seal[STRESS_CHURN];
};

void *stress_churn_fn(void *arg);

/*
 * Before and while TLS_RX goes in: stress_prober_fn peeks, polls and
 * queries fd until halt; stress_tx_keys_fn sets TLS_TX with *tx after a
 * random pause, its errno in err.
 */
struct stress_prober {
	struct stress_thread t;
	struct stress_ctx *ctx;
	const struct wire_keys *tx;
	int fd, halt, err;
	uint64_t rng;
};

void *stress_prober_fn(void *arg);
void *stress_tx_keys_fn(void *arg);

#endif
