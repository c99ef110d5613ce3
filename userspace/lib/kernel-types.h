/* SPDX-License-Identifier: MIT */
/*
 * The kernel's fixed-width type names, for building the module's pure
 * record math (kmod/record.h) in userspace: unit tests and fuzz targets.
 */
#ifndef OKTLS_KERNEL_TYPES_H
#define OKTLS_KERNEL_TYPES_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#endif
