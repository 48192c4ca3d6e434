/* SPDX-License-Identifier: GPL-2.0 */
/*
 * APICv/AVIC inhibits, everything a test asserts with (no lib/x86/apicv.c:
 * this header only gathers the pairs, so tests may include just it):
 *  - x86/apicv_host.h: vendor, enabled/forced/real, the "observable" verdict;
 *  - x86/apicv_reason.h: the reasons and the versioned table (bits,
 *    vendors, stickiness, laziness per kernel);
 *  - x86/apicv_trace.h: the pure trace-line parser;
 *  - x86/apicv_observer.h: the tracefs-backed observer (tracefs.h);
 *  - x86/apicv_burst.h: the irq_injections behaviour source;
 *  - x86/apicv_pull.h (include it yourself): pulling a reason by name.
 */
#ifndef APICV_X86_APICV_H
#define APICV_X86_APICV_H

#include "x86/apicv_burst.h"
#include "x86/apicv_host.h"
#include "x86/apicv_observer.h"
#include "x86/apicv_reason.h"
#include "x86/apicv_trace.h"

#endif /* APICV_X86_APICV_H */
