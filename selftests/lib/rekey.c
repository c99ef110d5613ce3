// SPDX-License-Identifier: GPL-2.0
/* Helpers for rekey_test; see rekey.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>

#include "lib/net.h"
#include "lib/rekey.h"

void rk_key_update_msg(uint8_t *out, int request_update)
{
	out[0] = RK_HS_KEY_UPDATE;
	out[1] = 0;
	out[2] = 0;
	out[3] = 1;
	out[4] = request_update;
}

ssize_t rk_seal_key_update(struct wire_keys *k, int request_update, void *out,
			   size_t size)
{
	uint8_t msg[RK_KEY_UPDATE_LEN];

	rk_key_update_msg(msg, request_update);
	return wire_seal(k, WIRE_TYPE_HANDSHAKE, msg, sizeof(msg), 0, out, size);
}

ssize_t rk_seal_stream(struct wire_keys *k, const void *pt, size_t len,
		       void *out, size_t size)
{
	size_t off = 0, pos, n;
	ssize_t r;

	for (pos = 0; pos < len; pos += n) {
		n = len - pos < WIRE_MAX_PLAINTEXT ? len - pos : WIRE_MAX_PLAINTEXT;
		r = wire_seal(k, WIRE_TYPE_DATA, (const uint8_t *)pt + pos, n, 0,
			      (uint8_t *)out + off, size - off);
		if (r < 0)
			return -1;
		off += r;
	}
	return off;
}

bool rk_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

static void *writer_fn(void *arg)
{
	struct rk_writer *w = arg;

	w->ok = rk_write_all(w->fd, w->buf, w->len);
	return NULL;
}

int rk_writer_start(struct rk_writer *w)
{
	w->ok = false;
	return pthread_create(&w->thread, NULL, writer_fn, w);
}

bool rk_writer_join(struct rk_writer *w)
{
	pthread_join(w->thread, NULL);
	return w->ok;
}

int rk_pair(int *plain, int *tls, int ms)
{
	int one = 1;

	if (tcp_pair(AF_INET, plain, tls))
		return -1;
	setsockopt(*plain, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*tls, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sock_timeouts(*plain, ms, ms);
	sock_timeouts(*tls, ms, ms);
	return ulp_attach(*tls, test_ulp());
}

/* Say why into why[RK_WHY_SIZE]; returns -1 for the caller to return. */
__attribute__((format(printf, 2, 3)))
static int fail(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, RK_WHY_SIZE, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *strerr_or_eof(ssize_t n)
{
	return n ? strerror(errno) : "EOF";
}

int rk_recv_data(int fd, const void *want, size_t len, char *why)
{
	size_t room = len + 4096, got = 0;
	uint8_t *buf = malloc(room);
	int type, ret = 0;
	ssize_t n;

	if (!buf)
		return fail(why, "out of memory");
	while (got < len && !ret) {
		n = recv_record_type(fd, buf + got, room - got, 0, &type);
		if (n <= 0)
			ret = fail(why, "%zu of %zu bytes read, then %s", got,
				   len, strerr_or_eof(n));
		else if ((size_t)n > len - got)
			ret = fail(why, "a read of %zd at %zu of %zu ran past the data",
				   n, got, len);
		else if (type != WIRE_TYPE_DATA && type != -1)
			ret = fail(why, "record type %d at %zu", type, got);
		else
			got += n;
	}
	if (!ret && memcmp(buf, want, len))
		ret = fail(why, "the %zu bytes read differ from those sent", len);
	free(buf);
	return ret;
}

int rk_recv_key_update(int fd, int req, char *why)
{
	uint8_t buf[64], msg[RK_KEY_UPDATE_LEN];
	ssize_t n;
	int type;

	rk_key_update_msg(msg, req);
	n = recv_record_type(fd, buf, sizeof(buf), 0, &type);
	if (n < 0)
		return fail(why, "KeyUpdate: %s", strerror(errno));
	if (n != RK_KEY_UPDATE_LEN || type != WIRE_TYPE_HANDSHAKE ||
	    memcmp(buf, msg, sizeof(msg)))
		return fail(why, "KeyUpdate expected: read %zd bytes of type %d",
			    n, type);
	return 0;
}

/* The errno a read gets, 0 if it returned something. */
static int read_errno(ssize_t n)
{
	return n < 0 ? errno : 0;
}

int rk_check_key_expired(int fd, char *why)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	static const char *const how[] = {
		"recv", "recv MSG_DONTWAIT", "recv MSG_PEEK", "recvmsg",
		"read", "splice", "splice SPLICE_F_NONBLOCK",
	};
	struct oktls_sock_stats st;
	int p[2], i, err, type;
	long long t0;
	char buf[64];

	if (pipe(p))
		return fail(why, "pipe: %s", strerror(errno));
	for (i = 0; i < (int)(sizeof(how) / sizeof(how[0])); i++) {
		t0 = now_ms();
		switch (i) {
		case 0:
			err = read_errno(recv(fd, buf, sizeof(buf), 0));
			break;
		case 1:
			err = read_errno(recv(fd, buf, sizeof(buf), MSG_DONTWAIT));
			break;
		case 2:
			err = read_errno(recv(fd, buf, sizeof(buf), MSG_PEEK));
			break;
		case 3:
			err = read_errno(recv_record_type(fd, buf, sizeof(buf), 0,
						      &type));
			break;
		case 4:
			err = read_errno(read(fd, buf, sizeof(buf)));
			break;
		case 5:
			err = read_errno(splice(fd, NULL, p[1], NULL, 4096, 0));
			break;
		default:
			err = read_errno(splice(fd, NULL, p[1], NULL, 4096,
						SPLICE_F_NONBLOCK));
			break;
		}
		if (err != EKEYEXPIRED || now_ms() - t0 > 2000)
			break;
	}
	close(p[0]);
	close(p[1]);
	if (i < (int)(sizeof(how) / sizeof(how[0])))
		return fail(why, "%s: %s (%d) after %lld ms, not EKEYEXPIRED at once",
			    how[i], err ? strerror(err) : "data", err,
			    now_ms() - t0);
	if (poll(&pfd, 1, 200))
		return fail(why, "poll reports %#x while the key is expired",
			    pfd.revents);
	if (rk_sock_stats(fd, &st) || !(st.flags & OKTLS_STATS_F_RX_KEY_EXPIRED))
		return fail(why, "OKTLS_STATS_F_RX_KEY_EXPIRED not in the stats");
	return 0;
}

int rk_peer_record(int fd, struct wire_keys *k, struct wire_keys *ref,
		   uint8_t *type, void *pt, size_t *len, char *why)
{
	static uint8_t rec[WIRE_MAX_RECORD], again[WIRE_MAX_RECORD];
	unsigned long long seq = k->seq;
	ssize_t n, m;
	int err;

	n = wire_read_record(fd, rec, sizeof(rec));
	if (n <= 0)
		return fail(why, "record seq %llu: %s", seq, strerr_or_eof(n));
	err = wire_open(k, rec, n, type, pt, len);
	if (err)
		return fail(why, "record of %zd bytes, seq %llu: %s", n, seq,
			    wire_strerror(err));
	m = wire_seal(ref, *type, pt, *len, 0, again, sizeof(again));
	if (m != n || memcmp(rec, again, n))
		return fail(why, "record seq %llu is not the one EVP seals", seq);
	return 0;
}

int rk_peer_expect(int fd, struct wire_keys *k, struct wire_keys *ref,
		   uint8_t type, const void *want, size_t len, char *why)
{
	static uint8_t pt[WIRE_MAX_RECORD];
	size_t plen;
	uint8_t t;

	if (rk_peer_record(fd, k, ref, &t, pt, &plen, why))
		return -1;
	if (t != type || plen != len || memcmp(pt, want, len))
		return fail(why, "record of type %u, %zu bytes: %s expected",
			    t, plen, t != type ? "another type" :
			    plen != len ? "another length" : "other bytes");
	return 0;
}

int rk_peer_stream(int fd, struct wire_keys *k, struct wire_keys *ref,
		   const void *want, size_t len, size_t *nrec, char *why)
{
	static uint8_t pt[WIRE_MAX_RECORD];
	size_t got = 0, plen;
	uint8_t t;

	for (*nrec = 0; got < len; ++*nrec, got += plen) {
		if (rk_peer_record(fd, k, ref, &t, pt, &plen, why))
			return -1;
		if (t != WIRE_TYPE_DATA || plen > len - got ||
		    memcmp(pt, (const uint8_t *)want + got, plen))
			return fail(why, "record %zu (type %u, %zu bytes at %zu) is not the data",
				    *nrec, t, plen, got);
	}
	return 0;
}

int rk_peer_eof(int fd, char *why)
{
	uint8_t buf[WIRE_HEADER_SIZE + 64];
	ssize_t n = wire_read_record(fd, buf, sizeof(buf));

	if (n)
		return fail(why, "%s, not the end of the stream",
			    n > 0 ? "a record" : strerror(errno));
	return 0;
}

int rk_sock_stats(int fd, struct oktls_sock_stats *st)
{
	socklen_t len = sizeof(*st);

	memset(st, 0xa5, sizeof(*st));
	if (getsockopt(fd, SOL_TLS, OKTLS_SOCK_STATS, st, &len))
		return errno;
	return len == sizeof(*st) ? 0 : EMSGSIZE;
}

const char *const rk_mib_names[RK_MIB_NUM] = {
	[RK_CURR_TX_SW]			= "TlsCurrTxSw",
	[RK_CURR_RX_SW]			= "TlsCurrRxSw",
	[RK_TX_SW]			= "TlsTxSw",
	[RK_RX_SW]			= "TlsRxSw",
	[RK_DECRYPT_ERROR]		= "TlsDecryptError",
	[RK_RX_NO_PAD_VIOLATION]	= "TlsRxNoPadViolation",
	[RK_TX_REKEY_OK]		= "TlsTxRekeyOk",
	[RK_RX_REKEY_OK]		= "TlsRxRekeyOk",
	[RK_TX_REKEY_ERROR]		= "TlsTxRekeyError",
	[RK_RX_REKEY_ERROR]		= "TlsRxRekeyError",
	[RK_RX_REKEY_RECEIVED]		= "TlsRxRekeyReceived",
};

/* "Name<whitespace>value" lines; the value of name, or -1. */
static long long stat_in(const char *text, const char *name)
{
	const char *p = text;
	unsigned long long v;
	char key[64];

	while (p && *p) {
		if (sscanf(p, "%63s %llu", key, &v) == 2 && !strcmp(key, name))
			return v;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

bool rk_proc_stats(long long v[RK_MIB_NUM])
{
	char buf[4096];
	int i;

	if (read_file("/proc/net/oktls_stat", buf, sizeof(buf)) < 0)
		return false;
	for (i = 0; i < RK_MIB_NUM; i++) {
		v[i] = stat_in(buf, rk_mib_names[i]);
		if (v[i] < 0)
			return false;
	}
	return true;
}

int rk_write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		err = errno ? errno : EIO;
	close(fd);
	return err;
}

/* The attributes of one nest (or of the message), rem the bytes left. */
#define for_each_attr(a, rem, buf, len)					\
	for (a = (struct rtattr *)(buf), rem = (len); RTA_OK(a, rem);	\
	     a = RTA_NEXT(a, rem))

static int attr_type(const struct rtattr *a)
{
	return a->rta_type & NLA_TYPE_MASK;
}

static int attr_u16(const struct rtattr *a)
{
	uint16_t v;

	if (RTA_PAYLOAD(a) < sizeof(v))
		return -1;
	memcpy(&v, RTA_DATA(a), sizeof(v));
	return v;
}

static void parse_tls(struct rk_diag *d, const struct rtattr *nest)
{
	struct rtattr *a;
	int rem;

	d->tls = true;
	for_each_attr(a, rem, RTA_DATA(nest), RTA_PAYLOAD(nest)) {
		switch (attr_type(a)) {
		case TLS_INFO_VERSION:
			d->version = attr_u16(a);
			break;
		case TLS_INFO_CIPHER:
			d->cipher = attr_u16(a);
			break;
		case TLS_INFO_TXCONF:
			d->txconf = attr_u16(a);
			break;
		case TLS_INFO_RXCONF:
			d->rxconf = attr_u16(a);
			break;
		case TLS_INFO_ZC_RO_TX:
			d->zc_ro_tx = true;
			break;
		case TLS_INFO_RX_NO_PAD:
			d->rx_no_pad = true;
			break;
		}
	}
}

static void parse_oktls(struct rk_diag *d, const struct rtattr *nest)
{
	struct rtattr *a;
	int rem;

	d->oktls = true;
	for_each_attr(a, rem, RTA_DATA(nest), RTA_PAYLOAD(nest)) {
		if (attr_type(a) != OKTLS_INFO_STATS)
			continue;
		d->stats_len = RTA_PAYLOAD(a);
		memcpy(&d->stats, RTA_DATA(a),
		       d->stats_len < sizeof(d->stats) ? d->stats_len :
							 sizeof(d->stats));
	}
}

static void parse_ulp(struct rk_diag *d, const struct rtattr *nest)
{
	struct rtattr *a;
	int rem;

	d->ulp = true;
	for_each_attr(a, rem, RTA_DATA(nest), RTA_PAYLOAD(nest)) {
		switch (attr_type(a)) {
		case INET_ULP_INFO_NAME:
			snprintf(d->name, sizeof(d->name), "%.*s",
				 (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
			break;
		case INET_ULP_INFO_TLS:
			parse_tls(d, a);
			break;
		case INET_ULP_INFO_OKTLS:
			parse_oktls(d, a);
			break;
		}
	}
}

/* One reply message: ours if its addresses are those of fd. */
static void parse_msg(struct rk_diag *d, const struct nlmsghdr *nlh,
		      const struct sockaddr_in *me,
		      const struct sockaddr_in *peer)
{
	const struct inet_diag_msg *r = NLMSG_DATA(nlh);
	struct rtattr *a;
	int rem;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*r)) ||
	    r->id.idiag_sport != me->sin_port ||
	    r->id.idiag_dport != peer->sin_port ||
	    r->id.idiag_src[0] != me->sin_addr.s_addr ||
	    r->id.idiag_dst[0] != peer->sin_addr.s_addr)
		return;
	d->found = true;
	for_each_attr(a, rem, r + 1, nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*r)))
		if (attr_type(a) == INET_DIAG_ULP_INFO)
			parse_ulp(d, a);
}

int rk_diag_lookup(int fd, bool dump, struct rk_diag *d)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0),
			.nlmsg_seq = 1,
		},
		.r = {
			.sdiag_family = AF_INET,
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_ext = 1 << (INET_DIAG_INFO - 1),
			.idiag_states = 1 << TCP_ESTABLISHED,
		},
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct sockaddr_in me, peer;
	socklen_t len = sizeof(me);
	static uint8_t buf[65536];
	int nl, err = 0;
	bool done = false;

	memset(d, 0, sizeof(*d));
	d->version = d->cipher = d->txconf = d->rxconf = -1;
	if (getsockname(fd, (struct sockaddr *)&me, &len))
		return errno;
	len = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &len))
		return errno;
	req.r.id.idiag_sport = me.sin_port;
	req.r.id.idiag_dport = peer.sin_port;
	req.r.id.idiag_src[0] = me.sin_addr.s_addr;
	req.r.id.idiag_dst[0] = peer.sin_addr.s_addr;
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return errno;
	sock_timeouts(nl, 5000, 5000);
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&sa,
		   sizeof(sa)) != sizeof(req)) {
		err = errno;
		goto out;
	}
	while (!done) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0) {
			err = errno;
			break;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				err = e->error ? -e->error : 0;
				done = true;
				break;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
				parse_msg(d, h, &me, &peer);
			/* An exact lookup answers with one message. */
			if (!dump)
				done = true;
		}
	}
out:
	close(nl);
	if (!err && !d->found)
		err = ENOENT;
	return err;
}

int rk_diag_check(int fd, bool dump, const char *ulp, uint16_t cipher,
		  bool flags, char *why)
{
	int conf = cipher ? TLS_CONF_SW : TLS_CONF_BASE;
	int version = cipher ? TLS_1_3_VERSION : -1;
	struct oktls_sock_stats st;
	struct rk_diag d;
	int err;

	if (rk_sock_stats(fd, &st))
		return fail(why, "OKTLS_SOCK_STATS: %s", strerror(errno));
	err = rk_diag_lookup(fd, dump, &d);
	if (err)
		return fail(why, "sock_diag %s: %s", dump ? "dump" : "lookup",
			    strerror(err));
	if (!d.ulp || strcmp(d.name, ulp))
		return fail(why, "ULP info %s, name \"%s\"", d.ulp ? "there" : "missing",
			    d.name);
	if (!d.tls || d.version != version || d.cipher != (cipher ? cipher : -1) ||
	    d.txconf != conf || d.rxconf != conf)
		return fail(why, "TLS info: nest %d version %#x cipher %d txconf %d rxconf %d",
			    d.tls, d.version, d.cipher, d.txconf, d.rxconf);
	if (d.zc_ro_tx != flags || d.rx_no_pad != flags)
		return fail(why, "TLS info flags: ZC_RO_TX %d RX_NO_PAD %d",
			    d.zc_ro_tx, d.rx_no_pad);
	if (!d.oktls || d.stats_len != sizeof(st))
		return fail(why, "oktls nest %d, stats of %zu bytes", d.oktls,
			    d.stats_len);
	if (memcmp(&d.stats, &st, sizeof(st)))
		return fail(why, "diag stats differ: tx %llu/%llu rx %llu/%llu (getsockopt %llu/%llu %llu/%llu)",
			    (unsigned long long)d.stats.tx_records,
			    (unsigned long long)d.stats.tx_bytes,
			    (unsigned long long)d.stats.rx_records,
			    (unsigned long long)d.stats.rx_bytes,
			    (unsigned long long)st.tx_records,
			    (unsigned long long)st.tx_bytes,
			    (unsigned long long)st.rx_records,
			    (unsigned long long)st.rx_bytes);
	return 0;
}

void rk_crypto_info(const struct wire_keys *k, bool hidden,
		    union wire_crypto_info *ci)
{
	const struct wire_cipher *c = k->cipher;
	uint8_t *p = (uint8_t *)ci;

	wire_crypto_info(k, ci);
	if (!hidden)
		return;
	memset(p + c->key_off, 0, c->key_size);
	memset(p + c->salt_off, 0, c->salt_size);
	memset(p + c->iv_off, 0, c->iv_size);
}

int rk_ss_check(int fd, const char *ulp, char *why)
{
	static const char *const paths[] = {
		"/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss",
	};
	char cmd[160], line[1024], want[48];
	bool name = false, ver = false;
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	size_t i;
	FILE *f;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!access(paths[i], X_OK))
			break;
	if (i == sizeof(paths) / sizeof(paths[0]))
		return 1;
	if (getsockname(fd, (struct sockaddr *)&me, &len))
		return fail(why, "getsockname: %s", strerror(errno));
	snprintf(cmd, sizeof(cmd), "%s -tin 'sport = :%u' 2>&1", paths[i],
		 ntohs(me.sin_port));
	snprintf(want, sizeof(want), "tcp-ulp-%s", ulp);
	f = popen(cmd, "r");
	if (!f)
		return fail(why, "popen %s: %s", cmd, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		name |= !!strstr(line, want);
		ver |= !!strstr(line, "version: 1.3");
	}
	pclose(f);
	if (!name || !ver)
		return fail(why, "%s shows %s%s%s", cmd, name ? "" : "no ", want,
			    ver ? "" : ", no \"version: 1.3\"");
	return 0;
}

int rk_oktls_ss_check(int fd, const char *ulp, const char *expect, char *why)
{
	char line[1024], local[32], cols[2][40];
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	bool found = false;
	int rc = 0;
	FILE *f;

	if (access("/usr/bin/oktls-ss", X_OK))
		return fail(why, "/usr/bin/oktls-ss is not in the guest");
	if (getsockname(fd, (struct sockaddr *)&me, &len))
		return fail(why, "getsockname: %s", strerror(errno));
	snprintf(local, sizeof(local), "127.0.0.1:%u", ntohs(me.sin_port));
	f = popen("/usr/bin/oktls-ss -4 2>&1", "r");
	if (!f)
		return fail(why, "popen oktls-ss: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		/* Columns: local, peer, ULP, version, cipher, tx, rx, counters. */
		if (sscanf(line, "%39s %*s %39s", cols[0], cols[1]) != 2 ||
		    strcmp(cols[0], local))
			continue;
		found = true;
		if (strcmp(cols[1], ulp) || !strstr(line, " 1.3 ") ||
		    !strstr(line, expect))
			rc = fail(why, "oktls-ss: wanted %s, 1.3 and \"%s\" in: %s",
				  ulp, expect, line);
	}
	if (pclose(f) != 0 && !rc)
		rc = fail(why, "oktls-ss exited with an error");
	if (!found && !rc)
		rc = fail(why, "oktls-ss has no line for %s", local);
	return rc;
}
