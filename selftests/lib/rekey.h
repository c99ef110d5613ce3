/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for rekey_test: TLS 1.3 KeyUpdate records, oktls's own counters
 * (getsockopt OKTLS_SOCK_STATS, /proc/net/oktls_stat) and its sock_diag
 * ULP info, read back the way a tool would.
 */
#ifndef _OKTLS_SELFTEST_REKEY_H
#define _OKTLS_SELFTEST_REKEY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../kmod/uapi/oktls.h"
#include "lib/tls_wire.h"

#define RK_HS_KEY_UPDATE	24	/* RFC 8446 4.6.3 */
#define RK_WHY_SIZE		256	/* room for a failure's description */
#define RK_KEY_UPDATE_LEN	5	/* msg_type, uint24 length, request_update */

/* The handshake message KeyUpdate(request_update) into out[5]. */
void rk_key_update_msg(uint8_t *out, int request_update);

/* Seal a handshake record holding one KeyUpdate; its size or -1. */
ssize_t rk_seal_key_update(struct wire_keys *k, int request_update, void *out,
			   size_t size);

/*
 * Seal len bytes of application data into out as records of at most
 * WIRE_MAX_PLAINTEXT bytes; the bytes written, or -1.
 */
ssize_t rk_seal_stream(struct wire_keys *k, const void *pt, size_t len,
		       void *out, size_t size);

bool rk_write_all(int fd, const void *buf, size_t len);

/* Write len bytes from another thread (more than socket buffers hold). */
struct rk_writer {
	pthread_t thread;
	int fd;
	const void *buf;
	size_t len;
	bool ok;
};

int rk_writer_start(struct rk_writer *w);
/* Whether it wrote everything. */
bool rk_writer_join(struct rk_writer *w);

/*
 * A connected AF_INET pair, TCP_NODELAY and timeouts of ms on both:
 * *tls with test_ulp() attached, *plain the peer. 0, or -1 with errno.
 */
int rk_pair(int *plain, int *tls, int ms);

/*
 * The checks below return 0, or -1 with what went wrong in
 * why[RK_WHY_SIZE].
 *
 * rk_recv_data: read exactly len bytes of application data equal to want,
 * offering room for more in every read: a read that runs on past a
 * KeyUpdate (or any other record type) returns too much.
 */
int rk_recv_data(int fd, const void *want, size_t len, char *why);

/* The next read returns a KeyUpdate(req) alone, with record type 22. */
int rk_recv_key_update(int fd, int req, char *why);

/*
 * Reads wait for a new TLS_RX key: recv (blocking at once, MSG_DONTWAIT,
 * MSG_PEEK), recvmsg, read and splice (blocking and not) all fail with
 * EKEYEXPIRED, poll does not report POLLIN within 200 ms, and
 * OKTLS_SOCK_STATS has OKTLS_STATS_F_RX_KEY_EXPIRED.
 */
int rk_check_key_expired(int fd, char *why);

/*
 * Read one whole record the oktls end sent from the peer socket fd: it
 * must open with k, and be byte for byte what ref seals from the same
 * plaintext (both advance). Its type and plaintext in *type, pt, *len
 * (pt holds WIRE_MAX_RECORD).
 */
int rk_peer_record(int fd, struct wire_keys *k, struct wire_keys *ref,
		   uint8_t *type, void *pt, size_t *len, char *why);
/* One record of type carrying exactly want[len]. */
int rk_peer_expect(int fd, struct wire_keys *k, struct wire_keys *ref,
		   uint8_t type, const void *want, size_t len, char *why);
/* Data records carrying exactly want[len]; *nrec of them. */
int rk_peer_stream(int fd, struct wire_keys *k, struct wire_keys *ref,
		   const void *want, size_t len, size_t *nrec, char *why);
/* The peer reads the end of the stream, nothing before it. */
int rk_peer_eof(int fd, char *why);

/* getsockopt(SOL_TLS, OKTLS_SOCK_STATS): 0 or the errno. */
int rk_sock_stats(int fd, struct oktls_sock_stats *st);

/* The /proc/net/oktls_stat counters the tests compare before and after. */
enum rk_mib {
	RK_CURR_TX_SW,
	RK_CURR_RX_SW,
	RK_TX_SW,
	RK_RX_SW,
	RK_DECRYPT_ERROR,
	RK_RX_NO_PAD_VIOLATION,
	RK_TX_REKEY_OK,
	RK_RX_REKEY_OK,
	RK_TX_REKEY_ERROR,
	RK_RX_REKEY_ERROR,
	RK_RX_REKEY_RECEIVED,
	RK_MIB_NUM,
};

extern const char *const rk_mib_names[RK_MIB_NUM];

/* All of /proc/net/oktls_stat; false if the file or a line is missing. */
bool rk_proc_stats(long long v[RK_MIB_NUM]);

/* Write a short string to a file (a sysfs parameter): 0 or the errno. */
int rk_write_str(const char *path, const char *s);

/* What sock_diag says about one TCP socket's ULP. */
struct rk_diag {
	bool found;		/* the socket was in the reply */
	bool ulp;		/* INET_DIAG_ULP_INFO present */
	char name[32];		/* INET_ULP_INFO_NAME */
	bool tls;		/* INET_ULP_INFO_TLS nest present */
	int version;		/* TLS_INFO_*, -1 when absent */
	int cipher;
	int txconf;
	int rxconf;
	bool zc_ro_tx;
	bool rx_no_pad;
	bool oktls;		/* INET_ULP_INFO_OKTLS nest present */
	size_t stats_len;	/* OKTLS_INFO_STATS payload length, 0 if none */
	struct oktls_sock_stats stats;
};

/*
 * Ask NETLINK_SOCK_DIAG about the connected AF_INET TCP socket fd, with
 * the INET_DIAG_INFO extension (which carries the ULP info for a
 * CAP_NET_ADMIN requester): by an exact lookup (dump false) or by a dump
 * of established sockets filtered by address. 0, or an errno.
 */
int rk_diag_lookup(int fd, bool dump, struct rk_diag *d);

/*
 * What sock_diag (dump or exact lookup) says of the oktls socket fd is
 * what it must: INET_ULP_INFO_NAME ulp; in INET_ULP_INFO_TLS, with keys
 * (cipher not 0) TLS 1.3, cipher and TLS_CONF_SW both ways, without them
 * TLS_CONF_BASE and no version or cipher, the ZC_RO_TX and RX_NO_PAD
 * flags as flags says; in INET_ULP_INFO_OKTLS, the counters getsockopt
 * reads. 0, or -1 with why.
 */
int rk_diag_check(int fd, bool dump, const char *ulp, uint16_t cipher,
		  bool flags, char *why);

/*
 * The crypto info getsockopt(TLS_TX/TLS_RX) must return for k, with key,
 * salt and iv zeroed when hidden (hide_keys=Y).
 */
void rk_crypto_info(const struct wire_keys *k, bool hidden,
		    union wire_crypto_info *ci);

/*
 * Whether `ss -tin` shows the ULP name and TLS version of the AF_INET
 * socket fd: 0 yes, -1 no (why says), 1 when the system has no ss.
 */
int rk_ss_check(int fd, const char *ulp, char *why);
/* oktls-ss lists @fd with @ulp, TLS 1.3 and the text @expect. */
int rk_oktls_ss_check(int fd, const char *ulp, const char *expect, char *why);

#endif
