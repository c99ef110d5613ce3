// SPDX-License-Identifier: MIT
/*
 * Scale rows that are not throughput: kernel memory per idle socket with
 * keys installed, the cost of installing keys, and the handshake rate of
 * TLS servers (openssl s_server, nginx, oktlsd) for short connections.
 */
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static long meminfo_kb(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = atol(line + strlen(key) + 1);
	if (f)
		fclose(f);
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* socks sockets (socks/2 connected pairs), each with TLS_TX and TLS_RX */
static void mem_one(const char *ulp, unsigned int round, unsigned int socks)
{
	const struct bcipher *c = &bciphers[0];
	unsigned int i, n = 0, pairs = socks / 2;
	int *fds = calloc(socks, sizeof(int));
	uint64_t *ins = calloc(socks, sizeof(uint64_t));
	long slab0, slab1, used0, used1;
	uint64_t sum = 0;
	struct linger lg = { 1, 0 };
	struct bkeys k;
	uint8_t ci[64];
	size_t cl;
	uint16_t port;
	int l = bench_listen(&port);

	bench_fixed_keys(c, &k);
	cl = bench_crypto_info(c, 13, &k, ci);
	sync();
	usleep(100000);
	slab0 = meminfo_kb("Slab");
	used0 = meminfo_kb("MemTotal") - meminfo_kb("MemFree");
	for (i = 0; i < pairs; i++) {
		if (bench_pair(l, port, &fds[2 * i], &fds[2 * i + 1])) {
			printf("BENCH fail mem %s %u pair %u: %s\n", ulp, round, i, strerror(errno));
			goto out;
		}
		n += 2;
		for (int s = 0; ulp && s < 2; s++) {
			int fd = fds[2 * i + s];
			uint64_t t0 = bench_now();

			if (setsockopt(fd, SOL_TCP, TCP_ULP, ulp, strlen(ulp)) ||
			    setsockopt(fd, SOL_TLS, TLS_TX, ci, cl) ||
			    setsockopt(fd, SOL_TLS, TLS_RX, ci, cl)) {
				printf("BENCH fail mem %s %u socket %u: %s\n", ulp, round,
				       2 * i + s, strerror(errno));
				goto out;
			}
			ins[2 * i + s] = bench_now() - t0;
			sum += ins[2 * i + s];
		}
	}
	usleep(100000);
	slab1 = meminfo_kb("Slab");
	used1 = meminfo_kb("MemTotal") - meminfo_kb("MemFree");
	qsort(ins, n, sizeof(*ins), cmp_u64);
	/* BENCH mem IMPL ROUND SOCKETS SLAB_BYTES_PER_SOCK USED_BYTES_PER_SOCK
	 *           INSTALL_NS_MEDIAN INSTALL_NS_MEAN */
	printf("BENCH mem %s %u %u %.0f %.0f %llu %llu\n", ulp ? ulp : "tcp", round, n,
	       (slab1 - slab0) * 1024.0 / n, (used1 - used0) * 1024.0 / n,
	       ulp ? (unsigned long long)ins[n / 2] : 0ULL,
	       ulp ? (unsigned long long)(sum / n) : 0ULL);
out:
	fflush(stdout);
	for (i = 0; i < n; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fds[i]);
	}
	close(l);
	free(fds);
	free(ins);
	usleep(300000);
}

void bench_mem(unsigned int rounds, unsigned int socks)
{
	struct rlimit rl = { socks + 1024, socks + 1024 };
	unsigned int r;

	if (setrlimit(RLIMIT_NOFILE, &rl))
		printf("BENCH note mem: setrlimit: %s\n", strerror(errno));
	for (r = 0; r < rounds; r++) {
		mem_one(NULL, r, socks);
		mem_one("oktls", r, socks);
		mem_one("tls", r, socks);
	}
}

/* ---- handshake rate: short connections, handshake + GET 1 KiB + close */

#define WORK "/tmp/oktls-bench-hs"
#define BODY 1024

static pid_t spawn(char *const argv[])
{
	pid_t p = fork();

	if (p == 0) {
		int nul = open("/dev/null", O_RDWR);

		if (chdir(WORK)) {}
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return p;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (void *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int wait_port(uint16_t port)
{
	for (int i = 0; i < 300; i++) {
		int fd = tcp_connect(port);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(20000);
	}
	return -1;
}

static int one_get(SSL_CTX *ctx, uint16_t port)
{
	static const char req[] = "GET /1k HTTP/1.0\r\nHost: localhost\r\n\r\n";
	char buf[4096];
	int fd = tcp_connect(port), n, total = 0, ok = -1;
	SSL *s;

	if (fd < 0)
		return -1;
	s = SSL_new(ctx);
	SSL_set_fd(s, fd);
	if (SSL_connect(s) == 1 && SSL_write(s, req, sizeof(req) - 1) > 0) {
		while ((n = SSL_read(s, buf, sizeof(buf))) > 0)
			total += n;
		/* the body is BODY bytes of 'x' after the headers */
		ok = total >= BODY ? 0 : -1;
	}
	SSL_free(s);
	close(fd);
	return ok;
}

/* oktlsd's plaintext backend: read the request, answer, close */
static void *backend(void *arg)
{
	int l = *(int *)arg;
	char req[1024], resp[BODY + 128];
	int hl = snprintf(resp, sizeof(resp),
			  "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n", BODY);

	memset(resp + hl, 'x', BODY);
	for (;;) {
		int fd = accept(l, NULL, NULL);

		if (fd < 0)
			return NULL;
		if (recv(fd, req, sizeof(req), 0) > 0 &&
		    send(fd, resp, hl + BODY, MSG_NOSIGNAL) < 0) {}
		close(fd);
	}
}

struct server {
	const char *name;
	pid_t pid;
	uint16_t port;
};

void bench_handshakes(unsigned int rounds, unsigned int count)
{
	static const char *oktlsd = "/usr/bin/oktlsd", *nginx = "/usr/sbin/nginx",
			  *openssl = "/usr/bin/openssl";
	struct server sv[3] = {
		{ .name = "s_server" }, { .name = "nginx" }, { .name = "oktlsd" } };
	char port[3][32], bport[32], body[BODY];
	unsigned int nsv = 0, r, i, j;
	SSL_CTX *ctx = bench_ossl_ctx(0, NULL, 13);
	uint16_t bp;
	pthread_t bt;
	FILE *f;
	int bl;

	mkdir(WORK, 0755);
	mkdir(WORK "/tmp", 0755);
	if (bench_ossl_write_pem(WORK "/cert.pem", WORK "/key.pem"))
		return;
	memset(body, 'x', BODY);
	f = fopen(WORK "/1k", "w");
	fwrite(body, 1, BODY, f);
	fclose(f);
	for (i = 0; i < 3; i++) {
		sv[i].port = 9443 + i;
		snprintf(port[i], sizeof(port[i]), "127.0.0.1:%u", sv[i].port);
	}

	if (access(openssl, X_OK) == 0) {
		char *argv[] = { (char *)openssl, "s_server", "-accept", port[0], "-cert",
				 WORK "/cert.pem", "-key", WORK "/key.pem", "-WWW", "-quiet",
				 "-naccept", "1000000", NULL };

		sv[0].pid = spawn(argv);
	} else {
		printf("BENCH note handshake: s_server skipped: no %s\n", openssl);
	}
	if (access(nginx, X_OK) == 0) {
		char *argv[] = { (char *)nginx, "-c", WORK "/nginx.conf", "-p", WORK, NULL };

		f = fopen(WORK "/nginx.conf", "w");
		fprintf(f, "daemon off; master_process off; user root; worker_processes 1;\n"
			"pid %s/nginx.pid; error_log %s/error.log error;\n"
			"events { worker_connections 1024; }\n"
			"http { access_log off; sendfile on; client_body_temp_path %s/tmp;\n"
			" proxy_temp_path %s/tmp; fastcgi_temp_path %s/tmp;\n"
			" uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;\n"
			" server { listen %s ssl; ssl_certificate %s/cert.pem;\n"
			"  ssl_certificate_key %s/key.pem; ssl_protocols TLSv1.2 TLSv1.3;\n"
			"  ssl_session_tickets off; root %s; } }\n",
			WORK, WORK, WORK, WORK, WORK, WORK, WORK, port[1], WORK, WORK, WORK);
		fclose(f);
		sv[1].pid = spawn(argv);
	} else {
		printf("BENCH note handshake: nginx skipped: no %s\n", nginx);
	}
	if (access(oktlsd, X_OK) == 0) {
		char *argv[] = { (char *)oktlsd, "--listen", port[2], "--backend", bport,
				 "--cert", WORK "/cert.pem", "--key", WORK "/key.pem",
				 "--log-level", "error", NULL };

		bl = bench_listen(&bp);
		snprintf(bport, sizeof(bport), "127.0.0.1:%u", bp);
		pthread_create(&bt, NULL, backend, &bl);
		pthread_detach(bt);
		sv[2].pid = spawn(argv);
	} else {
		printf("BENCH note handshake: oktlsd skipped: not built (userspace/oktlsd)\n");
	}
	for (i = 0; i < 3; i++) {
		if (sv[i].pid > 0 && wait_port(sv[i].port)) {
			printf("BENCH note handshake: %s did not start\n", sv[i].name);
			kill(sv[i].pid, SIGKILL);
			sv[i].pid = 0;
		}
		if (sv[i].pid > 0)
			nsv++;
	}
	fflush(stdout);
	for (r = 0; nsv && r < rounds; r++) {
		for (i = 0; i < 3; i++) {
			uint64_t t0, c0[3], c1[3];
			unsigned int ok = 0;

			if (sv[i].pid <= 0)
				continue;
			bench_cpu_snap(c0);
			t0 = bench_now();
			for (j = 0; j < count; j++)
				ok += one_get(ctx, sv[i].port) == 0;
			t0 = bench_now() - t0;
			bench_cpu_snap(c1);
			/* BENCH hs SERVER ROUND OK COUNT NS CPU_NS */
			printf("BENCH hs %s %u %u %u %llu %llu\n", sv[i].name, r, ok, count,
			       (unsigned long long)t0, (unsigned long long)(c1[0] - c0[0]));
			fflush(stdout);
		}
	}
	for (i = 0; i < 3; i++) {
		if (sv[i].pid > 0) {
			kill(sv[i].pid, SIGTERM);
			waitpid(sv[i].pid, NULL, 0);
		}
	}
	SSL_CTX_free(ctx);
}
