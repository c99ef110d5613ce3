// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the module's pure record math (kmod/record.h, the
 * same file the module compiles). Input: one byte choosing the direction's
 * parameters, then bytes as a peer would send them. Checks the invariants
 * the receive path relies on: a header is accepted only with a length that
 * fits the framing buffer and holds nonce and tag; the inner content type
 * scan stays inside the record; nonces and AAD never write past their size;
 * the KeyUpdate scan of a handshake record (peer bytes the kernel parses to
 * follow a key update) stays inside it and only reports a well-formed one.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../kmod/record.h"

static const struct oktls_rec_params params[] = {
	{ .explicit_nonce = 8, .tag_size = 16 },		/* 1.2 GCM/CCM */
	{ .tag_size = 16, .nonce_xor = true },			/* 1.2 ChaCha */
	{ .tls13 = true, .tag_size = 16, .nonce_xor = true },	/* 1.3 */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct oktls_rec_params *p;
	u8 nonce[OKTLS_NONCE_SIZE + 1], aad[OKTLS_MAX_AAD_SIZE + 1];
	u8 iv[OKTLS_NONCE_SIZE] = { 0 }, type;
	unsigned int body, n;
	u64 seq = 0;
	int len;

	if (size < 1 + OKTLS_HEADER_SIZE)
		return 0;
	p = &params[data[0] % 3];
	data++;
	size--;

	len = oktls_rec_parse_header(p, data);
	if (len < 0) {
		assert(len == -EINVAL || len == -EMSGSIZE || len == -EBADMSG);
		return 0;
	}
	body = len;
	assert(body <= oktls_rec_max_len(p));
	assert(body >= (unsigned int)p->explicit_nonce + p->tag_size + p->tls13);
	assert(OKTLS_HEADER_SIZE + body <=
	       OKTLS_HEADER_SIZE + OKTLS_MAX_PLAINTEXT + oktls_rec_overhead(p));

	if (size >= OKTLS_HEADER_SIZE + 8)
		seq = oktls_get_be64(data + OKTLS_HEADER_SIZE);
	nonce[OKTLS_NONCE_SIZE] = 0xa5;
	oktls_rec_nonce(p, iv, seq, nonce);
	assert(nonce[OKTLS_NONCE_SIZE] == 0xa5);
	aad[OKTLS_MAX_AAD_SIZE] = 0x5a;
	n = oktls_rec_aad(p, aad, data, seq, data[0],
			  body - p->explicit_nonce - p->tag_size);
	assert(n <= OKTLS_MAX_AAD_SIZE && aad[OKTLS_MAX_AAD_SIZE] == 0x5a);

	/* What follows the header stands in for a decrypted inner plaintext. */
	n = size - OKTLS_HEADER_SIZE;
	if (n > body)
		n = body;
	len = oktls_rec_inner_type(data + OKTLS_HEADER_SIZE, n, &type);
	if (len >= 0) {
		assert((unsigned int)len < n);
		assert(type != 0 && data[OKTLS_HEADER_SIZE + len] == type);
	} else {
		assert(len == -EBADMSG);
	}

	/* The same bytes as the messages of a TLS 1.3 handshake record. */
	len = oktls_hs_key_update(data + OKTLS_HEADER_SIZE, n);
	if (len >= 0) {
		const u8 *ku = data + OKTLS_HEADER_SIZE + n - 5;

		assert(len <= 1 && n >= 5);
		assert(ku[0] == OKTLS_HS_KEY_UPDATE && ku[1] == 0 && ku[2] == 0 &&
		       ku[3] == 1 && ku[4] == len);
	} else {
		assert(len == -ENOENT);
	}
	return 0;
}
