// SPDX-License-Identifier: MIT
/*
 * oktlsd: bind, load keys, drop privileges, start the workers, then wait
 * for signals: SIGTERM/SIGINT drain, SIGHUP reloads certificates, SIGUSR1
 * logs statistics.
 */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "oktlsd.h"

struct oktlsd_stats oktlsd_stats;
atomic_bool oktlsd_draining;

static SSL_CTX *cur_ctx;
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

SSL *oktlsd_main_ssl_new(void)
{
	SSL *ssl;

	/* SSL_new() takes its own reference: a reload may free ours after. */
	pthread_mutex_lock(&ctx_lock);
	ssl = SSL_new(cur_ctx);
	pthread_mutex_unlock(&ctx_lock);
	return ssl;
}

void oktlsd_main_log_stats(void)
{
	struct oktlsd_stats *s = &oktlsd_stats;

	log_info("stats: accepted=%lu active=%ld closed=%lu refused_limit=%lu handshakes=%lu "
		 "handshake_failed=%lu handshake_timeout=%lu verify_failed=%lu "
		 "resumed_session_id=%lu resumed_ticket=%lu resumed_psk=%lu offloaded=%lu "
		 "offload_failed=%lu backend_failed=%lu tickets_received=%lu key_updates=%lu "
		 "alerts_received=%lu kernel_key_updates=%lu kernel_rekeys=%lu "
		 "bytes_to_plain=%lu bytes_to_tls=%lu",
		 s->accepted, s->active, s->closed, s->refused_limit, s->handshakes,
		 s->handshake_failed, s->handshake_timeout, s->verify_failed,
		 s->resumed_session_id, s->resumed_ticket, s->resumed_psk, s->offloaded,
		 s->offload_failed, s->backend_failed, s->tickets_received, s->key_updates,
		 s->alerts_received, s->kernel_key_updates, s->kernel_rekeys,
		 s->bytes_to_plain, s->bytes_to_tls);
}

/* One spec may mean two sockets: a bare port listens on IPv4 and IPv6. */
static int bind_one(const char *spec, int family, int *fds, int *n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (oktlsd_config_addr(spec, true, family, &ss, &len))
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4096))
		goto fail;
	if (*n == OKTLSD_MAX_LISTEN) {
		errno = EMFILE;
		goto fail;
	}
	fds[(*n)++] = fd;
	log_info("listening on %s%s (%s)", spec, family == AF_INET6 ? " [IPv6]" : "",
		 oktlsd_cfg.client ? "plaintext, to TLS server" : "TLS, to backend");
	return 0;
fail:
	log_err("cannot listen on %s: %s", spec, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		log_err("--user %s: no such user", user);
		return -1;
	}
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log_err("--user %s: cannot drop privileges: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_err("--user %s: could regain root after dropping it", user);
		return -1;
	}
	log_info("running as %s (uid %u)", user, (unsigned int)pw->pw_uid);
	return 0;
}

/* Each connection holds up to 6 fds (2 sockets, 2 pipes). */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)oktlsd_cfg.max_conns * 6 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_max < want) {
		struct rlimit up = { want, want };

		if (!setrlimit(RLIMIT_NOFILE, &up))
			return;
	}
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		log_warn("fd limit %lu is below what --max-conns %d needs (%lu)",
			 (unsigned long)rl.rlim_cur, oktlsd_cfg.max_conns, (unsigned long)want);
}

int main(int argc, char **argv)
{
	struct oktlsd_worker *workers[256];
	int fds[OKTLSD_MAX_LISTEN], nfds = 0, i, sig, ret = 1, nw = 0;
	bool bare;
	SSL_CTX *ctx;
	sigset_t set;

	oktlsd_log_init(false, LOG_INFO);
	i = oktlsd_config_parse(argc, argv);
	if (i)
		return i > 0 ? 0 : 2;
	oktlsd_log_init(oktlsd_cfg.syslog, oktlsd_cfg.log_level);

	/* Signals go to this thread only (sigwait); the workers inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	raise_fd_limit();
	cur_ctx = oktlsd_config_ctx(NULL);
	if (!cur_ctx)
		goto cleanup;
	for (i = 0; i < oktlsd_cfg.nlisten; i++) {
		const char *spec = oktlsd_cfg.listen[i];

		bare = !strchr(spec, ':');
		if (bind_one(spec, bare ? AF_INET : AF_UNSPEC, fds, &nfds) ||
		    (bare && bind_one(spec, AF_INET6, fds, &nfds)))
			goto cleanup;
	}
	if (oktlsd_cfg.user && drop_privileges(oktlsd_cfg.user))
		goto cleanup;
	for (nw = 0; nw < oktlsd_cfg.workers; nw++) {
		workers[nw] = oktlsd_worker_start(fds, nfds, nw);
		if (!workers[nw])
			goto cleanup;
	}
	log_info("%s mode, %d workers, backend %s, ULP %s",
		 oktlsd_cfg.client ? "client" : "server", nw, oktlsd_cfg.backend,
		 oktlsd_cfg.ulp ? oktlsd_cfg.ulp : "oktls");

	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGHUP) {
			pthread_mutex_lock(&ctx_lock);
			ctx = oktlsd_config_ctx(cur_ctx);
			if (ctx) {
				SSL_CTX_free(cur_ctx);
				cur_ctx = ctx;
				log_info("SIGHUP: certificates and keys reloaded");
			} else {
				log_err("SIGHUP: reload failed, keeping the previous certificates");
			}
			pthread_mutex_unlock(&ctx_lock);
		} else if (sig == SIGUSR1) {
			oktlsd_main_log_stats();
		} else {
			log_info("signal %d: draining %ld connections", sig,
				 atomic_load(&oktlsd_stats.active));
			break;
		}
	}
	ret = 0;
cleanup:
	atomic_store(&oktlsd_draining, true);
	/*
	 * Stop listening now, not at exit: a closed epoll interest alone leaves
	 * the kernel completing handshakes into a backlog nobody accepts, so a
	 * client would hang for the whole drain. shutdown() on a listener resets
	 * its backlog and refuses new SYNs; the fd stays valid (no number reuse
	 * under the workers) until it is closed after they are joined.
	 */
	for (i = 0; i < nfds; i++)
		shutdown(fds[i], SHUT_RDWR);
	for (i = 0; i < nw; i++)
		oktlsd_worker_wake(workers[i]);
	for (i = 0; i < nw; i++)
		oktlsd_worker_join(workers[i]);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	SSL_CTX_free(cur_ctx);
	oktlsd_main_log_stats();
	log_info("exiting");
	return ret;
}
