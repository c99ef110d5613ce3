// SPDX-License-Identifier: GPL-2.0
/* Helpers for the stress and random-call tests; see stress.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "lib/net.h"
#include "lib/stress.h"

int stress_seconds(const char *env, int def, int max)
{
	const char *s = getenv(env);
	long v = s && *s ? strtol(s, NULL, 0) : def;

	if (v < 1)
		v = def;
	return v > max ? max : v;
}

void stress_pat_fill(uint8_t *buf, size_t len, int cls, uint64_t pos)
{
	unsigned int v = pos % STRESS_MOD;
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] = cls * STRESS_MOD + v;
		if (++v == STRESS_MOD)
			v = 0;
	}
}

void stress_seen_init(struct stress_seen *s, bool ordered)
{
	memset(s, 0, sizeof(*s));
	s->ordered = ordered;
	memset(s->last, 0xff, sizeof(s->last));
}

bool stress_seen_data(struct stress_seen *s, const uint8_t *p, size_t n,
		      bool count, char *why, size_t whylen)
{
	uint64_t run[STRESS_CLASSES] = {};
	int last[STRESS_CLASSES], c, v, want;
	size_t i;

	for (c = 0; c < STRESS_CLASSES; c++)
		last[c] = -1;
	for (i = 0; i < n; i++) {
		c = p[i] / STRESS_MOD;
		v = p[i] % STRESS_MOD;
		if (c >= STRESS_CLASSES) {
			snprintf(why, whylen,
				 "byte %zu of a %zu-byte data read is %#x: no stream byte",
				 i, n, p[i]);
			return false;
		}
		if (s->ordered)
			want = (s->bytes[c] + run[c]) % STRESS_MOD;
		else
			want = last[c] < 0 ? v : (last[c] + 1) % STRESS_MOD;
		if (v != want) {
			snprintf(why, whylen,
				 "byte %zu of a %zu-byte data read: class %d value %d, expected %d (class bytes so far %llu%s)",
				 i, n, c, v, want,
				 (unsigned long long)s->bytes[c],
				 s->ordered ? ", in order" : "");
			return false;
		}
		last[c] = v;
		run[c]++;
	}
	if (!count)
		return true;
	for (i = 0; i < n; i++) {
		c = p[i] / STRESS_MOD;
		s->hist[c][p[i] % STRESS_MOD]++;
	}
	for (c = 0; c < STRESS_CLASSES; c++) {
		s->bytes[c] += run[c];
		if (run[c])
			s->last[c] = last[c];
	}
	return true;
}

bool stress_seen_ctrl(struct stress_seen *s, const uint8_t *p, size_t n,
		      bool count, char *why, size_t whylen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != STRESS_CTRL) {
			snprintf(why, whylen,
				 "byte %zu of a %zu-byte control record is %#x",
				 i, n, p[i]);
			return false;
		}
	}
	if (count) {
		s->ctrl_bytes += n;
		s->ctrl_recs++;
	}
	return true;
}

void stress_seen_merge(struct stress_seen *a, const struct stress_seen *b)
{
	int c, v;

	for (c = 0; c < STRESS_CLASSES; c++) {
		a->bytes[c] += b->bytes[c];
		for (v = 0; v < STRESS_MOD; v++)
			a->hist[c][v] += b->hist[c][v];
	}
	a->ctrl_bytes += b->ctrl_bytes;
	a->ctrl_recs += b->ctrl_recs;
}

bool stress_seen_all(const struct stress_seen *s, const uint64_t *sent,
		     uint64_t ctrl, char *why, size_t whylen)
{
	uint64_t want;
	int c, v;

	for (c = 0; c < STRESS_CLASSES; c++) {
		if (s->bytes[c] != sent[c]) {
			snprintf(why, whylen,
				 "class %d: %llu bytes sent, %llu received", c,
				 (unsigned long long)sent[c],
				 (unsigned long long)s->bytes[c]);
			return false;
		}
		for (v = 0; v < STRESS_MOD; v++) {
			want = sent[c] / STRESS_MOD + (v < (int)(sent[c] % STRESS_MOD));
			if (s->hist[c][v] != want) {
				snprintf(why, whylen,
					 "class %d value %d: %llu sent, %llu received",
					 c, v, (unsigned long long)want,
					 (unsigned long long)s->hist[c][v]);
				return false;
			}
		}
	}
	if (s->ctrl_bytes != ctrl) {
		snprintf(why, whylen, "control bytes: %llu sent, %llu received",
			 (unsigned long long)ctrl,
			 (unsigned long long)s->ctrl_bytes);
		return false;
	}
	return true;
}

void stress_fail_init(struct stress_fail *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
}

void stress_failf(struct stress_fail *f, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&f->lock);
	if (!f->count++) {
		va_start(ap, fmt);
		vsnprintf(f->first, sizeof(f->first), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&f->lock);
}

void stress_count(struct stress_errs *e, long ret)
{
	size_t n = sizeof(e->err) / sizeof(e->err[0]);
	long err = -ret;

	__atomic_fetch_add(&e->calls, 1, __ATOMIC_RELAXED);
	if (ret >= 0)
		__atomic_fetch_add(&e->ok, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&e->err[err < (long)n ? err : 0], 1,
				   __ATOMIC_RELAXED);
}

const char *stress_errs_str(const struct stress_errs *e, char *buf, size_t len)
{
	size_t n = sizeof(e->err) / sizeof(e->err[0]), i;
	const char *name;
	int off;

	off = snprintf(buf, len, "calls %lu ok %lu", e->calls, e->ok);
	for (i = 0; i < n && off > 0 && (size_t)off < len; i++) {
		if (!e->err[i])
			continue;
		name = i ? strerrorname_np(i) : NULL;
		off += snprintf(buf + off, len - off, " %s%s %lu",
				name ? name : "errno",
				name ? "" : (i ? "?" : ">159"), e->err[i]);
	}
	return buf;
}

bool stress_errno_in(int err, const int *list)
{
	for (; *list; list++)
		if (*list == err)
			return true;
	return false;
}

/* Threads the watchdog reports on. */
#define MAX_THREADS	64
static struct stress_thread *threads[MAX_THREADS];
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;

static void *trampoline(void *arg)
{
	struct stress_thread *t = arg;

	__atomic_store_n(&t->tid, gettid(), __ATOMIC_RELEASE);
	return t->fn(t->arg);
}

int stress_start(struct stress_thread *t, const char *name,
		 void *(*fn)(void *), void *arg)
{
	int i, err;

	t->name = name;
	t->op = "starting";
	t->tid = 0;
	t->fn = fn;
	t->arg = arg;
	err = pthread_create(&t->thr, NULL, trampoline, t);
	t->running = !err;
	if (err)
		return err;
	pthread_mutex_lock(&threads_lock);
	for (i = 0; i < MAX_THREADS; i++) {
		if (!threads[i]) {
			threads[i] = t;
			break;
		}
	}
	pthread_mutex_unlock(&threads_lock);
	return 0;
}

static void forget(struct stress_thread *t)
{
	int i;

	pthread_mutex_lock(&threads_lock);
	for (i = 0; i < MAX_THREADS; i++)
		if (threads[i] == t)
			threads[i] = NULL;
	pthread_mutex_unlock(&threads_lock);
}

int stress_join(struct stress_thread *t, int n, long long deadline,
		char *why, size_t whylen)
{
	struct timespec ts;
	long long left;
	int i, stuck = 0, off = 0;

	if (whylen)
		why[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!t[i].running)
			continue;
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += left % 1000 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(t[i].thr, NULL, &ts)) {
			stuck++;
			if (off >= 0 && (size_t)off < whylen)
				off += snprintf(why + off, whylen - off,
						"%s%s in %s", stuck > 1 ? ", " : "",
						t[i].name, t[i].op);
			continue;
		}
		t[i].running = false;
		forget(&t[i]);
	}
	return stuck;
}

/* "S sk_stream_wait_memory<-tcp_sendmsg_locked<-..." for thread tid. */
static void kernel_where(int tid, char *buf, size_t len)
{
	char path[64], stack[2048], stat[512], *p, *q, *end;
	size_t off = 0;
	int frames = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	p = read_file(path, stat, sizeof(stat)) > 0 ? strrchr(stat, ')') : NULL;
	off = snprintf(buf, len, "%c", p && p[1] ? p[2] : '?');
	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", tid);
	if (read_file(path, stack, sizeof(stack)) <= 0)
		return;
	/* Lines like "[<0>] sk_stream_wait_memory+0x2c/0x3b0". */
	for (p = stack; frames < 8 && (q = strchr(p, ']')); p = end + 1) {
		end = strchr(q, '\n');
		if (!end)
			break;
		*end = '\0';
		if (strchr(q, '+'))
			*strchr(q, '+') = '\0';
		if (off < len)
			off += snprintf(buf + off, len - off, "%s%s",
					frames++ ? "<-" : " ", q + 2);
	}
}

const char *stress_threads_report(char *buf, size_t len)
{
	char where[512];
	size_t off = 0;
	int i;

	buf[0] = '\0';
	pthread_mutex_lock(&threads_lock);
	for (i = 0; i < MAX_THREADS && off < len; i++) {
		if (!threads[i] || !threads[i]->running)
			continue;
		kernel_where(threads[i]->tid, where, sizeof(where));
		off += snprintf(buf + off, len - off, "%s%s in %s [%s]",
				off ? "; " : "", threads[i]->name,
				threads[i]->op, where);
	}
	pthread_mutex_unlock(&threads_lock);
	return buf;
}

static void watchdog_fired(int sig)
{
	char line[160];
	int i, n;

	n = snprintf(line, sizeof(line),
		     "# watchdog: the test ran out of time; threads:\n");
	if (write(STDERR_FILENO, line, n) < 0)
		_exit(1);
	for (i = 0; i < MAX_THREADS; i++) {
		if (!threads[i] || !threads[i]->running)
			continue;
		n = snprintf(line, sizeof(line), "#   %s in %s\n",
			     threads[i]->name, threads[i]->op);
		if (write(STDERR_FILENO, line, n) < 0)
			break;
	}
	_exit(1);
}

void stress_watchdog(int secs)
{
	signal(SIGALRM, watchdog_fired);
	alarm(secs);
}

char stress_probe_why[128];
static int kernel_errno[2][32];
static bool probed;

/*
 * The kernel is asked once per process; OpenSSL's ciphers are only there
 * once its constructor has run, so they are checked on every call.
 */
size_t stress_ciphers(const struct stress_cipher **list)
{
	static struct stress_cipher usable[32];
	static char names[32][32];
	struct wire_keys k;
	const char *why;
	size_t c, n = 0;
	int v, a, b;

	stress_probe_why[0] = '\0';
	for (v = 0; v < 2; v++) {
		for (c = 0; c < wire_ciphers_count; c++) {
			uint16_t ver = v ? TLS_1_3_VERSION : TLS_1_2_VERSION;
			int *err = &kernel_errno[v][c];

			if (!probed) {
				wire_keys_init(&k, ver, wire_ciphers[c].type, 1, 0);
				*err = tcp_pair(AF_INET, &a, &b) ? errno : 0;
				if (!*err) {
					*err = ulp_attach(a, test_ulp()) ? errno : 0;
					if (!*err)
						*err = wire_set_keys(a, TLS_TX, &k);
					if (!*err)
						*err = wire_set_keys(a, TLS_RX, &k);
					close(a);
					close(b);
				}
				wire_keys_free(&k);
			}
			why = *err ? strerror(*err) :
			      !wire_cipher_in_openssl(&wire_ciphers[c]) ?
			      "not in OpenSSL" : NULL;
			if (why) {
				if (!n && !stress_probe_why[0])
					snprintf(stress_probe_why,
						 sizeof(stress_probe_why),
						 "%s: %s", wire_ciphers[c].name, why);
				continue;
			}
			snprintf(names[n], sizeof(names[0]), "%s_%s",
				 v ? "13" : "12", wire_ciphers[c].name);
			usable[n] = (struct stress_cipher){
				.version = ver,
				.cipher = wire_ciphers[c].type,
				.name = names[n],
			};
			n++;
		}
	}
	probed = true;
	*list = usable;
	return n;
}

int stress_pair(const struct stress_cipher *c, uint64_t seed, int flags,
		int *a, int *b, struct wire_keys *atx, struct wire_keys *arx)
{
	int one = 1, err;

	/* Nonzero first sequence numbers: the carry paths get used too. */
	wire_keys_init(atx, c->version, c->cipher, seed, seed % 1000);
	wire_keys_init(arx, c->version, c->cipher, ~seed, seed % 777);
	*a = *b = -1;
	if (tcp_pair(seed & 0x100 ? AF_INET6 : AF_INET, a, b))
		return errno;
	setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	err = ulp_attach(*a, test_ulp()) ? errno : 0;
	if (!err && (flags & STRESS_A_TX))
		err = wire_set_keys(*a, TLS_TX, atx);
	if (!err && (flags & STRESS_A_RX))
		err = wire_set_keys(*a, TLS_RX, arx);
	if (!err && (flags & STRESS_B_TLS)) {
		err = ulp_attach(*b, test_ulp()) ? errno : 0;
		if (!err)
			err = wire_set_keys(*b, TLS_TX, arx);
		if (!err)
			err = wire_set_keys(*b, TLS_RX, atx);
	}
	if (err) {
		close(*a);
		close(*b);
		*a = *b = -1;
	}
	return err;
}

void stress_reset_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

long stress_refcnt(void)
{
	char path[64], buf[32];

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt",
		 test_ulp_is_stock() ? "tls" : "oktls");
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 10);
}

long stress_refcnt_settle(long base, int ms)
{
	long long end = now_ms() + ms;
	long n;

	while ((n = stress_refcnt()) > base && now_ms() < end)
		usleep(20000);
	return n;
}

const char *stress_tcp_states(char *buf, size_t len)
{
	static const char *const names[] = { "?", "ESTABLISHED", "SYN_SENT",
		"SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
		"CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING" };
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	unsigned int counts[12] = {}, st, i;
	char line[256], *p;
	size_t off;
	FILE *f;

	off = read_file("/proc/net/sockstat", buf, len) > 0 ? strlen(buf) : 0;
	for (p = buf; (p = strchr(p, '\n'));)
		*p = ' ';
	for (i = 0; i < 2; i++) {
		f = fopen(files[i], "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "%*s %*s %*s %x", &st) == 1 && st < 12)
				counts[st]++;
		if (f)
			fclose(f);
	}
	for (i = 1; i < 12 && off < len; i++)
		if (counts[i])
			off += snprintf(buf + off, len - off, "%s %u ", names[i],
					counts[i]);
	return buf;
}

const char *stress_sock_report(int fd, char *buf, size_t len)
{
	uint32_t mem[9] = {};
	socklen_t mlen = sizeof(mem);
	int inq = -1, outq = -1;

	ioctl(fd, SIOCINQ, &inq);
	ioctl(fd, SIOCOUTQ, &outq);
	getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &mlen);
	snprintf(buf, len,
		 "fd %d: inq %d outq %d rmem_alloc %u rcvbuf %u wmem_alloc %u sndbuf %u fwd_alloc %u wmem_queued %u backlog %u drops %u",
		 fd, inq, outq, mem[0], mem[1], mem[2], mem[3], mem[4], mem[5],
		 mem[7], mem[8]);
	return buf;
}
