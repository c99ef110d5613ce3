// SPDX-License-Identifier: MIT
/* Logging to stderr or syslog, with levels. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "oktlsd.h"

static bool to_syslog;
static int max_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void oktlsd_log_init(bool use_syslog, int level)
{
	to_syslog = use_syslog;
	max_level = level;
	if (to_syslog)
		openlog("oktlsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void oktlsd_log(int level, const char *fmt, ...)
{
	char line[1024];	/* the stats line alone can pass 600 */
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to_syslog)
		syslog(level, "%s", line);
	else
		/* One write per line: workers' lines never interleave. */
		dprintf(STDERR_FILENO, "oktlsd[%d]: %s: %s\n", getpid(),
			level_names[level & 7], line);
}

const char *oktlsd_log_ssl(char *buf, size_t size)
{
	unsigned long e;
	size_t n = 0;

	buf[0] = 0;
	while ((e = ERR_get_error()) && n + 2 < size) {
		if (n)
			buf[n++] = ';', buf[n++] = ' ';
		ERR_error_string_n(e, buf + n, size - n);
		n += strlen(buf + n);
	}
	return buf;
}

void oktlsd_log_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, size, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, size, "%s:%u", a, ntohs(s4->sin_port));
	}
}
