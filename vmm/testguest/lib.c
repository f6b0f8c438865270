/* SPDX-License-Identifier: MIT */
/* The test guest's tiny libc: memory, strings, printf to COM1, CRC. */
#include "tg.h"

struct testguest_info *tg_info;
extern char __bss_end[];
static uint64_t heap_next, heap_end;

void
tg_heap_limit(uint64_t addr)
{
	heap_end = addr;
}

void *
memset(void *d, int c, size_t n)
{
	uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *
memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

int
memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t
strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int
strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

/* printf builds a line here, then hands it to ring 0 in one call. */
static char outbuf[512];
static unsigned int outlen;

static void
flush_out(void)
{
	if (outlen)
		tg_sys(TG_SYS_WRITE, (uint64_t)outbuf, outlen);
	outlen = 0;
}

static void
putc_serial(char c)
{
	if (outlen == sizeof(outbuf))
		flush_out();
	outbuf[outlen++] = c;
}

static void
put_num(uint64_t v, unsigned int base, int width, char pad)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n < width--)
		putc_serial(pad);
	while (n)
		putc_serial(buf[--n]);
}

void
tg_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		char pad = ' ';
		uint64_t u;
		int64_t s;

		if (*fmt != '%') {
			putc_serial(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
			s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			if (s < 0) {
				putc_serial('-');
				s = -s;
			}
			put_num((uint64_t)s, 10, width, pad);
			break;
		case 'u':
		case 'x':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			put_num(u, *fmt == 'u' ? 10 : 16, width, pad);
			break;
		case 's':
			for (const char *str = va_arg(ap, const char *); *str;
			     str++)
				putc_serial(*str);
			break;
		case 'c':
			putc_serial((char)va_arg(ap, int));
			break;
		default:
			putc_serial(*fmt);
			break;
		}
	}
	va_end(ap);
	flush_out();
}

void
tg_exit(int code)
{
	for (;;)
		tg_sys(TG_SYS_EXIT, (uint64_t)code, 0);
}

void *
tg_alloc(uint64_t bytes)
{
	uint64_t p;

	if (!heap_next)
		heap_next = ((uint64_t)__bss_end + 4095) & ~4095ull;
	p = heap_next;
	heap_next = (heap_next + bytes + 4095) & ~4095ull;
	if (heap_next > (heap_end ? heap_end : tg_info->low_mem_bytes)) {
		tg_printf("testguest: out of memory\n");
		tg_exit(3);
	}
	memset((void *)p, 0, bytes);
	return (void *)p;
}

uint64_t
tg_parse_u64(const char *s, const char **end)
{
	uint64_t v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	if (end)
		*end = s;
	return v;
}

const char *
tg_arg(const char *word)
{
	const char *c = tg_info->cmdline;
	size_t n = strlen(word);

	while (*c) {
		while (*c == ' ')
			c++;
		if (!strncmp(c, word, n) && (c[n] == ' ' || c[n] == '\0'))
			return c + n;
		if (!strncmp(c, word, n) && c[n] == '=')
			return c + n + 1;
		while (*c && *c != ' ')
			c++;
	}
	return NULL;
}

uint64_t
tg_arg_u64(const char *word, uint64_t def)
{
	const char *v = tg_arg(word);

	return v && *v >= '0' && *v <= '9' ? tg_parse_u64(v, NULL) : def;
}

uint32_t
tg_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		__asm__("crc32q %1, %q0" : "+r"(crc) : "rm"(v));
		p += 8;
		len -= 8;
	}
	while (len--)
		__asm__("crc32b %1, %0" : "+r"(crc) : "rm"(*p++));
	return ~crc;
}

uint64_t
tg_rand(uint64_t *s)
{
	/* xorshift64*: reproducible from the seed on the command line. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}
