// SPDX-License-Identifier: MIT
/*
 * From a completed OpenSSL handshake to kernel TLS: capture the secrets
 * through public APIs (keylog callback for TLS 1.3, the session master key
 * and randoms for TLS 1.2), count the records OpenSSL already sent and read
 * under the new keys (msg callback), derive, attach the ULP, set TLS_TX and
 * TLS_RX, and wipe every copy. For TLS 1.3 on oktls, the traffic secrets
 * themselves go to the kernel (OKTLS_TX_SECRET, OKTLS_RX_SECRET), which
 * then follows KeyUpdate on its own.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "oktls.h"
#include "../../kmod/uapi/oktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* Per-SSL state, in ex_data; freed (and wiped) with the SSL. */
struct state {
	uint8_t secret[2][OKTLS_MAX_SECRET];	/* [0] client, [1] server */
	size_t secret_len[2];
	uint64_t records[2];			/* [0] read, [1] written */
	bool keyed[2];				/* counting under the app keys */
};

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		       long argl, void *argp)
{
	OPENSSL_clear_free(ptr, sizeof(struct state));
}

static void ex_init(void)
{
	ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, state_free);
}

static struct state *state_get(const SSL *ssl)
{
	struct state *st = SSL_get_ex_data(ssl, ex_index);

	if (!st) {
		st = OPENSSL_zalloc(sizeof(*st));
		if (st && !SSL_set_ex_data((SSL *)ssl, ex_index, st)) {
			OPENSSL_free(st);
			st = NULL;
		}
	}
	return st;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "CLIENT_TRAFFIC_SECRET_0 <client random> <secret>", both in hex. */
static void keylog(const SSL *ssl, const char *line)
{
	static const char *const labels[2] = {
		"CLIENT_TRAFFIC_SECRET_0 ", "SERVER_TRAFFIC_SECRET_0 ",
	};
	struct state *st;
	const char *p;
	size_t n = 0;
	int side, hi, lo;

	for (side = 0; side < 2; side++)
		if (!strncmp(line, labels[side], strlen(labels[side])))
			break;
	if (side == 2)
		return;
	st = state_get(ssl);
	p = strchr(line + strlen(labels[side]), ' ');
	if (!st || !p)
		return;
	for (p++; n < OKTLS_MAX_SECRET; n++, p += 2) {
		hi = unhex(p[0]);
		lo = hi < 0 ? -1 : unhex(p[1]);
		if (lo < 0)
			break;
		st->secret[side][n] = hi << 4 | lo;
	}
	st->secret_len[side] = n;
}

/*
 * Record accounting. OpenSSL reports every record header it writes or reads
 * (SSL3_RT_HEADER) and, after it, every handshake message. The application
 * keys of a direction start after that direction's CCS record in TLS 1.2
 * (so the Finished record is number 0 under them) and after its Finished
 * message in TLS 1.3; from there each header is one record under them,
 * e.g. TLS 1.3 NewSessionTicket records the server wrote.
 */
static void msg_cb(int write_p, int version, int content_type, const void *buf,
		   size_t len, SSL *ssl, void *arg)
{
	const uint8_t *b = buf;
	struct state *st = state_get(ssl);
	bool tls13 = SSL_version(ssl) == TLS1_3_VERSION;
	int dir = !!write_p;

	if (!st)
		return;
	switch (content_type) {
	case SSL3_RT_HEADER:
		/* OpenSSL 3.0 reports a CCS it reads by its header only. */
		if (!tls13 && len > 0 && b[0] == SSL3_RT_CHANGE_CIPHER_SPEC) {
			st->records[dir] = 0;
			st->keyed[dir] = true;
		} else {
			st->records[dir]++;
		}
		break;
	case SSL3_RT_HANDSHAKE:
		if (tls13 && len > 0 && b[0] == SSL3_MT_FINISHED) {
			st->records[dir] = 0;
			st->keyed[dir] = true;
		}
		break;
	}
}

int oktls_ctx_prepare(SSL_CTX *ctx)
{
	pthread_once(&ex_once, ex_init);
	if (ex_index < 0)
		return -1;
	SSL_CTX_set_keylog_callback(ctx, keylog);
	SSL_CTX_set_msg_callback(ctx, msg_cb);
	/* Record by record, so nothing past the handshake sits in OpenSSL. */
	SSL_CTX_set_read_ahead(ctx, 0);
	return 0;
}

bool oktls_cipher_supported(const SSL_CIPHER *c)
{
	const char *name = SSL_CIPHER_get_name(c);

	/* kTLS has no CCM with an 8-byte tag; the NID does not tell them apart. */
	if (strstr(name, "CCM8") || strstr(name, "CCM_8"))
		return false;
	return SSL_CIPHER_is_aead(c) &&
	       oktls_keys_cipher_by_nid(SSL_CIPHER_get_cipher_nid(c));
}

static int install(int fd, int optname, const union oktls_crypto_info *ci,
		   const struct oktls_cipher *c, struct oktls_result *res)
{
	if (!setsockopt(fd, SOL_TLS, optname, ci, c->info_size))
		return 0;
	snprintf(res->err, sizeof(res->err),
		 "setsockopt(SOL_TLS, %s, %s): %s%s", optname == TLS_TX ? "TLS_TX" : "TLS_RX",
		 c->name, strerror(errno),
		 errno == ENOPROTOOPT || errno == EINVAL ?
		 " (does this kernel have the cipher? try another --ciphers)" : "");
	return -errno;
}

/* Plaintext OpenSSL decrypted but nobody read yet goes back to the caller. */
static int take_pending(SSL *ssl, struct oktls_result *res)
{
	int n = SSL_pending(ssl), got;

	if (n > 0) {
		res->pending = malloc(n);
		if (!res->pending) {
			snprintf(res->err, sizeof(res->err), "out of memory");
			return -ENOMEM;
		}
		got = SSL_read(ssl, res->pending, n);
		if (got != n) {
			snprintf(res->err, sizeof(res->err),
				 "could not drain %d buffered bytes", n);
			return -EPROTO;
		}
		res->pending_len = n;
	}
	if (SSL_has_pending(ssl)) {
		snprintf(res->err, sizeof(res->err),
			 "OpenSSL holds undecrypted bytes read past the handshake (is read-ahead on?)");
		return -EPROTO;
	}
	return 0;
}

/* The TLS 1.3 traffic secrets, for the kernel to update keys itself. */
struct secrets {
	uint8_t tx[OKTLS_MAX_SECRET];
	uint8_t rx[OKTLS_MAX_SECRET];
	size_t len;
};

static int derive(SSL *ssl, union oktls_crypto_info *tx,
		  union oktls_crypto_info *rx, struct oktls_result *res,
		  struct secrets *keep)
{
	uint8_t master[OKTLS_MAX_SECRET];
	uint8_t crand[OKTLS_RANDOM_SIZE], srand[OKTLS_RANDOM_SIZE];
	const struct oktls_cipher *c;
	const SSL_CIPHER *sc;
	const EVP_MD *md;
	struct state *st;
	size_t mlen = 0;
	bool server;
	int ret = -EINVAL;

	memset(res, 0, sizeof(*res));
	pthread_once(&ex_once, ex_init);
	st = ex_index < 0 ? NULL : SSL_get_ex_data(ssl, ex_index);
	server = SSL_is_server(ssl);
	res->version = SSL_version(ssl);
	sc = SSL_get_current_cipher(ssl);
	res->cipher = sc ? SSL_CIPHER_get_name(sc) : "(none)";
	if (!SSL_is_init_finished(ssl)) {
		snprintf(res->err, sizeof(res->err), "handshake not finished");
		goto cleanup;
	}
	if (!st) {
		snprintf(res->err, sizeof(res->err),
			 "no record accounting: call oktls_ctx_prepare() before SSL_new()");
		goto cleanup;
	}
	if (res->version != TLS1_2_VERSION && res->version != TLS1_3_VERSION) {
		ret = -EOPNOTSUPP;
		snprintf(res->err, sizeof(res->err), "%s is not TLS 1.2 or 1.3",
			 SSL_get_version(ssl));
		goto cleanup;
	}
	if (!oktls_cipher_supported(sc)) {
		ret = -EOPNOTSUPP;
		snprintf(res->err, sizeof(res->err),
			 "suite %s is not an AEAD the kernel carries; allow only AES-GCM, AES-CCM or ChaCha20-Poly1305 suites",
			 res->cipher);
		goto cleanup;
	}
	c = oktls_keys_cipher_by_nid(SSL_CIPHER_get_cipher_nid(sc));
	md = SSL_CIPHER_get_handshake_digest(sc);
	if (!st->keyed[0] || !st->keyed[1] || !md) {
		snprintf(res->err, sizeof(res->err), "record accounting missed the key change");
		goto cleanup;
	}
	ret = take_pending(ssl, res);
	if (ret)
		goto cleanup;
	/* take_pending() may only have consumed records already counted. */
	res->tx_seq = st->records[1];
	res->rx_seq = st->records[0];

	ret = -EINVAL;
	if (res->version == TLS1_3_VERSION) {
		int me = server ? 1 : 0;

		if (!st->secret_len[0] || !st->secret_len[1]) {
			snprintf(res->err, sizeof(res->err),
				 "traffic secrets not captured: another keylog callback replaced ours?");
			goto cleanup;
		}
		if (oktls_keys_tls13(c, md, st->secret[me], st->secret_len[me],
				     res->tx_seq, tx) ||
		    oktls_keys_tls13(c, md, st->secret[!me], st->secret_len[!me],
				     res->rx_seq, rx)) {
			snprintf(res->err, sizeof(res->err), "HKDF-Expand-Label failed");
			goto cleanup;
		}
		if (keep && st->secret_len[me] == st->secret_len[!me]) {
			memcpy(keep->tx, st->secret[me], st->secret_len[me]);
			memcpy(keep->rx, st->secret[!me], st->secret_len[me]);
			keep->len = st->secret_len[me];
		}
	} else {
		mlen = SSL_SESSION_get_master_key(SSL_get_session(ssl), master,
						  sizeof(master));
		if (!mlen || SSL_get_client_random(ssl, crand, sizeof(crand)) != sizeof(crand) ||
		    SSL_get_server_random(ssl, srand, sizeof(srand)) != sizeof(srand)) {
			snprintf(res->err, sizeof(res->err), "no master secret or randoms");
			goto cleanup;
		}
		if (oktls_keys_tls12(c, md, master, mlen, crand, srand, server,
				     res->tx_seq, res->rx_seq, tx, rx)) {
			snprintf(res->err, sizeof(res->err), "TLS 1.2 PRF failed");
			goto cleanup;
		}
	}

	ret = 0;
cleanup:
	OPENSSL_cleanse(master, sizeof(master));
	if (st)
		OPENSSL_cleanse(st->secret, sizeof(st->secret));
	if (ret) {
		OPENSSL_cleanse(tx, sizeof(*tx));
		OPENSSL_cleanse(rx, sizeof(*rx));
		free(res->pending);
		res->pending = NULL;
		res->pending_len = 0;
	}
	return ret;
}

int oktls_derive(SSL *ssl, union oktls_crypto_info *tx,
		 union oktls_crypto_info *rx, struct oktls_result *res)
{
	return derive(ssl, tx, rx, res, NULL);
}

/* Hand both traffic secrets to the kernel; 0 or -errno (res->err set). */
static int install_secrets(int fd, const struct oktls_cipher *c,
			   const struct secrets *sec, const struct oktls_result *res,
			   char *err, size_t errlen)
{
	struct oktls_secret_info si = {
		.version = TLS_1_3_VERSION,
		.cipher_type = c->type,
		.secret_len = sec->len,
	};
	int opt = OKTLS_TX_SECRET, ret = 0, i;
	uint64_t seq = res->tx_seq;

	for (i = 0; i < 2 && !ret; i++) {
		memcpy(si.secret, i ? sec->rx : sec->tx, sec->len);
		if (i) {
			opt = OKTLS_RX_SECRET;
			seq = res->rx_seq;
		}
		for (int b = 7; b >= 0; b--, seq >>= 8)
			si.rec_seq[b] = seq & 0xff;
		if (setsockopt(fd, SOL_TLS, opt, &si, sizeof(si))) {
			ret = -errno;
			snprintf(err, errlen, "setsockopt(SOL_TLS, %s, %s): %s",
				 i ? "OKTLS_RX_SECRET" : "OKTLS_TX_SECRET",
				 c->name, strerror(errno));
		}
	}
	OPENSSL_cleanse(&si, sizeof(si));
	return ret;
}

int oktls_offload(SSL *ssl, int fd, const char *ulp, struct oktls_result *res)
{
	return oktls_offload_flags(ssl, fd, ulp, OKTLS_OFFLOAD_KEYUPDATE, res);
}

int oktls_offload_flags(SSL *ssl, int fd, const char *ulp, unsigned int flags,
			struct oktls_result *res)
{
	const char *name = ulp ? ulp : "oktls";
	const struct oktls_cipher *c;
	union oktls_crypto_info tx, rx;
	struct secrets sec = { .len = 0 };
	int ret;

	ret = derive(ssl, &tx, &rx, res,
		     flags & OKTLS_OFFLOAD_KEYUPDATE ? &sec : NULL);
	if (ret)
		goto cleanup;
	c = oktls_keys_cipher_by_nid(SSL_CIPHER_get_cipher_nid(SSL_get_current_cipher(ssl)));
	if (setsockopt(fd, SOL_TCP, TCP_ULP, name, strlen(name))) {
		ret = -errno;
		snprintf(res->err, sizeof(res->err), "setsockopt(TCP_ULP, %s): %s%s",
			 name, strerror(errno),
			 errno == ENOENT ? " (load the module: insmod oktls.ko)" : "");
		goto cleanup;
	}
	if (sec.len) {
		ret = install_secrets(fd, c, &sec, res, res->err, sizeof(res->err));
		if (!ret) {
			res->kernel_keyupdate = true;
			goto cleanup;
		}
		/*
		 * A module without the option (the stock one: ENOPROTOOPT), or
		 * a kernel without the suite's hash (ENOENT): bare keys, which
		 * replace whatever half was installed.
		 */
		res->err[0] = 0;
	}
	ret = install(fd, TLS_TX, &tx, c, res);
	if (!ret)
		ret = install(fd, TLS_RX, &rx, c, res);
cleanup:
	OPENSSL_cleanse(&tx, sizeof(tx));
	OPENSSL_cleanse(&rx, sizeof(rx));
	OPENSSL_cleanse(&sec, sizeof(sec));
	if (ret) {
		free(res->pending);
		res->pending = NULL;
		res->pending_len = 0;
	}
	return ret;
}
