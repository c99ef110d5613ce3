/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon under test for the oktlsd suites: one oktlsd per test on a free
 * loopback port, its stderr in LOGDIR/<tag>.log,
 * and the checks every such test starts with. Include after
 * kselftest_harness.h, lib/net.h and oktlsd/common.h.
 */
#ifndef OKTLSD_TEST_DAEMON_H
#define OKTLSD_TEST_DAEMON_H

#include <stdarg.h>

#define LOGDIR "/tmp/oktlsd-logs"

/* A NULL-terminated argv from the arguments (a static vector: use at once). */
static inline char *const *argvec(const char *first, ...)
{
	static char *v[48];
	va_list ap;
	int n = 0;

	v[n++] = (char *)first;
	va_start(ap, first);
	while (n < 47 && (v[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	v[n] = NULL;
	return v;
}

static inline bool have_prog(const char *name)
{
	return !system(name);
}

struct daemon {
	struct child c;
	char log[128];
	int port;
};

/* oktlsd --listen 127.0.0.1:<free> --workers 2 extra...; 0 once it listens. */
static inline int daemon_start(struct daemon *d, const char *tag, char *const *extra)
{
	char *argv[48], lport[32];
	int n = 0, i;

	d->port = free_port();
	snprintf(lport, sizeof(lport), "127.0.0.1:%d", d->port);
	snprintf(d->log, sizeof(d->log), LOGDIR "/%s.log", tag);
	unlink(d->log);
	argv[n++] = "oktlsd";
	argv[n++] = "--listen";
	argv[n++] = lport;
	argv[n++] = "--workers";
	argv[n++] = "2";
	for (i = 0; extra[i] && n < 46; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	if (spawn(&d->c, argv, false, d->log))
		return -1;
	return wait_listen(d->port, 10000);
}

/* SIGTERM, then the exit status within ms (-1: killed after ms). */
static inline int daemon_stop_within(struct daemon *d, int ms)
{
	if (d->c.pid <= 0)
		return -1;
	kill(d->c.pid, SIGTERM);
	return reap(&d->c, ms);
}

/* SIGTERM: the daemon must drain and exit 0. */
static inline int daemon_stop(struct daemon *d)
{
	return daemon_stop_within(d, 40000);
}

static inline void setup_common(struct __test_metadata *_metadata)
{
	if (!have_prog("oktlsd --version >/dev/null 2>&1"))
		SKIP(return, "oktlsd is not installed");
	if (!have_prog("openssl version >/dev/null 2>&1"))
		SKIP(return, "no openssl command");
	if (!ulp_available(OKTLS_ULP))
		SKIP(return, "oktls ULP not loaded");
	mkdir(LOGDIR, 0755);
	ASSERT_EQ(0, make_pki());
}

#endif
