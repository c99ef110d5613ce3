// SPDX-License-Identifier: GPL-2.0
/*
 * Counters: per network namespace in /proc/net/oktls_stat, with the stock
 * module's names (so tools reading /proc/net/tls_stat read these too), and
 * per socket through getsockopt(OKTLS_SOCK_STATS) and sock_diag.
 */
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "oktls.h"

static const char *const mib_names[OKTLS_MIB_NUM] = {
	[OKTLS_MIB_CURR_TX_SW]		= "TlsCurrTxSw",
	[OKTLS_MIB_CURR_RX_SW]		= "TlsCurrRxSw",
	[OKTLS_MIB_TX_SW]		= "TlsTxSw",
	[OKTLS_MIB_RX_SW]		= "TlsRxSw",
	[OKTLS_MIB_DECRYPT_ERROR]	= "TlsDecryptError",
	[OKTLS_MIB_RX_NO_PAD_VIOLATION]	= "TlsRxNoPadViolation",
	[OKTLS_MIB_TX_REKEY_OK]		= "TlsTxRekeyOk",
	[OKTLS_MIB_RX_REKEY_OK]		= "TlsRxRekeyOk",
	[OKTLS_MIB_TX_REKEY_ERROR]	= "TlsTxRekeyError",
	[OKTLS_MIB_RX_REKEY_ERROR]	= "TlsRxRekeyError",
	[OKTLS_MIB_RX_REKEY_RECEIVED]	= "TlsRxRekeyReceived",
};

struct oktls_net_mib {
	unsigned long v[OKTLS_MIB_NUM];
};

struct oktls_net {
	struct oktls_net_mib __percpu *mib;
};

static unsigned int net_id __read_mostly;

/**
 * oktls_stats_add() - add to one namespace counter
 * @net: the socket's namespace
 * @field: an OKTLS_MIB_* index
 * @val: what to add (-1 for the "current" gauges)
 *
 * Any context: a per-CPU add, no lock.
 */
void oktls_stats_add(struct net *net, enum oktls_mib field, long val)
{
	struct oktls_net *on = net_generic(net, net_id);

	this_cpu_add(on->mib->v[field], val);
}

static int stat_show(struct seq_file *seq, void *v)
{
	struct oktls_net *on = net_generic(seq_file_single_net(seq), net_id);
	int i, cpu;

	for (i = 0; i < OKTLS_MIB_NUM; i++) {
		unsigned long sum = 0;

		for_each_possible_cpu(cpu)
			sum += per_cpu_ptr(on->mib, cpu)->v[i];
		seq_printf(seq, "%-32s\t%lu\n", mib_names[i], sum);
	}
	return 0;
}

static int __net_init stats_net_init(struct net *net)
{
	struct oktls_net *on = net_generic(net, net_id);

	on->mib = alloc_percpu(struct oktls_net_mib);
	if (!on->mib)
		return -ENOMEM;
	if (!proc_create_net_single("oktls_stat", 0444, net->proc_net,
				    stat_show, NULL)) {
		free_percpu(on->mib);
		return -ENOMEM;
	}
	return 0;
}

static void __net_exit stats_net_exit(struct net *net)
{
	struct oktls_net *on = net_generic(net, net_id);

	remove_proc_entry("oktls_stat", net->proc_net);
	free_percpu(on->mib);
}

static struct pernet_operations stats_net_ops = {
	.init	= stats_net_init,
	.exit	= stats_net_exit,
	.id	= &net_id,
	.size	= sizeof(struct oktls_net),
};

/**
 * oktls_stats_register() - /proc/net/oktls_stat in every namespace
 *
 * Return: 0 or -ENOMEM.
 */
int oktls_stats_register(void)
{
	return register_pernet_subsys(&stats_net_ops);
}

/**
 * oktls_stats_unregister() - undo oktls_stats_register()
 */
void oktls_stats_unregister(void)
{
	unregister_pernet_subsys(&stats_net_ops);
}

/**
 * oktls_stats_read() - a consistent-enough copy of one socket's counters
 * @ctx: the socket's context (socket lock or RCU)
 * @st: filled in
 *
 * Each counter is read once; counters may be a record apart from each
 * other, never torn.
 */
void oktls_stats_read(const struct oktls_ctx *ctx, struct oktls_sock_stats *st)
{
	const struct oktls_sock_stats *s = &ctx->stats;

	memset(st, 0, sizeof(*st));
	st->tx_records = READ_ONCE(s->tx_records);
	st->tx_bytes = READ_ONCE(s->tx_bytes);
	st->rx_records = READ_ONCE(s->rx_records);
	st->rx_bytes = READ_ONCE(s->rx_bytes);
	st->tx_seq = READ_ONCE(s->tx_seq);
	st->rx_seq = READ_ONCE(s->rx_seq);
	st->decrypt_errors = READ_ONCE(s->decrypt_errors);
	st->tx_rekeys = READ_ONCE(s->tx_rekeys);
	st->rx_rekeys = READ_ONCE(s->rx_rekeys);
	st->tx_gen = READ_ONCE(s->tx_gen);
	st->rx_gen = READ_ONCE(s->rx_gen);
	st->rx_key_updates = READ_ONCE(s->rx_key_updates);
	st->flags = READ_ONCE(s->flags);
}
