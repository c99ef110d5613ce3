// SPDX-License-Identifier: MIT
/*
 * One epoll loop per worker thread. All workers wait on the shared listening
 * sockets (EPOLLEXCLUSIVE); each connection then lives in the worker that
 * accepted it: TCP connect, OpenSSL handshake (non-blocking), offload, and
 * the splice relay. Every fd is edge-triggered; a handler always runs until
 * EAGAIN. Connections not offloaded within the handshake timeout are
 * dropped, and one ended by a fatal alert of ours lingers LINGER_MS at
 * most; each timeout is one constant, so each timer list is a FIFO.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "oktls.h"
#include "oktlsd.h"
#include "../../kmod/uapi/oktls.h"

enum kind { K_LISTEN, K_WAKE, K_CONN };
enum state { S_CONNECT_TLS, S_HANDSHAKE, S_CONNECT_PLAIN, S_RELAY, S_LINGER, S_DEAD };

/* How long a connection ended by our fatal alert waits for the peer's end. */
#define LINGER_MS 2000

struct timers {
	struct conn *head, *tail;
};

struct item {
	enum kind kind;
	int fd;
};

struct conn {
	struct item item;		/* first: epoll data points here */
	struct oktlsd_worker *w;
	enum state state;
	int tls_fd, plain_fd;
	SSL *ssl;
	struct oktlsd_relay *relay;
	struct timers *timers;		/* the FIFO it is on, or NULL */
	struct conn *prev, *next;
	struct conn *dead_next;
	struct conn *all_prev, *all_next;	/* every live connection */
	long long deadline;
	bool source_held, ticket_offered;
	bool kernel_keyupdate;		/* the kernel holds the TLS 1.3 secrets */
	uint8_t *pending;
	size_t pending_len;
	struct sockaddr_storage peer;
	char name[80];
};

struct oktlsd_worker {
	pthread_t thread;
	int id, epfd;
	struct item wake;
	struct item listen[OKTLSD_MAX_LISTEN];
	int nlisten;
	struct timers handshake, linger;
	struct conn *dead;		/* freed after the event batch */
	struct conn *all;		/* every live connection */
	long nconns;
	bool listening;
};

static int ex_conn = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void timer_del(struct conn *c)
{
	struct timers *t = c->timers;

	if (!t)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		t->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		t->tail = c->prev;
	c->prev = c->next = NULL;
	c->timers = NULL;
}

static void timer_add(struct conn *c, struct timers *t, int ms)
{
	timer_del(c);
	c->deadline = now_ms() + ms;
	c->prev = t->tail;
	c->next = NULL;
	if (t->tail)
		t->tail->next = c;
	else
		t->head = c;
	t->tail = c;
	c->timers = t;
}

static void source_release(struct conn *c)
{
	if (c->source_held) {
		oktlsd_limits_put(&c->peer);
		c->source_held = false;
	}
}

/* What the kernel did on its own: key updates followed and sent. */
static void kernel_stats(struct conn *c)
{
	struct oktls_sock_stats st;
	socklen_t len = sizeof(st);

	if (!c->kernel_keyupdate || c->tls_fd < 0 ||
	    getsockopt(c->tls_fd, SOL_TLS, OKTLS_SOCK_STATS, &st, &len))
		return;
	atomic_fetch_add(&oktlsd_stats.kernel_key_updates, st.rx_key_updates);
	atomic_fetch_add(&oktlsd_stats.kernel_rekeys, st.tx_rekeys + st.rx_rekeys);
	if (st.tx_rekeys || st.rx_rekeys)
		log_info("%s: the kernel followed %u KeyUpdates and sent %u", c->name,
			 st.rx_rekeys, st.tx_rekeys);
}

/* Close everything now; the memory goes after the current event batch. */
static void conn_close(struct conn *c)
{
	if (c->state == S_DEAD)
		return;
	kernel_stats(c);
	timer_del(c);
	source_release(c);
	SSL_free(c->ssl);	/* OpenSSL wipes its copies of the keys */
	c->ssl = NULL;
	oktlsd_relay_free(c->relay);
	c->relay = NULL;
	free(c->pending);
	c->pending = NULL;
	if (c->tls_fd >= 0)
		close(c->tls_fd);
	if (c->plain_fd >= 0)
		close(c->plain_fd);
	c->tls_fd = c->plain_fd = -1;
	c->state = S_DEAD;
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		c->w->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	c->dead_next = c->w->dead;
	c->w->dead = c;
	c->w->nconns--;
	atomic_fetch_sub(&oktlsd_stats.active, 1);
	atomic_fetch_add(&oktlsd_stats.closed, 1);
}

/*
 * A fatal alert of ours is on its way to the TLS peer, which must be able
 * to read it. Closing with its bytes unread would reset the connection, and
 * a peer that writes before it reads then gets ECONNRESET, never the alert.
 * So the FIN follows the alert and the socket stays open, unread, until the
 * peer ends too (its FIN or reset) or LINGER_MS pass.
 */
static void linger_close(struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLRDHUP | EPOLLET, .data.ptr = &c->item };

	oktlsd_relay_free(c->relay);
	c->relay = NULL;
	if (c->plain_fd >= 0)
		close(c->plain_fd);
	c->plain_fd = -1;
	if (shutdown(c->tls_fd, SHUT_WR) ||
	    epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->tls_fd, &ev)) {
		conn_close(c);
		return;
	}
	c->state = S_LINGER;
	timer_add(c, &c->w->linger, LINGER_MS);
}

static int watch(struct conn *c, int fd)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = &c->item,
	};

	if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		log_warn("%s: epoll: %s", c->name, strerror(errno));
		return -1;
	}
	return 0;
}

static int tcp_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Non-blocking connect to --backend; the fd, or -1 (logged). */
static int connect_backend(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (oktlsd_config_addr(oktlsd_cfg.backend, false, AF_UNSPEC, &ss, &len))
		return -1;
	fd = tcp_socket(ss.ss_family);
	if (fd < 0) {
		log_warn("%s: socket: %s", c->name, strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		log_info("%s: connect to %s: %s", c->name, oktlsd_cfg.backend, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The relay failed (TLS error, alert, a KeyUpdate it cannot follow): the
 * stream was cut, not finished. A reset, not a FIN, tells the plain side so;
 * a FIN would look like the peer's orderly end of its data.
 */
static void relay_failed(struct conn *c)
{
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };

	if (c->plain_fd >= 0)
		setsockopt(c->plain_fd, SOL_SOCKET, SO_LINGER, &abort_close,
			   sizeof(abort_close));
	if (oktlsd_relay_alerted(c->relay))
		linger_close(c);
	else
		conn_close(c);
}

static void start_relay(struct conn *c)
{
	int ret;

	timer_del(c);
	if (oktlsd_cfg.client && watch(c, c->plain_fd)) {
		conn_close(c);
		return;
	}
	c->relay = oktlsd_relay_new(c->tls_fd, c->plain_fd, c->pending,
				    c->pending_len, c->name);
	c->pending = NULL;
	if (!c->relay) {
		conn_close(c);
		return;
	}
	c->state = S_RELAY;
	ret = oktlsd_relay_pump(c->relay);
	if (ret < 0) {
		relay_failed(c);
	} else if (!ret) {
		log_debug("%s: closed", c->name);
		conn_close(c);
	}
}

static void backend_failed(struct conn *c, const char *why)
{
	atomic_fetch_add(&oktlsd_stats.backend_failed, 1);
	if (oktlsd_cfg.client) {
		/* The TLS server refused: the local client just sees a close. */
		log_info("%s: cannot reach TLS server %s: %s", c->name, oktlsd_cfg.backend, why);
	} else {
		log_info("%s: backend %s: %s: closing with internal_error", c->name,
			 oktlsd_cfg.backend, why);
		/* The TLS side is offloaded: the alert goes through the kernel. */
		oktlsd_relay_alert(c->tls_fd, SSL3_AL_FATAL, TLS1_AD_INTERNAL_ERROR);
		linger_close(c);
		return;
	}
	conn_close(c);
}

static void resumption_stats(struct conn *c, const char **kind)
{
	*kind = "new";
	if (!SSL_session_reused(c->ssl))
		return;
	if (SSL_version(c->ssl) == TLS1_3_VERSION) {
		*kind = "resumed psk";
		atomic_fetch_add(&oktlsd_stats.resumed_psk, 1);
	} else if (c->ticket_offered) {
		*kind = "resumed ticket";
		atomic_fetch_add(&oktlsd_stats.resumed_ticket, 1);
	} else {
		*kind = "resumed session-id";
		atomic_fetch_add(&oktlsd_stats.resumed_session_id, 1);
	}
}

/* ", client CN = x" for a verified client certificate, else "". */
static void client_subject(struct conn *c, char *buf, size_t size)
{
	X509 *peer = oktlsd_cfg.client ? NULL : SSL_get0_peer_certificate(c->ssl);
	BIO *b = peer ? BIO_new(BIO_s_mem()) : NULL;
	int n;

	buf[0] = 0;
	if (!b)
		return;
	/* One line, control characters escaped: the name comes from the peer. */
	BIO_puts(b, ", client ");
	X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_ONELINE);
	n = BIO_read(b, buf, size - 1);
	buf[n > 0 ? n : 0] = 0;
	BIO_free(b);
}

static void handshake_done(struct conn *c)
{
	struct oktls_result res;
	const char *kind;
	char subject[160];
	int ret;

	atomic_fetch_add(&oktlsd_stats.handshakes, 1);
	source_release(c);
	resumption_stats(c, &kind);
	ret = oktls_offload_flags(c->ssl, c->tls_fd, oktlsd_cfg.ulp,
				  oktlsd_cfg.no_kernel_keyupdate ? 0 : OKTLS_OFFLOAD_KEYUPDATE,
				  &res);
	if (ret) {
		atomic_fetch_add(&oktlsd_stats.offload_failed, 1);
		log_warn("%s: cannot offload %s %s: %s", c->name,
			 SSL_get_version(c->ssl), res.cipher, res.err);
		if (ret == -EOPNOTSUPP)
			/* Still OpenSSL's connection: it can end it with close_notify. */
			SSL_shutdown(c->ssl);
		conn_close(c);
		return;
	}
	atomic_fetch_add(&oktlsd_stats.offloaded, 1);
	c->kernel_keyupdate = res.kernel_keyupdate;
	if (res.kernel_keyupdate && oktlsd_cfg.rekey_records &&
	    setsockopt(c->tls_fd, SOL_TLS, OKTLS_TX_REKEY_RECORDS,
		       &oktlsd_cfg.rekey_records, sizeof(oktlsd_cfg.rekey_records)))
		log_warn("%s: setsockopt(OKTLS_TX_REKEY_RECORDS): %s", c->name,
			 strerror(errno));
	client_subject(c, subject, sizeof(subject));
	log_info("%s: %s %s %s, offloaded (tx seq %llu, rx seq %llu%s)%s", c->name,
		 SSL_get_version(c->ssl), res.cipher, kind,
		 (unsigned long long)res.tx_seq, (unsigned long long)res.rx_seq,
		 res.kernel_keyupdate ? ", kernel key updates" : "", subject);
	c->pending = res.pending;
	c->pending_len = res.pending_len;
	/*
	 * The kernel owns the keys now; drop OpenSSL's copies. Marked shut
	 * down first, or SSL_free() drops the session from the cache as if
	 * the connection had failed, and session-ID resumption never works.
	 */
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	c->ssl = NULL;
	if (oktlsd_cfg.client) {
		start_relay(c);
		return;
	}
	c->plain_fd = connect_backend(c);
	if (c->plain_fd < 0 || watch(c, c->plain_fd)) {
		backend_failed(c, "connect failed");
		return;
	}
	c->state = S_CONNECT_PLAIN;
}

/* Whether OpenSSL's queue holds reason from libssl (first or last entry). */
static bool ssl_reason_queued(int reason)
{
	unsigned long e[2] = { ERR_peek_error(), ERR_peek_last_error() };
	int i;

	for (i = 0; i < 2; i++)
		if (e[i] && ERR_GET_LIB(e[i]) == ERR_LIB_SSL && ERR_GET_REASON(e[i]) == reason)
			return true;
	return false;
}

static void handshake_failed(struct conn *c, int err)
{
	long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
	char buf[256];

	atomic_fetch_add(&oktlsd_stats.handshake_failed, 1);
	if (oktlsd_cfg.client && vr != X509_V_OK) {
		atomic_fetch_add(&oktlsd_stats.verify_failed, 1);
		ERR_clear_error();
		log_warn("%s: refused: the certificate of %s (%s) is not trusted: %s",
			 c->name, oktlsd_cfg.backend,
			 oktlsd_cfg.servername ? oktlsd_cfg.servername : "its host name",
			 X509_verify_cert_error_string(vr));
	} else if (!oktlsd_cfg.client && vr != X509_V_OK) {
		/* --verify-client: OpenSSL alone would say "certificate verify failed". */
		atomic_fetch_add(&oktlsd_stats.verify_failed, 1);
		ERR_clear_error();
		log_warn("%s: refused: the client certificate is not trusted by --ca %s: %s",
			 c->name, oktlsd_cfg.ca, X509_verify_cert_error_string(vr));
	} else if (!oktlsd_cfg.client &&
		   ssl_reason_queued(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)) {
		atomic_fetch_add(&oktlsd_stats.verify_failed, 1);
		ERR_clear_error();
		log_warn("%s: refused: the client sent no certificate (--verify-client requires one)",
			 c->name);
	} else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		log_info("%s: handshake aborted by the peer%s%s", c->name,
			 errno ? ": " : "", errno ? strerror(errno) : "");
	} else {
		log_info("%s: handshake failed: %s", c->name, oktlsd_log_ssl(buf, sizeof(buf)));
	}
	conn_close(c);
}

static void do_handshake(struct conn *c)
{
	int r, err;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		handshake_done(c);
		return;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return;
	handshake_failed(c, err);
}

static void ex_init(void);

int oktlsd_worker_hello_cb(SSL *ssl, int *al, void *arg)
{
	struct conn *c;

	pthread_once(&ex_once, ex_init);
	c = SSL_get_ex_data(ssl, ex_conn);
	const unsigned char *p;
	size_t len;

	if (c && SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_session_ticket, &p, &len) &&
	    len > 0)
		c->ticket_offered = true;
	return SSL_CLIENT_HELLO_SUCCESS;
}

static void ex_init(void)
{
	ex_conn = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int start_tls(struct conn *c)
{
	const char *host = oktlsd_cfg.servername;
	struct in6_addr ip;
	char buf[256];

	c->ssl = oktlsd_main_ssl_new();
	if (!c->ssl || !SSL_set_fd(c->ssl, c->tls_fd))
		goto fail;
	SSL_set_ex_data(c->ssl, ex_conn, c);
	if (!oktlsd_cfg.client) {
		SSL_set_accept_state(c->ssl);
	} else {
		if (!host) {
			/* --backend's host part names the server. */
			const char *colon = strrchr(oktlsd_cfg.backend, ':');
			const char *b = oktlsd_cfg.backend;

			snprintf(buf, sizeof(buf), "%.*s",
				 (int)(colon ? colon - b : (long)strlen(b)), b);
			if (buf[0] == '[') {
				memmove(buf, buf + 1, strlen(buf));
				buf[strcspn(buf, "]")] = 0;
			}
			host = buf;
		}
		if (inet_pton(AF_INET, host, &ip) == 1 || inet_pton(AF_INET6, host, &ip) == 1) {
			/* An address: checked against IP SANs, and no SNI. */
			if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host))
				goto fail;
		} else {
			if (!SSL_set1_host(c->ssl, host))
				goto fail;
			SSL_set_tlsext_host_name(c->ssl, host);
		}
		SSL_set_connect_state(c->ssl);
	}
	c->state = S_HANDSHAKE;
	do_handshake(c);
	return 0;
fail:
	log_warn("%s: TLS setup: %s", c->name, oktlsd_log_ssl(buf, sizeof(buf)));
	conn_close(c);
	return -1;
}

/* 1 connected, 0 still connecting, -1 failed (errno set). */
static int connected(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err) {
		errno = err;
		return -1;
	}
	len = sizeof(ss);
	return getpeername(fd, (struct sockaddr *)&ss, &len) ? 0 : 1;
}

/* Whether the peer ended the stream (FIN or reset) or the socket failed. */
static bool peer_ended(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void conn_event(struct conn *c, uint32_t events)
{
	int ret;

	switch (c->state) {
	case S_CONNECT_TLS:
		ret = connected(c->tls_fd);
		if (ret < 0)
			backend_failed(c, strerror(errno));
		else if (ret > 0)
			start_tls(c);
		return;
	case S_HANDSHAKE:
		do_handshake(c);
		return;
	case S_CONNECT_PLAIN:
		ret = connected(c->plain_fd);
		if (ret < 0)
			backend_failed(c, strerror(errno));
		else if (ret > 0)
			start_relay(c);
		return;
	case S_RELAY:
		ret = oktlsd_relay_pump(c->relay);
		if (ret < 0)
			relay_failed(c);
		else if (!ret)
			conn_close(c);
		return;
	case S_LINGER:
		/* The event may be the backend socket's, from this batch: ask. */
		if (peer_ended(c->tls_fd))
			conn_close(c);
		return;
	case S_DEAD:
		return;
	}
}

static void accept_one(struct oktlsd_worker *w, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sockaddr_storage ts;
	struct conn *c;
	socklen_t tl;
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	atomic_fetch_add(&oktlsd_stats.accepted, 1);
	if (atomic_load(&oktlsd_stats.active) >= oktlsd_cfg.max_conns) {
		atomic_fetch_add(&oktlsd_stats.refused_limit, 1);
		log_debug("refused a connection: --max-conns %d reached", oktlsd_cfg.max_conns);
		close(fd);
		return;
	}
	if (!oktlsd_limits_get(&ss)) {
		char a[64];

		oktlsd_log_addr(&ss, a, sizeof(a));
		atomic_fetch_add(&oktlsd_stats.refused_limit, 1);
		log_info("%s: refused: --max-per-source %d handshakes in progress", a,
			 oktlsd_cfg.max_per_source);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		oktlsd_limits_put(&ss);
		close(fd);
		return;
	}
	c->item.kind = K_CONN;
	c->w = w;
	c->peer = ss;
	c->source_held = true;
	c->tls_fd = c->plain_fd = -1;
	oktlsd_log_addr(&ss, c->name, sizeof(c->name));
	c->all_next = w->all;
	if (w->all)
		w->all->all_prev = c;
	w->all = c;
	w->nconns++;
	atomic_fetch_add(&oktlsd_stats.active, 1);
	timer_add(c, &w->handshake, oktlsd_cfg.handshake_timeout_ms);
	if (oktlsd_cfg.client) {
		/* The local side is watched once the TLS side is offloaded. */
		c->plain_fd = fd;
		c->state = S_CONNECT_TLS;
		if (oktlsd_config_addr(oktlsd_cfg.backend, false, AF_UNSPEC, &ts, &tl))
			goto fail;
		c->tls_fd = tcp_socket(ts.ss_family);
		if (c->tls_fd < 0 || watch(c, c->tls_fd))
			goto fail;
		if (connect(c->tls_fd, (struct sockaddr *)&ts, tl) && errno != EINPROGRESS) {
			backend_failed(c, strerror(errno));
			return;
		}
		return;
	}
	c->tls_fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (watch(c, fd))
		goto fail;
	start_tls(c);
	return;
fail:
	conn_close(c);
}

static void listen_ctl(struct oktlsd_worker *w, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	int i;

	for (i = 0; i < w->nlisten; i++) {
		ev.data.ptr = &w->listen[i];
		epoll_ctl(w->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->listen[i].fd, &ev);
	}
	w->listening = on;
}

/* Milliseconds to the first deadline, or -1. */
static int next_timeout(struct oktlsd_worker *w, long long now)
{
	long long first = -1;
	struct conn *heads[2] = { w->handshake.head, w->linger.head };
	int i;

	for (i = 0; i < 2; i++)
		if (heads[i] && (first < 0 || heads[i]->deadline < first))
			first = heads[i]->deadline;
	return first < 0 ? -1 : (int)(first - now);
}

static void *worker_main(void *arg)
{
	struct oktlsd_worker *w = arg;
	struct epoll_event evs[64];
	long long drain_end = 0, now;
	int i, n, timeout;
	uint64_t v;

	for (;;) {
		if (atomic_load(&oktlsd_draining)) {
			if (w->listening) {
				listen_ctl(w, false);
				drain_end = now_ms() + oktlsd_cfg.drain_timeout_ms;
			}
			if (!w->nconns)
				break;
		}
		now = now_ms();
		while (w->handshake.head && w->handshake.head->deadline <= now) {
			atomic_fetch_add(&oktlsd_stats.handshake_timeout, 1);
			log_info("%s: handshake timeout", w->handshake.head->name);
			conn_close(w->handshake.head);
		}
		while (w->linger.head && w->linger.head->deadline <= now) {
			log_info("%s: the peer did not end after our alert in %d ms: closed",
				 w->linger.head->name, LINGER_MS);
			conn_close(w->linger.head);
		}
		if (drain_end && now >= drain_end) {
			log_warn("worker %d: drain timeout, closing %ld connections", w->id, w->nconns);
			break;
		}
		timeout = next_timeout(w, now);
		if (drain_end && (timeout < 0 || timeout > drain_end - now))
			timeout = drain_end - now;
		if (w->dead)
			timeout = 0;
		while (w->dead) {
			struct conn *d = w->dead;

			w->dead = d->dead_next;
			free(d);
		}
		n = epoll_wait(w->epfd, evs, 64, timeout);
		for (i = 0; i < n; i++) {
			struct item *it = evs[i].data.ptr;

			switch (it->kind) {
			case K_LISTEN:
				if (w->listening)
					accept_one(w, it->fd);
				break;
			case K_WAKE:
				if (read(it->fd, &v, sizeof(v)) < 0)
					break;
				break;
			case K_CONN:
				conn_event((struct conn *)it, evs[i].events);
				break;
			}
		}
	}
	/* Drain timeout: what is left is closed; the epoll registrations go with the fds. */
	return NULL;
}

struct oktlsd_worker *oktlsd_worker_start(const int *listen_fds, int n, int id)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct oktlsd_worker *w;
	int i;

	pthread_once(&ex_once, ex_init);
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->id = id;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake.kind = K_WAKE;
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->wake.fd < 0)
		goto fail;
	ev.data.ptr = &w->wake;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake.fd, &ev))
		goto fail;
	for (i = 0; i < n; i++) {
		w->listen[i].kind = K_LISTEN;
		w->listen[i].fd = listen_fds[i];
	}
	w->nlisten = n;
	listen_ctl(w, true);
	if (pthread_create(&w->thread, NULL, worker_main, w))
		goto fail;
	return w;
fail:
	log_err("worker %d: %s", id, strerror(errno));
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake.fd >= 0)
		close(w->wake.fd);
	free(w);
	return NULL;
}

void oktlsd_worker_wake(struct oktlsd_worker *w)
{
	uint64_t one = 1;

	if (write(w->wake.fd, &one, sizeof(one)) < 0)
		log_debug("worker %d: wake: %s", w->id, strerror(errno));
}

void oktlsd_worker_join(struct oktlsd_worker *w)
{
	struct conn *c;

	pthread_join(w->thread, NULL);
	/* Connections left by a drain timeout. */
	while (w->all)
		conn_close(w->all);
	close(w->epfd);
	close(w->wake.fd);
	while (w->dead) {
		c = w->dead;
		w->dead = c->dead_next;
		free(c);
	}
	free(w);
}
