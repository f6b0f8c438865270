/* SPDX-License-Identifier: MIT */
/*
 * The freestanding test guest's internal header: port and MMIO access,
 * console printing, interrupts, a bump allocator, PCI and virtio helpers.
 * No libc: everything here is implemented in this folder.
 */
#ifndef TG_H
#define TG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootinfo.h"

#define TG_PORT_EXIT 0x501
#define TG_COM1 0x3f8
/* PCIe ECAM window of bus 0 (the VMM's, vmm/pci.c). */
#define TG_ECAM 0xe0000000ull

/* Direct port I/O: ring 0 only (interrupt setup before user mode). */
static inline void
outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

/*
 * Ring-3 code reaches ring 0 through a deliberate ud2: the #UD handler
 * runs the service named in rdi and resumes after the ud2. Under PVM
 * port I/O from guest ring 3 faults whatever IOPL says, "int n" from
 * ring 3 raises #UD, and a second syscall/sysret round trip leaves the
 * vCPU unable to do port I/O; exceptions taken from ring 3 work.
 * tg_sys(op, a, b) runs one service in ring 0 and returns its result.
 */
enum tg_sys_op {
	TG_SYS_WRITE,   /* a = buffer, b = length: bytes to COM1 */
	TG_SYS_EXIT,    /* a = code */
	TG_SYS_OUTB,    /* a = port, b = value */
	TG_SYS_INB,     /* a = port */
	TG_SYS_IDLE,    /* sti; hlt: wait for the next interrupt */
};

extern bool tg_in_user;
uint64_t tg_sys_direct(uint64_t op, uint64_t a, uint64_t b);

static inline uint64_t
tg_sys(uint64_t op, uint64_t a, uint64_t b)
{
	uint64_t ret;

	/* Ring 0 (before user mode, in handlers) calls the service itself. */
	if (!tg_in_user)
		return tg_sys_direct(op, a, b);
	__asm__ volatile("ud2"
			 : "=a"(ret), "+D"(op), "+S"(a), "+d"(b)
			 :
			 : "memory");
	return ret;
}

#define MMIO_RW(bits)                                                     \
	static inline uint##bits##_t mmio_read##bits(uint64_t a)          \
	{                                                                 \
		return *(volatile uint##bits##_t *)a;                     \
	}                                                                 \
	static inline void mmio_write##bits(uint64_t a, uint##bits##_t v) \
	{                                                                 \
		*(volatile uint##bits##_t *)a = v;                        \
	}
MMIO_RW(8)
MMIO_RW(16)
MMIO_RW(32)
MMIO_RW(64)

#define barrier() __asm__ volatile("" ::: "memory")
#define mb() __asm__ volatile("mfence" ::: "memory")

static inline uint64_t
rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* lib.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
void tg_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tg_exit(int code) __attribute__((noreturn));
/* Page-aligned memory from after the image; never freed. */
void *tg_alloc(uint64_t bytes);
/* tg_alloc() never hands out memory at or above 'addr'. */
void tg_heap_limit(uint64_t addr);
uint64_t tg_parse_u64(const char *s, const char **end);
/* Finds "word" or "word=value" on the command line; value or "" . */
const char *tg_arg(const char *word);
uint64_t tg_arg_u64(const char *word, uint64_t def);
uint32_t tg_crc32c(uint32_t crc, const void *buf, size_t len);
uint64_t tg_rand(uint64_t *state);

extern struct testguest_info *tg_info;

/* irq.c: IDT, LAPIC, MSI vectors */
void tg_irq_init(void);
/* Number of interrupts seen on 'vector' so far. */
uint64_t tg_irq_count(unsigned int vector);
/* Waits (sti; hlt) until 'cond' is true or an interrupt arrives. */
void tg_idle(void);
/* TSC ticks per millisecond, measured against the LAPIC tick once. */
uint64_t tg_tsc_per_ms(void);
/* Continues in ring 3 at fn(); never returns. */
void tg_user_mode(void (*fn)(void)) __attribute__((noreturn));
#define TG_MSI_ADDR 0xfee00000u

/* pci.c */
struct tg_pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
	uint64_t bar[6];
	uint8_t msix_cap;
	uint64_t msix_table;
	uint16_t msix_size;
};
uint32_t tg_pci_read32(const struct tg_pci_dev *d, uint8_t off);
void tg_pci_write32(const struct tg_pci_dev *d, uint8_t off, uint32_t v);
uint16_t tg_pci_read16(const struct tg_pci_dev *d, uint8_t off);
void tg_pci_write16(const struct tg_pci_dev *d, uint8_t off, uint16_t v);
uint8_t tg_pci_read8(const struct tg_pci_dev *d, uint8_t off);
/* Scans bus 0, printing each function; returns how many were found. */
int tg_pci_scan(struct tg_pci_dev *out, int max, bool print);
/* Enables MSI-X; entry i delivers 'vector_base + i' to CPU 0. */
int tg_pci_msix_enable(struct tg_pci_dev *d, unsigned int vector_base);

/* tests */
int tg_blk_test(struct tg_pci_dev *devs, int n);
int tg_blk_check(struct tg_pci_dev *devs, int n);
int tg_blk_bench(struct tg_pci_dev *devs, int n);
int tg_hostile(struct tg_pci_dev *devs, int n);
int tg_balloon_run(struct tg_pci_dev *devs, int n);
int tg_net_test(struct tg_pci_dev *devs, int n);
int tg_console_run(struct tg_pci_dev *devs, int n);

#endif
