// SPDX-License-Identifier: MIT
/*
 * oktls-bench: runs in the guest, interleaves every implementation round by
 * round (A B C D A B C D ...) and prints one machine-readable line per
 * measurement; tools/bench/report.py turns them into tables and a chart.
 */
#include <sys/utsname.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static struct {
	unsigned int rounds, scale_rounds, mem_rounds, mem_socks, hs_rounds, hs_count;
	size_t bytes[N_TEST], scale_bytes;
	char sections[64], tests[128], impls[64];
} cfg = {
	.rounds = 5, .scale_rounds = 3, .mem_rounds = 2, .mem_socks = 10000,
	.hs_rounds = 3, .hs_count = 40,
	.bytes = { 8 * MIB, 8 * MIB, 8 * MIB, 1 * MIB, 4 * MIB },
	.scale_bytes = 8 * MIB,
	.sections = "tput,scale,mem,hs",
	.tests = "tx16k,rx16k,sendfile,tx512,tx4k",
	.impls = "oktls,tls,openssl,tcp",
};

static const struct option longopts[] = {
	{ "rounds", required_argument, NULL, 'r' },
	{ "bulk-kib", required_argument, NULL, 'b' },
	{ "small-kib", required_argument, NULL, 's' },
	{ "scale-kib", required_argument, NULL, 'S' },
	{ "scale-rounds", required_argument, NULL, 'R' },
	{ "mem-socks", required_argument, NULL, 'm' },
	{ "mem-rounds", required_argument, NULL, 'M' },
	{ "hs-count", required_argument, NULL, 'h' },
	{ "hs-rounds", required_argument, NULL, 'H' },
	{ "sections", required_argument, NULL, 'x' },
	{ "tests", required_argument, NULL, 't' },
	{ "impls", required_argument, NULL, 'i' },
	{ NULL, 0, NULL, 0 },
};

static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

static void meta(void)
{
	char line[512], model[256] = "?";
	struct utsname u;
	int erms = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10) && strchr(line, ':'))
			sscanf(strchr(line, ':') + 2, "%255[^\n]", model);
		if (!strncmp(line, "flags", 5) && strstr(line, " erms"))
			erms = 1;
	}
	if (f)
		fclose(f);
	uname(&u);
	printf("BENCH meta kernel %s\n", u.release);
	printf("BENCH meta cpu %s\n", model);
	printf("BENCH meta erms %d\n", erms);
	printf("BENCH meta ncpu %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
	printf("BENCH meta rounds %u\n", cfg.rounds);
	for (int t = 0; t < N_TEST; t++)
		printf("BENCH meta bytes %s %zu\n", test_names[t], cfg.bytes[t]);
	printf("BENCH meta scale_bytes %zu\n", cfg.scale_bytes);
	fflush(stdout);
}

static void report(const char *what, const char *tag, enum impl im, unsigned int round,
		   size_t bytes, const struct result *r)
{
	if (!listed(cfg.impls, impl_names[im]))
		return;
	if (!r->ok) {
		printf("BENCH fail %s %s %s %u %s\n", what, tag, impl_names[im], round, r->why);
	} else {
		/* BENCH what TAG IMPL ROUND BYTES NS CPU_NS RUSAGE_NS SOFTIRQ_NS */
		printf("BENCH %s %s %s %u %zu %llu %llu %llu %llu\n", what, tag, impl_names[im],
		       round, bytes, (unsigned long long)r->ns, (unsigned long long)r->cpu_ns,
		       (unsigned long long)r->ru_ns, (unsigned long long)r->softirq_ns);
	}
	fflush(stdout);
}

static void throughput(void)
{
	static const int versions[] = { 12, 13 };
	char tag[64];
	struct result r;

	for (unsigned int round = 0; round < cfg.rounds; round++) {
		fprintf(stderr, "# tput round %u at %.1f s\n", round, bench_now() / 1e9);
		for (int t = 0; t < N_TEST; t++) {
			if (!listed(cfg.tests, test_names[t]))
				continue;
			snprintf(tag, sizeof(tag), "%s:-:-", test_names[t]);
			if (listed(cfg.impls, "tcp"))
				bench_run(IMPL_TCP, t, &bciphers[0], 13, 1, cfg.bytes[t], &r);
			report("tput", tag, IMPL_TCP, round, cfg.bytes[t], &r);
			for (int v = 0; v < 2; v++) {
				for (unsigned int c = 0; c < n_bciphers; c++) {
					snprintf(tag, sizeof(tag), "%s:%d:%s", test_names[t],
						 versions[v], bciphers[c].name);
					for (int im = 0; im < IMPL_TCP; im++) {
						if (!listed(cfg.impls, impl_names[im]))
							continue;
						bench_run(im, t, &bciphers[c], versions[v], 1,
							  cfg.bytes[t], &r);
						report("tput", tag, im, round, cfg.bytes[t], &r);
					}
				}
			}
		}
	}
}

static void scale(void)
{
	static const unsigned int conns[] = { 1, 4, 16, 64 };
	char tag[32];
	struct result r;

	for (unsigned int round = 0; round < cfg.scale_rounds; round++) {
		fprintf(stderr, "# scale round %u at %.1f s\n", round, bench_now() / 1e9);
		for (unsigned int i = 0; i < 4; i++) {
			snprintf(tag, sizeof(tag), "%u:13:%s", conns[i], bciphers[0].name);
			for (int im = 0; im < N_IMPL; im++) {
				if (!listed(cfg.impls, impl_names[im]))
					continue;
				bench_run(im, T_TX, &bciphers[0], 13, conns[i], cfg.scale_bytes, &r);
				report("scale", tag, im, round, cfg.scale_bytes, &r);
			}
		}
	}
}

int main(int argc, char **argv)
{
	size_t maxb = 0;
	int o;

	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 'r': cfg.rounds = atoi(optarg); break;
		case 'b':
			cfg.bytes[T_TX] = cfg.bytes[T_RX] = cfg.bytes[T_SENDFILE] =
				atol(optarg) * KIB;
			break;
		case 's':
			cfg.bytes[T_TX512] = atol(optarg) * KIB;
			cfg.bytes[T_TX4K] = 4 * cfg.bytes[T_TX512];
			break;
		case 'S': cfg.scale_bytes = atol(optarg) * KIB; break;
		case 'R': cfg.scale_rounds = atoi(optarg); break;
		case 'm': cfg.mem_socks = atoi(optarg); break;
		case 'M': cfg.mem_rounds = atoi(optarg); break;
		case 'h': cfg.hs_count = atoi(optarg); break;
		case 'H': cfg.hs_rounds = atoi(optarg); break;
		case 'x': snprintf(cfg.sections, sizeof(cfg.sections), "%s", optarg); break;
		case 'i': snprintf(cfg.impls, sizeof(cfg.impls), "%s", optarg); break;
		case 't': snprintf(cfg.tests, sizeof(cfg.tests), "%s", optarg); break;
		default:
			fprintf(stderr, "usage: %s [--rounds N] [--bulk-kib N] [--small-kib N] "
				"[--scale-kib N] [--scale-rounds N] [--mem-socks N] [--mem-rounds N] "
				"[--hs-count N] [--hs-rounds N] [--sections tput,scale,mem,hs] "
				"[--tests tx16k,rx16k,sendfile,tx512,tx4k] [--impls oktls,tls,openssl,tcp]\n", argv[0]);
			return 2;
		}
	}
	for (int t = 0; t < N_TEST; t++)
		maxb = cfg.bytes[t] > maxb ? cfg.bytes[t] : maxb;
	maxb = cfg.scale_bytes > maxb ? cfg.scale_bytes : maxb;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (bench_ossl_init() || bench_flow_init(maxb)) {
		fprintf(stderr, "oktls-bench: setup failed\n");
		return 1;
	}
	meta();
	if (listed(cfg.sections, "tput"))
		throughput();
	if (listed(cfg.sections, "scale"))
		scale();
	if (listed(cfg.sections, "mem")) {
		fprintf(stderr, "# mem at %.1f s\n", bench_now() / 1e9);
		bench_mem(cfg.mem_rounds, cfg.mem_socks);
	}
	if (listed(cfg.sections, "hs")) {
		fprintf(stderr, "# handshakes at %.1f s\n", bench_now() / 1e9);
		bench_handshakes(cfg.hs_rounds, cfg.hs_count);
	}
	fprintf(stderr, "# done at %.1f s\n", bench_now() / 1e9);
	return 0;
}
