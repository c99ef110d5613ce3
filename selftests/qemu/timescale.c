// SPDX-License-Identifier: GPL-2.0
/*
 * Preloaded into the tests on the debug kernel (OKTLS_TIMEOUT_SCALE=N on
 * the guest's command line): alarm(s) becomes alarm(s * N). The harness
 * bounds each test with alarm(); KASAN, lockdep and kmemleak under
 * emulation make the same work several times slower, not different.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

unsigned int alarm(unsigned int seconds)
{
	static unsigned int (*real_alarm)(unsigned int);
	const char *env = getenv("OKTLS_TIMEOUT_SCALE");
	unsigned long scale = env ? strtoul(env, NULL, 10) : 1;

	if (!real_alarm)
		real_alarm = (unsigned int (*)(unsigned int))dlsym(RTLD_NEXT, "alarm");
	if (scale < 1 || scale > 100)
		scale = 1;
	return real_alarm(seconds * scale) / scale;
}
