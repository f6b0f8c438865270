/* SPDX-License-Identifier: MIT */
/*
 * The boot-info page the VMM leaves for the test guest (RDI points at
 * it). Shared by the loader (vmm/boot-testguest.c) and the guest.
 */
#ifndef VMM_TESTGUEST_BOOTINFO_H
#define VMM_TESTGUEST_BOOTINFO_H

#include <stdint.h>

#define TESTGUEST_INFO_ADDR 0x8000
#define TESTGUEST_MAGIC 0x7473657447564d4dull /* "MMVGtest" */

struct testguest_info {
	uint64_t magic;
	uint64_t mem_bytes;      /* all guest RAM */
	uint64_t low_mem_bytes;  /* RAM below 3 GiB, identity mapped */
	uint64_t image_end;      /* first byte after the loaded image */
	uint32_t ncpus;
	uint32_t pad;
	char cmdline[2048];
};

#endif
