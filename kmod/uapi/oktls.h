/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * oktls's own socket options and diagnostics, beyond the upstream kTLS
 * uapi of <linux/tls.h> (which oktls implements unchanged).
 *
 * The option numbers sit far above upstream's SOL_TLS options so that a
 * future upstream option can never be mistaken for one of these.
 */
#ifndef _UAPI_OKTLS_H
#define _UAPI_OKTLS_H

#include <linux/const.h>
#include <linux/types.h>

/* setsockopt/getsockopt(SOL_TLS, ...) */
#define OKTLS_CLOSE_NOTIFY	0x4f00	/* int: close_notify at close or SHUT_WR */
#define OKTLS_SOCK_STATS	0x4f01	/* getsockopt: struct oktls_sock_stats */
#define OKTLS_TX_SECRET		0x4f02	/* setsockopt: struct oktls_secret_info */
#define OKTLS_RX_SECRET		0x4f03	/* setsockopt: struct oktls_secret_info */
#define OKTLS_TX_REKEY_RECORDS	0x4f04	/* __u64: TX KeyUpdate after this many records */

/**
 * struct oktls_secret_info - TLS 1.3 keys as a traffic secret
 * @version: TLS_1_3_VERSION
 * @cipher_type: TLS_CIPHER_*, a cipher with a TLS 1.3 suite
 * @secret_len: the suite's hash size (32 for SHA-256 and SM3, 48 for SHA-384)
 * @reserved: 0
 * @secret: client or server application_traffic_secret_N
 * @rec_seq: sequence number of the next record, big-endian
 *
 * Set instead of TLS_TX or TLS_RX (before or after them: it replaces the
 * keys), the kernel derives the key and IV itself and follows KeyUpdate
 * without userspace: a received KeyUpdate switches RX at once (no
 * EKEYEXPIRED) and is consumed; update_requested is answered with a
 * KeyUpdate on TX when TX has a secret too (else the record is returned
 * to the application as TLS_TX/TLS_RX users get it). TX also updates its
 * keys by itself every OKTLS_TX_REKEY_RECORDS records (default: well under
 * the RFC 8446 5.5 limit for the cipher; 0 turns it off).
 */
struct oktls_secret_info {
	__u16 version;
	__u16 cipher_type;
	__u16 secret_len;
	__u16 reserved;
	__u8 secret[48];
	__u8 rec_seq[8];
};

/**
 * struct oktls_sock_stats - one socket's counters (getsockopt, sock_diag)
 * @tx_records: records sealed
 * @tx_bytes: plaintext bytes sealed
 * @rx_records: records opened
 * @rx_bytes: plaintext bytes opened
 * @tx_seq: sequence number of the next record sealed
 * @rx_seq: sequence number of the next record opened
 * @decrypt_errors: records that failed to open (the stream then fails)
 * @tx_rekeys: TX keys replaced after the first
 * @rx_rekeys: RX keys replaced after the first
 * @tx_gen: TX key generation, 0 for the first key, 0xffffffff if unset
 * @rx_gen: RX key generation, likewise
 * @rx_key_updates: TLS 1.3 KeyUpdate messages received
 * @flags: OKTLS_STATS_F_*
 */
struct oktls_sock_stats {
	__u64 tx_records;
	__u64 tx_bytes;
	__u64 rx_records;
	__u64 rx_bytes;
	__u64 tx_seq;
	__u64 rx_seq;
	__u64 decrypt_errors;
	__u32 tx_rekeys;
	__u32 rx_rekeys;
	__u32 tx_gen;
	__u32 rx_gen;
	__u32 rx_key_updates;
	__u32 flags;
};

/* Reads wait for a new TLS_RX key: a KeyUpdate was received. */
#define OKTLS_STATS_F_RX_KEY_EXPIRED	_BITUL(0)

/*
 * sock_diag: inside INET_DIAG_ULP_INFO, beside INET_ULP_INFO_NAME and the
 * upstream INET_ULP_INFO_TLS nest (which `ss` decodes), oktls adds this
 * nest of per-socket counters (attribute numbers are OKTLS_INFO_*).
 */
#define INET_ULP_INFO_OKTLS	0x0f00

enum {
	OKTLS_INFO_UNSPEC,
	OKTLS_INFO_PAD,
	OKTLS_INFO_STATS,	/* binary struct oktls_sock_stats */
	__OKTLS_INFO_MAX,
};

#define OKTLS_INFO_MAX (__OKTLS_INFO_MAX - 1)

#endif /* _UAPI_OKTLS_H */
