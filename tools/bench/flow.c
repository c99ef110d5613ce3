// SPDX-License-Identifier: MIT
/*
 * One measurement: N loopback connections, each a sender thread and a
 * receiver thread, released together by a barrier. The side under test runs
 * the implementation (oktls, stock tls, OpenSSL, plain TCP); its peer is
 * plain TCP so every implementation in a row pays for the same peer: on the
 * TX tests the peer captures the wire bytes and they are opened and compared
 * after the clock stops, on the RX test the peer sends records sealed before
 * the clock starts and the plaintext read is compared afterwards.
 */
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

const char *const impl_names[N_IMPL] = { "oktls", "tls", "openssl", "tcp" };
const char *const test_names[N_TEST] = { "tx16k", "rx16k", "sendfile", "tx512", "tx4k" };
static const size_t test_chunk[N_TEST] = { 16384, 16384, 16384, 512, 4096 };

static uint8_t *src;		/* the plaintext every run moves */
static uint8_t *arena;		/* capture / receive buffers, pre-faulted */
static uint8_t *wire_arena;	/* records sealed for the RX peer */
static size_t arena_size, max_bytes;
static int file_fd = -1;	/* src as a page-cached file for sendfile */
static int lfd = -1;
static uint16_t lport;

uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* v[0]: busy ns of all CPUs (schedstat), v[1]: rusage user+sys, v[2]: softirq */
void bench_cpu_snap(uint64_t v[3])
{
	unsigned long long f[9], s[8];
	struct rusage ru;
	char line[512];
	FILE *fp;

	v[0] = v[1] = v[2] = 0;
	fp = fopen("/proc/schedstat", "r");
	while (fp && fgets(line, sizeof(line), fp)) {
		if (strncmp(line, "cpu", 3))
			continue;
		if (sscanf(line, "%*s %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2],
			   &f[3], &f[4], &f[5], &f[6]) == 7)
			v[0] += f[6];
	}
	if (fp)
		fclose(fp);
	getrusage(RUSAGE_SELF, &ru);
	v[1] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
	fp = fopen("/proc/stat", "r");
	if (fp && fgets(line, sizeof(line), fp) &&
	    sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu", &s[0], &s[1], &s[2], &s[3],
		   &s[4], &s[5], &s[6]) == 7)
		v[2] = s[6] * (1000000000ULL / sysconf(_SC_CLK_TCK));
	if (fp)
		fclose(fp);
}

int bench_listen(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 4096) ||
	    getsockname(fd, (void *)&a, &al)) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int bench_pair(int l, uint16_t port, int *cfd, int *sfd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	*cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (*cfd < 0 || connect(*cfd, (void *)&a, sizeof(a)))
		return -1;
	*sfd = accept(l, NULL, NULL);
	return *sfd < 0 ? -1 : 0;
}

int bench_flow_init(size_t maxb)
{
	char path[] = "/tmp/oktls-bench.XXXXXX";
	size_t off;

	max_bytes = maxb;
	/* up to 64 connections, each a slot with 64 KiB of slack */
	arena_size = bench_wire_bound(maxb, 512) + 64 * 128 * KIB;
	src = malloc(maxb);
	arena = malloc(arena_size);
	wire_arena = malloc(arena_size);
	if (!src || !arena || !wire_arena)
		return -1;
	for (off = 0; off < maxb; off += 4)
		*(uint32_t *)(src + off) = (uint32_t)(off * 2654435761u) ^ (off >> 12);
	memset(arena, 0, arena_size);
	memset(wire_arena, 0, arena_size);
	file_fd = mkstemp(path);
	if (file_fd < 0 || write(file_fd, src, maxb) != (ssize_t)maxb)
		return -1;
	unlink(path);
	lfd = bench_listen(&lport);
	return lfd < 0 ? -1 : 0;
}

struct flow {
	enum impl im;
	enum test t;
	int snd, rcv;
	SSL *sssl, *rssl;	/* OpenSSL ends (sender = client, receiver = server) */
	struct bkeys k;
	size_t bytes;
	uint8_t *buf;		/* receiver: capture or plaintext */
	size_t bufsize, got;
	const uint8_t *wire;	/* RX: what the raw peer sends */
	size_t wlen;
	pthread_barrier_t *bar;
	char why[128];
};

static int ktls_set(int fd, const char *ulp, int dir, const struct bcipher *c,
		    int version, const struct bkeys *k)
{
	uint8_t ci[64];
	size_t n = bench_crypto_info(c, version, k, ci);

	if (setsockopt(fd, SOL_TCP, TCP_ULP, ulp, strlen(ulp)))
		return -1;
	return setsockopt(fd, SOL_TLS, dir, ci, n);
}

static int send_all(struct flow *f, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = f->sssl ? SSL_write(f->sssl, p, n) : send(f->snd, p, n, 0);

		if (r <= 0) {
			snprintf(f->why, sizeof(f->why), "send: %s", strerror(errno));
			return -1;
		}
		p += r;
		n -= r;
	}
	return 0;
}

static void *sender(void *arg)
{
	struct flow *f = arg;
	size_t chunk = test_chunk[f->t], off = 0;
	static __thread uint8_t fbuf[16384];

	pthread_barrier_wait(f->bar);
	if (f->t == T_RX) {
		/* raw peer: pre-sealed records (or plaintext for TCP) */
		while (off < f->wlen) {
			size_t n = f->wlen - off < chunk ? f->wlen - off : chunk;

			if (send_all(f, f->wire + off, n))
				break;
			off += n;
		}
	} else if (f->t == T_SENDFILE && !f->sssl) {
		off_t o = 0;

		while ((size_t)o < f->bytes) {
			ssize_t r = sendfile(f->snd, file_fd, &o, f->bytes - o);

			if (r <= 0) {
				snprintf(f->why, sizeof(f->why), "sendfile: %s", strerror(errno));
				break;
			}
		}
	} else if (f->t == T_SENDFILE) {
		/* SSL_sendfile() needs kTLS: a userspace server reads and writes */
		while (off < f->bytes) {
			size_t n = f->bytes - off < chunk ? f->bytes - off : chunk;

			if (pread(file_fd, fbuf, n, off) != (ssize_t)n || send_all(f, fbuf, n))
				break;
			off += n;
		}
	} else {
		while (off < f->bytes) {
			size_t n = f->bytes - off < chunk ? f->bytes - off : chunk;

			if (send_all(f, src + off, n))
				break;
			off += n;
		}
	}
	shutdown(f->snd, SHUT_WR);
	return NULL;
}

static void *receiver(void *arg)
{
	struct flow *f = arg;
	ssize_t r;

	pthread_barrier_wait(f->bar);
	if (f->t != T_RX) {
		/* raw peer: capture the wire until the sender's FIN */
		while (f->got < f->bufsize) {
			size_t n = f->bufsize - f->got < 65536 ? f->bufsize - f->got : 65536;

			r = recv(f->rcv, f->buf + f->got, n, 0);
			if (r <= 0)
				break;
			f->got += r;
		}
		return NULL;
	}
	while (f->got < f->bytes) {
		size_t n = f->bytes - f->got < 16384 ? f->bytes - f->got : 16384;

		r = f->rssl ? SSL_read(f->rssl, f->buf + f->got, n) :
			      recv(f->rcv, f->buf + f->got, n, 0);
		if (r <= 0) {
			snprintf(f->why, sizeof(f->why), "recv after %zu bytes: %s", f->got,
				 r ? strerror(errno) : "EOF");
			break;
		}
		f->got += r;
	}
	return NULL;
}

static int setup(struct flow *f, const struct bcipher *c, int version)
{
	int tx = f->t != T_RX;

	if (bench_pair(lfd, lport, &f->snd, &f->rcv))
		return -1;
	bench_fixed_keys(c, &f->k);
	switch (f->im) {
	case IMPL_OKTLS:
	case IMPL_TLS:
		if (ktls_set(tx ? f->snd : f->rcv, f->im == IMPL_OKTLS ? "oktls" : "tls",
			     tx ? TLS_TX : TLS_RX, c, version, &f->k)) {
			snprintf(f->why, sizeof(f->why), "setsockopt: %s", strerror(errno));
			return -1;
		}
		break;
	case IMPL_OSSL: {
		SSL *cs, *ss;

		if (bench_ossl_pair(c, version, f->snd, f->rcv, &cs, &ss, &f->k)) {
			snprintf(f->why, sizeof(f->why), "handshake failed");
			return -1;
		}
		if (tx) {
			f->sssl = cs;
			SSL_free(ss);
		} else {
			f->rssl = ss;
			SSL_free(cs);
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

static int verify(struct flow *f, const struct bcipher *c, int version)
{
	if (f->why[0])
		return -1;
	if (f->t == T_RX || f->im == IMPL_TCP) {
		if (f->got != f->bytes) {
			snprintf(f->why, sizeof(f->why), "got %zu bytes, sent %zu", f->got, f->bytes);
			return -1;
		}
		if (memcmp(f->buf, src, f->bytes)) {
			snprintf(f->why, sizeof(f->why), "plaintext differs");
			return -1;
		}
		return 0;
	}
	return bench_open_check(c, version, &f->k, f->buf, f->got, src, f->bytes, f->why,
				sizeof(f->why));
}

/* Records for the RX peer; the kTLS rows share one sealing per cipher. */
static const uint8_t *rx_wire(struct flow *f, const struct bcipher *c, int version,
			      size_t *wlen)
{
	static int cached_v, cached_c = -1;
	static size_t cached_len, cached_bytes;

	if (f->im == IMPL_TCP) {
		*wlen = f->bytes;
		return src;
	}
	if (f->im == IMPL_OSSL) {
		cached_c = -1;
		*wlen = bench_seal(c, version, &f->k, src, f->bytes, REC_MAX, wire_arena);
		return wire_arena;
	}
	if (cached_c != c - bciphers || cached_v != version || cached_bytes != f->bytes) {
		cached_len = bench_seal(c, version, &f->k, src, f->bytes, REC_MAX, wire_arena);
		cached_c = c - bciphers;
		cached_v = version;
		cached_bytes = f->bytes;
	}
	*wlen = cached_len;
	return wire_arena;
}

int bench_run(enum impl im, enum test t, const struct bcipher *c, int version,
	      unsigned int conns, size_t bytes, struct result *r)
{
	size_t per = bytes / conns, slot = bench_wire_bound(per, 512) + 64 * KIB;
	pthread_t *th = calloc(2 * conns, sizeof(*th));
	struct flow *fl = calloc(conns, sizeof(*fl));
	uint64_t c0[3], c1[3], t0;
	pthread_barrier_t bar;
	unsigned int i;

	memset(r, 0, sizeof(*r));
	if (slot * conns > arena_size || bytes > max_bytes || (t == T_RX && conns > 1)) {
		snprintf(r->why, sizeof(r->why), "size out of range");
		goto out;
	}
	pthread_barrier_init(&bar, NULL, 2 * conns + 1);
	for (i = 0; i < conns; i++) {
		struct flow *f = &fl[i];

		f->im = im;
		f->t = t;
		f->bytes = per;
		f->bar = &bar;
		f->buf = arena + i * slot;
		f->bufsize = slot;
		f->snd = f->rcv = -1;
		if (setup(f, c, version)) {
			snprintf(r->why, sizeof(r->why), "setup: %s", f->why);
			conns = i + 1;
			goto close;
		}
		if (t == T_RX)
			f->wire = rx_wire(f, c, version, &f->wlen);
	}
	for (i = 0; i < conns; i++) {
		pthread_create(&th[2 * i], NULL, sender, &fl[i]);
		pthread_create(&th[2 * i + 1], NULL, receiver, &fl[i]);
	}
	bench_cpu_snap(c0);
	t0 = bench_now();
	pthread_barrier_wait(&bar);
	for (i = 0; i < 2 * conns; i++)
		pthread_join(th[i], NULL);
	r->ns = bench_now() - t0;
	bench_cpu_snap(c1);
	r->cpu_ns = c1[0] - c0[0];
	r->ru_ns = c1[1] - c0[1];
	r->softirq_ns = c1[2] - c0[2];
	r->ok = 1;
	for (i = 0; i < conns; i++) {
		if (verify(&fl[i], c, version)) {
			r->ok = 0;
			snprintf(r->why, sizeof(r->why), "conn %u: %s", i, fl[i].why);
			break;
		}
	}
close:
	for (i = 0; i < conns; i++) {
		SSL_free(fl[i].sssl);
		SSL_free(fl[i].rssl);
		if (fl[i].snd >= 0)
			close(fl[i].snd);
		if (fl[i].rcv >= 0)
			close(fl[i].rcv);
	}
	pthread_barrier_destroy(&bar);
out:
	free(th);
	free(fl);
	return r->ok ? 0 : -1;
}
