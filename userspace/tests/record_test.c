// SPDX-License-Identifier: MIT
/*
 * The module's pure record math (kmod/record.h), built and tested in
 * userspace: header build and parse, limits, nonce, additional data, the
 * TLS 1.3 inner content type. Expected values are written out by hand from
 * RFC 5246 (6.2.3.3), RFC 5288, RFC 7905 and RFC 8446 (5.2-5.3), not
 * computed with the code under test.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "../../kmod/record.h"

static const struct oktls_rec_params p12_gcm = {
	.explicit_nonce = 8, .tag_size = 16,
};
static const struct oktls_rec_params p12_chacha = {
	.tag_size = 16, .nonce_xor = true,
};
static const struct oktls_rec_params p13 = {
	.tls13 = true, .tag_size = 16, .nonce_xor = true,
};

TEST(header_tls12_gcm)
{
	u8 hdr[5];

	oktls_rec_header(&p12_gcm, hdr, OKTLS_TYPE_ALERT, 2);
	/* type, 0x0303, 8 explicit + 2 + 16 tag = 26 */
	EXPECT_EQ(0, memcmp(hdr, "\x15\x03\x03\x00\x1a", 5));
	EXPECT_EQ(26, oktls_rec_parse_header(&p12_gcm, hdr));
	EXPECT_EQ(5U + 8 + 16, oktls_rec_overhead(&p12_gcm));
}

TEST(header_tls13_hides_type)
{
	u8 hdr[5];

	oktls_rec_header(&p13, hdr, OKTLS_TYPE_HANDSHAKE, 100);
	/* outer type 23; 100 + 1 inner type + 16 tag = 117 */
	EXPECT_EQ(0, memcmp(hdr, "\x17\x03\x03\x00\x75", 5));
	EXPECT_EQ(117, oktls_rec_parse_header(&p13, hdr));
}

TEST(parse_limits)
{
	u8 hdr[5] = { 0x17, 0x03, 0x03, 0, 0 };

	/* 2^14 plaintext + nonce + tag is the most a kTLS AEAD produces. */
	oktls_put_be16(hdr + 3, 16384 + 8 + 16);
	EXPECT_EQ(16384 + 8 + 16, oktls_rec_parse_header(&p12_gcm, hdr));
	oktls_put_be16(hdr + 3, 16384 + 8 + 16 + 1);
	EXPECT_EQ(-EMSGSIZE, oktls_rec_parse_header(&p12_gcm, hdr));
	oktls_put_be16(hdr + 3, 16384 + 1 + 16);
	EXPECT_EQ(16384 + 1 + 16, oktls_rec_parse_header(&p13, hdr));
	oktls_put_be16(hdr + 3, 16384 + 1 + 16 + 1);
	EXPECT_EQ(-EMSGSIZE, oktls_rec_parse_header(&p13, hdr));
	oktls_put_be16(hdr + 3, 0xffff);
	EXPECT_EQ(-EMSGSIZE, oktls_rec_parse_header(&p12_chacha, hdr));
	/* Too short to hold nonce and tag (and, in 1.3, the inner type). */
	oktls_put_be16(hdr + 3, 8 + 16 - 1);
	EXPECT_EQ(-EBADMSG, oktls_rec_parse_header(&p12_gcm, hdr));
	oktls_put_be16(hdr + 3, 16);
	EXPECT_EQ(-EBADMSG, oktls_rec_parse_header(&p13, hdr));
	oktls_put_be16(hdr + 3, 17);
	EXPECT_EQ(17, oktls_rec_parse_header(&p13, hdr));
}

TEST(parse_bad_version_and_outer_type)
{
	u8 hdr[5] = { 0x17, 0x03, 0x01, 0x00, 0x20 };

	EXPECT_EQ(-EINVAL, oktls_rec_parse_header(&p12_gcm, hdr));
	hdr[2] = 0x03;
	hdr[0] = OKTLS_TYPE_HANDSHAKE;
	EXPECT_EQ(0x20, oktls_rec_parse_header(&p12_gcm, hdr));
	EXPECT_EQ(-EBADMSG, oktls_rec_parse_header(&p13, hdr));
}

/* RFC 8448 3: server handshake write iv, records 0 and 1. */
TEST(nonce_tls13_rfc8448)
{
	const u8 iv[12] = { 0x5d, 0x31, 0x3e, 0xb2, 0x67, 0x12, 0x76, 0xee,
			    0x13, 0x00, 0x0b, 0x30 };
	u8 nonce[12];

	oktls_rec_nonce(&p13, iv, 0, nonce);
	EXPECT_EQ(0, memcmp(nonce, iv, 12));
	oktls_rec_nonce(&p13, iv, 1, nonce);
	EXPECT_EQ(0, memcmp(nonce, "\x5d\x31\x3e\xb2\x67\x12\x76\xee\x13\x00\x0b\x31", 12));
	oktls_rec_nonce(&p13, iv, 0x0102030405060708ULL, nonce);
	EXPECT_EQ(0, memcmp(nonce, "\x5d\x31\x3e\xb2\x66\x10\x75\xea\x16\x06\x0c\x38", 12));
}

/* RFC 5288 3: GCM nonce is salt || explicit, the sequence plays no part. */
TEST(nonce_tls12_gcm_explicit)
{
	const u8 iv[12] = "SALTexplicit";
	u8 nonce[12];

	oktls_rec_nonce(&p12_gcm, iv, 12345, nonce);
	EXPECT_EQ(0, memcmp(nonce, "SALTexplicit", 12));
}

/* RFC 7905 2: ChaCha20-Poly1305 in 1.2 XORs the padded sequence. */
TEST(nonce_tls12_chacha)
{
	u8 iv[12] = { 0 };
	u8 nonce[12];

	oktls_rec_nonce(&p12_chacha, iv, 0xff, nonce);
	EXPECT_EQ(0, memcmp(nonce, "\0\0\0\0\0\0\0\0\0\0\0\xff", 12));
}

TEST(aad_tls12)
{
	u8 aad[13], hdr[5] = { 0 };

	EXPECT_EQ(13U, oktls_rec_aad(&p12_gcm, aad, hdr, 0x0a0b, 23, 0x1234));
	EXPECT_EQ(0, memcmp(aad, "\0\0\0\0\0\0\x0a\x0b\x17\x03\x03\x12\x34", 13));
}

TEST(aad_tls13_is_header)
{
	u8 aad[13], hdr[5] = { 0x17, 0x03, 0x03, 0x01, 0x02 };

	EXPECT_EQ(5U, oktls_rec_aad(&p13, aad, hdr, 99, 22, 7));
	EXPECT_EQ(0, memcmp(aad, hdr, 5));
}

TEST(inner_type_and_padding)
{
	u8 type = 0;
	u8 rec[] = { 'h', 'i', 0x16, 0, 0, 0 };
	u8 zeros[64] = { 0 };
	u8 only_type[] = { 0x15 };

	EXPECT_EQ(2, oktls_rec_inner_type(rec, sizeof(rec), &type));
	EXPECT_EQ(0x16, type);
	EXPECT_EQ(0, oktls_rec_inner_type(only_type, 1, &type));
	EXPECT_EQ(0x15, type);
	EXPECT_EQ(-EBADMSG, oktls_rec_inner_type(zeros, sizeof(zeros), &type));
	EXPECT_EQ(-EBADMSG, oktls_rec_inner_type(zeros, 0, &type));
}

TEST(be64_increment_carries_and_wraps)
{
	u8 c[8] = { 0, 0, 0, 0, 0, 0, 0x01, 0xff };
	u8 m[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	EXPECT_TRUE(oktls_be64_inc(c));
	EXPECT_EQ(0, memcmp(c, "\0\0\0\0\0\0\x02\x00", 8));
	EXPECT_FALSE(oktls_be64_inc(m));
	EXPECT_EQ(0, memcmp(m, "\0\0\0\0\0\0\0\0", 8));
	EXPECT_EQ(0x0102030405060708ULL,
		  oktls_get_be64((const u8 *)"\x01\x02\x03\x04\x05\x06\x07\x08"));
}

/* RFC 8446 7.1: HkdfLabel for "key", 16 bytes, empty context, by hand. */
TEST(hkdf_label_encoding)
{
	static const u8 want[] = {
		0x00, 0x10, 0x09, 't', 'l', 's', '1', '3', ' ', 'k', 'e', 'y', 0x00,
	};
	u8 buf[32];

	EXPECT_EQ(sizeof(want), oktls_hkdf_label(buf, sizeof(buf), "key", 16));
	EXPECT_EQ(0, memcmp(buf, want, sizeof(want)));
	/* "traffic upd" for a 48-byte (SHA-384) secret. */
	EXPECT_EQ(2U + 1 + 17 + 1, oktls_hkdf_label(buf, sizeof(buf), "traffic upd", 48));
	EXPECT_EQ(0, memcmp(buf, "\x00\x30\x11tls13 traffic upd\x00", 21));
	EXPECT_EQ(0U, oktls_hkdf_label(buf, 20, "traffic upd", 48));
}

/* RFC 8446 4.6.3: only a well-formed KeyUpdate ending the record counts. */
TEST(key_update_scan)
{
	static const u8 ku0[] = { 24, 0, 0, 1, 0 }, ku1[] = { 24, 0, 0, 1, 1 };
	static const u8 nst_then_ku[] = { 4, 0, 0, 2, 0xaa, 0xbb, 24, 0, 0, 1, 1 };
	static const u8 ku_then_more[] = { 24, 0, 0, 1, 0, 4, 0, 0, 0 };
	static const u8 bad_len[] = { 24, 0, 0, 2, 0, 0 };
	static const u8 bad_req[] = { 24, 0, 0, 1, 2 };
	static const u8 truncated[] = { 4, 0, 0, 9, 1 };

	EXPECT_EQ(0, oktls_hs_key_update(ku0, sizeof(ku0)));
	EXPECT_EQ(1, oktls_hs_key_update(ku1, sizeof(ku1)));
	EXPECT_EQ(1, oktls_hs_key_update(nst_then_ku, sizeof(nst_then_ku)));
	EXPECT_EQ(-ENOENT, oktls_hs_key_update(ku_then_more, sizeof(ku_then_more)));
	EXPECT_EQ(-ENOENT, oktls_hs_key_update(bad_len, sizeof(bad_len)));
	EXPECT_EQ(-ENOENT, oktls_hs_key_update(bad_req, sizeof(bad_req)));
	EXPECT_EQ(-ENOENT, oktls_hs_key_update(truncated, sizeof(truncated)));
	EXPECT_EQ(-ENOENT, oktls_hs_key_update(ku0, 0));
}

TEST_HARNESS_MAIN
