/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TLS record math: wire constants, header build and parse, per-record nonce
 * and additional data. Pure functions of their arguments, so the same file
 * builds in the module and in userspace (unit tests, fuzzing).
 */
#ifndef _OKTLS_RECORD_H
#define _OKTLS_RECORD_H

#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/types.h>
#else
/* Userspace builds (unit tests, fuzzing) supply u8, u16, u64 and bool. */
#include "kernel-types.h"
#endif

#define OKTLS_HEADER_SIZE	5
#define OKTLS_MAX_PLAINTEXT	16384	/* 2^14, RFC 8446 5.1 and RFC 5246 6.2.1 */
#define OKTLS_NONCE_SIZE	12	/* every kTLS AEAD uses a 96-bit nonce */
#define OKTLS_TLS12_AAD_SIZE	13
#define OKTLS_TLS13_AAD_SIZE	OKTLS_HEADER_SIZE
#define OKTLS_MAX_AAD_SIZE	OKTLS_TLS12_AAD_SIZE
#define OKTLS_SEQ_SIZE		8
#define OKTLS_LEGACY_VERSION	0x0303	/* on the wire for 1.2 and 1.3 */

#define OKTLS_TYPE_CHANGE_CIPHER_SPEC	20
#define OKTLS_TYPE_ALERT		21
#define OKTLS_TYPE_HANDSHAKE		22
#define OKTLS_TYPE_DATA			23

#define OKTLS_HS_HEADER_SIZE		4	/* msg_type, uint24 length */
#define OKTLS_HS_KEY_UPDATE		24

/*
 * The per-direction facts record math depends on, fixed when keys are set.
 * @tls13: TLS 1.3 framing (inner content type, header as AAD)
 * @explicit_nonce: bytes of nonce carried on the wire after the header
 *	(8 for TLS 1.2 GCM/CCM, else 0)
 * @tag_size: AEAD tag bytes at the end of the record
 * @nonce_xor: the nonce is the IV XOR the sequence number (TLS 1.3, and
 *	ChaCha20-Poly1305 in TLS 1.2), not salt || explicit nonce
 */
struct oktls_rec_params {
	bool tls13;
	u8 explicit_nonce;
	u8 tag_size;
	bool nonce_xor;
};

static inline void oktls_put_be16(u8 *p, u16 v)
{
	p[0] = (v >> 8) & 0xff;
	p[1] = v & 0xff;
}

static inline u16 oktls_get_be16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static inline void oktls_put_be64(u8 *p, u64 v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

static inline u64 oktls_get_be64(const u8 *p)
{
	u64 v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Bytes a record adds to its plaintext on the wire. */
static inline unsigned int oktls_rec_overhead(const struct oktls_rec_params *p)
{
	return OKTLS_HEADER_SIZE + p->explicit_nonce + p->tag_size + p->tls13;
}

/* Bytes before the ciphertext: the header and any explicit nonce. */
static inline unsigned int oktls_rec_prefix(const struct oktls_rec_params *p)
{
	return OKTLS_HEADER_SIZE + p->explicit_nonce;
}

/*
 * Largest length field a peer may send: a full 2^14-byte plaintext (TLS 1.3:
 * plus the inner content type) with this cipher's nonce and tag. RFC 5246
 * and 8446 allow generic expansion limits above that, but no kTLS AEAD
 * produces more, so a longer record is malformed.
 */
static inline unsigned int oktls_rec_max_len(const struct oktls_rec_params *p)
{
	return OKTLS_MAX_PLAINTEXT + oktls_rec_overhead(p) - OKTLS_HEADER_SIZE;
}

/*
 * Write a record header. @type is the content type the application sees;
 * TLS 1.3 hides it inside the record and puts application_data outside.
 */
static inline void oktls_rec_header(const struct oktls_rec_params *p, u8 *hdr,
				    u8 type, unsigned int plain_len)
{
	hdr[0] = p->tls13 ? OKTLS_TYPE_DATA : type;
	oktls_put_be16(hdr + 1, OKTLS_LEGACY_VERSION);
	oktls_put_be16(hdr + 3, plain_len + oktls_rec_overhead(p) -
			       OKTLS_HEADER_SIZE);
}

/*
 * Validate a received header. Returns the length of the record body that
 * follows the header; -EINVAL for a wrong protocol version, as upstream;
 * -EMSGSIZE when it is longer than the cipher can produce; -EBADMSG when
 * it is too short to hold the nonce and tag, or (TLS 1.3) the outer type
 * is not application_data.
 */
static inline int oktls_rec_parse_header(const struct oktls_rec_params *p,
					 const u8 *hdr)
{
	unsigned int len = oktls_get_be16(hdr + 3);

	if (oktls_get_be16(hdr + 1) != OKTLS_LEGACY_VERSION)
		return -EINVAL;
	if (p->tls13 && hdr[0] != OKTLS_TYPE_DATA)
		return -EBADMSG;
	if (len > oktls_rec_max_len(p))
		return -EMSGSIZE;
	if (len < (unsigned int)p->explicit_nonce + p->tag_size + p->tls13)
		return -EBADMSG;
	return len;
}

/*
 * The AEAD nonce for record @seq. @iv is the 12-byte static IV (salt ||
 * iv as the uapi splits it). For TLS 1.2 GCM/CCM the last 8 bytes of @iv
 * are the explicit nonce itself, which the sender advances per record.
 */
static inline void oktls_rec_nonce(const struct oktls_rec_params *p,
				   const u8 *iv, u64 seq, u8 *nonce)
{
	u8 s[OKTLS_SEQ_SIZE];
	int i;

	memcpy(nonce, iv, OKTLS_NONCE_SIZE);
	if (!p->nonce_xor)
		return;
	oktls_put_be64(s, seq);
	for (i = 0; i < OKTLS_SEQ_SIZE; i++)
		nonce[OKTLS_NONCE_SIZE - OKTLS_SEQ_SIZE + i] ^= s[i];
}

/*
 * Build the additional data for a record; returns its length. TLS 1.2:
 * seq || type || version || plaintext length. TLS 1.3: the header itself.
 */
static inline unsigned int oktls_rec_aad(const struct oktls_rec_params *p,
					 u8 *aad, const u8 *hdr, u64 seq,
					 u8 type, unsigned int plain_len)
{
	if (p->tls13) {
		memcpy(aad, hdr, OKTLS_HEADER_SIZE);
		return OKTLS_TLS13_AAD_SIZE;
	}
	oktls_put_be64(aad, seq);
	aad[8] = type;
	oktls_put_be16(aad + 9, OKTLS_LEGACY_VERSION);
	oktls_put_be16(aad + 11, plain_len);
	return OKTLS_TLS12_AAD_SIZE;
}

/*
 * TLS 1.3 inner plaintext: content || type || zeros. Find the type from
 * the end. Returns the content length and sets *type, or -EBADMSG when the
 * record is all zeros (RFC 8446 5.4: unexpected_message).
 */
static inline int oktls_rec_inner_type(const u8 *inner, unsigned int len,
				       u8 *type)
{
	while (len > 0 && inner[len - 1] == 0)
		len--;
	if (len == 0)
		return -EBADMSG;
	*type = inner[len - 1];
	return len - 1;
}

/*
 * Scan the handshake messages of a TLS 1.3 handshake record for a
 * KeyUpdate (RFC 8446 4.6.3). A key change must follow the last message of
 * a record, so only a KeyUpdate ending the record counts. Returns its
 * request_update value (0 or 1), or -ENOENT when the record carries none
 * (or its messages do not parse as whole messages).
 */
static inline int oktls_hs_key_update(const u8 *msg, unsigned int len)
{
	unsigned int body;

	while (len >= OKTLS_HS_HEADER_SIZE) {
		body = (unsigned int)msg[1] << 16 | oktls_get_be16(msg + 2);
		if (body > len - OKTLS_HS_HEADER_SIZE)
			return -ENOENT;
		if (msg[0] == OKTLS_HS_KEY_UPDATE && body == 1 &&
		    len == OKTLS_HS_HEADER_SIZE + 1 && msg[4] <= 1)
			return msg[4];
		msg += OKTLS_HS_HEADER_SIZE + body;
		len -= OKTLS_HS_HEADER_SIZE + body;
	}
	return -ENOENT;
}

/*
 * The HkdfLabel of RFC 8446 7.1 for an empty context: uint16 length,
 * opaque label<7..255> = "tls13 " + @label, opaque context<0..255> = "".
 * Returns its length, or 0 when @size is too small.
 */
static inline unsigned int oktls_hkdf_label(u8 *buf, unsigned int size,
					    const char *label,
					    unsigned int out_len)
{
	static const char prefix[] = "tls13 ";
	unsigned int plen = sizeof(prefix) - 1, llen = strlen(label);
	unsigned int total = 2 + 1 + plen + llen + 1;

	if (total > size || plen + llen > 255 || out_len > 0xffff)
		return 0;
	oktls_put_be16(buf, out_len);
	buf[2] = plen + llen;
	memcpy(buf + 3, prefix, plen);
	memcpy(buf + 3 + plen, label, llen);
	buf[3 + plen + llen] = 0;
	return total;
}

/* Advance a 64-bit big-endian counter; false when it wrapped to zero. */
static inline bool oktls_be64_inc(u8 *ctr)
{
	int i;

	for (i = 7; i >= 0; i--)
		if (++ctr[i])
			return true;
	return false;
}

#endif /* _OKTLS_RECORD_H */
