/* SPDX-License-Identifier: MIT */
/*
 * Loader for the freestanding test guest (vmm/testguest/): a flat
 * binary linked at 1 MiB that starts in 64-bit mode. The VMM builds what
 * firmware would: identity page tables for the low 4 GiB (2 MiB pages,
 * covering RAM, the PCI window and the APICs), a GDT, and a boot-info
 * page with the memory size and the command line, whose address the
 * guest finds in RDI.
 *
 *   0x1000  PML4, 0x2000 PDPT, 0x3000-0x6fff four page directories
 *   0x7000  GDT          0x8000  boot info (struct testguest_info)
 *   0x100000  the image; the guest sets its own stack
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/testguest/bootinfo.h"
#include "vmm/vmm-internal.h"

#define TG_PML4 0x1000
#define TG_PDPT 0x2000
#define TG_PD 0x3000
#define TG_GDT 0x7000
#define TG_LOAD 0x100000

uint64_t
vmm_boot_identity_map(uint8_t *ram, bool user)
{
	uint64_t u = user ? 4 : 0;
	uint64_t *pml4 = (uint64_t *)(ram + TG_PML4);
	uint64_t *pdpt = (uint64_t *)(ram + TG_PDPT);
	uint64_t *pd = (uint64_t *)(ram + TG_PD);

	memset(ram + TG_PML4, 0, 0x6000);
	pml4[0] = TG_PDPT | 3 | u; /* present, writable */
	for (int i = 0; i < 4; i++)
		pdpt[i] = (TG_PD + i * 0x1000ull) | 3 | u;
	for (uint64_t i = 0; i < 4 * 512; i++) {
		uint64_t flags = 0x83 | u; /* present, writable, 2 MiB */

		/* MMIO above 3 GiB: uncached. */
		if (i * (2ull << 20) >= VMM_LOW_RAM_END)
			flags |= 0x10;
		pd[i] = (i << 21) | flags;
	}
	return TG_PML4;
}

static void
build_gdt(uint8_t *ram)
{
	uint64_t *gdt = (uint64_t *)(ram + TG_GDT);

	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffull; /* 64-bit code */
	gdt[2] = 0x00cf93000000ffffull; /* data */
	gdt[3] = 0x00808b0000000067ull; /* TSS placeholder (busy) */
}

int
vmm_boot_testguest(struct vmm_vm *vm)
{
	const struct vmm_config *cfg = vm->cfg;
	uint64_t low = vm->mem.region[0].size;
	uint8_t *ram = vm->mem.region[0].hva;
	struct testguest_info *info;
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	if (low < TG_LOAD + (1u << 20)) {
		log_err("vmm.boot", "test guest needs at least 2 MiB of RAM");
		return -EINVAL;
	}
	fd = open(cfg->testguest, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_err("vmm.boot", "%s: %s", cfg->testguest, strerror(errno));
		return err;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > low - TG_LOAD - 65536) {
		log_err("vmm.boot", "%s: larger than guest RAM", cfg->testguest);
		close(fd);
		return -EFBIG;
	}
	n = read(fd, ram + TG_LOAD, (size_t)st.st_size);
	if (n != st.st_size)
		err = n < 0 ? -errno : -EIO;
	close(fd);
	if (err < 0) {
		log_err("vmm.boot", "%s: read failed", cfg->testguest);
		return err;
	}
	vmm_boot_identity_map(ram, true);
	build_gdt(ram);
	info = (struct testguest_info *)(ram + TESTGUEST_INFO_ADDR);
	memset(info, 0, sizeof(*info));
	info->magic = TESTGUEST_MAGIC;
	info->mem_bytes = vm->mem.size;
	info->low_mem_bytes = low;
	info->ncpus = vm->nvcpus;
	info->image_end = TG_LOAD + (uint64_t)st.st_size;
	if (cfg->cmdline)
		snprintf(info->cmdline, sizeof(info->cmdline), "%s",
			 cfg->cmdline);
	vm->boot = (struct vmm_boot_regs){
		.rip = TG_LOAD,
		.rsp = TG_LOAD - 16,
		.rdi = TESTGUEST_INFO_ADDR,
		.long_mode = true,
		.cr3 = TG_PML4,
		.gdt_base = TG_GDT,
	};
	return 0;
}
