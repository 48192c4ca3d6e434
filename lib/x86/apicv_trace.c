// SPDX-License-Identifier: GPL-2.0
/*
 * Parsing kvm_apicv_inhibit_changed trace lines. See
 * include/x86/apicv_trace.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_ioctl.h"
#include "x86/apicv_trace.h"

/* "  comm-1234   [001] d..1.  56.789012: kvm_apicv_inhibit_changed: ..." */
static void parse_header(const char *line, const char *ev,
			 struct apicv_transition *t)
{
	const char *p = ev, *q;
	char *end;

	/* The timestamp ends with ':' just before the event name. */
	while (p > line && p[-1] == ' ')
		p--;
	if (p > line && p[-1] == ':') {
		q = --p;
		while (q > line && (isdigit((unsigned char)q[-1]) || q[-1] == '.'))
			q--;
		if (q < p) {
			unsigned long long sec = strtoull(q, &end, 10);
			u64 frac = 0;
			int digits = 0;

			if (*end == '.')
				for (end++; isdigit((unsigned char)*end); end++) {
					if (digits++ < 9)
						frac = frac * 10 + (*end - '0');
				}
			while (digits > 0 && digits < 9) {
				frac *= 10;
				digits++;
			}
			t->ts_ns = sec * 1000000000ull + frac;
		}
	}
	/* The pid: digits after the last '-' before " [cpu]". */
	q = strstr(line, " [");
	if (q && q < ev) {
		p = q;
		while (p > line && p[-1] == ' ')
			p--;
		q = p;
		while (q > line && isdigit((unsigned char)q[-1]))
			q--;
		if (q < p && q > line && q[-1] == '-')
			t->pid = atoi(q);
	}
}

static bool parse_line(const char *line, struct apicv_transition *t,
		       unsigned int kver, bool *named)
{
	const char *ev, *p;
	char *end;
	unsigned long long mask;
	long bit;
	int pos;

	memset(t, 0, sizeof(*t));
	*named = false;
	t->reason = APICV_REASON_UNKNOWN;
	ev = strstr(line, APICV_TRACE_EVENT);
	if (ev) {
		parse_header(line, ev, t);
		p = ev + sizeof(APICV_TRACE_EVENT) - 1;
		if (*p != ':')
			return false;
		p++;
	} else {
		p = line;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (!strncmp(p, "set ", 4)) {
		t->set = true;
		p += 4;
	} else if (!strncmp(p, "cleared ", 8)) {
		p += 8;
	} else {
		return false;
	}
	if (strncmp(p, "reason=", 7))
		return false;
	bit = strtol(p + 7, &end, 10);
	if (end == p + 7 || bit < 0 || bit > 63)
		return false;
	p = end;
	if (*p == ',')
		p++;
	while (*p == ' ')
		p++;
	if (strncmp(p, "inhibits=", 9))
		return false;
	mask = strtoull(p + 9, &end, 16);
	if (end == p + 9)
		return false;
	t->bit = bit;
	t->mask = mask;
	t->reason = apicv_reason_by_bit_for(bit, kver);

	/*
	 * 6.11+: the names of the mask's bits follow, in bit order, joined
	 * by '|'. When the reason's own bit is in the mask its name is there:
	 * trust the kernel's name over the table.
	 */
	p = end;
	while (*p == ' ')
		p++;
	if (!*p || *p == '\n' || !(mask & BIT_ULL(bit)))
		return true;
	pos = __builtin_popcountll(mask & (BIT_ULL(bit) - 1));
	while (pos-- > 0) {
		p = strchr(p, '|');
		if (!p)
			return true;
		p++;
	}
	{
		char name[64];
		size_t n = strcspn(p, "| \n");

		if (n == 0 || n >= sizeof(name))
			return true;
		memcpy(name, p, n);
		name[n] = 0;
		if (apicv_reason_by_name(name) != APICV_REASON_UNKNOWN) {
			t->reason = apicv_reason_by_name(name);
			*named = true;
		}
	}
	return true;
}

bool apicv_trace_parse_for(const char *line, struct apicv_transition *t,
			   unsigned int kver)
{
	bool named;

	return parse_line(line, t, kver, &named);
}

bool apicv_trace_parse(const char *line, struct apicv_transition *t)
{
	bool named;

	if (!parse_line(line, t, kernel_version(), &named))
		return false;
	/* Without a printed name the running kernel's layout decides. */
	if (!named)
		t->reason = apicv_reason_by_bit(t->bit);
	return true;
}
