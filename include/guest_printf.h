/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A freestanding vsnprintf for guest code (libc's needs TLS and locales).
 * Supports %d %i %u %x %X %p %s %c %% with l/ll/z, width and 0-padding.
 */
#ifndef APICV_GUEST_PRINTF_H
#define APICV_GUEST_PRINTF_H

#include <stdarg.h>

#include "test_util.h"

int guest_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int __printf(3, 4) guest_snprintf(char *buf, size_t size, const char *fmt,
				  ...);

#endif
