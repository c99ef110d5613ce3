// SPDX-License-Identifier: GPL-2.0
/*
 * oktls as a drop-in for the stock module: loaded with ulp_name=tls it
 * takes the ULP name "tls", and unmodified kTLS users (OpenSSL's own kTLS
 * here) run over it. Runs alone in the guest (the rig runs test binaries
 * one after another); swaps modules and restores oktls and the stock tls
 * module afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/tls.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kselftest_harness.h"
#include "lib/net.h"
#include "lib/ossl_pair.h"

static const char *module_path(void)
{
	const char *p = getenv("OKTLS_KO");

	return p ? p : "/lib/oktls/oktls.ko";
}

static int load_oktls(const char *params)
{
	int fd = open(module_path(), O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, params, 0);
	close(fd);
	return ret;
}

/* Unload a module once its last socket is gone (sockets linger briefly). */
static int unload(const char *name)
{
	char path[64];
	int i;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	for (i = 0; i < 500; i++) {
		if (access(path, F_OK))
			return 0;
		if (!syscall(SYS_delete_module, name, O_NONBLOCK))
			return 0;
		if (errno != EWOULDBLOCK && errno != EAGAIN)
			return -1;
		usleep(10000);
	}
	return -1;
}

static void restore_modules(void)
{
	unload("oktls");
	if (load_oktls(""))
		perror("reload oktls");
	if (system("modprobe tls"))
		fprintf(stderr, "modprobe tls failed\n");
}

/* oktls registered under the stock module's name. */
static int become_tls(void)
{
	if (unload("tls") || unload("oktls"))
		return -1;
	return load_oktls("ulp_name=tls");
}

TEST(ulp_name_tls_registers_tls)
{
	char refcnt[16];
	int c, s;

	ASSERT_EQ(0, become_tls()) TH_LOG("%s", strerror(errno));
	EXPECT_TRUE(ulp_available("tls"));
	EXPECT_FALSE(ulp_available(OKTLS_ULP));
	EXPECT_NE(0, access("/sys/module/tls", F_OK));

	/* Attaching "tls" now takes a reference on oktls, not the stock one. */
	ASSERT_EQ(0, tcp_pair(AF_INET, &c, &s));
	ASSERT_EQ(0, ulp_attach(c, "tls"));
	EXPECT_LT(0, read_file("/sys/module/oktls/refcnt", refcnt,
			       sizeof(refcnt)));
	EXPECT_EQ(1, atoi(refcnt));
	close(c);
	close(s);
	restore_modules();
}

TEST(ulp_name_taken_fails_clearly)
{
	char buf[4096];
	ssize_t n;
	int kmsg;

	ASSERT_EQ(0, unload("oktls"));
	ASSERT_EQ(0, system("modprobe tls"));
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_GE(kmsg, 0);
	lseek(kmsg, 0, SEEK_END);
	EXPECT_EQ(-1, load_oktls("ulp_name=tls"));
	EXPECT_EQ(EEXIST, errno);
	/* One kernel log line says why. */
	n = read(kmsg, buf, sizeof(buf) - 1);
	ASSERT_GT(n, 0);
	buf[n] = '\0';
	EXPECT_NE(NULL, strstr(buf, "\"tls\" is already registered"))
		TH_LOG("kernel log: %s", buf);
	close(kmsg);
	EXPECT_EQ(-1, load_oktls("ulp_name=bogus"));
	EXPECT_EQ(EINVAL, errno);
	restore_modules();
}

/* OpenSSL's own kTLS over oktls registered as "tls". */

/* Where OpenSSL turned kTLS on, client side. */
struct ktls_use {
	bool send;
	bool recv;
};

FIXTURE(ossl)
{
	SSL_CTX *sctx;
	SSL_CTX *cctx;
	int cfd;
	int sfd;
	struct ktls_use stock;
};

FIXTURE_VARIANT(ossl)
{
	int version;
	const char *cipher;	/* TLS 1.2 cipher list or TLS 1.3 suite */
	bool ecdsa;		/* the suite needs an ECDSA certificate */
};

#define OSSL_VARIANT(name, ver, c, ec)		\
	FIXTURE_VARIANT_ADD(ossl, name) {	\
		.version = ver,			\
		.cipher = c,			\
		.ecdsa = ec,			\
	}

OSSL_VARIANT(12_aes_gcm, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", false);
OSSL_VARIANT(12_aes_gcm_256, TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", false);
OSSL_VARIANT(12_chacha, TLS1_2_VERSION, "ECDHE-RSA-CHACHA20-POLY1305", false);
OSSL_VARIANT(12_aes_ccm, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-CCM", true);
OSSL_VARIANT(13_aes_gcm, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", false);
OSSL_VARIANT(13_aes_gcm_256, TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", false);
OSSL_VARIANT(13_chacha, TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", false);
OSSL_VARIANT(13_aes_ccm, TLS1_3_VERSION, "TLS_AES_128_CCM_SHA256", false);

static SSL_CTX *make_ctx(const FIXTURE_VARIANT(ossl) *v, bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() :
				   TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
	SSL_CTX_set_min_proto_version(ctx, v->version);
	SSL_CTX_set_max_proto_version(ctx, v->version);
	if (v->version == TLS1_3_VERSION)
		SSL_CTX_set_ciphersuites(ctx, v->cipher);
	else
		SSL_CTX_set_cipher_list(ctx, v->cipher);
	/* Tickets would arrive as records after kTLS is on; keep it simple. */
	SSL_CTX_set_num_tickets(ctx, 0);
	if (server && pair_use_new_cert(ctx, v->ecdsa)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void *accept_main(void *arg)
{
	SSL *ssl = arg;

	return SSL_accept(ssl) == 1 ? ssl : NULL;
}

/* Handshake only, and note where OpenSSL enabled kTLS. */
static int probe_ktls(SSL_CTX *sctx, SSL_CTX *cctx, struct ktls_use *use)
{
	SSL *srv = SSL_new(sctx), *cli = SSL_new(cctx);
	int c, s, ret = -1;
	pthread_t t;
	void *ok;

	if (!srv || !cli || tcp_pair(AF_INET, &c, &s))
		goto out;
	SSL_set_fd(srv, s);
	SSL_set_fd(cli, c);
	if (pthread_create(&t, NULL, accept_main, srv))
		goto out_close;
	ret = SSL_connect(cli) == 1 ? 0 : -1;
	pthread_join(t, &ok);
	if (!ok)
		ret = -1;
	use->send = BIO_get_ktls_send(SSL_get_wbio(cli));
	use->recv = BIO_get_ktls_recv(SSL_get_rbio(cli));
out_close:
	close(c);
	close(s);
out:
	SSL_free(srv);
	SSL_free(cli);
	return ret;
}

FIXTURE_SETUP(ossl)
{
	self->sctx = make_ctx(variant, true);
	self->cctx = make_ctx(variant, false);
	ASSERT_NE(NULL, self->sctx);
	ASSERT_NE(NULL, self->cctx);
	/*
	 * What this OpenSSL does with the stock module is the bar: Debian's
	 * OpenSSL 3.0, for one, receives TLS 1.3 in userspace.
	 */
	if (!ulp_available("tls"))
		ASSERT_EQ(0, system("modprobe tls"));
	ASSERT_EQ(0, probe_ktls(self->sctx, self->cctx, &self->stock));
	if (variant->version == TLS1_2_VERSION) {
		ASSERT_TRUE(self->stock.send && self->stock.recv);
	}
	ASSERT_EQ(0, become_tls()) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, tcp_pair(AF_INET, &self->cfd, &self->sfd));
}

FIXTURE_TEARDOWN(ossl)
{
	SSL_CTX_free(self->sctx);
	SSL_CTX_free(self->cctx);
	close(self->cfd);
	close(self->sfd);
	restore_modules();
}

struct peer {
	SSL *ssl;
	int ret;
	size_t len;		/* bytes to write, then to read */
	unsigned int seed;
	unsigned char digest[32];
	const char *sendfile;	/* path to SSL_sendfile, if set */
};

static void fill(unsigned char *buf, size_t n, unsigned int *seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = rand_r(seed) >> 7;
}

/*
 * The seeded pseudo-random stream both ends agree on: written to @ssl when
 * it is set, always hashed into @digest.
 */
static int write_stream(SSL *ssl, size_t len, unsigned int seed,
			unsigned char *digest)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[32768];
	size_t done = 0, n;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (done < len) {
		n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		fill(buf, n, &seed);
		EVP_DigestUpdate(md, buf, n);
		if (ssl && SSL_write(ssl, buf, n) != (int)n)
			break;
		done += n;
	}
	EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
	return done == len ? 0 : -1;
}

static int read_stream(SSL *ssl, size_t len, unsigned char *digest)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[32768];
	size_t done = 0;
	int n;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (done < len) {
		n = SSL_read(ssl, buf, sizeof(buf));
		if (n <= 0)
			break;
		EVP_DigestUpdate(md, buf, n);
		done += n;
	}
	EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
	return done == len ? 0 : -1;
}

/* Server: handshake, read the client's stream, answer with its own. */
static void *server_main(void *arg)
{
	struct peer *p = arg;
	unsigned char sink[32];

	p->ret = -1;
	if (SSL_accept(p->ssl) != 1)
		return NULL;
	if (read_stream(p->ssl, p->len, p->digest))
		return NULL;
	if (p->sendfile) {
		int fd = open(p->sendfile, O_RDONLY);
		struct stat st;

		if (fd < 0 || fstat(fd, &st) ||
		    SSL_sendfile(p->ssl, fd, 0, st.st_size, 0) != st.st_size) {
			ERR_print_errors_fp(stderr);
			return NULL;
		}
		close(fd);
	} else if (write_stream(p->ssl, p->len, p->seed + 1, sink)) {
		return NULL;
	}
	p->ret = 0;
	return NULL;
}

static void run_transfer(struct __test_metadata *_metadata,
			 FIXTURE_DATA(ossl) *self, size_t len,
			 const char *sendfile)
{
	struct peer srv = { .len = len, .seed = 7, .sendfile = sendfile };
	unsigned char sent[32], back[32], expect[32];
	SSL *cli;
	pthread_t t;

	srv.ssl = SSL_new(self->sctx);
	cli = SSL_new(self->cctx);
	ASSERT_NE(NULL, srv.ssl);
	ASSERT_NE(NULL, cli);
	SSL_set_fd(srv.ssl, self->sfd);
	SSL_set_fd(cli, self->cfd);
	ASSERT_EQ(0, pthread_create(&t, NULL, server_main, &srv));
	ASSERT_EQ(1, SSL_connect(cli)) {
		ERR_print_errors_fp(stderr);
	}

	/* kTLS on oktls exactly where OpenSSL uses it on the stock module. */
	EXPECT_EQ(self->stock.send, BIO_get_ktls_send(SSL_get_wbio(cli)));
	EXPECT_EQ(self->stock.recv, BIO_get_ktls_recv(SSL_get_rbio(cli)));

	EXPECT_EQ(0, write_stream(cli, len, 7, sent));
	if (sendfile) {
		struct stat st;
		int fd = open(sendfile, O_RDONLY);
		unsigned char *map = malloc(1 << 20);

		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, fstat(fd, &st));
		ASSERT_EQ(st.st_size, (off_t)read(fd, map, st.st_size));
		EVP_Digest(map, st.st_size, expect, NULL, EVP_sha256(), NULL);
		close(fd);
		free(map);
		EXPECT_EQ(0, read_stream(cli, st.st_size, back));
	} else {
		write_stream(NULL, len, srv.seed + 1, expect);
		EXPECT_EQ(0, read_stream(cli, len, back));
	}
	pthread_join(t, NULL);
	EXPECT_EQ(0, srv.ret);
	EXPECT_EQ(0, memcmp(sent, srv.digest, sizeof(sent)));
	EXPECT_EQ(0, memcmp(expect, back, sizeof(back)));
	SSL_free(cli);
	SSL_free(srv.ssl);
}

/* Minutes, not seconds, when OpenSSL seals in userspace (1.3 CCM) on a busy host. */
TEST_F_TIMEOUT(ossl, ktls_both_ways_sha256, 180)
{
	run_transfer(_metadata, self, 4 << 20, NULL);
}

TEST_F_TIMEOUT(ossl, ktls_sendfile, 180)
{
	const char *path = "/tmp/dropin-sendfile";
	unsigned char buf[4096];
	unsigned int seed = 3;
	int fd, i;

	if (!self->stock.send)
		SKIP(return, "this OpenSSL does not send %s with kTLS",
		     variant->cipher);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ASSERT_GE(fd, 0);
	for (i = 0; i < 256; i++) {
		fill(buf, sizeof(buf), &seed);
		ASSERT_EQ((ssize_t)sizeof(buf), write(fd, buf, sizeof(buf)));
	}
	close(fd);
	run_transfer(_metadata, self, 1000, path);
	unlink(path);
}

TEST_HARNESS_MAIN
