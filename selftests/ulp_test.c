// SPDX-License-Identifier: GPL-2.0
/*
 * Attaching the oktls ULP: where it is accepted, and that it is refused
 * with the same errno as the stock tls module everywhere else.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "lib/net.h"

FIXTURE(ulp)
{
	int cfd;
	int sfd;
};

FIXTURE_VARIANT(ulp)
{
	int family;
	/* What the IP layer says to getsockopt(SOL_TLS) without a ULP. */
	int get_unknown_level_errno;
};

FIXTURE_VARIANT_ADD(ulp, ipv4)
{
	.family = AF_INET,
	.get_unknown_level_errno = EOPNOTSUPP,
};

FIXTURE_VARIANT_ADD(ulp, ipv6)
{
	.family = AF_INET6,
	.get_unknown_level_errno = ENOPROTOOPT,
};

FIXTURE_SETUP(ulp)
{
	ASSERT_EQ(0, tcp_pair(variant->family, &self->cfd, &self->sfd));
}

FIXTURE_TEARDOWN(ulp)
{
	close(self->cfd);
	close(self->sfd);
}

/* errno of attaching name to fd, 0 on success. */
static int attach_errno(int fd, const char *name)
{
	return ulp_attach(fd, name) ? errno : 0;
}

TEST(ulp_listed_available)
{
	EXPECT_TRUE(ulp_available(OKTLS_ULP));
}

TEST_F(ulp, attach_established)
{
	char name[16] = {};
	socklen_t len = sizeof(name);

	ASSERT_EQ(0, ulp_attach(self->cfd, OKTLS_ULP));
	ASSERT_EQ(0, ulp_attach(self->sfd, OKTLS_ULP));
	ASSERT_EQ(0, getsockopt(self->cfd, IPPROTO_TCP, TCP_ULP, name, &len));
	EXPECT_STREQ(OKTLS_ULP, name);
}

/* Without keys the socket is plain TCP in both directions. */
TEST_F(ulp, passthrough_without_keys)
{
	char buf[64];

	ASSERT_EQ(0, ulp_attach(self->cfd, OKTLS_ULP));
	ASSERT_EQ(0, ulp_attach(self->sfd, OKTLS_ULP));
	EXPECT_EQ(5, send(self->cfd, "hello", 5, 0));
	EXPECT_EQ(5, recv(self->sfd, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	EXPECT_EQ(3, send(self->sfd, "bye", 3, 0));
	EXPECT_EQ(3, recv(self->cfd, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "bye", 3));
}

/* Plain TCP options still reach TCP through the oktls proto. */
TEST_F(ulp, tcp_sockopts_pass_through)
{
	int one = 1, val = 0;
	socklen_t len = sizeof(val);

	ASSERT_EQ(0, ulp_attach(self->cfd, OKTLS_ULP));
	ASSERT_EQ(0, setsockopt(self->cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
	ASSERT_EQ(0, getsockopt(self->cfd, IPPROTO_TCP, TCP_NODELAY, &val, &len));
	EXPECT_EQ(1, val);
}

TEST_F(ulp, attach_twice_eexist)
{
	ASSERT_EQ(0, ulp_attach(self->cfd, OKTLS_ULP));
	EXPECT_EQ(EEXIST, attach_errno(self->cfd, OKTLS_ULP));
	EXPECT_EQ(EEXIST, attach_errno(self->cfd, "tls"));
}

TEST_F(ulp, attach_after_stock_eexist)
{
	if (!ulp_available("tls"))
		SKIP(return, "stock tls module not loaded");
	ASSERT_EQ(0, ulp_attach(self->cfd, "tls"));
	EXPECT_EQ(EEXIST, attach_errno(self->cfd, OKTLS_ULP));
}

TEST_F(ulp, attach_listening_like_stock)
{
	int lfd = tcp_listener(variant->family);

	ASSERT_GE(lfd, 0);
	EXPECT_EQ(ENOTCONN, attach_errno(lfd, OKTLS_ULP));
	if (ulp_available("tls"))
		EXPECT_EQ(attach_errno(lfd, "tls"), attach_errno(lfd, OKTLS_ULP));
	close(lfd);
}

TEST_F(ulp, attach_unconnected_like_stock)
{
	int fd = socket(variant->family, SOCK_STREAM, 0);
	int fd2 = socket(variant->family, SOCK_STREAM, 0);

	ASSERT_GE(fd, 0);
	ASSERT_GE(fd2, 0);
	EXPECT_EQ(ENOTCONN, attach_errno(fd, OKTLS_ULP));
	if (ulp_available("tls"))
		EXPECT_EQ(ENOTCONN, attach_errno(fd2, "tls"));
	/* A refused attach leaves the socket usable and without a ULP. */
	EXPECT_EQ(ENOTCONN, attach_errno(fd, OKTLS_ULP));
	close(fd);
	close(fd2);
}

/* After the peer's FIN the connection can no longer carry new records. */
TEST_F(ulp, attach_close_wait_like_stock)
{
	char c;

	ASSERT_EQ(0, shutdown(self->sfd, SHUT_WR));
	ASSERT_EQ(0, recv(self->cfd, &c, 1, 0));
	EXPECT_EQ(ENOTCONN, attach_errno(self->cfd, OKTLS_ULP));
}

TEST(attach_udp_refused)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ASSERT_GE(fd, 0);
	EXPECT_NE(0, attach_errno(fd, OKTLS_ULP));
	EXPECT_EQ(ENOPROTOOPT, attach_errno(fd, OKTLS_ULP));
	close(fd);
}

TEST(attach_unknown_name_enoent)
{
	int cfd, sfd;

	ASSERT_EQ(0, tcp_pair(AF_INET, &cfd, &sfd));
	EXPECT_EQ(ENOENT, attach_errno(cfd, "oktls-nonexistent"));
	close(cfd);
	close(sfd);
}

/* SOL_TLS belongs to the ULP: a plain TCP socket does not know it. */
TEST_F(ulp, sol_tls_before_attach_enoprotoopt)
{
	struct tls12_crypto_info_aes_gcm_128 ci = {
		.info.version = TLS_1_2_VERSION,
		.info.cipher_type = TLS_CIPHER_AES_GCM_128,
	};
	socklen_t len = sizeof(ci);

	EXPECT_EQ(-1, setsockopt(self->cfd, SOL_TLS, TLS_TX, &ci, sizeof(ci)));
	EXPECT_EQ(ENOPROTOOPT, errno);
	EXPECT_EQ(-1, getsockopt(self->cfd, SOL_TLS, TLS_TX, &ci, &len));
	EXPECT_EQ(variant->get_unknown_level_errno, errno);
}

/* Many short-lived attached sockets: attach, use and close cleanly. */
TEST_F(ulp, attach_close_cycles)
{
	int i, c, s;

	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, tcp_pair(variant->family, &c, &s));
		ASSERT_EQ(0, ulp_attach(c, OKTLS_ULP));
		ASSERT_EQ(0, ulp_attach(s, OKTLS_ULP));
		ASSERT_EQ(1, send(c, "x", 1, 0));
		close(c);
		close(s);
	}
}

TEST_HARNESS_MAIN
