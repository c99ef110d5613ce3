/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the oktlsd guest tests: the test PKI (made with the
 * openssl command line at test time), child processes with pipes, a poll
 * pump that moves deterministic streams and hashes both ends with SHA-256,
 * and the daemon's fd count and RSS from /proc.
 */
#ifndef OKTLSD_TEST_COMMON_H
#define OKTLSD_TEST_COMMON_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PKI "/tmp/oktlsd-pki"

/* $1 is the directory. EC P-256 keys: handshakes are cheap under TCG. */
static const char pki_script[] =
	"d=$1\n"
	"mkdir -p \"$d\"\n"
	"cd \"$d\"\n"
	"[ -f done ] && exit 0\n"
	"key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$1\" 2>/dev/null; }\n"
	"key ca.key\n"
	"openssl req -x509 -new -key ca.key -subj /CN=oktls-test-ca -days 2 -out ca.pem 2>/dev/null\n"
	"key other-ca.key\n"
	"openssl req -x509 -new -key other-ca.key -subj /CN=unknown-ca -days 2 -out other-ca.pem 2>/dev/null\n"
	"printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\\n' >san.ext\n"
	"printf 'subjectAltName=DNS:wrong.example\\n' >wrong.ext\n"
	"for n in server client wrong unknown expired; do\n"
	"	key $n.key\n"
	"	openssl req -new -key $n.key -subj /CN=$n -out $n.csr 2>/dev/null\n"
	"done\n"
	"sign() { # name ca ext\n"
	"	openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial \\\n"
	"		-days 2 -extfile $3 -out $1.crt 2>/dev/null\n"
	"}\n"
	"sign server ca san.ext\n"
	"sign client ca san.ext\n"
	"sign wrong ca wrong.ext\n"
	"sign unknown other-ca san.ext\n"
	"# openssl x509 cannot back-date; openssl ca can, with a minimal config.\n"
	": >index.txt\n"
	"echo 01 >serial\n"
	"cat >ca.cnf <<EOC\n"
	"[ca]\n"
	"default_ca = d\n"
	"[d]\n"
	"database = $d/index.txt\n"
	"new_certs_dir = $d\n"
	"serial = $d/serial\n"
	"default_md = sha256\n"
	"policy = p\n"
	"copy_extensions = none\n"
	"x509_extensions = e\n"
	"[p]\n"
	"commonName = supplied\n"
	"[e]\n"
	"subjectAltName = DNS:localhost,IP:127.0.0.1\n"
	"EOC\n"
	"openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr \\\n"
	"	-out expired.crt -startdate 20200101000000Z -enddate 20200102000000Z -notext 2>/dev/null\n"
	"for n in server client wrong unknown expired; do cat $n.crt $n.key >$n.pem; done\n"
	"touch done\n"
	"\n"	;

static inline int make_pki(void)
{
	char cmd[sizeof(pki_script) + 64];
	FILE *f = fopen("/tmp/oktlsd-pki.sh", "w");

	if (!f)
		return -1;
	fputs("set -e\n", f);
	fputs(pki_script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh /tmp/oktlsd-pki.sh %s", PKI);
	return system(cmd);
}

static inline long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* A port nobody listens on right now. */
static inline int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, len);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Wait until something listens on port (from /proc/net/tcp{,6}). */
static inline int wait_listen(int port, int ms)
{
	long long end = mono_ms() + ms;
	char line[512], want[16];
	const char *files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	int i;

	snprintf(want, sizeof(want), ":%04X ", port);
	while (mono_ms() < end) {
		for (i = 0; i < 2; i++) {
			FILE *f = fopen(files[i], "r");

			while (f && fgets(line, sizeof(line), f)) {
				char *p = strstr(line, want);

				/* local address field, state 0A (LISTEN) */
				if (p && p < line + 60 && strstr(p, " 0A "))
					return fclose(f), 0;
			}
			if (f)
				fclose(f);
		}
		usleep(20000);
	}
	return -1;
}

static inline int tcp_connect_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static inline int tcp_listen_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* accept() with a timeout in ms; the fd or -1. */
static inline int accept_ms(int lfd, int ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

struct child {
	pid_t pid;
	int in, out;		/* our ends of its stdin and stdout, or -1 */
};

/* argv[0] run with stdin/stdout as pipes (if wanted), stderr to errpath. */
static inline int spawn(struct child *c, char *const argv[], bool pipes,
			const char *errpath)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };

	if (pipes && (pipe(in) || pipe(out)))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (!c->pid) {
		int e = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (pipes) {
			dup2(in[0], 0);
			dup2(out[1], 1);
		} else {
			int n = open("/dev/null", O_RDWR);

			dup2(n, 0);
			dup2(e, 1);
		}
		dup2(e, 2);
		/* The parent may hold thousands of sockets: none go along. */
		syscall(SYS_close_range, 3, ~0U, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	c->in = in[1];
	c->out = out[0];
	if (pipes) {
		close(in[0]);
		close(out[1]);
	}
	return 0;
}

/*
 * OKTLS_TIMEOUT_SCALE: the debug kernel's factor for the harness's alarms
 * (qemu/timescale.c); the tests' own waits and the daemon's timeouts
 * stretch with them.
 */
static inline int timeout_scale(void)
{
	const char *env = getenv("OKTLS_TIMEOUT_SCALE");
	int n = env ? atoi(env) : 1;

	return n >= 1 && n <= 100 ? n : 1;
}

/* Exit status of the child within ms, or -1 (then it is killed). */
static inline int reap(struct child *c, int ms)
{
	long long end = mono_ms() + ms;
	int st;

	if (c->pid <= 0)
		return -1;
	while (mono_ms() < end) {
		if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
			c->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &st, 0);
	c->pid = 0;
	return -1;
}

/*
 * A flow writes total bytes of a deterministic stream to wfd and reads
 * them back from rfd, hashing both ends.
 */
struct flow {
	int wfd, rfd;
	unsigned long long total, wdone, rdone;
	EVP_MD_CTX *wh, *rh;
	unsigned char wsum[32], rsum[32];
};

static inline void flow_init(struct flow *f, int wfd, int rfd, unsigned long long total)
{
	memset(f, 0, sizeof(*f));
	f->wfd = wfd;
	f->rfd = rfd;
	f->total = total;
	f->wh = EVP_MD_CTX_new();
	f->rh = EVP_MD_CTX_new();
	EVP_DigestInit_ex(f->wh, EVP_sha256(), NULL);
	EVP_DigestInit_ex(f->rh, EVP_sha256(), NULL);
	fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
	fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
}

/* The stream: a 64-bit LCG per 8-byte word of its offset, seeded per flow. */
static inline void flow_fill(unsigned char *buf, size_t len, unsigned long long off,
			     unsigned long long seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned long long w = ((off + i) >> 3) * 6364136223846793005ULL + seed;

		w ^= w >> 29;
		buf[i] = w >> (((off + i) & 7) * 8);
	}
}

/* Move every flow to completion; 0, or -1 on EOF/error/timeout. */
static inline int pump_flows(struct flow *fl, int n, int timeout_ms)
{
	static unsigned char buf[65536];
	long long end = mono_ms() + timeout_ms;
	struct pollfd p[8];
	int i, k, done;
	ssize_t r;

	for (;;) {
		done = 1;
		k = 0;
		for (i = 0; i < n; i++) {
			if (fl[i].wdone < fl[i].total)
				p[k++] = (struct pollfd){ .fd = fl[i].wfd, .events = POLLOUT };
			if (fl[i].rdone < fl[i].total)
				p[k++] = (struct pollfd){ .fd = fl[i].rfd, .events = POLLIN };
			if (fl[i].rdone < fl[i].total)
				done = 0;
		}
		if (done)
			break;
		if (mono_ms() > end || poll(p, k, 1000) < 0)
			return -1;
		for (i = 0; i < n; i++) {
			struct flow *f = &fl[i];

			if (f->wdone < f->total) {
				size_t len = sizeof(buf);

				if (len > f->total - f->wdone)
					len = f->total - f->wdone;
				flow_fill(buf, len, f->wdone, i + 1);
				r = write(f->wfd, buf, len);
				if (r > 0) {
					EVP_DigestUpdate(f->wh, buf, r);
					f->wdone += r;
					if (f->wdone == f->total)
						EVP_DigestFinal_ex(f->wh, f->wsum, NULL);
				} else if (r < 0 && errno != EAGAIN) {
					return -1;
				}
			}
			if (f->rdone < f->total) {
				r = read(f->rfd, buf, sizeof(buf));
				if (r > 0) {
					EVP_DigestUpdate(f->rh, buf, r);
					f->rdone += r;
					if (f->rdone >= f->total)
						EVP_DigestFinal_ex(f->rh, f->rsum, NULL);
				} else if (r == 0 || errno != EAGAIN) {
					return -1;
				}
			}
		}
	}
	return 0;
}

static inline void flow_free(struct flow *f)
{
	EVP_MD_CTX_free(f->wh);
	EVP_MD_CTX_free(f->rh);
}

static inline void hex32(const unsigned char *s, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", s[i]);
}

static inline int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Whether file contains needle. */
static inline bool file_has(const char *path, const char *needle)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle);
	if (f)
		fclose(f);
	return found;
}

/* Whether needle shows up in the file within ms. */
static inline bool file_wait(const char *path, const char *needle, int ms)
{
	long long end = mono_ms() + ms;

	while (!file_has(path, needle)) {
		if (mono_ms() > end)
			return false;
		usleep(20000);
	}
	return true;
}

/* Lines of the file holding needle, or holding both needle and also. */
static inline int file_count(const char *path, const char *needle, const char *also)
{
	char line[2048];
	FILE *f = fopen(path, "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) && (!also || strstr(line, also));
	if (f)
		fclose(f);
	return n;
}

static inline void dump_file(const char *path, int max_lines)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	while (f && fgets(line, sizeof(line), f) && n++ < max_lines)
		printf("# | %s", line);
	if (f)
		fclose(f);
	fflush(stdout);
}

#endif
