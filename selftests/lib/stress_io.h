/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The worker threads of the race tests. Several of them work on the same
 * oktls socket at once, each with a mix of the calls an application may
 * make, and check every result as it comes: senders write the stream of
 * stress.h, receivers check each piece they get, a toggler reads and
 * writes socket options whose answers are known, and a wire reader opens
 * the records a plain peer receives with the independent record layer.
 */
#ifndef _OKTLS_SELFTEST_STRESS_IO_H
#define _OKTLS_SELFTEST_STRESS_IO_H

#include "lib/stress.h"

/* What the workers of one test share. */
struct stress_ctx {
	struct stress_fail fail;
	struct stress_errs errs;
	int stop;		/* senders: end the stream and return */
	int halt;		/* every worker: return now */
	/* errnos a call may fail with besides EAGAIN; 0-terminated */
	const int *allowed;
};

void stress_ctx_init(struct stress_ctx *ctx, const int *allowed);

/* Ways to send; a worker's methods field is a bitmask of them. */
enum {
	TXM_SEND,		/* send() */
	TXM_SENDMSG,		/* sendmsg() over several iovecs, maybe a cmsg */
	TXM_MORE,		/* send(MSG_MORE) */
	TXM_CTRL,		/* a control record (TLS_SET_RECORD_TYPE 22) */
	TXM_DONTWAIT,		/* send(MSG_DONTWAIT) */
	TXM_SENDFILE,		/* sendfile() from a file of the stream */
	TXM_SPLICE,		/* splice() from a pipe */
	TXM_NUM,
};

/* Ways to receive. */
enum {
	RXM_RECV,		/* recv(), blocking or MSG_DONTWAIT */
	RXM_RECVMSG,		/* recvmsg() over several iovecs with a cmsg */
	RXM_PEEK,		/* recvmsg(MSG_PEEK): checked, not consumed */
	RXM_POLL,		/* poll(), then recvmsg(MSG_DONTWAIT) */
	RXM_SPLICE,		/* splice() into a pipe, then read it */
	RXM_WAITALL,		/* recv(MSG_WAITALL): only for a sole reader */
	RXM_NUM,
};

#define STRESS_ALL(n)	((1u << (n)) - 1)

struct stress_worker {
	struct stress_thread t;
	struct stress_ctx *ctx;
	int fd;
	unsigned int methods;
	uint64_t rng;
	unsigned long iters;
	uint8_t *buf;
	int pipe[2];
	/* sender */
	int cls;		/* stream class, 0..STRESS_CLASSES-1 */
	uint64_t pos;		/* stream bytes the socket took */
	uint64_t ctrl;		/* control record bytes the socket took */
	bool flush;		/* end with a whole blocking send */
	/* receiver and wire reader */
	struct stress_seen seen;
	bool eof;
	int last_err;		/* the last errno a call returned */
	/* toggler and wire reader: the socket's keys (NULL: none) */
	const struct wire_keys *tx;
	struct wire_keys *rx;
};

/*
 * Set a worker up (buffer, pipe) on fd. ordered: it is the only consumer
 * of its stream, so order across reads is checked too. 0 or an errno.
 */
int stress_worker_init(struct stress_worker *w, struct stress_ctx *ctx,
		       int fd, unsigned int methods, uint64_t seed,
		       bool ordered);
void stress_worker_free(struct stress_worker *w);

void *stress_sender(void *arg);		/* until ctx->stop or halt */
void *stress_receiver(void *arg);	/* until EOF, EBADF or halt */
void *stress_toggler(void *arg);	/* until EBADF or halt */
/*
 * A plain TCP peer reading records from w->fd and opening them with *w->rx
 * (ordered). Until EOF or an error; ctx->allowed says which are fine.
 */
void *stress_wire_reader(void *arg);

#endif
