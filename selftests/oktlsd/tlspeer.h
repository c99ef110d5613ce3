/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Both ends of a bulk transfer through oktlsd with key updates in the
 * middle (oktlsd_rekey_test). Both write the deterministic streams of
 * oktlsd/common.h (flow_fill) and hash what they write and read with
 * SHA-256, for the test to compare end to end.
 *
 * struct tlspeer: a TLS 1.3 peer on plain libssl, client or server, on one
 * non-blocking socket driven from one thread (an SSL object is not
 * thread-safe). It writes its stream while reading the other, calls
 * SSL_key_update() every ku_every bytes it writes (update_requested and
 * update_not_requested in turn), and counts, from its message callback,
 * the KeyUpdates and alerts that really cross the wire. Once all is read,
 * it waits for close_notify and answers with its own.
 *
 * struct plainpeer: the plain TCP end, a thread: writes its stream, reads
 * the other, shuts its write side once it has read everything (so every
 * KeyUpdate ahead of that data was handled before oktlsd sends close_notify)
 * and reads to EOF.
 *
 * Neither blocks: poll with a deadline, and a stall (no byte either way for
 * TP_STALL_MS, times OKTLS_TIMEOUT_SCALE) ends the run with a reason, so a
 * test fails, never hangs.
 * Include after oktlsd/common.h.
 */
#ifndef OKTLSD_TEST_TLSPEER_H
#define OKTLSD_TEST_TLSPEER_H

#include <endian.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>

#define TP_CHUNK (64 << 10)
#define TP_BATCH (1 << 20)	/* bytes each way per poll round, so neither starves */
#define TP_STALL_MS 30000
#define TP_HS_KEY_UPDATE 24

/* Bytes moved by both ends together: a stall is when this stops growing. */
static unsigned long long tp_moved;

static inline void tp_count(unsigned long long n)
{
	__atomic_add_fetch(&tp_moved, n, __ATOMIC_RELAXED);
}

/* CPU time of the calling thread, in ms. */
static inline long long tp_thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Whether nothing moved for TP_STALL_MS; *seen and *last are the caller's. */
static inline bool tp_stalled(unsigned long long *seen, long long *last)
{
	unsigned long long now = __atomic_load_n(&tp_moved, __ATOMIC_RELAXED);

	if (now != *seen) {
		*seen = now;
		*last = mono_ms();
	}
	return mono_ms() - *last > (long long)TP_STALL_MS * timeout_scale();
}

/*
 * flow_fill(), a word at a time where the offset is aligned: the same bytes
 * for an eighth of the multiplies (TCG makes the difference count).
 */
static inline void tp_fill(unsigned char *buf, size_t len, unsigned long long off,
			   unsigned long long seed)
{
	size_t head = (8 - (off & 7)) & 7, i;
	unsigned long long w;

	if (head > len)
		head = len;
	flow_fill(buf, head, off, seed);
	for (i = head; i + 8 <= len; i += 8) {
		w = ((off + i) >> 3) * 6364136223846793005ULL + seed;
		w ^= w >> 29;
		w = htole64(w);
		memcpy(buf + i, &w, 8);
	}
	flow_fill(buf + i, len - i, off + i, seed);
}

/* SHA-256 of the first len bytes of stream seed (flow_fill). */
static inline void stream_sha256(unsigned long long seed, unsigned long long len,
				 unsigned char out[32])
{
	static __thread unsigned char buf[TP_CHUNK];
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	unsigned long long off;
	size_t n;

	EVP_DigestInit_ex(h, EVP_sha256(), NULL);
	for (off = 0; off < len; off += n) {
		n = len - off < sizeof(buf) ? len - off : sizeof(buf);
		tp_fill(buf, n, off, seed);
		EVP_DigestUpdate(h, buf, n);
	}
	EVP_DigestFinal_ex(h, out, NULL);
	EVP_MD_CTX_free(h);
}

/*
 * The writers' SHA-256 is the stream's: it depends on seed and length
 * only, so it is computed once (by the first writer of that stream, as it
 * writes) and kept here for the tests after, which then hash only what
 * they receive. Under TCG SHA-256 is the costliest thing the test does.
 */
#define TP_SUMS "/tmp/oktlsd-stream-sums"

static inline bool tp_sum_load(unsigned long long seed, unsigned long long len,
			       unsigned char sum[32])
{
	char path[96];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), TP_SUMS "/%llu-%llu", seed, len);
	f = fopen(path, "r");
	ok = f && fread(sum, 1, 32, f) == 32;
	if (f)
		fclose(f);
	return ok;
}

static inline void tp_sum_store(unsigned long long seed, unsigned long long len,
				const unsigned char sum[32])
{
	char path[96], tmp[112];
	FILE *f;
	bool ok;

	mkdir(TP_SUMS, 0755);
	snprintf(path, sizeof(path), TP_SUMS "/%llu-%llu", seed, len);
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)gettid());
	f = fopen(tmp, "w");
	if (!f)
		return;
	ok = fwrite(sum, 1, 32, f) == 32;
	/* Whole or not at all: a reader never sees a torn file. */
	if (fclose(f) || !ok || rename(tmp, path))
		unlink(tmp);
}

/*
 * Finish a writer's sum: hashed as it wrote (then kept for the next), or
 * known from before. Meaningful only when it wrote the whole stream.
 */
static inline void tp_sum_finish(EVP_MD_CTX *h, bool hashed, unsigned long long seed,
				 unsigned long long done, unsigned long long total,
				 unsigned char sum[32])
{
	if (!hashed) {
		if (done != total)
			memset(sum, 0, 32);
		return;
	}
	EVP_DigestFinal_ex(h, sum, NULL);
	if (done == total)
		tp_sum_store(seed, total, sum);
}

/* How a run ended. */
enum tp_end { TP_OK, TP_ALERTED, TP_FAILED };
enum tp_state { TP_HANDSHAKE, TP_DATA, TP_SHUTDOWN, TP_DONE };

struct tlspeer {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	enum tp_state st;
	unsigned long long wtotal, rtotal;	/* to write, to read */
	unsigned long long seed, ku_every;
	unsigned long long wdone, rdone, ku_next;
	int ku_type;		/* the next SSL_key_update() */
	size_t wlen;		/* bytes of wbuf SSL_write() has not finished */
	bool wstop;		/* a write failed: only read from here on */
	/* From the message callback: what crossed the wire. */
	int ku_sent, ku_sent_requested;
	int ku_seen, ku_seen_requested, ku_seen_mid;	/* mid: 0 < rdone < rtotal */
	unsigned long long ku_seen_first;		/* rdone at the first */
	int alert;		/* description of the last alert received, or -1 */
	EVP_MD_CTX *wh, *rh;
	bool whash;		/* hash what is written (no sum from before) */
	unsigned char wsum[32], rsum[32];	/* wsum: with all written */
	long long cpu_ms;	/* the run's CPU time */
	char why[256];
	unsigned char wbuf[TP_CHUNK], rbuf[TP_CHUNK];
};

static void tp_msg_cb(int write_p, int version, int content_type, const void *buf,
		      size_t len, SSL *ssl, void *arg)
{
	const unsigned char *m = buf;
	struct tlspeer *p = arg;

	if (content_type == SSL3_RT_ALERT && !write_p && len == 2)
		p->alert = m[1];
	if (content_type != SSL3_RT_HANDSHAKE || len < 5 || m[0] != TP_HS_KEY_UPDATE)
		return;
	if (write_p) {
		p->ku_sent++;
		p->ku_sent_requested += m[4] == SSL_KEY_UPDATE_REQUESTED;
		return;
	}
	if (!p->ku_seen++)
		p->ku_seen_first = p->rdone;
	p->ku_seen_requested += m[4] == SSL_KEY_UPDATE_REQUESTED;
	p->ku_seen_mid += p->rdone > 0 && p->rdone < p->rtotal;
}

/*
 * A peer on the connected socket fd (made non-blocking; closed by
 * tlspeer_free), TLS 1.3 with suite only; a client verifies "localhost"
 * against the test CA, a server presents the test server certificate. It
 * writes wtotal bytes of stream seed and expects rtotal.
 */
static inline struct tlspeer *tlspeer_new(bool server, int fd, const char *suite,
					  unsigned long long wtotal, unsigned long long rtotal,
					  unsigned long long seed, unsigned long long ku_every)
{
	struct tlspeer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fd = fd;
	p->wtotal = wtotal;
	p->rtotal = rtotal;
	p->seed = seed;
	p->ku_every = ku_every;
	p->ku_next = ku_every;
	p->ku_type = SSL_KEY_UPDATE_REQUESTED;
	p->alert = -1;
	p->whash = !tp_sum_load(seed, wtotal, p->wsum);
	p->wh = EVP_MD_CTX_new();
	p->rh = EVP_MD_CTX_new();
	EVP_DigestInit_ex(p->wh, EVP_sha256(), NULL);
	EVP_DigestInit_ex(p->rh, EVP_sha256(), NULL);
	p->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!p->ctx || !SSL_CTX_set_min_proto_version(p->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(p->ctx, suite))
		goto fail;
	if (server) {
		if (SSL_CTX_use_certificate_chain_file(p->ctx, PKI "/server.crt") != 1 ||
		    SSL_CTX_use_PrivateKey_file(p->ctx, PKI "/server.key", SSL_FILETYPE_PEM) != 1)
			goto fail;
	} else {
		if (!SSL_CTX_load_verify_locations(p->ctx, PKI "/ca.pem", NULL))
			goto fail;
		SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, NULL);
	}
	p->ssl = SSL_new(p->ctx);
	if (!p->ssl || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) ||
	    !SSL_set_fd(p->ssl, fd))
		goto fail;
	if (server) {
		SSL_set_accept_state(p->ssl);
	} else {
		SSL_set_tlsext_host_name(p->ssl, "localhost");
		SSL_set1_host(p->ssl, "localhost");
		SSL_set_connect_state(p->ssl);
	}
	SSL_set_msg_callback(p->ssl, tp_msg_cb);
	SSL_set_msg_callback_arg(p->ssl, p);
	return p;
fail:
	SSL_free(p->ssl);
	SSL_CTX_free(p->ctx);
	EVP_MD_CTX_free(p->wh);
	EVP_MD_CTX_free(p->rh);
	free(p);
	return NULL;
}

static inline void tlspeer_free(struct tlspeer *p)
{
	if (!p)
		return;
	SSL_free(p->ssl);
	SSL_CTX_free(p->ctx);
	EVP_MD_CTX_free(p->wh);
	EVP_MD_CTX_free(p->rh);
	close(p->fd);
	free(p);
}

/* SSL_get_error() after r: what to poll for (0: none), or -1 with p->why set. */
static inline int tp_want(struct tlspeer *p, int r, const char *op)
{
	int err = SSL_get_error(p->ssl, r), e = errno;
	unsigned long code = ERR_peek_error();

	if (err == SSL_ERROR_WANT_READ)
		return POLLIN;
	if (err == SSL_ERROR_WANT_WRITE)
		return POLLOUT;
	snprintf(p->why, sizeof(p->why), "%s after %llu written, %llu read: %s", op,
		 p->wdone, p->rdone,
		 err == SSL_ERROR_ZERO_RETURN ? "close_notify" :
		 err == SSL_ERROR_SYSCALL ? (code ? ERR_reason_error_string(code) :
					     e ? strerror(e) : "EOF") :
		 code ? ERR_reason_error_string(code) : "SSL error");
	ERR_clear_error();
	return -1;
}

/*
 * tp_write() and tp_read() return -1 (p->why set), 0 when they stopped at
 * TP_BATCH (call again at once), the poll events they wait for, or TP_IDLE
 * when that direction has nothing left to do.
 */
#define TP_IDLE 0x1000

static inline int tp_write(struct tlspeer *p)
{
	unsigned long long batch = 0, left;
	int r;

	while (p->wdone < p->wtotal && !p->wstop) {
		if (batch >= TP_BATCH)
			return 0;
		if (!p->wlen) {
			/* Between two SSL_write()s nothing is pending: the update may start. */
			if (p->ku_every && p->wdone >= p->ku_next) {
				/*
				 * Refused while an answer to the other side's
				 * update_requested is owed: oktls never asks.
				 */
				if (SSL_get_key_update_type(p->ssl) != SSL_KEY_UPDATE_NONE ||
				    !SSL_key_update(p->ssl, p->ku_type)) {
					snprintf(p->why, sizeof(p->why),
						 "SSL_key_update at %llu refused (%d pending)",
						 p->wdone, SSL_get_key_update_type(p->ssl));
					return -1;
				}
				p->ku_type = p->ku_type == SSL_KEY_UPDATE_REQUESTED ?
					     SSL_KEY_UPDATE_NOT_REQUESTED :
					     SSL_KEY_UPDATE_REQUESTED;
				p->ku_next += p->ku_every;
			}
			left = p->wtotal - p->wdone;
			if (p->ku_every && p->ku_next - p->wdone < left)
				left = p->ku_next - p->wdone;
			p->wlen = left < TP_CHUNK ? left : TP_CHUNK;
			tp_fill(p->wbuf, p->wlen, p->wdone, p->seed);
		}
		/* A retry after WANT_WRITE passes the same buffer, as OpenSSL requires. */
		r = SSL_write(p->ssl, p->wbuf, p->wlen);
		if (r <= 0) {
			r = tp_want(p, r, "SSL_write");
			if (r >= 0)
				return r;
			/* Perhaps the other side ended it with an alert: read on. */
			p->wstop = true;
			break;
		}
		if (p->whash)
			EVP_DigestUpdate(p->wh, p->wbuf, r);
		tp_count(r);
		p->wdone += r;
		batch += r;
		p->wlen = 0;
	}
	return TP_IDLE;
}

/*
 * Reads go on past rtotal, and then only close_notify may come: any alert,
 * or any byte more, ends the run with the reason.
 */
static inline int tp_read(struct tlspeer *p)
{
	unsigned long long batch = 0;
	int r, n;

	for (;;) {
		if (batch >= TP_BATCH)
			return 0;
		n = sizeof(p->rbuf);
		if (p->rdone < p->rtotal && p->rtotal - p->rdone < (unsigned long long)n)
			n = p->rtotal - p->rdone;
		r = SSL_read(p->ssl, p->rbuf, n);
		if (r <= 0) {
			if (SSL_get_error(p->ssl, r) == SSL_ERROR_ZERO_RETURN &&
			    p->rdone == p->rtotal && p->wdone == p->wtotal) {
				p->st = TP_SHUTDOWN;
				return 0;
			}
			return tp_want(p, r, "SSL_read");
		}
		if (p->rdone == p->rtotal) {
			snprintf(p->why, sizeof(p->why), "%d bytes more than %llu", r, p->rtotal);
			return -1;
		}
		EVP_DigestUpdate(p->rh, p->rbuf, r);
		tp_count(r);
		p->rdone += r;
		batch += r;
	}
}

/* One round without blocking: events to poll for, 0 to go on at once, or -1. */
static inline int tp_step(struct tlspeer *p)
{
	int r, w;

	switch (p->st) {
	case TP_HANDSHAKE:
		r = SSL_do_handshake(p->ssl);
		if (r != 1)
			return tp_want(p, r, "handshake");
		p->st = TP_DATA;
		return 0;
	case TP_DATA:
		w = tp_write(p);
		if (w < 0)
			return -1;
		r = tp_read(p);
		if (r <= 0 || p->st != TP_DATA)
			return r;
		if (!w)
			return 0;	/* more to write at once */
		return (w & ~TP_IDLE) | r;
	case TP_SHUTDOWN:
		r = SSL_shutdown(p->ssl);
		if (r < 0)
			return tp_want(p, r, "SSL_shutdown");
		p->st = TP_DONE;
		return 0;
	default:
		return 0;
	}
}

/*
 * Run to the end: TP_OK (everything each way, then close_notify both ways),
 * TP_ALERTED (the connection ended with an alert from the other side:
 * p->alert), or TP_FAILED with p->why (error, deadline, stall). The hashes
 * in wsum and rsum cover whatever was moved, in every case.
 */
static inline enum tp_end tlspeer_run(struct tlspeer *p, long long deadline)
{
	long long last = mono_ms(), cpu = tp_thread_cpu_ms();
	unsigned long long seen = ~0ULL;
	enum tp_end end = TP_FAILED;
	struct pollfd pfd;
	int ev;

	while (p->st != TP_DONE) {
		ev = tp_step(p);
		if (ev < 0) {
			if (p->alert >= 0)
				end = TP_ALERTED;
			goto out;
		}
		if (tp_stalled(&seen, &last) || mono_ms() > deadline) {
			snprintf(p->why, sizeof(p->why),
				 "%s at %llu of %llu written, %llu of %llu read (state %d)",
				 mono_ms() > deadline ? "deadline" : "stalled", p->wdone,
				 p->wtotal, p->rdone, p->rtotal, p->st);
			goto out;
		}
		if (!ev)
			continue;
		pfd = (struct pollfd){ .fd = p->fd, .events = ev };
		poll(&pfd, 1, 200);
	}
	end = TP_OK;
out:
	tp_sum_finish(p->wh, p->whash, p->seed, p->wdone, p->wtotal, p->wsum);
	EVP_DigestFinal_ex(p->rh, p->rsum, NULL);
	p->cpu_ms = tp_thread_cpu_ms() - cpu;
	return end;
}

/* The plain TCP end, on a thread. */
struct plainpeer {
	int lfd;		/* accept the connection here, or -1 */
	int fd;			/* else this connected socket (closed at the end) */
	unsigned long long wtotal, rtotal, seed;	/* write, read; stream seed */
	long long deadline;
	/* results, read after plainpeer_join() */
	unsigned long long wdone, rdone, extra;	/* extra: read after rtotal */
	int err;		/* errno of the first failed call, or 0 */
	bool eof;		/* read EOF after everything */
	unsigned char wsum[32], rsum[32];	/* wsum: with all written */
	long long cpu_ms;	/* the thread's CPU time */
	const char *why;	/* set when it did not end cleanly */
	pthread_t th;
};

static void *plainpeer_main(void *arg)
{
	static __thread unsigned char buf[TP_CHUNK];
	struct plainpeer *c = arg;
	EVP_MD_CTX *wh = EVP_MD_CTX_new(), *rh = EVP_MD_CTX_new();
	bool whash = !tp_sum_load(c->seed, c->wtotal, c->wsum), shut = false;
	unsigned long long seen = ~0ULL;
	long long last = mono_ms();
	struct pollfd p;
	ssize_t r;
	size_t n;
	int fd;

	EVP_DigestInit_ex(wh, EVP_sha256(), NULL);
	EVP_DigestInit_ex(rh, EVP_sha256(), NULL);
	fd = c->lfd >= 0 ? accept_ms(c->lfd, c->deadline - mono_ms()) : c->fd;
	if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK)) {
		c->err = errno;
		c->why = "no connection";
		goto out;
	}
	for (;;) {
		if (c->wdone == c->wtotal && c->rdone == c->rtotal && !shut) {
			/* All read: every KeyUpdate ahead of it was handled. Now close_notify. */
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (tp_stalled(&seen, &last) || mono_ms() > c->deadline) {
			c->why = mono_ms() > c->deadline ? "deadline" : "stalled";
			c->err = ETIMEDOUT;
			break;
		}
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (c->wdone < c->wtotal && !c->err)
			p.events |= POLLOUT;
		if (poll(&p, 1, 200) <= 0)
			continue;
		if (c->wdone < c->wtotal && !c->err) {
			n = c->wtotal - c->wdone < sizeof(buf) ? c->wtotal - c->wdone : sizeof(buf);
			tp_fill(buf, n, c->wdone, c->seed);
			r = send(fd, buf, n, MSG_NOSIGNAL);
			if (r > 0) {
				if (whash)
					EVP_DigestUpdate(wh, buf, r);
				tp_count(r);
				c->wdone += r;
			} else if (errno != EAGAIN) {
				c->err = errno;
				c->why = "send failed";
			}
		}
		n = c->rdone < c->rtotal ? c->rtotal - c->rdone : sizeof(buf);
		r = recv(fd, buf, n < sizeof(buf) ? n : sizeof(buf), 0);
		if (r > 0 && c->rdone < c->rtotal) {
			EVP_DigestUpdate(rh, buf, r);
			tp_count(r);
			c->rdone += r;
		} else if (r > 0) {
			c->extra += r;
		} else if (!r) {
			c->eof = true;
			if (c->rdone < c->rtotal && !c->why)
				c->why = "EOF before all data";
			break;
		} else if (errno != EAGAIN) {
			if (!c->err) {
				c->err = errno;
				c->why = "recv failed";
			}
			break;
		}
	}
out:
	tp_sum_finish(wh, whash, c->seed, c->wdone, c->wtotal, c->wsum);
	EVP_DigestFinal_ex(rh, c->rsum, NULL);
	EVP_MD_CTX_free(wh);
	EVP_MD_CTX_free(rh);
	if (fd >= 0)
		close(fd);
	c->cpu_ms = tp_thread_cpu_ms();
	return NULL;
}

static inline int plainpeer_start(struct plainpeer *c)
{
	return pthread_create(&c->th, NULL, plainpeer_main, c);
}

/* The thread ends by its deadline at the latest. */
static inline void plainpeer_join(struct plainpeer *c)
{
	pthread_join(c->th, NULL);
}

#endif
