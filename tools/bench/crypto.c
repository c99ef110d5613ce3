// SPDX-License-Identifier: MIT
/*
 * The cipher table, fixed test keys for the kTLS rows, an independent
 * userspace TLS record layer on OpenSSL EVP (so the peer of the measured
 * socket can be plain TCP: it sends records sealed before the clock starts,
 * or captures records and opens them after it stops), and the OpenSSL
 * handshake for the userspace rows with the traffic keys derived from it.
 */
#include <linux/tls.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

const struct bcipher bciphers[] = {
	{ "aes128gcm", TLS_CIPHER_AES_GCM_128, 16, 8, 4, 4, "AES-128-GCM",
	  "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256", "SHA256" },
	{ "aes256gcm", TLS_CIPHER_AES_GCM_256, 32, 8, 4, 4, "AES-256-GCM",
	  "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384", "SHA384" },
	{ "chacha20", TLS_CIPHER_CHACHA20_POLY1305, 32, 12, 0, 12, "ChaCha20-Poly1305",
	  "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_CHACHA20_POLY1305_SHA256", "SHA256" },
};
const unsigned int n_bciphers = sizeof(bciphers) / sizeof(bciphers[0]);

void bench_fixed_keys(const struct bcipher *c, struct bkeys *k)
{
	unsigned int i;

	for (i = 0; i < sizeof(k->key); i++)
		k->key[i] = 0x40 + i;
	for (i = 0; i < sizeof(k->iv); i++)
		k->iv[i] = 0xa0 + i;
	k->seq = 0;
}

/* uapi layout of every tls12_crypto_info_*: info, iv, key, salt, rec_seq */
size_t bench_crypto_info(const struct bcipher *c, int version,
			 const struct bkeys *k, uint8_t *buf)
{
	struct tls_crypto_info info = {
		.version = version == 13 ? TLS_1_3_VERSION : TLS_1_2_VERSION,
		.cipher_type = c->ktls_type,
	};
	uint8_t *p = buf;
	int i;

	memcpy(p, &info, sizeof(info));
	p += sizeof(info);
	memcpy(p, k->iv + c->salt_len, c->iv_len);
	p += c->iv_len;
	memcpy(p, k->key, c->key_len);
	p += c->key_len;
	memcpy(p, k->iv, c->salt_len);
	p += c->salt_len;
	for (i = 7; i >= 0; i--)
		*p++ = k->seq >> (8 * i);
	return p - buf;
}

static int explicit_len(const struct bcipher *c, int version)
{
	return version == 12 && c->fixed_iv12 == 4 ? 8 : 0;
}

size_t bench_wire_bound(size_t len, size_t rec)
{
	return len + (len / rec + 1) * (5 + 8 + 16 + 1);
}

static void nonce_for(const struct bcipher *c, int version, const struct bkeys *k,
		      uint64_t seq, const uint8_t *explicit, uint8_t nonce[12])
{
	int i;

	memcpy(nonce, k->iv, 12);
	if (explicit_len(c, version)) {
		memcpy(nonce + 4, explicit, 8);
		return;
	}
	for (i = 0; i < 8; i++)
		nonce[4 + i] ^= seq >> (56 - 8 * i);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	while (n--)
		*p++ = v >> (8 * n);
}

size_t bench_seal(const struct bcipher *c, int version, const struct bkeys *k,
		  const uint8_t *src, size_t len, size_t rec, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, c->evp, NULL);
	int xl = explicit_len(c, version), outl;
	uint64_t seq = k->seq;
	uint8_t *o = out;
	size_t off = 0;

	EVP_EncryptInit_ex(ctx, ciph, NULL, k->key, NULL);
	while (off < len) {
		size_t n = len - off < rec ? len - off : rec;
		size_t plen = n + (version == 13);
		size_t clen = xl + plen + 16;
		uint8_t nonce[12], aad[13], expl[8];
		uint8_t *body;

		put_be(expl, seq, 8);
		o[0] = 0x17;
		o[1] = 3;
		o[2] = 3;
		put_be(o + 3, clen, 2);
		memcpy(o + 5, expl, xl);
		body = o + 5 + xl;
		nonce_for(c, version, k, seq, expl, nonce);
		EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce);
		if (version == 13) {
			EVP_EncryptUpdate(ctx, NULL, &outl, o, 5);
		} else {
			put_be(aad, seq, 8);
			aad[8] = 0x17;
			aad[9] = 3;
			aad[10] = 3;
			put_be(aad + 11, n, 2);
			EVP_EncryptUpdate(ctx, NULL, &outl, aad, 13);
		}
		EVP_EncryptUpdate(ctx, body, &outl, src + off, n);
		if (version == 13) {
			uint8_t type = 0x17;

			EVP_EncryptUpdate(ctx, body + n, &outl, &type, 1);
		}
		EVP_EncryptFinal_ex(ctx, body + plen, &outl);
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, body + plen);
		o += 5 + clen;
		off += n;
		seq++;
	}
	EVP_CIPHER_free(ciph);
	EVP_CIPHER_CTX_free(ctx);
	return o - out;
}

int bench_open_check(const struct bcipher *c, int version, const struct bkeys *k,
		     const uint8_t *wire, size_t wlen, const uint8_t *want, size_t len,
		     char *why, size_t whylen)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, c->evp, NULL);
	int xl = explicit_len(c, version), outl, ret = -1;
	static uint8_t pt[REC_MAX + 256];
	size_t off = 0, got = 0;
	uint64_t seq = k->seq;

	EVP_DecryptInit_ex(ctx, ciph, NULL, k->key, NULL);
	while (off < wlen) {
		const uint8_t *h = wire + off;
		size_t clen, plen;
		uint8_t nonce[12], aad[13];

		if (wlen - off < 5 || (clen = h[3] << 8 | h[4], wlen - off < 5 + clen)) {
			snprintf(why, whylen, "truncated record at wire offset %zu", off);
			goto out;
		}
		if (h[0] != 0x17 || h[1] != 3 || h[2] != 3 || clen < (size_t)xl + 16 + (version == 13) ||
		    clen > REC_MAX + 256) {
			snprintf(why, whylen, "bad record header %02x%02x%02x len %zu at %zu",
				 h[0], h[1], h[2], clen, off);
			goto out;
		}
		plen = clen - xl - 16;
		nonce_for(c, version, k, seq, h + 5, nonce);
		EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce);
		if (version == 13) {
			EVP_DecryptUpdate(ctx, NULL, &outl, h, 5);
		} else {
			put_be(aad, seq, 8);
			memcpy(aad + 8, h, 3);
			put_be(aad + 11, plen, 2);
			EVP_DecryptUpdate(ctx, NULL, &outl, aad, 13);
		}
		EVP_DecryptUpdate(ctx, pt, &outl, h + 5 + xl, plen);
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(h + 5 + xl + plen));
		if (EVP_DecryptFinal_ex(ctx, pt + plen, &outl) <= 0) {
			snprintf(why, whylen, "record %llu fails authentication",
				 (unsigned long long)(seq - k->seq));
			goto out;
		}
		if (version == 13) {
			while (plen && pt[plen - 1] == 0)
				plen--;
			if (!plen || pt[--plen] != 0x17) {
				snprintf(why, whylen, "record %llu: inner type not data",
					 (unsigned long long)(seq - k->seq));
				goto out;
			}
		}
		if (got + plen > len || memcmp(pt, want + got, plen)) {
			snprintf(why, whylen, "plaintext differs in record %llu (offset %zu)",
				 (unsigned long long)(seq - k->seq), got);
			goto out;
		}
		got += plen;
		off += 5 + clen;
		seq++;
	}
	if (got != len) {
		snprintf(why, whylen, "got %zu plaintext bytes, sent %zu", got, len);
		goto out;
	}
	ret = 0;
out:
	EVP_CIPHER_free(ciph);
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* ---- OpenSSL: throwaway certificate, contexts, handshake, key derivation */

static EVP_PKEY *pkey;
static X509 *cert;

int bench_ossl_init(void)
{
	X509_NAME *name;

	pkey = EVP_EC_gen("P-256");
	cert = X509_new();
	if (!pkey || !cert)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
	X509_set_pubkey(cert, pkey);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(cert, name);
	return X509_sign(cert, pkey, EVP_sha256()) > 0 ? 0 : -1;
}

int bench_ossl_write_pem(const char *cpath, const char *kpath)
{
	FILE *f = fopen(cpath, "w");
	int ok;

	if (!f)
		return -1;
	ok = PEM_write_X509(f, cert);
	fclose(f);
	f = fopen(kpath, "w");
	if (!f)
		return -1;
	ok &= PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	return ok ? 0 : -1;
}

struct keylog {
	char secret_hex[2 * 64 + 1];	/* CLIENT_TRAFFIC_SECRET_0 */
};

static int keylog_idx = -1;

static void keylog_cb(const SSL *ssl, const char *line)
{
	struct keylog *kl = SSL_get_ex_data(ssl, keylog_idx);
	const char *p;

	if (!kl || strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		return;
	p = strchr(line + 24, ' ');
	if (p)
		snprintf(kl->secret_hex, sizeof(kl->secret_hex), "%s", p + 1);
}

SSL_CTX *bench_ossl_ctx(int server, const struct bcipher *c, int version)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	int v = version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, v);
	SSL_CTX_set_max_proto_version(ctx, v);
	/* Userspace TLS: never hand the keys to the kernel. */
	SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_num_tickets(ctx, 0);
	/* One read() per record batch, as a tuned userspace server would. */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (c) {
		if (version == 13)
			SSL_CTX_set_ciphersuites(ctx, c->suite13);
		else
			SSL_CTX_set_cipher_list(ctx, c->suite12);
	}
	if (server) {
		SSL_CTX_use_certificate(ctx, cert);
		SSL_CTX_use_PrivateKey(ctx, pkey);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
	if (keylog_idx < 0)
		keylog_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return ctx;
}

static int unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned int b;

	while (n < max && sscanf(s + 2 * n, "%2x", &b) == 1)
		out[n++] = b;
	return n;
}

/* HKDF-Expand-Label(secret, label, "", len), RFC 8446 7.1 */
static int expand_label(const char *md, const uint8_t *secret, size_t slen,
			const char *label, uint8_t *out, size_t len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
	uint8_t info[64];
	size_t ll = 6 + strlen(label), il = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ret;
	OSSL_PARAM p[5];

	info[il++] = len >> 8;
	info[il++] = len;
	info[il++] = ll;
	memcpy(info + il, "tls13 ", 6);
	memcpy(info + il + 6, label, ll - 6);
	il += ll;
	info[il++] = 0;
	p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, il);
	p[4] = OSSL_PARAM_construct_end();
	ret = EVP_KDF_derive(kctx, out, len, p) > 0 ? 0 : -1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

/* TLS 1.2 key_block = PRF(master, "key expansion", server_random + client_random) */
static int key_block12(const char *md, SSL *ssl, uint8_t *out, size_t len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
	uint8_t master[48], seed[13 + 64];
	size_t ml;
	OSSL_PARAM p[4];
	int ret;

	ml = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof(master));
	memcpy(seed, "key expansion", 13);
	SSL_get_server_random(ssl, seed + 13, 32);
	SSL_get_client_random(ssl, seed + 45, 32);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, ml);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
	p[3] = OSSL_PARAM_construct_end();
	ret = EVP_KDF_derive(kctx, out, len, p) > 0 ? 0 : -1;
	OPENSSL_cleanse(master, sizeof(master));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

static int set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int bench_ossl_pair(const struct bcipher *c, int version, int cfd, int sfd,
		    SSL **cssl, SSL **sssl, struct bkeys *k)
{
	static SSL_CTX *ctxs[2][2][8];
	int vi = version == 13, ci = c - bciphers, cdone = 0, sdone = 0, ret = -1;
	struct keylog kl = { "" };
	SSL *cs, *ss;

	if (!ctxs[vi][0][ci]) {
		ctxs[vi][0][ci] = bench_ossl_ctx(0, c, version);
		ctxs[vi][1][ci] = bench_ossl_ctx(1, c, version);
	}
	cs = SSL_new(ctxs[vi][0][ci]);
	ss = SSL_new(ctxs[vi][1][ci]);
	SSL_set_fd(cs, cfd);
	SSL_set_fd(ss, sfd);
	SSL_set_ex_data(cs, keylog_idx, &kl);
	SSL_set_connect_state(cs);
	SSL_set_accept_state(ss);
	set_nonblock(cfd, 1);
	set_nonblock(sfd, 1);
	while (!cdone || !sdone) {
		struct pollfd pf[2] = { { cfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		int r, e;

		if (!cdone) {
			r = SSL_do_handshake(cs);
			e = SSL_get_error(cs, r);
			if (r == 1)
				cdone = 1;
			else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				goto out;
		}
		if (!sdone) {
			r = SSL_do_handshake(ss);
			e = SSL_get_error(ss, r);
			if (r == 1)
				sdone = 1;
			else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				goto out;
		}
		if (!cdone || !sdone)
			poll(pf, 2, 10);
	}
	set_nonblock(cfd, 0);
	set_nonblock(sfd, 0);
	if (version == 13) {
		uint8_t secret[64];
		int sl = unhex(kl.secret_hex, secret, sizeof(secret));

		if (sl < 32 || expand_label(c->digest, secret, sl, "key", k->key, c->key_len) ||
		    expand_label(c->digest, secret, sl, "iv", k->iv, 12))
			goto out;
		OPENSSL_cleanse(secret, sizeof(secret));
		k->seq = 0;
	} else {
		uint8_t kb[2 * 32 + 2 * 12];

		if (key_block12(c->digest, cs, kb, 2 * c->key_len + 2 * c->fixed_iv12))
			goto out;
		memcpy(k->key, kb, c->key_len);
		memset(k->iv, 0, sizeof(k->iv));
		memcpy(k->iv, kb + 2 * c->key_len, c->fixed_iv12);
		OPENSSL_cleanse(kb, sizeof(kb));
		k->seq = 1;	/* the client's Finished was record 0 */
	}
	*cssl = cs;
	*sssl = ss;
	return 0;
out:
	ERR_print_errors_fp(stderr);
	SSL_free(cs);
	SSL_free(ss);
	return ret;
}
