/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The calls of the random system call test (sysfuzz_test.c) and the state
 * they share. Each fuzz_op_*() draws its arguments from fz.rng, says what
 * it does in fz.sh->ring before doing it, checks the rules its answer must
 * follow (fuzz_failf() when one is broken) and returns the result or
 * -errno. fz.s, fz.e and fz.fd are the slot, end and socket of the call.
 */
#ifndef _OKTLS_SELFTEST_FUZZ_H
#define _OKTLS_SELFTEST_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/stress.h"

#define FUZZ_SLOTS	6
#define FUZZ_BIG	(128 << 10)	/* buffer, then a PROT_NONE page */
#define FUZZ_FILE_SIZE	(140 << 10)
#define FUZZ_RING	32

enum fuzz_op {
	OP_SET_TLS, OP_GET_TLS, OP_SET_TCP, OP_GET_TCP, OP_SOCKET_OPT, OP_ULP,
	OP_KEYS, OP_SEND, OP_SENDMSG, OP_RECV, OP_RECVMSG, OP_GARBAGE,
	OP_SPLICE, OP_SENDFILE, OP_SHUTDOWN, OP_IOCTL, OP_POLL, OP_ERRQUEUE,
	OP_REOPEN, OP_NUM,
};

/* Name, relative frequency and function of each kind of call. */
struct fuzz_op_desc {
	const char *name;
	int weight;
	long (*fn)(void);	/* NULL: the driver's own (OP_REOPEN) */
};

extern const struct fuzz_op_desc fuzz_ops[OP_NUM];

/* What the fuzzing child shares with the test, which watches it. */
struct fuzz_shared {
	uint64_t iter;			/* the call in progress */
	int done;			/* the calls are over */
	struct stress_errs errs[OP_NUM];
	int fails;
	char fail[512];
	struct fuzz_call {
		uint64_t iter;
		char what[120];
		long ret;		/* LONG_MIN: did not return */
	} ring[FUZZ_RING];
	uint64_t fail_iter;
	struct fuzz_call fail_ring[FUZZ_RING];	/* the calls up to the first failure */
};

/* A connected pair; end 0 is where oktls usually goes. */
struct fuzz_slot {
	int fd[2];
	bool ulp[2];			/* test_ulp() attached by our call */
	bool set[2][2];			/* [end][0: TX, 1: RX] keys we set */
	union wire_crypto_info info[2][2];	/* what they were */
	bool derived[2][2];		/* from a secret: key bytes unknown */
	struct wire_keys k[2];		/* k[e]: what end e sends with */
	struct wire_keys seal[2];	/* userspace sealer for end e */
};

struct fuzz_state {
	struct fuzz_shared *sh;
	struct fuzz_slot slots[FUZZ_SLOTS];
	const struct stress_cipher *usable;	/* for the slots' own keys */
	size_t nusable;
	uint8_t *big;
	int pipefd[2];			/* non-blocking, for splice */
	int file;			/* FUZZ_FILE_SIZE bytes, for sendfile */
	uint64_t rng;			/* this call's randomness */
	uint64_t it;			/* this call's number */
	struct fuzz_slot *s;
	int e;
	int fd;
};

extern struct fuzz_state fz;

static inline uint64_t rnd(void)
{
	return wire_rand(&fz.rng);
}

/* 0..n */
static inline size_t rnd_le(size_t n)
{
	return rnd() % (n + 1);
}

static inline bool one_in(int n)
{
	return rnd() % n == 0;
}

/* Record a broken rule (the first one is kept, with its call). */
void fuzz_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Describe the call about to be made. */
void fuzz_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A buffer of len bytes in fz.big: usually fine; one in 32 NULL, one in
 * 32 running into the PROT_NONE page after it. *bad says which.
 */
void *fuzz_buf(size_t len, bool *bad);
/* Copy into a fuzz_buf() buffer as much as fits before the guard page. */
void fuzz_put(void *p, const void *src, size_t len);
/* A length: record edges, small, or several records. */
size_t fuzz_len(void);
/* EFAULT is only fine when a buffer was bad. */
void fuzz_check_efault(long ret, int err, bool bad);

long fuzz_op_set_tls(void);
long fuzz_op_get_tls(void);
long fuzz_op_set_tcp(void);
long fuzz_op_get_tcp(void);
long fuzz_op_socket_opt(void);
long fuzz_op_ulp(void);
long fuzz_op_keys(void);
/* The ULP if need be, then the slot's own keys for dir (0 TX, 1 RX). */
long fuzz_keys(int dir);
long fuzz_op_send(void);
long fuzz_op_sendmsg(void);
long fuzz_op_recv(void);
long fuzz_op_recvmsg(void);
long fuzz_op_garbage(void);
long fuzz_op_splice(void);
long fuzz_op_sendfile(void);
long fuzz_op_shutdown(void);
long fuzz_op_ioctl(void);
long fuzz_op_poll(void);
long fuzz_op_errqueue(void);

#endif
