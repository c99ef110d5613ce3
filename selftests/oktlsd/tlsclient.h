/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the oktlsd load tests: an epoll echo backend on a thread,
 * many non-blocking OpenSSL client connections driven by one poll loop,
 * and oktlsd's statistics read back from its log (SIGUSR1).
 */
#ifndef OKTLSD_TEST_TLSCLIENT_H
#define OKTLSD_TEST_TLSCLIENT_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "common.h"

/* The echo backend: accepts on lfd, writes back whatever it reads. */
struct echo {
	int lfd, port, stop;
	pthread_t th;
};

static void *echo_main(void *arg)
{
	struct echo *e = arg;
	struct epoll_event ev, evs[64];
	static __thread char buf[65536];
	int ep = epoll_create1(EPOLL_CLOEXEC), i, n, fd;
	ssize_t r, w, off;

	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = e->lfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, e->lfd, &ev);
	ev.data.fd = e->stop;
	epoll_ctl(ep, EPOLL_CTL_ADD, e->stop, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == e->stop) {
				close(ep);
				return NULL;
			}
			if (fd == e->lfd) {
				fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC);
				if (fd < 0)
					continue;
				ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = fd };
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				continue;
			}
			/* Blocking writes: every peer in these tests reads while it writes. */
			r = read(fd, buf, sizeof(buf));
			for (off = 0; r > 0 && off < r; off += w) {
				w = write(fd, buf + off, r - off);
				if (w <= 0)
					break;
			}
			if (r <= 0 || off < r)
				close(fd);
		}
	}
}

static inline int echo_start(struct echo *e)
{
	e->port = free_port();
	e->lfd = tcp_listen_port(e->port);
	e->stop = eventfd(0, EFD_CLOEXEC);
	if (e->lfd < 0 || e->stop < 0)
		return -1;
	fcntl(e->lfd, F_SETFD, FD_CLOEXEC);
	return pthread_create(&e->th, NULL, echo_main, e);
}

static inline void echo_stop(struct echo *e)
{
	uint64_t one = 1;

	if (e->stop < 0)
		return;
	if (write(e->stop, &one, sizeof(one)) == sizeof(one))
		pthread_join(e->th, NULL);
	close(e->lfd);
	close(e->stop);
	e->stop = -1;
}

static inline SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || !SSL_CTX_load_verify_locations(ctx, PKI "/ca.pem", NULL)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* Socket to 127.0.0.1:port from src (NULL: any), non-blocking, close-on-exec. */
static inline int tcp_start(int port, const char *src)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (src) {
		struct sockaddr_in s = { .sin_family = AF_INET };

		inet_pton(AF_INET, src, &s.sin_addr);
		if (bind(fd, (struct sockaddr *)&s, sizeof(s)))
			goto fail;
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static inline void rst_close(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/*
 * One client connection. What it does once connected depends on mode:
 * echo a short message and hold (TC_ECHO), abort the handshake with a
 * reset once the server answered the ClientHello (TC_ABORT_HS), echo then
 * reset with data in flight (TC_RST_XFER), or expect the server to end the
 * connection right after the handshake (TC_REFUSED: the backend is down).
 */
enum tc_mode { TC_ECHO, TC_ABORT_HS, TC_RST_XFER, TC_REFUSED };
enum tc_state { TC_HS, TC_SEND, TC_RECV, TC_HOLD, TC_DONE, TC_FAIL };

struct tc {
	int fd;
	SSL *ssl;
	enum tc_mode mode;
	enum tc_state st;
	short events;
	int len, got;
	char msg[48], buf[48];
	const char *why;	/* for TC_FAIL */
};

static inline int tc_open(struct tc *t, SSL_CTX *ctx, int port, const char *src,
			  enum tc_mode mode, int id)
{
	memset(t, 0, sizeof(*t));
	t->mode = mode;
	t->len = snprintf(t->msg, sizeof(t->msg), "connection %d says hello\n", id);
	t->fd = tcp_start(port, src);
	t->ssl = t->fd < 0 ? NULL : SSL_new(ctx);
	if (!t->ssl || !SSL_set_fd(t->ssl, t->fd)) {
		t->st = TC_FAIL;
		t->why = "socket";
		return -1;
	}
	if (mode == TC_ABORT_HS)
		/*
		 * Reads from an empty memory BIO: the ClientHello goes out, but the
		 * server's answer is never read by OpenSSL, so the handshake cannot
		 * complete in one SSL_connect() when the daemon answers quickly.
		 */
		SSL_set0_rbio(t->ssl, BIO_new(BIO_s_mem()));
	SSL_set_tlsext_host_name(t->ssl, "localhost");
	SSL_set1_host(t->ssl, "localhost");
	t->st = TC_HS;
	t->events = POLLOUT;
	return 0;
}

static inline void tc_close(struct tc *t)
{
	SSL_free(t->ssl);
	t->ssl = NULL;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* 1 if the SSL call must wait (events set), 0 if not. */
static inline int tc_want(struct tc *t, int r)
{
	int err = SSL_get_error(t->ssl, r);

	if (err == SSL_ERROR_WANT_READ) {
		t->events = POLLIN;
		return 1;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		t->events = POLLOUT;
		return 1;
	}
	ERR_clear_error();
	return 0;
}

static inline void tc_fail(struct tc *t, const char *why)
{
	t->st = TC_FAIL;
	t->why = why;
}

/* Advance as far as possible without blocking. */
static inline void tc_step(struct tc *t, short revents)
{
	int r;

	for (;;) {
		switch (t->st) {
		case TC_HS:
			if (t->mode == TC_ABORT_HS && (revents & POLLIN)) {
				/* The server answered: vanish mid-handshake. */
				rst_close(t->fd);
				t->fd = -1;
				t->st = TC_DONE;
				return;
			}
			r = SSL_connect(t->ssl);
			if (r == 1) {
				t->st = TC_SEND;
				break;
			}
			if (!tc_want(t, r))
				return tc_fail(t, "handshake");
			return;
		case TC_SEND:
			r = SSL_write(t->ssl, t->msg, t->len);
			if (r <= 0) {
				if (tc_want(t, r))
					return;
				if (t->mode == TC_REFUSED) {
					/* The daemon already ended it: as expected. */
					t->st = TC_DONE;
					return;
				}
				return tc_fail(t, "write");
			}
			t->st = TC_RECV;
			break;
		case TC_RECV:
			r = SSL_read(t->ssl, t->buf + t->got, t->len - t->got);
			if (r <= 0) {
				if (tc_want(t, r))
					return;
				if (t->mode == TC_REFUSED) {
					/* What we expect: the daemon ends it, no data. */
					t->st = TC_DONE;
					return;
				}
				return tc_fail(t, "read");
			}
			if (t->mode == TC_REFUSED)
				return tc_fail(t, "data from a refused backend");
			t->got += r;
			if (t->got < t->len)
				break;
			if (memcmp(t->buf, t->msg, t->len))
				return tc_fail(t, "echo mismatch");
			if (t->mode == TC_RST_XFER) {
				static const char junk[16384];

				/* Data in flight both ways, then a reset. */
				SSL_write(t->ssl, junk, sizeof(junk));
				SSL_write(t->ssl, t->msg, t->len);
				ERR_clear_error();
				rst_close(t->fd);
				t->fd = -1;
				t->st = TC_DONE;
				return;
			}
			t->st = TC_HOLD;
			t->events = 0;
			return;
		default:
			return;
		}
	}
}

/*
 * Drive connections until none is in TC_HS..TC_RECV or ms pass.
 * Returns how many are still short of that.
 */
static inline int tc_drive(struct tc *t, int n, int ms)
{
	struct pollfd *p = calloc(n, sizeof(*p));
	long long end = mono_ms() + ms;
	int i, busy;

	for (i = 0; i < n; i++)
		if (t[i].st < TC_HOLD)
			tc_step(&t[i], 0);
	for (;;) {
		busy = 0;
		for (i = 0; i < n; i++) {
			bool active = t[i].st < TC_HOLD && t[i].fd >= 0;

			p[i] = (struct pollfd){ .fd = active ? t[i].fd : -1,
						.events = t[i].events };
			busy += active;
		}
		if (!busy || mono_ms() > end)
			break;
		if (poll(p, n, 200) < 0)
			break;
		for (i = 0; i < n; i++)
			if (p[i].fd >= 0 && p[i].revents)
				tc_step(&t[i], p[i].revents);
	}
	free(p);
	return busy;
}

/*
 * A counter from the daemon's statistics: SIGUSR1 makes it log a "stats:"
 * line; the last one in the log is read. -1 if none appears.
 */
static inline long daemon_stat(pid_t pid, const char *log, const char *key)
{
	char line[2048], want[64], last[2048] = "";
	long long end = mono_ms() + 5000;
	long before = 0, n, v = -1;
	FILE *f;
	char *p;

	f = fopen(log, "r");
	while (f && fgets(line, sizeof(line), f))
		before += !!strstr(line, " stats: ");
	if (f)
		fclose(f);
	kill(pid, SIGUSR1);
	snprintf(want, sizeof(want), " %s=", key);
	while (mono_ms() < end) {
		usleep(50000);
		n = 0;
		f = fopen(log, "r");
		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, " stats: ")) {
				n++;
				strcpy(last, line);
			}
		if (f)
			fclose(f);
		if (n > before)
			break;
	}
	p = strstr(last, want);
	if (p)
		v = atol(p + strlen(want));
	return v;
}

#endif
