/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the supported kernels (6.1 .. 6.12) lives here,
 * so the rest of oktls is written against the newest API only. Features are
 * detected from the target's headers in Kbuild, not from its version number.
 */
#ifndef _OKTLS_COMPAT_H
#define _OKTLS_COMPAT_H

#endif /* _OKTLS_COMPAT_H */
