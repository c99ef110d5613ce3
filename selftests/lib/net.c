// SPDX-License-Identifier: GPL-2.0
/* Socket helpers shared by the oktls selftests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <linux/tls.h>

#include "lib/net.h"

static socklen_t loopback(int family, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*a);
}

int tcp_listener(int family)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss);
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128)) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int tcp_pair(int family, int *client, int *server)
{
	return tcp_pair_rcvbuf(family, client, server, 0);
}

int tcp_pair_rcvbuf(int family, int *client, int *server, int rcvbuf)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int lfd, cfd = -1, sfd = -1, saved;

	lfd = tcp_listener(family);
	if (lfd < 0)
		return -1;
	/* The accepted socket inherits it, so its SYN-ACK offers that window. */
	if (rcvbuf && setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
		goto err;
	if (getsockname(lfd, (struct sockaddr *)&ss, &len))
		goto err;
	cfd = socket(family, SOCK_STREAM, 0);
	if (cfd < 0)
		goto err;
	if (connect(cfd, (struct sockaddr *)&ss, len))
		goto err;
	sfd = accept(lfd, NULL, NULL);
	if (sfd < 0)
		goto err;
	close(lfd);
	*client = cfd;
	*server = sfd;
	return 0;
err:
	saved = errno;
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	errno = saved;
	return -1;
}

int ulp_attach(int fd, const char *name)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_ULP, name, strlen(name));
}

ssize_t read_file(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - total);
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		total += n;
	}
	buf[total] = '\0';
	close(fd);
	return total;
}

bool ulp_available(const char *name)
{
	char buf[512], *tok, *save;

	if (read_file("/proc/sys/net/ipv4/tcp_available_ulp", buf, sizeof(buf)) < 0)
		return false;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, name))
			return true;
	return false;
}

long meminfo_bytes(const char *key)
{
	char buf[8192], *p;
	size_t klen = strlen(key);

	if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return strtol(p + klen + 1, NULL, 10) * 1024;
	return -1;
}

const char *test_ulp(void)
{
	const char *ulp = getenv("OKTLS_TEST_ULP");

	return ulp && *ulp ? ulp : OKTLS_ULP;
}

bool test_ulp_is_stock(void)
{
	return !strcmp(test_ulp(), "tls");
}

static int set_timeo(int fd, int opt, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

int sock_timeouts(int fd, int rcv_ms, int snd_ms)
{
	if (set_timeo(fd, SO_RCVTIMEO, rcv_ms) || set_timeo(fd, SO_SNDTIMEO, snd_ms))
		return -1;
	return 0;
}

int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

/* An int a socket ioctl reports, or -1. */
static int ioctl_int(int fd, unsigned long request)
{
	int n;

	if (ioctl(fd, request, &n))
		return -1;
	return n;
}

int inq_bytes(int fd)
{
	return ioctl_int(fd, SIOCINQ);
}

int outq_bytes(int fd)
{
	return ioctl_int(fd, SIOCOUTQ);
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

bool debug_kernel(void)
{
	return !access("/sys/kernel/debug/kmemleak", F_OK);
}

ssize_t recv_record_type(int fd, void *buf, size_t len, int flags, int *type)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	*type = -1;
	n = recvmsg(fd, &msg, flags);
	if (n < 0)
		return n;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_TLS &&
	    cm->cmsg_type == TLS_GET_RECORD_TYPE)
		*type = *CMSG_DATA(cm);
	return n;
}
