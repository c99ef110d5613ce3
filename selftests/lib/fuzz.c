// SPDX-License-Identifier: GPL-2.0
/*
 * The random system call test's helpers and its socket option calls; see
 * fuzz.h. SOL_TLS answers are checked against what earlier calls set.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <linux/tls.h>

#include "lib/fuzz.h"
#include "lib/net.h"
#include "../kmod/uapi/oktls.h"

const struct fuzz_op_desc fuzz_ops[OP_NUM] = {
	[OP_SET_TLS] = { "setsockopt SOL_TLS", 10, fuzz_op_set_tls },
	[OP_GET_TLS] = { "getsockopt SOL_TLS", 8, fuzz_op_get_tls },
	[OP_SET_TCP] = { "setsockopt SOL_TCP", 4, fuzz_op_set_tcp },
	[OP_GET_TCP] = { "getsockopt SOL_TCP", 3, fuzz_op_get_tcp },
	[OP_SOCKET_OPT] = { "SOL_SOCKET options", 3, fuzz_op_socket_opt },
	[OP_ULP] = { "setsockopt TCP_ULP", 3, fuzz_op_ulp },
	[OP_KEYS] = { "proper keys", 6, fuzz_op_keys },
	[OP_SEND] = { "send", 10, fuzz_op_send },
	[OP_SENDMSG] = { "sendmsg", 8, fuzz_op_sendmsg },
	[OP_RECV] = { "recv", 10, fuzz_op_recv },
	[OP_RECVMSG] = { "recvmsg", 7, fuzz_op_recvmsg },
	[OP_GARBAGE] = { "peer writes records/garbage", 10, fuzz_op_garbage },
	[OP_SPLICE] = { "splice", 5, fuzz_op_splice },
	[OP_SENDFILE] = { "sendfile", 4, fuzz_op_sendfile },
	[OP_SHUTDOWN] = { "shutdown", 1, fuzz_op_shutdown },
	[OP_IOCTL] = { "ioctl", 3, fuzz_op_ioctl },
	[OP_POLL] = { "poll", 3, fuzz_op_poll },
	[OP_ERRQUEUE] = { "recvmsg MSG_ERRQUEUE", 1, fuzz_op_errqueue },
	[OP_REOPEN] = { "close and reopen", 2, NULL },
};

struct fuzz_state fz;

void fuzz_failf(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (fz.sh->fails++)
		return;
	fz.sh->fail_iter = fz.it;
	memcpy(fz.sh->fail_ring, fz.sh->ring, sizeof(fz.sh->ring));
	n = snprintf(fz.sh->fail, sizeof(fz.sh->fail), "call %lld (%s): ",
		     (long long)fz.it, fz.sh->ring[fz.it % FUZZ_RING].what);
	va_start(ap, fmt);
	vsnprintf(fz.sh->fail + n, sizeof(fz.sh->fail) - n, fmt, ap);
	va_end(ap);
}

/* Say what this call does, before it does it. */
void fuzz_log(const char *fmt, ...)
{
	struct fuzz_call *r = &fz.sh->ring[fz.it % FUZZ_RING];
	va_list ap;

	r->iter = fz.it;
	r->ret = LONG_MIN;
	va_start(ap, fmt);
	vsnprintf(r->what, sizeof(r->what), fmt, ap);
	va_end(ap);
}

/*
 * A buffer of len bytes in big: usually fine; one in 32 NULL, one in 32
 * running into the PROT_NONE page after big. *bad says which.
 */
void *fuzz_buf(size_t len, bool *bad)
{
	int r = rnd() % 32;

	/* The kernel may read or write all of it: past big is bad too. */
	*bad = r < 2 || len > FUZZ_BIG;
	if (len > FUZZ_BIG)
		len = FUZZ_BIG;
	if (r == 0)
		return NULL;
	if (r == 1 && len)
		return fz.big + FUZZ_BIG - len + 1 + rnd() % (len < 64 ? len : 64);
	return fz.big + rnd_le(FUZZ_BIG - len);
}

void fuzz_put(void *p, const void *src, size_t len)
{
	size_t room = p ? fz.big + FUZZ_BIG - (uint8_t *)p : 0;

	if (p)
		memcpy(p, src, len < room ? len : room);
}

/* A length: record edges, small, or several records. */
size_t fuzz_len(void)
{
	switch (rnd() % 6) {
	case 0:
		return rnd_le(16);
	case 1:
		return 16383 + rnd_le(2);
	case 2:
		return rnd_le(70000);
	default:
		return rnd_le(1500);
	}
}

/* The key struct end e would install for dir (0 TX, 1 RX). */
static size_t proper_info(int end, int dir, union wire_crypto_info *ci)
{
	return wire_crypto_info(&fz.s->k[dir ? 1 - end : end], ci);
}

static const struct wire_cipher *rand_cipher(void)
{
	/* Refused AEADs cost a modprobe: SM4 and ARIA now and then. */
	if (one_in(16))
		return &wire_ciphers[rnd() % wire_ciphers_count];
	return wire_cipher_find(fz.usable[rnd() % fz.nusable].cipher);
}

void fuzz_check_efault(long ret, int err, bool bad)
{
	if (ret < 0 && err == EFAULT && !bad)
		fuzz_failf("EFAULT with every buffer valid");
}

/* The keys of one direction are set: TLS_TX, TLS_RX or from a secret. */
static bool keys_opt(int opt, int *dir, bool *secret)
{
	*dir = opt == TLS_RX || opt == OKTLS_RX_SECRET;
	*secret = opt == OKTLS_TX_SECRET || opt == OKTLS_RX_SECRET;
	return opt == TLS_TX || opt == TLS_RX || *secret;
}

/*
 * What new keys were accepted as: NULL if they follow the rules (a known
 * cipher, its exact optlen, TLS 1.2 or 1.3, a secret only for 1.3; the
 * version and cipher of the keys they replace, else of the other
 * direction), or the rule they broke.
 */
static const char *accepted_wrongly(const void *val, socklen_t len,
				    bool secret, const struct tls_crypto_info *ref)
{
	const struct oktls_secret_info *si = val;
	struct tls_crypto_info h = *(const struct tls_crypto_info *)val;
	const struct wire_cipher *c = wire_cipher_find(h.cipher_type);

	if (!c)
		return "unknown cipher";
	if (secret ? len != sizeof(*si) || h.version != TLS_1_3_VERSION :
		     len != c->info_size)
		return "wrong optlen or version";
	if (h.version != TLS_1_2_VERSION && h.version != TLS_1_3_VERSION)
		return "unknown version";
	if (ref && (ref->version != h.version ||
		    ref->cipher_type != h.cipher_type))
		return "not the version and cipher of the keys in place";
	return NULL;
}

/*
 * setsockopt(SOL_TLS) with what the caller built, and the rules every
 * answer must follow.
 */
static long set_tls(int opt, const void *val, socklen_t len, bool bad)
{
	struct fuzz_slot *s = fz.s;
	const struct tls_crypto_info *cur, *ref;
	int dir, err, e = fz.e;
	const char *why;
	bool secret;
	long r;

	fuzz_log("setsockopt(%d, SOL_TLS, %#x, %s, %u) slot %ld end %d", fz.fd,
		 opt, bad ? "bad" : "buf", len, s - fz.slots, e);
	r = setsockopt(fz.fd, SOL_TLS, opt, val, len);
	err = errno;
	fuzz_check_efault(r, err, bad);
	if (!s->ulp[e]) {
		if (!r)
			fuzz_failf("SOL_TLS option accepted without the ULP");
		return r < 0 ? -err : r;
	}
	if (!keys_opt(opt, &dir, &secret))
		return r < 0 ? -err : r;
	cur = s->set[e][dir] ? &s->info[e][dir].info : NULL;
	ref = cur ?: s->set[e][!dir] ? &s->info[e][!dir].info : NULL;
	/*
	 * TLS 1.2 keys are never replaced; TLS 1.3 ones only by a key
	 * update, which the stock module of these kernels does not have.
	 */
	if (cur && !bad && (secret ? len == sizeof(struct oktls_secret_info) :
			    len >= sizeof(*cur)) &&
	    (cur->version == TLS_1_2_VERSION || test_ulp_is_stock()) &&
	    (!r || err != EBUSY))
		fuzz_failf("keys set twice: %s, not EBUSY",
			   r ? strerror(err) : "success");
	if (r || bad)
		return r < 0 ? -err : r;
	why = accepted_wrongly(val, len, secret, ref);
	if (why)
		fuzz_failf("keys accepted: %s", why);
	s->set[e][dir] = true;
	s->derived[e][dir] = secret;
	memset(&s->info[e][dir], 0, sizeof(s->info[e][dir]));
	memcpy(&s->info[e][dir], val, secret ? sizeof(*cur) :
	       len < sizeof(s->info[e][dir]) ? len : sizeof(s->info[e][dir]));
	return 0;
}

/* A traffic secret, mostly for the slot's cipher. */
static size_t secret_info(struct oktls_secret_info *si)
{
	const struct wire_cipher *c = one_in(4) ? rand_cipher() :
				      fz.s->k[0].cipher;

	memset(si, 0, sizeof(*si));
	si->version = one_in(8) ? TLS_1_2_VERSION : TLS_1_3_VERSION;
	si->cipher_type = one_in(16) ? rnd() : c->type;
	si->secret_len = one_in(8) ? rnd_le(64) :
			 c->type == TLS_CIPHER_AES_GCM_256 ? 48 : 32;
	si->reserved = one_in(16);
	wire_rand_fill(&fz.rng, si->secret, sizeof(si->secret));
	wire_put_be64(si->rec_seq, one_in(8) ? ~0ULL - rnd_le(2) : rnd_le(100));
	return sizeof(*si);
}

long fuzz_op_set_tls(void)
{
	static const int opts[] = { TLS_TX, TLS_RX, TLS_TX, TLS_RX, TLS_TX,
		TLS_RX, TLS_TX_ZEROCOPY_RO, TLS_RX_EXPECT_NO_PAD, 0, 5, 99,
		/* oktls's own (kmod/uapi/oktls.h) */
		OKTLS_TX_SECRET, OKTLS_RX_SECRET, OKTLS_TX_REKEY_RECORDS,
		OKTLS_CLOSE_NOTIFY, OKTLS_SOCK_STATS };
	static const size_t odd_lens[] = { 0, 1, 3, 4, 5, 40, 56, 64, 511 };
	union { union wire_crypto_info ci; uint8_t raw[512]; } u;
	int opt = opts[rnd() % (test_ulp_is_stock() ? 11 : 16)];
	int kind = rnd() % 10;
	const struct wire_cipher *c;
	struct wire_keys k;
	size_t len = 0;
	uint8_t *p;
	bool bad;

	memset(&u, 0, sizeof(u));
	if (opt == OKTLS_TX_SECRET || opt == OKTLS_RX_SECRET) {
		len = secret_info((struct oktls_secret_info *)u.raw);
	} else if (opt == OKTLS_TX_REKEY_RECORDS) {
		/* A handful of records: key updates come fast. */
		*(uint64_t *)u.raw = one_in(4) ? rnd() : rnd_le(5);
		len = one_in(8) ? rnd_le(9) : 8;
	} else if (opt != TLS_TX && opt != TLS_RX) {
		*(int *)u.raw = one_in(4) ? -1 : (int)rnd_le(2);
		len = one_in(4) ? rnd_le(9) : 4;
	} else if (kind < 4) {
		len = proper_info(fz.e, opt == TLS_RX, &u.ci);
	} else if (kind < 7) {
		/* Any cipher, any version, fresh key bytes. */
		c = rand_cipher();
		wire_keys_init(&k, one_in(2) ? TLS_1_2_VERSION : TLS_1_3_VERSION,
			       c->type, rnd(), rnd());
		len = wire_crypto_info(&k, &u.ci);
		if (one_in(8))
			u.ci.info.version = rnd();
		wire_keys_free(&k);
	} else if (kind < 9) {
		len = proper_info(fz.e, opt == TLS_RX, &u.ci);
		u.raw[rnd_le(len - 1)] ^= 1 << rnd_le(7);
		if (one_in(2))
			u.ci.info.cipher_type = one_in(2) ? rnd() : 51 + rnd_le(12);
	} else {
		len = rnd_le(80);
		wire_rand_fill(&fz.rng, u.raw, len);
	}
	if (one_in(4))
		len = one_in(2) ? len + 1 - rnd_le(2) * 2 :
		      odd_lens[rnd_le(8)];
	p = fuzz_buf(len, &bad);
	fuzz_put(p, u.raw, len < sizeof(u.raw) ? len : sizeof(u.raw));
	return set_tls(opt, p, len, bad);
}

long fuzz_op_get_tls(void)
{
	static const int opts[] = { TLS_TX, TLS_RX, TLS_TX, TLS_RX,
		TLS_TX_ZEROCOPY_RO, TLS_RX_EXPECT_NO_PAD, 0, 7,
		OKTLS_SOCK_STATS, OKTLS_CLOSE_NOTIFY, OKTLS_TX_REKEY_RECORDS };
	static const socklen_t get_lens[] = { 0, 3, 8, 55, 57, 100, -1 };
	int opt = opts[rnd() % (test_ulp_is_stock() ? 8 : 11)];
	int dir = opt == TLS_RX, err;
	const union wire_crypto_info *want;
	const struct wire_cipher *c;
	socklen_t len, in, *lenp;
	bool bad, badlen = one_in(32);
	uint8_t *p;
	long r;

	want = &fz.s->info[fz.e][dir];
	c = fz.s->set[fz.e][dir] ? wire_cipher_find(want->info.cipher_type) : NULL;
	switch (rnd() % 4) {
	case 0:
		len = sizeof(struct tls_crypto_info);
		break;
	case 1:
		len = c ? c->info_size : rand_cipher()->info_size;
		break;
	case 2:
		len = get_lens[rnd_le(6)];
		break;
	default:
		len = rnd_le(80);
		break;
	}
	p = fuzz_buf(len == (socklen_t)-1 ? 64 : len, &bad);
	lenp = badlen ? (one_in(2) ? NULL : (socklen_t *)(fz.big + FUZZ_BIG - 2)) : &len;
	in = len;
	fuzz_log("getsockopt(%d, SOL_TLS, %#x, %s, %u%s) slot %ld end %d", fz.fd,
		 opt, bad ? "bad" : "buf", len, badlen ? " bad" : "",
		 fz.s - fz.slots, fz.e);
	r = getsockopt(fz.fd, SOL_TLS, opt, p, lenp);
	err = errno;
	bad |= badlen;
	fuzz_check_efault(r, err, bad);
	if (!fz.s->ulp[fz.e] && !r)
		fuzz_failf("SOL_TLS option read without the ULP");
	if (!r && !bad && len > in)
		fuzz_failf("optlen grew from %u to %u", in, len);
	if (!fz.s->ulp[fz.e] || bad || (opt != TLS_TX && opt != TLS_RX) ||
	    (int)in < (int)sizeof(struct tls_crypto_info))
		return r < 0 ? -err : r;
	if (!c && (!r || err != EBUSY))
		fuzz_failf("keys read before they were set: %s",
			   r ? strerror(err) : "success");
	if (c && (in == sizeof(struct tls_crypto_info) || in == c->info_size)) {
		if (r)
			fuzz_failf("keys that were set not read: %s", strerror(err));
		else if (memcmp(p, want, sizeof(struct tls_crypto_info)) ||
			 (in == c->info_size && !fz.s->derived[fz.e][dir] &&
			  (memcmp(p + c->key_off, (uint8_t *)want + c->key_off,
				  c->key_size) ||
			   memcmp(p + c->salt_off, (uint8_t *)want + c->salt_off,
				  c->salt_size))))
			fuzz_failf("read keys are not the keys that were set");
	}
	return r < 0 ? -err : r;
}

/* SOL_TCP options, without the repair family and TCP_TX_DELAY. */
static bool tcp_opt_ok(int opt)
{
	return opt != TCP_REPAIR && opt != TCP_REPAIR_QUEUE &&
	       opt != TCP_QUEUE_SEQ && opt != TCP_REPAIR_OPTIONS &&
	       opt != TCP_REPAIR_WINDOW && opt != 37 && opt != 42 &&
	       opt != TCP_ULP;
}

long fuzz_op_set_tcp(void)
{
	static const char *const cc[] = { "cubic", "reno", "oktls_no_cc" };
	static const int vals[] = { 0, 1, -1, 2, 100, 4096, 1 << 20,
				    0x7fffffff };
	const char *name;
	uint8_t raw[256];
	int opt, val, err;
	socklen_t len = 4;
	uint8_t *p;
	bool bad;
	long r;

	do
		opt = rnd_le(45);
	while (!tcp_opt_ok(opt));
	p = fuzz_buf(256, &bad);
	if (opt == TCP_CONGESTION) {
		name = cc[rnd() % (one_in(8) ? 3 : 2)];
		len = strlen(name) + 1;
		fuzz_put(p, name, len);
	} else {
		val = vals[rnd_le(7)];
		wire_rand_fill(&fz.rng, raw, sizeof(raw));
		memcpy(raw, &val, sizeof(val));
		fuzz_put(p, raw, sizeof(raw));
		if (one_in(4))
			len = rnd_le(256);
	}
	fuzz_log("setsockopt(%d, SOL_TCP, %d, %s, %u)", fz.fd, opt,
		 bad ? "bad" : "buf", len);
	r = setsockopt(fz.fd, IPPROTO_TCP, opt, p, len);
	err = errno;
	return r < 0 ? -err : r;
}

long fuzz_op_get_tcp(void)
{
	static const socklen_t lens[] = { 4, 8, 0, 1, 104, 256, -1 };
	/* The uapi struct as of 6.x (glibc's is older). */
	struct {
		uint64_t address;
		uint32_t length, recv_skip_hint, inq;
		int32_t err;
		uint64_t copybuf_address;
		int32_t copybuf_len;
		uint32_t flags;
		uint64_t msg_control, msg_controllen;
		uint32_t msg_flags, reserved;
	} zc;
	int opt = rnd_le(45), err;
	socklen_t len = lens[rnd_le(6)];
	uint8_t *p;
	bool bad;
	long r;

	p = fuzz_buf(256, &bad);
	if (opt == TCP_ZEROCOPY_RECEIVE && p && !bad) {
		/*
		 * Not an mmap of the socket, but with copybuf it may copy
		 * TCP's bytes out from under the ULP.
		 */
		memset(&zc, 0, sizeof(zc));
		zc.copybuf_len = rnd_le(65536);
		zc.copybuf_address = (uintptr_t)(fz.big + rnd_le(FUZZ_BIG - 65536));
		zc.length = rnd_le(65536);
		memcpy(p, &zc, sizeof(zc));
		len = one_in(2) ? sizeof(zc) : rnd_le(sizeof(zc));
		bad = true;
	}
	fuzz_log("getsockopt(%d, SOL_TCP, %d, %s, %d)", fz.fd, opt,
		 bad ? "bad" : "buf", (int)len);
	r = getsockopt(fz.fd, IPPROTO_TCP, opt, p, &len);
	err = errno;
	return r < 0 ? -err : r;
}

long fuzz_op_socket_opt(void)
{
	static const int set[] = { SO_RCVBUF, SO_SNDBUF, SO_RCVLOWAT,
		SO_LINGER, SO_ZEROCOPY, SO_OOBINLINE, SO_KEEPALIVE, SO_PRIORITY };
	static const int get[] = { SO_ERROR, SO_RCVBUF, SO_SNDBUF,
		SO_RCVLOWAT, SO_MEMINFO, SO_ZEROCOPY };
	static const int lowats[] = { 0, 1, 100, 16384, 70000, 0x7fffffff };
	struct linger lg = { .l_onoff = rnd_le(1), .l_linger = 0 };
	uint32_t mem[16];
	socklen_t len = sizeof(mem);
	int opt, val, err;
	long r;

	if (one_in(2)) {
		opt = get[rnd() % 6];
		fuzz_log("getsockopt(%d, SOL_SOCKET, %d)", fz.fd, opt);
		r = getsockopt(fz.fd, SOL_SOCKET, opt, mem, &len);
		goto out;
	}
	opt = set[rnd() % 8];
	if (opt == SO_LINGER) {
		/* Never a linger time: close would wait for it. */
		fuzz_log("setsockopt(%d, SO_LINGER, %d, 0)", fz.fd, lg.l_onoff);
		r = setsockopt(fz.fd, SOL_SOCKET, opt, &lg, sizeof(lg));
		goto out;
	}
	if (opt == SO_RCVLOWAT)
		val = lowats[rnd_le(5)];
	else if (opt == SO_RCVBUF || opt == SO_SNDBUF)
		val = 256 << rnd_le(12);
	else
		val = rnd_le(6);
	fuzz_log("setsockopt(%d, SOL_SOCKET, %d, %d)", fz.fd, opt, val);
	r = setsockopt(fz.fd, SOL_SOCKET, opt, &val, sizeof(val));
out:
	err = errno;
	fuzz_check_efault(r, err, false);
	return r < 0 ? -err : r;
}

static long attach(const char *name, socklen_t len, bool bad)
{
	char used[32];
	bool ours;
	long r;
	int err;

	/* The kernel takes the first len bytes (at most 15) as the name. */
	snprintf(used, sizeof(used), "%.*s", len < 15 ? (int)len : 15, name);
	ours = !strcmp(used, test_ulp());
	fuzz_log("setsockopt(%d, TCP_ULP, \"%.20s\", %u%s) slot %ld end %d",
		 fz.fd, name, len, bad ? " bad" : "", fz.s - fz.slots, fz.e);
	r = setsockopt(fz.fd, IPPROTO_TCP, TCP_ULP, bad ? NULL : name, len);
	err = errno;
	fuzz_check_efault(r, err, bad);
	/* The name is looked up first: EEXIST only for a registered one. */
	if (fz.s->ulp[fz.e] && ours && !bad && (!r || err != EEXIST))
		fuzz_failf("a second ULP: %s, not EEXIST",
			   r ? strerror(err) : "success");
	if (!r && !ours)
		fuzz_failf("ULP \"%s\" attached", used);
	if (!r && ours)
		fz.s->ulp[fz.e] = true;
	return r < 0 ? -err : r;
}

long fuzz_op_ulp(void)
{
	static const char *const bogus[] = { "", "OKTLS", "oktls_x",
		"xxxxxxxxxxxxxxxxxxxx" };
	const char *name = one_in(8) ? bogus[rnd() % 4] : test_ulp();
	socklen_t len = strlen(name);

	if (one_in(8))
		len = rnd_le(20);
	if (len > strlen(name))
		len = strlen(name) + 1;
	return attach(name, len, one_in(32));
}

long fuzz_keys(int dir)
{
	union wire_crypto_info ci;
	size_t len;

	if (!fz.s->ulp[fz.e])
		attach(test_ulp(), strlen(test_ulp()), false);
	len = proper_info(fz.e, dir, &ci);
	return set_tls(dir ? TLS_RX : TLS_TX, &ci, len, false);
}

/* The right keys for one direction of one end: the common states. */
long fuzz_op_keys(void)
{
	return fuzz_keys(rnd_le(1));
}
