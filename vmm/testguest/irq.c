/* SPDX-License-Identifier: MIT */
/*
 * Test guest interrupts: an IDT pointing at the stubs in start.S, the
 * local APIC enabled in xAPIC mode, exceptions reported on the serial
 * line (exit code 0xee), and per-vector counters for MSI-X.
 */
#include "tg.h"

#define LAPIC 0xfee00000ull
#define LAPIC_SVR 0xf0
#define LAPIC_EOI 0xb0
#define LAPIC_TPR 0x80

struct idt_entry {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
static volatile uint64_t counts[256];
extern char isr_stubs[];

void tg_isr(uint64_t vector, uint64_t *frame);

void
tg_isr(uint64_t vector, uint64_t *frame)
{
	if (vector < 32) {
		uint64_t cr2;

		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		tg_printf("testguest: exception %u error 0x%lx at rip 0x%lx "
			  "cr2 0x%lx\n",
			  (unsigned int)vector, frame[1], frame[2], cr2);
		tg_exit(0xee);
	}
	counts[vector]++;
	mmio_write32(LAPIC + LAPIC_EOI, 0);
}

void
tg_irq_init(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };

	for (int i = 0; i < 256; i++) {
		uint64_t a = (uint64_t)isr_stubs + (uint64_t)i * 16;

		idt[i].off_lo = (uint16_t)a;
		idt[i].sel = 0x08;
		idt[i].type = 0x8e; /* present, interrupt gate */
		idt[i].off_mid = (uint16_t)(a >> 16);
		idt[i].off_hi = (uint32_t)(a >> 32);
	}
	__asm__ volatile("lidt %0" : : "m"(idtr));
	/* Mask the legacy PICs; everything comes through the LAPIC. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	mmio_write32(LAPIC + LAPIC_TPR, 0);
	mmio_write32(LAPIC + LAPIC_SVR, 0x100 | 0xff);
	/* A periodic tick so every wait in hlt can also time out. */
	mmio_write32(LAPIC + 0x3e0, 0x3);           /* divide by 16 */
	mmio_write32(LAPIC + 0x320, 0x20 | (1 << 17)); /* vector 0x20 */
	mmio_write32(LAPIC + 0x380, 4000000);
}

uint64_t
tg_irq_count(unsigned int vector)
{
	return counts[vector & 255];
}

void
tg_idle(void)
{
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}
