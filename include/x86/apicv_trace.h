/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kvm:kvm_apicv_inhibit_changed trace line, parsed: pure text to
 * struct apicv_transition, both formats (through 6.10 numbers only; 6.11+
 * with the mask's reason names, the same text through 7.2). Needs no
 * tracefs and no /dev/kvm; bits map to reasons by the reason table.
 */
#ifndef APICV_X86_APICV_TRACE_H
#define APICV_X86_APICV_TRACE_H

#include <stdbool.h>

#include "x86/apicv_reason.h"

/* The tracepoint's name, under events/kvm/. */
#define APICV_TRACE_EVENT	"kvm_apicv_inhibit_changed"

struct apicv_transition {
	enum apicv_reason reason;	/* from the name if printed, else bit */
	int bit;			/* the raw "reason=" number */
	bool set;			/* "set" (true) or "cleared" */
	u64 mask;			/* "inhibits=": the mask after it */
	u64 ts_ns;			/* trace timestamp, ns (0 if absent) */
	int pid;			/* the thread that changed it (0 if absent) */
};

/*
 * Parses one trace line (raw "trace_pipe"/"trace" line or just the event's
 * text): "... kvm_apicv_inhibit_changed: set reason=8, inhibits=0x100" or
 * "... cleared reason=9, inhibits=0x200 PIT_REINJ". Bits map to reasons by
 * the running kernel's table (by name when printed). False for other lines.
 */
bool apicv_trace_parse(const char *line, struct apicv_transition *t);
/* The same, mapping bits with the table of kernel @kver. */
bool apicv_trace_parse_for(const char *line, struct apicv_transition *t,
			   unsigned int kver);

#endif /* APICV_X86_APICV_TRACE_H */
