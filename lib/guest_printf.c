// SPDX-License-Identifier: GPL-2.0
#include "guest_printf.h"

struct out {
	char *buf;
	size_t size;
	size_t pos;
};

static void put(struct out *o, char c)
{
	if (o->pos + 1 < o->size)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_num(struct out *o, u64 v, unsigned int base, bool upper,
		    bool neg, int width, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width-- > n)
		put(o, pad);
	while (n)
		put(o, tmp[--n]);
}

static const char *put_conv(struct out *o, const char *f, va_list *ap)
{
	char pad = ' ';
	int width = 0, lng = 0;
	s64 sv;
	u64 uv;

	if (*f == '0')
		pad = *f++;
	while (*f >= '0' && *f <= '9')
		width = width * 10 + (*f++ - '0');
	while (*f == 'l' || *f == 'z')
		lng++, f++;

	switch (*f) {
	case 'd':
	case 'i':
		sv = lng ? va_arg(*ap, s64) : va_arg(*ap, int);
		uv = sv < 0 ? -(u64)sv : (u64)sv;
		put_num(o, uv, 10, false, sv < 0, width, pad);
		break;
	case 'u':
	case 'x':
	case 'X':
		uv = lng ? va_arg(*ap, u64) : va_arg(*ap, unsigned int);
		put_num(o, uv, *f == 'u' ? 10 : 16, *f == 'X', false, width,
			pad);
		break;
	case 'p':
		put(o, '0');
		put(o, 'x');
		put_num(o, (u64)va_arg(*ap, void *), 16, false, false, width,
			pad);
		break;
	case 's': {
		const char *s = va_arg(*ap, const char *);

		for (s = s ? s : "(null)"; *s; s++)
			put(o, *s);
		break;
	}
	case 'c':
		put(o, (char)va_arg(*ap, int));
		break;
	case '%':
		put(o, '%');
		break;
	default:	/* unknown: print it as is, never read an argument */
		put(o, '%');
		put(o, *f);
		break;
	}
	return f + 1;
}

int guest_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = size };
	va_list cp;

	va_copy(cp, ap);
	while (*fmt) {
		if (*fmt != '%') {
			put(&o, *fmt++);
			continue;
		}
		if (!fmt[1])
			break;
		fmt = put_conv(&o, fmt + 1, &cp);
	}
	va_end(cp);
	if (size)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	return o.pos;
}

int guest_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = guest_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
