// SPDX-License-Identifier: GPL-2.0
/*
 * An independent TLS record layer on OpenSSL EVP; see tls_wire.h.
 *
 * Nonces (12 bytes for every kTLS AEAD):
 *   TLS 1.2 GCM/CCM (RFC 5288 3, RFC 6655 3): salt(4) || explicit(8), the
 *     explicit part sent after the header.
 *   TLS 1.2 ChaCha20-Poly1305 (RFC 7905 2): iv(12) XOR (0^4 || seq).
 *   TLS 1.3 (RFC 8446 5.3): (salt || iv) XOR (0^4 || seq); for ChaCha the
 *     uapi has no salt and a 12-byte iv, the same bytes.
 * AAD:
 *   TLS 1.2 (RFC 5246 6.2.3.3): seq(8) || type || 0x0303 || plaintext len(2).
 *   TLS 1.3 (RFC 8446 5.2): the record header, opaque_type 23, length of
 *     the ciphertext including the tag.
 */
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "lib/net.h"
#include "lib/tls_wire.h"

#define CIPHER_ROW(ID, st, nm, evp, kalg, expl, is_ccm, only12)		\
	{								\
		.name = nm,						\
		.type = TLS_CIPHER_##ID,				\
		.key_size = TLS_CIPHER_##ID##_KEY_SIZE,			\
		.iv_size = TLS_CIPHER_##ID##_IV_SIZE,			\
		.salt_size = TLS_CIPHER_##ID##_SALT_SIZE,		\
		.tag_size = TLS_CIPHER_##ID##_TAG_SIZE,			\
		.rec_seq_size = TLS_CIPHER_##ID##_REC_SEQ_SIZE,		\
		.info_size = sizeof(struct st),				\
		.iv_off = offsetof(struct st, iv),			\
		.key_off = offsetof(struct st, key),			\
		.salt_off = offsetof(struct st, salt),			\
		.rec_seq_off = offsetof(struct st, rec_seq),		\
		.explicit_nonce = expl,					\
		.ccm = is_ccm,						\
		.tls12_only = only12,					\
		.evp_name = evp,					\
		.kernel_alg = kalg,					\
	}

const struct wire_cipher wire_ciphers[] = {
	CIPHER_ROW(AES_GCM_128, tls12_crypto_info_aes_gcm_128, "aes_gcm_128",
		   "id-aes128-GCM", "gcm(aes)", true, false, false),
	CIPHER_ROW(AES_GCM_256, tls12_crypto_info_aes_gcm_256, "aes_gcm_256",
		   "id-aes256-GCM", "gcm(aes)", true, false, false),
	CIPHER_ROW(AES_CCM_128, tls12_crypto_info_aes_ccm_128, "aes_ccm_128",
		   "id-aes128-CCM", "ccm(aes)", true, true, false),
	CIPHER_ROW(CHACHA20_POLY1305, tls12_crypto_info_chacha20_poly1305,
		   "chacha20_poly1305", "ChaCha20-Poly1305",
		   "rfc7539(chacha20,poly1305)", false, false, false),
	CIPHER_ROW(SM4_GCM, tls12_crypto_info_sm4_gcm, "sm4_gcm",
		   "SM4-GCM", "gcm(sm4)", true, false, false),
	CIPHER_ROW(SM4_CCM, tls12_crypto_info_sm4_ccm, "sm4_ccm",
		   "SM4-CCM", "ccm(sm4)", true, true, false),
	CIPHER_ROW(ARIA_GCM_128, tls12_crypto_info_aria_gcm_128, "aria_gcm_128",
		   "ARIA-128-GCM", "gcm(aria)", true, false, true),
	CIPHER_ROW(ARIA_GCM_256, tls12_crypto_info_aria_gcm_256, "aria_gcm_256",
		   "ARIA-256-GCM", "gcm(aria)", true, false, true),
};

const size_t wire_ciphers_count = sizeof(wire_ciphers) / sizeof(wire_ciphers[0]);

/* Every uapi struct is header, iv, key, salt, rec_seq with no padding. */
#define CHECK_LAYOUT(ID, st)						\
	_Static_assert(sizeof(struct st) ==				\
		       sizeof(struct tls_crypto_info) +			\
		       TLS_CIPHER_##ID##_IV_SIZE +			\
		       TLS_CIPHER_##ID##_KEY_SIZE +			\
		       TLS_CIPHER_##ID##_SALT_SIZE +			\
		       TLS_CIPHER_##ID##_REC_SEQ_SIZE, #st " layout");	\
	_Static_assert(TLS_CIPHER_##ID##_SALT_SIZE +			\
		       TLS_CIPHER_##ID##_IV_SIZE == 12, #st " nonce")
CHECK_LAYOUT(AES_GCM_128, tls12_crypto_info_aes_gcm_128);
CHECK_LAYOUT(AES_GCM_256, tls12_crypto_info_aes_gcm_256);
CHECK_LAYOUT(AES_CCM_128, tls12_crypto_info_aes_ccm_128);
CHECK_LAYOUT(CHACHA20_POLY1305, tls12_crypto_info_chacha20_poly1305);
CHECK_LAYOUT(SM4_GCM, tls12_crypto_info_sm4_gcm);
CHECK_LAYOUT(SM4_CCM, tls12_crypto_info_sm4_ccm);
CHECK_LAYOUT(ARIA_GCM_128, tls12_crypto_info_aria_gcm_128);
CHECK_LAYOUT(ARIA_GCM_256, tls12_crypto_info_aria_gcm_256);

const struct wire_cipher *wire_cipher_find(uint16_t type)
{
	size_t i;

	for (i = 0; i < wire_ciphers_count; i++)
		if (wire_ciphers[i].type == type)
			return &wire_ciphers[i];
	return NULL;
}

/*
 * OpenSSL 3 loads its config and providers on the first fetch. Do that
 * once, before the harness forks a process per test, so that every test
 * does not pay for it again (seconds in total under QEMU TCG).
 */
static EVP_CIPHER *evp_cache[sizeof(wire_ciphers) / sizeof(wire_ciphers[0])];

__attribute__((constructor)) static void evp_preload(void)
{
	size_t i;

	for (i = 0; i < wire_ciphers_count; i++)
		evp_cache[i] = EVP_CIPHER_fetch(NULL, wire_ciphers[i].evp_name,
						NULL);
}

static EVP_CIPHER *evp_get(const struct wire_cipher *c)
{
	EVP_CIPHER *e = evp_cache[c - wire_ciphers];

	if (e && !EVP_CIPHER_up_ref(e))
		return NULL;
	return e;
}

bool wire_cipher_in_openssl(const struct wire_cipher *c)
{
	return evp_cache[c - wire_ciphers] != NULL;
}

uint64_t wire_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

size_t wire_rand_range(uint64_t *state, size_t lo, size_t hi)
{
	return lo + wire_rand(state) % (hi - lo + 1);
}

void wire_rand_fill(uint64_t *state, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i % 8))
			v = wire_rand(state);
		p[i] = v >> (8 * (i % 8));
	}
}

void wire_put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v;
}

uint64_t wire_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int wire_keys_init(struct wire_keys *k, uint16_t version, uint16_t cipher,
		   uint64_t seed, uint64_t seq)
{
	const struct wire_cipher *c = wire_cipher_find(cipher);
	uint64_t st = seed;

	memset(k, 0, sizeof(*k));
	/*
	 * ARIA in TLS 1.3 is no registered suite, but the record math is the
	 * same: the keys are made so tests can offer them and be refused.
	 */
	if (!c || (version != TLS_1_2_VERSION && version != TLS_1_3_VERSION))
		return -EINVAL;
	k->cipher = c;
	k->version = version;
	wire_rand_fill(&st, k->key, c->key_size);
	wire_rand_fill(&st, k->salt, c->salt_size);
	wire_rand_fill(&st, k->iv, c->iv_size);
	k->seq = seq;
	if (c->explicit_nonce)
		k->explicit = wire_get_be64(k->iv);
	k->evp = evp_get(c);
	if (!k->evp)
		return -ENOENT;
	k->ctx = EVP_CIPHER_CTX_new();
	if (!k->ctx) {
		wire_keys_free(k);
		return -ENOMEM;
	}
	return 0;
}

void wire_keys_free(struct wire_keys *k)
{
	EVP_CIPHER_CTX_free(k->ctx);
	EVP_CIPHER_free(k->evp);
	k->ctx = NULL;
	k->evp = NULL;
}

size_t wire_crypto_info(const struct wire_keys *k, union wire_crypto_info *ci)
{
	const struct wire_cipher *c = k->cipher;
	uint8_t *p = (uint8_t *)ci;

	memset(ci, 0, sizeof(*ci));
	ci->info.version = k->version;
	ci->info.cipher_type = c->type;
	memcpy(p + c->key_off, k->key, c->key_size);
	memcpy(p + c->salt_off, k->salt, c->salt_size);
	if (c->explicit_nonce && k->version == TLS_1_2_VERSION)
		wire_put_be64(p + c->iv_off, k->explicit);
	else
		memcpy(p + c->iv_off, k->iv, c->iv_size);
	wire_put_be64(p + c->rec_seq_off, k->seq);
	return c->info_size;
}

int wire_set_keys(int fd, int optname, const struct wire_keys *k)
{
	union wire_crypto_info ci;
	size_t len = wire_crypto_info(k, &ci);
	int ret = setsockopt(fd, SOL_TLS, optname, &ci, len) ? errno : 0;

	memset(&ci, 0, sizeof(ci));
	return ret;
}

const char *wire_skip_reason(const struct wire_keys *k, int err, char *buf,
			     size_t size)
{
	const struct wire_cipher *c = k->cipher;

	/* Refused before any crypto is allocated, so ENOENT would be wrong. */
	if (c->tls12_only && k->version == TLS_1_3_VERSION) {
		if (err != EINVAL)
			return NULL;
		snprintf(buf, size, "%s has no TLS 1.3 suites (RFC 6209): keys refused with EINVAL as upstream",
			 c->name);
	} else if (err == ENOENT)
		snprintf(buf, size, "kernel crypto has no %s (keys: ENOENT)",
			 c->kernel_alg);
	else if (err == EINVAL && c->tls12_only && test_ulp_is_stock())
		snprintf(buf, size, "stock tls of this kernel predates %s (EINVAL)",
			 c->name);
	else if (!err && !k->evp)
		snprintf(buf, size, "OpenSSL lacks %s: the wire cannot be checked",
			 c->evp_name);
	else
		return NULL;
	return buf;
}

static int probed[2][sizeof(wire_ciphers) / sizeof(wire_ciphers[0])];

void wire_probe_variants(int optname)
{
	struct wire_keys k;
	size_t c;
	int v, a, b;

	for (v = 0; v < 2; v++) {
		for (c = 0; c < wire_ciphers_count; c++) {
			probed[v][c] = -1;
			if (tcp_pair(AF_INET, &a, &b))
				continue;
			wire_keys_init(&k, v ? TLS_1_3_VERSION : TLS_1_2_VERSION,
				       wire_ciphers[c].type, 0, 0);
			if (!ulp_attach(a, test_ulp()))
				probed[v][c] = wire_set_keys(a, optname, &k);
			wire_keys_free(&k);
			close(a);
			close(b);
		}
	}
}

int wire_probed_errno(uint16_t version, uint16_t cipher)
{
	const struct wire_cipher *c = wire_cipher_find(cipher);

	if (!c || (version != TLS_1_2_VERSION && version != TLS_1_3_VERSION))
		return -1;
	return probed[version == TLS_1_3_VERSION][c - wire_ciphers];
}

static bool tls12_explicit(const struct wire_keys *k)
{
	return k->version == TLS_1_2_VERSION && k->cipher->explicit_nonce;
}

size_t wire_nonce_size(const struct wire_keys *k)
{
	return tls12_explicit(k) ? 8 : 0;
}

size_t wire_overhead(const struct wire_keys *k)
{
	return WIRE_HEADER_SIZE + wire_nonce_size(k) + k->cipher->tag_size +
	       (k->version == TLS_1_3_VERSION);
}

size_t wire_max_length(const struct wire_keys *k)
{
	return WIRE_MAX_PLAINTEXT + wire_overhead(k) - WIRE_HEADER_SIZE;
}

/* The 12-byte nonce of the record with sequence number seq. */
static void make_nonce(const struct wire_keys *k, uint64_t seq,
		       uint64_t explicit, uint8_t nonce[12])
{
	const struct wire_cipher *c = k->cipher;
	uint8_t s[8];
	int i;

	memcpy(nonce, k->salt, c->salt_size);
	if (tls12_explicit(k)) {
		wire_put_be64(nonce + 4, explicit);
		return;
	}
	memcpy(nonce + c->salt_size, k->iv, c->iv_size);
	wire_put_be64(s, seq);
	for (i = 0; i < 8; i++)
		nonce[4 + i] ^= s[i];
}

/* AAD for a record; len is the plaintext length (1.2) or wire length (1.3). */
static size_t make_aad(const struct wire_keys *k, uint8_t type, size_t len,
		       uint8_t aad[13])
{
	uint8_t *p = aad;

	if (k->version == TLS_1_2_VERSION) {
		wire_put_be64(p, k->seq);
		p += 8;
	}
	p[0] = type;
	p[1] = 3;
	p[2] = 3;
	p[3] = len >> 8;
	p[4] = len;
	return p + 5 - aad;
}

/*
 * One AEAD operation. enc: in -> out, tag written. !enc: in -> out, tag
 * checked. Returns 0, WIRE_E_TAG or WIRE_E_CRYPTO.
 */
static int aead(struct wire_keys *k, int enc, const uint8_t nonce[12],
		const uint8_t *aad, size_t aad_len, const uint8_t *in,
		size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = k->ctx;
	int tag_len = k->cipher->tag_size, outl, ok;

	if (!EVP_CIPHER_CTX_reset(ctx) ||
	    !EVP_CipherInit_ex(ctx, k->evp, NULL, NULL, NULL, enc) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) <= 0)
		return WIRE_E_CRYPTO;
	/* CCM takes the tag (or its length) and the total length up front. */
	if (k->cipher->ccm &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag_len,
				enc ? NULL : tag) <= 0)
		return WIRE_E_CRYPTO;
	if (!EVP_CipherInit_ex(ctx, NULL, NULL, k->key, nonce, enc))
		return WIRE_E_CRYPTO;
	if (k->cipher->ccm && !EVP_CipherUpdate(ctx, NULL, &outl, NULL, len))
		return WIRE_E_CRYPTO;
	if (!EVP_CipherUpdate(ctx, NULL, &outl, aad, aad_len))
		return WIRE_E_CRYPTO;
	/* CCM checks the tag in its one update, even for no data. */
	ok = EVP_CipherUpdate(ctx, out, &outl, in, len);
	if (k->cipher->ccm) {
		if (!ok)
			return enc ? WIRE_E_CRYPTO : WIRE_E_TAG;
		if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
					       tag_len, tag) <= 0)
			return WIRE_E_CRYPTO;
		return 0;
	}
	if (!ok)
		return WIRE_E_CRYPTO;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag_len,
					tag) <= 0)
		return WIRE_E_CRYPTO;
	if (EVP_CipherFinal_ex(ctx, out + outl, &outl) <= 0)
		return enc ? WIRE_E_CRYPTO : WIRE_E_TAG;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, tag_len,
				       tag) <= 0)
		return WIRE_E_CRYPTO;
	return 0;
}

static void advance(struct wire_keys *k)
{
	k->seq++;
	if (tls12_explicit(k))
		k->explicit++;
}

ssize_t wire_seal(struct wire_keys *k, uint8_t type, const void *pt,
		  size_t len, size_t pad, void *out, size_t size)
{
	size_t nsz = wire_nonce_size(k), tag = k->cipher->tag_size;
	bool v13 = k->version == TLS_1_3_VERSION;
	size_t inner = len + (v13 ? 1 + pad : 0);
	size_t total = WIRE_HEADER_SIZE + nsz + inner + tag;
	uint8_t *o = out, *body, nonce[12], aad[13];
	size_t aad_len;

	if (total > size || (!v13 && pad) || total - WIRE_HEADER_SIZE > 0xffff)
		return -1;
	body = o + WIRE_HEADER_SIZE + nsz;
	o[0] = v13 ? WIRE_TYPE_DATA : type;
	o[1] = 3;
	o[2] = 3;
	o[3] = (total - WIRE_HEADER_SIZE) >> 8;
	o[4] = total - WIRE_HEADER_SIZE;
	if (nsz)
		wire_put_be64(o + WIRE_HEADER_SIZE, k->explicit);
	/* TLS 1.3 TLSInnerPlaintext: content || type || zeros (RFC 8446 5.2). */
	memmove(body, pt, len);
	if (v13) {
		body[len] = type;
		memset(body + len + 1, 0, pad);
		aad_len = make_aad(k, WIRE_TYPE_DATA, inner + tag, aad);
	} else {
		aad_len = make_aad(k, type, len, aad);
	}
	make_nonce(k, k->seq, k->explicit, nonce);
	if (aead(k, 1, nonce, aad, aad_len, body, inner, body, body + inner))
		return -1;
	advance(k);
	return total;
}

int wire_open(struct wire_keys *k, const void *rec, size_t len,
	      uint8_t *type, void *pt, size_t *pt_len)
{
	size_t nsz = wire_nonce_size(k), tag = k->cipher->tag_size;
	bool v13 = k->version == TLS_1_3_VERSION;
	const uint8_t *r = rec;
	uint8_t nonce[12], aad[13], tagbuf[16], *out = pt;
	size_t rlen, inner, aad_len;
	uint64_t explicit = 0;
	int err;

	if (len < WIRE_HEADER_SIZE)
		return WIRE_E_SHORT;
	rlen = (size_t)r[3] << 8 | r[4];
	if (len < WIRE_HEADER_SIZE + rlen)
		return WIRE_E_SHORT;
	if (len > WIRE_HEADER_SIZE + rlen)
		return WIRE_E_TRAILING;
	if (r[1] != 3 || r[2] != 3)
		return WIRE_E_VERSION;
	if (rlen < wire_overhead(k) - WIRE_HEADER_SIZE ||
	    rlen > wire_max_length(k))
		return WIRE_E_LENGTH;
	if (v13 && r[0] != WIRE_TYPE_DATA)
		return WIRE_E_OUTER_TYPE;
	if (nsz) {
		explicit = wire_get_be64(r + WIRE_HEADER_SIZE);
		if (explicit != k->explicit)
			return WIRE_E_NONCE;
	}
	inner = rlen - nsz - tag;
	if (v13)
		aad_len = make_aad(k, r[0], rlen, aad);
	else
		aad_len = make_aad(k, r[0], inner, aad);
	make_nonce(k, k->seq, explicit, nonce);
	memcpy(tagbuf, r + WIRE_HEADER_SIZE + nsz + inner, tag);
	err = aead(k, 0, nonce, aad, aad_len, r + WIRE_HEADER_SIZE + nsz,
		   inner, out, tagbuf);
	if (err)
		return err;
	if (v13) {
		/* Strip zero padding; the last non-zero byte is the type. */
		while (inner && !out[inner - 1])
			inner--;
		if (!inner)
			return WIRE_E_NO_TYPE;
		*type = out[--inner];
	} else {
		*type = r[0];
	}
	*pt_len = inner;
	advance(k);
	return WIRE_OK;
}

const char *wire_strerror(int err)
{
	static const char *const names[] = {
		[-WIRE_OK] = "ok",
		[-WIRE_E_SHORT] = "short record",
		[-WIRE_E_VERSION] = "bad record version",
		[-WIRE_E_LENGTH] = "bad record length",
		[-WIRE_E_OUTER_TYPE] = "TLS 1.3 outer type not 23",
		[-WIRE_E_NONCE] = "unexpected explicit nonce",
		[-WIRE_E_TAG] = "authentication tag mismatch",
		[-WIRE_E_NO_TYPE] = "TLS 1.3 record without content type",
		[-WIRE_E_CRYPTO] = "OpenSSL error",
		[-WIRE_E_TRAILING] = "bytes after the record",
	};

	if (err > 0 || -err >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[-err];
}

/* Read exactly len bytes; returns bytes read (short only on EOF) or -1. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

ssize_t wire_read_record(int fd, void *buf, size_t size)
{
	uint8_t *b = buf;
	size_t rlen;
	ssize_t n;

	if (size < WIRE_HEADER_SIZE) {
		errno = EMSGSIZE;
		return -1;
	}
	n = read_full(fd, b, WIRE_HEADER_SIZE);
	if (n <= 0)
		return n;
	if (n < WIRE_HEADER_SIZE) {
		errno = EPROTO;
		return -1;
	}
	rlen = (size_t)b[3] << 8 | b[4];
	if (WIRE_HEADER_SIZE + rlen > size) {
		errno = EMSGSIZE;
		return -1;
	}
	n = read_full(fd, b + WIRE_HEADER_SIZE, rlen);
	if (n < 0)
		return -1;
	if ((size_t)n < rlen) {
		errno = EPROTO;
		return -1;
	}
	return WIRE_HEADER_SIZE + rlen;
}

int wire_recv_data(int fd, struct wire_keys *k, void *out, size_t len,
		   size_t *rec_lens, size_t max_recs, size_t *nrecs)
{
	static __thread uint8_t rec[WIRE_MAX_RECORD], pt[WIRE_MAX_RECORD];
	size_t got = 0, n = 0, plen;
	uint8_t type;
	ssize_t r;
	int err;

	while (got < len) {
		r = wire_read_record(fd, rec, sizeof(rec));
		if (r <= 0) {
			if (!r)
				errno = ENODATA;
			err = WIRE_E_SHORT;
			goto out;
		}
		err = wire_open(k, rec, r, &type, pt, &plen);
		if (err)
			goto out;
		if (type != WIRE_TYPE_DATA || plen > WIRE_MAX_PLAINTEXT) {
			errno = EPROTO;
			err = WIRE_E_SHORT;
			goto out;
		}
		if (plen > len - got) {
			errno = E2BIG;
			err = WIRE_E_SHORT;
			goto out;
		}
		memcpy((uint8_t *)out + got, pt, plen);
		got += plen;
		if (rec_lens && n < max_recs)
			rec_lens[n] = plen;
		n++;
	}
	err = WIRE_OK;
out:
	if (nrecs)
		*nrecs = n;
	return err;
}
