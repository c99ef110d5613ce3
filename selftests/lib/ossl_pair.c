// SPDX-License-Identifier: GPL-2.0
/*
 * Two OpenSSL endpoints of one TLS 1.3 connection in one process; see
 * ossl_pair.h. Nothing here needs liboktls: the tests hand one end to
 * the kernel themselves.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/tls.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/net.h"
#include "lib/ossl_pair.h"

#define PUMP_CHUNK	65536

int pair_use_new_cert(SSL_CTX *ctx, bool ecdsa)
{
	EVP_PKEY *key = ecdsa ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
	X509 *x = X509_new();
	int ok = 0;

	if (!key || !x)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	ok = X509_sign(x, key, EVP_sha256()) > 0 &&
	     SSL_CTX_use_certificate(ctx, x) == 1 &&
	     SSL_CTX_use_PrivateKey(ctx, key) == 1;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

SSL_CTX *pair_ctx13(bool server, const char *suite)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() :
				   TLS_client_method());

	if (!ctx)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, suite) != 1 ||
	    (server && pair_use_new_cert(ctx, true))) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

static void *accept_main(void *arg)
{
	SSL *ssl = arg;

	return SSL_accept(ssl) == 1 ? ssl : NULL;
}

int pair_handshake(SSL *srv, SSL *cli)
{
	pthread_t t;
	void *ok;
	int ret;

	if (pthread_create(&t, NULL, accept_main, srv))
		return -1;
	ret = SSL_connect(cli) == 1 ? 0 : -1;
	pthread_join(t, &ok);
	if (ret || !ok) {
		ERR_print_errors_fp(stderr);
		return -1;
	}
	return 0;
}

static void ku_cb(int write_p, int version, int content_type, const void *buf,
		  size_t len, SSL *ssl, void *arg)
{
	struct pair_ku_count *c = arg;
	const uint8_t *b = buf;

	/* msg_type, uint24 length, request_update (RFC 8446 4.6.3) */
	if (content_type != SSL3_RT_HANDSHAKE || len < 5 ||
	    b[0] != SSL3_MT_KEY_UPDATE)
		return;
	if (write_p) {
		c->sent++;
		c->sent_requested += b[4] != 0;
		return;
	}
	if (!c->rcvd++)
		c->first_rcvd_at = c->app_read;
	c->rcvd_requested += b[4] != 0;
}

void pair_count_key_updates(SSL *ssl, struct pair_ku_count *c)
{
	memset(c, 0, sizeof(*c));
	SSL_set_msg_callback(ssl, ku_cb);
	SSL_set_msg_callback_arg(ssl, c);
}

/* splitmix64 */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void pair_fill(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t w = mix(seed * 0x100000001b3ULL + (off >> 3));
		unsigned int i = off & 7;

		for (; i < 8 && len; i++, len--, off++)
			*p++ = w >> (8 * i);
	}
}

size_t pair_check(uint64_t seed, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t want[4096];
	size_t done = 0, n, i;

	while (done < len) {
		n = len - done < sizeof(want) ? len - done : sizeof(want);
		pair_fill(seed, off + done, want, n);
		if (memcmp(want, p + done, n)) {
			for (i = 0; want[i] == p[done + i]; i++)
				;
			return done + i;
		}
		done += n;
	}
	return len;
}

static void log_ssl_error(const char *what, SSL *ssl, int ret)
{
	fprintf(stderr, "# %s: SSL error %d, errno %d (%s)\n", what,
		SSL_get_error(ssl, ret), errno, strerror(errno));
	ERR_print_errors_fp(stderr);
}

int pair_write_all(SSL *ssl, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int n;

	while (done < len) {
		n = SSL_write(ssl, p + done, len - done);
		if (n <= 0) {
			log_ssl_error("SSL_write", ssl, n);
			return -1;
		}
		done += n;
	}
	return 0;
}

int pair_read_exact(SSL *ssl, void *buf, size_t len, struct pair_ku_count *c)
{
	uint8_t *p = buf;
	size_t done = 0;
	int n;

	while (done < len) {
		n = SSL_read(ssl, p + done, len - done);
		if (n <= 0) {
			log_ssl_error("SSL_read", ssl, n);
			return -1;
		}
		done += n;
		if (c)
			c->app_read += n;
	}
	return 0;
}

int pair_write_stream(SSL *ssl, uint64_t seed, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	int ret = -1;

	if (buf) {
		pair_fill(seed, off, buf, len);
		ret = pair_write_all(ssl, buf, len);
	}
	free(buf);
	return ret;
}

int pair_read_check(SSL *ssl, struct pair_ku_count *c, uint64_t seed,
		    uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	int ret = -1;

	if (buf && !pair_read_exact(ssl, buf, len, c))
		ret = pair_check(seed, off, buf, len) == len ? 0 : -1;
	free(buf);
	return ret;
}

int pair_await_key_update(SSL *ssl, int fd, struct pair_ku_count *c, int want,
			  int ms)
{
	long long end = now_ms() + ms;
	char byte;
	int n;

	set_nonblock(fd, true);
	while (c->rcvd < want && now_ms() < end) {
		n = SSL_read(ssl, &byte, 1);
		if (n > 0 || SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ)
			break;	/* data or an error: neither is expected */
		poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 100);
	}
	set_nonblock(fd, false);
	return c->rcvd;
}

/* What to poll for after a call that did not go through; -1: failed. */
static int want_events(SSL *ssl, int ret)
{
	switch (SSL_get_error(ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	default:
		return -1;
	}
}

/* One non-blocking read; 1 on progress, 0 when it would block, -1. */
static int pump_read(SSL *ssl, struct pair_pump *p, uint8_t *buf,
		     EVP_MD_CTX *h, short *ev)
{
	uint64_t left = p->rx_len - p->rcvd;
	int n, want;
	size_t bad;

	n = SSL_read(ssl, buf, left < PUMP_CHUNK ? left : PUMP_CHUNK);
	if (n > 0) {
		bad = pair_check(p->rx_seed, p->rcvd, buf, n);
		if (bad < (size_t)n) {
			snprintf(p->why, sizeof(p->why),
				 "received byte %llu differs from what was sent",
				 (unsigned long long)(p->rcvd + bad));
			return -1;
		}
		EVP_DigestUpdate(h, buf, n);
		p->rcvd += n;
		if (p->ku)
			p->ku->app_read += n;
		return 1;
	}
	want = want_events(ssl, n);
	if (want < 0) {
		snprintf(p->why, sizeof(p->why),
			 "SSL_read failed at byte %llu: SSL error %d, errno %d",
			 (unsigned long long)p->rcvd, SSL_get_error(ssl, n), errno);
		ERR_print_errors_fp(stderr);
		return -1;
	}
	*ev |= want;
	return 0;
}

int pair_pump_run(SSL *ssl, int fd, struct pair_pump *p)
{
	EVP_MD_CTX *txh = EVP_MD_CTX_new(), *rxh = EVP_MD_CTX_new();
	uint8_t *wbuf = malloc(PUMP_CHUNK), *rbuf = malloc(PUMP_CHUNK);
	uint64_t next_ku = p->ku_every ? p->ku_every : UINT64_MAX;
	long long last = now_ms();
	size_t woff = 0, wlen = 0;
	int ret = -1, n, want;

	p->why[0] = 0;
	p->sent = p->rcvd = 0;
	p->updates = 0;
	if (!txh || !rxh || !wbuf || !rbuf ||
	    !EVP_DigestInit_ex(txh, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(rxh, EVP_sha256(), NULL)) {
		snprintf(p->why, sizeof(p->why), "out of memory");
		goto cleanup;
	}
	while (p->sent < p->tx_len || p->rcvd < p->rx_len) {
		bool progress = false;
		short ev = 0;

		if (p->rcvd < p->rx_len) {
			n = pump_read(ssl, p, rbuf, rxh, &ev);
			if (n < 0)
				goto cleanup;
			progress |= n;
		}
		if (p->sent < p->tx_len && woff == wlen) {
			/* Between writes: OpenSSL sends it with the next one. */
			if (p->sent >= next_ku) {
				int type = p->ask_every_other && p->updates % 2 ?
					   SSL_KEY_UPDATE_REQUESTED :
					   SSL_KEY_UPDATE_NOT_REQUESTED;

				if (SSL_key_update(ssl, type) != 1) {
					snprintf(p->why, sizeof(p->why),
						 "SSL_key_update refused at byte %llu",
						 (unsigned long long)p->sent);
					goto cleanup;
				}
				p->updates++;
				next_ku += p->ku_every;
			}
			wlen = p->tx_len - p->sent;
			if (wlen > PUMP_CHUNK)
				wlen = PUMP_CHUNK;
			if (wlen > next_ku - p->sent)
				wlen = next_ku - p->sent;
			woff = 0;
			pair_fill(p->tx_seed, p->sent, wbuf, wlen);
		}
		if (woff < wlen) {
			n = SSL_write(ssl, wbuf + woff, wlen - woff);
			if (n > 0) {
				EVP_DigestUpdate(txh, wbuf + woff, n);
				woff += n;
				p->sent += n;
				progress = true;
			} else {
				want = want_events(ssl, n);
				if (want < 0) {
					snprintf(p->why, sizeof(p->why),
						 "SSL_write failed at byte %llu: SSL error %d, errno %d",
						 (unsigned long long)p->sent,
						 SSL_get_error(ssl, n), errno);
					ERR_print_errors_fp(stderr);
					goto cleanup;
				}
				ev |= want;
			}
		}
		if (progress) {
			last = now_ms();
			continue;
		}
		if (now_ms() - last > p->idle_ms) {
			snprintf(p->why, sizeof(p->why),
				 "stalled %d ms: sent %llu of %llu, received %llu of %llu",
				 p->idle_ms, (unsigned long long)p->sent,
				 (unsigned long long)p->tx_len,
				 (unsigned long long)p->rcvd,
				 (unsigned long long)p->rx_len);
			goto cleanup;
		}
		poll(&(struct pollfd){ .fd = fd, .events = ev }, 1, 100);
	}
	EVP_DigestFinal_ex(txh, p->tx_sha, NULL);
	EVP_DigestFinal_ex(rxh, p->rx_sha, NULL);
	ret = 0;
cleanup:
	EVP_MD_CTX_free(txh);
	EVP_MD_CTX_free(rxh);
	free(wbuf);
	free(rbuf);
	return ret;
}

int pair_recv_check(int fd, uint64_t seed, uint64_t off, size_t len,
		    size_t piece, int flags, bool cmsg)
{
	char ctrl[CMSG_SPACE(sizeof(unsigned char))];
	uint8_t *buf = malloc(len ? len : 1);
	size_t got = 0;
	int ret = -1;
	ssize_t n;

	while (buf && got < len) {
		size_t want = len - got < piece ? len - got : piece;
		struct iovec iov = { buf + got, want };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct cmsghdr *cm;

		if (cmsg) {
			msg.msg_control = ctrl;
			msg.msg_controllen = sizeof(ctrl);
		}
		n = recvmsg(fd, &msg, flags);
		if (n < 0) {
			ret = errno;
			fprintf(stderr, "# recv at %zu: %s\n", got, strerror(errno));
			goto out;
		}
		if (n == 0) {
			fprintf(stderr, "# EOF at %zu of %zu\n", got, len);
			goto out;
		}
		cm = cmsg ? CMSG_FIRSTHDR(&msg) : NULL;
		if (cmsg && (!cm || cm->cmsg_level != SOL_TLS ||
			     cm->cmsg_type != TLS_GET_RECORD_TYPE ||
			     *CMSG_DATA(cm) != 23)) {
			fprintf(stderr, "# read at %zu: not a data record\n", got);
			goto out;
		}
		got += n;
	}
	if (buf && pair_check(seed, off, buf, len) == len)
		ret = 0;
	else if (buf)
		fprintf(stderr, "# byte %zu read differs from what was sent\n",
			pair_check(seed, off, buf, len));
out:
	free(buf);
	return ret;
}

int pair_send(int fd, uint64_t seed, uint64_t off, size_t len, size_t piece)
{
	uint8_t *buf = malloc(piece);
	size_t done = 0;
	ssize_t n;

	while (buf && done < len) {
		size_t want = len - done < piece ? len - done : piece;

		pair_fill(seed, off + done, buf, want);
		n = send(fd, buf, want, MSG_NOSIGNAL);
		if (n != (ssize_t)want) {
			fprintf(stderr, "# send at %zu: %zd (%s)\n", done, n,
				strerror(errno));
			break;
		}
		done += want;
	}
	free(buf);
	return done == len ? 0 : -1;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define SEND_MAX	196608
#define RECV_MAX	65536

void *pair_send_main(void *arg)
{
	struct pair_side *b = arg;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	uint8_t *buf = malloc(SEND_MAX);
	uint64_t rng = 0x5eed;
	ssize_t n;

	if (!h || !buf || !EVP_DigestInit_ex(h, EVP_sha256(), NULL))
		b->err = ENOMEM;
	while (!b->err && b->done < b->len) {
		size_t want = xorshift(&rng) % SEND_MAX + 1;

		if (want > b->len - b->done)
			want = b->len - b->done;
		pair_fill(b->seed, b->done, buf, want);
		n = send(b->fd, buf, want, MSG_NOSIGNAL);
		if (n <= 0) {
			b->err = errno;
			break;
		}
		EVP_DigestUpdate(h, buf, n);
		b->done += n;
	}
	if (!b->err)
		EVP_DigestFinal_ex(h, b->sha, NULL);
	EVP_MD_CTX_free(h);
	free(buf);
	return NULL;
}

void *pair_recv_main(void *arg)
{
	struct pair_side *b = arg;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	uint8_t *buf = malloc(RECV_MAX);
	uint64_t rng = 0xfeed;
	ssize_t n;

	if (!h || !buf || !EVP_DigestInit_ex(h, EVP_sha256(), NULL))
		b->err = ENOMEM;
	while (!b->err && b->done < b->len) {
		size_t want = xorshift(&rng) % RECV_MAX + 1;

		if (want > b->len - b->done)
			want = b->len - b->done;
		n = recv(b->fd, buf, want, 0);
		if (n <= 0) {
			b->err = n ? errno : -1;
			break;
		}
		if (pair_check(b->seed, b->done, buf, n) != (size_t)n) {
			b->err = -1;
			break;
		}
		EVP_DigestUpdate(h, buf, n);
		b->done += n;
	}
	if (!b->err)
		EVP_DigestFinal_ex(h, b->sha, NULL);
	EVP_MD_CTX_free(h);
	free(buf);
	return NULL;
}

void *pair_send_retry_main(void *arg)
{
	struct pair_side *b = arg;
	uint8_t buf[16384];
	ssize_t n;

	while (b->done < b->len && b->retries < 20000) {
		size_t want = b->len - b->done < sizeof(buf) ? b->len - b->done :
							       sizeof(buf);

		pair_fill(b->seed, b->done, buf, want);
		n = send(b->fd, buf, want, MSG_NOSIGNAL);
		if (n == (ssize_t)want) {
			b->done += n;
			continue;
		}
		if (n > 0) {
			b->done += n;
		} else if (errno != EAGAIN) {
			b->err = errno;
			break;
		}
		b->retries++;
		poll(&(struct pollfd){ .fd = b->fd, .events = POLLOUT }, 1, 100);
	}
	if (b->done < b->len && !b->err)
		b->err = ETIMEDOUT;
	return NULL;
}
