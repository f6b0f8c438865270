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
/* Interrupts seen per vector; the fast stubs in start.S count them. */
volatile uint64_t tg_irq_counts[256];
/*
 * KVM's paravirtual EOI (as Linux guests on KVM use it): KVM sets bit 0
 * when it injects an interrupt whose EOI it can take without an exit,
 * and the stub clears it instead of writing the LAPIC's EOI register,
 * an MMIO exit that PVM must decode.
 */
volatile uint32_t tg_pv_eoi __attribute__((aligned(4)));

#define KVM_CPUID_SIGNATURE 0x40000000u
#define KVM_CPUID_FEATURES 0x40000001u
#define KVM_FEATURE_PV_EOI 6
#define MSR_KVM_PV_EOI_EN 0x4b564d04u

static void
cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(0));
}

static void
pv_eoi_enable(void)
{
	uint64_t v = (uint64_t)&tg_pv_eoi | 1;
	uint32_t r[4];

	cpuid(KVM_CPUID_SIGNATURE, r);
	/* "KVMKVMKVM\0\0\0" in ebx, ecx, edx */
	if (r[1] != 0x4b4d564b || r[2] != 0x564b4d56 || r[3] != 0x4d)
		return;
	cpuid(KVM_CPUID_FEATURES, r);
	if (!(r[0] & (1u << KVM_FEATURE_PV_EOI)))
		return;
	__asm__ volatile("wrmsr" : : "c"(MSR_KVM_PV_EOI_EN), "a"((uint32_t)v),
			 "d"((uint32_t)(v >> 32)));
}
extern char isr_stubs[];

void tg_isr(uint64_t vector, uint64_t *frame);
void tg_gdt_reload(void *gdtr);
void tg_enter_user(void (*fn)(void), uint64_t rsp) __attribute__((noreturn));

struct tss {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2;
	uint64_t reserved1, ist[7], reserved2;
	uint16_t reserved3, iomap;
} __attribute__((packed));

static uint64_t gdt[7] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static uint8_t kstack[16384] __attribute__((aligned(16)));
static uint8_t ustack[65536] __attribute__((aligned(16)));

bool tg_in_user;

/* The services behind tg_sys(). */
uint64_t
tg_sys_direct(uint64_t op, uint64_t a, uint64_t b)
{
	const volatile char *p = (const char *)a;

	switch (op) {
	case TG_SYS_WRITE:
		for (uint64_t i = 0; i < b; i++)
			__asm__ volatile("outb %0, %1" : : "a"(p[i]), "Nd"((uint16_t)TG_COM1));
		return b;
	case TG_SYS_EXIT:
		for (;;)
			__asm__ volatile("outb %0, %1" : : "a"((uint8_t)a),
					 "Nd"((uint16_t)TG_PORT_EXIT));
	case TG_SYS_OUTB:
		__asm__ volatile("outb %0, %w1" : : "a"((uint8_t)b), "Nd"((uint16_t)a));
		return 0;
	case TG_SYS_IDLE:
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		return 0;
	case TG_SYS_INB: {
		uint8_t v;

		__asm__ volatile("inb %w1, %0" : "=a"(v) : "Nd"((uint16_t)a));
		return v;
	}
	default:
		return (uint64_t)-1;
	}
}

static void
isr_body(uint64_t vector, uint64_t *frame)
{
	const uint8_t *rip = (const uint8_t *)frame[2];

	if (vector == 6 && rip[0] == 0x0f && rip[1] == 0x0b) {
		/* A service call (tg_sys): registers saved below the frame,
		   rax at -1, rdx -3, rsi -4, rdi -5 (start.S). */
		frame[-1] = tg_sys_direct(frame[-5], frame[-4], frame[-3]);
		frame[2] += 2;
		return;
	}
	if (vector < 32) {
		uint64_t cr2;

		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		tg_printf("testguest: exception %u error 0x%lx at rip 0x%lx "
			  "cr2 0x%lx\n",
			  (unsigned int)vector, frame[1], frame[2], cr2);
		tg_sys_direct(TG_SYS_EXIT, 0xee, 0);
	}
	tg_irq_counts[vector]++;
	if (!(__atomic_fetch_and(&tg_pv_eoi, ~1u, __ATOMIC_RELAXED) & 1))
		mmio_write32(LAPIC + LAPIC_EOI, 0);
}

void
tg_isr(uint64_t vector, uint64_t *frame)
{
	bool was_user = tg_in_user;

	/* Handlers run in ring 0 and may print: direct port I/O there. */
	tg_in_user = false;
	isr_body(vector, frame);
	tg_in_user = was_user;
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
		idt[i].type = 0x8e;
		idt[i].off_mid = (uint16_t)(a >> 16);
		idt[i].off_hi = (uint32_t)(a >> 32);
	}
	__asm__ volatile("lidt %0" : : "m"(idtr));
	/* Mask the legacy PICs; everything comes through the LAPIC. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	mmio_write32(LAPIC + LAPIC_TPR, 0);
	mmio_write32(LAPIC + LAPIC_SVR, 0x100 | 0xff);
	pv_eoi_enable();
	/* A periodic tick so every wait in hlt can also time out. */
	mmio_write32(LAPIC + 0x3e0, 0x3);           /* divide by 16 */
	mmio_write32(LAPIC + 0x320, 0x20 | (1 << 17)); /* vector 0x20 */
	mmio_write32(LAPIC + 0x380, 4000000);
}

/*
 * PVM runs guest ring 0 through instruction emulation (thousands of
 * cycles per instruction) and only guest user mode at native speed, as
 * a PVM guest kernel expects. So the test guest does its work in ring 3
 * with IOPL 3 (port I/O allowed) on pages the VMM maps user-accessible;
 * interrupts and the idle call (int 0x81) take it to ring 0 briefly.
 */
void
tg_user_mode(void (*fn)(void))
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr = { sizeof(gdt) - 1, (uint64_t)gdt };
	uint64_t t = (uint64_t)&tss;

	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffull; /* 0x08 kernel code */
	gdt[2] = 0x00cf93000000ffffull; /* 0x10 kernel data */
	gdt[3] = 0x00cff3000000ffffull; /* 0x18 user data */
	gdt[4] = 0x00affb000000ffffull; /* 0x20 user code */
	gdt[5] = (sizeof(tss) - 1) | ((t & 0xffffff) << 16) |
		 (0x89ull << 40) | (((t >> 24) & 0xff) << 56);
	gdt[6] = t >> 32;
	tss.rsp0 = (uint64_t)kstack + sizeof(kstack);
	tss.iomap = sizeof(tss);
	tg_gdt_reload(&gdtr);
	tg_in_user = true;
	tg_enter_user(fn, (uint64_t)ustack + sizeof(ustack));
}

uint64_t
tg_irq_count(unsigned int vector)
{
	return tg_irq_counts[vector & 255];
}

void
tg_idle(void)
{
	/* An interrupt between the caller's check and the hlt is caught
	   by the periodic tick at worst. */
	tg_sys(TG_SYS_IDLE, 0, 0);
}

uint64_t
tg_tsc_per_ms(void)
{
	static uint64_t per_ms;
	uint64_t c, t0;

	if (per_ms)
		return per_ms;
	/* The LAPIC tick is about 64 ms on KVM (1 GHz bus / 16 * 4M);
	   good enough for timeouts and poll budgets, never for figures. */
	c = tg_irq_count(0x20);
	while (tg_irq_count(0x20) == c)
		tg_idle();
	t0 = rdtsc();
	c = tg_irq_count(0x20);
	while (tg_irq_count(0x20) < c + 2)
		tg_idle();
	per_ms = (rdtsc() - t0) / 128;
	if (!per_ms)
		per_ms = 1;
	return per_ms;
}
