// SPDX-License-Identifier: MIT
/*
 * Known-answer tests of the key derivation, no kernel needed: RFC 8448
 * section 3 (simple 1-RTT, TLS_AES_128_GCM_SHA256) for TLS 1.3, the TLS 1.2
 * PRF vectors posted to the IETF TLS WG (P_SHA256, P_SHA384), and the uapi
 * layout of the crypto_info structs both produce.
 */
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <string.h>

#include "kselftest_harness.h"
#include "oktls.h"

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned int v;

	while (*s && n < max) {
		if (*s == ' ' || *s == '\n') {
			s++;
			continue;
		}
		if (sscanf(s, "%2x", &v) != 1)
			break;
		out[n++] = v;
		s += 2;
	}
	return n;
}

#define EXPECT_HEX(buf, len, hex) do {					\
	uint8_t _want[256];						\
	size_t _n = unhex(hex, _want, sizeof(_want));			\
	EXPECT_EQ(_n, (size_t)(len));					\
	EXPECT_EQ(0, memcmp(buf, _want, _n));				\
} while (0)

/* RFC 8448 3: {server} derive write traffic keys for handshake data */
TEST(expand_label_rfc8448_handshake)
{
	uint8_t secret[32], key[16], iv[12];

	unhex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
	      secret, sizeof(secret));
	ASSERT_EQ(0, oktls_keys_expand_label(EVP_sha256(), secret, 32, "key", key, 16));
	ASSERT_EQ(0, oktls_keys_expand_label(EVP_sha256(), secret, 32, "iv", iv, 12));
	EXPECT_HEX(key, 16, "3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc");
	EXPECT_HEX(iv, 12, "5d 31 3e b2 67 12 76 ee 13 00 0b 30");
}

/* RFC 8448 3: application traffic keys, laid out as the uapi wants them */
TEST(tls13_app_keys_rfc8448)
{
	const struct oktls_cipher *c = oktls_keys_cipher_by_nid(NID_aes_128_gcm);
	union oktls_crypto_info ci;
	uint8_t s_ap[32], c_ap[32];

	ASSERT_NE(NULL, c);
	unhex("a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43",
	      s_ap, sizeof(s_ap));
	unhex("9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5",
	      c_ap, sizeof(c_ap));

	ASSERT_EQ(0, oktls_keys_tls13(c, EVP_sha256(), s_ap, 32, 2, &ci));
	EXPECT_EQ(TLS_1_3_VERSION, ci.info.version);
	EXPECT_EQ(TLS_CIPHER_AES_GCM_128, ci.info.cipher_type);
	EXPECT_HEX(ci.gcm128.key, 16, "9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56");
	/* The 12-byte IV cf782b88 dd83549aadf1e984 splits into salt || iv. */
	EXPECT_HEX(ci.gcm128.salt, 4, "cf 78 2b 88");
	EXPECT_HEX(ci.gcm128.iv, 8, "dd 83 54 9a ad f1 e9 84");
	EXPECT_HEX(ci.gcm128.rec_seq, 8, "00 00 00 00 00 00 00 02");

	ASSERT_EQ(0, oktls_keys_tls13(c, EVP_sha256(), c_ap, 32, 0, &ci));
	EXPECT_HEX(ci.gcm128.key, 16, "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51");
	EXPECT_HEX(ci.gcm128.salt, 4, "5b 78 92 3d");
	EXPECT_HEX(ci.gcm128.iv, 8, "ee 08 57 90 33 e5 23 d9");
	EXPECT_HEX(ci.gcm128.rec_seq, 8, "00 00 00 00 00 00 00 00");
}

/* ChaCha20 keeps the whole 12-byte IV in iv (same RFC 8448 secret). */
TEST(tls13_chacha_layout)
{
	const struct oktls_cipher *c = oktls_keys_cipher_by_nid(NID_chacha20_poly1305);
	union oktls_crypto_info ci;
	uint8_t s_ap[32], key[32];

	ASSERT_NE(NULL, c);
	unhex("a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43",
	      s_ap, sizeof(s_ap));
	ASSERT_EQ(0, oktls_keys_tls13(c, EVP_sha256(), s_ap, 32, 7, &ci));
	EXPECT_EQ(TLS_CIPHER_CHACHA20_POLY1305, ci.info.cipher_type);
	EXPECT_HEX(ci.chacha.iv, 12, "cf 78 2b 88 dd 83 54 9a ad f1 e9 84");
	ASSERT_EQ(0, oktls_keys_expand_label(EVP_sha256(), s_ap, 32, "key", key, 32));
	EXPECT_EQ(0, memcmp(key, ci.chacha.key, 32));
	EXPECT_HEX(ci.chacha.rec_seq, 8, "00 00 00 00 00 00 00 07");
}

TEST(prf_sha256_vector)
{
	uint8_t secret[16], seed[16], out[100];

	unhex("9bbe436ba940f017b17652849a71db35", secret, 16);
	unhex("a0ba9f936cda311827a6f796ffd5198c", seed, 16);
	ASSERT_EQ(0, oktls_keys_prf(EVP_sha256(), secret, 16, "test label", seed, 16,
				    out, sizeof(out)));
	EXPECT_HEX(out, 100,
		   "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
		   "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
		   "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
		   "87347b66");
}

TEST(prf_sha384_vector)
{
	uint8_t secret[16], seed[16], out[148];

	unhex("b80b733d6ceefcdc71566ea48e5567df", secret, 16);
	unhex("cd665cf6a8447dd6ff8b27555edb7465", seed, 16);
	ASSERT_EQ(0, oktls_keys_prf(EVP_sha384(), secret, 16, "test label", seed, 16,
				    out, sizeof(out)));
	EXPECT_HEX(out, 148,
		   "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd"
		   "e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd"
		   "8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425"
		   "9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6"
		   "91c8f3a26854308d5eaa3be85e0990703d73e56f");
}

/*
 * TLS 1.2 key block (RFC 5246 6.3) for AES-128-GCM: PRF(master, "key
 * expansion", server_random || client_random) cut into client key, server
 * key, client IV, server IV; each side's TX is its own write key.
 */
TEST(tls12_key_block_layout)
{
	const struct oktls_cipher *c = oktls_keys_cipher_by_nid(NID_aes_128_gcm);
	uint8_t master[48], cr[32], sr[32], seed[64], block[40];
	union oktls_crypto_info tx, rx;
	int i;

	for (i = 0; i < 48; i++)
		master[i] = i;
	for (i = 0; i < 32; i++) {
		cr[i] = 0x40 + i;
		sr[i] = 0x80 + i;
	}
	memcpy(seed, sr, 32);
	memcpy(seed + 32, cr, 32);
	ASSERT_EQ(0, oktls_keys_prf(EVP_sha256(), master, 48, "key expansion", seed, 64,
				    block, sizeof(block)));

	ASSERT_EQ(0, oktls_keys_tls12(c, EVP_sha256(), master, 48, cr, sr, true, 1, 1, &tx, &rx));
	EXPECT_EQ(TLS_1_2_VERSION, tx.info.version);
	EXPECT_EQ(0, memcmp(tx.gcm128.key, block + 16, 16));	/* server write key */
	EXPECT_EQ(0, memcmp(tx.gcm128.salt, block + 36, 4));	/* server write IV */
	EXPECT_EQ(0, memcmp(rx.gcm128.key, block, 16));
	EXPECT_EQ(0, memcmp(rx.gcm128.salt, block + 32, 4));
	/* The explicit nonce starts at the sequence number. */
	EXPECT_HEX(tx.gcm128.iv, 8, "00 00 00 00 00 00 00 01");
	EXPECT_HEX(tx.gcm128.rec_seq, 8, "00 00 00 00 00 00 00 01");

	ASSERT_EQ(0, oktls_keys_tls12(c, EVP_sha256(), master, 48, cr, sr, false, 1, 1, &tx, &rx));
	EXPECT_EQ(0, memcmp(tx.gcm128.key, block, 16));
	EXPECT_EQ(0, memcmp(rx.gcm128.key, block + 16, 16));
}

/* RFC 7905: TLS 1.2 ChaCha20-Poly1305 derives 12 IV bytes per side. */
TEST(tls12_chacha_key_block)
{
	const struct oktls_cipher *c = oktls_keys_cipher_by_nid(NID_chacha20_poly1305);
	uint8_t master[48] = { 1 }, cr[32] = { 2 }, sr[32] = { 3 }, seed[64], block[88];
	union oktls_crypto_info tx, rx;

	memcpy(seed, sr, 32);
	memcpy(seed + 32, cr, 32);
	ASSERT_EQ(0, oktls_keys_prf(EVP_sha256(), master, 48, "key expansion", seed, 64,
				    block, sizeof(block)));
	ASSERT_EQ(0, oktls_keys_tls12(c, EVP_sha256(), master, 48, cr, sr, false, 1, 1, &tx, &rx));
	EXPECT_EQ(0, memcmp(tx.chacha.key, block, 32));
	EXPECT_EQ(0, memcmp(rx.chacha.key, block + 32, 32));
	EXPECT_EQ(0, memcmp(tx.chacha.iv, block + 64, 12));
	EXPECT_EQ(0, memcmp(rx.chacha.iv, block + 76, 12));
}

TEST(cipher_table_refuses_non_aead)
{
	EXPECT_EQ(NULL, oktls_keys_cipher_by_nid(NID_aes_128_cbc));
	EXPECT_NE(NULL, oktls_keys_cipher_by_nid(NID_aes_256_gcm));
	EXPECT_NE(NULL, oktls_keys_cipher_by_nid(NID_aes_128_ccm));
}

TEST_HARNESS_MAIN
