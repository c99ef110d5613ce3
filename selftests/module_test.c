// SPDX-License-Identifier: GPL-2.0
/*
 * Module lifetime: oktls.ko loads and unloads cleanly, again and again,
 * and cannot be unloaded while a socket uses it. Runs alone in the guest
 * (the rig runs test binaries one after another) and leaves oktls loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "lib/net.h"

static const char *module_path(void)
{
	const char *p = getenv("OKTLS_KO");

	return p ? p : "/lib/oktls/oktls.ko";
}

static int load(void)
{
	int fd = open(module_path(), O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	return ret;
}

static int unload(void)
{
	return syscall(SYS_delete_module, "oktls", O_NONBLOCK);
}

static bool loaded(void)
{
	return access("/sys/module/oktls", F_OK) == 0;
}

static long refcnt(void)
{
	char buf[32];

	if (read_file("/sys/module/oktls/refcnt", buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* Sockets release the module when TCP destroys them, shortly after close. */
static bool wait_refcnt_zero(void)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (refcnt() == 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* Unreclaimable slab plus vmalloc: where a module leak would show. */
static long kernel_mem(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "3", 1) < 0)
			perror("drop_caches");
		close(fd);
	}
	return meminfo_bytes("SUnreclaim") + meminfo_bytes("VmallocUsed");
}

FIXTURE(module)
{
};

FIXTURE_SETUP(module)
{
	if (!loaded())
		ASSERT_EQ(0, load());
	ASSERT_TRUE(wait_refcnt_zero());
}

FIXTURE_TEARDOWN(module)
{
	if (!loaded())
		EXPECT_EQ(0, load());
}

/* Minutes on the debug kernel (KASAN, lockdep, kmemleak): rcu_barrier per unload. */
TEST_F_TIMEOUT(module, load_unload_100, 900)
{
	long before = 0, after;
	int i;

	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, unload()) TH_LOG("cycle %d: %s", i, strerror(errno));
		ASSERT_FALSE(ulp_available(OKTLS_ULP));
		/* Measure after a warm-up, when caches have settled. */
		if (i == 10)
			before = kernel_mem();
		ASSERT_EQ(0, load()) TH_LOG("cycle %d: %s", i, strerror(errno));
		ASSERT_TRUE(ulp_available(OKTLS_ULP));
	}
	ASSERT_EQ(0, unload());
	after = kernel_mem();
	ASSERT_EQ(0, load());
	/*
	 * 90 cycles: a leak of even one page per cycle would exceed this. Not
	 * on the debug kernel: KASAN's quarantine holds freed memory back by
	 * design, and kmemleak (scanned by the rig after the tests) finds
	 * leaks there object by object.
	 */
	if (debug_kernel()) {
		TH_LOG("kmemleak kernel: %ld bytes held over 90 cycles (KASAN quarantine); the leak scan decides",
		       after - before);
		return;
	}
	EXPECT_LT(after - before, 256 * 1024)
		TH_LOG("kernel memory grew %ld bytes over 90 load/unload cycles",
		       after - before);
}

TEST_F(module, load_twice_eexist)
{
	EXPECT_EQ(-1, load());
	EXPECT_EQ(EEXIST, errno);
}

TEST_F(module, unload_busy_while_attached)
{
	int c, s;

	ASSERT_EQ(0, tcp_pair(AF_INET, &c, &s));
	ASSERT_EQ(0, ulp_attach(c, OKTLS_ULP));
	EXPECT_EQ(1, refcnt());
	EXPECT_EQ(-1, unload());
	EXPECT_EQ(EWOULDBLOCK, errno);
	EXPECT_TRUE(loaded());
	close(c);
	close(s);
	ASSERT_TRUE(wait_refcnt_zero());
	EXPECT_EQ(0, unload());
	EXPECT_FALSE(loaded());
}

TEST_HARNESS_MAIN
