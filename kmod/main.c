// SPDX-License-Identifier: GPL-2.0
/*
 * oktls: the TLS record layer in the kernel, behind the upstream kTLS uapi.
 * Module entry points only.
 */
#include <linux/module.h>

#include "oktls.h"

static int __init oktls_init(void)
{
	int err;

	err = oktls_stats_register();
	if (err)
		return err;
	err = oktls_ulp_register();
	if (err)
		oktls_stats_unregister();
	return err;
}

static void __exit oktls_exit(void)
{
	oktls_ulp_unregister();
	oktls_stats_unregister();
}

module_init(oktls_init);
module_exit(oktls_exit);

MODULE_DESCRIPTION("oktls: TLS record layer offload");
MODULE_AUTHOR("The oktls developers");
MODULE_LICENSE("GPL");
