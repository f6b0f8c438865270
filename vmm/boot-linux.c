/* SPDX-License-Identifier: MIT */
/*
 * Linux x86 boot protocol (Documentation/arch/x86/boot.rst) for hardware
 * KVM: the bzImage's protected-mode kernel at 1 MiB, entered through its
 * 64-bit entry (identity-mapped long mode, CS 0x10, DS 0x18, RSI =
 * boot_params) or, for kernels without one, the 32-bit entry; a
 * zero page with the setup header, e820 map, command line and initrd,
 * and an Intel MP table (MultiProcessor Specification 1.4) describing the
 * vCPUs, the IOAPIC and the ISA interrupts, so a stock kernel brings up
 * SMP without ACPI; it finds PCI through configuration mechanism #1.
 *
 * Under PVM (these development machines) a stock kernel hangs early:
 * PVM needs specially built guest kernels. The test detects that.
 *
 *   0x01000-0x06fff page tables (64-bit entry)   0x07000 GDT
 *   0x10000 boot_params   0x20000 command line
 *   0x9fc00 MP table   0x100000 kernel   initrd: top of low RAM
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/vmm-internal.h"

#define LX_GDT 0x7000
#define LX_ZERO_PAGE 0x10000
#define LX_CMDLINE 0x20000
#define LX_CMDLINE_MAX 4096
#define LX_MPTABLE 0x9fc00
#define LX_EBDA_END 0xa0000
#define LX_KERNEL 0x100000

/* Offsets in boot_params (struct boot_params, arch/x86/include/uapi). */
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR 0x1f1
#define BP_E820_TABLE 0x2d0
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238

#define E820_RAM 1
#define E820_RESERVED 2

static int
read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		close(fd);
		return -EINVAL;
	}
	*buf = malloc((size_t)st.st_size);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	if (read(fd, *buf, (size_t)st.st_size) != st.st_size)
		err = -EIO;
	*len = (size_t)st.st_size;
	close(fd);
	if (err)
		free(*buf);
	return err;
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void
e820_add(uint8_t *zp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t n = zp[BP_E820_ENTRIES];
	uint8_t *e = zp + BP_E820_TABLE + 20 * n;

	memcpy(e, &addr, 8);
	memcpy(e + 8, &size, 8);
	put32(e + 16, type);
	zp[BP_E820_ENTRIES] = n + 1;
}

static uint8_t
mp_checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return (uint8_t)-s;
}

/* The MP floating pointer, config table header and entries. */
static void
build_mptable(struct vmm_vm *vm, uint8_t *ram)
{
	uint8_t *fp = ram + LX_MPTABLE, *ct = fp + 16, *e = ct + 44;
	uint8_t ioapic_id = (uint8_t)vm->nvcpus;
	uint16_t count = 0;

	memset(fp, 0, LX_EBDA_END - LX_MPTABLE);
	memcpy(fp, "_MP_", 4);
	put32(fp + 4, LX_MPTABLE + 16);
	fp[8] = 1;    /* length in 16-byte units */
	fp[9] = 4;    /* spec 1.4 */
	memcpy(ct, "PCMP", 4);
	ct[6] = 4;
	memcpy(ct + 8, "VSTACK  ", 8);
	memcpy(ct + 16, "VMM         ", 12);
	put32(ct + 36, (uint32_t)VMM_LAPIC_BASE);
	for (unsigned int i = 0; i < vm->nvcpus; i++, count++, e += 20) {
		e[0] = 0;                 /* processor */
		e[1] = (uint8_t)i;        /* local APIC ID */
		e[2] = 0x14;              /* local APIC version */
		e[3] = 1 | (i == 0 ? 2 : 0); /* enabled, BSP */
		put32(e + 4, 0x600);      /* CPU signature */
		put32(e + 8, 0x201);      /* features: FPU, APIC */
	}
	e[0] = 1; e[1] = 0; memcpy(e + 2, "PCI   ", 6); e += 8; count++;
	e[0] = 1; e[1] = 1; memcpy(e + 2, "ISA   ", 6); e += 8; count++;
	e[0] = 2; e[1] = ioapic_id; e[2] = 0x11; e[3] = 1;
	put32(e + 4, (uint32_t)VMM_IOAPIC_BASE);
	e += 8;
	count++;
	for (uint8_t irq = 0; irq < 16; irq++, e += 8, count++) {
		e[0] = 3;                 /* I/O interrupt */
		e[1] = 0;                 /* INT */
		e[4] = 1;                 /* source bus: ISA */
		e[5] = irq;
		e[6] = ioapic_id;
		e[7] = irq == 0 ? 2 : irq; /* the PIT is wired to pin 2 */
	}
	e[0] = 4; e[1] = 3; e[4] = 1; e[6] = 0xff; e[7] = 0; /* ExtINT -> LINT0 */
	e += 8;
	e[0] = 4; e[1] = 1; e[4] = 1; e[6] = 0xff; e[7] = 1; /* NMI -> LINT1 */
	e += 8;
	count += 2;
	put16(ct + 4, (uint16_t)(e - ct));
	put16(ct + 34, count);
	ct[7] = mp_checksum(ct, (size_t)(e - ct));
	fp[10] = mp_checksum(fp, 16);
}

static void
build_gdt(uint8_t *ram, bool entry64)
{
	uint64_t *gdt = (uint64_t *)(ram + LX_GDT);

	memset(gdt, 0, 6 * 8);
	/* 0x10: __BOOT_CS (64-bit or flat 32-bit code), 0x18: __BOOT_DS */
	gdt[2] = entry64 ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull;
	gdt[3] = 0x00cf93000000ffffull;
	gdt[4] = 0x00808b0000000067ull; /* 0x20: TSS */
}

static int
load_initrd(struct vmm_vm *vm, uint8_t *zp, uint64_t kernel_end)
{
	uint64_t low = vm->mem.region[0].size, max, addr;
	uint8_t *buf;
	size_t len;
	int err;

	err = read_file(vm->cfg->initrd, &buf, &len);
	if (err < 0) {
		log_err("vmm.boot", "initrd %s: %s", vm->cfg->initrd,
			strerror(-err));
		return err;
	}
	max = get32(zp + HDR_INITRD_ADDR_MAX);
	if (!max)
		max = 0x37ffffff;
	max = MIN(max + 1, low);
	addr = ALIGN_DOWN(max - len, 4096);
	if (len > max || addr < kernel_end) {
		log_err("vmm.boot", "initrd %s (%zu bytes) does not fit below "
			"0x%llx", vm->cfg->initrd, len, (unsigned long long)max);
		free(buf);
		return -EFBIG;
	}
	memcpy(vm->mem.region[0].hva + addr, buf, len);
	put32(zp + HDR_RAMDISK_IMAGE, (uint32_t)addr);
	put32(zp + HDR_RAMDISK_SIZE, (uint32_t)len);
	free(buf);
	return 0;
}

int
vmm_boot_linux(struct vmm_vm *vm)
{
	const struct vmm_config *cfg = vm->cfg;
	uint8_t *ram = vm->mem.region[0].hva, *img, *zp;
	uint64_t low = vm->mem.region[0].size;
	size_t len, setup, kernel_len, hdr_end;
	bool entry64;
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "console=ttyS0";
	int err;

	err = read_file(cfg->kernel, &img, &len);
	if (err < 0) {
		log_err("vmm.boot", "kernel %s: %s", cfg->kernel, strerror(-err));
		return err;
	}
	err = -EINVAL;
	if (len < 0x300 || memcmp(img + HDR_MAGIC, "HdrS", 4) ||
	    get32(img + HDR_BOOT_FLAG - 2) >> 16 != 0xaa55) {
		log_err("vmm.boot", "%s: not a bzImage", cfg->kernel);
		goto out;
	}
	if ((img[HDR_VERSION] | img[HDR_VERSION + 1] << 8) < 0x20a) {
		log_err("vmm.boot", "%s: boot protocol older than 2.10",
			cfg->kernel);
		goto out;
	}
	setup = ((size_t)(img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4) + 1) * 512;
	kernel_len = len - setup;
	if (setup >= len || LX_KERNEL + kernel_len > low) {
		log_err("vmm.boot", "%s: kernel does not fit in guest RAM",
			cfg->kernel);
		goto out;
	}
	if (strlen(cmdline) >= LX_CMDLINE_MAX) {
		log_err("vmm.boot", "cmdline longer than %d bytes", LX_CMDLINE_MAX);
		goto out;
	}
	memcpy(ram + LX_KERNEL, img + setup, kernel_len);
	zp = ram + LX_ZERO_PAGE;
	memset(zp, 0, 4096);
	/* The setup header runs from 0x1f1 to 0x202 + the byte at 0x201. */
	hdr_end = MIN((size_t)0x202 + img[0x201], (size_t)4096);
	memcpy(zp + BP_HDR, img + BP_HDR, hdr_end - BP_HDR);
	zp[HDR_TYPE_OF_LOADER] = 0xff;
	zp[HDR_LOADFLAGS] |= 0x01 | 0x80; /* loaded high, can use heap */
	put16(zp + HDR_HEAP_END_PTR, 0xfe00);
	strcpy((char *)ram + LX_CMDLINE, cmdline);
	put32(zp + HDR_CMD_LINE_PTR, LX_CMDLINE);
	e820_add(zp, 0, LX_MPTABLE, E820_RAM);
	e820_add(zp, LX_MPTABLE, LX_EBDA_END - LX_MPTABLE, E820_RESERVED);
	e820_add(zp, LX_KERNEL, low - LX_KERNEL, E820_RAM);
	e820_add(zp, VMM_PCI_ECAM_BASE, 1u << 20, E820_RESERVED);
	if (vm->mem.nregions > 1)
		e820_add(zp, vm->mem.region[1].gpa, vm->mem.region[1].size,
			 E820_RAM);
	err = 0;
	if (cfg->initrd)
		err = load_initrd(vm, zp, LX_KERNEL + kernel_len);
	if (err < 0)
		goto out;
	build_mptable(vm, ram);
	/* XLF_KERNEL_64: enter at startup_64 in long mode, as the 64-bit
	   boot protocol describes; else at code32_start, paging off. */
	entry64 = img[HDR_XLOADFLAGS] & 1;
	build_gdt(ram, entry64);
	vm->boot = (struct vmm_boot_regs){
		.rip = entry64 ? LX_KERNEL + 0x200 : LX_KERNEL,
		.rsi = LX_ZERO_PAGE,
		.long_mode = entry64,
		.cr3 = entry64 ? vmm_boot_identity_map(ram, false) : 0,
		.gdt_base = LX_GDT,
		.cs = 0x10,
		.ds = 0x18,
	};
out:
	free(img);
	return err;
}
