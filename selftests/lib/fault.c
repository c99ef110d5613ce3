// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failure injection (fail-nth) and the leak checks around it;
 * see fault.h.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fault.h"
#include "lib/net.h"

#define FAIL_NTH	"/proc/thread-self/fail-nth"
#define DEBUGFS		"/sys/kernel/debug"

static void say(char *why, size_t size, const char *fmt, const char *arg)
{
	if (why && size)
		snprintf(why, size, fmt, arg);
}

bool fault_supported(char *why, size_t size)
{
	struct stat st;

	if (access(FAIL_NTH, R_OK | W_OK)) {
		say(why, size, "%s", "no " FAIL_NTH
		    ": kernel without CONFIG_FAULT_INJECTION (the debug kernel has it)");
		return false;
	}
	if (stat(DEBUGFS "/failslab", &st))
		mount("debugfs", DEBUGFS, "debugfs", 0, NULL);
	if (stat(DEBUGFS "/failslab", &st) ||
	    stat(DEBUGFS "/fail_page_alloc", &st)) {
		say(why, size, "%s", "no " DEBUGFS
		    "/failslab or fail_page_alloc: kernel without CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC or CONFIG_FAULT_INJECTION_DEBUG_FS");
		return false;
	}
	return true;
}

/* The knobs fault_knobs_set() sets, and what they were. */
static struct knob {
	const char *path;
	const char *value;
	char saved[64];
	bool set;
} knobs[] = {
	{ .path = DEBUGFS "/failslab/ignore-gfp-wait", .value = "N" },
	{ .path = DEBUGFS "/failslab/verbose", .value = "0" },
	{ .path = DEBUGFS "/fail_page_alloc/ignore-gfp-wait", .value = "N" },
	{ .path = DEBUGFS "/fail_page_alloc/ignore-gfp-highmem", .value = "N" },
	{ .path = DEBUGFS "/fail_page_alloc/min-order", .value = "0" },
	{ .path = DEBUGFS "/fail_page_alloc/verbose", .value = "0" },
};

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

int fault_knobs_set(char *why, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		struct knob *k = &knobs[i];
		const char *value = k->value;

		if (read_file(k->path, k->saved, sizeof(k->saved)) < 0) {
			say(why, size, "cannot read %s", k->path);
			return -1;
		}
		/* OKTLS_FAULT_VERBOSE=1: a stack dump per fault, to debug. */
		if (strstr(k->path, "verbose") && getenv("OKTLS_FAULT_VERBOSE"))
			value = "2";
		if (write_str(k->path, value)) {
			say(why, size, "cannot write %s", k->path);
			return -1;
		}
		k->set = true;
	}
	return 0;
}

void fault_knobs_restore(void)
{
	size_t i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		if (knobs[i].set)
			write_str(knobs[i].path, knobs[i].saved);
		knobs[i].set = false;
	}
}

static int nth_fd = -1;
static unsigned int nth_left;
static bool nth_armed;

int fault_open(void)
{
	if (nth_fd >= 0)
		close(nth_fd);
	nth_fd = open(FAIL_NTH, O_RDWR | O_CLOEXEC);
	return nth_fd < 0 ? -1 : 0;
}

static void nth_write(unsigned int n)
{
	char b[16];
	int len = snprintf(b, sizeof(b), "%u", n);

	if (pwrite(nth_fd, b, len, 0) != len)
		abort();
}

void fault_arm(unsigned int n)
{
	nth_armed = nth_fd >= 0 && n;
	nth_left = nth_armed ? n : 0;
}

void fault_on(void)
{
	if (nth_left)
		nth_write(nth_left);
}

void fault_off(void)
{
	char b[16];
	ssize_t n;

	if (!nth_left)
		return;
	n = pread(nth_fd, b, sizeof(b) - 1, 0);
	if (n <= 0)
		abort();
	b[n] = '\0';
	nth_left = strtoul(b, NULL, 10);
	/* 0 once injected; otherwise stop counting until the next window. */
	if (nth_left)
		nth_write(0);
}

bool fault_disarm(unsigned int *left)
{
	bool injected = nth_armed && !nth_left;

	*left = nth_left;
	nth_left = 0;
	nth_armed = false;
	return injected;
}

void fault_note(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int fd, n;

	if (!getenv("OKTLS_FAULT_VERBOSE"))
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, line, n < (int)sizeof(line) ? n : (int)sizeof(line) - 1) < 0)
		n = 0;
	close(fd);
}

int kmsg_mark(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* What check.sh counts as a kernel splat, less the stack dump header. */
static const char *const splats[] = {
	"BUG:", "WARNING:", "Oops", "general protection fault", "KASAN",
	"UBSAN", "lockdep", "possible circular locking",
	"possible recursive locking", "inconsistent lock state",
	"unreferenced object", "Kernel panic", "blocked for more than",
	"rcu: INFO", "self-detected stall", "refcount_t:",
	"list_add corruption", "list_del corruption",
};

int kmsg_check(int fd, unsigned int *alloc_reports, unsigned int *traces)
{
	unsigned int i, context = 0, bugs = 0, printed = 0;
	char rec[2048], *msg, *end;
	ssize_t n;

	*alloc_reports = *traces = 0;
	if (fd < 0)
		return 0;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE) {
			printf("# kernel log: records lost (overwritten)\n");
			continue;
		}
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		end = strchr(msg, '\n');
		if (end)
			*end = '\0';
		if (strstr(msg, "Call Trace:"))
			(*traces)++;
		if (strstr(msg, "vmalloc error:") ||
		    strstr(msg, "page allocation failure") ||
		    strstr(msg, "Unable to allocate memory"))
			(*alloc_reports)++;
		/* Not in stack traces: function names say lockdep, kasan. */
		for (i = 0; i < sizeof(splats) / sizeof(splats[0]); i++) {
			if (msg[0] == ' ')
				break;
			if (strstr(msg, splats[i])) {
				bugs++;
				context = 40;
				break;
			}
		}
		if (context && printed < 400) {
			printf("# kernel: %s\n", msg);
			printed++;
			context--;
		}
	}
	fflush(stdout);
	return bugs;
}

int tcp_sockstat(struct tcp_sockstat *st)
{
	char b[1024], *p;

	if (read_file("/proc/net/sockstat", b, sizeof(b)) < 0)
		return -1;
	p = strstr(b, "\nTCP: ");
	if (!p || sscanf(p, "\nTCP: inuse %ld orphan %ld tw %*d alloc %ld mem %ld",
			 &st->inuse, &st->orphan, &st->alloc, &st->mem) != 4)
		return -1;
	return 0;
}

#define SCAN_CHUNK	(1 << 20)
#define SCAN_OVERLAP	32		/* the longest key, 8-byte aligned */
#define MAX_CANDS	64
/* Direct-map addresses lie below the kernel image mapping. */
#define KERNEL_IMAGE	0xffffffff80000000ULL

/*
 * A key of 16 or more bytes, wherever it lies, holds a whole aligned
 * 64-bit word: bytes k .. k + 7 of the key for some k < 8. One pass over
 * the aligned words looks each up among those 8 words of every key (a
 * bitmap first); a candidate is then checked byte by byte.
 */
struct cand {
	uint64_t word;
	unsigned int key, k;
};

struct scan {
	const struct kcore_key *keys;
	struct cand cand[MAX_CANDS];
	unsigned int ncand;
	uint8_t bitmap[1 << 13];	/* 2^16 bits */
};

static unsigned int word_hash(uint64_t w)
{
	return (w ^ w >> 21 ^ w >> 43) & 0xffff;
}

static void scan_init(struct scan *sc, const struct kcore_key *keys,
		      size_t nkeys)
{
	unsigned int i, k, j;
	struct cand *c;
	uint8_t *w;

	memset(sc, 0, sizeof(*sc));
	sc->keys = keys;
	for (i = 0; i < nkeys; i++) {
		for (k = 0; k < 8 && k + 8 <= keys[i].len; k++) {
			if (sc->ncand == MAX_CANDS)
				break;
			c = &sc->cand[sc->ncand++];
			w = (uint8_t *)&c->word;
			for (j = 0; j < 8; j++)
				w[j] = keys[i].a[k + j] ^ keys[i].b[k + j];
			c->key = i;
			c->k = k;
			j = word_hash(c->word);
			sc->bitmap[j >> 3] |= 1 << (j & 7);
		}
	}
}

/* Whether a ^ b is at p (len bytes), compared without building it. */
static bool key_at(const uint8_t *p, const struct kcore_key *k)
{
	size_t i;

	for (i = 0; i < k->len; i++)
		if (p[i] != (k->a[i] ^ k->b[i]))
			return false;
	return true;
}

static uint64_t page_flags(uint64_t paddr)
{
	int fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	uint64_t kpf = ~0ULL;

	if (fd < 0)
		return kpf;
	if (pread(fd, &kpf, sizeof(kpf), (paddr >> 12) * 8) != sizeof(kpf))
		kpf = ~0ULL;
	close(fd);
	return kpf;
}

/* The search of all RAM, shared by its threads. */
struct job {
	int fd;
	const struct scan *sc;
	struct unit {
		uint64_t paddr, foff, len, seen;
	} *units;
	size_t nunits, next;
	long long deadline;
	bool late;
	pthread_mutex_t lock;
	struct kcore_hit *hits;
	size_t max, nhits;
	uint64_t scanned;
};

static void found(struct job *j, uint64_t paddr, unsigned int key)
{
	uint64_t kpf = page_flags(paddr);

	pthread_mutex_lock(&j->lock);
	if (j->nhits < j->max) {
		j->hits[j->nhits].paddr = paddr;
		j->hits[j->nhits].kpf = kpf;
		j->hits[j->nhits].key = key;
	}
	j->nhits++;
	pthread_mutex_unlock(&j->lock);
}

/*
 * Search one unit, read into buf (8-byte aligned): a key wholly in its
 * first u->seen bytes is found by the unit before.
 */
static void scan_buf(struct job *j, const struct unit *u, uint8_t *buf,
		     size_t len)
{
	const uint64_t *w = (const uint64_t *)buf;
	const struct scan *sc = j->sc;
	size_t i, nw = len / 8, at, klen;
	unsigned int h, c;

	for (i = 0; i < nw; i++) {
		h = word_hash(w[i]);
		if (!(sc->bitmap[h >> 3] & 1 << (h & 7)))
			continue;
		for (c = 0; c < sc->ncand; c++) {
			if (sc->cand[c].word != w[i] || i * 8 < sc->cand[c].k)
				continue;
			at = i * 8 - sc->cand[c].k;
			klen = sc->keys[sc->cand[c].key].len;
			if (at + klen > len || at + klen <= u->seen ||
			    !key_at(buf + at, &sc->keys[sc->cand[c].key]))
				continue;
			found(j, u->paddr + at, sc->cand[c].key);
			/* Found once; do not leave it in this buffer. */
			explicit_bzero(buf + at, klen);
			break;
		}
	}
}

static void *scan_thread(void *arg)
{
	uint8_t *buf = aligned_alloc(4096, SCAN_CHUNK);
	struct job *j = arg;
	struct unit *u;
	ssize_t got;
	size_t n;

	while (buf) {
		n = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
		if (n >= j->nunits)
			break;
		if (now_ms() > j->deadline) {
			j->late = true;
			break;
		}
		u = &j->units[n];
		got = pread(j->fd, buf, u->len, u->foff);
		if (got <= 0)
			continue;
		scan_buf(j, u, buf, got);
		__atomic_fetch_add(&j->scanned, got - u->seen, __ATOMIC_RELAXED);
	}
	if (buf) {
		explicit_bzero(buf, SCAN_CHUNK);
		free(buf);
	}
	return NULL;
}

/* Cut the RAM segments into overlapping units; returns how many. */
static size_t make_units(const Elf64_Phdr *ph, size_t nph, struct unit *u,
			 uint64_t *total)
{
	uint64_t off, len;
	size_t i, n = 0;

	for (i = 0; i < nph; i++) {
		/* RAM: a physical address, mapped below the kernel image. */
		if (ph[i].p_type != PT_LOAD || ph[i].p_paddr == ~0ULL ||
		    ph[i].p_vaddr >= KERNEL_IMAGE || !ph[i].p_memsz)
			continue;
		*total += ph[i].p_memsz;
		for (off = 0;; off += SCAN_CHUNK - SCAN_OVERLAP) {
			len = ph[i].p_memsz - off;
			if (len > SCAN_CHUNK)
				len = SCAN_CHUNK;
			if (u) {
				u[n].paddr = ph[i].p_paddr + off;
				u[n].foff = ph[i].p_offset + off;
				u[n].len = len;
				u[n].seen = off ? SCAN_OVERLAP : 0;
			}
			n++;
			if (off + len >= ph[i].p_memsz)
				break;
		}
	}
	return n;
}

int kcore_scan(const struct kcore_key *keys, size_t nkeys,
	       long long deadline, struct kcore_hit *hits, size_t max,
	       size_t *nhits, uint64_t *scanned, uint64_t *total, char *why,
	       size_t size)
{
	struct job j = { .deadline = deadline, .hits = hits, .max = max };
	long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t threads[8];
	Elf64_Phdr *ph = NULL;
	struct scan *sc;
	Elf64_Ehdr eh;
	int ret = -1;
	long t = 0;

	*nhits = 0;
	*scanned = *total = 0;
	pthread_mutex_init(&j.lock, NULL);
	j.fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
	sc = malloc(sizeof(*sc));
	if (j.fd < 0 || !sc) {
		say(why, size, "cannot open /proc/kcore: %s", strerror(errno));
		goto out;
	}
	if (pread(j.fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(*ph)) {
		say(why, size, "%s", "/proc/kcore is not a 64-bit ELF core");
		goto out;
	}
	ph = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph || pread(j.fd, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff) !=
		   (ssize_t)(eh.e_phnum * sizeof(*ph))) {
		say(why, size, "%s", "cannot read the /proc/kcore program headers");
		goto out;
	}
	scan_init(sc, keys, nkeys);
	j.sc = sc;
	j.nunits = make_units(ph, eh.e_phnum, NULL, total);
	*total = 0;
	j.units = calloc(j.nunits, sizeof(*j.units));
	if (!j.units || !j.nunits) {
		say(why, size, "%s", "no RAM segments in /proc/kcore");
		goto out;
	}
	make_units(ph, eh.e_phnum, j.units, total);
	/* Reading kcore costs the kernel a copy per page: one reader a CPU. */
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > 8)
		nthreads = 8;
	for (t = 0; t < nthreads; t++)
		if (pthread_create(&threads[t], NULL, scan_thread, &j))
			break;
	if (!t)
		scan_thread(&j);
	while (t--)
		pthread_join(threads[t], NULL);
	*nhits = j.nhits;
	*scanned = j.scanned;
	if (j.late) {
		say(why, size, "%s", "out of time");
		goto out;
	}
	ret = 0;
out:
	if (sc) {
		explicit_bzero(sc, sizeof(*sc));
		free(sc);
	}
	free(j.units);
	free(ph);
	if (j.fd >= 0)
		close(j.fd);
	pthread_mutex_destroy(&j.lock);
	return ret;
}
