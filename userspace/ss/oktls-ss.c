// SPDX-License-Identifier: MIT
/*
 * oktls-ss: per-connection TLS counters of oktls sockets, from sock_diag.
 *
 * `ss -ti` prints the ULP name and the upstream TLS attributes (version,
 * cipher, configuration) but cannot decode oktls's own counters, so this
 * asks the kernel the same way ss does (NETLINK_SOCK_DIAG, one dump per
 * address family) and prints one line per socket with a TLS ULP attached.
 * Needs CAP_NET_ADMIN: the kernel reports ULP details only to it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../kmod/uapi/oktls.h"

struct row {
	char local[INET6_ADDRSTRLEN + 8];
	char peer[INET6_ADDRSTRLEN + 8];
	char ulp[16];
	uint16_t version;
	uint16_t cipher;
	uint16_t txconf;
	uint16_t rxconf;
	bool have_stats;
	struct oktls_sock_stats st;
};

static const struct {
	uint16_t type;
	const char *name;
} ciphers[] = {
	{ TLS_CIPHER_AES_GCM_128, "aes-gcm-128" },
	{ TLS_CIPHER_AES_GCM_256, "aes-gcm-256" },
	{ TLS_CIPHER_AES_CCM_128, "aes-ccm-128" },
	{ TLS_CIPHER_CHACHA20_POLY1305, "chacha20-poly1305" },
	{ TLS_CIPHER_SM4_GCM, "sm4-gcm" },
	{ TLS_CIPHER_SM4_CCM, "sm4-ccm" },
	{ TLS_CIPHER_ARIA_GCM_128, "aria-gcm-128" },
	{ TLS_CIPHER_ARIA_GCM_256, "aria-gcm-256" },
};

static const char *cipher_name(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
		if (ciphers[i].type == type)
			return ciphers[i].name;
	return "?";
}

static void format_addr(char *out, size_t len, int family, const __be32 *addr,
			__be16 port)
{
	char host[INET6_ADDRSTRLEN];

	inet_ntop(family, addr, host, sizeof(host));
	snprintf(out, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 ntohs(port));
}

/* The attributes of one nest, or of a message's tail. */
#define for_each_attr(rta, start, len) \
	for (rta = (struct rtattr *)(start); RTA_OK(rta, len); \
	     rta = RTA_NEXT(rta, len))

static void parse_tls(struct row *r, struct rtattr *nest)
{
	struct rtattr *a;
	int len = RTA_PAYLOAD(nest);

	for_each_attr(a, RTA_DATA(nest), len) {
		uint16_t v = RTA_PAYLOAD(a) >= 2 ? *(uint16_t *)RTA_DATA(a) : 0;

		switch (a->rta_type & NLA_TYPE_MASK) {
		case TLS_INFO_VERSION: r->version = v; break;
		case TLS_INFO_CIPHER: r->cipher = v; break;
		case TLS_INFO_TXCONF: r->txconf = v; break;
		case TLS_INFO_RXCONF: r->rxconf = v; break;
		}
	}
}

static void parse_oktls(struct row *r, struct rtattr *nest)
{
	struct rtattr *a;
	int len = RTA_PAYLOAD(nest);

	for_each_attr(a, RTA_DATA(nest), len) {
		if ((a->rta_type & NLA_TYPE_MASK) != OKTLS_INFO_STATS)
			continue;
		/* An older module's shorter struct leaves the rest zero. */
		memcpy(&r->st, RTA_DATA(a),
		       RTA_PAYLOAD(a) < sizeof(r->st) ? RTA_PAYLOAD(a) : sizeof(r->st));
		r->have_stats = true;
	}
}

static bool parse_ulp(struct row *r, struct rtattr *nest)
{
	struct rtattr *a;
	int len = RTA_PAYLOAD(nest);

	for_each_attr(a, RTA_DATA(nest), len) {
		switch (a->rta_type & NLA_TYPE_MASK) {
		case INET_ULP_INFO_NAME:
			snprintf(r->ulp, sizeof(r->ulp), "%.*s",
				 (int)RTA_PAYLOAD(a), (char *)RTA_DATA(a));
			break;
		case INET_ULP_INFO_TLS:
			parse_tls(r, a);
			break;
		case INET_ULP_INFO_OKTLS:
			parse_oktls(r, a);
			break;
		}
	}
	return !strcmp(r->ulp, "oktls") || !strcmp(r->ulp, "tls");
}

static const char *conf_name(uint16_t conf)
{
	return conf == TLS_CONF_SW ? "sw" : conf == TLS_CONF_BASE ? "-" : "hw";
}

static void print_row(const struct row *r)
{
	const struct oktls_sock_stats *s = &r->st;

	printf("%-24s %-24s %-5s %s %-17s tx:%s rx:%s", r->local, r->peer,
	       r->ulp, r->version == TLS_1_3_VERSION ? "1.3" :
		       r->version == TLS_1_2_VERSION ? "1.2" : "-  ",
	       r->version ? cipher_name(r->cipher) : "-", conf_name(r->txconf),
	       conf_name(r->rxconf));
	if (r->have_stats) {
		printf(" tx_records:%llu tx_bytes:%llu tx_seq:%llu tx_gen:%d"
		       " rx_records:%llu rx_bytes:%llu rx_seq:%llu rx_gen:%d"
		       " rekeys:%u/%u key_updates:%u decrypt_errors:%llu%s",
		       (unsigned long long)s->tx_records,
		       (unsigned long long)s->tx_bytes,
		       (unsigned long long)s->tx_seq, (int)s->tx_gen,
		       (unsigned long long)s->rx_records,
		       (unsigned long long)s->rx_bytes,
		       (unsigned long long)s->rx_seq, (int)s->rx_gen,
		       s->tx_rekeys, s->rx_rekeys, s->rx_key_updates,
		       (unsigned long long)s->decrypt_errors,
		       s->flags & OKTLS_STATS_F_RX_KEY_EXPIRED ?
		       " rx_key_expired" : "");
	}
	putchar('\n');
}

/* One family's dump; returns rows printed or -1. */
static int dump_family(int nl, int family)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		},
		.req = {
			.sdiag_family = family,
			.sdiag_protocol = IPPROTO_TCP,
			/* ULP details come with the TCP info extension. */
			.idiag_ext = 1 << (INET_DIAG_INFO - 1),
			.idiag_states = ~0U,
		},
	};
	static char buf[65536];
	int rows = 0;

	if (send(nl, &msg, sizeof(msg), 0) != sizeof(msg))
		return -1;
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0)
			return -1;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
			struct inet_diag_msg *d = NLMSG_DATA(h);
			struct rtattr *a;
			struct row r;
			int len;

			if (h->nlmsg_type == NLMSG_DONE)
				return rows;
			if (h->nlmsg_type == NLMSG_ERROR) {
				errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
				return -1;
			}
			memset(&r, 0, sizeof(r));
			len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*d));
			for_each_attr(a, d + 1, len) {
				if (a->rta_type != INET_DIAG_ULP_INFO ||
				    !parse_ulp(&r, a))
					continue;
				format_addr(r.local, sizeof(r.local), family,
					    d->id.idiag_src, d->id.idiag_sport);
				format_addr(r.peer, sizeof(r.peer), family,
					    d->id.idiag_dst, d->id.idiag_dport);
				print_row(&r);
				rows++;
			}
		}
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: oktls-ss [-4|-6]\n\n"
		"Lists TCP sockets with the oktls (or tls) ULP attached: addresses,\n"
		"TLS version and cipher, configuration, and oktls's per-socket\n"
		"counters. Needs CAP_NET_ADMIN.\n");
}

int main(int argc, char **argv)
{
	bool v4 = true, v6 = true;
	int nl, opt;

	while ((opt = getopt(argc, argv, "46h")) != -1) {
		switch (opt) {
		case '4': v6 = false; break;
		case '6': v4 = false; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0) {
		perror("oktls-ss: netlink");
		return 1;
	}
	if ((v4 && dump_family(nl, AF_INET) < 0) ||
	    (v6 && dump_family(nl, AF_INET6) < 0)) {
		perror("oktls-ss: sock_diag");
		return 1;
	}
	close(nl);
	return 0;
}
