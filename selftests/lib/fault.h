/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Allocation failure injection for the selftests, through the per-task
 * /proc/thread-self/fail-nth (Documentation/fault-injection/): the N-th
 * failslab or fail_page_alloc point the task reaches fails. And the checks
 * that go with it: the kernel log, TCP socket accounting, and a search of
 * physical memory (/proc/kcore) for key bytes left behind.
 */
#ifndef _OKTLS_SELFTEST_FAULT_H
#define _OKTLS_SELFTEST_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether this kernel can inject allocation failures; if not, why. */
bool fault_supported(char *why, size_t size);

/*
 * Once per test binary, before the tests fork: make failslab and
 * fail_page_alloc honour fail-nth for every allocation (sleeping, order 0,
 * user/highmem pages), and without messages of their own (verbose=0: with
 * it they print a stack dump per fault, which the rig takes for a splat).
 * Probability stays 0: nothing fails but the fail-nth point. 0, or -1
 * with why.
 */
int fault_knobs_set(char *why, size_t size);
/* Put back what fault_knobs_set() changed. */
void fault_knobs_restore(void);

/* In each test process: fail-nth belongs to the task that opens it. */
int fault_open(void);

/*
 * A countdown of n injection points, spent only between fault_on() and
 * fault_off(), so the test's own system calls in between (the peer, the
 * checks) do not use it up. n = 0: not armed, on/off do nothing.
 */
void fault_arm(unsigned int n);
void fault_on(void);
void fault_off(void);
/* End the countdown: whether the fault was injected; *left: points unused. */
bool fault_disarm(unsigned int *left);

/* Run a system call inside fault_on()/fault_off(), errno kept. */
#define FAULT(call) ({							\
	long __r;							\
	int __e;							\
	fault_on();							\
	__r = (call);							\
	__e = errno;							\
	fault_off();							\
	errno = __e;							\
	__r;								\
})

/*
 * With OKTLS_FAULT_VERBOSE set (failslab and fail_page_alloc then dump
 * the stack of each fault they inject): a line in the kernel log, to tell
 * whose fault a dump is.
 */
void fault_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The kernel log from here on: an fd for kmsg_check(), or -1. */
int kmsg_mark(void);
/*
 * Read the kernel log since kmsg_mark(): print ("# " lines) every line
 * that means a kernel bug (BUG:, WARNING:, KASAN, lockdep, leak, stall...)
 * and the lines after it; count the kernel's allocation failure reports
 * (warn_alloc: a vmalloc that failed) and stack dumps. Returns the number
 * of bug lines.
 */
int kmsg_check(int fd, unsigned int *alloc_reports, unsigned int *traces);

/* The TCP line of /proc/net/sockstat. */
struct tcp_sockstat {
	long inuse, orphan, alloc, mem;
};

int tcp_sockstat(struct tcp_sockstat *st);

/*
 * A key searched for as a ^ b, byte by byte, so that the key itself is
 * never in the searching process's memory (which the search also reads).
 */
struct kcore_key {
	const uint8_t *a, *b;
	size_t len;			/* 8 .. 32 */
};

struct kcore_hit {
	uint64_t paddr;			/* physical address */
	uint64_t kpf;			/* /proc/kpageflags of its page, or ~0 */
	unsigned int key;
};

/*
 * Search the RAM segments of /proc/kcore (the direct map) for the keys
 * until deadline (now_ms()). Returns 0 with up to max hits, or -1 with
 * why (unreadable, not an ELF core, out of time: then *scanned tells how
 * far it got, in bytes).
 */
int kcore_scan(const struct kcore_key *keys, size_t nkeys,
	       long long deadline, struct kcore_hit *hits, size_t max,
	       size_t *nhits, uint64_t *scanned, uint64_t *total, char *why,
	       size_t size);

#endif
