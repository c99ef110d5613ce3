/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One connection under allocation failure, for fault_test: a socket with
 * the ULP under test (TX and RX keys) and a plain TCP peer that seals and
 * opens its records with OpenSSL EVP (tls_wire.h); the operations the
 * fault sweeps run on it; and the verdict after them. Usable: a tail then
 * goes each way, every byte and record type checked, and close ends the
 * stream with FIN. Cleanly failed: the calls keep returning errors, the
 * peer gets a prefix of what was sent, then a reset. Anything else -- an
 * errno other than ENOMEM, wrong or lost bytes, a stall, a hang -- fails.
 */
#ifndef _OKTLS_SELFTEST_FAULT_CONN_H
#define _OKTLS_SELFTEST_FAULT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/tls_wire.h"

/* Steps of the setup, done before an operation as it asks. */
enum { FC_ULP = 1, FC_TX = 2, FC_RX = 4, FC_ALL = 7 };

enum fc_op_id {
	/* The setup itself: attach, keys (a record waiting), options. */
	FC_ATTACH, FC_SET_TX, FC_SET_RX, FC_OPTIONS,
	FC_SEND_SMALL, FC_SEND_RECORDS, FC_SEND_MORE, FC_SEND_TYPE,
	FC_SENDFILE, FC_SPLICE_IN,
	FC_RECV_SMALL, FC_RECV_RECORD, FC_RECV_PEEK, FC_RECV_TYPE,
	FC_SPLICE_OUT,
	FC_NOPS
};

/* The first operation a random sequence may pick (after the setup). */
#define FC_FIRST_DATA_OP	FC_OPTIONS
/* Bytes a sequence may move each way: below the TCP windows. */
#define FC_VOLUME_MAX		40000

struct fc_op {
	const char *name;
	int (*run)(void);
	unsigned int pre;		/* FC_* done before it in a sweep */
	size_t len;			/* its size in a sweep; the most */
	bool tx, rx;			/* the stream it adds len to */
};

extern const struct fc_op fc_ops[FC_NOPS];

/* Counts over many connections, and how the last one ended. */
struct fc_tally {
	unsigned int injected, usable, failed, errors, points;
	unsigned int held;		/* sends reported done, data held back */
	size_t lost;			/* bytes taken, then lost to a reset */
	bool tx_failed, rx_failed;	/* the last connection's verdict */
	size_t last_lost;
};

/*
 * Once per test process: the keys (tx: the socket sends, rx: the peer
 * seals; both at their first record), TLS_RX_EXPECT_NO_PAD or not, and
 * the seed of the data. 0 or -1.
 */
int fc_init(const struct wire_keys *tx, const struct wire_keys *rx,
	    bool no_pad, uint64_t seed);

/*
 * One connection: set up as pre asks, run seq[0..n) (sizes lens) with the
 * nth allocation of the calls failing (0: none), complete the setup, give
 * the verdict. Returns 0, or -1 with fc_why(). *injected: whether the
 * fault was injected; *left: the points the calls did not reach.
 */
int fc_run(const struct fc_op *const *seq, const size_t *lens, size_t n,
	   unsigned int pre, unsigned int nth, struct fc_tally *t,
	   bool *injected, unsigned int *left);

/* Why the last fc_run() failed. */
const char *fc_why(void);

#endif
