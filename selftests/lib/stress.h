/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the stress (race_test) and random-call (sysfuzz_test) tests:
 * time budgets, byte streams a reader can check in any piece it gets,
 * failure and errno accounting shared by threads, bounded thread joins, a
 * watchdog, the ciphers this kernel and OpenSSL both have, and oktls pairs.
 */
#ifndef _OKTLS_SELFTEST_STRESS_H
#define _OKTLS_SELFTEST_STRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/tls_wire.h"

/* $env seconds (a positive integer), else def; at most max. */
int stress_seconds(const char *env, int def, int max);

/*
 * A verifiable stream. Byte n of sender class c is c * STRESS_MOD +
 * n % STRESS_MOD, so every piece a reader gets, however the stream was cut
 * between concurrent readers and records, can be checked on its own: the
 * bytes of each class must run on by one. Control records carry only
 * STRESS_CTRL bytes, which no data byte can be.
 */
#define STRESS_MOD	120
#define STRESS_CLASSES	2
#define STRESS_CTRL	0xff

void stress_pat_fill(uint8_t *buf, size_t len, int cls, uint64_t pos);

/* What one reader saw. */
struct stress_seen {
	bool ordered;		/* the only consumer: runs span reads */
	int last[STRESS_CLASSES];
	uint64_t bytes[STRESS_CLASSES];
	uint64_t hist[STRESS_CLASSES][STRESS_MOD];
	uint64_t ctrl_bytes;
	uint64_t ctrl_recs;
};

void stress_seen_init(struct stress_seen *s, bool ordered);
/*
 * Check a piece of application data; count it unless it was only peeked.
 * False, with the reason in why, if it is not a piece of the stream.
 */
bool stress_seen_data(struct stress_seen *s, const uint8_t *p, size_t n,
		      bool count, char *why, size_t whylen);
/* The same for the content of one control record. */
bool stress_seen_ctrl(struct stress_seen *s, const uint8_t *p, size_t n,
		      bool count, char *why, size_t whylen);
/* Add b into a (for several consumers of one stream). */
void stress_seen_merge(struct stress_seen *a, const struct stress_seen *b);
/*
 * Whether the readers together got exactly what was sent: sent[c] bytes of
 * each class (checked byte value by byte value) and ctrl control bytes.
 */
bool stress_seen_all(const struct stress_seen *s, const uint64_t *sent,
		     uint64_t ctrl, char *why, size_t whylen);

/* The first failure of a test, whichever thread saw it, and a count. */
struct stress_fail {
	pthread_mutex_t lock;
	int count;
	char first[768];
};

void stress_fail_init(struct stress_fail *f);
void stress_failf(struct stress_fail *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Results by errno, from any thread. */
struct stress_errs {
	unsigned long calls;
	unsigned long ok;
	unsigned long err[160];
};

/* Count one call: ret >= 0 is success, else -errno. */
void stress_count(struct stress_errs *e, long ret);
/* "calls 12 ok 10 EAGAIN 2" into buf. */
const char *stress_errs_str(const struct stress_errs *e, char *buf, size_t len);
/* Whether err is in the 0-terminated list. */
bool stress_errno_in(int err, const int *list);

/*
 * A worker thread. op names what it is doing now, so a hang report can
 * say where each thread is stuck.
 */
struct stress_thread {
	pthread_t thr;
	const char *name;
	const char *volatile op;
	bool running;
	int tid;
	void *(*fn)(void *arg);
	void *arg;
};

int stress_start(struct stress_thread *t, const char *name,
		 void *(*fn)(void *), void *arg);
/*
 * Join n threads by the deadline (now_ms() clock). Returns how many did not
 * return; their names and current operations go into why.
 */
int stress_join(struct stress_thread *t, int n, long long deadline,
		char *why, size_t whylen);

/*
 * Kill the process with a report of every thread's operation if it is
 * still running after secs seconds (0 disarms). The last line of defence
 * behind the bounded joins: a call that never returns fails the test.
 */
void stress_watchdog(int secs);
/*
 * Every thread still running: its operation, scheduler state and the top
 * of its kernel stack (/proc/self/task/TID/stack), for a hang report.
 */
const char *stress_threads_report(char *buf, size_t len);

/* A TLS version x cipher this kernel and OpenSSL both have. */
struct stress_cipher {
	uint16_t version;
	uint16_t cipher;
	const char *name;
};

/*
 * The usable combinations, probed once per process (call it before the
 * harness forks: a refused AEAD costs a modprobe). Returns the count.
 */
size_t stress_ciphers(const struct stress_cipher **list);
/* Why the first combination was refused, if none was usable. */
extern char stress_probe_why[128];

enum {
	STRESS_A_TX	= 1 << 0,	/* a gets TLS_TX with *atx */
	STRESS_A_RX	= 1 << 1,	/* a gets TLS_RX with *arx */
	STRESS_B_TLS	= 1 << 2,	/* b gets the ULP and the mirror keys */
};

/*
 * A connected loopback pair: a with test_ulp() attached and the keys flags
 * ask for (atx and arx are initialised from seed either way, for the peer
 * to seal and open with). 0, or an errno with nothing left open.
 */
int stress_pair(const struct stress_cipher *c, uint64_t seed, int flags,
		int *a, int *b, struct wire_keys *atx, struct wire_keys *arx);

/* Close with an immediate reset (SO_LINGER 0). */
void stress_reset_close(int fd);

/* The module reference count of test_ulp()'s module, or -1. */
long stress_refcnt(void);
/* Wait up to ms for the count to come back to base; the last count. */
long stress_refcnt_settle(long base, int ms);
/* Queue and memory counters of a socket (SO_MEMINFO), for a hang report. */
const char *stress_sock_report(int fd, char *buf, size_t len);
/* /proc/net/sockstat and the TCP sockets by state, for a leak report. */
const char *stress_tcp_states(char *buf, size_t len);

#endif
